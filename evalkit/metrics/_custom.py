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
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ._binary import METRIC_NAMES

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TOP_KEYS = {"costs", "metrics"}
_COST_KEYS = {"name", "cost", "per_sample", "description"}
_FUNCTION_KEYS = {"name", "function", "input", "greater_is_better", "kwargs", "description"}


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


def _number(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(path, f"expected a finite non-negative number, found {value!r}", key=key)
    return float(value)


def _import(path: Path, key: str, dotted: Any) -> Callable[..., float]:
    if not isinstance(dotted, str) or not re.fullmatch(r"[A-Za-z_][\w.]*\.[A-Za-z_]\w*", dotted):
        raise ConfigError(path, f"expected a dotted function name like 'sklearn.metrics.f1_score', found {dotted!r}",
                          key=key)
    module, _, attr = dotted.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(path, f"cannot import {dotted!r}: {err}", key=key) from err
    if not callable(fn):
        raise ConfigError(path, f"{dotted!r} is not callable", key=key)
    return fn


def _costs(path: Path, key: str, raw: Any) -> tuple[float, float]:
    if not isinstance(raw, dict) or set(raw) != {"fp", "fn"}:
        raise ConfigError(path, f"expected a mapping with exactly the keys 'fp' and 'fn', found {raw!r}", key=key)
    return _number(path, f"{key}.fp", raw["fp"]), _number(path, f"{key}.fn", raw["fn"])


def _metric(path: Path, i: int, raw: Any, taken: set[str]) -> CustomMetric:
    where = f"metrics[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(path, f"expected a mapping with 'name' and 'cost' or 'function', found {raw!r}", key=where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(path, f"expected a name of letters, digits and '_' starting with a letter, found {name!r}",
                          key=f"{where}.name")
    if name in taken:
        what = "a built-in metric" if name in METRIC_NAMES else "defined twice"
        raise ConfigError(path, f"metric name {name!r} is {what}", key=f"{where}.name")
    kind = "cost" if "cost" in raw else "function" if "function" in raw else None
    if kind is None or ("cost" in raw and "function" in raw):
        raise ConfigError(path, "expected exactly one of 'cost' or 'function'", key=where)
    allowed = _COST_KEYS if kind == "cost" else _FUNCTION_KEYS
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(path, f"unknown key(s) {unknown} for a {kind} metric; allowed keys are {sorted(allowed)}",
                          key=f"{where}.{unknown[0]}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(path, f"expected text, found {description!r}", key=f"{where}.description")
    if kind == "cost":
        fp, fn = _costs(path, f"{where}.cost", raw["cost"])
        per_sample = raw.get("per_sample", False)
        if not isinstance(per_sample, bool):
            raise ConfigError(path, f"expected true or false, found {per_sample!r}", key=f"{where}.per_sample")
        return CustomMetric(name, "cost", cost_fp=fp, cost_fn=fn, per_sample=per_sample, greater_is_better=False,
                            description=description or f"{fp:g}·FP + {fn:g}·FN" + (" per sample" if per_sample else ""))
    fn_ = _import(path, f"{where}.function", raw["function"])
    input_ = raw.get("input", "pred")
    if input_ not in ("pred", "score"):
        raise ConfigError(path, f"expected 'pred' or 'score', found {input_!r}", key=f"{where}.input")
    greater = raw.get("greater_is_better", True)
    if not isinstance(greater, bool):
        raise ConfigError(path, f"expected true or false, found {greater!r}", key=f"{where}.greater_is_better")
    kwargs = raw.get("kwargs", {})
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ConfigError(path, f"expected a mapping of keyword arguments, found {kwargs!r}", key=f"{where}.kwargs")
    return CustomMetric(name, "function", function=fn_, input=input_, greater_is_better=greater, kwargs=kwargs,
                        description=description or raw["function"])


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
    from ..data import read_yaml_mapping

    path = Path(path)
    raw = read_yaml_mapping(path, ConfigError, what="metrics configuration")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(path, f"unknown key(s) {unknown}; allowed keys are {sorted(_TOP_KEYS)}", key=unknown[0])
    cost_fp = cost_fn = None
    if "costs" in raw:
        cost_fp, cost_fn = _costs(path, "costs", raw["costs"])
    items = raw.get("metrics", [])
    if not isinstance(items, list):
        raise ConfigError(path, f"expected a list of metrics, found {type(items).__name__}", key="metrics")
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
