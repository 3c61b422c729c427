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

import os as _os

# Arrow's allocator (mimalloc, which pandas' text columns and Parquet reads use) reads its options once, when
# pandas first loads Arrow, so this comes before any import. Without eager commit of its arenas, a report at
# 10^6 rows peaked ~50 MB lower in the command and ~30 MB lower in its kernel, in the same time (measured by
# `make bench`'s side-by-side case); kernels and workers started from here inherit it. A value already set wins.
_os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")
# numpy asks Linux for transparent huge pages for every array of 4 MiB or more, reading this switch once, at its
# import. On this project's 2-core virtual machines the first touch of a fresh huge page costs more than the work
# on it: the paired AUC interval at 10^7 rows took 15.3 s with them and 5.6 s without (`make bench`'s case,
# alternated on one machine; bench/results.json records the comparison of two models at 10^7 rows both ways).
# The numbers computed do not change. Off in a process that imports evalkit before numpy (a notebook's kernel,
# the command) and in every process started from it; the Makefile exports it for the others (pytest, the bench).
# NUMPY_MADVISE_HUGEPAGE=1 keeps them.
_os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

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
