"""Predicates a slice is made of: one value of a categorical column, one quantile bin of a numeric column, or
"missing". Each is printed as a pandas query string, so that any slice can be recomputed by hand with
``frame.query(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Predicate:
    """One condition on one column.

    Attributes
    ----------
    column : str
    label : str
        Short text for people (``age in [17, 28)``, ``sex = Female``).
    query : str
        The same condition as a :meth:`pandas.DataFrame.query` expression.
    """

    column: str
    label: str
    query: str


def _name(column: str) -> str:
    return f"`{column}`"


def _number(x: float) -> str:
    """A float as text that reads back to the same float."""
    return repr(float(x))


def _short(x: float) -> str:
    return f"{x:.4g}"


def _more_distinct_than(values: pd.Series, k: int) -> bool:
    """Whether ``values`` (no missing ones) hold more than ``k`` distinct values: decided by the first rows when
    they already do (a continuous column), else counted over all rows (hashing 10^6 floats builds a table of
    tens of MB)."""
    head = values.iloc[:4 * k + 64]
    return head.nunique() > k or (len(head) < len(values) and values.nunique() > k)


def column_predicates(values: pd.Series, *, bins: int) -> tuple[list[Predicate], np.ndarray]:
    """The predicates of one column and the predicate code of every row (-1 where none applies).

    Numeric columns (not boolean) with more than ``bins`` distinct values are cut at their quantiles
    ``0, 1/bins, ..., 1`` (coinciding cut points merged); every bin is ``low <= x < high``, the last closed. A
    minimum value held by more than ``1/bins`` of the rows (zero capital gains) is a predicate of its own, and
    the rest is cut into ``bins - 1`` bins.
    Other columns give one predicate per distinct value. Missing values get a predicate of their own.
    """
    column = str(values.name)
    missing = values.isna().to_numpy()
    codes = np.full(len(values), -1, dtype=np.int64)
    preds: list[Predicate] = []
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    present = values[~missing] if missing.any() else values
    if numeric and _more_distinct_than(present, bins):
        x = present.to_numpy(dtype=np.float64)
        rest = np.ones(x.size, dtype=bool)
        low = x.min()
        if np.mean(x == low) > 1 / bins:  # a point mass at the minimum (e.g. capital gains of 0): its own value
            rest = x > low
            codes[np.flatnonzero(~missing)[~rest]] = 0
            preds.append(Predicate(column, f"{column} = {_short(low)}", f"{_name(column)} == {_number(low)}"))
        y = x[rest]
        k_bins = bins - len(preds)
        edges = np.unique(np.quantile(y, np.linspace(0, 1, k_bins + 1)))
        if edges.size == 1:
            edges = np.r_[edges, edges]
        idx = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, edges.size - 2)
        codes[np.flatnonzero(~missing)[rest]] = idx + len(preds)
        for k in range(edges.size - 1):
            lo, hi = edges[k], edges[k + 1]
            last = k == edges.size - 2
            preds.append(Predicate(
                column, f"{column} in [{_short(lo)}, {_short(hi)}{']' if last else ')'}",
                f"{_name(column)} >= {_number(lo)} and {_name(column)} {'<=' if last else '<'} {_number(hi)}"))
    else:
        # hashed, then the distinct values sorted (np.unique would sort every row: seconds for 10^6 strings)
        if isinstance(present.dtype, pd.CategoricalDtype):  # sorted by value, not in the categories' order
            present = present.astype(present.dtype.categories.dtype)
        inverse, cats = pd.factorize(present, sort=True)
        codes[~missing] = inverse
        for v in np.asarray(cats):
            v = v.item() if isinstance(v, np.generic) else v
            preds.append(Predicate(column, f"{column} = {v}", f"{_name(column)} == {v!r}"))
    if missing.any():
        codes[missing] = len(preds)
        preds.append(Predicate(column, f"{column} is missing", f"{_name(column)}.isna()"))
    return preds, codes


def predicate_codes(frame: pd.DataFrame, columns: list[str], *,
                    bins: int) -> tuple[list[Predicate], list[np.ndarray], list[int]]:
    """Every predicate of ``columns``, each column's predicate codes (local to the column, -1 where none applies)
    in the smallest signed integer type that holds them, and the number of predicates of each column."""
    preds: list[Predicate] = []
    codes: list[np.ndarray] = []
    sizes: list[int] = []
    for c in columns:
        p, local = column_predicates(frame[c].rename(c), bins=bins)
        codes.append(local.astype(np.min_scalar_type(-max(len(p), 1))))  # int8 up to 128 predicates
        sizes.append(len(p))
        preds.extend(p)
    return preds, codes, sizes


def predicate_table(frame: pd.DataFrame, columns: list[str], *, bins: int) -> tuple[list[Predicate], np.ndarray]:
    """Every predicate of ``columns`` and a ``(rows, columns)`` matrix of global predicate ids (int64)."""
    preds, codes, sizes = predicate_codes(frame, columns, bins=bins)
    ids = np.empty((len(frame), len(columns)), dtype=np.int64)
    offset = 0
    for j, (local, size) in enumerate(zip(codes, sizes, strict=True)):
        ids[:, j] = np.where(local >= 0, local.astype(np.int64) + offset, -1)
        offset += size
    return preds, ids
