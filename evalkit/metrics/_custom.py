"""Custom metrics: user-registered metric functions and cost metrics, from a YAML configuration file.

A configuration file (``--metrics-config FILE``, ``make report METRICS=FILE``, or the notebook's
``metrics_config`` parameter) looks like this::

    costs:                  # optional: the FP/FN costs of threshold_rule "cost"
      fp: 1
      fn: 20
    metrics:
      - name: fraud_cost            # a cost metric: cost_fp * FP + cost_fn * FN
        cost: {fp: 5, fn: 100}
        per_sample: true            # divide by the number of samples (comparable across groups)
      - name: balanced_accuracy     # any function f(y_true, y_pred_or_score, **kwargs) -> float
        function: sklearn.metrics.balanced_accuracy_score
        input: pred                 # "pred": 0/1 predictions at the threshold; "score": raw scores
        greater_is_better: true
        kwargs: {}

Cost metrics are computed from confusion counts on the vectorised path and get bootstrap intervals
like the built-in metrics. Function metrics are arbitrary callables, so they are computed through
fairlearn's :class:`~fairlearn.metrics.MetricFrame` (the reference path), per group of every feature
and intersection, without intervals. Both appear in the report, ``metrics.json``, MLflow and the
per-group tables.

Function references are imported by their dotted name: the configuration file is code you trust,
like a Makefile.
"""

from __future__ import annotations

import importlib
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from ..data import Declared, read_yaml_mapping, validate_declared
from ..exceptions import ConfigError
from ._binary import METRIC_NAMES

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NON_NEGATIVE = "a finite non-negative number"


class Costs(Declared):
    """The cost of one false positive and one false negative."""

    fp: float = Field(description=_NON_NEGATIVE, ge=0, allow_inf_nan=False)
    fn: float = Field(description=_NON_NEGATIVE, ge=0, allow_inf_nan=False)


class CostMetricSpec(Declared):
    """A metric from confusion counts: ``cost.fp * FP + cost.fn * FN`` (per sample if ``per_sample``)."""

    name: str = Field(description="a name of letters, digits and '_' starting with a letter", pattern=_NAME.pattern)
    cost: Costs
    per_sample: bool = False
    description: str = ""


