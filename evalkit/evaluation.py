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

from ._io import atomic_write_json, atomic_write_parquet
from ._version import __version__
from .balance import Balance, balance_groups, balancing_weights, composition, downsample
from .cost import ModelCost
from .custom import MetricsConfig, function_metrics_by_group, load_metrics_config
from .data import Dataset, load_dataset
from .fairness import (
    DISPARITY_METRICS,
    Engine,
    check_reference,
    disparities,
    group_columns,
    metrics_by_group,
    reference_disparities,
    small_groups,
)
from .metrics import (
    COUNT_METRICS,
    LOWER_IS_BETTER,
    METRIC_NAMES,
    _check_threshold,
    binary_metrics,
    check_sample_weight,
    undefined_reason,
)
from .models import ModelRef, check_score_range, resolve_model, score
from .thresholds import OperatingPoint, choose_threshold, group_thresholds, parse_rule
from .uncertainty import Uncertainty, check_uncertainty_settings, estimate_uncertainty

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
    tables : ScaleTables or None
        The merged histograms behind an out-of-core evaluation (its curves are drawn from them).
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
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _groups: dict[str, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)

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
            for metric in self.metric_names:
                if _is_missing(values[metric]):
                    reason = undefined_reason(metric, values) if metric in METRIC_NAMES else None
                    note = {"scope": scope, "metric": metric, "reason": reason or "undefined"}
                    if feature is not None:
                        note.update(feature=feature, group=group)
                    notes.append(note)
        return notes

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` document (JSON-ready: NaN becomes ``null``)."""
        from . import tracking

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
            "disparities": disp,
            "reference_disparities": reference,
            "multiple_comparisons": self._comparisons(),
            "target_fpr": _json_float(self.target_fpr),
            "group_thresholds": thresholds,
            "small_groups": [{"feature": r.feature, "group": r.group, "n": int(r.n)}
                             for r in self.small_groups.itertuples()],
            "undefined": self.undefined(),
            "cost": self.cost.to_dict() if self.cost is not None else None,
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
        frame = self.data.frame
        out = pd.DataFrame({
            "id": self.data.ids.astype(str).to_numpy(),
            "dataset": (frame["dataset"].astype(str).to_numpy() if "dataset" in frame.columns
                        else np.full(len(frame), self.data.name, dtype=object)),
            "y_true": self.y_true.astype(np.int8),
            "score": np.asarray(self.y_score, dtype=np.float64),
            "weight": (np.ones(len(frame)) if self.sample_weight is None
                       else np.asarray(self.sample_weight, dtype=np.float64)),
        })
        for feature in self.data.manifest.sensitive_features:
            out[f"group:{feature}"] = self.data.frame[feature].astype(str).to_numpy()
        return out

    def save(self, output_dir: str | Path | None) -> Path | None:
        """Write ``metrics.json`` and ``scores.parquet`` (:meth:`scores_frame`; not for an out-of-core evaluation,
        which holds no rows) into ``output_dir`` atomically (nothing when ``output_dir`` is None); returns the
        path of ``metrics.json``."""
        if output_dir is None:
            return None
        if self.scale is None:
            atomic_write_parquet(Path(output_dir) / SCORES_FILE, self.scores_frame())
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
    threshold_rule: str = "fixed",
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    min_group_size: int = 30,
    intersections: bool = True,
    engine: Engine = "vectorised",
    score_range: Sequence[float] | None = (0.0, 1.0),
    metrics_config: str | Path | MetricsConfig | None = None,
    n_boot: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    reference: Mapping[str, str] | None = None,
    tolerance: float = 0.05,
    fdr: float = 0.05,
    target_fpr: float | None = None,
    sample_weight: np.ndarray | None = None,
    balance: Balance = "none",
    balance_by: str | None = None,
    balance_target: Mapping[str, float] | None = None,
    trusted_types: Sequence[str] = (),
    run_id: str | None = None,
    progress: bool = False,
    scheduler: str | None = None,
    chunk_rows: int = 1_000_000,
) -> Evaluation:
    """Evaluate a model on a dataset: overall and per-group metrics with confidence intervals,
    disparities, and the operating point.

    Parameters
    ----------
    model : ModelRef, str or dict
        A resolved model, any ``MODEL`` value accepted by :func:`evalkit.resolve_model`, or the
        fields of a :class:`~evalkit.models.ModelRef` as a dict (how the report pipeline passes an
        already resolved model to the notebook).
    data : Dataset or path-like
        A loaded dataset or the path of its manifest.
    threshold : float, default=0.5
        Decision threshold for ``threshold_rule="fixed"``: ``score >= threshold`` is positive.
    threshold_rule : str, default="fixed"
        How the threshold is chosen: ``fixed``, ``eer``, ``fpr=<target>``, ``recall=<target>`` or
        ``cost`` (see :mod:`evalkit.thresholds`).
    cost_fp, cost_fn : float, optional
        Costs for ``threshold_rule="cost"`` (default: the ``costs`` section of the metrics
        configuration, else 1 and 1).
    min_group_size : int, default=30
        Groups smaller than this are flagged and left out of disparities.
    intersections : bool, default=True
        Also evaluate pairwise intersections of the sensitive features.
    engine : {"vectorised", "fairlearn", "stream", "dask"}, default="vectorised"
        In memory: see :func:`evalkit.fairness.metrics_by_group`. Out of core (data of any size, read in
        chunks; see :mod:`evalkit.scale`): ``"stream"`` in this process, ``"dask"`` on a ``dask.distributed``
        cluster (``scheduler``, default a local one); fixed threshold, built-in metrics, no balancing.
    score_range : (low, high) or None, default=(0.0, 1.0)
        Scores must lie in this closed range (probabilities by default); ``None`` or an empty
        sequence accepts any finite score.
    metrics_config : path-like or MetricsConfig, optional
        Custom metrics (see :mod:`evalkit.custom`).
    n_boot : int, default=1000
        Bootstrap resamples for confidence intervals; 0 skips intervals.
    ci_level : float, default=0.95
        Confidence level of the intervals.
    seed : int, default=0
        Seed of the bootstrap: the same seed gives the same intervals.
    reference : dict of str to str, optional
        Reference group per feature (default: each feature's largest group).
    tolerance : float, default=0.05
        Differences to the reference group up to this size are not of interest (multiple comparisons).
    fdr : float, default=0.05
        False discovery rate of the Benjamini-Hochberg correction.
    target_fpr : float, optional
        FPR for the per-group threshold analysis (default: the rule's target for ``fpr=``, else the
        overall FPR at the chosen threshold).
    sample_weight : ndarray, optional
        Non-negative weight per sample; every metric and interval becomes weighted.
    balance : {"none", "downsample", "weights"}, default="none"
        Demographic balancing (see :mod:`evalkit.balance`): a seeded stratified down-sample with
        equal group sizes (or ``balance_target`` shares), or weights with the same effect that keep
        every row. The report shows the composition before and after.
    balance_by : str, optional
        The feature or intersection (``"sex&race"``) to balance; default the first sensitive feature.
    balance_target : dict of str to float, optional
        Target share of each group of ``balance_by`` (default equal shares).
    trusted_types : sequence of str, optional
        Extra types a skops model may contain (see :func:`evalkit.models.load_estimator`).
    run_id : str, optional
        MLflow run id to record in the result.
    progress : bool, default=False
        Print bootstrap progress.
    scheduler : str, optional
        For ``engine="dask"``: the scheduler address (default: a ``LocalCluster`` on 127.0.0.1 for the run).
    chunk_rows : int, default=1,000,000
        For the out-of-core engines: rows per chunk.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> ev = evaluate("adult-logreg", "data_manifests/adult_test.yaml")  # doctest: +SKIP
    >>> round(ev.overall["roc_auc"], 3)  # doctest: +SKIP
    0.903
    """
    check_settings(threshold=threshold, min_group_size=min_group_size, engine=engine, score_range=score_range,
                   threshold_rule=threshold_rule, n_boot=n_boot, ci_level=ci_level, seed=seed,
                   tolerance=tolerance, fdr=fdr, target_fpr=target_fpr, balance=balance)
    config = metrics_config if isinstance(metrics_config, MetricsConfig) else load_metrics_config(metrics_config)
    if isinstance(model, Mapping):
        model = ModelRef(**{**model, "path": Path(model["path"])})
    ref = model if isinstance(model, ModelRef) else resolve_model(model)
    if engine in ("stream", "dask"):
        from .scale import evaluate_at_scale

        if config.metrics or sample_weight is not None or not intersections:
            raise ValueError(f"engine {engine!r} (out of core) computes the built-in metrics, unweighted, with "
                             "intersections: no metrics_config, sample_weight or intersections=False")
        return evaluate_at_scale(ref, data if not isinstance(data, Dataset) else data.manifest.manifest_path,
                                 engine=engine, scheduler=scheduler, chunk_rows=chunk_rows, threshold=threshold,
                                 min_group_size=min_group_size, n_boot=n_boot, ci_level=ci_level, seed=seed,
                                 reference=reference, tolerance=tolerance, fdr=fdr,
                                 score_range=_as_range(score_range), trusted_types=tuple(trusted_types),
                                 run_id=run_id, progress=progress)
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    check_reference(ds.sensitive, reference, intersections=intersections)
    balance_groups(ds.sensitive, balance, balance_by, balance_target)  # fail before scoring
    y_score = score(ref, ds, trusted_types=tuple(trusted_types))
    if score_range:
        check_score_range(ref, ds, y_score, _as_range(score_range))
    w = check_sample_weight(sample_weight, len(ds))
    composition_before = composition(ds.sensitive, ds.sources, min_group_size=min_group_size)
    balance_info: dict[str, Any] = {"method": balance, "rows_before": len(ds)}
    chosen = balance_groups(ds.sensitive, balance, balance_by, balance_target)
    if chosen is not None:
        by, groups = chosen
        balance_info.update(by=by, target=dict(balance_target) if balance_target else "equal shares")
        if balance == "downsample":
            rows = downsample(groups, target=balance_target, seed=seed)
            ds, y_score = ds.subset(rows), y_score[rows]
            w = None if w is None else w[rows]
        else:
            bw = balancing_weights(groups, target=balance_target)
            w = bw if w is None else w * bw
    balance_info["rows_after"] = len(ds)
    y_true = ds.y_true
    c_fp = cost_fp if cost_fp is not None else (config.cost_fp if config.cost_fp is not None else 1.0)
    c_fn = cost_fn if cost_fn is not None else (config.cost_fn if config.cost_fn is not None else 1.0)
    op = choose_threshold(y_true, y_score, threshold_rule, threshold=threshold, cost_fp=c_fp, cost_fn=c_fn,
                          sample_weight=w)
    thr = op.threshold
    groupings = group_columns(ds.sensitive, intersections=intersections)
    by_group = metrics_by_group(y_true, y_score, sensitive=ds.sensitive, threshold=thr,
                                intersections=intersections, engine=engine, sample_weight=w)
    overall = binary_metrics(y_true, y_score, threshold=thr, sample_weight=w)
    by_group, overall = _add_custom(config, by_group, overall, y_true, y_score, groupings, thr, w)
    compared = DISPARITY_METRICS + config.comparable
    lower = LOWER_IS_BETTER | config.lower_is_better
    disp = disparities(by_group, min_group_size=min_group_size, metrics=compared, lower_is_better=lower)
    ref_disp = reference_disparities(by_group, reference=reference, min_group_size=min_group_size, metrics=compared)
    uncertainty = None
    if n_boot:
        codes = {f: pd.factorize(g, sort=True)[0] for f, g in groupings.items()}
        uncertainty = estimate_uncertainty(
            y_true, y_score, codes, by_group=by_group, overall=overall, disparities=disp, reference=ref_disp,
            threshold=thr, min_group_size=min_group_size, level=ci_level, n_boot=n_boot, seed=seed,
            sample_weight=w, extra=config.count_metrics(), tolerance=tolerance, fdr=fdr,
            progress=_print_progress if progress else None)
        ref_disp = uncertainty.reference
    name, target = parse_rule(threshold_rule)
    target = target_fpr if target_fpr is not None else (target if name == "fpr" else overall["fpr"])
    thresholds = _group_thresholds(y_true, y_score, groupings, thr, target, w)
    return Evaluation(
        model=ref,
        data=ds,
        y_score=y_score,
        threshold=float(thr),
        overall=overall,
        by_group=by_group,
        disparities=disp,
        small_groups=small_groups(by_group, min_group_size=min_group_size),
        min_group_size=min_group_size,
        run_id=run_id,
        engine=engine,
        operating_point=op,
        config=config,
        reference=ref_disp,
        uncertainty=uncertainty,
        group_thresholds=thresholds,
        target_fpr=float(target) if target is not None else math.nan,
        balance=balance_info,
        composition_before=composition_before,
        composition=composition(ds.sensitive, ds.sources, min_group_size=min_group_size, weights=w),
        sample_weight=w,
    )


def _print_progress(done: int, total: int) -> None:
    print(f"bootstrap: {done}/{total} resamples", flush=True)


def _group_thresholds(y_true: np.ndarray, y_score: np.ndarray, groupings: Mapping[str, pd.Series], threshold: float,
                      target_fpr: float, w: np.ndarray | None) -> pd.DataFrame:
    if not (isinstance(target_fpr, float) and 0 < target_fpr < 1):
        return pd.DataFrame()
    parts = {f: group_thresholds(y_true, y_score, g, threshold=threshold, target_fpr=target_fpr, sample_weight=w)
             for f, g in groupings.items()}
    return pd.concat(parts, names=["feature", "group"])


def _add_custom(config: MetricsConfig, by_group: pd.DataFrame, overall: dict[str, float], y_true: np.ndarray,
                y_score: np.ndarray, groupings: Mapping[str, pd.Series], threshold: float,
                w: np.ndarray | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Custom metrics as extra columns (cost metrics from counts; functions through MetricFrame)."""
    if not config.metrics:
        return by_group, overall
    by_group, overall = by_group.copy(), dict(overall)
    for name, fn in config.count_metrics().items():
        by_group[name] = fn(*(by_group[k].to_numpy() for k in ("tp", "fp", "tn", "fn")))
        overall[name] = float(fn(*(np.array([overall[k]]) for k in ("tp", "fp", "tn", "fn")))[0])
    functions = config.function_metrics()
    if functions:
        try:
            f_overall, f_groups = function_metrics_by_group(functions, y_true, y_score, groupings,
                                                            threshold=threshold, sample_weight=w)
        except TypeError as err:
            raise ValueError(f"a custom metric function in {config.path} cannot be called as "
                             f"f(y_true, y, **kwargs): {err}") from err
        overall.update(f_overall)
        by_group = by_group.join(f_groups)
    return by_group[list(METRIC_NAMES) + config.names], overall


def check_settings(*, threshold: float, min_group_size: int, engine: str, score_range: Sequence[float] | None,
                   threshold_rule: str = "fixed", n_boot: int = 1000, ci_level: float = 0.95, seed: int = 0,
                   tolerance: float = 0.05, fdr: float = 0.05, target_fpr: float | None = None,
                   balance: str = "none") -> None:
    """Validate the evaluation settings up front; each error names the parameter, the allowed values
    and what arrived.

    Raises
    ------
    ValueError
    """
    from .scale import ENGINES as SCALE_ENGINES

    _check_threshold(threshold)
    engines = [*get_args(Engine), *SCALE_ENGINES]
    if engine not in engines:
        raise ValueError(f"engine must be one of {engines}, got {engine!r}")
    if engine in SCALE_ENGINES:
        if threshold_rule != "fixed" or balance != "none" or target_fpr is not None:
            raise ValueError(f"engine {engine!r} (out of core) evaluates at a fixed threshold without balancing: "
                             f"threshold_rule must be 'fixed', balance 'none' and target_fpr unset (got "
                             f"{threshold_rule!r}, {balance!r}, {target_fpr!r})")
        if not score_range:
            raise ValueError(f"engine {engine!r} needs a finite score range (the score grid spans it); "
                             "score_range 'any' works only in memory")
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, int) or min_group_size < 1:
        raise ValueError(f"min_group_size must be a positive integer, got {min_group_size!r}")
    if score_range:
        _as_range(score_range)
    parse_rule(threshold_rule)
    check_uncertainty_settings(n_boot=n_boot, ci_level=ci_level, seed=seed, tolerance=tolerance, fdr=fdr)
    if balance not in get_args(Balance):
        raise ValueError(f"balance must be one of {list(get_args(Balance))}, got {balance!r}")
    if target_fpr is not None and (isinstance(target_fpr, bool) or not isinstance(target_fpr, (int, float))
                                   or not 0 < target_fpr < 1):
        raise ValueError(f"target_fpr must be a number in (0, 1), got {target_fpr!r}")


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
