"""evalkit as an MLflow model evaluator: ``mlflow.models.evaluate(..., evaluators=["evalkit"])``.

Registered through the ``mlflow.model_evaluator`` entry point (``pyproject.toml``), so once evalkit is
installed::

    mlflow.models.evaluate(
        "models:/adult-hgb/1", test_frame, targets="income", model_type="classifier",
        evaluators=["evalkit"],
        evaluator_config={"evalkit": {"sensitive_features": ["sex", "race", "age_band"], "positive_label": ">50K"}},
    )

(with ``evaluators="evalkit"``, a string, ``evaluator_config`` is the inner dict itself: MLflow's rule)

logs the full evalkit report to the evaluation's run: every overall and per-group metric with its
interval, the disparities, ``metrics.json``, ``scores.parquet``, the executed notebook, the figures and the
self-contained ``report.html`` (shown by the MLflow UI's artifact viewer). The run can then be compared with
others by ``make compare``.

The model's scores (``predict`` output: the positive class's column of a probability matrix, or one score
per row) and the evaluation rows are written to a temporary dataset with a manifest, and the ordinary
report pipeline (:func:`evalkit.report.run_report`) runs on them, attached to the run.

``evaluator_config`` keys
-------------------------
sensitive_features : list of str, or DataFrame (required)
    Columns of the evaluation data holding the demographic groups, or a frame of them with one row per
    sample.
positive_label : default 1
    The label value of the positive class.
threshold, threshold_rule, n_boot, ci_level, seed, min_group_size, reference, tolerance, fdr
    As for ``make report`` (same defaults).
model_name : str, default "mlflow-model"
    What the report calls the model.
id_column : str, optional
    A column of unique sample ids (default: the row number).
output_root : str, optional
    Also keep the report in ``<output_root>/<model_name>/`` (default: a temporary folder, removed).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models.evaluation import EvaluationResult, ModelEvaluator

from .._io import environment_variable
from ..settings import EvaluationSettings, RunOptions, field_names

#: The evaluator_config keys passed to the report: the fields of :class:`~evalkit.settings.EvaluationSettings`
#: that apply to scores handed over by MLflow (not the out-of-core engines, the score range or model loading).
REPORT_KEYS = tuple(name for name in field_names(EvaluationSettings)
                    if name not in ("engine", "scheduler", "chunk_rows", "score_range", "trusted_types"))
_KEYS = frozenset({"sensitive_features", "positive_label", "model_name", "id_column", "output_root", *REPORT_KEYS})


def _config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    config = dict(config or {})
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise ValueError(f"evaluator_config: unknown key(s) {unknown} for the evalkit evaluator; known keys are "
                         f"{sorted(_KEYS)}")
    if "sensitive_features" not in config:
        raise ValueError("evaluator_config: 'sensitive_features' is required by the evalkit evaluator (the columns of "
                         "the data, or a DataFrame with one row per sample, holding the demographic groups)")
    return config


def _sensitive(config: dict[str, Any], features: pd.DataFrame) -> pd.DataFrame:
    value = config["sensitive_features"]
    if isinstance(value, pd.DataFrame):
        if len(value) != len(features):
            raise ValueError(f"evaluator_config['sensitive_features'] has {len(value)} rows; the data have "
                             f"{len(features)}")
        return value.reset_index(drop=True).astype(str)
    names = [value] if isinstance(value, str) else list(value)
    missing = [c for c in names if c not in features.columns]
    if not names or missing:
        raise ValueError(f"evaluator_config['sensitive_features']: column(s) {missing or names} not in the evaluation "
                         f"data; its columns are {list(features.columns)}")
    return features[names].reset_index(drop=True).astype(str)


def positive_scores(output: Any, n: int) -> np.ndarray:
    """The positive class's scores from a model's ``predict`` output: the last column of an ``(n, 2)``
    probability matrix, or one number per row.

    Raises
    ------
    ValueError
        If the output is not ``n`` scores or an ``(n, 2)`` matrix.
    """
    values = np.asarray(output.to_numpy() if isinstance(output, (pd.DataFrame, pd.Series)) else output, dtype=float)
    if values.ndim == 2 and values.shape[1] == 2:
        values = values[:, 1]
    elif values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(f"the model's predict returned shape {np.shape(output)}; the evalkit evaluator needs one "
                         f"score per row ({n}) or an ({n}, 2) matrix of class probabilities")
    return values


class EvalkitEvaluator(ModelEvaluator):
    """The ``evalkit`` evaluator of :func:`mlflow.models.evaluate` (see the module docstring)."""

    @classmethod
    def can_evaluate(cls, *, model_type: str, evaluator_config: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        """Binary classifiers."""
        return model_type == "classifier"

    def evaluate(self, *, model_type: str, dataset: Any, run_id: str, evaluator_config: Mapping[str, Any] | None,
                 model: Any = None, predictions: str | None = None, **kwargs: Any) -> EvaluationResult:
        """Score the data, run the evalkit report into ``run_id`` and return its metrics and report."""
        from mlflow.models.evaluation.artifacts import JsonEvaluationArtifact, TextEvaluationArtifact

        import mlflow

        from .. import tracking
        from ._report import run_report

        config = _config(evaluator_config)
        features = dataset.features_data.reset_index(drop=True)
        labels = pd.Series(np.asarray(dataset.labels_data)).reset_index(drop=True)
        sensitive = _sensitive(config, features)
        positive = config.get("positive_label", 1)
        values = sorted(labels.astype(str).unique())
        if str(positive) not in values or len(values) > 2:
            raise ValueError(f"evaluator_config['positive_label'] = {positive!r}: the evalkit evaluator evaluates binary "
                             f"classifiers; the targets hold {values[:10]}")
        if dataset.has_predictions:
            scores = positive_scores(dataset.predictions_data, len(features))
        elif model is not None:
            scores = positive_scores(model.predict(features), len(features))
        else:
            raise ValueError("the evalkit evaluator needs a model or a predictions column")
        ids = (features[config["id_column"]].astype(str) if config.get("id_column")
               else pd.Series([f"row-{i:09d}" for i in range(len(features))]))
        if ids.duplicated().any():
            raise ValueError(f"evaluator_config['id_column'] = {config['id_column']!r} has repeated values")
        name = config.get("model_name", "mlflow-model")
        folder = Path(tempfile.mkdtemp(prefix="evalkit-mlflow-"))
        # evalkit logs into the store that holds the evaluation's run: MLflow's current tracking URI
        try:
            with environment_variable("MLFLOW_TRACKING_URI", mlflow.get_tracking_uri()):
                manifest, preds = _write_inputs(folder, name, ids, labels.astype(str), str(positive), sensitive,
                                                scores, getattr(dataset, "name", None) or "mlflow_dataset")
                output_root = Path(config["output_root"]) if config.get("output_root") else folder / "reports"
                settings = EvaluationSettings.build(score_range=None,
                                                    **{k: config[k] for k in REPORT_KEYS if k in config})
                result = run_report(str(preds), manifest, settings=settings,
                                    options=RunOptions(output_root=str(output_root), attach_to=run_id,
                                                       progress=False))
                html = result.html.read_text()
                run = tracking.get_run(run_id)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        metrics = {k: v for k, v in run.data.metrics.items() if isinstance(v, float) and math.isfinite(v)}
        base = run.info.artifact_uri.rstrip("/")
        return EvaluationResult(metrics=metrics, run_id=run_id, artifacts={
            "evalkit_report": TextEvaluationArtifact(uri=f"{base}/report.html", content=html),
            "evalkit_metrics": JsonEvaluationArtifact(uri=f"{base}/metrics.json", content=result.metrics)})


def _write_inputs(folder: Path, name: str, ids: pd.Series, labels: pd.Series, positive: str, sensitive: pd.DataFrame,
                  scores: np.ndarray, dataset_name: str) -> tuple[Path, Path]:
    """The evaluation rows as a dataset with a manifest, and the scores as a predictions file."""
    from .._io import atomic_write_text
    from ..data import write_dataset
    from ..models import SCORE_COLUMN, safe_name

    label_column = "label" if "label" not in sensitive.columns else "_label"
    frame = pd.concat([pd.DataFrame({"id": ids.to_numpy(), label_column: labels.to_numpy()}), sensitive], axis=1)
    manifest = write_dataset(frame, folder / "data.csv", folder / "data.yaml", fields={
        "name": safe_name(dataset_name), "source": "benchmark",
        "description": "evaluation data passed to mlflow.models.evaluate", "id_column": "id",
        "label_column": label_column, "positive_label": positive, "sensitive_features": list(sensitive.columns),
        "license": "as the data passed to mlflow.models.evaluate"})
    preds = folder / f"{safe_name(name)}.csv"
    atomic_write_text(preds, pd.DataFrame({"id": ids.to_numpy(), SCORE_COLUMN: scores}).to_csv(
        index=False, float_format="%.17g"))
    return manifest, preds
