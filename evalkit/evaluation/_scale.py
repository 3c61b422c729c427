"""Evaluation sets larger than memory: sufficient statistics per chunk, merged.

Every built-in metric of every group follows from a histogram of counts per *cell* (one combination of
the sensitive features' values), score bin and label (see :mod:`evalkit.bootstrap`). This module builds
that histogram without ever holding the data: a Parquet file is read a few row groups at a time and a CSV
file a block of lines at a time (pyarrow), each chunk is reduced to its counts, and the counts are added.
Memory is bounded by the chunk size and the histogram (cells × bins), whatever the number of rows; the
data file's sha256 is checked in a streamed pass first.

Two engines produce the same histogram, because integer counts add up the same in any order:

- ``"stream"``: the chunks one after the other, in this process;
- ``"dask"``: one task per chunk range on a ``dask.distributed`` cluster (the scheduler at ``scheduler=``,
  or a ``LocalCluster`` on 127.0.0.1 started for the run and stopped after it); workers read the file
  themselves, so it must be at the same path for them.

**Scores** come from a column of the data file (``score_column``; how batch-scored production data
usually arrive) or from a scikit-learn model scored chunk by chunk (a ``.skops`` file or a registered
model; loaded once per process). Scores must lie in ``score_range`` (default ``[0, 1]``).

**Exactness.** The histogram has a fixed grid of ``fine_bins`` equal bins over the score range, with the
threshold as an edge: counts at the threshold (accuracy, recall, precision, FPR, F1, selection rate ...)
are exact. Threshold-free metrics (ROC AUC, average precision, EER, FNMR at FMR) treat scores within one
fine bin as tied; the AUC's largest possible error from that is computed and reported
(``auc_binning_bound``, typically below 1e-4 with 16,384 bins). Confidence intervals come from the Poisson
bootstrap on a coarser histogram (≤ 256 quantile bins merged from the fine ones), shifted onto the fine
estimates, as :mod:`evalkit.bootstrap` does in memory.

**Rules, weights and costs.** A threshold rule other than ``fixed`` is applied to the merged counts with the
non-empty bins' lower edges as candidates (:func:`evalkit.metrics.choose_threshold_binned`), so the chosen
threshold is an edge and the counts at it stay exact. Balancing by weights gives each cell the weight each of its
samples would get in memory; cost metrics of a metrics configuration come from the counts at the threshold.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..stats import Histogram, bootstrap_histogram, combine_codes, group_onehots, histogram_metrics
from ..exceptions import DataError
from ..metrics import DISPARITY_METRICS, disparities, reference_disparities, small_groups
from ..data import INTERSECTION_SEP
from ..data import Dataset, Manifest, balance_groups, balancing_weights, check_label_values, load_manifest
from .._io import sha256_file
from ..metrics import OperatingPoint, check_reference, choose_threshold_binned, group_thresholds_binned
from ..settings import CHUNK_ROWS, SCALE_ENGINES, EvaluationSettings, ScaleEngine
from ..stats import uncertainty_from_replicates
from ._result import Evaluation, costs, target_fpr_for
from ..metrics import LOWER_IS_BETTER, METRIC_NAMES, MetricsConfig, load_metrics_config

#: Bins of the fine score grid (point estimates).
FINE_BINS = 1 << 14
#: Most bins of the coarse histogram the bootstrap resamples.
COARSE_BINS = 256


@dataclass(frozen=True)
class ScaleSpec:
    """What reading and reducing a chunk needs (small and picklable: sent to Dask workers).

    Attributes
    ----------
    path : str
        The data file (Parquet or CSV, optionally ``.gz``).
    format : str
    label_column, positive_label : str
    label_values : tuple of str or None
        Allowed labels (any other is an error).
    negative_labels : tuple of str or None
        The labels counted as negative (any other than these and the positive one is an error; without
        either list, a second non-positive value is, see :func:`evalkit.data.check_label_values`).
    sensitive : tuple of str
    id_column : str
    score_column : str or None
        Scores read from the data; else ``model_path`` is scored.
    model_path : str or None
        A ``.skops`` file scored chunk by chunk.
    feature_columns : tuple of str or None
        The model's input columns (default: every column but id, label and score).
    trusted_types : tuple of str
    edges : ndarray
        Lower edges of the fine bins (the threshold is one of them).
    threshold : float
    score_range : (float, float)
    """

    path: str
    format: str
    label_column: str
    positive_label: str
    label_values: tuple[str, ...] | None
    sensitive: tuple[str, ...]
    id_column: str
    score_column: str | None
    model_path: str | None
    feature_columns: tuple[str, ...] | None
    trusted_types: tuple[str, ...]
    edges: np.ndarray
    threshold: float
    score_range: tuple[float, float]
    negative_labels: tuple[str, ...] | None = None
    #: More score columns read with ``score_column`` (several models compared in one pass).
    extra_columns: tuple[str, ...] = ()

    @property
    def data_path(self) -> Path:
        return Path(self.path)

    @property
    def score_columns(self) -> tuple[str, ...]:
        """Every score column read: ``score_column`` then ``extra_columns``."""
        return (self.score_column, *self.extra_columns) if self.score_column is not None else ()

    def columns(self) -> list[str] | None:
        """The columns to read (None: all, when a model needs its features)."""
        if self.score_column is not None:  # ids are not needed: errors name the row
            return list(dict.fromkeys([self.label_column, *self.sensitive, *self.score_columns]))
        if self.feature_columns is not None:
            return list(dict.fromkeys([self.label_column, *self.sensitive, *self.feature_columns]))
        return None


@dataclass
class Partial:
    """Counts of some rows: per cell (a tuple of group values), ``(bins, 2)`` int64 counts of negatives and
    positives per fine bin."""

    rows: int = 0
    cells: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)
    #: Each label value other than the positive one, with the first row it was seen at.
    negatives: dict[str, int] = field(default_factory=dict)

    def merge(self, other: Partial) -> Partial:
        """Add ``other``'s counts into this one (in place) and return it."""
        self.rows += other.rows
        for value, row in other.negatives.items():
            self.negatives[value] = min(row, self.negatives.get(value, row))
        for key, counts in other.cells.items():
            mine = self.cells.get(key)
            self.cells[key] = counts.copy() if mine is None else mine + counts
        return self


