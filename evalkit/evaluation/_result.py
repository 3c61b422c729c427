"""The result of one evaluation (:class:`Evaluation`) and the ``metrics.json`` contract that other tools read;
shared by the in-memory and the out-of-core engines."""

from __future__ import annotations

import functools
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import atomic_write_json, atomic_write_parquet, release_free_memory
from .._version import __version__
from ..settings import EvaluationSettings, parse_rule
from ..models import ModelCost, measure_cost
from ..metrics import MetricsConfig
from ..data import Dataset
from ..data import group_columns
from ..metrics import (
    COUNT_METRICS,
    LOWER_IS_BETTER,
    METRIC_NAMES,
    undefined_reason,
)
from ..models import ModelRef
from ..metrics import OperatingPoint
from ..stats import Uncertainty

#: Version of the metrics.json layout; bumped on incompatible changes. Version 2 added intervals
#: (``overall_ci``, ``by_group_ci``, interval fields in ``disparities``), reference-group disparities,
#: multiple comparisons, threshold rules, per-group thresholds and custom metrics; the plain values
#: of version 1 (``overall``, ``by_group``) are unchanged.
SCHEMA_VERSION = 2
#: The per-sample scores file a report writes beside ``metrics.json`` (see :meth:`Evaluation.scores_frame`).
SCORES_FILE = "scores.parquet"


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
    engine : str
    operating_point : OperatingPoint
        The threshold rule, the threshold it gave, and a sentence describing it.
    config : MetricsConfig
        Custom metrics (their values are extra columns of ``by_group`` and keys of ``overall``).
    reference : DataFrame
        Each group against its feature's reference group; see
        :func:`evalkit.fairness.reference_disparities` (with intervals and p-values when bootstrapped).
    uncertainty : Uncertainty or None
        Bootstrap intervals (None when ``n_boot=0``).
    group_thresholds : DataFrame
        Indexed by ``(feature, group)``; see :func:`evalkit.thresholds.group_thresholds`.
    target_fpr : float
        The FPR the per-group thresholds aim at.
    balance : dict
        How the data were balanced: ``method`` (``none``, ``downsample``, ``weights``), ``by``,
        ``target``, ``rows_before``, ``rows_after``.
    composition_before, composition : DataFrame
        Group counts and shares before and after balancing (see :func:`evalkit.balance.composition`).
    sample_weight : ndarray or None
        The weights every metric used (balancing weights, user weights, or None).
    cost : ModelCost or None
        What the model costs to run (see :func:`evalkit.cost.measure_cost`); set by the report notebook.
    scale : dict or None
        For the out-of-core engines (``stream``, ``dask``; see :mod:`evalkit.scale`): rows, chunks, workers,
        seconds, scheduler and binning; ``data`` then holds the manifest but no rows and ``y_score`` is empty.
    settings : EvaluationSettings or None
        The settings it was computed with.
    slices : evalkit.slices.SliceSearch or None
        The search for failing slices at the operating threshold (None when ``slice_metric='none'``).
    tables : ScaleTables or None
        The merged histograms behind an out-of-core evaluation (its curves are drawn from them).
    groupings : dict of str to Series or None
        ``group_columns(data.sensitive)``: every feature and intersection as a categorical (built on first
        use when None).
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
    operating_point: OperatingPoint | None = None
    config: MetricsConfig = field(default_factory=MetricsConfig)
    reference: pd.DataFrame = field(default_factory=pd.DataFrame)
    uncertainty: Uncertainty | None = None
    group_thresholds: pd.DataFrame = field(default_factory=pd.DataFrame)
    target_fpr: float = math.nan
    balance: dict[str, Any] = field(default_factory=lambda: {"method": "none"})
    composition_before: pd.DataFrame = field(default_factory=pd.DataFrame)
    composition: pd.DataFrame = field(default_factory=pd.DataFrame)
    sample_weight: np.ndarray | None = None
    cost: ModelCost | None = None
    scale: dict[str, Any] | None = None
    tables: Any = None
    settings: EvaluationSettings | None = None
    slices: Any = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    groupings: dict[str, pd.Series] | None = field(default=None, repr=False, compare=False)
    _groups: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)
    _descending: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n(self) -> int:
        """Rows evaluated (also for the out-of-core engines, which hold none)."""
        return int(self.scale["rows"]) if self.scale is not None else len(self.data)

    @property
    def metric_names(self) -> list[str]:
        """Built-in then custom metric names, in report order."""
        return list(METRIC_NAMES) + self.config.names

    @property
    def lower_is_better(self) -> frozenset[str]:
        """Metrics (built-in and custom) for which a lower value is better."""
        return LOWER_IS_BETTER | self.config.lower_is_better

    def interval(self, metric: str, feature: str | None = None, group: str | None = None) -> tuple[float, float]:
        """``(ci_low, ci_high)`` of a metric, overall or for one group; NaN when no interval was computed."""
        if self.uncertainty is None:
            return math.nan, math.nan
        return self.uncertainty.interval(feature, group, metric)

    @property
    def y_true(self) -> np.ndarray:
        """0/1 labels, in dataset order."""
        return self.data.y_true

    def group_values(self, feature: str) -> np.ndarray:
        """The group of every sample for ``feature`` (a sensitive feature or an ``a&b`` intersection).

        An object array whose items are the group names themselves, one object per group, not one per sample
        (a categorical's ``to_numpy()`` built a string per sample: about 56 MB per feature at 10^6 rows); NaN
        where the group is missing."""
        if feature not in self._groups:
            column = self._grouping(feature)
            if isinstance(column.dtype, pd.CategoricalDtype):
                names = np.append(np.asarray(column.cat.categories, dtype=object), np.nan)
                self._groups[feature] = names[column.cat.codes.to_numpy()]  # code -1 (missing) reads the NaN
            else:
                self._groups[feature] = column.to_numpy()
        return self._groups[feature]

    def _grouping(self, feature: str) -> pd.Series:
        """``feature``'s group column as a categorical (the group columns built on first use)."""
        if self.groupings is None:
            self.groupings = group_columns(self.data.sensitive)
        return self.groupings[feature]

    def curve_counts(self, feature: str | None = None) -> dict[str | None, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The counts behind the ROC, DET and precision-recall curves: for every group of ``feature`` (or for all
        samples, key ``None``, when ``feature`` is None), the weighted false and true positives accepted at each
        distinct score and that score, from the highest score down (scikit-learn's ``_binary_clf_curve``).

        One sort of all the scores serves every feature; each group's samples are then taken in that order by a
        stable sort of the group codes (linear for small integers), instead of one sort per group and curve.

        Returns
        -------
        dict
            Group name (or None) to ``(fps, tps, thresholds)``, arrays of the group's distinct scores.
        """
        if self._descending is None:
            self._descending = np.argsort(-self.y_score, kind="stable")
        order = self._descending
        y, s = self.y_true[order], self.y_score[order]
        w = np.ones(y.size) if self.sample_weight is None else self.sample_weight[order]
        if feature is None:
            return {None: _clf_counts(y, s, w)}
        column = self._grouping(feature)
        codes = column.cat.codes.to_numpy()[order]
        within = np.argsort(codes, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(column.cat.categories)))]
        out = {}
        for g, name in enumerate(column.cat.categories):
            idx = within[bounds[g]:bounds[g + 1]]
            if idx.size:
                out[str(name)] = _clf_counts(y[idx], s[idx], w[idx])
        return out

    def undefined(self) -> list[dict[str, str]]:
        """Every undefined value with its scope and reason (``scope`` is ``overall`` or ``feature=group``)."""
        notes = []
        rows = [("overall", None, None, self.overall)]
        rows += [("by_group", f, g, r.to_dict()) for (f, g), r in self.by_group.iterrows()]
        for scope, feature, group, values in rows:
            for metric in self.metric_names:
                if _is_missing(values[metric]):
                    reason = undefined_reason(metric, values) if metric in METRIC_NAMES else None
                    note = {"scope": scope, "metric": metric, "reason": reason or "undefined"}
                    if feature is not None:
                        note.update(feature=feature, group=group)
                    notes.append(note)
        return notes

    def slice_search(self, metric: str) -> Any:
        """The failing slices on ``metric``: :attr:`slices` when it searched that metric, else a new search with
        the same settings and costs."""
        if self.slices is not None and self.slices.settings.metric == metric:
            return self.slices
        st = (self.settings or EvaluationSettings()).replace(slice_metric=metric)
        return search_slices(self.data, self.y_true, self.y_score, self.threshold, st, *costs(st, self.config))

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` document (JSON-ready: NaN becomes ``null``)."""
        from .. import tracking

        names = self.metric_names
        u = self.uncertainty
        by_group: dict[str, dict[str, dict[str, Any]]] = {}
        by_group_ci: dict[str, dict[str, dict[str, Any]]] = {}
        for (feature, group), row in self.by_group.iterrows():
            by_group.setdefault(feature, {})[group] = _metric_dict(row.to_dict(), names)
            if u is not None:
                ci = u.by_group.loc[(feature, group)]
                by_group_ci.setdefault(feature, {})[group] = {
                    m: _ci_dict(row[m], *_ci_pair(ci, m)) for m in names}
        disp: dict[str, dict[str, dict[str, Any]]] = {}
        for (feature, metric), row in self.disparities.iterrows():
            entry = {
                "difference": _json_float(row["difference"]),
                "ratio": _json_float(row["ratio"]),
                "worst_group": None if _is_missing(row["worst_group"]) else row["worst_group"],
                "best_group": None if _is_missing(row["best_group"]) else row["best_group"],
                "groups_compared": int(row["groups_compared"]),
            }
            if u is not None:
                ci = u.disparities.loc[(feature, metric)]
                entry.update({k: _json_float(ci[k]) for k in ci.index})
            disp.setdefault(feature, {})[metric] = entry
        reference: dict[str, dict[str, dict[str, Any]]] = {}
        for (feature, metric, group), row in self.reference.iterrows():
            entry = {k: (_json_float(v) if k not in ("reference", "significant") else
                         (bool(v) if k == "significant" else v)) for k, v in row.items()}
            reference.setdefault(feature, {}).setdefault(metric, {})[group] = entry
        thresholds: dict[str, dict[str, dict[str, Any]]] = {}
        for (feature, group), row in self.group_thresholds.iterrows():
            thresholds.setdefault(feature, {})[group] = {k: _json_float(v) for k, v in row.items()}
        m = self.data.manifest
        op = self.operating_point
        doc = {
            "schema_version": SCHEMA_VERSION,
            "model": self.model.name,
            "model_source": {"spec": self.model.spec, "kind": self.model.kind, "uri": self.model.uri,
                             "version": self.model.version, "sha256": self.model.sha256},
            "datasets": self._datasets(),
            "suite": m.name if "members" in m.extra else None,
            "balance": self.balance,
            "composition": _composition_dict(self.composition),
            "composition_before": _composition_dict(self.composition_before),
            "threshold": self.threshold,
            "threshold_rule": op.rule if op else "fixed",
            "threshold_description": op.description if op else f"fixed at {self.threshold:g}",
            "n": self.n,
            "sensitive_features": list(m.sensitive_features),
            "min_group_size": self.min_group_size,
            "engine": self.engine,
            "engine_details": self.scale,
            "metrics": names,
            "custom_metrics": [{"name": c.name, "kind": c.kind, "description": c.description,
                                "greater_is_better": c.greater_is_better} for c in self.config.metrics],
            "overall": _metric_dict(self.overall, names),
            "overall_ci": ({k: _ci_dict(self.overall[k], *((u.overall.loc[k, "ci_low"], u.overall.loc[k, "ci_high"])
                                                          if k in u.overall.index else (None, None)))
                            for k in names} if u is not None else None),
            "by_group": by_group,
            "by_group_ci": by_group_ci if u is not None else None,
            "bootstrap": ({"method": "poisson", "n_boot": u.n_boot, "level": u.level, "seed": u.seed,
                           "exact_bins": u.exact_bins} if u is not None else None),
            "interval_methods": ({"by_metric": dict(u.methods), "disparities": dict(u.disparity_methods),
                                  "reference_disparities": "percentile"} if u is not None else None),
            "disparities": disp,
            "reference_disparities": reference,
            "multiple_comparisons": self._comparisons(),
            "target_fpr": _json_float(self.target_fpr),
            "group_thresholds": thresholds,
            "small_groups": [{"feature": r.feature, "group": r.group, "n": int(r.n)}
                             for r in self.small_groups.itertuples()],
            "undefined": self.undefined(),
            "cost": self.cost.to_dict() if self.cost is not None else None,
            "slices": self.slices.to_dict() if self.slices is not None else None,
            "mlflow_run_id": self.run_id,
            "mlflow_tracking_uri": tracking.tracking_uri() if self.run_id else None,
            "created": self.created,
            "versions": versions(),
        }
        return doc

    def _datasets(self) -> list[dict[str, Any]]:
        counts = self.data.frame["dataset"].value_counts() if "members" in self.data.manifest.extra else None
        return [{"name": m.name, "source": m.source, "sha256": m.sha256, "manifest": m.manifest_path.name,
                 "n": int(counts.get(m.name, 0)) if counts is not None else self.n}
                for m in self.data.members]

    def _comparisons(self) -> dict[str, Any] | None:
        u = self.uncertainty
        if u is None:
            return None
        ref = u.reference
        tested = ref[ref["p_value"].notna()]
        surviving = tested[tested["significant"]].sort_values("p_adjusted", kind="stable")
        return {
            "method": "Benjamini-Hochberg",
            "null_hypothesis": "|group - reference| <= tolerance",
            "tolerance": u.tolerance,
            "fdr": u.fdr,
            "tested": int(len(tested)),
            "surviving": [{"feature": f, "metric": mt, "group": g, "reference": r["reference"],
                           "difference": _json_float(r["difference"]), "p_adjusted": _json_float(r["p_adjusted"])}
                          for (f, mt, g), r in surviving.iterrows()],
        }

    def scores_frame(self) -> pd.DataFrame:
        """One row per evaluated sample: ``id``, ``dataset``, ``y_true``, ``score``, ``weight`` and the
        sensitive features; what :mod:`evalkit.compare` pairs two models' runs on (``scores.parquet``)."""
        frame, n = self.data.frame, len(self.data)

        def text(column: pd.Series) -> Any:
            # pandas' str column as is: to_numpy() made one Python string per row (about 60 MB per column at
            # 10^6 rows, five columns at the report's peak) for pyarrow to turn back into the same column
            return column.astype(str).reset_index(drop=True).array

        out = pd.DataFrame({
            "id": text(self.data.ids),
            "dataset": (text(frame["dataset"]) if "dataset" in frame.columns
                        else pd.array(np.full(n, self.data.name, dtype=object), dtype="str")),
            "y_true": self.y_true.astype(np.int8),
            "score": np.asarray(self.y_score, dtype=np.float64),
            "weight": (np.ones(n) if self.sample_weight is None
                       else np.asarray(self.sample_weight, dtype=np.float64)),
        })
        for feature in self.data.manifest.sensitive_features:
            out[f"group:{feature}"] = text(frame[feature])
        return out

    def measure_cost(self) -> ModelCost | None:
        """Measure what the model costs to run (``settings.cost_repetitions`` timed single-row calls; 0 skips
        it) and keep it in :attr:`cost` for the report's cost section and ``metrics.json``."""
        st = self.settings
        if st is None or not st.cost_repetitions:
            self.cost = None
        else:
            self.cost = measure_cost(self.model, self.data, repetitions=st.cost_repetitions,
                                     trusted_types=st.trusted_types)
            release_free_memory()  # three loads of the model and a traced batch: their pages back to the system
        return self.cost

    def save(self, output_dir: str | Path | None) -> Path | None:
        """Write ``metrics.json`` and ``scores.parquet`` (:meth:`scores_frame`; not for an out-of-core evaluation,
        which holds no rows) into ``output_dir`` atomically (nothing when ``output_dir`` is None); returns the
        path of ``metrics.json``."""
        if output_dir is None:
            return None
        if self.scale is None:
            atomic_write_parquet(Path(output_dir) / SCORES_FILE, self.scores_frame())
            release_free_memory()  # the frame and Arrow's copy of it: their pages back before the figures
        return atomic_write_json(Path(output_dir) / "metrics.json", self.to_dict())


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _json_float(value: Any) -> float | None:
    return None if _is_missing(value) else float(value)


def _metric_dict(values: Mapping[str, Any], names: Sequence[str] = METRIC_NAMES) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        v = _json_float(values[name])
        out[name] = int(round(v)) if v is not None and name in COUNT_METRICS and float(v).is_integer() else v
    return out


def _composition_dict(frame: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (feature, group), row in frame.iterrows():
        out.setdefault(feature, {})[group] = {k: (bool(v) if k == "small" else
                                                  int(v) if k.startswith("n") else _json_float(v))
                                              for k, v in row.items()}
    return out


def _ci_pair(ci: pd.Series, metric: str) -> tuple[float, float]:
    if (metric, "ci_low") not in ci.index:
        return math.nan, math.nan
    return ci[(metric, "ci_low")], ci[(metric, "ci_high")]


def _ci_dict(value: Any, low: Any, high: Any) -> dict[str, float | None]:
    return {"value": _json_float(value), "ci_low": _json_float(low), "ci_high": _json_float(high)}


def versions() -> dict[str, str]:
    """Versions of evalkit, Python, the libraries that compute the numbers, and numpy's BLAS with the machine's
    architecture (a different BLAS or CPU may round sums differently in the last digits)."""
    from importlib.metadata import version

    out = {"evalkit": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "pandas", "scikit-learn", "fairlearn", "scipy"):
        out[pkg] = version(pkg)
    out["blas"] = f"{_blas()} on {platform.machine()}"
    return out


@functools.cache
def _blas() -> str:
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # an unusual numpy build: the versions still say which numpy
        return "unknown"


def git_commit() -> str:
    """The project's git commit (with ``-dirty`` if the tree has changes), or ``unknown``."""
    import subprocess

    from ..tracking import project_root

    try:
        root = project_root()
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def add_count_metrics(config: MetricsConfig, by_group: pd.DataFrame, overall: Mapping[str, float]
                      ) -> tuple[pd.DataFrame, dict[str, float]]:
    """The configuration's count (cost) metrics as extra columns of ``by_group`` and keys of ``overall``, from
    their ``tp``, ``fp``, ``tn``, ``fn`` (the same for the in-memory and the out-of-core engines)."""
    by_group, overall = by_group.copy(), dict(overall)
    for name, fn in config.count_metrics().items():
        by_group[name] = fn(*(by_group[k].to_numpy() for k in ("tp", "fp", "tn", "fn")))
        overall[name] = float(fn(*(np.array([overall[k]]) for k in ("tp", "fp", "tn", "fn")))[0])
    return by_group, overall


def target_fpr_for(st: EvaluationSettings, overall_fpr: float) -> float:
    """The FPR of the per-group threshold analysis: the settings' ``target_fpr``, else the rule's target for
    ``fpr=...``, else the overall FPR at the chosen threshold (the same for both engines)."""
    if st.target_fpr is not None:
        return st.target_fpr
    name, target = parse_rule(st.threshold_rule)
    return target if name == "fpr" and target is not None else overall_fpr


def costs(st: EvaluationSettings, config: MetricsConfig) -> tuple[float, float]:
    """The costs of a false positive and a false negative: the settings', else the metrics configuration's,
    else 1."""
    def pick(given: float | None, configured: float | None) -> float:
        return given if given is not None else (configured if configured is not None else 1.0)

    return pick(st.cost_fp, config.cost_fp), pick(st.cost_fn, config.cost_fn)


def slice_columns(ds: Dataset) -> list[str]:
    """The columns a slice search looks at: the sensitive features, then the model's inputs."""
    inputs = list(ds.manifest.feature_columns or ())
    return list(dict.fromkeys([*ds.sensitive.columns, *inputs]))


def slice_frame(ds: Dataset) -> pd.DataFrame:
    """The table a slice search runs on (and its queries read): :func:`slice_columns`, the sensitive features as
    the report names their groups, one row per sample in evaluation order. Its columns share the dataset's
    memory (copy on write): at 10^6 rows a copy was about 100 MB at the report's peak."""
    columns = [c for c in slice_columns(ds) if c in ds.frame.columns or c in ds.sensitive.columns]
    return pd.DataFrame({c: (ds.sensitive[c] if c in ds.sensitive.columns else ds.frame[c]).reset_index(drop=True)
                         for c in columns}, copy=False)


def search_slices(ds: Dataset, y_true: np.ndarray, y_score: np.ndarray, threshold: float, st: EvaluationSettings,
                  cost_fp: float, cost_fn: float) -> Any:
    """The search for failing slices on ``st.slice_metric`` at the operating threshold (None when it is
    ``"none"``), with the evaluation's group size, false discovery rate, level and costs."""
    if st.slice_metric == "none":
        return None
    from ..slices import find_slices

    frame = slice_frame(ds)
    return find_slices(frame, y_true, (y_score >= threshold).astype(np.int64), columns=list(frame.columns),
                       y_score=y_score, metric=st.slice_metric, max_terms=st.slice_terms, min_support=st.min_group_size,
                       fdr=st.fdr, level=st.ci_level, cost_fp=cost_fp, cost_fn=cost_fn)


def _clf_counts(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fps, tps, thresholds) at each distinct score of samples sorted by descending score."""
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(w * y)[last]
    fps = np.cumsum(w * (1 - y))[last]
    return fps, tps, s[last]
