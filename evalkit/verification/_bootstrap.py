"""Subject-clustered bootstrap intervals for verification figures.

Comparisons are not independent: every comparison of a subject shares that subject, and every impostor
comparison shares two. Resampling comparisons (rows) ignores that and gives intervals that are far too narrow;
:func:`subject_bootstrap` resamples *subjects* instead, with Poisson(1) weights (each subject in a replicate
``w`` times, ``w ~ Poisson(1)``, the same scheme as evalkit's other bootstraps), from sufficient statistics:

- **FNMR** (genuine comparisons belong to one subject): a subject's weight multiplies its genuine comparisons
  and its false non-matches at each threshold. One-way.
- **FMR** at a threshold: two-way. An impostor comparison of subjects ``a`` and ``b`` gets the weight
  ``w_a * w_b`` (both subjects are resampled, so a subject drawn twice brings twice its comparisons with every
  other drawn subject). The false matches come from the exact tail, aggregated per subject pair; the
  denominators are ``(sum w n)^2 - sum (w n)^2`` over a group's subjects (halved for unordered pairs) when every
  pair of samples was compared, else the weighted impostor comparisons per subject pair.
- **EER**: genuine comparisons one-way; impostor comparisons by the first-order (linear) part of the two-way
  weight, ``w_a * w_b ~ w_a + w_b - 1``, which a replicate gets from each subject's histogram of the impostor
  comparisons it takes part in on either side (summing ``w_a`` times each and removing the total once), from
  per-subject histograms on a coarse score grid placed at
  the genuine and impostor quantiles where an EER can lie (:func:`evalkit.verification.coarse_grid`); the
  percentile interval is shifted by the (small) difference between the exact (or fine-grid) and the coarse
  estimate, and clipped to [0, 1].
- **Inequity summaries** (max/min, max/geometric mean, Gini, FDR) are recomputed in every replicate from the
  replicate's per-group rates.

The threshold is held where it was set on the whole data: the intervals describe the rates at that operating
point. All intervals are percentile intervals at ``level``; where a group shows no error at all (every replicate
0), the upper bound is the exact binomial bound over its subjects instead (:func:`zero_error_bound`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ..stats import percentile_interval, shifted_interval
from ._counts import VerificationCounts
from ._metrics import eer_from_histograms, group_codes, inequity_arrays

#: Entries of one block of replicate weights (replicates × subjects).
WEIGHT_BLOCK = 1 << 24


def zero_error_bound(subjects: int, level: float) -> float:
    """Upper bound of a rate with no error among ``subjects`` subjects: the exact binomial bound
    ``1 - (alpha/2)^(1/n)`` with the subjects as the independent units (conservative for a per-comparison rate).

    Examples
    --------
    >>> round(zero_error_bound(100, 0.95), 4)
    0.0362
    """
    return float(1 - ((1 - level) / 2) ** (1 / subjects))


def _onehot(codes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((codes.size, k))
    out[np.arange(codes.size), codes] = 1.0
    return out


def _fold(m: np.ndarray, ordered: bool) -> np.ndarray:
    """Pair matrices over replicates (``(..., k, k)``): unordered comparisons counted once per group pair."""
    if ordered:
        return m
    diag = np.einsum("...ii->...i", m)
    return m + np.swapaxes(m, -1, -2) - diag[..., None] * np.eye(m.shape[-1])


def _same_cross(m: np.ndarray, ordered: bool) -> tuple[np.ndarray, np.ndarray]:
    """Same-group (diagonal) and cross-group totals per group from folded pair matrices."""
    diag = np.einsum("...ii->...i", m)
    cross = m.sum(-1) + m.sum(-2) - 2 * diag if ordered else m.sum(-1) - diag
    return diag, cross


def _rates(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def subject_bootstrap(counts: VerificationCounts, thresholds: Sequence[float], *, n_boot: int, level: float,
                      seed: int, min_subjects: int, alpha: float = 0.5,
                      eer_points: pd.Series | None = None) -> dict[str, pd.DataFrame]:
    """Intervals for every per-group figure at ``thresholds`` (see the module docstring).

    Returns
    -------
    dict of DataFrame
        ``rates``: indexed by ``(target_index, feature, group)`` with ``fnmr_low/high``, ``fmr_same_low/high``,
        ``fmr_cross_low/high``; ``eer``: by ``(feature, group)`` with ``eer_low/high``; ``inequity``: by
        ``(target_index, feature, rate, summary)`` with ``low/high`` (``rate`` ``fnmr``/``fmr_same``/``fdr``).
    """
    s = len(counts.subjects)
    taus = np.asarray(thresholds, dtype=float)
    k = taus.size
    rng = np.random.default_rng(seed)
    gen_n = np.bincount(counts.genuine_subject, minlength=s).astype(float)
    miss = np.stack([np.bincount(counts.genuine_subject, weights=(counts.genuine_score < t).astype(float),
                                 minlength=s) for t in taus], axis=1) if k else np.zeros((s, 0))
    cell = counts.subjects["cell"].to_numpy()
    c = len(counts.cells)
    # false matches of the exact tail as a sparse (subject a, reference cell, level) x (subject b) matrix, where
    # the level is the highest threshold the comparison reaches: the two-way sums of a replicate are then one
    # sparse-dense product (and the thresholds' counts a cumulative sum over the levels)
    order = np.argsort(taus)
    reach = np.searchsorted(taus[order], counts.tail_score, side="right") - 1
    hit = reach >= 0
    ta, tb = counts.tail_a[hit], counts.tail_b[hit]
    false_matches = _pair_matrix(ta, tb, cell[tb] * k + reach[hit], s, c * k)
    pair_count = None if counts.complete else _pair_matrix(counts.pair_a, counts.pair_b, cell[counts.pair_b], s, c,
                                                           counts.pair_n)
    n_samples = counts.subjects["n_samples"].to_numpy(float)
    features = [("overall", ["all"], np.zeros(s, dtype=np.int64), np.zeros(c, dtype=np.int64))]
    features += [(f, *group_codes(counts, f)) for f in counts.features]
    reps: dict[str, list[np.ndarray]] = {}
    eer_coarse: dict[tuple[str, str], float] = {}
    # replicates per block: the weights and the products with the pair matrices stay within WEIGHT_BLOCK entries
    block = max(1, min(n_boot, WEIGHT_BLOCK // (s * max(c * k, 1))))
    cell_onehot = _onehot(cell, c)
    # everything that does not depend on the weights, once per feature
    prepared = []
    for name, groups, subject_group, cell_group in features:
        g = len(groups)
        h = _onehot(subject_group, g)
        prepared.append({
            "name": name, "groups": groups, "g": g, "subject_group": subject_group, "cells": _onehot(cell_group, g),
            "fn": (h[:, :, None] * miss[:, None, :]).reshape(s, g * k), "gen": h * gen_n[:, None],
            "hist": _eer_inputs(counts, subject_group, cell_group, g)})
    inverse = np.argsort(order)
    for start in range(0, n_boot, block):
        w = rng.poisson(1.0, size=(min(block, n_boot - start), s)).astype(float)
        wt = np.ascontiguousarray(w.T)
        # false matches per (probe cell, reference cell) at each threshold: (replicates, c, c, k)
        levels = _two_way(false_matches, wt, cell_onehot).reshape(-1, c, c, k)
        cell_fm = np.flip(np.cumsum(np.flip(levels, -1), -1), -1)[..., inverse]
        cell_den = None if pair_count is None else _two_way(pair_count, wt, cell_onehot)
        for f in prepared:
            name, g, cg = f["name"], f["g"], f["cells"]
            fn = (w @ f["fn"]).reshape(-1, g, k)
            gen = w @ f["gen"]
            fmm = np.einsum("rxyj,xg,yh->rjgh", cell_fm, cg, cg)
            den = _denominators(w, f["subject_group"], g, n_samples) if cell_den is None else \
                _fold(np.einsum("rxy,xg,yh->rgh", cell_den, cg, cg), counts.ordered)
            same_m, cross_m = _same_cross(_fold(fmm, counts.ordered), counts.ordered)
            same_d, cross_d = _same_cross(den[:, None], counts.ordered)
            reps.setdefault(f"fnmr|{name}", []).append(_rates(fn, gen[:, :, None]))
            reps.setdefault(f"fmr_same|{name}", []).append(_rates(same_m, same_d).transpose(0, 2, 1))
            reps.setdefault(f"fmr_cross|{name}", []).append(_rates(cross_m, cross_d).transpose(0, 2, 1))
            gen_hist, imp_hist = f["hist"]
            bins = counts.subject_genuine_hist.shape[1]
            # w_a + w_b - 1 per impostor comparison: each subject's both-sides histogram weighted, the total removed
            gh = (w @ gen_hist).reshape(-1, g, bins)
            ih = np.maximum((w @ imp_hist - imp_hist.sum(axis=0) / 2).reshape(-1, g, bins), 0)
            reps.setdefault(f"eer|{name}", []).append(eer_from_histograms(gh, ih))
            if start == 0:
                g0, i0 = gen_hist.sum(axis=0).reshape(g, bins), imp_hist.sum(axis=0).reshape(g, bins) / 2
                for j, grp in enumerate(f["groups"]):
                    eer_coarse[(name, grp)] = float(eer_from_histograms(g0[j], i0[j]))
    return _summarise(counts, features, {key: np.concatenate(v) for key, v in reps.items()}, k, level=level,
                      min_subjects=min_subjects, alpha=alpha, eer_points=eer_points, eer_coarse=eer_coarse)


def _pair_matrix(a: np.ndarray, b: np.ndarray, cls: np.ndarray, s: int, n_cls: int,
                 values: np.ndarray | None = None) -> sparse.csr_matrix:
    """Comparisons of subject pairs ``(a, b)`` as a sparse ``(S * n_cls, S)`` matrix: row ``a * n_cls + cls``,
    column ``b``; duplicates are summed."""
    values = np.ones(a.size) if values is None else np.asarray(values, dtype=float)
    return sparse.csr_matrix((values, (a * n_cls + cls, b)), shape=(s * n_cls, s))


def _two_way(m: sparse.csr_matrix, wt: np.ndarray, cell_onehot: np.ndarray) -> np.ndarray:
    """``sum_(a,b) w_a w_b m[(a, cls), b]`` per replicate, cell of ``a`` and class: ``(replicates, C, n_cls)``.

    ``wt`` holds the replicates' subject weights as columns ``(S, replicates)``."""
    s, reps = wt.shape
    z = (m @ wt).reshape(s, -1, reps) * wt[:, None, :]  # (S, n_cls, replicates): w_a * sum_b m w_b
    return (cell_onehot.T @ z.reshape(s, -1)).reshape(cell_onehot.shape[1], -1, reps).transpose(2, 0, 1)


