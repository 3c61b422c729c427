"""The promotion gate: a policy file of requirements, each judged on a confidence interval.

A policy (``configs/gates.yaml``) lists requirements::

    policy: adult-default
    corner_cases: ../data_manifests/adult_corner_cases.yaml   # scored again after promotion
    train_data: ../data_manifests/adult_train.yaml            # enables fitting checks
    requirements:
      - check: metric              # a metric overall (scope: overall) or in every group (scope: groups)
        metric: roc_auc
        min: 0.85
      - check: disparity           # max - min between the groups of a feature (fairlearn's difference)
        metric: recall
        feature: sex
        max: 0.15
      - check: fitting_gap         # training minus evaluation value (overfitting)
        metric: roc_auc
        max: 0.03
      - check: robustness_drop     # clean minus perturbed value at one perturbation strength
        metric: accuracy
        perturbation: gaussian_noise
        strength: 0.5
        max: 0.05
      - check: robustness_flips    # share of decisions that change under a perturbation (brittleness)
        perturbation: gaussian_noise
        strength: 0.25
        max: 0.1
      - check: attack_success      # share of attacked samples flipped within the budget
        max: 0.5
      - check: apcer               # attack presentations accepted (worst attack species)
        max: 0.1
      - check: non_inferiority     # candidate minus the model now in staging, paired on the same data
        metric: roc_auc
        margin: 0.01
      - check: latency             # served single-row latency in ms (p50, p95 or p99; concurrency 1 or 4)
        percentile: 95
        max: 50
      - check: memory              # the scoring server's resident memory in MB
        max: 1000

Latency and memory budgets are judged on a served replica (:mod:`evalkit.staging`: the registered
model behind ``mlflow models serve`` on 127.0.0.1): once in the gate, and again at promotion against
``models:/<name>@staging``, where a replica over budget is rolled back.

Each requirement is judged on its interval, never on the point estimate alone: with a lower bound
``min``, it **passes** when the interval lies at or above the bound, **fails** when it lies below,
and is **inconclusive** otherwise (too little data to tell); ``max`` is the mirror image. For an
inconclusive requirement the verdict states the sample size that would decide it, assuming the
interval narrows as 1/sqrt(n) around the same estimate. The gate's decision is ``fail`` if any
requirement fails, else ``inconclusive`` if any is inconclusive, else ``pass``.

This module only reads policies and judges evidence; :mod:`evalkit.checks` gathers the evidence and
:mod:`evalkit.promotion` acts on the decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import Field

from .._io import sha256_file
from ..exceptions import ConfigError
from ..data import Declared, read_yaml_mapping, validate_declared
from ..diagnostics import PERTURBATIONS
from ..metrics import LOWER_IS_BETTER, METRIC_NAMES
from ..settings import SLICE_METRICS
from ..stats import COUNT_METRICS, PAIRED_METRICS

Decision = Literal["pass", "fail", "inconclusive"]
#: The kinds of requirement a policy may state.
CHECKS: tuple[str, ...] = ("metric", "disparity", "fitting_gap", "robustness_drop", "robustness_flips",
                           "attack_success", "apcer", "apcer_max", "non_inferiority", "latency", "memory",
                           "fnmr_at_fmr", "fmr_inequity", "no_failing_slice")
_BOUND = "a finite number"
#: Checks judged on a verification set (``verification_data``), whose features are its own.
_VERIFICATION = ("fnmr_at_fmr", "fmr_inequity")
#: Checks judged on another data set than the evaluation data (its features are checked when it is read).
_OWN_DATA = (*_VERIFICATION, "apcer_max")


class _Spec(Declared):
    name: str | None = Field(None, description="a short identifier (default: made from the check and its metric)")
    description: str = ""

    @classmethod
    def bound_keys(cls) -> list[str]:
        """The bounds this kind of requirement may state (``min``, ``max``)."""
        return [k for k in ("min", "max") if k in cls.model_fields]


class MetricSpec(_Spec):
    """A metric's interval must clear a bound, overall or in every group."""

    check: Literal["metric"]
    metric: str
    scope: Literal["overall", "groups"] = "overall"
    feature: str | None = None
    min: float | None = Field(None, description=_BOUND, allow_inf_nan=False)
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class DisparitySpec(_Spec):
    """The largest difference of a metric between a feature's groups must stay under a bound."""

    check: Literal["disparity"]
    metric: str
    feature: str | None = None
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class FittingGapSpec(_Spec):
    """Training minus evaluation value of a metric (overfitting)."""

    check: Literal["fitting_gap"]
    metric: str
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class RobustnessDropSpec(_Spec):
    """The drop of a count metric under a perturbation."""

    check: Literal["robustness_drop"]
    metric: str
    perturbation: str
    strength: float = Field(description=_BOUND, allow_inf_nan=False)
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class RobustnessFlipsSpec(_Spec):
    """The share of decisions a perturbation flips."""

    check: Literal["robustness_flips"]
    perturbation: str
    strength: float = Field(description=_BOUND, allow_inf_nan=False)
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class NoFailingSliceSpec(_Spec):
    """No slice of the data (up to three conditions on sensitive features and model inputs) significantly worse
    on a metric than the rest of the data by more than ``max`` (see :mod:`evalkit.slices`)."""

    check: Literal["no_failing_slice"]
    metric: str = Field("error_rate", description="the metric the slices are searched on: "
                                                  "error_rate, fnr, fpr, recall, precision or cost")
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class AttackSuccessSpec(_Spec):
    """The success rate of a bounded adversarial attack."""

    check: Literal["attack_success"]
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class ApcerSpec(_Spec):
    """The attack presentation classification error rate of every attack species (ISO/IEC 30107-3)."""

    check: Literal["apcer"]
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class ApcerMaxSpec(_Spec):
    """APCER_max: the worst attack species' APCER (ISO/IEC 30107-3), judged on the simultaneous interval of the
    species' maximum; overall, and in every group of ``feature`` when given."""

    check: Literal["apcer_max"]
    feature: str | None = Field(None, description="also judge every group of this sensitive feature of the "
                                                  "attack data")
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class _AtFmrSpec(_Spec):
    """A requirement read at the global threshold of a target FMR on ``verification_data``."""

    fmr: float = Field(description="the target FMR the global threshold is set at (in (0, 1))", gt=0, lt=1)
    feature: str | None = Field(None, description="one demographic feature (default: each of the data's)")
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class FnmrAtFmrSpec(_AtFmrSpec):
    """Every group's FNMR at the global threshold of a target FMR (policy key ``verification_data``)."""

    check: Literal["fnmr_at_fmr"]


