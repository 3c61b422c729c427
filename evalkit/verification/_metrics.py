"""Verification metrics by demographic group, read at thresholds set once for everyone.

Definitions (a comparison is accepted, a *match*, when ``score >= threshold``):

- **FNMR** of a group: the share of its subjects' genuine comparisons that are not matches.
- **FMR** of a pair of groups ``(g, h)``: the share of impostor comparisons between a sample of ``g`` and a
  sample of ``h`` that are matches. The *same-group* FMR of ``g`` is ``FMR(g, g)``, the diagonal of the FMR
  matrix (NIST FRTE "demographic effects": impostors of one's own group are the ones that match);
  the *cross-group* FMR pools every impostor comparison with exactly one sample in ``g``.
- **Threshold at a target FMR** ``x``: the most accepting score threshold whose overall FMR is at most ``x``
  (the ``fpr=`` threshold rule of :mod:`evalkit.metrics`). It is computed only where the data support it:
  at least ``min_false_matches / x`` impostor comparisons (Doddington's rule of 30 with the default 30),
  so that about that many false matches are counted at it; otherwise the reason is given.
- **EER**: the rate where FMR and FNMR are equal, linearly interpolated between the two points of the
  curve that straddle it (:func:`evalkit.metrics.equal_error_rate`); per group, genuine comparisons of the
  group against same-group impostors.

Inequity of a rate over the groups ``x_1..x_n`` (groups with too few subjects left out):

- ``max_min_ratio``: ``max x / min x`` (infinite when the best group has no errors);
- ``max_geomean_ratio``: ``max x / (x_1 ... x_n)^(1/n)``, NIST's summary of demographic differentials;
- ``gini``: ``n/(n-1) * sum_i sum_j |x_i - x_j| / (2 n^2 mean x)``, 0 when equal, 1 when one group has all;
- the **Fairness Discrepancy Rate** of de Freitas Pereira and Marcel (2021) for FMR and FNMR together:
  ``FDR = 1 - (alpha * max|FMR_i - FMR_j| + (1 - alpha) * max|FNMR_i - FNMR_j|)``, 1 when fair.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..metrics import equal_error_rate
from ._counts import VerificationCounts, _bin


def threshold_at_fmr(impostor_scores: np.ndarray, n_impostor: int, target: float) -> tuple[float, int]:
    """The most accepting threshold whose FMR is at most ``target``, and the false matches at it.

    ``impostor_scores`` must hold every impostor score that could be at or above the threshold (all of them,
    or a tail that contains at least ``floor(target * n_impostor) + 1`` of the highest).

    Examples
    --------
    >>> threshold_at_fmr(np.array([0.9, 0.8, 0.8, 0.1]), 4, 0.75)  # 3 false matches allowed
    (0.8, 3)
    >>> threshold_at_fmr(np.array([0.9, 0.8, 0.8, 0.1]), 4, 0.5)  # 2 allowed: the tie at 0.8 would make 3
    (0.9, 1)
    """
    values, above = _descending(impostor_scores)
    return _threshold_from(values, above, n_impostor, target)


def _descending(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct scores, highest first, and the comparisons at or above each."""
    values, counts = np.unique(scores, return_counts=True)
    return values[::-1], np.cumsum(counts[::-1])


def _threshold_from(values: np.ndarray, above: np.ndarray, n_impostor: int, target: float) -> tuple[float, int]:
    allowed = int(np.floor(target * n_impostor + 1e-9))
    fits = np.nonzero(above <= allowed)[0]
    if fits.size == 0:  # the highest score alone has more ties than allowed: accept nothing
        return float(np.nextafter(values[0], np.inf)), 0
    k = fits[-1]
    return float(values[k]), int(above[k])


def fmr_thresholds(counts: VerificationCounts, targets: Sequence[float], *,
                   min_false_matches: int) -> pd.DataFrame:
    """One row per target FMR: ``threshold``, ``false_matches``, ``fmr`` (achieved), ``supported`` and
    ``reason`` (why not, when not)."""
    n = counts.n_impostor
    rows = []
    ranked = None  # the tail's distinct scores, sorted once for every target
    for target in targets:
        row = {"target": float(target), "threshold": np.nan, "false_matches": np.nan, "fmr": np.nan,
               "supported": False, "reason": ""}
        need = int(np.ceil(min_false_matches / target))
        if n < need:
            row["reason"] = (f"needs {need:,} impostor comparisons ({min_false_matches} expected false matches at "
                             f"FMR {target:g}); the data have {n:,}")
        elif counts.tail_score.size <= int(np.floor(target * n)):
            row["reason"] = (f"the kept tail of {counts.tail_score.size:,} impostor scores is too short for FMR "
                             f"{target:g} (raise tail_fmr)")
        else:
            ranked = _descending(counts.tail_score) if ranked is None else ranked
            tau, fm = _threshold_from(*ranked, n, target)
            row.update(threshold=tau, false_matches=fm, fmr=fm / n, supported=True)
        rows.append(row)
    return pd.DataFrame(rows)


