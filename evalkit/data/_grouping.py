"""Group columns: each sensitive feature as a sorted categorical, and the pairwise intersections built from
integer codes. The one definition of "a group" that balancing, metrics and views share.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

#: Separator between feature names, and between group values, of an intersection.
INTERSECTION_SEP = "&"

def group_columns(sensitive: pd.DataFrame, *, intersections: bool = True) -> dict[str, pd.Series]:
    """The grouping columns to evaluate: each sensitive feature and, optionally, each pair of them and (with three
    or more features) the intersection of all of them.

    Parameters
    ----------
    sensitive : DataFrame
        One string column per sensitive feature.
    intersections : bool, default=True
        Add pairwise intersections, named ``"a&b"`` with values ``"x&y"``, and the full intersection
        ``"a&b&c"`` (values ``"x&y&z"``) when there are three or more features.

    Returns
    -------
    dict of str to Series
        Feature name to the group value of every sample, as a categorical of strings with sorted
        categories (so ``pd.factorize(..., sort=True)`` codes follow the sorted group names).
    """
    cols = {c: _as_sorted_categorical(sensitive[c]) for c in sensitive.columns}
    if intersections:
        for a, b in combinations(sensitive.columns, 2):
            cols[f"{a}{INTERSECTION_SEP}{b}"] = _intersect(cols[a], cols[b])
        if sensitive.shape[1] >= 3:  # the intersection of all of them (fairlearn's MetricFrame groups)
            full = cols[sensitive.columns[0]]
            for c in sensitive.columns[1:]:
                full = _intersect(full, cols[c])
            cols[INTERSECTION_SEP.join(sensitive.columns)] = full
    return cols


def _as_sorted_categorical(column: pd.Series) -> pd.Series:
    """The column as a categorical of strings with sorted categories (cheap to factorize and combine)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        cat = column.cat.rename_categories([str(c) for c in column.cat.categories])
        return cat.cat.reorder_categories(sorted(cat.cat.categories))
    return column.astype(str).astype(pd.CategoricalDtype(sorted(column.astype(str).unique())))


def _intersect(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a&b`` values as a categorical, built from the integer codes (no string per sample)."""
    ca, cb = a.cat.categories, b.cat.categories
    # the narrowest integers that hold every pair (int16 for up to 32,767 pairs): less memory to write and read
    wide = np.int16 if len(ca) * len(cb) < 2**15 else np.int32 if len(ca) * len(cb) < 2**31 else np.int64
    codes = np.multiply(a.cat.codes.to_numpy(), len(cb), dtype=wide)
    codes += b.cat.codes.to_numpy()
    used = np.flatnonzero(np.bincount(codes, minlength=len(ca) * len(cb)))  # counted, not sorted (none is missing)
    names = [f"{ca[k // len(cb)]}{INTERSECTION_SEP}{cb[k % len(cb)]}" for k in used]
    order = np.argsort(names, kind="stable")
    # codes of the dtype pandas keeps for this many categories (from_codes then copies nothing more)
    remap = np.empty(len(ca) * len(cb), dtype=np.int8 if len(used) < 2**7 else wide)
    remap[used[order]] = np.arange(len(used))
    cat = pd.Categorical.from_codes(remap[codes], categories=[names[i] for i in order])
    return pd.Series(cat, index=a.index, name=f"{a.name}{INTERSECTION_SEP}{b.name}")