class FmrInequitySpec(_AtFmrSpec):
    """NIST's max/geometric-mean ratio of the groups' same-group FMR at the global threshold of a target FMR."""

    check: Literal["fmr_inequity"]


class NonInferioritySpec(_Spec):
    """Not worse than the model in staging by more than a margin."""

    check: Literal["non_inferiority"]
    metric: str
    margin: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class LatencySpec(_Spec):
    """The served replica's single-row latency percentile, in milliseconds."""

    check: Literal["latency"]
    percentile: Literal[50, 95, 99] = 95
    concurrency: Literal[1, 4] = 1
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


class MemorySpec(_Spec):
    """The scoring server's resident memory, in MB."""

    check: Literal["memory"]
    max: float | None = Field(None, description=_BOUND, allow_inf_nan=False)


RequirementSpec = Annotated[
    MetricSpec | DisparitySpec | FittingGapSpec | RobustnessDropSpec | RobustnessFlipsSpec | AttackSuccessSpec
    | ApcerSpec | ApcerMaxSpec | NonInferioritySpec | LatencySpec | MemorySpec | FnmrAtFmrSpec | FmrInequitySpec
    | NoFailingSliceSpec,
    Field(discriminator="check")]


class PolicySettings(Declared):
    """Evaluation settings of the gate (each overrides evalkit's default)."""

    n_boot: int | None = None
    ci_level: float | None = None
    seed: int | None = None
    min_group_size: int | None = None
    threshold: float | None = None
    threshold_rule: str | None = None
    adversarial_samples: int | None = None
    adversarial_budget: float | None = Field(None, description="the largest perturbation, in standard "
                                                               "deviations of each feature")
    robustness_suite: Literal["full", "policy"] = Field(
        "full", description="'full' (every perturbation at its default strengths, plus those the requirements "
                            "name) or 'policy' (only those)")
    replica_requests: int | None = Field(None, description="requests per concurrency level on a served replica")


