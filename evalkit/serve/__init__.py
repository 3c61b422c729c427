"""The staging replica: a model served by ``mlflow models serve`` on 127.0.0.1, checked over HTTP
against in-process scores, with latency and memory measured on the served model.

May import: :mod:`evalkit.runner` (progress lines, failing a run) and everything below it.
"""

from ._staging import (
    TOLERANCE,
    CONCURRENCY,
    STAGE_EXPERIMENT,
    StagingError,
    Server,
    free_port,
    serve,
    stop,
    invoke,
    compare_served,
    score_mismatch,
    load_loop,
    StageResult,
    stage_metrics,
    check_replica,
    stage,
)

__all__ = [
    "CONCURRENCY",
    "STAGE_EXPERIMENT",
    "Server",
    "StageResult",
    "StagingError",
    "TOLERANCE",
    "check_replica",
    "compare_served",
    "free_port",
    "invoke",
    "load_loop",
    "score_mismatch",
    "serve",
    "stage",
    "stage_metrics",
    "stop",
]
