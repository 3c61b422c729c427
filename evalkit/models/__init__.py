"""Models: resolving ``MODEL=`` (registered name, ``models:/`` URI, ``.skops`` file, predictions file
or ``column:<name>``), safe loading, scoring, the demo models, and what a model costs to run.

May import: the root's ``exceptions``/``_io``, :mod:`evalkit.tracking`, :mod:`evalkit.data`.
"""

from ._cost import (
    PERCENTILES,
    reset_peak_rss,
    peak_rss_kb,
    latency_summary,
    latency_percentile,
    ModelCost,
    cost_metrics,
    measure_cost,
)
from ._demo import (
    TRAIN_MANIFEST,
    DEMO_MODELS,
    MODEL_DISTRIBUTIONS,
    model_requirements,
    train_demo_model,
    register_model,
    register_demo_models,
)
from ._resolve import (
    ModelKind,
    COLUMN_PREFIX,
    SCORE_COLUMN,
    TRUSTED_EXTRA_TYPES,
    ModelRef,
    safe_name,
    gives_scores,
    resolve_model,
    check_model_columns,
    check_model_file,
    expected_columns,
    load_estimator,
    load_scorer,
    model_frame,
    score,
    check_score_range,
)

__all__ = [
    "COLUMN_PREFIX",
    "DEMO_MODELS",
    "MODEL_DISTRIBUTIONS",
    "ModelCost",
    "ModelKind",
    "ModelRef",
    "PERCENTILES",
    "SCORE_COLUMN",
    "TRAIN_MANIFEST",
    "TRUSTED_EXTRA_TYPES",
    "check_model_columns",
    "check_model_file",
    "check_score_range",
    "cost_metrics",
    "expected_columns",
    "gives_scores",
    "latency_percentile",
    "latency_summary",
    "load_estimator",
    "load_scorer",
    "measure_cost",
    "model_frame",
    "model_requirements",
    "peak_rss_kb",
    "register_demo_models",
    "register_model",
    "reset_peak_rss",
    "resolve_model",
    "safe_name",
    "score",
    "train_demo_model",
]
