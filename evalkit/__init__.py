"""evalkit: is a model good enough, and fair enough, to leave the lab?

The few entry points notebooks use are re-exported here; everything else lives in subpackages, each
owning one concern (see ``ARCHITECTURE.md``): :mod:`evalkit.data` (manifests, loading, balancing,
generators), :mod:`evalkit.models` (resolving ``MODEL=``, scoring, cost), :mod:`evalkit.metrics`,
:mod:`evalkit.stats` (bootstrap, intervals, significance), :mod:`evalkit.evaluation` (:func:`evaluate`),
:mod:`evalkit.diagnostics` (fitting, robustness, adversarial, spoofing), :mod:`evalkit.views` (the
report's HTML and plots), :mod:`evalkit.explorer`, :mod:`evalkit.runner` (the run skeleton and
``make report``), :mod:`evalkit.serve` (the staging replica), :mod:`evalkit.verification` (biometric
verification by demographic group, ``make verify``), :mod:`evalkit.gate` (the promotion gate)
and :mod:`evalkit.compare` (choosing between models); :mod:`evalkit.tracking` is the MLflow store and
:mod:`evalkit.settings` holds every setting and default once.
"""

from . import _moved
from ._version import __version__
from .data import Dataset, Manifest, load_dataset, load_manifest
from .evaluation import Evaluation, evaluate
from .exceptions import (
    ConfigError,
    DataError,
    EvalkitError,
    ManifestError,
    ModelError,
    ReportError,
    ReproduceError,
    TrackingError,
)
from .explorer import explore
from .metrics import load_metrics_config
from .models import ModelRef, resolve_model
from .notebook import setup_notebook
from .settings import EvaluationSettings, Resampling, RunOptions

_moved.install()

__all__ = [
    "ConfigError",
    "DataError",
    "Dataset",
    "Evaluation",
    "EvaluationSettings",
    "EvalkitError",
    "Manifest",
    "ManifestError",
    "ModelError",
    "ModelRef",
    "ReportError",
    "Resampling",
    "RunOptions",
    "ReproduceError",
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