class FunctionMetricSpec(Declared):
    """A metric function ``f(y_true, y_pred_or_score, **kwargs)``, imported by its dotted name."""

    name: str = Field(description="a name of letters, digits and '_' starting with a letter", pattern=_NAME.pattern)
    function: str = Field(description="a dotted function name like 'sklearn.metrics.f1_score'",
                          pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    input: Literal["pred", "score"] = Field("pred", description="decisions at the threshold, or the scores")
    greater_is_better: bool = True
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the function")
    description: str = ""


class MetricsConfigFile(Declared):
    """A metrics configuration (``make report METRICS=configs/metrics.yaml``)."""

    costs: Costs | None = Field(None, description="costs for threshold rule 'cost' and the cost section")
    metrics: list[CostMetricSpec | FunctionMetricSpec] = Field(default_factory=list,
                                                                description="custom metrics, each with a "
                                                                            "'cost' or a 'function'")


@dataclass(frozen=True)
class CustomMetric:
    """One registered metric.

    Attributes
    ----------
    name : str
    kind : {"cost", "function"}
    function : callable or None
        For ``kind="function"``: ``f(y_true, y, **kwargs)``.
    input : {"pred", "score"}
        What a function metric receives as its second argument.
    cost_fp, cost_fn : float
        For ``kind="cost"``.
    per_sample : bool
        A cost metric divided by the (weighted) number of samples.
    greater_is_better : bool
    kwargs : dict
    description : str
    """

    name: str
    kind: str
    function: Callable[..., float] | None = None
    input: str = "pred"
    cost_fp: float = 0.0
    cost_fn: float = 0.0
    per_sample: bool = False
    greater_is_better: bool = True
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def from_counts(self, tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> np.ndarray:
        """A cost metric's value from confusion counts (vectorised)."""
        total = self.cost_fp * fp + self.cost_fn * fn
        if not self.per_sample:
            return total
        n = tp + fp + tn + fn
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)


@dataclass(frozen=True)
class MetricsConfig:
    """A parsed metrics configuration.

    Attributes
    ----------
    metrics : tuple of CustomMetric
    cost_fp, cost_fn : float or None
        The ``costs`` section (None when absent).
    path : Path or None
    """

    metrics: tuple[CustomMetric, ...] = ()
    cost_fp: float | None = None
    cost_fn: float | None = None
    path: Path | None = None

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def count_metrics(self) -> dict[str, Callable[..., np.ndarray]]:
        """Cost metrics as ``f(tp, fp, tn, fn)`` (the vectorised and bootstrap paths)."""
        return {m.name: m.from_counts for m in self.metrics if m.kind == "cost"}

    def function_metrics(self) -> list[CustomMetric]:
        return [m for m in self.metrics if m.kind == "function"]

    @property
    def lower_is_better(self) -> frozenset[str]:
        return frozenset(m.name for m in self.metrics if not m.greater_is_better)

    @property
    def comparable(self) -> tuple[str, ...]:
        """Metrics whose between-group disparities are meaningful (not totals over unequal groups)."""
        return tuple(m.name for m in self.metrics if m.kind == "function" or m.per_sample)


def _import(path: Path, key: str, dotted: Any) -> Callable[..., float]:
    module, _, attr = dotted.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(path, f"cannot import {dotted!r}: {err}", key=key) from err
    if not callable(fn):
        raise ConfigError(path, f"{dotted!r} is not callable", key=key)
    return fn


def _metric(path: Path, i: int, raw: Any, taken: set[str]) -> CustomMetric:
    where = f"metrics[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(path, f"expected a mapping with 'name' and 'cost' or 'function', found {raw!r}", key=where)
    if ("cost" in raw) == ("function" in raw):
        raise ConfigError(path, "expected exactly one of 'cost' or 'function'", key=where)
    try:
        spec = validate_declared(CostMetricSpec if "cost" in raw else FunctionMetricSpec, raw, path, ConfigError)
    except ConfigError as err:  # name the item: metrics[2].cost.fp
        raise ConfigError(path, err.message, key=f"{where}.{err.key}" if err.key else where) from None
    if spec.name in taken:
        what = "a built-in metric" if spec.name in METRIC_NAMES else "defined twice"
        raise ConfigError(path, f"metric name {spec.name!r} is {what}", key=f"{where}.name")
    if isinstance(spec, CostMetricSpec):
        fp, fn = spec.cost.fp, spec.cost.fn
        return CustomMetric(spec.name, "cost", cost_fp=fp, cost_fn=fn, per_sample=spec.per_sample,
                            greater_is_better=False, description=spec.description or
                            f"{fp:g}·FP + {fn:g}·FN" + (" per sample" if spec.per_sample else ""))
    return CustomMetric(spec.name, "function", function=_import(path, f"{where}.function", spec.function),
                        input=spec.input, greater_is_better=spec.greater_is_better, kwargs=dict(spec.kwargs),
                        description=spec.description or spec.function)


def load_metrics_config(path: str | Path | None) -> MetricsConfig:
    """Read and validate a metrics configuration (an empty configuration when ``path`` is None or "").

    Raises
    ------
    ConfigError
        Naming the file and the offending key: unknown or missing keys, wrong types, duplicate names,
        names of built-in metrics, functions that cannot be imported.
    """
    if path is None or str(path) == "":
        return MetricsConfig()
    path = Path(path)
    raw = read_yaml_mapping(path, ConfigError, what="metrics configuration")
    items = raw.get("metrics", [])
    # the file's own keys first; each metric then against its kind (decided by its 'cost' or 'function' key)
    top = validate_declared(MetricsConfigFile, {**raw, "metrics": []} if isinstance(items, list) else raw, path,
                            ConfigError)
    cost_fp, cost_fn = (top.costs.fp, top.costs.fn) if top.costs is not None else (None, None)
    taken = set(METRIC_NAMES)
    metrics = []
    for i, item in enumerate(items):
        metric = _metric(path, i, item, taken)
        taken.add(metric.name)
        metrics.append(metric)
    return MetricsConfig(tuple(metrics), cost_fp, cost_fn, path.resolve())


def function_metrics_by_group(
    metrics: Sequence[CustomMetric],
    y_true: np.ndarray,
    y_score: np.ndarray,
    groupings: Mapping[str, pd.Series],
    *,
    threshold: float,
    sample_weight: np.ndarray | None = None,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Function metrics overall and per group, through fairlearn's MetricFrame.

    Returns
    -------
    overall : dict of str to float
    by_group : DataFrame
        Indexed by ``(feature, group)`` (groups sorted), one column per metric.
    """
    from fairlearn.metrics import MetricFrame

    def wrap(m: CustomMetric) -> Callable[..., float]:
        def f(y, s, sample_weight=None):
            x = (s >= threshold).astype(np.int8) if m.input == "pred" else s
            kwargs = dict(m.kwargs)
            if sample_weight is not None:
                kwargs["sample_weight"] = sample_weight
            try:
                return float(m.function(y, x, **kwargs))
            except ValueError:  # e.g. a group with one class for an AUC-like function
                return math.nan

        return f

    if not metrics:
        return {}, pd.DataFrame()
    funcs = {m.name: wrap(m) for m in metrics}
    params = None if sample_weight is None else {k: {"sample_weight": sample_weight} for k in funcs}
    overall: dict[str, float] = {}
    parts = {}
    for feature, groups in groupings.items():
        with warnings.catch_warnings():  # e.g. sklearn's "single label" warning for a one-class group
            warnings.simplefilter("ignore", UserWarning)
            frame = MetricFrame(metrics=funcs, y_true=y_true, y_pred=y_score, sample_params=params,
                                sensitive_features=pd.Series(np.asarray(groups), name="group"))
        parts[feature] = frame.by_group.astype(float).sort_index()
        overall = {k: float(v) for k, v in frame.overall.items()}
    return overall, pd.concat(parts, names=["feature", "group"])
