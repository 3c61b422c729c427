"""Verification metrics against independent computations: brute-force pairs, hand counts, scikit-learn's
roc_curve and pyeer (evalkit/verification/_metrics.py, _counts.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from pyeer.eer_stats import calculate_roc, get_eer_values
from sklearn.metrics import roc_curve

from evalkit.metrics import equal_error_rate
from evalkit.verification import (
    counts_from_comparisons,
    counts_from_templates,
    eer_by_group,
    eer_from_histograms,
    evaluate_verification,
    fairness_discrepancy_rate,
    fmr_matrix,
    fmr_thresholds,
    inequity,
    make_verification_set,
    readings,
    threshold_at_fmr,
)

TARGETS = (1e-2, 3e-3)


@pytest.fixture(scope="module")
def brute():
    """A small set scored both ways: every pair by brute force, and by evalkit's blockwise reduction."""
    samples, templates = make_verification_set(150, 3, dim=16, spread={"B": 0.9}, concentration={"C": 0.8},
                                               other_features={"sex": {"F": 0.5, "M": 0.5}}, seed=3)
    i, j = np.triu_indices(len(samples), 1)
    scores = np.einsum("ij,ij->i", templates[i].astype(np.float64), templates[j].astype(np.float64))
    subj = samples["subject"].to_numpy()
    pairs = pd.DataFrame({"i": i, "j": j, "score": scores, "genuine": subj[i] == subj[j],
                          "a": subj[i], "b": subj[j]})
    for f in ("group", "sex"):
        pairs[f"{f}_a"] = samples[f].to_numpy()[i]
        pairs[f"{f}_b"] = samples[f].to_numpy()[j]
    return samples, templates, pairs


def test_blockwise_templates_equal_brute_force(brute, monkeypatch):
    samples, templates, pairs = brute
    import evalkit.verification._counts as counts_module

    monkeypatch.setattr(counts_module, "BLOCK_ENTRIES", 4096)  # many blocks, as at scale
    c = counts_from_templates(samples, templates, subject_column="subject", features=["group", "sex"], tail_fmr=0.05)
    imp = pairs[~pairs.genuine]
    assert c.n_genuine == int(pairs.genuine.sum()) and c.n_impostor == len(imp)
    assert np.allclose(np.sort(c.genuine_score), np.sort(pairs.loc[pairs.genuine, "score"]), atol=1e-6)
    kept = imp[imp.score >= c.tail_floor + 1e-6]  # float32 products: compare away from the floor
    assert c.tail_score.size >= len(kept) and c.tail_score.size <= (imp.score >= c.tail_floor - 1e-6).sum()


def _hand(pairs: pd.DataFrame, tau: float, feature: str, group: str) -> dict[str, float]:
    gen = pairs[pairs.genuine & (pairs[f"{feature}_a"] == group)]
    imp = pairs[~pairs.genuine]
    same = imp[(imp[f"{feature}_a"] == group) & (imp[f"{feature}_b"] == group)]
    cross = imp[(imp[f"{feature}_a"] == group) != (imp[f"{feature}_b"] == group)]
    return {"fnmr": (gen.score < tau).mean(), "fmr_same": (same.score >= tau).mean(),
            "fmr_cross": (cross.score >= tau).mean()}


def test_rates_at_the_global_threshold_equal_hand_counts_and_sklearn(brute):
    samples, _, pairs = brute
    code = {s: k for k, s in enumerate(samples["sample"])}
    c = counts_from_comparisons(samples, pairs.i.to_numpy(), pairs.j.to_numpy(), pairs.score.to_numpy(),
                                subject_column="subject", features=["group", "sex"], score_range=(-1.0, 1.0))
    assert code and c.exact
    thresholds = fmr_thresholds(c, TARGETS, min_false_matches=5)
    assert thresholds["supported"].all()
    imp = pairs.loc[~pairs.genuine, "score"].to_numpy()
    y = np.r_[np.ones(pairs.genuine.sum()), np.zeros(imp.size)]
    s = np.r_[pairs.loc[pairs.genuine, "score"].to_numpy(), imp]
    fpr, _, thr = roc_curve(y, s, drop_intermediate=False)
    for t in thresholds.itertuples():
        expected = thr[fpr <= t.target].min()  # the most accepting threshold with FMR at most the target
        assert t.threshold == expected
        assert t.false_matches == int((imp >= t.threshold).sum()) and t.fmr <= t.target
    r = readings(c, thresholds)
    for t in thresholds.itertuples():
        for feature, group in [("group", "A"), ("group", "B"), ("group", "C"), ("sex", "F")]:
            row = r.loc[(t.target, feature, group)]
            for metric, value in _hand(pairs, t.threshold, feature, group).items():
                assert row[metric] == pytest.approx(value, abs=1e-12), (feature, group, metric)