@dataclass(frozen=True)
class Task:
    """A range of the data file: Parquet row groups, CSV bytes ``[start, end)``, or the whole file read as a
    stream (compressed CSV cannot be split; a CSV with quotes is not split either: a quoted field may hold a line
    break)."""

    kind: Literal["row_groups", "bytes", "stream"]
    row_groups: tuple[int, ...] = ()
    start: int = 0
    end: int = 0
    first_row: int = 0


def fine_edges(threshold: float, score_range: tuple[float, float], bins: int = FINE_BINS) -> np.ndarray:
    """``bins`` equal bins over ``score_range``, the threshold added as an edge (lower edges, ascending)."""
    low, high = score_range
    edges = np.linspace(low, high, bins + 1)[:-1]
    return np.unique(np.r_[edges, threshold][np.r_[edges, threshold] <= high])


def bin_index(score: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The fine bin of every score: ``searchsorted(edges, score, "right") - 1``, clipped to the bins, computed
    from the grid's step with an exact correction (a binary search over 16,384 edges costs 5x more)."""
    low = edges[0]
    step = (edges[-1] - low) / max(edges.size - 1, 1) if edges.size > 1 else 1.0
    guess = np.clip(((score - low) / step).astype(np.int64) if step > 0 else np.zeros(score.size, np.int64),
                    0, edges.size - 1)
    # the grid has one extra edge (the threshold) and rounding: step to the right bin, at most a few moves
    for _ in range(4):
        down = (guess > 0) & (score < edges[guess])
        up = (guess < edges.size - 1) & (score >= edges[np.minimum(guess + 1, edges.size - 1)])
        if not (down.any() or up.any()):
            break
        guess = guess - down + up
    else:
        guess = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, edges.size - 1)
    return guess


def plan_tasks(spec: ScaleSpec, chunk_rows: int = CHUNK_ROWS) -> list[Task]:
    """Split the data file into tasks of about ``chunk_rows`` rows (whole Parquet row groups; CSV lines, or one
    stream for a compressed CSV or one holding a double quote)."""
    path = Path(spec.path)
    if spec.format == "parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        tasks, current, rows, first = [], [], 0, 0
        for i in range(meta.num_row_groups):
            current.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= chunk_rows:
                tasks.append(Task("row_groups", tuple(current), first_row=first))
                first, current, rows = first + rows, [], 0
        if current:
            tasks.append(Task("row_groups", tuple(current), first_row=first))
        return tasks
    if path.name.endswith(".gz") or _has_quotes(path):
        # A quoted field may hold a line break, which splitting by bytes would cut into two broken rows:
        # such files are read as one stream by a parser that knows quotes (slower, never wrong).
        return [Task("stream")]
    size = path.stat().st_size
    with open(path, "rb") as fh:
        header_end = len(fh.readline())
    block = max(1 << 16, chunk_rows * 64)  # ~64 bytes a row: a first guess, refined by the line ends
    starts = list(range(header_end, size, block))
    return [Task("bytes", start=s, end=min(s + block, size)) for s in starts] or [Task("bytes", header_end, header_end)]


def _has_quotes(path: Path) -> bool:
    """Whether a CSV file holds a double quote anywhere (a scan at memory speed; an empty file has none)."""
    import mmap

    if path.stat().st_size == 0:
        return False
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return mm.find(b'"') >= 0


def _header(path: Path) -> list[str]:
    import pyarrow.csv as pacsv

    with pacsv.open_csv(path) as reader:
        return reader.schema.names


def read_task(spec: ScaleSpec, task: Task, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of one task as DataFrames of at most ``chunk_rows`` rows (labels, ids and groups as read)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(spec.path)
    if task.kind == "row_groups":
        pf = pq.ParquetFile(path)
        columns = spec.columns()
        for batch in pf.iter_batches(batch_size=chunk_rows, row_groups=list(task.row_groups), columns=columns):
            yield batch.to_pandas()
        return
    names = _header(path)
    columns = spec.columns()
    text_columns = {c: pa.string() for c in (spec.id_column, spec.label_column, *spec.sensitive)}
    # As the in-memory loader reads CSV: only an empty field is missing ("NA", "None" are values).
    convert = pacsv.ConvertOptions(column_types=text_columns, include_columns=columns, null_values=[""],
                                   strings_can_be_null=True, quoted_strings_can_be_null=True)
    if task.kind == "stream":
        with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=chunk_rows * 64),
                            parse_options=pacsv.ParseOptions(newlines_in_values=True),
                            convert_options=convert) as reader:
            for batch in reader:
                yield batch.to_pandas()
        return
    data = _line_range(path, task.start, task.end)
    if not data:
        return
    table = pacsv.read_csv(pa.BufferReader(data), read_options=pacsv.ReadOptions(column_names=names),
                           convert_options=convert)
    for batch in table.to_batches(max_chunksize=chunk_rows):
        yield batch.to_pandas()


