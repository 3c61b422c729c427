"""Ranking and retrieval metrics over queries: average precision (MAP) and precision@k, per group.

Each row is one (query, item) pair with a binary relevance and the model's score. Within a query,
items are ranked by descending score.

- ``average_precision`` of a query is scikit-learn's ``average_precision_score`` on that query's
  items (tied scores form one step, so ties do not depend on row order). ``map`` is its mean over the
  queries that have at least one relevant item; queries without one are counted in
  ``queries_without_relevant`` and left out (their AP is undefined), never counted as 0.
- ``precision@k`` is the share of relevant items among the top ``k`` (TREC convention: divided by
  ``k`` even when a query has fewer than ``k`` items). Ties at the cut are broken by row order
  (stable sort), as a served ranking would be.

Groups are attributes of queries (e.g. the user's age band): every row of a query must carry the
same group. Everything is computed from one sort of all rows, without a loop over queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd


def _prepare(y_true: npt.ArrayLike, y_score: npt.ArrayLike, query_ids: npt.ArrayLike):
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    q = np.asarray(query_ids)
    if not (y.ndim == s.ndim == q.ndim == 1 and y.size == s.size == q.size):
        raise ValueError(f"y_true, y_score and query_ids must be 1-D of equal length, got {y.shape}, {s.shape}, {q.shape}")
    if not np.isin(y, [0, 1]).all():
        raise ValueError("y_true must hold binary relevance (0 or 1)")
    if not np.isfinite(s).all():
        raise ValueError("y_score must be finite")
    qcodes, quniques = pd.factorize(q, sort=True)
    return y.astype(np.float64), s, qcodes, quniques


def per_query(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, query_ids: npt.ArrayLike, *, k: int | Sequence[int] = 10
) -> pd.DataFrame:
    """Average precision and precision@k of every query.

    Returns
    -------
    DataFrame
        Indexed by query id (sorted), columns ``n_items``, ``n_relevant``, ``average_precision`` (NaN
        without relevant items) and ``precision@<k>`` for each ``k``.

    Examples
    --------
    >>> per_query([1, 0, 1, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.5], ["q1", "q1", "q1", "q2", "q2"], k=2)
        n_items  n_relevant  average_precision  precision@2
    q1        3           2           0.833333          0.5
    q2        2           0                NaN          0.0
    """
    ks = [k] if isinstance(k, int) else list(k)
    if not ks or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in ks):
        raise ValueError(f"k must be a positive integer or a list of them, got {k!r}")
    y, s, qc, qu = _prepare(y_true, y_score, query_ids)
    nq = len(qu)
    order = np.lexsort((-s, qc))  # by query, then descending score; stable for ties
    ys, ss, qs = y[order], s[order], qc[order]
    n_items = np.bincount(qc, minlength=nq)
    n_rel = np.bincount(qc, weights=y, minlength=nq)
    starts = np.r_[0, np.cumsum(n_items)[:-1]]
    rank = np.arange(y.size) - starts[qs]  # 0-based rank within the query
    cum_rel = np.cumsum(ys)
    cum_before_query = cum_rel[starts] - ys[starts]
    within = cum_rel - cum_before_query[qs]  # relevant items up to and including this row
    # AP with ties as one step: evaluate precision at the last row of each (query, score) run.
    last_of_run = np.r_[(qs[1:] != qs[:-1]) | (ss[1:] != ss[:-1]), True]
    ends = np.flatnonzero(last_of_run)
    first_of_query = np.r_[True, qs[ends][1:] != qs[ends][:-1]]
    run_rel = np.where(first_of_query, within[ends], np.diff(np.r_[0.0, within[ends]]))
    precision_at_run = within[ends] / (rank[ends] + 1)
    ap_sum = np.bincount(qs[ends], weights=run_rel * precision_at_run, minlength=nq)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(n_rel > 0, ap_sum / np.where(n_rel > 0, n_rel, 1), np.nan)
    out = {"n_items": n_items, "n_relevant": n_rel.astype(np.int64), "average_precision": ap}
    for kk in ks:
        top = np.bincount(qs, weights=ys * (rank < kk), minlength=nq)
        out[f"precision@{kk}"] = top / kk
    return pd.DataFrame(out, index=pd.Index(np.asarray(qu, dtype=object)))


def ranking_metrics(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, query_ids: npt.ArrayLike, *, k: int | Sequence[int] = 10
) -> dict[str, float]:
    """MAP and mean precision@k over all queries (see the module docstring for the definitions).

    Returns
    -------
    dict
        ``queries``, ``queries_without_relevant``, ``map``, ``precision@<k>``.

    Examples
    --------
    >>> ranking_metrics([1, 0, 1, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.5], ["q1", "q1", "q1", "q2", "q2"], k=2)
    {'queries': 2, 'queries_without_relevant': 1, 'map': 0.8333333333333333, 'precision@2': 0.25}
    """
    table = per_query(y_true, y_score, query_ids, k=k)
    return _summarise(table)


def _summarise(table: pd.DataFrame) -> dict[str, float]:
    ap = table["average_precision"]
    out: dict[str, float] = {"queries": int(len(table)), "queries_without_relevant": int(ap.isna().sum()),
                             "map": float(ap.mean()) if ap.notna().any() else float("nan")}
    out.update({c: float(table[c].mean()) for c in table.columns if c.startswith("precision@")})
    return out


def ranking_by_group(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    query_ids: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    k: int | Sequence[int] = 10,
) -> pd.DataFrame:
    """:func:`ranking_metrics` for the queries of each group.

    Raises
    ------
    ValueError
        If a query's rows carry different groups (the message names the first such query).
    """
    frame = pd.DataFrame({"q": np.asarray(query_ids), "g": np.asarray(groups).astype(str)})
    per_q = frame.groupby("q", sort=True)["g"].agg(["first", "nunique"])
    mixed = per_q.index[per_q["nunique"] > 1]
    if len(mixed):
        raise ValueError(f"groups must be constant within a query; query {mixed[0]} has "
                         f"{sorted(frame.loc[frame.q == mixed[0], 'g'].unique())}")
    table = per_query(y_true, y_score, query_ids, k=k)
    table["group"] = per_q["first"].reindex(table.index).to_numpy()
    rows = {g: _summarise(t.drop(columns="group")) for g, t in table.groupby("group", sort=True)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")
