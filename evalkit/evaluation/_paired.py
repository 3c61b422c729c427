"""Paired statistics of several score columns out of core: a second pass over the data that reduces every chunk to
joint counts and to DeLong's placement sums.

The first pass (:func:`evalkit.evaluation.reduce_columns`) gives every model's histogram per cell; from them follow
each model's threshold and, per group and fine bin, DeLong's *placement values* (the share of the group's
negatives below a positive's score, ties counting one half, and the share of its positives above a negative's).
The second pass (:func:`reduce_paired`) reads the same rows again and adds up, per cell,

- ``joint``: the samples per label and every model's decision (for McNemar's test, the decision flips and the
  paired bootstrap of count metrics, exactly as :class:`evalkit.stats.JointCells` holds them in memory);
- per grouping and group, per label: the sums of every model's centred placement value and of the products of
  every two models' (DeLong's covariance matrices, without keeping a value per sample).

Scores are taken on the fine grid (tied within a bin), as the out-of-core reports take them: on scores already on
the grid the results equal the in-memory tests exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DataError
from ._scale import ScaleSpec, ScaleTables, read_chunk


@dataclass(frozen=True)
class PairedTables:
    """What the second pass needs (small enough to send to Dask workers once).

    Attributes
    ----------
    spec : ScaleSpec
        Reads every score column (``score_column`` and ``extra_columns``).
    cells : dict
        Each cell (its sensitive values) and its index in the sorted cells.
    groupings : list of ndarray
        Per grouping (overall first, then :attr:`ScaleTables.groupings` in order): the group code of every cell.
    threshold_bins : tuple of int
        Per model: the first fine bin at or above its threshold (its decisions are ``bin >= threshold_bin``).
    placements : list of list of ndarray
        Per grouping, per model: ``(groups, bins, 2)`` placement values minus the group's AUC, for a negative
        (``[..., 0]``) and for a positive (``[..., 1]``) in each fine bin.
    """

    spec: ScaleSpec
    cells: dict[tuple[str, ...], int]
    groupings: list[np.ndarray]
    threshold_bins: tuple[int, ...]
    placements: list[list[np.ndarray]]

    @property
    def models(self) -> int:
        return len(self.threshold_bins)


def placement_values(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placement values per group and fine bin, and each group's AUC, from ``(groups, bins, 2)`` counts.

    Returns
    -------
    placements : ndarray, shape (groups, bins, 2)
        ``[..., 1]``: a positive's share of the group's negatives below its bin plus half those in it;
        ``[..., 0]``: a negative's share of the positives above its bin plus half those in it; both minus the
        AUC (0 where the group lacks a class).
    auc : ndarray, shape (groups,)
        The mean of the positives' placement values (ties one half; NaN without both classes).
    """
    neg, pos = counts[..., 0].astype(np.float64), counts[..., 1].astype(np.float64)
    n0, n1 = neg.sum(axis=1, keepdims=True), pos.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        v10 = (np.cumsum(neg, axis=1) - 0.5 * neg) / n0
        v01 = (n1 - np.cumsum(pos, axis=1) + 0.5 * pos) / n1
        auc = (pos * v10).sum(axis=1) / n1[:, 0]
    out = np.stack([v01, v10], axis=-1) - auc[:, None, None]
    return np.where(np.isfinite(out), out, 0.0), np.where((n0[:, 0] > 0) & (n1[:, 0] > 0), auc, np.nan)


def paired_tables(spec: ScaleSpec, tables: list[ScaleTables], thresholds: list[float]
                  ) -> tuple[PairedTables, list[list[np.ndarray]]]:
    """The second pass's tables from every model's first-pass :class:`ScaleTables` (the same cells), and per
    grouping (overall first) and model, each group's AUC on the grid."""
    first = tables[0]
    names = list(first.groupings)
    codes = [np.zeros(len(first.cells), dtype=np.int64)] + [first.groupings[g][0].astype(np.int64) for g in names]
    sizes = [1] + [len(first.groupings[g][1]) for g in names]
    placements: list[list[np.ndarray]] = []
    aucs: list[list[np.ndarray]] = []
    for code, size in zip(codes, sizes, strict=True):
        onehot = np.zeros((size, len(first.cells)))
        onehot[code, np.arange(len(first.cells))] = 1.0
        per_model = [placement_values(np.einsum("gc,cbl->gbl", onehot, t.histogram.counts)) for t in tables]
        placements.append([p for p, _ in per_model])
        aucs.append([a for _, a in per_model])
    bins = tuple(int(np.searchsorted(spec.edges, t, side="left")) for t in thresholds)
    return PairedTables(spec, {c: i for i, c in enumerate(first.cells)}, codes, bins, placements), aucs