def group_codes(counts: VerificationCounts, feature: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A feature's groups (sorted), each subject's group code and each cell's group code."""
    names = sorted(counts.cells[feature].unique())
    # cell codes per subject are small integers: map cells to groups, then subjects through their cell
    cell_group = pd.Categorical(counts.cells[feature], categories=names).codes.astype(np.int64)
    return names, cell_group[counts.subjects["cell"].to_numpy()], cell_group


def _pair_matrix(counts: VerificationCounts, per_cell_pair: np.ndarray, cell_group: np.ndarray, k: int) -> np.ndarray:
    """Cell-pair totals summed to group pairs; unordered comparisons are folded so that ``M[g, h] = M[h, g]``
    counts every comparison between ``g`` and ``h`` once."""
    m = np.zeros((k, k), dtype=np.float64)
    np.add.at(m, (cell_group[:, None], cell_group[None, :]), per_cell_pair)
    if not counts.ordered:
        m = m + m.T - np.diag(np.diag(m))
    return m


def impostor_pairs(counts: VerificationCounts, feature: str) -> tuple[list[str], np.ndarray]:
    """Impostor comparisons per pair of groups of ``feature``."""
    names, _, cell_group = group_codes(counts, feature)
    return names, _pair_matrix(counts, counts.impostor_hist.sum(axis=2), cell_group, len(names))


def false_match_pairs(counts: VerificationCounts, feature: str, threshold: float) -> np.ndarray:
    """False matches at ``threshold`` per pair of groups of ``feature`` (from the exact tail)."""
    names, subject_group, _ = group_codes(counts, feature)
    hit = counts.tail_score >= threshold
    m = np.zeros((len(names), len(names)), dtype=np.float64)
    np.add.at(m, (subject_group[counts.tail_a[hit]], subject_group[counts.tail_b[hit]]), 1)
    if not counts.ordered:
        m = m + m.T - np.diag(np.diag(m))
    return m


def fmr_matrix(counts: VerificationCounts, feature: str, threshold: float) -> pd.DataFrame:
    """FMR of every pair of groups of ``feature`` at ``threshold`` (rows: probe group; for all unordered
    pairs the matrix is symmetric)."""
    names, n = impostor_pairs(counts, feature)
    fm = false_match_pairs(counts, feature, threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, fm / n, np.nan)
    return pd.DataFrame(rate, index=pd.Index(names, name="probe"), columns=pd.Index(names, name="reference"))


def readings(counts: VerificationCounts, thresholds: pd.DataFrame) -> pd.DataFrame:
    """Per-group FNMR and FMR at every supported threshold.

    Returns
    -------
    DataFrame
        Indexed by ``(target, feature, group)`` (``feature`` ``"overall"``, group ``"all"`` first): ``threshold``,
        ``subjects``, ``genuine``, ``false_non_matches``, ``fnmr``, ``impostor_same``, ``false_matches_same``,
        ``fmr_same``, ``impostor_cross``, ``false_matches_cross``, ``fmr_cross``.
    """
    rows = []
    for t in thresholds[thresholds["supported"]].itertuples():
        tau = t.threshold
        gen_miss = counts.genuine_score < tau
        n_imp, fm = counts.n_impostor, int((counts.tail_score >= tau).sum())
        rows.append({"target": t.target, "feature": "overall", "group": "all", "threshold": tau,
                     "subjects": len(counts.subjects), "genuine": counts.n_genuine,
                     "false_non_matches": int(gen_miss.sum()), "impostor_same": n_imp, "false_matches_same": fm,
                     "impostor_cross": 0, "false_matches_cross": 0})
        for f in counts.features:
            names, subject_group, _ = group_codes(counts, f)
            gen_group = subject_group[counts.genuine_subject]
            miss = np.bincount(gen_group, weights=gen_miss, minlength=len(names))
            gen = np.bincount(gen_group, minlength=len(names))
            _, n = impostor_pairs(counts, f)
            m = false_match_pairs(counts, f, tau)
            subjects = np.bincount(subject_group, minlength=len(names))
            for g, name in enumerate(names):
                cross_n = n[g].sum() + n[:, g].sum() - 2 * n[g, g] if counts.ordered else n[g].sum() - n[g, g]
                cross_m = m[g].sum() + m[:, g].sum() - 2 * m[g, g] if counts.ordered else m[g].sum() - m[g, g]
                rows.append({"target": t.target, "feature": f, "group": name, "threshold": tau,
                             "subjects": int(subjects[g]), "genuine": int(gen[g]), "false_non_matches": int(miss[g]),
                             "impostor_same": int(n[g, g]), "false_matches_same": int(m[g, g]),
                             "impostor_cross": int(cross_n), "false_matches_cross": int(cross_m)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        out["fnmr"] = out["false_non_matches"] / out["genuine"].where(out["genuine"] > 0)
        out["fmr_same"] = out["false_matches_same"] / out["impostor_same"].where(out["impostor_same"] > 0)
        out["fmr_cross"] = out["false_matches_cross"] / out["impostor_cross"].where(out["impostor_cross"] > 0)
    return out.set_index(["target", "feature", "group"])


def eer_from_histograms(genuine: np.ndarray, impostor: np.ndarray) -> float | np.ndarray:
    """EER from counts per score bin (ascending, along the last axis), thresholds at the bin edges, interpolated
    as :func:`evalkit.metrics.equal_error_rate` interpolates between distinct scores.

    Stacks of histograms (``(..., bins)``) give an array of EERs; NaN where either histogram is empty.

    Examples
    --------
    >>> float(eer_from_histograms(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])))  # separated: no error
    0.0
    >>> float(eer_from_histograms(np.array([0, 1, 1]), np.array([1, 1, 0])))  # halfway between two edges
    0.25
    """
    gen, imp = np.asarray(genuine, dtype=float), np.asarray(impostor, dtype=float)
    g, i = gen.sum(-1, keepdims=True), imp.sum(-1, keepdims=True)
    zero = np.zeros(gen.shape[:-1] + (1,))
    with np.errstate(invalid="ignore", divide="ignore"):
        # threshold at edge k accepts bins k..: FNMR = genuine below k, FMR = impostors at or above k; reversed,
        # from "accept nothing" (FMR 0, FNMR 1) to "accept all"
        fnmr = np.flip(np.concatenate([zero, np.cumsum(gen, -1)], -1) / g, -1)
        fmr = np.flip(1 - np.concatenate([zero, np.cumsum(imp, -1)], -1) / i, -1)
    diff = fmr - fnmr
    k = np.argmax(diff >= 0, axis=-1)[..., None]
    before = np.maximum(k - 1, 0)
    d0, d1 = np.take_along_axis(diff, before, -1), np.take_along_axis(diff, k, -1)
    f0, f1 = np.take_along_axis(fmr, before, -1), np.take_along_axis(fmr, k, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(d1 != d0, d0 / np.where(d1 != d0, d0 - d1, 1), 0.0)
    out = np.where(k == 0, f0, f0 + w * (f1 - f0))[..., 0]
    out = np.where((g[..., 0] > 0) & (i[..., 0] > 0), out, np.nan)
    return float(out) if out.ndim == 0 else out


def eer_by_group(counts: VerificationCounts) -> pd.DataFrame:
    """EER overall and per group (genuine comparisons of the group against same-group impostors): exact when
    every impostor score is kept, else from the fine score grid.

    Returns
    -------
    DataFrame
        Indexed by ``(feature, group)``: ``eer``, ``method`` (``exact`` or ``binned``).
    """
    def one(gen_scores: np.ndarray, imp_scores: np.ndarray | None, imp_hist: np.ndarray) -> tuple[float, str]:
        if gen_scores.size == 0 or imp_hist.sum() == 0:
            return np.nan, "undefined"
        if imp_scores is not None:
            y = np.r_[np.ones(gen_scores.size, dtype=np.int8), np.zeros(imp_scores.size, dtype=np.int8)]
            return equal_error_rate(y, np.r_[gen_scores, imp_scores]), "exact"
        gen_hist = np.bincount(_bin(gen_scores, counts.edges), minlength=counts.edges.size - 1)
        return eer_from_histograms(gen_hist, imp_hist), "binned"

    rows = [("overall", "all", *one(counts.genuine_score, counts.tail_score if counts.exact else None,
                                    counts.impostor_hist.sum(axis=(0, 1))))]
    for f in counts.features:
        names, subject_group, cell_group = group_codes(counts, f)
        gen_group = subject_group[counts.genuine_subject]
        for g, name in enumerate(names):
            cells = np.nonzero(cell_group == g)[0]
            hist = counts.impostor_hist[np.ix_(cells, cells)].sum(axis=(0, 1))
            imp = None
            if counts.exact:
                same = (subject_group[counts.tail_a] == g) & (subject_group[counts.tail_b] == g)
                imp = counts.tail_score[same]
            rows.append((f, name, *one(counts.genuine_score[gen_group == g], imp, hist)))
    return pd.DataFrame(rows, columns=["feature", "group", "eer", "method"]).set_index(["feature", "group"])


def det_curves(counts: VerificationCounts, feature: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(FMR, FNMR) at every edge of the fine grid, overall and per group (same-group impostors)."""
    names, subject_group, cell_group = group_codes(counts, feature)
    gen_group = subject_group[counts.genuine_subject]
    gbin = _bin(counts.genuine_score, counts.edges)
    out = {}
    for name, gmask, cells in [("all", np.ones_like(gen_group, dtype=bool), np.arange(len(counts.cells))),
                               *[(n, gen_group == g, np.nonzero(cell_group == g)[0]) for g, n in enumerate(names)]]:
        gen = np.bincount(gbin[gmask], minlength=counts.edges.size - 1)
        imp = counts.impostor_hist[np.ix_(cells, cells)].sum(axis=(0, 1)) if name != "all" else \
            counts.impostor_hist.sum(axis=(0, 1))
        if gen.sum() == 0 or imp.sum() == 0:
            continue
        fnmr = np.concatenate([[0.0], np.cumsum(gen)]) / gen.sum()
        fmr = 1 - np.concatenate([[0.0], np.cumsum(imp)]) / imp.sum()
        out[name] = (fmr, fnmr)
    return out


def inequity(values: pd.Series) -> dict[str, float]:
    """``max_min_ratio``, ``max_geomean_ratio`` and ``gini`` of one rate over groups (see the module docstring).

    Examples
    --------
    >>> d = inequity(pd.Series({"A": 0.01, "B": 0.04}))
    >>> round(d["max_min_ratio"], 6), round(d["max_geomean_ratio"], 6), round(d["gini"], 6)
    (4.0, 2.0, 0.6)
    """
    out = inequity_arrays(values.to_numpy(dtype=float)[None, :])
    return {k: float(out[k][0]) for k in ("max_min_ratio", "max_geomean_ratio", "gini")}


def inequity_arrays(x: np.ndarray) -> dict[str, np.ndarray]:
    """``max_min_ratio``, ``max_geomean_ratio``, ``gini`` and ``spread`` (max - min) over the last axis (the
    groups) of ``x``, e.g. one row per bootstrap replicate; NaN groups are left out, fewer than two give NaN."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row: its results are NaN below
        n = np.sum(~np.isnan(x), axis=-1)
        mx, mn = np.nanmax(x, axis=-1), np.nanmin(x, axis=-1)
        ratio = np.where(mn > 0, mx / mn, np.where(mx > 0, np.inf, np.nan))
        logs = np.where(x > 0, np.log(np.where(x > 0, x, 1)), -np.inf)
        geo = np.exp(np.nansum(np.where(np.isnan(x), 0, logs), axis=-1) / n)
        geo_ratio = np.where(geo > 0, mx / geo, np.where(mx > 0, np.inf, np.nan))
        filled = np.where(np.isnan(x), 0.0, x)
        pair = np.abs(filled[..., :, None] - filled[..., None, :]) * (~np.isnan(x))[..., :, None] * \
            (~np.isnan(x))[..., None, :]
        mean = np.nansum(x, axis=-1) / n
        gini = n / (n - 1) * pair.sum(axis=(-1, -2)) / (2 * n * n * mean)
    enough = n >= 2
    return {"max_min_ratio": np.where(enough, ratio, np.nan), "max_geomean_ratio": np.where(enough, geo_ratio, np.nan),
            "gini": np.where(enough & (mean > 0), gini, np.nan), "spread": np.where(enough, mx - mn, np.nan)}


def fairness_discrepancy_rate(fmr: pd.Series, fnmr: pd.Series, *, alpha: float = 0.5) -> float:
    """``1 - (alpha * max|FMR_i - FMR_j| + (1 - alpha) * max|FNMR_i - FNMR_j|)`` over the groups.

    Examples
    --------
    >>> round(fairness_discrepancy_rate(pd.Series([0.001, 0.003]), pd.Series([0.05, 0.15])), 6)
    0.949
    """
    a = fmr.dropna()
    b = fnmr.dropna()
    if a.size < 2 or b.size < 2:
        return np.nan
    return float(1 - (alpha * (a.max() - a.min()) + (1 - alpha) * (b.max() - b.min())))
