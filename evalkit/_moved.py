"""Old module paths of evalkit 0.x, kept importable for one release.

Before the package was split into subpackages, every module sat at the package root
(``evalkit.fairness``, ``evalkit.summary``, ``evalkit.gating``, ...). Importing one of those names now
gives the subpackage that holds its public names, with a :class:`DeprecationWarning` naming the new
place. Only public names are kept; private helpers (``_name``) moved without an alias. The list is in the
README's changelog; this module goes in the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

#: Old module (under ``evalkit.``) to the module that now holds its public names.
MOVED: dict[str, str] = {
    "manifest": "evalkit.data", "schema": "evalkit.data", "suite": "evalkit.data", "balance": "evalkit.data",
    "importer": "evalkit.data", "data_check": "evalkit.data", "synthetic": "evalkit.data",
    "demo": "evalkit.models", "cost": "evalkit.models",
    "fairness": "evalkit.metrics", "thresholds": "evalkit.metrics", "custom": "evalkit.metrics",
    "multiclass": "evalkit.metrics", "ranking": "evalkit.metrics", "histogram": "evalkit.metrics",
    "bootstrap": "evalkit.stats", "uncertainty": "evalkit.stats", "paired": "evalkit.stats",
    "significance": "evalkit.stats", "scale": "evalkit.evaluation",
    "fitting": "evalkit.diagnostics", "robustness": "evalkit.diagnostics", "adversarial": "evalkit.diagnostics",
    "spoofing": "evalkit.diagnostics", "summary": "evalkit.views", "plots": "evalkit.views",
    "app": "evalkit.explorer", "report": "evalkit.runner", "batch": "evalkit.runner",
    "mlflow_plugin": "evalkit.runner.mlflow_plugin", "staging": "evalkit.serve",
    "checks": "evalkit.gate", "gating": "evalkit.gate", "promotion": "evalkit.gate", "gate_view": "evalkit.gate",
    "comparing": "evalkit.compare", "compare_view": "evalkit.compare",
}

#: Names that left their old module for another package (looked up there after the main new home).
ALSO: dict[str, tuple[str, ...]] = {
    "fairness": ("evalkit.data", "evalkit.settings"), "balance": ("evalkit.settings",),
    "thresholds": ("evalkit.settings",), "uncertainty": ("evalkit.settings",), "spoofing": ("evalkit.stats",),
    "histogram": ("evalkit.views",), "scale": ("evalkit.settings",), "evaluation": ("evalkit.settings",),
    "summary": ("evalkit.data",),
}


class _Alias(importlib.abc.Loader):
    """Makes ``evalkit.<old>`` a thin module that forwards every attribute to its new home."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> None:
        return None  # a fresh module object: the new home is never renamed

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(f"{module.__name__} moved: import {self.target} instead (the old path goes in the next "
                      "release)", DeprecationWarning, stacklevel=3)
        homes = [importlib.import_module(m) for m in (self.target, *ALSO.get(module.__name__.split(".")[-1], ()))]
        module.__dict__.update({k: getattr(homes[0], k) for k in getattr(homes[0], "__all__", ())})

        def forward(name: str) -> Any:
            for home in homes:
                if hasattr(home, name):
                    return getattr(home, name)
            raise AttributeError(f"module {module.__name__!r} (moved to {self.target}) has no attribute {name!r}")

        module.__getattr__ = forward  # type: ignore[method-assign]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        prefix, _, name = fullname.partition(".")
        if prefix != "evalkit" or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(MOVED[name]))


def install() -> None:
    """Put the alias finder on :data:`sys.meta_path` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
