"""One evaluation of one model on one dataset: :func:`evaluate` and its result :class:`Evaluation`
with the ``metrics.json`` contract; the in-memory engine and the out-of-core engines (``stream``,
``dask``), dispatched by :func:`evaluate` without a cycle between them.

May import: the root (``settings``, ``exceptions``, ``_io``), :mod:`evalkit.tracking`, :mod:`evalkit.data`,
:mod:`evalkit.models`, :mod:`evalkit.metrics`, :mod:`evalkit.stats`, :mod:`evalkit.slices`.
"""

from ._evaluate import (
    evaluate,
)
from ._result import (
    SCHEMA_VERSION,
    SCORES_FILE,
    Evaluation,
    versions,
    git_commit,
    slice_columns,
    slice_frame,
)
from ._scale import (
    FINE_BINS,
    COARSE_BINS,
    ScaleSpec,
    Partial,
    Task,
    fine_edges,
    bin_index,
    plan_tasks,
    read_task,
    reduce_frame,
    run_task,
    Accumulated,
    accumulate,
    ScaleTables,
    tables,
    coarse_histogram,
    print_progress,
    spec_for,
    evaluate_at_scale,
)

__all__ = [
    "Accumulated",
    "COARSE_BINS",
    "Evaluation",
    "FINE_BINS",
    "Partial",
    "SCHEMA_VERSION",
    "SCORES_FILE",
    "ScaleSpec",
    "ScaleTables",
    "Task",
    "accumulate",
    "bin_index",
    "coarse_histogram",
    "evaluate",
    "evaluate_at_scale",
    "fine_edges",
    "git_commit",
    "plan_tasks",
    "print_progress",
    "read_task",
    "reduce_frame",
    "run_task",
    "slice_columns",
    "slice_frame",
    "spec_for",
    "tables",
    "versions",
]