def _line_range(path: Path, start: int, end: int) -> bytes:
    """The whole lines that begin in ``[start, end)``: a task owns the line its range starts in only if the
    range starts at a line start; the line its range ends in is finished."""
    with open(path, "rb") as fh:
        begin = _line_start(fh, start)
        if begin >= end:
            return b""
        data = fh.read(end - begin)
        if not data.endswith(b"\n"):
            data += fh.readline()
    return data


@lru_cache(maxsize=4)
def _scorer(model_path: str, trusted_types: tuple[str, ...]) -> Callable[[pd.DataFrame], np.ndarray]:
    """The model of a ``.skops`` file as ``f(frame) -> positive-class scores`` (loaded once per process)."""
    from .._io import sha256_file
    from ..models import ModelRef, load_scorer

    path = Path(model_path)
    ref = ModelRef(spec=model_path, name=path.stem, kind="skops", path=path, sha256=sha256_file(path))
    scorer = load_scorer(ref, trusted_types=trusted_types)
    return lambda frame: np.asarray(scorer(frame, path.name), dtype=np.float64)


def _labels(values: pd.Series, spec: ScaleSpec, first_row: int) -> tuple[np.ndarray, dict[str, int]]:
    """0/1 labels of a chunk and the first row of each non-positive label value; an error names the row of a
    missing or unexpected label."""
    text = values.astype(str) if not isinstance(values.dtype, pd.CategoricalDtype) else values
    codes, uniques = pd.factorize(text)
    uniques = [str(u) for u in uniques]
    if (codes < 0).any() or any(u in ("", "nan", "None") for u in uniques):
        bad = np.flatnonzero((codes < 0) | np.isin(codes, [i for i, u in enumerate(uniques) if u in ("", "nan", "None")]))
        raise DataError(Path(spec.path), f"missing label in column '{spec.label_column}' at row {first_row + bad[0]:,}")
    if spec.label_values is not None:
        unexpected = [u for u in uniques if u not in spec.label_values]
        if unexpected:
            row = first_row + int(np.flatnonzero(np.asarray(text.astype(str)) == unexpected[0])[0])
            raise DataError(Path(spec.path), f"column '{spec.label_column}' has label {unexpected[0]!r} at row {row:,}; "
                                             f"the manifest allows {list(spec.label_values)}")
    positive = np.array([u == spec.positive_label for u in uniques])
    first = {u: first_row + int(np.argmax(codes == i)) for i, u in enumerate(uniques) if not positive[i]}
    check_label_values(uniques, spec, lambda value: f"row {first[value]:,}")
    return positive[codes].astype(np.int64), first


@dataclass(frozen=True)
class Chunk:
    """One chunk of rows, checked: 0/1 labels, each score column's fine bins and every row's cell.

    Attributes
    ----------
    y : ndarray of int64
    negatives : dict
        Each non-positive label value and the first row it was seen at.
    bins : list of ndarray
        The fine bin of every row, per score (``spec.score_columns`` in order, or the model's).
    cell : ndarray of int
        The chunk's cell of every row (an index into ``names``).
    names : list of tuple of str
        Each of the chunk's cells as its sensitive values (trimmed; two cells may share a name).
    """

    y: np.ndarray
    negatives: dict[str, int]
    bins: list[np.ndarray]
    cell: np.ndarray
    names: list[tuple[str, ...]]


def read_chunk(frame: pd.DataFrame, spec: ScaleSpec, first_row: int = 0) -> Chunk:
    """Check one chunk's labels, groups and scores (an error names the row) and bin its scores."""
    missing = [c for c in (spec.label_column, *spec.sensitive, *spec.score_columns) if c not in frame.columns]
    if missing:
        raise DataError(Path(spec.path), f"column(s) {missing} not found; columns are {list(frame.columns)}")
    y, negatives = _labels(frame[spec.label_column], spec, first_row)
    if spec.score_column is not None:
        scores = [(c, pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)) for c in spec.score_columns]
    else:
        features = frame[list(spec.feature_columns)] if spec.feature_columns else frame.drop(
            columns=[spec.id_column, spec.label_column])  # a model is scored only when there is no score column
        scores = [(None, _scorer(spec.model_path, spec.trusted_types)(features))]
    low, high = spec.score_range
    bins = []
    for column, score in scores:
        bad = ~np.isfinite(score) | (score < low) | (score > high)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            where = f" in column '{column}'" if len(scores) > 1 else ""
            raise DataError(Path(spec.path), f"score {float(score[row])!r}{where} at row {first_row + row:,} is missing "
                                             f"or outside the score range [{low:g}, {high:g}]")
        bins.append(bin_index(score, spec.edges))
    codes, values = {}, {}
    for col in spec.sensitive:
        codes[col], uniques = pd.factorize(frame[col])
        if (codes[col] < 0).any():
            raise DataError(Path(spec.path), f"missing value in sensitive column '{col}' at row "
                                             f"{first_row + int(np.flatnonzero(codes[col] < 0)[0]):,}")
        values[col] = [str(u).strip() for u in uniques]
    cells, n_cells, group_of_cell = combine_codes(codes)
    names = [tuple(values[col][group_of_cell[col][i]] for col in spec.sensitive) for i in range(n_cells)]
    return Chunk(y, negatives, bins, cells, names)


