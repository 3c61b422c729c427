"""Every setting of an evaluation and of a run, with its default and help written once.

:class:`EvaluationSettings` is what :func:`evalkit.evaluate` and the report notebooks compute with;
:class:`RunOptions` is how a pipeline runs (where it writes, MLflow, time limit). Both are frozen,
keyword-only dataclasses that validate themselves once in ``__post_init__`` (every error names the
setting, the allowed values and what arrived), and convert themselves to MLflow parameters and to
notebook parameters and back. The command line's flags are generated from their fields
(:func:`add_arguments`), and so are the MLflow plugin's config keys.

This module is the lowest layer of evalkit: it imports nothing else from the package, so every
subpackage may use its defaults (:data:`N_BOOT`, :data:`CI_LEVEL`, ...) and checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

#: Bootstrap resamples for confidence intervals (0: none).
N_BOOT = 1000
#: Confidence level of every interval.
CI_LEVEL = 0.95
#: False discovery rate of the Benjamini-Hochberg correction.
FDR = 0.05
#: Differences to the reference group up to this size are not of interest.
TOLERANCE = 0.05
#: Groups smaller than this are flagged and never compared.
MIN_GROUP_SIZE = 30
#: Metrics a slice search can look for (each with the direction that counts as worse).
#: The evaluation settings the explorer takes (``make explore THRESHOLD= RULE= METRICS= BALANCE=``): what sets
#: the operating point and the samples, as :func:`evalkit.runner.run_report` takes them.
EXPLORE_SETTINGS: tuple[str, ...] = ("threshold", "threshold_rule", "metrics_config", "balance", "balance_by",
                                     "score_range", "min_group_size", "slice_metric")
#: The evaluation settings ``make compare DATA=...`` takes (how each model is evaluated on the data).
COMPARE_DATA_SETTINGS: tuple[str, ...] = ("engine", "scheduler", "chunk_rows", "threshold", "threshold_rule",
                                          "score_range", "metrics_config", "balance", "balance_by", "trusted_types")
SLICE_METRICS: tuple[str, ...] = ("error_rate", "fnr", "fpr", "recall", "precision", "cost", "roc_auc")
#: Metrics a comparison's leaderboard can be ordered by (each candidate's own value, with its interval).
RANK_METRICS: tuple[str, ...] = ("roc_auc", "average_precision", "eer", "accuracy", "recall", "fpr", "f1")
#: Rows per chunk of the out-of-core engines.
CHUNK_ROWS = 1_000_000
#: Seconds a report's (and a comparison's) notebook cell may run.
REPORT_TIMEOUT = 900
#: Seconds a gate notebook cell may run (the checks take longer than a report's cells).
GATE_TIMEOUT = 1800

#: Per-group engines in memory (same numbers; ``fairlearn`` goes through MetricFrame).
Engine = Literal["vectorised", "fairlearn"]
#: Out-of-core engines: ``stream`` (chunks in this process), ``dask`` (a dask.distributed cluster).
ScaleEngine = Literal["stream", "dask"]
#: Demographic balancing methods.
Balance = Literal["none", "downsample", "weights"]
#: The out-of-core engines, as a tuple.
SCALE_ENGINES: tuple[str, ...] = get_args(ScaleEngine)
#: Every engine ``evaluate`` accepts.
ENGINES: tuple[str, ...] = (*get_args(Engine), *SCALE_ENGINES)

_RULE = re.compile(r"^(fixed|eer|cost)$|^(fpr|recall)=([0-9.eE+-]+)$")


# --- checks shared by the settings and the functions that take single values ---------------------------

def parse_rule(rule: str) -> tuple[str, float | None]:
    """Split a threshold rule into its name and target, validating both.

    Raises
    ------
    ValueError
        Naming the accepted forms, if ``rule`` is not one of them or the target is outside (0, 1).

    Examples
    --------
    >>> parse_rule("fpr=0.01")
    ('fpr', 0.01)
    """
    m = _RULE.match(rule.strip()) if isinstance(rule, str) else None
    if not m:
        raise ValueError(f"threshold_rule must be one of 'fixed', 'eer', 'cost', 'fpr=<target>' or "
                         f"'recall=<target>' (target in (0, 1)), got {rule!r}")
    if m.group(1):
        return m.group(1), None
    try:
        target = float(m.group(3))
    except ValueError:
        target = math.nan
    if not 0 < target < 1:
        raise ValueError(f"threshold_rule {rule!r}: the target must be a number in (0, 1), got {m.group(3)!r}")
    return m.group(2), target


def check_threshold(threshold: float) -> None:
    """Refuse a threshold that is not a finite number."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_uncertainty_settings(*, n_boot: int, ci_level: float, seed: int, tolerance: float, fdr: float) -> None:
    """Validate the bootstrap settings; each error names the parameter and what arrived.

    Raises
    ------
    ValueError
    """
    if not _is_int(n_boot) or n_boot < 0 or 0 < n_boot < 20:
        raise ValueError(f"n_boot must be 0 (no intervals) or an integer >= 20, got {n_boot!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, value, lo, hi in (("ci_level", ci_level, 0.5, 1.0), ("fdr", fdr, 0.0, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo < value < hi:
            raise ValueError(f"{name} must be a number in ({lo:g}, {hi:g}), got {value!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (0 <= tolerance < math.inf):
        raise ValueError(f"tolerance must be a finite non-negative number, got {tolerance!r}")


def as_score_range(score_range: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` as floats, refusing anything but two finite numbers with low < high."""
    try:
        low, high = (float(v) for v in score_range)
    except (TypeError, ValueError):
        raise ValueError(f"score_range must be two numbers [low, high], got {score_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"score_range must be two finite numbers with low < high, got {score_range!r}")
    return low, high


# --- command-line value parsers (argparse types): each names what it expected --------------------------

def finite_number(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {'a positive number' if minimum == 1 else f'{minimum} or more'}, "
                                         f"got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return _whole(text, 1)


def count(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return _whole(text, 0)


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    value = finite_number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = finite_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _score_range(text: str) -> list[float]:
    if text.strip().lower() in ("any", "none", ""):
        return []
    try:
        low, high = (float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (e.g. 0,1) or 'any', got {text!r}") from None
    if not low < high or math.inf in (abs(low), abs(high)):
        raise argparse.ArgumentTypeError(f"expected two finite numbers with LOW < HIGH, got {text!r}")
    return [low, high]


def _reference(text: str) -> tuple[str, str]:
    feature, sep, group = text.partition("=")
    if not sep or not feature or not group:
        raise argparse.ArgumentTypeError(f"expected FEATURE=GROUP (e.g. sex=Male), got {text!r}")
    return feature, group


def group_numbers(text: str, *, signed: bool) -> dict[str, float]:
    """``GROUP=NUMBER,...`` as a dict; without ``signed`` the numbers must be non-negative shares."""
    out = {}
    for part in text.split(","):
        group, sep, raw = part.partition("=")
        try:
            value, parsed = float(raw), True
        except ValueError:
            value, parsed = float("nan"), False
        if not sep or not group or not (parsed if signed else value >= 0):
            raise argparse.ArgumentTypeError(
                f"expected GROUP=NUMBER,... got {text!r}" if signed else
                f"expected GROUP=SHARE,... with non-negative shares (e.g. Female=0.5,Male=0.5), got {text!r}")
        out[group] = value
    return out


def _shares(text: str) -> dict[str, float]:
    return group_numbers(text, signed=False)


def _fmr_targets(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FMR,... (e.g. 1e-3,1e-4), got {text!r}") from None
    if not values or not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected numbers between 0 and 1, got {text!r}")
    return values


class _Fields:
    """What every settings dataclass does the same way: build from defaults, an instance or a mapping with keyword
    overrides (unknown names refused), copy with changes, and convert to notebook and MLflow parameters."""

    #: What one field is called in errors ("unknown RunOptions option(s) ...").
    _noun = "setting"

    @classmethod
    def build(cls, settings: Any = None, **overrides: Any) -> Any:
        """``settings`` (an instance, a mapping of field values, or None for the defaults) with ``overrides``
        applied; validates once. Unknown names raise :class:`TypeError` naming them and the known ones."""
        given = dict(settings) if isinstance(settings, Mapping) else {}
        unknown = sorted((set(overrides) | set(given)) - set(field_names(cls)))
        if unknown:
            raise TypeError(f"unknown {cls.__name__} {cls._noun}(s) {unknown}; known: {field_names(cls)}")
        if settings is None or isinstance(settings, Mapping):
            return cls(**{**given, **overrides})
        if not isinstance(settings, cls):
            raise TypeError(f"settings must be an {cls.__name__} or a mapping of its fields, got "
                            f"{type(settings).__name__}")
        return dataclasses.replace(settings, **overrides) if overrides else settings

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` applied (validated)."""
        return type(self).build(self, **changes)

    def to_parameters(self) -> dict[str, Any]:
        """JSON-friendly field values (lists, dicts, numbers, strings, None): a notebook's ``settings``
        parameter; :meth:`build` turns them back into an equal instance."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v
        return out

    def to_mlflow_params(self) -> dict[str, int | float | str]:
        """The fields as MLflow parameters: numbers and strings as they are, everything else as JSON
        (``None`` as ``null``, ranges and dicts as JSON text)."""
        return {k: v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else json.dumps(v)
                for k, v in self.to_parameters().items()}


@dataclass(frozen=True, kw_only=True)
class Resampling:
    """How intervals and multiple comparisons are computed: the bootstrap's size, level and seed, and the
    Benjamini-Hochberg correction's tolerance and false discovery rate. Validated on creation."""

    n_boot: int = N_BOOT
    level: float = CI_LEVEL
    seed: int = 0
    tolerance: float = TOLERANCE
    fdr: float = FDR

    def __post_init__(self) -> None:
        check_uncertainty_settings(n_boot=self.n_boot, ci_level=self.level, seed=self.seed,
                                   tolerance=self.tolerance, fdr=self.fdr)


def _setting(default: Any, help: str, *, cli: Callable[[str], Any] | None = str, metavar: str | None = None,
             choices: Sequence[str] | None = None, append: bool = False, flag: str | None = None,
             factory: bool = False) -> Any:
    """A dataclass field with its help text and how the command line spells it (``cli=None``: no flag)."""
    meta = {"help": help, "cli": cli, "metavar": metavar, "choices": choices, "append": append, "flag": flag}
    if factory:
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings(_Fields):
    """How a model is evaluated: the operating point, groups, intervals, balancing and engine.

    Every default lives here. Build one with keywords (unknown names are refused), change one with
    :meth:`replace`; both validate. ``evalkit.evaluate(model, data, threshold=0.4)`` builds one for you.

    Examples
    --------
    >>> s = EvaluationSettings(threshold=0.4, n_boot=200)
    >>> s.replace(seed=1).seed
    1
    >>> EvaluationSettings(n_boot=5)
    Traceback (most recent call last):
    ...
    ValueError: n_boot must be 0 (no intervals) or an integer >= 20, got 5
    """

    threshold: float = _setting(0.5, "decision threshold for rule 'fixed' (a score at or above it is positive)",
                                cli=finite_number)
    threshold_rule: str = _setting("fixed", "how the threshold is chosen: fixed (uses --threshold), eer, "
                                   "fpr=TARGET, recall=TARGET, or cost (uses --cost-fp/--cost-fn)", metavar="RULE")
    cost_fp: float | None = _setting(None, "cost of one false positive (default: the metrics config's, else 1)",
                                     cli=non_negative)
    cost_fn: float | None = _setting(None, "cost of one false negative (default: the metrics config's, else 1)",
                                     cli=non_negative)
    metrics_config: str | None = _setting(None, "YAML file of custom metrics (functions and cost metrics)",
                                          metavar="FILE")
    min_group_size: int = _setting(MIN_GROUP_SIZE, "groups smaller than this are flagged and not compared",
                                   cli=positive_int)
    intersections: bool = _setting(True, "also evaluate the intersections of the sensitive features (every pair, "
                                 "and all of them together when there are three or more)", cli=None)
    engine: str = _setting("vectorised", "vectorised or fairlearn's MetricFrame (same numbers, slower), in "
                           "memory; or out of core for data of any size read in chunks: stream (this process) "
                           "or dask (a cluster)", choices=ENGINES)
    score_range: tuple[float, float] | None = _setting(
        (0.0, 1.0), "scores must lie in [LOW, HIGH]; 'any' accepts any finite score", cli=_score_range,
        metavar="LOW,HIGH")
    n_boot: int = _setting(N_BOOT, "bootstrap resamples for confidence intervals (0: none)", cli=count)
    ci_level: float = _setting(CI_LEVEL, "confidence level of every interval", cli=fraction)
    seed: int = _setting(0, "bootstrap and balancing seed: the same seed gives the same numbers", cli=count)
    reference: Mapping[str, str] = _setting({}, "reference group of a feature (default: its largest group; "
                                            "repeatable)", cli=_reference, metavar="FEATURE=GROUP", append=True,
                                            factory=True)
    tolerance: float = _setting(TOLERANCE, "differences to the reference group up to this are not of interest",
                                cli=non_negative)
    fdr: float = _setting(FDR, "false discovery rate of the Benjamini-Hochberg correction", cli=fraction)
    target_fpr: float | None = _setting(None, "FPR for the per-group threshold analysis (default: the rule's "
                                        "target for fpr=, else the overall FPR at the threshold)", cli=fraction)
    balance: str = _setting("none", "demographic balancing: none, downsample (stratified, seeded) or weights",
                            choices=get_args(Balance))
    balance_by: str | None = _setting(None, "feature or intersection (e.g. sex&race) to balance (default: the "
                                      "first sensitive feature)", metavar="FEATURE")
    balance_target: Mapping[str, float] | None = _setting(None, "target share of each group (default: equal "
                                                          "shares)", cli=_shares, metavar="GROUP=SHARE,...")
    trusted_types: tuple[str, ...] = _setting((), "a type a skops model may contain beyond the trusted ones "
                                              "(repeatable)", metavar="TYPE", append=True, flag="--trust-type")
    cost_repetitions: int = _setting(100, "timed single-row calls for the report's cost section (0 skips it)",
                                     cli=count)
    scheduler: str | None = _setting(None, "Dask scheduler for --engine dask (default: a LocalCluster on "
                                     "127.0.0.1 for the run)", metavar="ADDRESS")
    chunk_rows: int = _setting(CHUNK_ROWS, "rows per chunk for --engine stream|dask", cli=positive_int)
    slice_metric: str = _setting("error_rate", "metric the search for failing slices looks at, over the sensitive "
                                 "features and the model's inputs (none: no search)",
                                 choices=("none", *SLICE_METRICS))
    slice_terms: int = _setting(3, "most predicates joined in one slice (1 to 3)", cli=positive_int)

    def __post_init__(self) -> None:
        # Normalise containers (frozen: through object.__setattr__), then validate once.
        set_ = object.__setattr__
        set_(self, "reference", dict(self.reference or {}))
        if self.balance_target is not None:
            set_(self, "balance_target", dict(self.balance_target) or None)
        set_(self, "trusted_types", tuple(self.trusted_types or ()))
        if self.score_range is not None:
            set_(self, "score_range", as_score_range(self.score_range) if len(self.score_range) else None)
        if self.metrics_config is not None:
            set_(self, "metrics_config", str(self.metrics_config))
        if self.scheduler == "":
            set_(self, "scheduler", None)
        self._validate()

    def _validate(self) -> None:
        check_threshold(self.threshold)
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {list(ENGINES)}, got {self.engine!r}")
        if self.out_of_core:
            if self.balance == "downsample":
                raise ValueError(f"engine {self.engine!r} (out of core) balances by weights: balance must be 'none' "
                                 "or 'weights' (a down-sample needs the rows in memory)")
            if not self.score_range:
                raise ValueError(f"engine {self.engine!r} needs a finite score range (the score grid spans it); "
                                 "score_range 'any' works only in memory")
            if not self.intersections:
                raise ValueError(f"engine {self.engine!r} (out of core) always evaluates the intersections: "
                                 "intersections must be True")
            if not _is_int(self.chunk_rows) or self.chunk_rows < 1000:
                raise ValueError(f"chunk_rows must be a whole number >= 1000, got {self.chunk_rows!r}")
        elif self.scheduler is not None:
            raise ValueError("scheduler is only for engine='dask'")
        if self.scheduler is not None and self.engine != "dask":
            raise ValueError("scheduler is only for engine='dask'")
        if not _is_int(self.min_group_size) or self.min_group_size < 1:
            raise ValueError(f"min_group_size must be a positive integer, got {self.min_group_size!r}")
        if self.slice_metric not in ("none", *SLICE_METRICS):
            raise ValueError(f"slice_metric must be one of {['none', *SLICE_METRICS]}, got {self.slice_metric!r}")
        if not _is_int(self.slice_terms) or not 1 <= self.slice_terms <= 3:
            raise ValueError(f"slice_terms must be 1, 2 or 3, got {self.slice_terms!r}")
        parse_rule(self.threshold_rule)
        check_uncertainty_settings(n_boot=self.n_boot, ci_level=self.ci_level, seed=self.seed,
                                   tolerance=self.tolerance, fdr=self.fdr)
        if self.balance not in get_args(Balance):
            raise ValueError(f"balance must be one of {list(get_args(Balance))}, got {self.balance!r}")
        if self.target_fpr is not None and (isinstance(self.target_fpr, bool) or
                                            not isinstance(self.target_fpr, (int, float)) or
                                            not 0 < self.target_fpr < 1):
            raise ValueError(f"target_fpr must be a number in (0, 1), got {self.target_fpr!r}")
        for name in ("cost_fp", "cost_fn"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value < math.inf):
                raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
        if not _is_int(self.cost_repetitions) or self.cost_repetitions < 0:
            raise ValueError(f"cost_repetitions must be a whole number >= 0, got {self.cost_repetitions!r}")
        if not isinstance(self.intersections, bool):
            raise ValueError(f"intersections must be True or False, got {self.intersections!r}")

    @property
    def resampling(self) -> Resampling:
        """The bootstrap and multiple-comparison settings, as :class:`Resampling`."""
        return Resampling(n_boot=self.n_boot, level=self.ci_level, seed=self.seed, tolerance=self.tolerance,
                          fdr=self.fdr)

    @property
    def out_of_core(self) -> bool:
        """Whether the engine reads the data in chunks (``stream``, ``dask``)."""
        return self.engine in SCALE_ENGINES

    def changed(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults (JSON-friendly)."""
        default = type(self)().to_parameters()
        return {k: v for k, v in self.to_parameters().items() if v != default[k]}


@dataclass(frozen=True, kw_only=True)
class RunOptions(_Fields):
    """How a pipeline runs: where it writes, whether and where it logs to MLflow, its time limit.

    Shared by ``make report``, ``make gate``, ``make compare`` and the MLflow plugin.
    """

    _noun = "option"

    output_root: str | None = _setting(None, "folder for <model>/ (default: reports/)")
    experiment: str | None = _setting(None, "MLflow experiment (default: the pipeline's own)")
    track: bool = _setting(True, "log to MLflow (--no-tracking: the files only)", cli=None)
    timeout: int = _setting(REPORT_TIMEOUT, "seconds a notebook cell may run before the run fails", cli=positive_int)
    progress: bool = _setting(True, "show papermill's progress bar (--no-progress hides it)", cli=None)
    trust: bool = _setting(False, "accept a pickle/joblib model file (loading it can run arbitrary code)", cli=None)
    attach_to: str | None = _setting(None, "an open MLflow run to report into instead of starting one", cli=None)
    run_tags: Mapping[str, str] | None = _setting(None, "extra tags of the MLflow run (e.g. evalkit.reproduces)",
                                                  cli=None)

    def __post_init__(self) -> None:
        if self.output_root is not None:
            object.__setattr__(self, "output_root", str(self.output_root))
        if self.run_tags is not None and not (isinstance(self.run_tags, Mapping) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.run_tags.items())):
            raise ValueError(f"run_tags must map tag names to text, got {self.run_tags!r}")
        if not _is_int(self.timeout) or self.timeout < 1:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        for name in ("track", "progress", "trust"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


@dataclass(frozen=True, kw_only=True)
class VerificationSettings(_Fields):
    """How a biometric verification system is evaluated (``make verify``): the target FMRs its thresholds are
    set at, what counts as enough data, and the subject-clustered bootstrap."""

    fmr_targets: tuple[float, ...] = _setting((1e-3, 1e-4, 1e-5, 1e-6), "false match rates the global "
                                              "thresholds are set at (each only where the data support it)",
                                              cli=_fmr_targets, metavar="FMR,...")
    min_false_matches: int = _setting(30, "impostor comparisons needed per target: this many expected false "
                                      "matches at it (Doddington's rule of 30)", cli=positive_int)
    min_subjects: int = _setting(10, "groups with fewer subjects are listed apart and left out of the inequity "
                                 "summaries", cli=positive_int)
    n_boot: int = _setting(N_BOOT, "subject-clustered bootstrap resamples (0: no intervals)", cli=count)
    ci_level: float = _setting(CI_LEVEL, "confidence level of every interval", cli=fraction)
    seed: int = _setting(0, "seed of the bootstrap and of sampled impostor pairs", cli=count)
    fdr_alpha: float = _setting(0.5, "weight of the FMR gap in the Fairness Discrepancy Rate (1 - alpha: FNMR)",
                                cli=fraction)
    impostor_pairs: int | None = _setting(None, "templates only: score a seeded random sample of this many "
                                          "impostor pairs instead of all of them", cli=positive_int)
    tail_fmr: float = _setting(5e-3, "templates only: impostor scores above the estimated score at this FMR are "
                               "kept exactly (thresholds at lower FMRs are exact)", cli=fraction)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fmr_targets", tuple(float(t) for t in self.fmr_targets))
        if not self.fmr_targets or not all(0 < t < 1 for t in self.fmr_targets):
            raise ValueError(f"fmr_targets must be numbers in (0, 1), got {list(self.fmr_targets)!r}")
        check_uncertainty_settings(n_boot=self.n_boot, ci_level=self.ci_level, seed=self.seed, tolerance=0.0,
                                   fdr=FDR)
        for name in ("min_false_matches", "min_subjects"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.impostor_pairs is not None and (not _is_int(self.impostor_pairs) or self.impostor_pairs < 1):
            raise ValueError(f"impostor_pairs must be a positive integer or None, got {self.impostor_pairs!r}")
        for name in ("fdr_alpha", "tail_fmr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


@dataclass(frozen=True, kw_only=True)
class SliceSettings(_Fields):
    """How the search for failing slices runs (:func:`evalkit.slices.find_slices`): which metric, how deep, how
    much support a slice needs, and the false discovery rate its p-values are corrected to."""

    metric: str = _setting("error_rate", "metric a slice must be worse on than the rest of the data",
                           choices=SLICE_METRICS)
    max_terms: int = _setting(3, "most predicates joined in one slice (1 to 3)", cli=positive_int)
    min_support: int = _setting(MIN_GROUP_SIZE, "fewest samples in a slice", cli=positive_int)
    min_denominator: int = _setting(10, "fewest samples in the metric's denominator (e.g. positives for recall)",
                                    cli=positive_int)
    bins: int = _setting(4, "quantile bins of each numeric column", cli=positive_int)
    fdr: float = _setting(FDR, "false discovery rate of the Benjamini-Hochberg correction over every slice "
                          "tested", cli=fraction)
    level: float = _setting(CI_LEVEL, "confidence level of the effect intervals", cli=fraction)
    cost_fp: float = _setting(1.0, "cost of a false positive (metric cost)", cli=float)
    cost_fn: float = _setting(1.0, "cost of a false negative (metric cost)", cli=float)

    def __post_init__(self) -> None:
        if self.metric not in SLICE_METRICS:
            raise ValueError(f"metric must be one of {list(SLICE_METRICS)}, got {self.metric!r}")
        for name in ("max_terms", "min_support", "min_denominator", "bins"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.max_terms > 3:
            raise ValueError(f"max_terms must be 1, 2 or 3, got {self.max_terms}")
        if self.bins < 2:
            raise ValueError(f"bins must be at least 2, got {self.bins}")
        for name in ("fdr", "level"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise ValueError(f"{name} must be a number in (0, 1), got {v!r}")
        for name in ("cost_fp", "cost_fn"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")


@dataclass(frozen=True, kw_only=True)
class CompareSettings(_Fields):
    """How candidates are compared (``make compare``, :func:`evalkit.compare.compare`): the baseline, the
    leaderboard's order, the paired bootstrap, and the correction over every compared group and metric.

    With ``make compare DATA=...`` the models are also evaluated with these ``n_boot``, ``ci_level``, ``seed``,
    ``fdr`` and ``min_group_size``; report runs are compared with the settings they were made with.

    Examples
    --------
    >>> CompareSettings(n_boot=200).replace(rank_by="f1").rank_by
    'f1'
    >>> CompareSettings(n_boot=5)
    Traceback (most recent call last):
    ...
    ValueError: n_boot must be a whole number >= 10, got 5
    """

    baseline: str | None = _setting(None, "the model the others are compared with (default: the first)")
    allow_different_data: bool = _setting(False, "compare report runs evaluated on different data on the samples "
                                          "they share (refused otherwise)", cli=None)
    rank_by: str = _setting("roc_auc", "leaderboard order", choices=RANK_METRICS)
    n_boot: int = _setting(N_BOOT, "paired bootstrap resamples (at least 10)", cli=count)
    ci_level: float = _setting(CI_LEVEL, "confidence level of every interval", cli=fraction)
    seed: int = _setting(0, "bootstrap seed (the same seed gives the same intervals)", cli=count)
    fdr: float = _setting(FDR, "false discovery rate of the Benjamini-Hochberg correction over every compared "
                          "group and metric", cli=fraction)
    min_group_size: int = _setting(MIN_GROUP_SIZE, "smaller groups are listed but never called significant",
                                   cli=positive_int)

    #: The fields that are statistics (the ones a comparison on data also evaluates the models with).
    STATISTICS: ClassVar[tuple[str, ...]] = ("n_boot", "ci_level", "seed", "fdr", "min_group_size")

    def __post_init__(self) -> None:
        if self.baseline is not None and not (isinstance(self.baseline, str) and self.baseline):
            raise ValueError(f"baseline must be a candidate's name or None, got {self.baseline!r}")
        if not isinstance(self.allow_different_data, bool):
            raise ValueError(f"allow_different_data must be True or False, got {self.allow_different_data!r}")
        if self.rank_by not in RANK_METRICS:
            raise ValueError(f"rank_by must be one of {list(RANK_METRICS)}, got {self.rank_by!r}")
        if not _is_int(self.n_boot) or self.n_boot < 10:
            raise ValueError(f"n_boot must be a whole number >= 10, got {self.n_boot!r}")
        for name in ("ci_level", "fdr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not _is_int(self.min_group_size) or self.min_group_size < 1:
            raise ValueError(f"min_group_size must be a whole number >= 1, got {self.min_group_size!r}")

    def statistics(self) -> dict[str, Any]:
        """The statistics' fields (:attr:`STATISTICS`) and their values."""
        return {name: getattr(self, name) for name in self.STATISTICS}


def field_names(cls: type) -> list[str]:
    """The field names of a settings dataclass, in declaration order."""
    return [f.name for f in dataclasses.fields(cls)]


def split_settings(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into :class:`EvaluationSettings` fields, :class:`RunOptions` fields and the
    rest (for a caller that takes both as plain keywords)."""
    ev, run = set(field_names(EvaluationSettings)), set(field_names(RunOptions))
    return ({k: v for k, v in values.items() if k in ev}, {k: v for k, v in values.items() if k in run},
            {k: v for k, v in values.items() if k not in ev and k not in run})


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, defaults: Mapping[str, Any] | None = None,
                  only: Sequence[str] | None = None) -> None:
    """Add a ``--flag`` for every field of ``cls`` that has a command-line spelling (or those in ``only``).

    The flag's default is ``None`` (meaning "the field's default"), so :func:`from_arguments` passes on only
    what the user gave; the help text shows the field's default. ``defaults`` overrides the shown default
    for a command whose own default differs (e.g. the gate's time limit).
    """
    defaults = defaults or {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if meta.get("cli") is None or (only is not None and f.name not in only):
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        shown = defaults.get(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
        text = meta["help"] + ("" if shown in (None, (), {}) else f" (default {_show(shown)})")
        kwargs: dict[str, Any] = {"dest": f.name, "help": text, "default": None}
        if meta.get("choices"):
            kwargs["choices"] = list(meta["choices"])
        elif meta["cli"] is not str:
            kwargs["type"] = meta["cli"]
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        if meta.get("append"):
            kwargs["action"] = "append"
        parser.add_argument(flag, **kwargs)


def _show(value: Any) -> str:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"{value[0]:g},{value[1]:g}"
    return f"{value:,}".replace(",", "") if isinstance(value, int) and not isinstance(value, bool) else str(value)


def from_arguments(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` that the command line set (flags left out are not passed on)."""
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if f.metadata.get("append") and f.name == "reference":
            value = dict(value)
        out[f.name] = value
    return out