def test_fmr_matrix_is_symmetric_and_equals_hand_counts(brute):
    samples, templates, pairs = brute
    c = counts_from_templates(samples, templates, subject_column="subject", features=["group"], tail_fmr=0.05)
    tau = fmr_thresholds(c, (1e-2,), min_false_matches=5)["threshold"].iloc[0]
    m = fmr_matrix(c, "group", tau)
    imp = pairs[~pairs.genuine]
    assert np.allclose(m.to_numpy(), m.to_numpy().T)
    for a, b in itertools.product("ABC", repeat=2):
        sel = imp[((imp.group_a == a) & (imp.group_b == b)) | ((imp.group_a == b) & (imp.group_b == a))]
        # float32 scores of the blockwise path may differ from float64 by ~1e-7 at the threshold
        assert m.loc[a, b] == pytest.approx((sel.score >= tau).mean(), abs=2 / len(sel))
    assert m.loc["C", "C"] > 3 * m.loc["A", "A"]  # the injected concentration of C


def test_points_and_eer_against_pyeer(brute):
    samples, _, pairs = brute
    c = counts_from_comparisons(samples, pairs.i.to_numpy(), pairs.j.to_numpy(), pairs.score.to_numpy(),
                                subject_column="subject", features=["group"], score_range=(-1.0, 1.0))
    gen, imp = pairs.loc[pairs.genuine, "score"].to_numpy(), pairs.loc[~pairs.genuine, "score"].to_numpy()
    thr, fmr, fnmr = calculate_roc(gen, imp)
    thresholds = fmr_thresholds(c, TARGETS, min_false_matches=5)
    r = readings(c, thresholds)
    for t in thresholds.itertuples():
        k = int(np.searchsorted(thr, t.threshold))
        assert thr[k] == t.threshold  # thresholds are observed scores, as pyeer's are
        row = r.loc[(t.target, "overall", "all")]
        assert row.fmr_same == pytest.approx(fmr[k], abs=1e-12) and row.fnmr == pytest.approx(fnmr[k], abs=1e-12)
    # EER: evalkit interpolates between the two points that straddle FMR = FNMR; pyeer (FVC2000) takes the
    # midpoint of the nearer point. Both lie between the rates of the two thresholds around the crossing.
    ours = eer_by_group(c).loc[("overall", "all"), "eer"]
    assert ours == pytest.approx(equal_error_rate(np.r_[np.ones(gen.size), np.zeros(imp.size)], np.r_[gen, imp]),
                                 abs=1e-12)
    idx, low, high, eer = get_eer_values(fmr, fnmr)
    around = np.r_[fmr[max(idx - 1, 0):idx + 2], fnmr[max(idx - 1, 0):idx + 2]]
    assert around.min() <= ours <= around.max() and abs(ours - eer) < 2 / min(gen.size, imp.size) + abs(high - low)


def test_binned_eer_is_close_to_the_exact_one(brute):
    samples, templates, pairs = brute
    binned = eer_by_group(counts_from_templates(samples, templates, subject_column="subject", features=["group"]))
    exact = eer_by_group(counts_from_comparisons(samples, pairs.i.to_numpy(), pairs.j.to_numpy(),
                                                 pairs.score.to_numpy(), subject_column="subject", features=["group"],
                                                 score_range=(-1.0, 1.0)))
    assert (binned["method"] == "binned").all() and (exact["method"] == "exact").all()
    assert np.allclose(binned["eer"], exact["eer"], atol=0.003)


