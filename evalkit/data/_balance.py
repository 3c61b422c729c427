"""Demographic balance: composition tables, stratified down-sampling and balancing weights.

- :func:`composition`: counts and shares of every group (and intersection), per source and combined.
- :func:`downsample`: a seeded stratified sample with equal group sizes, or with the group shares of a
  target distribution (the largest such sample the data allow).
- :func:`balancing_weights`: weights that give every group equal total weight (or the target share),
  so every metric and interval becomes weighted instead of dropping rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..settings import MIN_GROUP_SIZE
from ._grouping import group_columns



def _target(groups: pd.Series, target: Mapping[str, float] | None) -> pd.Series:
    names = sorted(pd.unique(groups.astype(str)))
    if target is None:
        return pd.Series(1.0 / len(names), index=names)
    unknown = sorted(set(target) - set(names))
    missing = sorted(set(names) - set(target))
    if unknown or missing:
        raise ValueError(f"balance target must give a share for exactly the groups {names}; "
                         f"unknown {unknown}, missing {missing}")
    shares = pd.Series({k: float(target[k]) for k in names})
    if (shares < 0).any() or not np.isfinite(shares).all() or shares.sum() <= 0:
        raise ValueError(f"balance target shares must be non-negative numbers with a positive sum, got {dict(target)}")
    return shares / shares.sum()


def balance_groups(sensitive: pd.DataFrame, balance: str, by: str | None,
                   target: Mapping[str, float] | None) -> tuple[str, np.ndarray] | None:
    """Validate the balancing settings against the data; return ``(by, group of every row)``, or None
    for ``balance="none"``.

    Raises
    ------
    ValueError
        If ``by`` is not a sensitive feature or intersection, or ``target`` does not give a share for
        exactly its groups.
    """
    if balance == "none":
        return None

    by = by or str(sensitive.columns[0])
    columns = group_columns(sensitive)
    if by not in columns:
        raise ValueError(f"balance_by must be a sensitive feature or intersection, one of {list(columns)}; got {by!r}")
    groups = columns[by].to_numpy()
    _target(pd.Series(groups).astype(str), target)
    return by, groups


def downsample(groups: npt.ArrayLike, *, target: Mapping[str, float] | None = None, seed: int = 0) -> np.ndarray:
    """Positions of a stratified sample whose group shares are equal (or ``target``).

    Each group ``g`` keeps ``floor(s * share_g)`` samples, drawn without replacement, where ``s`` is
    the largest scale every group can supply. The result is sorted and the same for the same seed.

    Examples
    --------
    >>> rows = downsample(["a"] * 6 + ["b"] * 3, seed=1)
    >>> len(rows), sorted(set(rows[:3]) | set(rows[3:])) == sorted(rows)
    (6, True)
    """
    g = pd.Series(np.asarray(groups)).astype(str)
    shares = _target(g, target)
    counts = g.value_counts().reindex(shares.index).fillna(0)
    positive = shares[shares > 0]
    scale = float((counts[positive.index] / positive).min())
    keep = np.floor(scale * shares + 1e-9).astype(int)
    rng = np.random.default_rng(seed)
    out = []
    for name in shares.index:  # sorted group names: a fixed order, so the seed fixes the sample
        members = np.flatnonzero(g.to_numpy() == name)
        out.append(rng.choice(members, size=int(keep[name]), replace=False))
    return np.sort(np.concatenate(out)) if out else np.array([], dtype=np.int64)


def balancing_weights(groups: npt.ArrayLike, *, target: Mapping[str, float] | None = None,
                      counts: npt.ArrayLike | None = None) -> np.ndarray:
    """Weights giving each group a total weight proportional to its target share (equal by default);
    they sum to the number of samples.

    ``counts`` (optional) is how many samples each entry of ``groups`` stands for (default one each): how the
    out-of-core engines weight whole cells of samples, each cell's weight being every one of its samples'.

    Examples
    --------
    >>> balancing_weights(["a", "a", "a", "b"]).tolist()
    [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
    >>> balancing_weights(["a", "b"], counts=[3, 1]).tolist()
    [0.6666666666666666, 2.0]
    """
    g = pd.Series(np.asarray(groups)).astype(str)
    shares = _target(g, target)
    if counts is None:
        sizes, total = g.value_counts(), len(g)
    else:
        c = pd.Series(np.asarray(counts, dtype=np.float64), index=g.index)
        sizes, total = c.groupby(g).sum(), float(c.sum())
    per_group = shares * total / sizes.reindex(shares.index)
    return g.map(per_group).to_numpy(dtype=np.float64)


def composition(sensitive: pd.DataFrame, sources: pd.Series | None = None, *, min_group_size: int = MIN_GROUP_SIZE,
                weights: np.ndarray | None = None, groupings: Mapping[str, pd.Series] | None = None) -> pd.DataFrame:
    """Counts and shares of every group of every feature and pairwise intersection, combined and per
    source, with groups under ``min_group_size`` flagged.

    ``groupings`` is ``group_columns(sensitive)`` when the caller has built it already.

    Returns
    -------
    DataFrame
        Indexed by ``(feature, group)``; columns ``n``, ``share`` (of all rows, or of the total weight
        when ``weights`` are given), then ``n[<source>]`` and ``share[<source>]`` per source when there
        are several, and ``small``.
    """

    w = np.ones(len(sensitive)) if weights is None else np.asarray(weights, dtype=np.float64)
    source_masks: dict[str, np.ndarray] = {}
    if sources is not None:  # hashed once (one source, as usual: nothing per row is built)
        src_codes, names_ = pd.factorize(sources if isinstance(sources, pd.Series) else np.asarray(sources))
        text = [str(v) for v in names_]  # sources are named as text (1 and "1" are one source)
        if len(set(text)) > 1:
            source_masks = {name: np.isin(src_codes, [i for i, t in enumerate(text) if t == name])
                            for name in sorted(set(text))}
    parts = {}
    for feature, groups in (groupings if groupings is not None else group_columns(sensitive)).items():
        # counted from the categorical's codes (its categories are the sorted group names), not per string
        codes, names = groups.cat.codes.to_numpy(), groups.cat.categories
        k = len(names)
        n = np.bincount(codes, minlength=k)
        present = n > 0
        index = pd.Index(np.asarray(names, dtype=object)[present], name=feature)
        frame = pd.DataFrame({"n": n[present]}, index=index)
        frame["share"] = pd.Series(w, index=sensitive.index).groupby(codes).sum().reindex(
            np.flatnonzero(present)).to_numpy() / w.sum()
        for src, mask in source_masks.items():
            frame[f"n[{src}]"] = np.bincount(codes[mask], minlength=k)[present]
            frame[f"share[{src}]"] = frame[f"n[{src}]"] / mask.sum()
        frame["small"] = frame["n"] < min_group_size
        parts[feature] = frame
    out = pd.concat(parts, names=["feature", "group"])
    return out
