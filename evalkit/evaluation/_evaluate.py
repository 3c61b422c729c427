"""One evaluation of one model on one dataset, in memory: overall and per-group metrics with intervals,
disparities and the operating point. :func:`evaluate` also dispatches to the out-of-core engines
(:mod:`._scale`), which build the same :class:`~evalkit.evaluation.Evaluation`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import release_free_memory
from ..data import Dataset, balance_groups, balancing_weights, composition, downsample, group_columns, load_dataset
from ..metrics import (
    DISPARITY_METRICS,
    LOWER_IS_BETTER,
    METRIC_NAMES,
    MetricsConfig,
    binary_metrics,
    check_reference,
    check_sample_weight,
    choose_threshold,
    disparities,
    function_metrics_by_group,
    group_thresholds,
    load_metrics_config,
    metrics_by_group,
    reference_disparities,
    small_groups,
)
from ..models import ModelRef, check_score_range, resolve_model, score
from ..settings import EvaluationSettings
from ..stats import estimate_uncertainty
from ._result import Evaluation, add_count_metrics, costs, search_slices, target_fpr_for
from ._scale import evaluate_at_scale


def evaluate(
    model: ModelRef | str | Mapping[str, Any],
    data: Dataset | str | Path,
    *,
    settings: EvaluationSettings | Mapping[str, Any] | None = None,
    sample_weight: np.ndarray | None = None,
    run_id: str | None = None,
    progress: bool = False,
    **overrides: Any,
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
    settings : EvaluationSettings or dict, optional
        Every evaluation setting (threshold and threshold rule, costs, groups, engine, score range,
        custom metrics, bootstrap, reference groups, balancing, trusted types, out-of-core options);
        see :class:`evalkit.settings.EvaluationSettings` for each field, its default and meaning.
    **overrides
        Any field of :class:`~evalkit.settings.EvaluationSettings` as a keyword
        (``evaluate(model, data, threshold=0.4, n_boot=0)``); keywords override ``settings``.
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
    run_id : str, optional
        MLflow run id to record in the result.
    progress : bool, default=False
        Print bootstrap progress.
    Returns
    -------
    Evaluation

    Examples
    --------
    >>> ev = evaluate("adult-logreg", "data_manifests/adult_test.yaml")  # doctest: +SKIP
    >>> round(ev.overall["roc_auc"], 3)  # doctest: +SKIP
    0.903
    """
    given = overrides.pop("metrics_config", None) if isinstance(overrides.get("metrics_config"), MetricsConfig) \
        else None  # an already loaded configuration
    st = EvaluationSettings.build(settings, **overrides)
    config = given if given is not None else load_metrics_config(st.metrics_config)
    if isinstance(model, Mapping):
        model = ModelRef(**{**model, "path": Path(model["path"])})
    ref = model if isinstance(model, ModelRef) else resolve_model(model)
    if st.out_of_core:
        if sample_weight is not None:
            raise ValueError(f"engine {st.engine!r} (out of core) computes unweighted metrics: no sample_weight")
        return evaluate_at_scale(ref, data if not isinstance(data, Dataset) else data.manifest.manifest_path,
                                 settings=st, config=config, run_id=run_id, progress=progress)
    threshold, threshold_rule, min_group_size, intersections = (st.threshold, st.threshold_rule, st.min_group_size,
                                                                st.intersections)
    reference, balance, balance_by, balance_target, seed = (st.reference, st.balance, st.balance_by,
                                                            st.balance_target, st.seed)
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    check_reference(ds.sensitive, reference, intersections=intersections)
    balance_groups(ds.sensitive, balance, balance_by, balance_target)  # fail before scoring
    y_score = score(ref, ds, trusted_types=st.trusted_types)
    release_free_memory()
    if st.score_range:
        check_score_range(ref, ds, y_score, st.score_range)
    w = check_sample_weight(sample_weight, len(ds))
    every_group = group_columns(ds.sensitive)  # built once: composition, metrics and intervals share them
    composition_before = composition(ds.sensitive, ds.sources, min_group_size=min_group_size, groupings=every_group)
    balance_info: dict[str, Any] = {"method": balance, "rows_before": len(ds)}
    chosen = balance_groups(ds.sensitive, balance, balance_by, balance_target)
    if chosen is not None:
        by, groups = chosen
        balance_info.update(by=by, target=dict(balance_target) if balance_target else "equal shares")
        if balance == "downsample":
            rows = downsample(groups, target=balance_target, seed=seed)
            ds, y_score = ds.subset(rows), y_score[rows]
            w = None if w is None else w[rows]
            every_group = group_columns(ds.sensitive)
        else:
            bw = balancing_weights(groups, target=balance_target)
            w = bw if w is None else w * bw
    balance_info["rows_after"] = len(ds)
    release_free_memory()
    y_true = ds.y_true
    c_fp, c_fn = costs(st, config)
    op = choose_threshold(y_true, y_score, threshold_rule, threshold=threshold, cost_fp=c_fp, cost_fn=c_fn,
                          sample_weight=w)
    thr = op.threshold
    groupings = every_group if intersections else {f: every_group[f] for f in ds.sensitive.columns}
    by_group = metrics_by_group(y_true, y_score, sensitive=ds.sensitive, threshold=thr, intersections=intersections,
                                engine=st.engine, sample_weight=w, groupings=groupings)
    overall = binary_metrics(y_true, y_score, threshold=thr, sample_weight=w)
    by_group, overall = _add_custom(config, by_group, overall, y_true, y_score, groupings, thr, w)
    compared = DISPARITY_METRICS + config.comparable
    lower = LOWER_IS_BETTER | config.lower_is_better
    disp = disparities(by_group, min_group_size=min_group_size, metrics=compared, lower_is_better=lower)
    ref_disp = reference_disparities(by_group, reference=reference, min_group_size=min_group_size, metrics=compared)
    release_free_memory()
    uncertainty = None
    if st.n_boot:
        codes = {f: _small(pd.factorize(g, sort=True)[0]) for f, g in groupings.items()}
        uncertainty = estimate_uncertainty(
            y_true, y_score, codes, by_group=by_group, overall=overall, disparities=disp, reference=ref_disp,
            threshold=thr, min_group_size=min_group_size, resampling=st.resampling,
            sample_weight=w, extra=config.count_metrics(),
            progress=_print_progress if progress else None)
        del codes  # 8 bytes a sample per grouping (56 MB at 10^6 rows, 7 groupings): not held through what follows
        ref_disp = uncertainty.reference
        release_free_memory()
    target = target_fpr_for(st, overall["fpr"])
    thresholds = _group_thresholds(y_true, y_score, groupings, thr, target, w)
    slices = search_slices(ds, y_true, y_score, thr, st, c_fp, c_fn)
    release_free_memory()
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
        engine=st.engine,
        operating_point=op,
        config=config,
        reference=ref_disp,
        uncertainty=uncertainty,
        group_thresholds=thresholds,
        target_fpr=float(target),
        balance=balance_info,
        composition_before=composition_before,
        # unchanged rows and no weights: the composition after balancing is the one before
        composition=composition_before if chosen is None and w is None else
        composition(ds.sensitive, ds.sources, min_group_size=min_group_size, weights=w, groupings=every_group),
        sample_weight=w,
        settings=st,
        slices=slices,
        groupings=every_group,
    )