def _denominators(w: np.ndarray, subject_group: np.ndarray, g: int, n_samples: np.ndarray) -> np.ndarray:
    """Weighted impostor comparisons per group pair and replicate when every pair of samples of different
    subjects was compared: products of the groups' weighted sample counts (pairs within a group once)."""
    h = _onehot(subject_group, g)
    a = (w * n_samples) @ h
    q = ((w * n_samples) ** 2) @ h
    den = a[:, :, None] * a[:, None, :]
    idx = np.arange(g)
    den[:, idx, idx] = (a ** 2 - q) / 2
    return den


def _eer_inputs(counts: VerificationCounts, subject_group: np.ndarray, cell_group: np.ndarray,
                g: int) -> tuple[np.ndarray, np.ndarray]:
    """Per subject, its coarse genuine and same-group impostor histograms placed in its group's columns
    (``(S, g * bins)``): a replicate's weighted histograms are one matrix product away."""
    h = _onehot(subject_group, g)
    bins = counts.subject_genuine_hist.shape[1]
    gen = (h[:, :, None] * counts.subject_genuine_hist[:, None, :]).reshape(-1, g * bins)
    # impostor comparisons of each subject against its own group's cells
    own = np.stack([counts.subject_impostor_hist[:, cell_group == j, :].sum(axis=1) for j in range(g)], axis=1)
    same = own[np.arange(len(subject_group)), subject_group]  # (S, bins)
    return gen, (h[:, :, None] * same[:, None, :]).reshape(-1, g * bins)