class PolicyFile(Declared):
    """A promotion policy (``configs/gates.yaml``): the requirements a model must meet to leave the lab."""

    policy: str | None = Field(None, description="the policy's name (default: the file's name)")
    description: str = ""
    corner_cases: str | None = Field(None, description="a corner-case data manifest, relative to the policy")
    train_data: str | None = Field(None, description="the training data manifest (for fitting_gap)")
    attack_data: str | None = Field(None, description="a manifest with an attack_column (for apcer)")
    verification_data: str | None = Field(None, description="a kind: verification manifest of the system's "
                                                            "comparisons (for fnmr_at_fmr and fmr_inequity)")
    requirements: list[RequirementSpec] = Field(description="a non-empty list of requirements", min_length=1)
    settings: PolicySettings | None = None


@dataclass(frozen=True)
class Requirement:
    """One requirement of a policy.

    Attributes
    ----------
    name : str
        A short identifier (given, or made from the check and its metric).
    check : str
        One of :data:`CHECKS`.
    bound : float
        The threshold the interval is compared with (``-margin`` for non-inferiority).
    direction : {"min", "max"}
        Whether the value must be at least (``min``) or at most (``max``) the bound.
    metric, feature, scope, perturbation, strength
        What the requirement is about (``None`` where it does not apply).
    description : str
    """

    name: str
    check: str
    bound: float
    direction: Literal["min", "max"]
    metric: str | None = None
    feature: str | None = None
    scope: Literal["overall", "groups"] = "overall"
    perturbation: str | None = None
    strength: float | None = None
    description: str = ""
    percentile: int = 95
    concurrency: int = 1
    fmr: float | None = None

    def text(self) -> str:
        """The requirement in words, e.g. ``roc_auc ≥ 0.85 (overall)``."""
        sign = "≥" if self.direction == "min" else "≤"
        if self.check == "metric":
            where = f" in every group of {self.feature or 'each feature'}" if self.scope == "groups" else " overall"
            return f"{self.metric} {sign} {self.bound:g}{where}"
        if self.check == "disparity":
            return f"{self.metric} difference between {self.feature} groups {sign} {self.bound:g}"
        if self.check == "fitting_gap":
            return f"{self.metric} training − evaluation gap {sign} {self.bound:g}"
        if self.check == "robustness_drop":
            return f"{self.metric} drop under {self.perturbation} (strength {self.strength:g}) {sign} {self.bound:g}"
        if self.check == "robustness_flips":
            return f"decisions flipped by {self.perturbation} (strength {self.strength:g}) {sign} {self.bound:g}"
        if self.check == "latency":
            return (f"served single-row latency p{self.percentile} at concurrency {self.concurrency} {sign} "
                    f"{self.bound:g} ms")
        if self.check == "memory":
            return f"scoring server's resident memory {sign} {self.bound:g} MB"
        if self.check == "attack_success":
            return f"adversarial attack success rate {sign} {self.bound:g}"
        if self.check == "no_failing_slice":
            return (f"no slice significantly worse on {self.metric} than the rest of the data by more than "
                    f"{self.bound:g}")
        if self.check == "apcer":
            return f"attacks accepted (APCER) for every attack species {sign} {self.bound:g}"
        if self.check == "apcer_max":
            where = f"overall and in every {self.feature} group" if self.feature else "overall"
            return f"attacks accepted by the worst species (APCER_max) {where} {sign} {self.bound:g}"
        if self.check == "fnmr_at_fmr":
            return (f"FNMR of every {self.feature or 'demographic'} group at the global threshold of FMR "
                    f"{self.fmr:g} {sign} {self.bound:g}")
        if self.check == "fmr_inequity":
            return (f"same-group FMR max/geometric mean over {self.feature or 'each feature'}'s groups at FMR "
                    f"{self.fmr:g} {sign} {self.bound:g}")
        return f"{self.metric} not worse than the staging model by more than {-self.bound:g}"


