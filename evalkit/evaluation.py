"""One evaluation of one model on one dataset: overall and per-group metrics, disparities, and the
``metrics.json`` contract that other tools read."""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd

from ._io import atomic_write_json
from ._version import __version__
from .data import Dataset, load_dataset
from .fairness import Engine, disparities, group_columns, metrics_by_group, small_groups
from .metrics import COUNT_METRICS, METRIC_NAMES, _check_threshold, binary_metrics, undefined_reason
from .models import ModelRef, check_score_range, resolve_model, score

#: Version of the metrics.json layout; bumped on incompatible changes.
SCHEMA_VERSION = 1


@dataclass
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes
    ----------
    model : ModelRef
    data : Dataset
    y_score : ndarray
        The model's scores, in dataset order.
    threshold : float
    overall : dict of str to float
        Every metric in :data:`~evalkit.metrics.METRIC_NAMES` (NaN where undefined).
    by_group : DataFrame
        Indexed by ``(feature, group)``; see :func:`evalkit.fairness.metrics_by_group`.
    disparities : DataFrame
        Indexed by ``(feature, metric)``; see :func:`evalkit.fairness.disparities`.
    small_groups : DataFrame
        Groups below ``min_group_size`` (kept in ``by_group``, left out of disparities).
    min_group_size : int
    run_id : str or None
        The MLflow run this evaluation is logged to, if any.
    """

    model: ModelRef
    data: Dataset
    y_score: np.ndarray
    threshold: float
    overall: dict[str, float]
    by_group: pd.DataFrame
    disparities: pd.DataFrame
    small_groups: pd.DataFrame
    min_group_size: int
    run_id: str | None = None
    engine: str = "vectorised"
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _groups: dict[str, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def y_true(self) -> np.ndarray:
        """0/1 labels, in dataset order."""
        return self.data.y_true

    def group_values(self, feature: str) -> np.ndarray:
        """The group of every sample for ``feature`` (a sensitive feature or an ``a&b`` intersection)."""
        if self._groups is None:
            self._groups = {k: v.to_numpy() for k, v in group_columns(self.data.sensitive).items()}
        return self._groups[feature]

    def undefined(self) -> list[dict[str, str]]:
        """Every undefined value with its scope and reason (``scope`` is ``overall`` or ``feature=group``)."""
        notes = []
        rows = [("overall", None, None, self.overall)]
        rows += [("by_group", f, g, r.to_dict()) for (f, g), r in self.by_group.iterrows()]
        for scope, feature, group, values in rows:
            for metric in METRIC_NAMES:
                if _is_missing(values[metric]):
                    note = {"scope": scope, "metric": metric, "reason": undefined_reason(metric, values) or "undefined"}
                    if feature is not None:
                        note.update(feature=feature, group=group)
                    notes.append(note)
        return notes

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` document (JSON-ready: NaN becomes ``null``)."""
        from . import tracking

        by_group: dict[str, dict[str, dict[str, Any]]] = {}
        for (feature, group), row in self.by_group.iterrows():
            by_group.setdefault(feature, {})[group] = _metric_dict(row.to_dict())
        disp: dict[str, dict[str, dict[str, Any]]] = {}
        for (feature, metric), row in self.disparities.iterrows():
            disp.setdefault(feature, {})[metric] = {
                "difference": _json_float(row["difference"]),
                "ratio": _json_float(row["ratio"]),
                "worst_group": None if _is_missing(row["worst_group"]) else row["worst_group"],
                "best_group": None if _is_missing(row["best_group"]) else row["best_group"],
                "groups_compared": int(row["groups_compared"]),
            }
        m = self.data.manifest
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model.name,
            "model_source": {"spec": self.model.spec, "kind": self.model.kind, "uri": self.model.uri,
                             "version": self.model.version, "sha256": self.model.sha256},
            "datasets": [{"name": m.name, "source": m.source, "sha256": m.sha256,
                          "manifest": m.manifest_path.name, "n": len(self.data)}],
            "threshold": self.threshold,
            "threshold_rule": "fixed",
            "n": len(self.data),
            "sensitive_features": list(m.sensitive_features),
            "min_group_size": self.min_group_size,
            "engine": self.engine,
            "overall": _metric_dict(self.overall),
            "by_group": by_group,
            "disparities": disp,
            "small_groups": [{"feature": r.feature, "group": r.group, "n": int(r.n)}
                             for r in self.small_groups.itertuples()],
            "undefined": self.undefined(),
            "mlflow_run_id": self.run_id,
            "mlflow_tracking_uri": tracking.tracking_uri() if self.run_id else None,
            "created": self.created,
            "versions": versions(),
        }

    def save(self, output_dir: str | Path | None) -> Path | None:
        """Write ``metrics.json`` into ``output_dir`` atomically (nothing when ``output_dir`` is None)."""
        if output_dir is None:
            return None
        return atomic_write_json(Path(output_dir) / "metrics.json", self.to_dict())


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _json_float(value: Any) -> float | None:
    return None if _is_missing(value) else float(value)


