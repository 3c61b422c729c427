"""Ranking metrics against scikit-learn's average precision per query and a brute-force precision@k."""

import numpy as np
import pytest
from sklearn import metrics as skm

from evalkit.metrics import per_query, ranking_by_group, ranking_metrics


def _data(n=4000, queries=250, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.integers(0, queries, n)
    y = (rng.random(n) < 0.2).astype(int)
    s = np.round(rng.random(n) + 0.3 * y, 1)  # many ties
    return y, s, q


def test_per_query_equals_sklearn_and_brute_force():
    y, s, q = _data()
    table = per_query(y, s, q, k=[1, 3, 10])
    for query, row in table.iterrows():
        m = q == query
        if y[m].any():
            assert row["average_precision"] == pytest.approx(skm.average_precision_score(y[m], s[m]), abs=1e-12)
        else:
            assert np.isnan(row["average_precision"])
        ranked = y[m][np.argsort(-s[m], kind="stable")]
        for k in (1, 3, 10):
            assert row[f"precision@{k}"] == pytest.approx(ranked[:k].sum() / k, abs=1e-12)


def test_map_leaves_out_queries_without_relevant_items():
    y, s, q = _data(seed=1)
    table = per_query(y, s, q, k=5)
    m = ranking_metrics(y, s, q, k=5)
    assert m["queries"] == len(table)
    assert m["queries_without_relevant"] == int(table["average_precision"].isna().sum()) > 0
    assert m["map"] == pytest.approx(table["average_precision"].dropna().mean())


def test_row_order_does_not_change_average_precision():
    y, s, q = _data(seed=2)
    perm = np.random.default_rng(0).permutation(y.size)
    a = per_query(y, s, q)["average_precision"]
    b = per_query(y[perm], s[perm], q[perm])["average_precision"]
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_per_group():
    y, s, q = _data(seed=3)
    groups = np.where(q % 3 == 0, "older", "younger")
    table = ranking_by_group(y, s, q, groups, k=5)
    for g in ("older", "younger"):
        m = groups == g
        assert table.loc[g, "map"] == pytest.approx(ranking_metrics(y[m], s[m], q[m], k=5)["map"])
    with pytest.raises(ValueError, match="groups must be constant within a query; query 0 has"):
        ranking_by_group(y, s, q, np.where(np.arange(y.size) % 2 == 0, "a", "b"), k=5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(k=0), "k must be a positive integer"),
    (dict(y_true=[0, 2]), r"binary relevance \(0 or 1\)"),
    (dict(y_score=[0.1, np.nan]), "y_score must be finite"),
])
def test_bad_input(kwargs, message):
    args = dict(y_true=[0, 1], y_score=[0.1, 0.2], query_ids=["a", "a"], k=5) | kwargs
    with pytest.raises(ValueError, match=message):
        per_query(args["y_true"], args["y_score"], args["query_ids"], k=args["k"])
