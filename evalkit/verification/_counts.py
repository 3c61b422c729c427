"""The sufficient statistics of a verification evaluation, built without holding every comparison.

A comparison is two samples and a similarity score; it is *genuine* when both samples belong to one subject
and an *impostor* comparison otherwise. Millions of subjects' worth of impostor comparisons never fit in
memory, and they need not: every figure evalkit reports comes from

- the genuine comparisons, kept whole (a few per subject): subject and score;
- a fine histogram of impostor scores per (probe cell, reference cell), where a *cell* is one combination of
  the demographic attributes: curves, DET and EER are drawn from it;
- the *tail* of impostor comparisons, every one whose score is at least ``tail_floor`` (the subjects of both
  samples and the exact score): thresholds at a target FMR and the false matches at them are exact;
- per subject, a coarse histogram of its genuine scores and of the impostor comparisons it takes part in
  (on either side), by the other side's cell: the subject-clustered bootstrap resamples these. The coarse grid is a subset of the fine
  grid's edges placed where the EER can lie: at the genuine scores' quantiles and the impostor scores' upper
  quantiles of levels 1e-4 .. 0.5 (:func:`coarse_grid`), so a replicate's EER is read on bins a few per cent
  of the error rate wide, not on a uniform grid whose bins span it.

:func:`counts_from_comparisons` builds them from a scored comparisons table (exact: the tail is every
impostor); :func:`counts_from_templates` scores templates in blocks of rows (cosine similarity by matrix
products), forming every genuine pair and every impostor pair (or a seeded sample of them) and reducing each
block as it goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Bins of the fine score grid (curves, DET, EER).
FINE_BINS = 1 << 14
#: Bins of the per-subject histograms the bootstrap resamples (at most; see :func:`coarse_grid`).
COARSE_BINS = 32
#: Entries of one block of the similarity matrix (rows × columns).
BLOCK_ENTRIES = 1 << 23


@dataclass
class VerificationCounts:
    """Sufficient statistics of one set of comparisons (see the module docstring).

    Attributes
    ----------
    subjects : DataFrame
        One row per subject, indexed 0..S-1: ``subject`` (its id), ``cell`` (its demographic cell code),
        ``n_samples``, and one column per demographic feature.
    cells : DataFrame
        One row per cell code: the value of every demographic feature.
    genuine_subject, genuine_score : ndarray
        Every genuine comparison: its subject code and score.
    edges : ndarray
        The fine score grid (``FINE_BINS + 1`` edges over ``score_range``).
    impostor_hist : ndarray of int64, shape (C, C, FINE_BINS)
        Impostor comparisons by probe cell, reference cell and score bin.
    coarse_edges : ndarray
        The coarse grid of the per-subject histograms.
    subject_genuine_hist : ndarray of int32, shape (S, COARSE_BINS)
    subject_impostor_hist : ndarray of int32, shape (S, C, COARSE_BINS)
        Impostor comparisons each subject takes part in, on either side (so every comparison is counted twice,
        once for each of its subjects), by the other side's cell and coarse bin.
    tail_a, tail_b, tail_score : ndarray
        Every impostor comparison with ``score >= tail_floor``: subject codes of its two samples and score.
    tail_floor : float
        ``-inf`` when the tail holds every impostor comparison (exact everywhere).
    ordered : bool
        Probe and reference are distinct roles (a comparisons file); False for all unordered pairs.
    complete : bool
        Every pair of samples of different subjects was compared once (the impostor denominators of a subject
        pair are products of sample counts).
    pair_a, pair_b, pair_n : ndarray
        When not ``complete``: impostor comparisons per subject pair.
    similarity : str
    seconds : float
        Time spent scoring and reducing.
    tail_samples, genuine_samples : ndarray of shape (n, 2), optional
        The sample codes (rows of the samples table) of each tail and genuine comparison, to show them.
    """

    subjects: pd.DataFrame
    cells: pd.DataFrame
    genuine_subject: np.ndarray
    genuine_score: np.ndarray
    edges: np.ndarray
    impostor_hist: np.ndarray
    coarse_edges: np.ndarray
    subject_genuine_hist: np.ndarray
    subject_impostor_hist: np.ndarray
    tail_a: np.ndarray
    tail_b: np.ndarray
    tail_score: np.ndarray
    tail_floor: float
    ordered: bool
    complete: bool
    pair_a: np.ndarray | None = None
    pair_b: np.ndarray | None = None
    pair_n: np.ndarray | None = None
    similarity: str = "given"
    seconds: float = 0.0
    tail_samples: np.ndarray | None = None
    genuine_samples: np.ndarray | None = None

    @property
    def features(self) -> list[str]:
        """The demographic features."""
        return list(self.cells.columns)

    @property
    def n_impostor(self) -> int:
        """Impostor comparisons in all."""
        return int(self.impostor_hist.sum())

    @property
    def n_genuine(self) -> int:
        """Genuine comparisons in all."""
        return int(self.genuine_score.size)

    @property
    def exact(self) -> bool:
        """Whether every impostor score is kept (then EER and curves are exact, not binned)."""
        return self.tail_floor == -np.inf


def _bin(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each score on a uniform grid: ``edges[k] <= s < edges[k+1]`` (the last bin closed)."""
    lo, hi, bins = edges[0], edges[-1], edges.size - 1
    t = np.subtract(scores, lo, dtype=np.float64)
    t *= bins / (hi - lo)
    # truncation is the floor for scores at or above lo; below lo both end in bin 0
    idx = t.astype(np.int64)
    return np.clip(idx, 0, bins - 1, out=idx)


