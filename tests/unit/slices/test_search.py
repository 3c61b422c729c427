"""The slice search (evalkit/slices): planted slices are found, null data report nothing beyond the nominal
rate, and every slice can be recomputed by hand from its pandas query."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact
from sklearn.metrics import confusion_matrix

from evalkit.settings import SliceSettings
from evalkit.slices import find_slices


def _data(rng: np.random.Generator, n: int, *, planted: bool) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Five columns; decisions wrong 10 % of the time, and, when planted, 45 % of the time in
    ``region = north & income >= its 75th percentile`` and 50 % in ``plan = gold & channel = web & age < q25``."""
    X = pd.DataFrame({
        "region": rng.choice(["north", "south", "east", "west", "centre"], n),
        "plan": rng.choice(["basic", "silver", "gold", "platinum"], n),
        "channel": rng.choice(["web", "shop", "phone"], n),
        "income": rng.lognormal(10, 0.5, n),
        "age": rng.integers(18, 90, n),
    })
    y = rng.integers(0, 2, n)
    p_wrong = np.full(n, 0.10)
    if planted:
        p_wrong[(X.region == "north") & (X.income >= X.income.quantile(0.75))] = 0.45
        p_wrong[(X.plan == "gold") & (X.channel == "web") & (X.age < X.age.quantile(0.25))] = 0.50
    pred = np.where(rng.random(n) < p_wrong, 1 - y, y)
    return X, y, pred


def test_planted_slices_are_found_and_ranked_first():
    X, y, pred = _data(np.random.default_rng(18), 20_000, planted=True)
    out = find_slices(X, y, pred, max_terms=3)
    top = out.top["slice"].head(2).tolist()
    assert any(s.startswith("region = north & income in [") for s in top), top
    assert any(s.startswith("plan = gold & channel = web & age in [18,") for s in top), top
    assert out.candidates[1] == 5 + 4 + 3 + 4 + 4 and out.tested == len(out.slices)
    first = out.top.iloc[0]
    assert first.significant and first.gap_low > 0.2 and first.p_adjusted < 1e-6


def test_null_data_report_a_false_slice_at_most_at_the_nominal_rate():
    """Decisions wrong 10 % of the time whatever the columns say: Benjamini-Hochberg at FDR 0.05 over every
    slice tested controls the chance of reporting any slice at 5 % (under the global null FDR is that chance).
    100 data sets: at most 10 may report one (the exact test is conservative; the bound allows for chance)."""
    rng = np.random.default_rng(2026)
    runs = 100
    reported = sum(bool(find_slices(*_data(rng, 1500, planted=False), max_terms=2).slices["significant"].any())
                   for _ in range(runs))
    assert reported <= 10, reported


@pytest.fixture(scope="module")
def adult_search():
    from evalkit import load_dataset
    from evalkit.models import resolve_model, score
    from tests.conftest import ADULT_TEST

    d = load_dataset(ADULT_TEST)
    pred = (score(resolve_model("adult-logreg"), d) >= 0.5).astype(int)
    cols = list(dict.fromkeys([*d.sensitive.columns, *d.manifest.feature_columns]))
    return d.frame, d.y_true, pred, find_slices(d.frame, d.y_true, pred, columns=cols, metric="recall")