def reduce_frame(frame: pd.DataFrame, spec: ScaleSpec, first_row: int = 0) -> Partial:
    """One chunk's counts per cell, fine bin and label (checks labels, groups and scores on the way)."""
    return _counts(read_chunk(frame, spec, first_row), 0, spec.edges.size, len(frame))


def _counts(chunk: Chunk, model: int, k: int, rows: int) -> Partial:
    """The :class:`Partial` of score ``model`` of a chunk."""
    n_cells = len(chunk.names)
    counts = np.bincount((chunk.cell * k + chunk.bins[model]) * 2 + chunk.y, minlength=n_cells * k * 2
                         ).reshape(n_cells, k, 2)
    out: dict[tuple[str, ...], np.ndarray] = {}
    for i, name in enumerate(chunk.names):
        out[name] = out[name] + counts[i] if name in out else counts[i].astype(np.int64)  # values equal once trimmed
    return Partial(rows=rows, cells=out, negatives=chunk.negatives)


@dataclass
class Partials:
    """One :class:`Partial` per score column of the same rows (several models compared in one pass)."""

    parts: list[Partial] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.parts[0].rows if self.parts else 0

    @property
    def negatives(self) -> dict[str, int]:
        return self.parts[0].negatives if self.parts else {}

    def merge(self, other: Partials) -> Partials:
        """Add ``other``'s counts into these (in place) and return them."""
        if not self.parts:
            self.parts = [Partial() for _ in other.parts]
        for mine, theirs in zip(self.parts, other.parts, strict=True):
            mine.merge(theirs)
        return self


def reduce_columns(frame: pd.DataFrame, first_row: int, spec: ScaleSpec) -> Partials:
    """One chunk's counts per cell, fine bin and label for every score column of ``spec`` (read and checked once)."""
    chunk = read_chunk(frame, spec, first_row)
    return Partials([_counts(chunk, m, spec.edges.size, len(frame)) for m in range(len(chunk.bins))])


#: Reduces a chunk (its rows and the file row of its first) to something with ``rows``, ``negatives`` and
#: ``merge``: :class:`Partial` by default, :class:`Partials` for several score columns.
Reducer = Callable[[pd.DataFrame, int], Any]


def run_task(spec: ScaleSpec, task: Task, chunk_rows: int = CHUNK_ROWS, reducer: Reducer | None = None) -> Any:
    """Read and reduce one task (what a Dask worker runs); ``reducer(frame, first_row)`` reduces a chunk (default
    :func:`reduce_frame`), and its results are merged; None for a task without rows."""
    reduce = reducer if reducer is not None else (lambda frame, row: reduce_frame(frame, spec, row))
    total, row = None, task.first_row
    for frame in read_task(spec, task, chunk_rows):
        try:
            part = reduce(frame, row)
        except DataError:
            if task.kind != "bytes":
                raise
            # a CSV byte range does not know its first row: count the lines before it, only now
            reduce(frame, _rows_before(Path(spec.path), task.start) + row)
            raise
        total = _merged(total, part)
        row += len(frame)
    return total


def _merged(total: Any, part: Any) -> Any:
    """``part`` added into ``total`` (either may be None: a task without rows)."""
    return part if total is None else total if part is None else total.merge(part)


def _line_start(fh: Any, start: int) -> int:
    """Move ``fh`` to the first line that begins at or after ``start`` (a line under way at ``start`` belongs to
    the range before) and return that offset."""
    if start > 0:
        fh.seek(start - 1)
        if fh.read(1) != b"\n":
            fh.readline()
    else:
        fh.seek(0)
    return fh.tell()


def _rows_before(path: Path, start: int) -> int:
    """Data rows (after the header) before the first line of the range that starts at ``start``."""
    with open(path, "rb") as fh:
        begin = _line_start(fh, start)
        fh.seek(0)
        newlines, done = 0, 0
        while done < begin:
            block = fh.read(min(1 << 20, begin - done))
            if not block:
                break
            newlines += block.count(b"\n")
            done += len(block)
    return newlines - 1


@dataclass
class Accumulated:
    """The merged counts of a whole file and how they were made."""

    partial: Partial
    engine: str
    tasks: int
    workers: int
    seconds: float
    scheduler: str | None = None