@dataclass(frozen=True)
class Policy:
    """A parsed, validated policy file.

    Attributes
    ----------
    name : str
    path : Path or None
    sha256 : str
        Checksum of the file (empty for a policy built in code).
    requirements : tuple of Requirement
    corner_cases, train_data, attack_data : Path or None
        Manifests named by the policy, resolved against its folder.
    settings : dict
        Evaluation settings (``n_boot``, ``ci_level``, ``seed``, ``min_group_size``, ``threshold``,
        ``threshold_rule``, ``adversarial_samples``, ``adversarial_budget``, ``robustness_suite``,
        ``replica_requests``: requests per concurrency level on a served replica, default 200).
    raw : dict
        The file's content, for the decision record.
    """

    name: str
    requirements: tuple[Requirement, ...]
    path: Path | None = None
    sha256: str = ""
    corner_cases: Path | None = None
    train_data: Path | None = None
    attack_data: Path | None = None
    verification_data: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def needs(self, check: str) -> list[Requirement]:
        """The requirements of one kind."""
        return [r for r in self.requirements if r.check == check]


def _requirement(path: Path, index: int, spec: Any, features: Sequence[str] | None) -> Requirement:
    """A requirement from its declared form, with the checks that need more than its own keys."""
    where = f"requirements[{index}]"
    check = spec.check
    metric = getattr(spec, "metric", None)
    if metric is not None:
        allowed = {"robustness_drop": COUNT_METRICS, "non_inferiority": PAIRED_METRICS,
                   "no_failing_slice": SLICE_METRICS}.get(check, METRIC_NAMES)
        if metric not in allowed:
            raise ConfigError(path, f"metric {metric!r} is not one of {list(allowed)}", key=f"{where}.metric")
    if check == "non_inferiority":
        if spec.margin is None:
            raise ConfigError(path, "missing 'margin' (how much worse than the staging model is acceptable)",
                              key=where)
        if spec.margin < 0:
            raise ConfigError(path, f"margin must be >= 0, got {spec.margin:g}", key=f"{where}.margin")
        # A lower-is-better metric's difference is flipped so that "candidate minus staging" is a gain.
        direction, bound = "min", -float(spec.margin)
    else:
        given = [k for k in spec.bound_keys() if getattr(spec, k) is not None]
        if len(given) != 1:
            raise ConfigError(path, f"state exactly one bound of {spec.bound_keys()}", key=where)
        direction, bound = given[0], float(getattr(spec, given[0]))
    feature = getattr(spec, "feature", None)
    if check == "disparity" and feature is None:
        raise ConfigError(path, "a disparity requirement names its 'feature' (e.g. sex)", key=where)
    if feature is not None and features is not None and feature not in features and check not in _OWN_DATA:
        raise ConfigError(path, f"feature {feature!r} is not a sensitive feature of the data; expected one of "
                                f"{list(features or [])}", key=f"{where}.feature")
    perturbation, strength = getattr(spec, "perturbation", None), getattr(spec, "strength", None)
    if perturbation is not None:
        if perturbation not in PERTURBATIONS:
            raise ConfigError(path, f"unknown perturbation {perturbation!r}; expected one of "
                                    f"{sorted(PERTURBATIONS)}", key=f"{where}.perturbation")
        if strength <= 0:
            raise ConfigError(path, f"strength must be > 0, got {strength:g}", key=f"{where}.strength")
    fmr = getattr(spec, "fmr", None)
    name = spec.name or "-".join(str(p) for p in (check, metric, feature, perturbation, fmr) if p)
    return Requirement(name=name, check=check, bound=bound, direction=direction, metric=metric, feature=feature,
                       scope=getattr(spec, "scope", "overall"), perturbation=perturbation,
                       strength=None if strength is None else float(strength), description=spec.description,
                       percentile=getattr(spec, "percentile", 95), concurrency=getattr(spec, "concurrency", 1),
                       fmr=None if fmr is None else float(fmr))


def _manifest_key(path: Path, raw: Mapping[str, Any], key: str) -> Path | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(path, f"expected the path of a data manifest, got {value!r}", key=key)
    target = (path.parent / value).resolve()
    if not target.is_file():
        raise ConfigError(path, f"manifest {target} not found", key=key)
    return target