@dataclass
class PairedCounts:
    """The second pass's sums over some rows.

    Attributes
    ----------
    rows : int
    negatives : dict
        As :class:`evalkit.evaluation.Partial`'s (the label check runs again on the merged result).
    joint : ndarray, shape (cells, 2, 2**models)
        Samples per cell, label and decisions: model ``k``'s decision is bit ``models - 1 - k`` of the last index
        (so that the order of the last index is the lexicographic order of the decisions, baseline first).
    sums : list of ndarray
        Per grouping: ``(models, groups, 2)`` sums of centred placement values per label.
    products : list of ndarray
        Per grouping: ``(models, models, groups, 2)`` sums of products of two models' centred placement values.
    """

    rows: int = 0
    negatives: dict[str, int] = field(default_factory=dict)
    joint: np.ndarray | None = None
    sums: list[np.ndarray] = field(default_factory=list)
    products: list[np.ndarray] = field(default_factory=list)

    def merge(self, other: PairedCounts) -> PairedCounts:
        """Add ``other`` into this one (in place) and return it."""
        self.rows += other.rows
        for value, row in other.negatives.items():
            self.negatives[value] = min(row, self.negatives.get(value, row))
        if self.joint is None:
            self.joint, self.sums, self.products = other.joint, other.sums, other.products
        elif other.joint is not None:
            self.joint = self.joint + other.joint
            self.sums = [a + b for a, b in zip(self.sums, other.sums, strict=True)]
            self.products = [a + b for a, b in zip(self.products, other.products, strict=True)]
        return self


def reduce_paired(frame: pd.DataFrame, first_row: int, paired: PairedTables) -> PairedCounts:
    """One chunk's joint counts and placement sums (see the module docstring)."""
    spec = paired.spec
    chunk = read_chunk(frame, spec, first_row)
    try:
        to_global = np.array([paired.cells[name] for name in chunk.names], dtype=np.int64)
    except KeyError as err:  # the file changed between the passes (its sha256 was checked before the first)
        raise DataError(Path(spec.path), f"changed while it was read: the group values {err.args[0]} appeared in "
                                         "the second pass only") from err
    cell = to_global[chunk.cell]
    m, k, y = paired.models, spec.edges.size, chunk.y
    decisions = np.zeros(y.size, dtype=np.int64)
    for j, (bins, threshold_bin) in enumerate(zip(chunk.bins, paired.threshold_bins, strict=True)):
        decisions |= (bins >= threshold_bin).astype(np.int64) << (m - 1 - j)
    n_cells = len(paired.cells)
    joint = np.bincount((cell * 2 + y) * (1 << m) + decisions, minlength=n_cells * 2 * (1 << m)
                        ).reshape(n_cells, 2, 1 << m)
    sums, products = [], []
    for codes, tables in zip(paired.groupings, paired.placements, strict=True):
        size = tables[0].shape[0]
        group = codes[cell]
        slot = group * 2 + y
        values = [t.reshape(-1)[(group * k + b) * 2 + y] for t, b in zip(tables, chunk.bins, strict=True)]
        s = np.stack([np.bincount(slot, weights=v, minlength=2 * size) for v in values]).reshape(m, size, 2)
        p = np.zeros((m, m, size, 2))
        for a in range(m):
            for b in range(a, m):
                p[a, b] = p[b, a] = np.bincount(slot, weights=values[a] * values[b], minlength=2 * size
                                                ).reshape(size, 2)
        sums.append(s)
        products.append(p)
    return PairedCounts(rows=len(frame), negatives=chunk.negatives, joint=joint, sums=sums, products=products)