def accumulate(spec: ScaleSpec, *, engine: ScaleEngine = "stream", scheduler: str | None = None,
               chunk_rows: int = CHUNK_ROWS, progress: Callable[[int, int], None] | None = None,
               reducer: Reducer | None = None) -> Accumulated:
    """Reduce the whole file to counts with ``engine`` (see the module docstring); ``reducer`` as for
    :func:`run_task` (a picklable callable for Dask, e.g. a :func:`functools.partial` of a module function)."""
    if engine not in SCALE_ENGINES:
        raise ValueError(f"engine must be one of {list(SCALE_ENGINES)}, got {engine!r}")
    start = time.monotonic()
    tasks = plan_tasks(spec, chunk_rows)
    if engine == "stream":
        total = None
        for i, task in enumerate(tasks):
            part = run_task(spec, task, chunk_rows, reducer)
            total = _merged(total, part)
            if progress is not None:
                progress(i + 1, len(tasks))
        if total is None:
            raise DataError(Path(spec.path), "no rows")
        check_label_values(total.negatives, spec, lambda value: f"row {total.negatives[value]:,}")
        return Accumulated(total, "stream", len(tasks), 1, time.monotonic() - start)
    acc = _accumulate_dask(spec, tasks, scheduler, chunk_rows, progress, start, reducer)
    # chunks each holding one negative value may hold different ones: judged on the whole file
    check_label_values(acc.partial.negatives, spec, lambda value: f"row {acc.partial.negatives[value]:,}")
    return acc


def _accumulate_dask(spec: ScaleSpec, tasks: list[Task], scheduler: str | None, chunk_rows: int,
                     progress: Callable[[int, int], None] | None, start: float, reducer: Reducer | None
                     ) -> Accumulated:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    tracker_was_running = _resource_tracker_running()
    if scheduler is None:
        cluster = LocalCluster(n_workers=min(os.cpu_count() or 1, max(len(tasks), 1)), threads_per_worker=1,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0", processes=True,
                               memory_limit="2GiB")
    try:
        with Client(cluster if cluster is not None else scheduler, timeout="30s") as client:
            workers = len(client.scheduler_info()["workers"])
            # the reducer (which may hold tables) is sent to the workers once
            sent = client.scatter(reducer, broadcast=True) if reducer is not None else None
            futures = client.map(run_task, [spec] * len(tasks), tasks, [chunk_rows] * len(tasks),
                                 [sent] * len(tasks), pure=False)
            total = None
            for done, future in enumerate(as_completed(futures), start=1):
                # merged as they finish and released (integer sums: the order does not change a count);
                # an error in a task is raised here, with its message
                part = future.result()
                total = _merged(total, part)
                future.release()
                if progress is not None:
                    progress(done, len(tasks))
            address = client.scheduler.address
    finally:
        if cluster is not None:
            cluster.close()
            _stop_resource_tracker_started(tracker_was_running)
    if total is None:
        raise DataError(Path(spec.path), "no rows")
    return Accumulated(total, "dask", len(tasks), workers, time.monotonic() - start,
                       scheduler=scheduler or f"LocalCluster at {address}")


def _resource_tracker_running() -> bool:
    """Whether this process's multiprocessing resource tracker (a child process) is running."""
    from multiprocessing import resource_tracker

    return getattr(resource_tracker._resource_tracker, "_fd", None) is not None


def _stop_resource_tracker_started(was_running: bool) -> None:
    """Stop the multiprocessing resource tracker if the LocalCluster's worker processes started it (they are
    spawned, and spawning starts it), once the cluster is closed.

    The tracker is a child process that ignores SIGTERM. Left running, it outlives the evaluation, and a
    Jupyter kernel asked to shut down spends its shutdown signalling its children and waiting for them (ipykernel
    waits up to 14 s before SIGKILL): the report's command waited for its kernel after every dask report until
    jupyter_client's 5 s were up, then killed it (``make report ENGINE=dask`` on 300,000 rows: 8.7 s, now 6.0 s).
    A tracker that was running before is left alone. (``_stop`` is private to
    ``multiprocessing``, in CPython since 3.8; without it nothing is done.)"""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if not was_running and stop is not None and _resource_tracker_running():
        stop()


@dataclass
class ScaleTables:
    """The evaluation tables computed from the merged counts.

    Attributes
    ----------
    histogram : Histogram
        Fine histogram per cell (``cells × bins × 2``).
    cells : list of tuple of str
        The cells, sorted.
    by_group : DataFrame
        Indexed by ``(feature, group)``; one column per :data:`~evalkit.metrics.METRIC_NAMES`.
    overall : dict
    auc_binning_bound : dict
        ``overall`` and per ``(feature, group)``: the largest error of the binned ROC AUC.
    groupings : dict
        Per grouping, the group code of every cell and the group names.
    """

    histogram: Histogram
    cells: list[tuple[str, ...]]
    by_group: pd.DataFrame
    overall: dict[str, float]
    auc_binning_bound: dict[Any, float]
    groupings: dict[str, tuple[np.ndarray, list[str]]]


