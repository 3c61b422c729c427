"""Wilson and Newcombe intervals (evalkit/stats/_binomial.py) against scipy, the published examples, and a
coverage simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from evalkit.stats import newcombe_difference, wilson


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (7, 250), (1, 1), (40, 41)])
def test_wilson_equals_scipy(k, n):
    low, high = wilson(k, n, 0.9)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert float(low) == pytest.approx(ref.low, abs=1e-12) and float(high) == pytest.approx(ref.high, abs=1e-12)
    assert np.isnan(wilson(0, 0)[0])


def test_wilson_holds_its_estimate_and_is_exact_at_the_ends():
    """At k = 0 the formula gave a lower bound of 1.4e-17 over an estimate of 0 (k=0, n=29: a report's error bar
    then failed); the bounds are exactly 0 and 1 at the ends and never exclude k/n."""
    k = np.arange(0, 301)
    for n in (29, 300):
        low, high = wilson(k[: n + 1], n)
        p = k[: n + 1] / n
        assert low[0] == 0.0 and high[-1] == 1.0
        assert (low <= p).all() and (p <= high).all()


@pytest.mark.parametrize("k1, n1, k2, n2, low, high", [
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
    (10, 10, 0, 10, 0.6075, 1.0000),
])
def test_newcombe_equals_the_published_examples(k1, n1, k2, n2, low, high):
    lo, hi = newcombe_difference(k1, n1, k2, n2, 0.95)
    assert round(float(lo), 4) == low and round(float(hi), 4) == high


def test_newcombe_interval_keeps_its_level():
    """Coverage simulation: 2,000 pairs of samples from known proportions, small and unbalanced groups; the
    95 % interval of the difference covers the true difference in 93-97.5 % of them (Newcombe reports about
    95 % for his method 10, where the Wald interval falls far short)."""
    rng = np.random.default_rng(1998)
    for (p1, n1), (p2, n2) in [((0.1, 30), (0.05, 1000)), ((0.5, 20), (0.3, 60)), ((0.02, 200), (0.02, 5000))]:
        k1, k2 = rng.binomial(n1, p1, 2000), rng.binomial(n2, p2, 2000)
        lo, hi = newcombe_difference(k1, n1, k2, n2, 0.95)
        covered = np.mean((lo <= p1 - p2) & (p1 - p2 <= hi))
        assert 0.93 <= covered <= 0.975, (p1, n1, p2, n2, covered)