def load_policy(path: str | Path, *, features: Sequence[str] | None = None) -> Policy:
    """Read and check a policy file.

    Parameters
    ----------
    path : path-like
        The YAML policy file.
    features : sequence of str, optional
        The evaluation data's sensitive features; a requirement naming another feature is an error.

    Returns
    -------
    Policy

    Raises
    ------
    ConfigError
        If the file is missing, not YAML, or any key is unknown, missing or of the wrong type; the
        message names the file and the key (e.g. ``requirements[2].metric``).
    """
    path = Path(path)
    raw = read_yaml_mapping(path, ConfigError, what="policy")
    declared = validate_declared(PolicyFile, raw, path, ConfigError)
    requirements = tuple(_requirement(path, i, r, features) for i, r in enumerate(declared.requirements))
    names = [r.name for r in requirements]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(path, f"requirement names must be unique; repeated: {repeated} (give each a 'name')",
                          key="requirements")
    settings = dict(raw.get("settings") or {})  # as written: the checks read only the keys a policy sets
    if "attack_success" in {r.check for r in requirements} and "adversarial_budget" not in settings:
        raise ConfigError(path, "an attack_success requirement needs settings.adversarial_budget (the largest "
                                "perturbation, in standard deviations of each feature)", key="settings")
    if {r.check for r in requirements} & set(_VERIFICATION) and raw.get("verification_data") is None:
        raise ConfigError(path, "fnmr_at_fmr and fmr_inequity requirements need verification_data (a kind: "
                                "verification manifest)", key="verification_data")
    if {"apcer", "apcer_max"} & {r.check for r in requirements} and raw.get("attack_data") is None:
        raise ConfigError(path, "an apcer requirement needs attack_data (a manifest with an attack_column)",
                          key="attack_data")
    if "fitting_gap" in {r.check for r in requirements} and raw.get("train_data") is None:
        raise ConfigError(path, "a fitting_gap requirement needs train_data (the training manifest)",
                          key="train_data")
    name = raw.get("policy", path.stem)
    return Policy(name=str(name), requirements=requirements, path=path.resolve(), sha256=sha256_file(path),
                  corner_cases=_manifest_key(path, raw, "corner_cases"), train_data=_manifest_key(path, raw, "train_data"),
                  attack_data=_manifest_key(path, raw, "attack_data"),
                  verification_data=_manifest_key(path, raw, "verification_data"), settings=dict(settings), raw=raw)


@dataclass(frozen=True)
class Evidence:
    """One measured quantity a requirement is judged on.

    Attributes
    ----------
    estimate, ci_low, ci_high : float
        The value and its interval (NaN where undefined).
    n : float
        The number of samples behind it (for the sample size that would decide).
    subject : str
        What was measured, e.g. ``overall`` or ``sex=Female``.
    note : str
        Why a value is missing, or how it was obtained.
    """

    estimate: float
    ci_low: float
    ci_high: float
    n: float
    subject: str = "overall"
    note: str = ""


def judge(requirement: Requirement, evidence: Evidence) -> dict[str, Any]:
    """Judge one piece of evidence against a requirement.

    Returns
    -------
    dict
        ``requirement``, ``check``, ``subject``, ``text``, ``bound``, ``direction``, ``estimate``,
        ``ci_low``, ``ci_high``, ``n``, ``decision`` (pass, fail, inconclusive), ``n_to_decide``
        (rows that would likely decide an inconclusive verdict, or None) and ``note``.

    Examples
    --------
    >>> r = Requirement(name="auc", check="metric", bound=0.8, direction="min", metric="roc_auc")
    >>> judge(r, Evidence(0.9, 0.85, 0.95, 1000))["decision"]
    'pass'
    >>> v = judge(r, Evidence(0.82, 0.78, 0.86, 1000))
    >>> v["decision"], v["n_to_decide"]
    ('inconclusive', 4000)
    """
    est, low, high, bound = evidence.estimate, evidence.ci_low, evidence.ci_high, requirement.bound
    note = evidence.note
    n_to_decide = None
    if not all(math.isfinite(v) for v in (est, low, high)):
        decision: Decision = "inconclusive"
        note = note or "the value or its interval is undefined"
    else:
        if requirement.direction == "min":
            decision = "pass" if low >= bound else "fail" if high < bound else "inconclusive"
        else:
            decision = "pass" if high <= bound else "fail" if low > bound else "inconclusive"
        if decision == "inconclusive":
            n_to_decide = sample_size_to_decide(est, low, high, bound, evidence.n)
            if n_to_decide is None:
                note = (note + "; " if note else "") + "the estimate lies on the bound: no sample size decides"
    return {"requirement": requirement.name, "check": requirement.check, "subject": evidence.subject,
            "text": requirement.text(), "bound": bound, "direction": requirement.direction,
            "estimate": est, "ci_low": low, "ci_high": high, "n": evidence.n, "decision": decision,
            "n_to_decide": n_to_decide, "note": note}