def _groupings(cells: list[tuple[str, ...]], sensitive: Sequence[str], intersections: bool
               ) -> dict[str, tuple[np.ndarray, list[str]]]:
    out = {}
    for i, feature in enumerate(sensitive):
        names = sorted({c[i] for c in cells})
        lookup = {n: k for k, n in enumerate(names)}
        out[feature] = (np.array([lookup[c[i]] for c in cells]), names)
    if intersections:
        for (i, a), (j, b) in combinations(enumerate(sensitive), 2):
            values = [f"{c[i]}{INTERSECTION_SEP}{c[j]}" for c in cells]
            names = sorted(set(values))
            lookup = {n: k for k, n in enumerate(names)}
            out[f"{a}{INTERSECTION_SEP}{b}"] = (np.array([lookup[v] for v in values]), names)
        if len(sensitive) >= 3:  # the intersection of all of them, as group_columns adds it
            values = [INTERSECTION_SEP.join(c) for c in cells]
            names = sorted(set(values))
            lookup = {n: k for k, n in enumerate(names)}
            out[INTERSECTION_SEP.join(sensitive)] = (np.array([lookup[v] for v in values]), names)
    return out


def cell_counts(acc: Accumulated, spec: ScaleSpec) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """The cells, sorted, and their merged counts (``cells × bins × 2``, float64)."""
    cells = sorted(acc.partial.cells)
    if not cells:
        raise DataError(Path(spec.path), "no rows")
    return cells, np.stack([acc.partial.cells[c] for c in cells]).astype(np.float64)


def tables(acc: Accumulated, spec: ScaleSpec, *, intersections: bool = True, cell_weights: np.ndarray | None = None,
           extra: Mapping[str, Callable[..., np.ndarray]] | None = None,
           merged: tuple[list[tuple[str, ...]], np.ndarray] | None = None) -> ScaleTables:
    """Per-group and overall metrics from the merged counts; ``cell_weights`` (one per sorted cell) weights every
    sample of a cell (balancing), ``extra`` adds count metrics ``f(tp, fp, tn, fn)``; ``merged`` is
    :func:`cell_counts`' result when the caller has it already."""
    cells, counts = merged if merged is not None else cell_counts(acc, spec)
    weights = None if cell_weights is None else counts * np.asarray(cell_weights, dtype=np.float64)[:, None, None]
    threshold_bin = int(np.searchsorted(spec.edges, spec.threshold, side="left"))
    hist = Histogram(spec.edges, threshold_bin, counts, weights, exact=False)
    groupings = _groupings(cells, spec.sensitive, intersections)
    onehots = group_onehots({k: v[0] for k, v in groupings.items()}, {k: len(v[1]) for k, v in groupings.items()},
                            len(cells))
    names_out = list(METRIC_NAMES) + list(extra or {})
    rows, bounds = [], {}
    for name, m in onehots.items():
        agg = np.einsum("gc,cbl->gbl", m, counts)
        agg_w = agg if weights is None else np.einsum("gc,cbl->gbl", m, weights)
        table = histogram_metrics(agg_w, agg, spec.edges, threshold_bin, extra)
        pos, neg = agg[..., 1], agg[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            bound = 0.5 * (pos * neg).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))
        frame = pd.DataFrame({k: np.asarray(table[k], dtype=np.float64) for k in names_out})
        if name == "overall":
            overall = {k: float(frame[k].iloc[0]) for k in names_out}
            bounds["overall"] = float(bound[0])
            continue
        names = groupings[name][1]
        frame.index = pd.MultiIndex.from_product([[name], names], names=["feature", "group"])
        rows.append(frame)
        bounds.update({(name, g): float(b) for g, b in zip(names, bound, strict=True)})
    return ScaleTables(hist, cells, pd.concat(rows), overall, bounds, groupings)


def coarse_histogram(hist: Histogram, max_bins: int = COARSE_BINS) -> Histogram:
    """Merge fine bins into at most ``max_bins`` bins of about equal mass (the threshold stays an edge)."""
    total = hist.counts.sum(axis=(0, 2))
    k = total.size
    cum = np.cumsum(total)
    targets = np.linspace(0, cum[-1], max_bins + 1)[1:-1]
    cuts = np.unique(np.r_[0, np.searchsorted(cum, targets, side="right"), hist.threshold_bin])
    cuts = cuts[(cuts >= 0) & (cuts < k)]
    coarse = np.add.reduceat(hist.counts, cuts, axis=1)
    weights = None if hist.weights is None else np.add.reduceat(hist.weights, cuts, axis=1)
    return Histogram(hist.edges[cuts], int(np.searchsorted(cuts, hist.threshold_bin)), coarse, weights, exact=False)


def operating_point(counts: np.ndarray, spec: ScaleSpec, rule: str, *, cell_weights: np.ndarray | None = None,
                    cost_fp: float = 1.0, cost_fn: float = 1.0) -> OperatingPoint:
    """The threshold ``rule`` applied to the merged (weighted) ``counts`` of every cell (``cells × bins × 2``; see
    :func:`evalkit.metrics.choose_threshold_binned`): a fixed threshold is an edge of the grid already, any other
    rule picks an edge, so the counts at the chosen threshold are exact."""
    if rule == "fixed":
        return OperatingPoint(rule="fixed", threshold=float(spec.threshold), description=f"fixed at {spec.threshold:g}")
    w = np.ones(counts.shape[0]) if cell_weights is None else np.asarray(cell_weights, dtype=np.float64)
    return choose_threshold_binned(np.einsum("c,cbl->bl", w, counts), spec.edges, rule, upper=spec.score_range[1],
                                   threshold=spec.threshold, cost_fp=cost_fp, cost_fn=cost_fn)