def test_per_subject_histograms_hold_every_comparison_on_a_grid_fine_where_the_eer_lies():
    """The bootstrap's per-subject histograms: every genuine comparison once, every impostor comparison once for
    each of its two subjects; on the data-placed coarse grid their EER is within 10 % of the exact one (a
    uniform 32-bin grid over [-1, 1] was off by half on such data)."""
    for seed in (1, 2, 3):
        samples, templates = make_verification_set(300, 4, dim=64, spread={"B": 0.9}, concentration={"C": 0.5},
                                                   seed=seed)
        c = counts_from_templates(samples, templates, subject_column="subject", features=["group"])
        assert c.subject_genuine_hist.sum() == c.n_genuine
        assert c.subject_impostor_hist.sum() == 2 * c.n_impostor
        assert c.coarse_edges[0] == -1 and c.coarse_edges[-1] == 1 and np.all(np.diff(c.coarse_edges) > 0)
        assert set(c.coarse_edges) <= set(c.edges)  # a subset of the fine grid
        coarse = eer_from_histograms(c.subject_genuine_hist.sum(0), c.subject_impostor_hist.sum((0, 1)) / 2)
        exact = eer_by_group(c).loc[("overall", "all"), "eer"]
        assert abs(coarse - exact) <= 0.1 * exact, (seed, coarse, exact)


def test_threshold_support_rule(brute):
    samples, templates, _ = brute
    c = counts_from_templates(samples, templates, subject_column="subject", features=["group"])
    t = fmr_thresholds(c, (1e-3, 1e-6), min_false_matches=30).set_index("target")
    assert not t.loc[1e-6, "supported"] and "needs 30,000,000 impostor comparisons" in t.loc[1e-6, "reason"]
    assert threshold_at_fmr(np.array([0.9, 0.9, 0.5]), 3, 0.5) == (float(np.nextafter(0.9, np.inf)), 0)


def test_inequity_summaries_equal_hand_computed_cases():
    d = inequity(pd.Series({"A": 0.01, "B": 0.02, "C": 0.04}))
    assert d["max_min_ratio"] == pytest.approx(4.0)
    assert d["max_geomean_ratio"] == pytest.approx(0.04 / (0.01 * 0.02 * 0.04) ** (1 / 3))
    # Gini: sum |xi - xj| = 2 * (0.01 + 0.03 + 0.02) = 0.12; / (2 * 9 * mean 0.07/3) * 3/2
    assert d["gini"] == pytest.approx(1.5 * 0.12 / (2 * 9 * 0.07 / 3))
    assert inequity(pd.Series([0.0, 0.1]))["max_min_ratio"] == np.inf
    assert np.isnan(inequity(pd.Series([0.1]))["gini"])
    assert fairness_discrepancy_rate(pd.Series([0.001, 0.003]), pd.Series([0.05, 0.15])) == pytest.approx(0.949)
    assert fairness_discrepancy_rate(pd.Series([0.001, 0.003]), pd.Series([0.05, 0.15]), alpha=1) == \
        pytest.approx(0.998)


def test_injected_differentials_are_found():
    samples, templates = make_verification_set(400, 4, spread={"B": 1.0}, concentration={"C": 0.7}, seed=5)
    c = counts_from_templates(samples, templates, subject_column="subject", features=["group"])
    res = evaluate_verification(c, fmr_targets=(1e-3,), n_boot=200, min_false_matches=10)
    part = res.readings.xs((1e-3, "group"), level=("target", "feature"))
    assert part.loc["B", "fnmr_low"] > part.loc["A", "fnmr_high"]  # B's FNMR is higher, with confidence
    assert part.loc["C", "fmr_same_low"] > part.loc["A", "fmr_same_high"]  # C's same-group FMR is higher
    doc = res.to_dict()
    assert doc["at_threshold"]["0.001"]["groups"]["group"]["B"]["fnmr"] == pytest.approx(part.loc["B", "fnmr"])
