"""Subject-clustered intervals keep their promise where row-level ones do not (evalkit/verification/_bootstrap.py).

Data are drawn from a population whose rates are known exactly: every subject has a random effect shared by all
its comparisons (genuine scores ``mu + u_s + e``; impostor scores ``mu_i + v_a + v_b + e``). With such
correlation a binomial interval over comparisons (rows) is far too narrow; the subject bootstrap (one-way for
FNMR, two-way for FMR, the linear part of two-way for the impostor side of the EER) covers the truth at about
its nominal 95 %. `make bench` runs a larger version.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import norm

from evalkit.stats import clopper_pearson
from evalkit.verification import counts_from_comparisons, eer_by_group, subject_bootstrap

TAU = 0.0
GEN = dict(mu=1.2, su=0.9, se=0.8)
IMP = dict(mu=-1.6, sv=0.5, se=0.6)
TRUE_FNMR = norm.cdf((TAU - GEN["mu"]) / np.hypot(GEN["su"], GEN["se"]))
TRUE_FMR = norm.sf((TAU - IMP["mu"]) / np.sqrt(2 * IMP["sv"] ** 2 + IMP["se"] ** 2))


def _rates(t: float) -> tuple[float, float]:
    """The population's FNMR and FMR at threshold ``t``."""
    return (norm.cdf((t - GEN["mu"]) / np.hypot(GEN["su"], GEN["se"])),
            norm.sf((t - IMP["mu"]) / np.sqrt(2 * IMP["sv"] ** 2 + IMP["se"] ** 2)))


TRUE_EER = _rates(brentq(lambda t: np.subtract(*_rates(t)), -10, 10))[0]


def simulate(rng: np.random.Generator, subjects: int = 100, per_subject: int = 4):
    """Samples, and comparisons: every within-subject pair (genuine), one comparison per subject pair (impostor)."""
    samples = pd.DataFrame({"sample": [f"s{s}-{k}" for s in range(subjects) for k in range(per_subject)],
                            "subject": np.repeat([f"s{s}" for s in range(subjects)], per_subject), "group": "all"})
    u = rng.normal(0, GEN["su"], subjects)
    v = rng.normal(0, IMP["sv"], subjects)
    gi, gj = np.triu_indices(per_subject, 1)
    owner = np.repeat(np.arange(subjects), gi.size)
    probe = np.r_[owner * per_subject + np.tile(gi, subjects)]
    ref = np.r_[owner * per_subject + np.tile(gj, subjects)]
    gscore = GEN["mu"] + u[owner] + rng.normal(0, GEN["se"], owner.size)
    a, b = np.triu_indices(subjects, 1)
    iscore = IMP["mu"] + v[a] + v[b] + rng.normal(0, IMP["se"], a.size)
    probe = np.r_[probe, a * per_subject]
    ref = np.r_[ref, b * per_subject + 1]
    return samples, probe, ref, np.r_[gscore, iscore]


def coverage(datasets: int, *, n_boot: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    hits = {"fnmr_subject": 0, "fmr_subject": 0, "eer_subject": 0, "fnmr_rows": 0, "fmr_rows": 0}
    for d in range(datasets):
        samples, probe, ref, score = simulate(rng)
        c = counts_from_comparisons(samples, probe, ref, score, subject_column="subject", features=["group"],
                                    score_range=(-20.0, 20.0))
        out = subject_bootstrap(c, [TAU], n_boot=n_boot, level=0.95, seed=d, min_subjects=1,
                                eer_points=eer_by_group(c)["eer"])
        row = out["rates"].loc[(0, "overall", "all")]
        eer = out["eer"].loc[("overall", "all")]
        hits["eer_subject"] += eer.eer_low <= TRUE_EER <= eer.eer_high
        hits["fnmr_subject"] += row.fnmr_low <= TRUE_FNMR <= row.fnmr_high
        hits["fmr_subject"] += row.fmr_same_low <= TRUE_FMR <= row.fmr_same_high
        misses, n = int((c.genuine_score < TAU).sum()), c.n_genuine
        fms, m = int((c.tail_score >= TAU).sum()), c.tail_score.size
        lo, hi = clopper_pearson(np.array([misses, fms]), np.array([n, m]))  # exact, but for independent rows
        hits["fnmr_rows"] += lo[0] <= TRUE_FNMR <= hi[0]
        hits["fmr_rows"] += lo[1] <= TRUE_FMR <= hi[1]
    return {k: v / datasets for k, v in hits.items()}


def test_subject_intervals_reach_their_level_and_row_intervals_do_not():
    """200 data sets: a 95 % interval's coverage is then known to about ±1.5 % (one standard error); the band
    below is ±3 standard errors. Percentile intervals of 100 clusters run slightly under nominal (about 93 % in
    the larger `make bench` run); row-level exact intervals cover far less."""
    cov = coverage(200, n_boot=200, seed=2026)
    assert 0.90 <= cov["fnmr_subject"] <= 0.99, cov
    assert 0.90 <= cov["fmr_subject"] <= 0.99, cov
    assert 0.90 <= cov["eer_subject"] <= 0.99, cov
    assert cov["fnmr_rows"] < 0.88 and cov["fmr_rows"] < 0.6, cov
    assert cov["fnmr_subject"] - cov["fnmr_rows"] > 0.08 and cov["fmr_subject"] - cov["fmr_rows"] > 0.3, cov
