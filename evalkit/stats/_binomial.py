"""Exact binomial intervals."""

from __future__ import annotations

import numpy as np

from ..settings import CI_LEVEL


def clopper_pearson(k: np.ndarray | float, n: np.ndarray | float, level: float = CI_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval for ``k`` successes in ``n`` trials (NaN where ``n == 0``).

    Equal to :meth:`scipy.stats.binomtest(k, n).proportion_ci(method="exact") <scipy.stats.binomtest>`.

    Examples
    --------
    >>> low, high = clopper_pearson(0, 10)
    >>> float(low), round(float(high), 4)
    (0.0, 0.3085)
    """
    from scipy.stats import beta

    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def wilson(k: np.ndarray | float, n: np.ndarray | float, level: float = CI_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes in ``n`` trials (NaN where ``n == 0``).

    Equal to :meth:`scipy.stats.binomtest(k, n).proportion_ci(method="wilson") <scipy.stats.binomtest>`.

    Examples
    --------
    >>> low, high = wilson(3, 10)
    >>> round(float(low), 4), round(float(high), 4)
    (0.1078, 0.6032)
    """
    from scipy.stats import norm

    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = norm.ppf(1 - (1 - level) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        # The interval always holds k/n, so it is exactly [0, ...] at k = 0 and [..., 1] at k = n; the formula's
        # rounding can miss by 1e-17 (a lower bound of 1.4e-17 over an estimate of 0 broke an error bar).
        low = np.minimum(np.clip(centre - half, 0, 1), p)
        high = np.maximum(np.clip(centre + half, 0, 1), p)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def newcombe_difference(k1: np.ndarray | float, n1: np.ndarray | float, k2: np.ndarray | float,
                        n2: np.ndarray | float, level: float = CI_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Interval for the difference ``k1/n1 - k2/n2`` of two independent proportions: Newcombe's hybrid score
    method (his method 10, from the two Wilson intervals), which keeps its level for small and extreme
    proportions where the Wald interval does not.

    Examples
    --------
    >>> low, high = newcombe_difference(56, 70, 48, 80)  # Newcombe (1998), example (a)
    >>> round(float(low), 4), round(float(high), 4)
    (0.0524, 0.3339)
    """
    k1, n1, k2, n2 = (np.asarray(v, dtype=np.float64) for v in (k1, n1, k2, n2))
    l1, u1 = wilson(k1, n1, level)
    l2, u2 = wilson(k2, n2, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def max_min_interval(k: np.ndarray, n: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Interval for the largest difference between the groups' proportions ``k/n`` (max - min), from
    simultaneous Wilson intervals (Bonferroni over the ``G`` groups, each at ``1 - (1 - level)/G``): when every
    group's interval covers its proportion, which happens with probability at least ``level``, the true
    max - min lies in ``[max(0, max(low) - min(high)), max(high) - min(low)]``.

    Unlike the bootstrap percentile interval of the max - min of resampled proportions, which is biased upward
    and almost never covers a true difference of 0 (every group equal), this one keeps its level at any true
    difference; it is conservative (wider) when the groups really differ.

    Examples
    --------
    >>> low, high = max_min_interval(np.array([30, 30, 30]), np.array([100, 100, 100]))
    >>> float(low), round(float(high), 3)
    (0.0, 0.214)
    """
    bounds = simultaneous_wilson(k, n, level)
    if bounds is None:
        return float("nan"), float("nan")
    low, high = bounds
    return float(max(0.0, low.max() - high.min())), float(high.max() - low.min())


def simultaneous_wilson(k: np.ndarray, n: np.ndarray, level: float = CI_LEVEL) -> tuple[np.ndarray, np.ndarray] | None:
    """Wilson intervals of the groups with ``n > 0``, each at the Bonferroni level ``1 - (1 - level) / G``, so
    that all ``G`` cover together with probability at least ``level``; None with fewer than two such groups."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    keep = n > 0
    if keep.sum() < 2:
        return None
    return wilson(k[keep], n[keep], 1 - (1 - level) / keep.sum())
