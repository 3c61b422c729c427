"""evalkit: is a model good enough, and fair enough, to leave the lab?

The few entry points notebooks use; everything else lives in the submodules
(:mod:`evalkit.metrics`, :mod:`evalkit.fairness`, :mod:`evalkit.thresholds`, :mod:`evalkit.uncertainty`,
:mod:`evalkit.multiclass`, :mod:`evalkit.ranking`, :mod:`evalkit.plots`, :mod:`evalkit.summary`, ...); before
deployment: :mod:`evalkit.checks` (the promotion gate's evidence, judged by :mod:`evalkit.gate`),
:mod:`evalkit.fitting`, :mod:`evalkit.robustness`, :mod:`evalkit.adversarial`, :mod:`evalkit.spoofing`,
:mod:`evalkit.cost`, :mod:`evalkit.staging` and :mod:`evalkit.promotion`; choosing between models:
:mod:`evalkit.compare` (paired statistics of :mod:`evalkit.significance` on reports' per-sample scores),
:mod:`evalkit.comparing` (``make compare``), :mod:`evalkit.batch` (``make report-all``) and
:mod:`evalkit.mlflow_plugin` (``mlflow.models.evaluate(..., evaluators=["evalkit"])``).
"""

from ._version import __version__
from .custom import load_metrics_config
from .data import Dataset, load_dataset
from .evaluation import Evaluation, evaluate
from .exceptions import ConfigError, DataError, EvalkitError, ManifestError, ModelError, ReportError, TrackingError
from .explorer import explore
from .manifest import Manifest, load_manifest
from .models import ModelRef, resolve_model
from .notebook import setup_notebook

__all__ = [
    "ConfigError",
    "DataError",
    "Dataset",
    "Evaluation",
    "EvalkitError",
    "Manifest",
    "ManifestError",
    "ModelError",
    "ModelRef",
    "ReportError",
    "TrackingError",
    "__version__",
    "evaluate",
    "explore",
    "load_dataset",
    "load_manifest",
    "load_metrics_config",
    "resolve_model",
    "setup_notebook",
]