def _small(codes: np.ndarray) -> np.ndarray:
    """Group codes (``0..G-1``) in the smallest signed integer type that holds them: a grouping's codes are held
    through the bootstrap, 8 bytes a sample as ``pd.factorize`` gives them (56 MB at 10^6 rows and 7 groupings)."""
    top = int(codes.max()) if codes.size else 0
    return codes.astype(next(t for t in (np.int8, np.int16, np.int32, np.int64) if top <= np.iinfo(t).max))


def _print_progress(done: int, total: int) -> None:
    print(f"bootstrap: {done}/{total} resamples", flush=True)


def _group_thresholds(y_true: np.ndarray, y_score: np.ndarray, groupings: Mapping[str, pd.Series], threshold: float,
                      target_fpr: float, w: np.ndarray | None) -> pd.DataFrame:
    if not (isinstance(target_fpr, float) and 0 < target_fpr < 1):
        return pd.DataFrame()
    descending = np.argsort(-np.asarray(y_score, dtype=np.float64), kind="stable")  # one sort for every grouping
    parts = {f: group_thresholds(y_true, y_score, g, threshold=threshold, target_fpr=target_fpr, sample_weight=w,
                                 descending=descending) for f, g in groupings.items()}
    return pd.concat(parts, names=["feature", "group"])


def _add_custom(config: MetricsConfig, by_group: pd.DataFrame, overall: dict[str, float], y_true: np.ndarray,
                y_score: np.ndarray, groupings: Mapping[str, pd.Series], threshold: float,
                w: np.ndarray | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Custom metrics as extra columns (cost metrics from counts; functions through MetricFrame)."""
    if not config.metrics:
        return by_group, overall
    by_group, overall = add_count_metrics(config, by_group, overall)
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


