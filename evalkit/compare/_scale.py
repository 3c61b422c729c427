"""Comparing models on one data file without reports: :func:`compare_columns`.

Production data often arrive batch-scored, one score column per model. ``make compare MODELS="column:a column:b"
DATA=<manifest>`` compares those columns directly:

- in memory (the default engine) each model (a column, or any model ``make report`` takes) is evaluated
  with :func:`evalkit.evaluate` and the evaluations are compared by :func:`evalkit.compare.compare`;
- out of core (``ENGINE=stream|dask``) only score columns are compared, in two passes over the file. The first
  reduces every chunk to each column's histogram per cell (every report figure of each model, its threshold and
  its leaderboard row, as an out-of-core report computes them); the second to joint counts per cell, label and
  every model's decision, and to DeLong's placement sums per group (:mod:`evalkit.evaluation`'s
  :class:`~evalkit.evaluation.PairedTables`). From these follow the same tests as in memory: McNemar's exact test,
  the decision flip rate, DeLong's test of ROC AUC and the paired Poisson bootstrap of every count metric
  (drawn per cell, in the order the in-memory comparison draws them, so the same seed gives the same intervals).

Scores are taken on the fine grid of the out-of-core engines (16,384 bins; tied within a bin): on scores on that
grid both paths give the same numbers; otherwise the AUCs and DeLong's test are those of the scores rounded down to
the grid (the AUC's largest error is reported as each candidate's ``auc_binning_bound``). Samples are unweighted
out of core: balancing by weights is refused (a weighted AUC difference needs the per-sample paired bootstrap).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..evaluation import (
    Accumulated,
    accumulate,
    evaluate,
    evaluation_from_counts,
    paired_tables,
    print_progress,
    reduce_columns,
    reduce_paired,
    scale_inputs,
    spec_for,
)
from ..exceptions import ModelError
from ..models import resolve_model
from ..settings import CompareSettings, EvaluationSettings
from ..stats import COUNT_METRICS, delong_from_variances
from ._stats import (
    COMPARE_METRICS,
    Candidate,
    Comparison,
    _cell_replicates,
    _Cells,
    _deltas,
    _Groups,
    _row,
    _settings,
    check_compare_settings,
    compare,
    leaderboard,
)


def compare_columns(
    models: Sequence[str],
    data: str | Path,
    *,
    settings: EvaluationSettings | None = None,
    compare_settings: CompareSettings | Mapping[str, Any] | None = None,
    metrics: Sequence[str] = COMPARE_METRICS,
    intersections: bool = True,
    progress: bool = False,
    **overrides: Any,
) -> Comparison:
    """Compare models on the data of one manifest (see the module docstring).

    Parameters
    ----------
    models : sequence of str
        Two or more ``column:<name>`` (score columns of the data file); in memory also any ``MODEL`` value.
    data : path-like
        A dataset manifest.
    settings : EvaluationSettings, optional
        How each model is evaluated: the engine (in memory by default, or ``stream``, ``dask``), threshold and rule
        (applied to each model), score range, chunk size. Its statistics (``n_boot``, ``ci_level``, ``seed``,
        ``fdr``, ``min_group_size``) are the comparison's: leave them at their defaults.
    compare_settings : CompareSettings or dict, optional
        How the models are compared (:class:`evalkit.settings.CompareSettings`; ``baseline`` is a candidate's
        name: the column's). The models are evaluated with its statistics too.
    metrics, intersections, progress
        As for :func:`evalkit.compare.compare`.
    **overrides
        Any :class:`~evalkit.settings.CompareSettings` field as a keyword.

    Returns
    -------
    Comparison
        Out of core with ``scale`` and ``histograms`` set and no per-sample ``samples``.

    Raises
    ------
    ValueError
        Bad settings (statistics set in ``settings``), or balancing out of core.
    ModelError
        A model that is not a score column, out of core.
    DataError
        A bad manifest, file, label, group or score (naming the row).
    """
    cs = CompareSettings.build(compare_settings, **overrides)
    st = evaluation_settings(settings, cs)
    check_columns(models, data, st, cs, metrics=metrics)
    if not st.out_of_core:
        evaluations = [evaluate(m, data, settings=st) for m in models]
        candidates = [Candidate.from_evaluation(ev) for ev in evaluations]
        return compare(candidates, cs, metrics=metrics, intersections=intersections, progress=progress)
    refs = [resolve_model(m) for m in models]
    names = [ref.name for ref in refs]
    first = names.index(cs.baseline) if cs.baseline is not None else 0
    refs = [refs[first], *refs[:first], *refs[first + 1:]]
    manifest, config = scale_inputs(data, st)
    spec = dataclasses.replace(
        spec_for(refs[0], manifest, threshold=st.threshold, score_range=st.score_range),
        extra_columns=tuple(str(r.path) for r in refs[1:]))
    start = time.monotonic()
    first_pass = accumulate(spec, engine=st.engine, scheduler=st.scheduler, chunk_rows=st.chunk_rows,
                            progress=partial(print_progress, prefix="pass 1/2: ") if progress else None,
                            reducer=partial(reduce_columns, spec=spec))
    evaluations = []
    for k, ref in enumerate(refs):
        one = Accumulated(first_pass.partial.parts[k], first_pass.engine, first_pass.tasks, first_pass.workers,
                          first_pass.seconds, first_pass.scheduler)
        evaluations.append(evaluation_from_counts(
            ref, manifest, dataclasses.replace(spec, score_column=str(ref.path), extra_columns=()), one, settings=st,
            config=config))
    tables, aucs = paired_tables(spec, [ev.tables for ev in evaluations], [ev.threshold for ev in evaluations])
    second = accumulate(spec, engine=st.engine, scheduler=st.scheduler, chunk_rows=st.chunk_rows,
                        progress=partial(print_progress, prefix="pass 2/2: ") if progress else None,
                        reducer=partial(reduce_paired, paired=tables))
    counts = second.partial
    candidates = [Candidate(name=ref.name, metrics=ev.to_dict(), scores=pd.DataFrame(), run_id=None)
                  for ref, ev in zip(refs, evaluations, strict=True)]
    groups, members = _group_columns(evaluations[0].tables, tables.groupings, counts.joint)
    tests = _tests(candidates, groups, members, tables.groupings, counts, aucs, st.ci_level)
    counted = [m for m in metrics if m in COUNT_METRICS]
    point: dict[str, dict[str, np.ndarray]] = {c.name: {} for c in candidates}
    reps: dict[str, dict[str, np.ndarray]] = {c.name: {} for c in candidates}
    if counted:
        cells, member = _cells(candidates, counts.joint, tables.groupings, members)
        point, reps = _cell_replicates(cells, member, counted, cs.n_boot, cs.seed, progress)
    ordered = [c.name for c in candidates]
    deltas = _deltas(ordered, ordered[0], metrics, counted, point, reps, tests, groups, cs, weighted=False)
    scale = {"engine": first_pass.engine, "rows": int(counts.rows), "passes": 2, "chunks": first_pass.tasks,
             "workers": first_pass.workers, "scheduler": first_pass.scheduler,
             "seconds": round(time.monotonic() - start, 3), "fine_bins": int(spec.edges.size),
             "score_columns": list(spec.score_columns), "threshold_rule": st.threshold_rule,
             "auc_binning_bound": {c.name: ev.scale["auc_binning_bound"]
                                   for c, ev in zip(candidates, evaluations, strict=True)}}
    histograms = {"edges": spec.edges, "counts": {c.name: ev.tables.histogram.counts.sum(axis=0)
                                                  for c, ev in zip(candidates, evaluations, strict=True)}}
    return Comparison(candidates=candidates, baseline=ordered[0], samples=pd.DataFrame(), same_data=True,
                      leaderboard=leaderboard(candidates, rank_by=cs.rank_by), deltas=deltas, tests=tests,
                      settings=_settings(metrics, False, cs, intersections),
                      scale=scale, histograms=histograms)


def evaluation_settings(settings: EvaluationSettings | None, compare_settings: CompareSettings
                        ) -> EvaluationSettings:
    """How each model of a comparison on data is evaluated: ``settings`` with the comparison's statistics (so that
    the leaderboard's intervals and the comparison's agree).

    Raises
    ------
    ValueError
        If ``settings`` sets a statistic to another value than the comparison's (it would be silently replaced),
        naming it.
    """
    st = settings if settings is not None else EvaluationSettings()
    default, wanted = EvaluationSettings(), compare_settings.statistics()
    conflicts = [name for name in CompareSettings.STATISTICS
                 if getattr(st, name) not in (getattr(default, name), wanted[name])]
    if conflicts:
        name = conflicts[0]
        raise ValueError(f"settings.{name}={getattr(st, name)!r}: a comparison's statistics are its "
                         f"CompareSettings' ({name}={wanted[name]!r}; set compare_settings instead), and the models "
                         "are evaluated with them")
    return st.replace(**wanted)


def check_columns(models: Sequence[str], data: str | Path, settings: EvaluationSettings,
                  compare_settings: CompareSettings, *, metrics: Sequence[str] = COMPARE_METRICS
                  ) -> tuple[list[str], Any]:
    """Check :func:`compare_columns`' models, data and settings before anything is read (what ``make compare
    DATA=...`` checks before its run starts); return the candidates' names and the data's manifest.

    Raises
    ------
    ValueError, ModelError, DataError
        Naming the model, setting or file and what was expected.
    """
    from ..data import load_manifest

    if isinstance(models, str) or not all(isinstance(m, str) and m for m in models):
        raise ValueError(f"models must be a list of model specs (column:<name> out of core), got {models!r}")
    st = settings
    manifest = load_manifest(data)
    if st.out_of_core:
        if st.balance != "none":
            raise ValueError(f"balance={st.balance!r}: the out-of-core comparison compares unweighted samples (a "
                             "weighted AUC difference needs the per-sample paired bootstrap, in memory); compare in "
                             "memory (no ENGINE) or without balancing")
        for spec in models:
            if not spec.startswith("column:"):
                raise ModelError(spec, "the out-of-core comparison reads score columns of the data file: score the "
                                       "data once (batch scoring) and pass column:<name> for each model, or compare "
                                       "in memory (no ENGINE)")
        columns = [c.name for c in manifest.schema] or _file_columns(manifest.data_path, manifest.format)
        missing = [m for m in models if m[len("column:"):] not in columns]
        if missing:
            raise ModelError(missing[0], f"no such column in {manifest.data_path.name}; its columns are {columns}")
    names = [resolve_model(m).name for m in models]
    check_compare_settings(names, compare_settings, metrics=metrics)
    return names, manifest


def _file_columns(path: Path, fmt: str) -> list[str]:
    """The column names of a Parquet file (its footer) or a CSV file (its header line), without reading rows."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    import pyarrow.csv as pacsv

    with pacsv.open_csv(path) as reader:
        return list(reader.schema.names)