def subject_table(samples: pd.DataFrame, *, subject_column: str, features: list[str]) -> tuple[
        pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Subjects (code order = first appearance), their cells, and each sample's subject code."""
    codes, ids = pd.factorize(samples[subject_column], sort=False)
    first = samples.groupby(codes, sort=True).head(1)
    cell_codes, cell_values = pd.MultiIndex.from_frame(first[features].astype(str)).factorize(sort=True)
    cells = pd.DataFrame(list(cell_values), columns=features)
    subjects = pd.DataFrame({"subject": np.asarray(ids, dtype=object), "cell": cell_codes,
                             "n_samples": np.bincount(codes, minlength=len(ids))})
    for f in features:
        subjects[f] = first[f].astype(str).to_numpy()
    return subjects, cells, codes.astype(np.int64)


def coarse_grid(edges: np.ndarray, genuine: np.ndarray, impostor: np.ndarray, bins: int = COARSE_BINS
                ) -> np.ndarray:
    """Indices into the fine grid ``edges`` of the coarse grid's edges (first 0, last ``edges.size - 1``).

    Half the inner edges sit at quantiles of the genuine scores at levels from ``1e-4`` (or one genuine
    comparison) to 0.5, geometrically spaced, the other half at the same upper quantiles of the impostor
    scores (a sample of them will do): wherever the EER of a group lies in that range, it falls between edges
    whose error rates differ by a few tens of per cent, not in one uniform bin that spans it. Coinciding edges
    are merged, so there may be fewer than ``bins`` bins.

    Examples
    --------
    >>> edges = np.linspace(-1, 1, 1025)
    >>> rng = np.random.default_rng(0)
    >>> idx = coarse_grid(edges, rng.normal(0.6, 0.1, 5000), rng.normal(0.0, 0.1, 5000))
    >>> int(idx[0]), int(idx[-1]), len(idx) <= COARSE_BINS + 1
    (0, 1024, True)
    """
    fine = edges.size - 1
    inner = []
    for scores, upper in ((np.asarray(genuine, dtype=float), False), (np.asarray(impostor, dtype=float), True)):
        scores = scores[np.isfinite(scores)]
        if scores.size == 0:
            continue
        levels = np.geomspace(max(1e-4, 1 / scores.size), 0.5, (bins - 1) // 2)
        inner.append(np.quantile(scores, 1 - levels if upper else levels))
    if not inner:
        return np.linspace(0, fine, bins + 1).round().astype(np.int64)
    idx = _bin(np.concatenate(inner), edges)
    return np.unique(np.r_[0, idx, fine]).astype(np.int64)


def _empty(subjects: pd.DataFrame, cells: pd.DataFrame, score_range: tuple[float, float], genuine: np.ndarray,
           impostor: np.ndarray) -> dict:
    s, c = len(subjects), len(cells)
    edges = np.linspace(score_range[0], score_range[1], FINE_BINS + 1)
    coarse = coarse_grid(edges, genuine, impostor)
    bins = coarse.size - 1
    return {"edges": edges, "coarse_edges": edges[coarse],
            "impostor_hist": np.zeros((c, c, FINE_BINS), dtype=np.int64),
            "subject_genuine_hist": np.zeros((s, bins), dtype=np.int32),
            "subject_impostor_hist": np.zeros((s, c, bins), dtype=np.int32),
            # the coarse bin of every fine bin
            "_coarse_of": np.searchsorted(coarse, np.arange(FINE_BINS), side="right") - 1}


def _add_genuine(acc: dict, subject: np.ndarray, score: np.ndarray) -> None:
    """Add genuine comparisons (their subject and score) to the per-subject coarse histograms."""
    hist = acc["subject_genuine_hist"]
    coarse = acc["_coarse_of"][_bin(score, acc["edges"])]
    hist += np.bincount(subject * hist.shape[1] + coarse, minlength=hist.size).reshape(hist.shape).astype(np.int32)


def _add_impostors(acc: dict, subjects: pd.DataFrame, a: np.ndarray, b: np.ndarray, score: np.ndarray) -> None:
    """Add impostor comparisons (probe subject ``a``, reference subject ``b``) to the histograms."""
    cell = subjects["cell"].to_numpy()
    c = acc["impostor_hist"].shape[0]
    fine = _bin(score, acc["edges"])
    key = (cell[a] * c + cell[b]) * FINE_BINS + fine
    acc["impostor_hist"] += np.bincount(key, minlength=c * c * FINE_BINS).reshape(acc["impostor_hist"].shape)
    hist = acc["subject_impostor_hist"]
    coarse = acc["_coarse_of"][fine]
    for one, other in ((a, b), (b, a)):  # each comparison counts for both its subjects
        hist += np.bincount((one * c + cell[other]) * hist.shape[2] + coarse,
                            minlength=hist.size).reshape(hist.shape).astype(np.int32)


def _add_impostor_block(acc: dict, cell: np.ndarray, sa: np.ndarray, sb: np.ndarray, scores: np.ndarray,
                        skip: np.ndarray) -> None:
    """Add a block of the similarity matrix (rows: samples of subjects ``sa``, columns: of ``sb``) to the
    histograms, leaving out the entries marked ``skip`` (genuine pairs, the diagonal and the lower triangle).

    The same as :func:`_add_impostors` on the block's impostor entries, without gathering them first: every key
    is formed on the whole block by broadcasting, and skipped entries go to an extra bin that is dropped."""
    c = acc["impostor_hist"].shape[0]
    fine = _bin(scores, acc["edges"])
    ca, cb = cell[sa], cell[sb]

    def add(name: str, key: np.ndarray) -> None:
        hist = acc[name]
        key[skip] = hist.size
        hist += np.bincount(key.ravel(), minlength=hist.size + 1)[:-1].reshape(hist.shape).astype(hist.dtype)

    add("impostor_hist", (ca[:, None] * c + cb[None, :]) * FINE_BINS + fine)
    coarse = acc["_coarse_of"][fine]
    bins = acc["subject_impostor_hist"].shape[2]
    add("subject_impostor_hist", (sa[:, None] * c + cb[None, :]) * bins + coarse)  # each comparison for both
    add("subject_impostor_hist", (sb[None, :] * c + ca[:, None]) * bins + coarse)  # of its subjects


def _public(acc: dict) -> dict:
    return {k: v for k, v in acc.items() if not k.startswith("_")}


def counts_from_comparisons(samples: pd.DataFrame, probe: np.ndarray, reference: np.ndarray, score: np.ndarray, *,
                            subject_column: str, features: list[str],
                            score_range: tuple[float, float]) -> VerificationCounts:
    """Counts of a scored comparisons table (every comparison in memory: exact).

    Parameters
    ----------
    samples : DataFrame
        One row per sample, in the order the sample codes ``probe`` and ``reference`` index.
    probe, reference : ndarray of int
        Sample codes of each comparison.
    score : ndarray of float
    subject_column, features
        The samples' subject column and demographic columns.
    score_range : (low, high)
        The scores' range (the grid spans it).
    """
    start = time.perf_counter()
    subjects, cells, subject_of = subject_table(samples, subject_column=subject_column, features=features)
    sa, sb = subject_of[probe], subject_of[reference]
    score = np.asarray(score, dtype=np.float64)
    genuine = sa == sb
    gs, gscore = sa[genuine], score[genuine]
    ia, ib, iscore = sa[~genuine], sb[~genuine], score[~genuine]
    acc = _empty(subjects, cells, score_range, gscore, iscore)
    _add_genuine(acc, gs, gscore)
    _add_impostors(acc, subjects, ia, ib, iscore)
    key = ia * len(subjects) + ib
    uniq, n = np.unique(key, return_counts=True)
    return VerificationCounts(
        subjects=subjects, cells=cells, genuine_subject=gs, genuine_score=gscore, tail_a=ia, tail_b=ib,
        tail_score=iscore, tail_floor=-np.inf, ordered=True, complete=False, pair_a=uniq // len(subjects),
        pair_b=uniq % len(subjects), pair_n=n, similarity="given", seconds=time.perf_counter() - start,
        tail_samples=np.stack([probe[~genuine], reference[~genuine]], axis=1),
        genuine_samples=np.stack([probe[genuine], reference[genuine]], axis=1), **_public(acc))


def _impostor_sample(templates: np.ndarray, subject_of: np.ndarray, *, seed: int, pairs: int) -> np.ndarray:
    """Scores of a seeded random sample of impostor pairs (unit-norm templates)."""
    rng = np.random.default_rng(seed)
    n = len(templates)
    i, j = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    keep = subject_of[i] != subject_of[j]
    i, j = i[keep], j[keep]
    return np.einsum("ij,ij->i", templates[i], templates[j]).astype(np.float64)


def _genuine_scores(templates: np.ndarray, subject_of: np.ndarray) -> np.ndarray:
    """Scores of every pair of samples of one subject (unit-norm templates), in no particular order."""
    order = np.argsort(subject_of, kind="stable")
    subj = subject_of[order]
    out = []
    for d in range(1, int(np.bincount(subj).max(initial=1))):
        same = np.nonzero(subj[:-d] == subj[d:])[0]
        if same.size == 0:
            break
        out.append(np.einsum("ij,ij->i", templates[order[same]], templates[order[same + d]]))
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def tail_floor_estimate(templates: np.ndarray, subject_of: np.ndarray, *, fmr: float, seed: int,
                        pairs: int = 400_000) -> float:
    """The score above which a share ``fmr`` of a seeded random sample of impostor pairs lies: where the tail
    kept exactly starts (thresholds at target FMRs below ``fmr`` then fall inside it)."""
    return _tail_floor(_impostor_sample(templates, subject_of, seed=seed, pairs=pairs), fmr)


def _tail_floor(sample: np.ndarray, fmr: float) -> float:
    # a little below the estimate, so that sampling error does not cut a target's false matches off
    return float(np.quantile(sample, 1 - min(1.0, 2 * fmr)))


def counts_from_templates(samples: pd.DataFrame, templates: np.ndarray, *, subject_column: str,
                          features: list[str], tail_fmr: float = 5e-3, seed: int = 0,
                          progress: Callable[[int, int], None] | None = None) -> VerificationCounts:
    """Counts of every pair of samples, scored by cosine similarity in blocks of rows.

    The upper triangle of the similarity matrix is computed block by block (``BLOCK_ENTRIES`` scores at a
    time): each block is reduced to histograms and its tail (scores at least the estimated score at impostor
    FMR ``tail_fmr``) before the next is computed, so memory is bounded by one block and the tail.
    """
    start = time.perf_counter()
    subjects, cells, subject_of = subject_table(samples, subject_column=subject_column, features=features)
    x = np.ascontiguousarray(templates, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1)
    sample = _impostor_sample(x, subject_of, seed=seed, pairs=400_000)
    floor = _tail_floor(sample, tail_fmr)
    acc = _empty(subjects, cells, (-1.0, 1.0), _genuine_scores(x, subject_of), sample)
    n = len(x)
    genuine_s, genuine_v, genuine_ij, tails = [], [], [], []
    rows = max(1, BLOCK_ENTRIES // max(n, 1))
    blocks = list(range(0, n, rows))
    cell = subjects["cell"].to_numpy()
    for done, r0 in enumerate(blocks, 1):
        r1 = min(n, r0 + rows)
        sims = x[r0:r1] @ x[r0:].T  # rows r0..r1 against columns r0..n: the upper triangle lies in it
        sa, sb = subject_of[r0:r1], subject_of[r0:]
        same = sa[:, None] == sb[None, :]
        # the block's square part holds the diagonal and the lower triangle: not compared
        skip = same.copy()
        skip[:, :r1 - r0] |= np.tri(r1 - r0, dtype=bool)
        gi, gj = np.nonzero(same)
        gi, gj = gi[gj > gi], gj[gj > gi]  # each genuine pair once (column after row)
        genuine_s.append(subject_of[r0 + gi])
        genuine_v.append(sims[gi, gj].astype(np.float64))
        genuine_ij.append(np.stack([r0 + gi, r0 + gj], axis=1))
        v = sims.astype(np.float64)
        _add_impostor_block(acc, cell, sa, sb, v, skip)
        ii, jj = np.nonzero(v >= floor)
        keep = ~skip[ii, jj]
        ii, jj = ii[keep], jj[keep]
        tails.append((subject_of[r0 + ii], subject_of[r0 + jj], v[ii, jj], np.stack([r0 + ii, r0 + jj], axis=1)))
        if progress is not None:
            progress(done, len(blocks))
    gs, gscore = np.concatenate(genuine_s), np.concatenate(genuine_v)
    _add_genuine(acc, gs, gscore)
    return VerificationCounts(
        subjects=subjects, cells=cells, genuine_subject=gs, genuine_score=gscore,
        tail_a=np.concatenate([t[0] for t in tails]), tail_b=np.concatenate([t[1] for t in tails]),
        tail_score=np.concatenate([t[2] for t in tails]), tail_floor=floor, ordered=False, complete=True,
        similarity="cosine", seconds=time.perf_counter() - start, tail_samples=np.concatenate([t[3] for t in tails]),
        genuine_samples=np.concatenate(genuine_ij), **_public(acc))