def _metric_dict(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in METRIC_NAMES:
        v = _json_float(values[name])
        out[name] = int(v) if v is not None and name in COUNT_METRICS else v
    return out


def versions() -> dict[str, str]:
    """Versions of evalkit, Python and the libraries that compute the numbers."""
    from importlib.metadata import version

    out = {"evalkit": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "pandas", "scikit-learn", "fairlearn"):
        out[pkg] = version(pkg)
    return out


def evaluate(
    model: ModelRef | str | Mapping[str, Any],
    data: Dataset | str | Path,
    *,
    threshold: float = 0.5,
    min_group_size: int = 30,
    intersections: bool = True,
    engine: Engine = "vectorised",
    score_range: Sequence[float] | None = (0.0, 1.0),
    trusted_types: Sequence[str] = (),
    run_id: str | None = None,
) -> Evaluation:
    """Evaluate a model on a dataset: overall metrics, per-group metrics and disparities.

    Parameters
    ----------
    model : ModelRef, str or dict
        A resolved model, any ``MODEL`` value accepted by :func:`evalkit.resolve_model`, or the
        fields of a :class:`~evalkit.models.ModelRef` as a dict (how the report pipeline passes an
        already resolved model to the notebook).
    data : Dataset or path-like
        A loaded dataset or the path of its manifest.
    threshold : float, default=0.5
        Decision threshold: ``score >= threshold`` is predicted positive.
    min_group_size : int, default=30
        Groups smaller than this are flagged and left out of disparities.
    intersections : bool, default=True
        Also evaluate pairwise intersections of the sensitive features.
    engine : {"vectorised", "fairlearn"}, default="vectorised"
        See :func:`evalkit.fairness.metrics_by_group`.
    score_range : (low, high) or None, default=(0.0, 1.0)
        Scores must lie in this closed range (probabilities by default); ``None`` or an empty
        sequence accepts any finite score.
    trusted_types : sequence of str, optional
        Extra types a skops model may contain (see :func:`evalkit.models.load_estimator`).
    run_id : str, optional
        MLflow run id to record in the result.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> ev = evaluate("adult-logreg", "data_manifests/adult_test.yaml")  # doctest: +SKIP
    >>> round(ev.overall["roc_auc"], 3)  # doctest: +SKIP
    0.903
    """
    check_settings(threshold=threshold, min_group_size=min_group_size, engine=engine, score_range=score_range)
    if isinstance(model, Mapping):
        model = ModelRef(**{**model, "path": Path(model["path"])})
    ref = model if isinstance(model, ModelRef) else resolve_model(model)
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    y_score = score(ref, ds, trusted_types=tuple(trusted_types))
    if score_range:
        check_score_range(ref, ds, y_score, _as_range(score_range))
    y_true = ds.y_true
    by_group = metrics_by_group(y_true, y_score, sensitive=ds.sensitive, threshold=threshold,
                                intersections=intersections, engine=engine)
    return Evaluation(
        model=ref,
        data=ds,
        y_score=y_score,
        threshold=float(threshold),
        overall=binary_metrics(y_true, y_score, threshold=threshold),
        by_group=by_group,
        disparities=disparities(by_group, min_group_size=min_group_size),
        small_groups=small_groups(by_group, min_group_size=min_group_size),
        min_group_size=min_group_size,
        run_id=run_id,
        engine=engine,
    )


def check_settings(*, threshold: float, min_group_size: int, engine: str,
                   score_range: Sequence[float] | None) -> None:
    """Validate the evaluation settings up front; each error names the parameter, the allowed values
    and what arrived.

    Raises
    ------
    ValueError
    """
    _check_threshold(threshold)
    if engine not in get_args(Engine):
        raise ValueError(f"engine must be one of {list(get_args(Engine))}, got {engine!r}")
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, int) or min_group_size < 1:
        raise ValueError(f"min_group_size must be a positive integer, got {min_group_size!r}")
    if score_range:
        _as_range(score_range)


def _as_range(score_range: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in score_range)
    except (TypeError, ValueError):
        raise ValueError(f"score_range must be two numbers [low, high], got {score_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"score_range must be two finite numbers with low < high, got {score_range!r}")
    return low, high


def git_commit() -> str:
    """The project's git commit (with ``-dirty`` if the tree has changes), or ``unknown``."""
    import subprocess

    from .tracking import project_root

    try:
        root = project_root()
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