def nothing_to_compare(requirement: Requirement, reason: str, n: int) -> dict[str, Any]:
    """The verdict of a comparison with no counterpart (a ``non_inferiority`` requirement when no model holds the
    ``staging`` alias): *pass*, with no estimate and no interval, and the reason as its note. Nothing is
    judged: a first promotion cannot be worse than no model.

    Examples
    --------
    >>> r = Requirement(name="ni", check="non_inferiority", bound=-0.01, direction="min", metric="roc_auc")
    >>> v = nothing_to_compare(r, "no model holds the staging alias", 100)
    >>> v["decision"], v["estimate"], v["subject"]
    ('pass', None, 'vs staging')
    """
    return {"requirement": requirement.name, "check": requirement.check, "subject": "vs staging",
            "text": requirement.text(), "bound": requirement.bound, "direction": requirement.direction,
            "estimate": None, "ci_low": None, "ci_high": None, "n": n, "decision": "pass", "n_to_decide": None,
            "note": reason}


def sample_size_to_decide(estimate: float, ci_low: float, ci_high: float, bound: float, n: float) -> int | None:
    """The number of samples at which an interval around ``estimate`` would no longer contain ``bound``.

    The half-width on the side facing the bound is assumed to shrink as 1/sqrt(n):
    ``n' = n * (half_width / |estimate - bound|)**2``. None when the estimate equals the bound.

    Examples
    --------
    >>> sample_size_to_decide(0.82, 0.78, 0.86, 0.8, 1000)
    4000
    """
    gap = abs(estimate - bound)
    if gap == 0 or not math.isfinite(n) or n <= 0:
        return None
    half = (estimate - ci_low) if estimate > bound else (ci_high - estimate)
    return int(math.ceil(n * (half / gap) ** 2 - 1e-9))


def combine(verdicts: Sequence[Mapping[str, Any]]) -> Decision:
    """``fail`` if any verdict fails, else ``inconclusive`` if any is inconclusive, else ``pass``."""
    decisions = {v["decision"] for v in verdicts}
    if not verdicts:
        return "inconclusive"
    return "fail" if "fail" in decisions else "inconclusive" if "inconclusive" in decisions else "pass"


def requirement_table(verdicts: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per requirement: its overall decision and the worst subject (for the first screen)."""
    rows = []
    frame = pd.DataFrame(list(verdicts))
    if frame.empty:
        return frame
    order = {"fail": 0, "inconclusive": 1, "pass": 2}
    for name, part in frame.groupby("requirement", sort=False):
        part = part.assign(_rank=part["decision"].map(order)).sort_values("_rank", kind="stable")
        worst = part.iloc[0]
        rows.append({"requirement": name, "text": worst["text"], "decision": combine(part.to_dict("records")),
                     "subject": worst["subject"], "estimate": worst["estimate"], "ci_low": worst["ci_low"],
                     "ci_high": worst["ci_high"], "n_to_decide": worst["n_to_decide"], "note": worst["note"],
                     "judged": len(part)})
    out = pd.DataFrame(rows)
    return out.assign(_rank=out["decision"].map(order)).sort_values("_rank", kind="stable").drop(columns="_rank")


def lower_is_better(metric: str | None) -> bool:
    """Whether a smaller value of ``metric`` is better (FPR, FNR, EER, costs...)."""
    return metric in LOWER_IS_BETTER