def _summarise(counts: VerificationCounts, features: list, reps: dict[str, np.ndarray], k: int, *, level: float,
               min_subjects: int, alpha: float, eer_points: pd.Series | None,
               eer_coarse: dict[tuple[str, str], float]) -> dict[str, pd.DataFrame]:
    rates, eer_rows, ineq_rows = [], [], []
    for name, groups, subject_group, _ in features:
        subjects = np.bincount(subject_group, minlength=len(groups))
        big = subjects >= min_subjects
        for j in range(k):
            row = {}
            for rate in ("fnmr", "fmr_same", "fmr_cross"):
                lo, hi = percentile_interval(reps[f"{rate}|{name}"][:, :, j], level)
                row[rate] = (lo, hi)
            for gi, grp in enumerate(groups):
                entry = {f"{r}_{e}": row[r][e == "high"][gi] for r in row for e in ("low", "high")}
                for r in row:  # no error observed: every replicate is 0, which proves nothing
                    if entry[f"{r}_low"] == 0 and entry[f"{r}_high"] == 0 and subjects[gi] > 0:
                        entry[f"{r}_high"] = zero_error_bound(int(subjects[gi]), level)
                rates.append({"target_index": j, "feature": name, "group": grp, **entry})
            if name == "overall":
                continue
            fnmr = np.where(big, reps[f"fnmr|{name}"][:, :, j], np.nan)
            fmr = np.where(big, reps[f"fmr_same|{name}"][:, :, j], np.nan)
            for rate, x in (("fnmr", fnmr), ("fmr_same", fmr)):
                for summary, values in inequity_arrays(x).items():
                    lo, hi = percentile_interval(values, level)
                    ineq_rows.append({"target_index": j, "feature": name, "rate": rate, "summary": summary,
                                      "low": float(lo), "high": float(hi)})
            fdr = 1 - (alpha * inequity_arrays(fmr)["spread"] + (1 - alpha) * inequity_arrays(fnmr)["spread"])
            lo, hi = percentile_interval(fdr, level)
            ineq_rows.append({"target_index": j, "feature": name, "rate": "fdr", "summary": "fdr", "low": float(lo),
                              "high": float(hi)})
        eer = reps[f"eer|{name}"]
        for gi, grp in enumerate(groups):
            exact = np.array([np.nan if eer_points is None else eer_points.get((name, grp), np.nan)])
            lo, hi = shifted_interval(eer[:, gi], exact, np.array([eer_coarse.get((name, grp), np.nan)]), level)
            # a rate: the shift from the coarse grid may not push the interval out of [0, 1]
            lo, hi = float(np.clip(lo[0], 0, 1)), float(np.clip(hi[0], 0, 1))
            if lo == 0 and hi == 0 and subjects[gi] > 0:  # genuine and impostor scores never overlap
                hi = zero_error_bound(int(subjects[gi]), level)
            eer_rows.append({"feature": name, "group": grp, "eer_low": lo, "eer_high": hi})
    return {"rates": pd.DataFrame(rates).set_index(["target_index", "feature", "group"]) if rates else pd.DataFrame(),
            "eer": pd.DataFrame(eer_rows).set_index(["feature", "group"]),
            "inequity": pd.DataFrame(ineq_rows).set_index(["target_index", "feature", "rate", "summary"])
            if ineq_rows else pd.DataFrame()}
