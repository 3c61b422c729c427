"""McNemar, DeLong and flip rates against references and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, norm
from sklearn.metrics import roc_auc_score

from evalkit.stats import delong, flip_rate, mcnemar


def _delong_by_hand(y, a, b):
    """DeLong's variance from its definition, O(m·n): psi(x, y) = 1 if x > y, 1/2 if equal."""
    y = np.asarray(y).astype(bool)

    def components(s):
        pos, neg = s[y], s[~y]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    auc_a, v10_a, v01_a = components(np.asarray(a, float))
    auc_b, v10_b, v01_b = components(np.asarray(b, float))
    m, n = v10_a.size, v01_a.size
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return auc_a, auc_b, math.sqrt(var)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_equals_its_definition_and_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 400)
    a = np.round(y * 0.8 + rng.normal(size=400), 1)  # rounded: many ties
    b = np.round(y * 0.5 + 0.5 * a + rng.normal(size=400), 1)
    r = delong(y, a, b)
    auc_a, auc_b, se = _delong_by_hand(y, a, b)
    assert r["auc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12) == pytest.approx(auc_a, abs=1e-12)
    assert r["auc_b"] == pytest.approx(roc_auc_score(y, b), abs=1e-12) == pytest.approx(auc_b, abs=1e-12)
    assert r["se"] == pytest.approx(se, rel=1e-10)
    z = (auc_a - auc_b) / se
    assert r["z"] == pytest.approx(z, rel=1e-10)
    assert r["p_value"] == pytest.approx(2 * norm.sf(abs(z)), rel=1e-10)
    half = norm.ppf(0.975) * se
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((auc_a - auc_b - half, auc_a - auc_b + half), abs=1e-12)


def test_delong_hand_computed_case():
    # positives {0.9, 0.6}, negatives {0.7, 0.2}; a: 3 of 4 pairs right; b ranks every pair right
    y = [1, 1, 0, 0]
    r = delong(y, [0.9, 0.6, 0.7, 0.2], [0.9, 0.8, 0.7, 0.2])
    assert (r["auc_a"], r["auc_b"], r["difference"]) == (0.75, 1.0, -0.25)
    # V10 a = [1, .5], b = [1, 1]: var(diff) over positives = var([0, -.5]) = .125; negatives V01 a = [.5, 1],
    # b = [1, 1]: var([-.5, 0]) = .125 -> var = .125/2 + .125/2 = .125
    assert r["se"] == pytest.approx(math.sqrt(0.125), abs=1e-15)


def test_delong_identical_scores_and_missing_class():
    y = np.array([0, 1, 0, 1, 1])
    s = np.array([0.1, 0.9, 0.3, 0.2, 0.8])
    r = delong(y, s, s.copy())
    assert (r["difference"], r["se"], r["z"], r["p_value"], r["ci_low"], r["ci_high"]) == (0, 0, 0, 1, 0, 0)
    assert math.isnan(delong([1, 1], [0.2, 0.3], [0.1, 0.1])["p_value"])
    with pytest.raises(ValueError, match="same length"):
        delong([0, 1], [0.1], [0.2, 0.3])
    with pytest.raises(ValueError, match="0/1 labels"):
        delong([0, 2], [0.1, 0.2], [0.2, 0.3])


def test_mcnemar_exact_against_scipy_and_by_hand():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = np.where(rng.random(300) < 0.85, y, 1 - y)
    b = np.where(rng.random(300) < 0.75, y, 1 - y)
    r = mcnemar(y, a, b)
    right_a, right_b = a == y, b == y
    nb, nc = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    assert (r["b"], r["c"]) == (nb, nc)
    assert r["p_value"] == pytest.approx(binomtest(nb, nb + nc, 0.5).pvalue, rel=1e-12)
    assert r["statistic"] == pytest.approx((abs(nb - nc) - 1) ** 2 / (nb + nc), rel=1e-12)
    assert r["accuracy_difference"] == pytest.approx(right_a.mean() - right_b.mean(), abs=1e-15)
    # hand-computed: b = 3, c = 0 -> p = 2 * 0.5^3 = 0.25
    y3 = [1, 1, 1, 0]
    assert mcnemar(y3, [1, 1, 1, 0], [0, 0, 0, 0])["p_value"] == pytest.approx(0.25, abs=1e-15)


def test_identical_predictions_are_not_different():
    y = [1, 0, 1, 0]
    assert mcnemar(y, [1, 1, 0, 0], [1, 1, 0, 0]) == {"b": 0.0, "c": 0.0, "n": 4.0, "accuracy_difference": 0.0,
                                                      "statistic": 0.0, "p_value": 1.0}
    f = flip_rate([1, 1, 0, 0], [1, 1, 0, 0])
    assert (f["flips"], f["rate"], f["ci_low"]) == (0.0, 0.0, 0.0)
    assert f["ci_high"] == pytest.approx(1 - 0.025 ** (1 / 4), rel=1e-9)  # exact upper bound with 0 of 4


def test_flip_rate_interval_is_clopper_pearson():
    f = flip_rate(np.r_[np.ones(7), np.zeros(93)], np.zeros(100))
    ci = binomtest(7, 100).proportion_ci(method="exact")
    assert (f["flips"], f["rate"]) == (7.0, 0.07)
    assert (f["ci_low"], f["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_binom_half_p_is_scipys_binomtest():
    """McNemar's exact p-value without scipy's search for the other tail: the same float on a grid."""
    from scipy.stats import binomtest

    from evalkit.stats._significance import binom_half_p

    cases = [(k, n) for n in (*range(1, 120), 999, 1000, 4321, 100_000)
             for k in {*range(0, min(n, 40) + 1), n // 2 - 1, n // 2, n // 2 + 1, n - 3, n} if 0 <= k <= n]
    assert all(binom_half_p(k, n) == binomtest(k, n, 0.5).pvalue for k, n in cases)


@pytest.mark.parametrize("seed", range(12))
def test_delong_by_group_equals_delong_on_each_groups_samples(seed):
    """Placement values of every group at once (one sort per model, ties within and across groups, a group with
    one class, identical models) give DeLong's test of each group's samples alone."""
    from evalkit.stats import SortedScores, delong_by_group, placements

    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 2000))
    y = rng.random(n) < rng.uniform(0.1, 0.9)
    a = np.round(rng.random(n) * 0.6 + 0.3 * y, int(rng.integers(1, 4)))  # ties
    b = a.copy() if seed == 3 else np.clip(a + rng.normal(0, 0.1, n), 0, 1)  # distinct but for 0 and 1
    k = int(rng.integers(1, 6))
    codes = rng.integers(0, k, n).astype(np.int16)
    if seed == 5:
        y[codes == 0] = True  # a group without negatives
    tests = delong_by_group(y, placements(SortedScores(y, a), codes, k), placements(SortedScores(y, b), codes, k),
                            codes, k)
    for g in range(k):
        ref = delong(y[codes == g], a[codes == g], b[codes == g])
        assert tests[g].keys() == ref.keys()
        for key, value in ref.items():
            if math.isnan(value):
                assert math.isnan(tests[g][key]), (g, key)
            else:
                assert tests[g][key] == pytest.approx(value, rel=1e-9, abs=1e-12), (g, key)


@pytest.mark.parametrize("seed", range(12))
def test_placements_from_hashed_ranks_equal_those_from_one_sort_to_the_bit(seed):
    """Scores ranked by hashing (a table of counts per group, distinct score and label) and scores sorted once
    give the same placement values, float for float: ties within and across groups, a group with one class,
    every score distinct, -0.0 beside 0.0."""
    from evalkit.stats import SortedScores, placements

    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 3000))
    y = rng.random(n) < rng.uniform(0.1, 0.9)
    score = rng.random(n) if seed == 4 else np.round(rng.random(n) * 0.6 + 0.3 * y, int(rng.integers(1, 4)))
    if seed == 6:
        score[rng.random(n) < 0.2] = -0.0
        score[rng.random(n) < 0.2] = 0.0
    k = int(rng.integers(1, 7))
    codes = rng.integers(0, k, n).astype(np.int16)
    if seed == 5:
        y[codes == 0] = False  # a group without positives
    hashed, sorted_ = SortedScores(y, score, method="hash"), SortedScores(y, score, method="sort")
    assert hashed.sample_rank is not None and sorted_.sample_rank is None
    np.testing.assert_array_equal(hashed.sample_rank[sorted_.order], np.r_[0, np.cumsum(np.diff(score[sorted_.order]) != 0)])
    for c, groups in ((None, 1), (codes, k)):
        np.testing.assert_array_equal(placements(hashed, c, groups), placements(sorted_, c, groups))
    np.testing.assert_array_equal(hashed.order, sorted_.order)  # sorted on first use, the same way


def test_many_ties_are_ranked_by_hashing_and_distinct_scores_by_sorting():
    from evalkit.stats import SortedScores

    rng = np.random.default_rng(0)
    y = rng.random(300_000) < 0.3
    assert SortedScores(y, np.round(rng.random(y.size), 3)).sample_rank is not None
    assert SortedScores(y, rng.random(y.size)).sample_rank is None
    assert SortedScores(y[:1000], np.round(rng.random(1000), 1)).sample_rank is None  # small: sorted
    with pytest.raises(ValueError, match="method must be"):
        SortedScores(y, y.astype(float), method="fast")



@pytest.mark.parametrize("seed", range(8))
def test_placements_in_small_chunks_equal_those_in_one_piece(seed, monkeypatch):
    """A group's placements computed a few samples at a time (chunks ending where blocks of tied scores end,
    a block longer than a chunk, counts carried over) are the floats of the whole group at once."""
    from evalkit.stats import SortedScores, placements
    from evalkit.stats import _significance

    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 1500))
    y = rng.random(n) < rng.uniform(0.2, 0.8)
    score = rng.random(n) if seed == 0 else np.round(rng.random(n) * 0.6 + 0.3 * y, int(rng.integers(1, 3)))
    if seed == 1:
        score[: n // 3] = 0.0  # one block of ties longer than many chunks
    codes, k = rng.integers(0, 3, n).astype(np.int16), 3
    ranked = SortedScores(y, score, method="sort")
    whole = [placements(ranked), placements(ranked, codes, k)]
    monkeypatch.setattr(_significance, "_CHUNK", int(rng.integers(1, 9)))
    np.testing.assert_array_equal(placements(ranked), whole[0])
    np.testing.assert_array_equal(placements(ranked, codes, k), whole[1])
    monkeypatch.setattr(_significance, "_SCAN_GROUPS", 1)  # groups found by the radix sort instead of scans
    np.testing.assert_array_equal(placements(ranked, codes, k), whole[1])


@pytest.mark.parametrize("seed", range(6))
def test_placements_in_another_order_are_those_of_sample_order_taken_in_it(seed, monkeypatch):
    """Issue 19: placements asked for in an ``order`` (codes given in it) are the sample-order values taken in
    that order, float for float: sorted scores in their own score order (no scatter; groups by scan and by radix
    sort), hashed scores in any permutation (their table read in it, a few samples at a time). Any other order of
    sorted scores, or a wrong ``out``, is refused."""
    from evalkit.stats import SortedScores, placement_order, placements
    from evalkit.stats import _significance

    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    y = rng.random(n) < rng.uniform(0.2, 0.8)
    tied = np.round(rng.random(n) * 0.6 + 0.3 * y, int(rng.integers(1, 3)))
    distinct = rng.random(n) if seed % 2 else np.round(rng.random(n), 2)  # distinct, or ties too
    k = int(rng.integers(1, 6))
    codes = rng.integers(0, k, n).astype(np.int8)
    hashed, sorted_ = SortedScores(y, tied, method="hash"), SortedScores(y, distinct, method="sort")
    assert placement_order(sorted_, hashed, k) is sorted_.order
    assert placement_order(hashed, sorted_, k) is None and placement_order(sorted_, sorted_, k) is None
    if seed >= 3:
        monkeypatch.setattr(_significance, "_SCAN_GROUPS", 1)  # groups by a radix sort of their codes
        monkeypatch.setattr(_significance, "_CHUNK", int(rng.integers(1, 9)))
    permutation = rng.permutation(n)
    for ranked, order in ((sorted_, sorted_.order), (hashed, sorted_.order), (hashed, permutation)):
        for c, groups in ((None, 1), (codes, k)):
            expected = placements(ranked, c, groups)[order]
            got = placements(ranked, None if c is None else c[order], groups, order=order, out=np.full(n, -1.0))
            np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="order must be None or sorted_scores.order"):
        placements(sorted_, codes[permutation], k, order=permutation)
    with pytest.raises(ValueError, match=r"out must be a float64 array of shape \(%d,\)" % n):
        placements(hashed, codes, k, out=np.empty(n, dtype=np.float32))
    with pytest.raises(ValueError, match="in_order needs scores ranked by hashing"):
        sorted_.in_order(permutation)