def _group_columns(t: Any, codes: list[np.ndarray], joint: np.ndarray) -> tuple[_Groups, list[tuple[int, int]]]:
    """The group columns (overall first, then every grouping's groups in order, as :class:`_Groups` lists them in
    memory) and, for each, its grouping (an index into ``codes``) and group code."""
    per_cell = joint.sum(axis=(1, 2))
    keys, columns, sizes, members = [("overall", "all")], [(None, 0)], [int(per_cell.sum())], [(0, 0)]
    for g, (feature, (_, names)) in enumerate(t.groupings.items(), start=1):
        n = np.bincount(codes[g], weights=per_cell, minlength=len(names))
        for j, name in enumerate(names):
            keys.append((feature, name))
            columns.append((feature, j))
            sizes.append(int(n[j]))
            members.append((g, j))
    index = pd.MultiIndex.from_tuples(keys, names=["feature", "group"])
    return _Groups(codes={}, index=index, columns=columns, counts=np.array(sizes)), members


def _tests(candidates: Sequence[Candidate], groups: _Groups, members: list[tuple[int, int]], codes: list[np.ndarray],
           counts: Any, aucs: list[list[np.ndarray]], level: float) -> pd.DataFrame:
    """McNemar, DeLong and the flip rate of every challenger against the baseline (candidate 0), per group column,
    from the joint counts and the placement sums (``codes``: each grouping's group code of every cell)."""
    joint, m = counts.joint, len(candidates)
    decisions = np.arange(1 << m)
    base = (decisions >> (m - 1)) & 1
    rows = []
    for k in range(1, m):
        cand = (decisions >> (m - 1 - k)) & 1
        for col, (g, j) in enumerate(members):
            agg = joint[codes[g] == j].sum(axis=0)  # (2, 2**m); overall: every cell has code 0
            eight = np.zeros(8, dtype=np.int64)
            np.add.at(eight, (np.arange(2)[:, None] << 2) | (cand[None, :] << 1) | base[None, :], agg)
            rows.append(_row(candidates[k].name, groups, col, eight, level,
                             _delong(counts, g, j, k, aucs, int(eight[4:].sum()), int(eight[:4].sum()), level)))
    return pd.DataFrame(rows)