def cell_balancing(cells: list[tuple[str, ...]], counts: np.ndarray, spec: ScaleSpec, st: EvaluationSettings
                   ) -> tuple[np.ndarray | None, dict]:
    """Balancing by weights out of core: one weight per cell of :func:`cell_counts` (every sample of a cell gets
    it), from the cells' sizes, as :func:`evalkit.data.balancing_weights` gives each sample in memory; and the
    balance record."""
    rows = int(counts.sum())
    info: dict[str, Any] = {"method": st.balance, "rows_before": rows, "rows_after": rows}
    if st.balance == "none":
        return None, info
    chosen = balance_groups(pd.DataFrame(cells, columns=list(spec.sensitive)), st.balance, st.balance_by,
                            st.balance_target)
    assert chosen is not None
    by, groups = chosen
    info.update(by=by, target=dict(st.balance_target) if st.balance_target else "equal shares")
    return balancing_weights(groups, target=st.balance_target, counts=counts.sum(axis=(1, 2))), info


def scale_group_thresholds(t: ScaleTables, spec: ScaleSpec, threshold: float, target_fpr: float | None
                           ) -> pd.DataFrame:
    """Per group of every grouping: FPR and recall at the threshold, and the threshold for ``target_fpr`` (see
    :func:`evalkit.metrics.group_thresholds_binned`); empty when ``target_fpr`` is not in (0, 1)."""
    if not (isinstance(target_fpr, float) and 0 < target_fpr < 1):
        return pd.DataFrame()
    hist = t.histogram
    onehots = group_onehots({k: v[0] for k, v in t.groupings.items()}, {k: len(v[1]) for k, v in t.groupings.items()},
                            len(t.cells))
    parts = {}
    for feature, (_, names) in t.groupings.items():
        m = onehots[feature]
        weights = None if hist.weights is None else np.einsum("gc,cbl->gbl", m, hist.weights)
        parts[feature] = group_thresholds_binned(np.einsum("gc,cbl->gbl", m, hist.counts), spec.edges, names,
                                                 threshold=threshold, target_fpr=target_fpr,
                                                 upper=spec.score_range[1], weights=weights)
    return pd.concat(parts, names=["feature", "group"])


def print_progress(done: int, total: int, prefix: str = "") -> None:
    """``evalkit: 3/100 chunks`` on stderr (after ``prefix``)."""
    print(f"evalkit: {prefix}{done}/{total} chunks", file=sys.stderr, flush=True)


def spec_for(ref: Any, manifest: Manifest, *, threshold: float, score_range: tuple[float, float],
             trusted_types: tuple[str, ...] = (), fine_bins: int = FINE_BINS) -> ScaleSpec:
    """The :class:`ScaleSpec` of a model on a manifest's data file.

    Raises
    ------
    ModelError
        For a predictions file: joining scores to rows by id needs the data in memory; give the model
        (scored chunk by chunk) or ``MODEL=column:<name>`` for scores stored in the data.
    """
    from ..exceptions import ModelError

    if ref.kind == "predictions":
        raise ModelError(ref.spec, "the out-of-core engines cannot join a predictions file to the data by id "
                                   "(that needs the data in memory): give the model itself (.skops or registered; "
                                   "scored chunk by chunk) or keep the scores in the data file and pass "
                                   "MODEL=column:<name>")
    if ref.kind == "pickle":
        raise ModelError(ref.spec, "pickle models are not sent to the out-of-core engines; save it with skops")
    return ScaleSpec(
        path=str(manifest.data_path), format=manifest.format, label_column=manifest.label_column,
        positive_label=str(manifest.positive_label), label_values=manifest.label_values,
        negative_labels=manifest.negative_labels, sensitive=tuple(manifest.sensitive_features), id_column=manifest.id_column,
        score_column=str(ref.path) if ref.kind == "column" else None,
        model_path=None if ref.kind == "column" else str(ref.path), feature_columns=manifest.feature_columns,
        trusted_types=tuple(trusted_types), edges=fine_edges(threshold, score_range, fine_bins), threshold=threshold,
        score_range=score_range)


def scale_inputs(data: str | Path, settings: EvaluationSettings, config: MetricsConfig | None = None
                 ) -> tuple[Manifest, MetricsConfig]:
    """The manifest of ``data`` and the metrics configuration, checked for the out-of-core engines: one dataset
    file of Parquet or CSV whose sha256 matches (verified in a streamed pass), no function metrics.

    Raises
    ------
    DataError, ValueError
        Naming the file or setting and what the out-of-core engines need.
    """
    config = config if config is not None else load_metrics_config(settings.metrics_config)
    manifest = load_manifest(data)
    if config.function_metrics():
        raise ValueError(f"the metrics configuration {config.path} has function metrics "
                         f"{[m.name for m in config.function_metrics()]}: they need the rows in memory; the "
                         f"out-of-core engines compute cost metrics (from counts) only")
    if manifest.format not in ("parquet", "csv"):
        raise DataError(manifest.manifest_path, f"format {manifest.format!r} cannot be read in chunks")
    if "members" in manifest.extra:
        raise ValueError("suites are evaluated in memory; give one dataset manifest to the out-of-core engines")
    digest = sha256_file(manifest.data_path)  # streamed: 1 MiB at a time
    if digest != manifest.sha256:
        raise DataError(manifest.data_path, f"sha256 mismatch: the manifest {manifest.manifest_path.name} says "
                                             f"{manifest.sha256}, the file has {digest}")
    return manifest, config