def test_three_slices_recomputed_by_hand_with_pandas_and_sklearn(adult_search):
    frame, y, pred, out = adult_search
    assert out.tested > 1000 and out.top["significant"].all()
    picks = [out.top.iloc[0], out.top.iloc[len(out.top) // 2], out.slices[out.slices.terms == 1].iloc[0]]
    for row in picks:
        inside = frame.eval(row.query).to_numpy()
        assert inside.sum() == row.n
        tn, fp, fn, tp = confusion_matrix(y[inside], pred[inside], labels=[0, 1]).ravel()
        rtn, rfp, rfn, rtp = confusion_matrix(y[~inside], pred[~inside], labels=[0, 1]).ravel()
        assert row.denominator == tp + fn and row.errors == fn
        assert row.value == pytest.approx(tp / (tp + fn), abs=1e-12)
        assert row.rest == pytest.approx(rtp / (rtp + rfn), abs=1e-12)
        # one-sided Fisher exact test of (slice, rest) x (missed, found)
        _, p = fisher_exact([[fn, tp], [rfn, rtp]], alternative="greater")
        assert row.p_value == pytest.approx(p, rel=1e-6, abs=1e-300)
        assert row.gap_low <= row.gap <= row.gap_high
    # every slice's p-value is scipy's exact tail for its own counts (computed once per distinct pair of counts)
    from scipy.stats import hypergeom

    positives, missed = int(y.sum()), int(((y == 1) & (pred == 0)).sum())
    t = out.slices
    assert np.array_equal(t.p_value.to_numpy(), np.clip(hypergeom.sf(t.errors - 1, positives, missed, t.denominator),
                                                        0, 1))


def test_ranking_is_by_what_the_data_support(adult_search):
    *_, out = adult_search
    sig = out.significant
    assert sig["gap_low"].is_monotonic_decreasing
    assert out.slices["significant"].iloc[:len(sig)].all()  # significant slices first
    # a large gap from a handful of positives does not outrank a smaller, well-supported one
    assert (out.top.head(5)["gap_low"] > 0.4).all()


def test_cost_metric_and_every_rate_metric_run(adult_search):
    frame, y, pred, _ = adult_search
    cols = ["sex", "race", "age_band"]
    for metric in ("error_rate", "fnr", "fpr", "recall", "precision"):
        out = find_slices(frame, y, pred, columns=cols, metric=metric, max_terms=2)
        assert out.tested > 0 and out.slices["p_value"].between(0, 1).all()
    cost = find_slices(frame, y, pred, columns=cols, metric="cost", cost_fn=5.0, max_terms=1)
    row = cost.slices.iloc[0]
    inside = frame.eval(row.query).to_numpy()
    fp = ((pred == 1) & (y == 0) & inside).sum()
    fn = ((pred == 0) & (y == 1) & inside).sum()
    assert row.value == pytest.approx((fp + 5 * fn) / inside.sum(), abs=1e-12)


def _auc_data(rng: np.random.Generator, n: int, *, planted: bool):
    X = pd.DataFrame({"region": rng.choice(["north", "south", "east", "west"], n),
                      "plan": rng.choice(["basic", "silver", "gold"], n), "age": rng.integers(18, 90, n)})
    y = rng.integers(0, 2, n)
    signal = np.where(planted & (X.region == "north") & (X.plan == "gold"), 0.2, 1.5)  # ranks poorly there
    score = rng.normal(0, 1, n) + signal * y
    return X, y, (score >= 0.75).astype(int), score


def test_roc_auc_slices_planted_found_and_recomputed_with_sklearn():
    from sklearn.metrics import roc_auc_score

    from evalkit.slices._search import AUC_BINS

    X, y, pred, score = _auc_data(np.random.default_rng(5), 12_000, planted=True)
    out = find_slices(X, y, pred, y_score=score, metric="roc_auc", max_terms=2)
    assert out.top.iloc[0]["slice"] == "region = north & plan = gold"
    # the slice's and the rest's AUC are those of the scores' quantile bins (ties count half), exactly
    bins = np.searchsorted(np.unique(np.quantile(score, np.linspace(0, 1, AUC_BINS + 1)[1:-1])), score, side="right")
    for row in (out.top.iloc[0], out.slices.iloc[len(out.slices) // 2]):
        inside = X.eval(row.query).to_numpy()
        assert row.value == pytest.approx(roc_auc_score(y[inside], bins[inside]), abs=1e-12)
        assert row.rest == pytest.approx(roc_auc_score(y[~inside], bins[~inside]), abs=1e-12)
        assert row.gap == pytest.approx(row.rest - row.value, abs=1e-12)
        # and within a few thousandths of the exact AUC of the raw scores
        assert row.value == pytest.approx(roc_auc_score(y[inside], score[inside]), abs=0.01)
    assert out.overall == pytest.approx(roc_auc_score(y, bins), abs=1e-12)
    assert "DeLong" in out.method()


def test_roc_auc_slices_on_null_data_report_nothing_often():
    """Scores equally good everywhere: slices on the AUC are reported about as often as FDR 0.05 allows."""
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(40):
        X, y, pred, score = _auc_data(rng, 1500, planted=False)
        hits += bool(find_slices(X, y, pred, y_score=score, metric="roc_auc", max_terms=2).slices["significant"].any())
    assert hits <= 6, hits  # nominal 5 % of 40 = 2; the bound allows for chance


def test_roc_auc_needs_the_scores():
    X, y, pred, _ = _auc_data(np.random.default_rng(0), 200, planted=False)
    with pytest.raises(ValueError, match="metric='roc_auc' needs the model's scores: pass y_score"):
        find_slices(X, y, pred, metric="roc_auc")


def test_bad_input_is_a_clear_error():
    X = pd.DataFrame({"a": ["x", "y", "x"]})
    with pytest.raises(ValueError, match=r"y_true must be 0/1; found \[2\]"):
        find_slices(X, np.array([0, 1, 2]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"columns \['nope'\] are not in the data"):
        find_slices(X, np.array([0, 1, 1]), np.array([0, 1, 1]), columns=["nope"])
    with pytest.raises(ValueError, match="metric must be one of"):
        SliceSettings(metric="auc_typo")
    with pytest.raises(ValueError, match="max_terms must be 1, 2 or 3"):
        SliceSettings(max_terms=4)
    with pytest.raises(TypeError, match="unknown SliceSettings"):
        find_slices(X, np.array([0, 1, 1]), np.array([0, 1, 1]), min_suport=3)


def test_categorical_predicates_are_the_sorted_distinct_values_of_any_text_column():
    from evalkit.slices._predicates import column_predicates

    values = ["b", "a", "é", "Z", "a ", None, "b"]
    for series in (pd.Series(values, dtype=object), pd.Series(values, dtype="str"),
                   pd.Series(pd.Categorical(values, categories=["é", "b", "a ", "a", "Z"]))):
        preds, codes = column_predicates(series.rename("c"), bins=10)
        assert [p.label for p in preds] == ["c = Z", "c = a", "c = a ", "c = b", "c = é", "c is missing"]
        assert codes.tolist() == [3, 1, 4, 0, 2, 5, 3]


def test_predicate_codes_are_small_integers_that_make_the_predicate_table():
    """predicate_codes gives each column's local codes in the smallest signed integer type (int8 up to 128
    predicates); offset by the columns before, they are predicate_table's global ids."""
    from evalkit.slices import predicate_codes, predicate_table

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.choice(["x", "y", None], 3000), "b": rng.normal(size=3000),
                      "c": rng.integers(0, 300, 3000).astype(str)})
    preds, codes, sizes = predicate_codes(X, ["a", "b", "c"], bins=10)
    assert [c.dtype for c in codes] == [np.int8, np.int8, np.int16] and sizes == [3, 10, 300]
    table_preds, ids = predicate_table(X, ["a", "b", "c"], bins=10)
    assert preds == table_preds and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, np.column_stack(codes).astype(np.int64) + np.array([0, 3, 13]))
    assert (ids >= 0).all()