def _delong(counts: Any, g: int, j: int, k: int, aucs: list[list[np.ndarray]], n_pos: int, n_neg: int,
            level: float) -> dict[str, float]:
    """DeLong's test of candidate ``k`` against the baseline in group ``j`` of grouping ``g``: the sample variance of
    the two models' placement differences, per label, from the sums of the centred placement values and of their
    products."""
    sums, products = counts.sums[g], counts.products[g]

    def variance(label: int, n: int) -> float:
        if n < 2:
            return 0.0
        squares = products[k, k, j, label] + products[0, 0, j, label] - 2 * products[k, 0, j, label]
        total = sums[k, j, label] - sums[0, j, label]
        return float((squares - total * total / n) / (n - 1))

    return delong_from_variances(float(aucs[g][k][j]), float(aucs[g][0][j]), variance(1, n_pos), variance(0, n_neg),
                                 n_pos, n_neg, level=level)


def _cells(candidates: Sequence[Candidate], joint: np.ndarray, codes: list[np.ndarray],
           members: list[tuple[int, int]]) -> tuple[_Cells, np.ndarray]:
    """The joint counts as the in-memory comparison's cells (non-empty combinations of the sensitive values, label
    and every model's decision, in the same order) and their group columns' 0/1 matrix."""
    m = len(candidates)
    cell, label, decision = np.nonzero(joint)  # C order: cell, then label, then decisions (baseline's bit highest)
    preds = {c.name: ((decision >> (m - 1 - k)) & 1).astype(bool) for k, c in enumerate(candidates)}
    member = np.zeros((cell.size, len(members)))
    for col, (g, j) in enumerate(members):
        member[:, col] = codes[g][cell] == j
    return _Cells(rows=None, counts=joint[cell, label, decision].astype(np.float64), y=label.astype(bool),
                  preds=preds, weight=np.ones(cell.size)), member
