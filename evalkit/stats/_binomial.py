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