def evaluate_at_scale(
    ref: Any,
    data: str | Path,
    *,
    settings: EvaluationSettings,
    config: MetricsConfig | None = None,
    fine_bins: int = FINE_BINS,
    run_id: str | None = None,
    progress: bool = False,
) -> Evaluation:
    """An :class:`~evalkit.evaluation.Evaluation` of data read in chunks (see the module docstring); what
    :func:`evalkit.evaluate` returns for ``engine="stream"`` or ``"dask"``.

    The data file's sha256 is verified in a streamed pass first; labels, groups and scores are checked chunk
    by chunk (an error names the row). The result has no rows in memory: ``scale`` says how it was computed
    and ``tables`` holds the merged histograms its curves are drawn from.
    """
    st = settings
    manifest, config = scale_inputs(data, st, config)
    spec = spec_for(ref, manifest, threshold=st.threshold, score_range=st.score_range, trusted_types=st.trusted_types,
                    fine_bins=fine_bins)
    acc = accumulate(spec, engine=st.engine, scheduler=st.scheduler, chunk_rows=st.chunk_rows,
                     progress=print_progress if progress else None)
    return evaluation_from_counts(ref, manifest, spec, acc, settings=st, config=config, run_id=run_id)


def evaluation_from_counts(ref: Any, manifest: Manifest, spec: ScaleSpec, acc: Accumulated, *,
                           settings: EvaluationSettings, config: MetricsConfig, run_id: str | None = None
                           ) -> Evaluation:
    """The :class:`~evalkit.evaluation.Evaluation` of one model's merged counts ``acc`` (a :class:`Partial`): the
    threshold rule, balancing weights, tables, disparities, bootstrap intervals and per-group thresholds."""
    st = settings
    engine, chunk_rows, min_group_size, reference, n_boot = (
        st.engine, st.chunk_rows, st.min_group_size, st.reference, st.n_boot)
    cells, counts = merged = cell_counts(acc, spec)
    cell_weights, balance_info = cell_balancing(cells, counts, spec, st)
    c_fp, c_fn = costs(st, config)
    op = operating_point(counts, spec, st.threshold_rule, cell_weights=cell_weights, cost_fp=c_fp, cost_fn=c_fn)
    spec = replace(spec, threshold=op.threshold)  # an edge of the grid: the counts at it are exact
    threshold = op.threshold
    extra = config.count_metrics()
    t = tables(acc, spec, cell_weights=cell_weights, extra=extra, merged=merged)
    by_group, overall = t.by_group, t.overall
    if reference:
        check_reference(pd.DataFrame(t.cells, columns=list(spec.sensitive)), reference)  # one row per cell
    compared = DISPARITY_METRICS + config.comparable
    disp = disparities(by_group, min_group_size=min_group_size, metrics=compared,
                       lower_is_better=LOWER_IS_BETTER | config.lower_is_better)
    ref_disp = reference_disparities(by_group, reference=reference, min_group_size=min_group_size, metrics=compared)
    uncertainty = None
    if n_boot:
        coarse = coarse_histogram(t.histogram)
        reps = bootstrap_histogram(coarse, {k: v[0] for k, v in t.groupings.items()},
                                   {k: len(v[1]) for k, v in t.groupings.items()}, n_boot=n_boot, seed=st.seed,
                                   extra=extra)
        uncertainty = uncertainty_from_replicates(reps, by_group=by_group, overall=overall, disparities=disp,
                                                  reference=ref_disp, min_group_size=min_group_size, level=st.ci_level,
                                                  tolerance=st.tolerance, fdr=st.fdr)
        ref_disp = uncertainty.reference
    target = target_fpr_for(st, overall["fpr"])
    thresholds = scale_group_thresholds(t, spec, threshold, target)
    rows = acc.partial.rows
    details = {
        "engine": acc.engine, "rows": rows, "chunks": acc.tasks, "chunk_rows": chunk_rows, "workers": acc.workers,
        "scheduler": acc.scheduler, "seconds": round(acc.seconds, 3),
        "rows_per_second": rows / acc.seconds if acc.seconds > 0 else None,
        "fine_bins": int(spec.edges.size), "coarse_bins": COARSE_BINS if n_boot else None,
        "auc_binning_bound": t.auc_binning_bound["overall"], "score_range": list(spec.score_range),
        "scores": f"column '{spec.score_column}' of the data" if spec.score_column else "the model, chunk by chunk",
        "data_sha256_verified": True,
    }
    frame = pd.DataFrame(columns=[manifest.id_column, manifest.label_column, *manifest.sensitive_features])
    return Evaluation(
        model=ref, data=Dataset(manifest, frame), y_score=np.empty(0), threshold=float(threshold), overall=overall,
        by_group=by_group, disparities=disp, small_groups=small_groups(by_group, min_group_size=min_group_size),
        min_group_size=min_group_size, run_id=run_id, engine=engine,
        operating_point=op, group_thresholds=thresholds, target_fpr=float(target),
        reference=ref_disp, uncertainty=uncertainty, scale=details, tables=t, settings=st, config=config,
        balance=balance_info,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
