"""Gather the evidence a promotion policy asks for and judge it: :func:`run_checks`.

One call evaluates the model (metrics, groups, disparities with intervals), and, as the policy
requires, the fitting diagnostics against the training data, the robustness suite, the adversarial
search, the presentation-attack rates, and the paired comparison with the model now in staging. It
returns a :class:`GateResult` whose :meth:`~GateResult.record` is the decision record written to
``gate.json``: policy, evidence, verdicts, decision, and the sha256 of every data file and model.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import Dataset, load_dataset
from ..evaluation import Evaluation, evaluate, git_commit, versions
from ..verification import verify
from ._policy import Evidence, Policy, Requirement, combine, judge, load_policy, nothing_to_compare, requirement_table
from ..models import ModelRef, load_scorer, resolve_model, score

#: Version of the ``gate.json`` layout.
RECORD_SCHEMA_VERSION = 1


@dataclass
class GateResult:
    """Everything a gate run measured and decided.

    Attributes
    ----------
    decision : {"pass", "fail", "inconclusive"}
    verdicts : list of dict
        One per requirement and subject (see :func:`evalkit.gate.judge`).
    policy : Policy
    evaluation : Evaluation
    fitting, learning_curve, robustness, adversarial, spoofing
        The evidence gathered (None where the policy did not ask for it).
    non_inferiority : list of dict
        One paired comparison with the staging model per ``non_inferiority`` requirement (``requirement``,
        ``metric``, ``candidate``, ``staging``, ``difference``, ``ci_low``, ``ci_high``, ``n``, ``staging_uri``,
        ``staging_version``); empty when there is none or no model holds the ``staging`` alias.
    staging : ModelRef or None
        The model that held the ``staging`` alias, if any.
    corner_cases : DataFrame or None
        ``id`` and ``score`` of the policy's corner-case set (compared after promotion).
    """

    decision: str
    verdicts: list[dict[str, Any]]
    policy: Policy
    evaluation: Evaluation
    fitting: Any = None
    learning_curve: pd.DataFrame | None = None
    robustness: Any = None
    adversarial: Any = None
    spoofing: pd.DataFrame | None = None
    pad: Any = None
    non_inferiority: list[dict[str, Any]] = field(default_factory=list)
    staging: ModelRef | None = None
    staging_scores: np.ndarray | None = field(default=None, repr=False)
    corner_cases: pd.DataFrame | None = None
    corner_dataset: Dataset | None = None
    attack_dataset: Dataset | None = None
    train_dataset: Dataset | None = None
    run_id: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    served: dict[str, Any] | None = None
    verification: Any = None
    decided_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def requirements(self) -> pd.DataFrame:
        """One row per requirement, failed first (see :func:`evalkit.gate.requirement_table`)."""
        return requirement_table(self.verdicts)

    def record(self) -> dict[str, Any]:
        """The decision record (JSON-friendly): what was decided, on what evidence, about which files."""
        ev = self.evaluation

        def dataset(d: Dataset | None) -> dict[str, Any] | None:
            if d is None:
                return None
            return {"name": d.name, "manifest": str(d.manifest.manifest_path), "sha256": d.manifest.sha256,
                    "rows": len(d)}

        model = ev.model
        evidence: dict[str, Any] = {
            "overall": {m: _num(v) for m, v in ev.overall.items()},
            "overall_ci": {m: list(map(_num, ev.interval(m))) for m in ev.overall},
            "threshold": ev.threshold,
        }
        if self.fitting is not None:
            evidence["fitting"] = _records(self.fitting.table)
            evidence["fitting_methods"] = dict(self.fitting.methods)
        if self.learning_curve is not None:
            evidence["learning_curve"] = _records(self.learning_curve)
        if self.robustness is not None:
            evidence["robustness"] = {"errors": self.robustness.errors, "hurt": _records(self.robustness.hurt),
                                      "suite": {k: list(v) for k, v in self.robustness.suite.items()}}
        if self.adversarial is not None:
            a = self.adversarial
            evidence["adversarial"] = {"attacked": a.attacked, "broken": a.broken, "rate": _num(a.rate),
                                       "ci_low": _num(a.ci_low), "ci_high": _num(a.ci_high), "budget": a.budget,
                                       "unit": a.unit, "settings": a.settings, "by_group": _records(a.by_group)}
        if self.spoofing is not None:
            evidence["spoofing"] = _records(self.spoofing)
        if self.pad is not None:  # ISO/IEC 30107-3's BPCER10 and BPCER20, per group
            evidence["spoofing_at_apcer"] = _records(self.pad.at_apcer)
        if self.verification is not None:
            evidence["verification"] = self.verification.to_dict()
        if self.served is not None:
            evidence["served_replica"] = {k: v for k, v in self.served.items() if k != "load"} | {
                "load": [{k: v for k, v in level.items() if k != "latencies_ms"} for level in self.served["load"]]}
        if self.non_inferiority:
            evidence["non_inferiority"] = [{k: _num(v) if isinstance(v, float) else v for k, v in c.items()}
                                           for c in self.non_inferiority]
        return {
            "schema_version": RECORD_SCHEMA_VERSION,
            "kind": "evalkit.gate",
            "decision": self.decision,
            "decided_at": self.decided_at,
            "model": {"name": model.name, "spec": model.spec, "kind": model.kind, "uri": model.uri,
                      "version": model.version, "sha256": model.sha256},
            "staging": None if self.staging is None else {"uri": self.staging.uri, "version": self.staging.version,
                                                          "sha256": self.staging.sha256},
            "data": dataset(ev.data),
            "train_data": dataset(self.train_dataset),
            "attack_data": dataset(self.attack_dataset),
            "corner_cases": dataset(self.corner_dataset),
            "policy": {"name": self.policy.name, "path": str(self.policy.path or ""), "sha256": self.policy.sha256,
                       "content": self.policy.raw},
            "settings": self.settings,
            "requirements": _records(self.requirements()),
            "verdicts": [{k: _num(v) if isinstance(v, float) else v for k, v in r.items()} for r in self.verdicts],
            "evidence": evidence,
            "run_id": self.run_id,
            "timings_seconds": {k: round(v, 3) for k, v in self.timings.items()},
            "versions": versions(),
            "git_commit": git_commit(),
        }


def _num(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        out.append({k: (_num(v) if isinstance(v, (float, np.floating)) else
                        int(v) if isinstance(v, (np.integer,)) else bool(v) if isinstance(v, np.bool_) else v)
                    for k, v in row.items()})
    return out


def _say(message: str, progress: bool) -> None:
    if progress:
        print(f"evalkit: {message}", file=sys.stderr, flush=True)


def _metric_evidence(req: Requirement, ev: Evaluation) -> list[Evidence]:
    if req.scope == "overall":
        low, high = ev.interval(req.metric)
        return [Evidence(ev.overall[req.metric], low, high, len(ev.data))]
    features = [req.feature] if req.feature else list(ev.data.sensitive.columns)
    out = []
    for feature in features:
        part = ev.by_group.loc[feature]
        for group, row in part.iterrows():
            if row["n"] < ev.min_group_size:
                continue
            low, high = ev.interval(req.metric, feature, str(group))
            out.append(Evidence(float(row[req.metric]), low, high, float(row["n"]), f"{feature}={group}"))
    return out


def _disparity_evidence(req: Requirement, ev: Evaluation) -> list[Evidence]:
    key = (req.feature, req.metric)
    if key not in ev.disparities.index:
        return [Evidence(math.nan, math.nan, math.nan, len(ev.data), req.feature or "",
                         f"no disparity of {req.metric} for {req.feature}")]
    d = ev.disparities.loc[key]
    low = high = math.nan
    if ev.uncertainty is not None and key in ev.uncertainty.disparities.index:
        u = ev.uncertainty.disparities.loc[key]
        low, high = float(u["difference_ci_low"]), float(u["difference_ci_high"])
    note = f"worst {d['worst_group']}, best {d['best_group']}"
    return [Evidence(float(d["difference"]), low, high, len(ev.data), req.feature or "", note)]


def run_checks(
    model: ModelRef | str | Mapping[str, Any],
    data: Dataset | str | Path,
    policy: Policy | str | Path,
    *,
    staging: ModelRef | str | Mapping[str, Any] | None = None,
    threshold: float | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
    trusted_types: tuple[str, ...] = (),
    run_id: str | None = None,
    learning_curve_fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0),
    progress: bool = False,
) -> GateResult:
    """Measure what ``policy`` requires of ``model`` on ``data`` and judge it.

    Parameters
    ----------
    model : ModelRef, str or dict
        The candidate (any value :func:`evalkit.resolve_model` accepts, or a ModelRef's fields).
    data : Dataset or path-like
        The evaluation set.
    policy : Policy or path-like
        The policy (see :mod:`evalkit.gate`).
    staging : ModelRef, str or dict, optional
        The model now holding the ``staging`` alias, for non-inferiority (None: there is none).
    threshold, n_boot, seed : optional
        Override the policy's settings (defaults 0.5, 500 and 0).
    trusted_types : tuple of str
        Extra types a skops model may contain.
    run_id : str, optional
        The MLflow run to record.
    learning_curve_fractions : tuple of float
        Training shares for the learning curve (needs train_data and a refittable model).
    progress : bool, default=False

    Returns
    -------
    GateResult

    Raises
    ------
    EvalkitError
        Bad input (policy, data, model) stops here with a message naming the file and key.
    """
    from ..diagnostics import adversarial_search
    from ..diagnostics import spoof_dataset_report

    data = data if isinstance(data, Dataset) else load_dataset(data)
    policy = policy if isinstance(policy, Policy) else load_policy(policy, features=list(data.sensitive.columns))
    s = policy.settings
    threshold = float(threshold if threshold is not None else s.get("threshold", 0.5))
    n_boot = int(n_boot if n_boot is not None else s.get("n_boot", 500))
    seed = int(seed if seed is not None else s.get("seed", 0))
    level = float(s.get("ci_level", 0.95))
    min_group_size = int(s.get("min_group_size", 30))
    settings = {"threshold": threshold, "threshold_rule": s.get("threshold_rule", "fixed"), "n_boot": n_boot,
                "ci_level": level, "seed": seed, "min_group_size": min_group_size}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        result.timings[name] = now - clock[0]
        clock[0] = now

    _say(f"evaluating on {data.name} ({len(data)} rows)", progress)
    # The slice search is only evidence for no_failing_slice requirements (the first one's metric is searched
    # here, any other when judged); a policy without one does not pay for it (1 s on Adult, more at scale).
    slice_checks = policy.needs("no_failing_slice")
    ev = evaluate(model, data, threshold=threshold, threshold_rule=settings["threshold_rule"], n_boot=n_boot,
                  ci_level=level, seed=seed, min_group_size=min_group_size, trusted_types=trusted_types,
                  run_id=run_id, slice_metric=slice_checks[0].metric if slice_checks else "none")
    settings["threshold"] = ev.threshold  # the rule's threshold is the operating point for every other check
    result = GateResult(decision="inconclusive", verdicts=[], policy=policy, evaluation=ev, run_id=run_id,
                        settings=settings)
    lap("evaluate")
    # Fitting, robustness and adversarial checks score new inputs: not possible with a predictions file,
    # whose requirements then stay inconclusive.
    ref = ev.model
    scorer = load_scorer(ref, trusted_types=trusted_types, positive_label=data.manifest.positive_label) \
        if ref.kind not in ("predictions", "column") else None
    if policy.train_data is not None and scorer is not None:
        _check_fitting(result, scorer, trusted_types, learning_curve_fractions, progress, lap)
    if scorer is not None:
        _check_robustness(result, scorer, progress)
        lap("robustness")
    if scorer is not None and (policy.needs("attack_success") or "adversarial_budget" in s):
        _say("adversarial search (HopSkipJump)", progress)
        result.adversarial = adversarial_search(
            scorer, data, threshold=ev.threshold, budget=float(s["adversarial_budget"]),
            n_samples=int(s.get("adversarial_samples", 20)), max_iter=5, max_eval=100, level=level, seed=seed,
            progress=progress)
        lap("adversarial")
    if policy.attack_data is not None:
        attack = result.attack_dataset = load_dataset(policy.attack_data)
        _say(f"presentation attacks: {attack.name} ({len(attack)} rows)", progress)
        result.pad = spoof_dataset_report(attack, score(ref, attack, trusted_types=trusted_types, scorer=scorer),
                                          threshold=ev.threshold, level=level)
        result.spoofing = result.pad.rates
        lap("spoofing")
    if policy.verification_data is not None:
        targets = sorted({r.fmr for r in [*policy.needs("fnmr_at_fmr"), *policy.needs("fmr_inequity")]}, reverse=True)
        _say(f"verification by group at FMR {', '.join(f'{t:g}' for t in targets)}", progress)
        result.verification = verify(policy.verification_data, settings={
            "fmr_targets": targets or [1e-3], "n_boot": int(s["n_boot"]), "ci_level": level, "seed": seed})
        lap("verification")
    if staging is not None:  # recorded whatever the policy asks; scored only for a comparison
        result.staging = staging if isinstance(staging, ModelRef) else (
            ModelRef(**{**staging, "path": Path(staging["path"])}) if isinstance(staging, Mapping)
            else resolve_model(staging))
    if result.staging is not None and policy.needs("non_inferiority"):
        result.staging_scores = score(result.staging, data, trusted_types=trusted_types)
        lap("staging_scores")
    if policy.corner_cases is not None and ref.kind not in ("predictions", "column"):
        corner = result.corner_dataset = load_dataset(policy.corner_cases)
        result.corner_cases = pd.DataFrame({"id": corner.ids.to_numpy(),
                                            "score": score(ref, corner, trusted_types=trusted_types, scorer=scorer)})
        lap("corner_cases")
    if (policy.needs("latency") or policy.needs("memory")) and ref.kind == "registered" and ref.uri:
        _say(f"served replica of {ref.uri} (latency and memory budgets)", progress)
        result.served = served_replica(ref.uri, scorer, [d for d in (result.corner_dataset, data) if d is not None],
                                       max_requests=int(s.get("replica_requests", 200)))
        lap("served_replica")
    result.verdicts = _judge_all(policy, result)
    result.decision = combine(result.verdicts)
    lap("judge")
    _say(f"gate decision: {result.decision.upper()}", progress)
    return result


def _check_fitting(result: GateResult, scorer: Any, trusted_types: tuple[str, ...], fractions: tuple[float, ...],
                   progress: bool, lap: Any) -> None:
    from ..diagnostics import fitting_diagnostics, learning_curve
    from ..stats import PAIRED_METRICS

    policy, ev, s = result.policy, result.evaluation, result.settings
    train = result.train_dataset = load_dataset(policy.train_data)
    _say(f"fitting diagnostics against {train.name} ({len(train)} rows)", progress)
    gaps = [r.bound for r in policy.needs("fitting_gap")]
    metrics = tuple(m for m in dict.fromkeys([*(r.metric for r in policy.needs("fitting_gap")), "roc_auc", "accuracy"])
                    if m in PAIRED_METRICS)
    result.fitting = fitting_diagnostics(
        train.y_true, score(ev.model, train, trusted_types=trusted_types, scorer=scorer), train.sensitive, ev.y_true,
        ev.y_score,
        ev.data.sensitive, threshold=ev.threshold, metrics=metrics, max_gap=min(gaps) if gaps else 0.05,
        n_boot=min(s["n_boot"], 300), level=s["ci_level"], seed=s["seed"], min_group_size=s["min_group_size"])
    lap("fitting")
    try:
        result.learning_curve = learning_curve(scorer.estimator, train, ev.data, fractions=fractions,
                                               threshold=ev.threshold, seed=s["seed"],
                                               progress=(lambda m: _say(m, True)) if progress else None)
    except ValueError as err:  # not refittable: the diagnostics stand without a curve
        _say(f"no learning curve: {err}", progress)
    lap("learning_curve")


def _check_robustness(result: GateResult, scorer: Any, progress: bool) -> None:
    """The default suite of the data's modality (unless ``robustness_suite: policy``) plus every
    perturbation strength a requirement names."""
    from ..diagnostics import PERTURBATIONS, assess_robustness, default_suite

    policy, data, s = result.policy, result.evaluation.data, result.settings
    full = policy.settings.get("robustness_suite", "full") == "full"
    suite = {k: set(v) for k, v in default_suite(data).items()} if full else {}
    modality = "image" if data.manifest.image_features else "tabular"
    for r in [*policy.needs("robustness_drop"), *policy.needs("robustness_flips")]:
        if PERTURBATIONS[r.perturbation].modality == modality:
            suite.setdefault(r.perturbation, set()).add(float(r.strength))
    _say(f"robustness: {', '.join(suite) or 'nothing asked'}", progress)
    if not suite:
        return
    metrics = tuple(dict.fromkeys(["accuracy", "recall", "fpr", *(r.metric for r in policy.needs("robustness_drop"))]))
    result.robustness = assess_robustness(
        scorer, data, suite={k: sorted(v) for k, v in suite.items()}, threshold=result.evaluation.threshold,
        metrics=metrics, n_boot=min(s["n_boot"], 300), level=s["ci_level"], seed=s["seed"],
        min_group_size=s["min_group_size"], progress=progress)


def _judge_all(policy: Policy, result: GateResult) -> list[dict[str, Any]]:
    ev = result.evaluation
    verdicts: list[dict[str, Any]] = []
    for req in policy.requirements:
        evidence: list[Evidence] = []
        if req.check == "metric":
            evidence = _metric_evidence(req, ev)
        elif req.check == "disparity":
            evidence = _disparity_evidence(req, ev)
        elif req.check == "fitting_gap":
            evidence = [_missing("the model cannot score new inputs (a predictions file)")] if result.fitting is None \
                else [Evidence(g["gap"], g["gap_ci_low"], g["gap_ci_high"], g["n_eval"])
                      for g in [result.fitting.gap(req.metric)]]
        elif req.check in ("robustness_drop", "robustness_flips"):
            evidence = [_robustness_evidence(req, result)]
        elif req.check in ("latency", "memory"):
            evidence = [budget_evidence(req, result.served)]
        elif req.check == "attack_success":
            a = result.adversarial
            evidence = [_missing("no adversarial search (the model cannot score new inputs)")] if a is None else \
                [Evidence(a.rate, a.ci_low, a.ci_high, a.attacked, "overall",
                          f"{a.broken} of {a.attacked} broken within {a.budget:g} {a.unit}")]
        elif req.check in ("fnmr_at_fmr", "fmr_inequity"):
            evidence = _verification_evidence(req, result.verification)
        elif req.check == "apcer":
            rates = result.spoofing
            apcer = rates[(rates.feature == "overall") & rates.rate.str.startswith("APCER:") & (rates.n > 0)]
            evidence = [Evidence(r.value, r.ci_low, r.ci_high, r.n, r.rate.split(":", 1)[1],
                                 f"{r.errors} of {r.n} attacks accepted") for r in apcer.itertuples()]
        elif req.check == "apcer_max":
            evidence = _apcer_max_evidence(req, result.pad)
        elif req.check == "no_failing_slice":
            evidence = [_slice_evidence(req, ev)]
        elif req.check == "non_inferiority":
            evidence = _non_inferiority(req, result)
            if evidence is None:
                verdicts.append(nothing_to_compare(req, "no model holds the staging alias: nothing to compare with",
                                                   len(ev.data)))
                continue
        verdicts.extend(judge(req, e) for e in evidence)
    return verdicts


def _slice_evidence(req: Requirement, ev: Any) -> Evidence:
    """The failing slices on the requirement's metric (the evaluation's search, or a new one on another metric):
    the estimate is the best-supported slice's gap, the interval runs from the largest lower bound to the
    largest upper bound over the significant slices, so the verdict fails when some slice is surely worse than
    the bound and passes only when none may be."""
    search = ev.slice_search(req.metric)
    found = search.significant
    if found.empty:
        return Evidence(0.0, 0.0, 0.0, search.tested, "every slice",
                        f"none of {search.tested:,} slices tested is significantly worse (BH at FDR "
                        f"{search.settings.fdr:g})")
    first = found.iloc[0]
    return Evidence(float(first.gap), float(found.gap_low.max()), float(found.gap_high.max()), int(first.n),
                    first.slice, f"{len(found):,} of {search.tested:,} slices significantly worse; best supported: "
                    f"{first.slice} ({search.settings.metric} {first.value:.3g} against {first.rest:.3g})")


def _apcer_max_evidence(req: Requirement, pad: Any) -> list[Evidence]:
    """APCER_max overall and, when the requirement names a feature, in each of its groups: the worst species'
    rate with the simultaneous (Bonferroni) interval of the species' maximum."""
    rates = pad.rates
    if req.feature and req.feature not in set(rates.feature):
        return [_missing(f"the attack data have no sensitive feature {req.feature!r} (they have "
                         f"{sorted(set(rates.feature) - {'overall'})})")]
    rows = rates[(rates.rate == "APCER_max") & ((rates.feature == "overall") | (rates.feature == req.feature))]
    species = {(f, g): part.loc[part.rate.str.startswith("APCER:") & (part.n > 0)].sort_values(
        "value", ascending=False, kind="stable").rate.iloc[0].split(":", 1)[1]
        for (f, g), part in rates.groupby(["feature", "group"], sort=False)
        if (part.rate.str.startswith("APCER:") & (part.n > 0)).any()}
    return [Evidence(r.value, r.ci_low, r.ci_high, r.n, "overall" if r.feature == "overall" else f"{r.feature}={r.group}",
                     f"worst species {species[(r.feature, r.group)]}: {r.errors} of {r.n} attacks accepted; interval "
                     "bounds the maximum over species (Bonferroni)") for r in rows.itertuples()]


def _verification_evidence(req: Requirement, res: Any) -> list[Evidence]:
    """Per-group FNMR (``fnmr_at_fmr``) or the same-group FMR's max/geometric-mean ratio (``fmr_inequity``) at
    the global threshold of the requirement's target FMR, with subject-clustered intervals."""
    t = res.thresholds.set_index("target")
    if req.fmr not in t.index or not t.loc[req.fmr, "supported"]:
        reason = t.loc[req.fmr, "reason"] if req.fmr in t.index else "not evaluated"
        return [_missing(f"no threshold at FMR {req.fmr:g}: {reason}")]
    features = [req.feature] if req.feature else res.counts.features
    unknown = [f for f in features if f not in res.counts.features]
    if unknown:
        return [_missing(f"the verification data have no feature {unknown[0]!r} (they have "
                         f"{res.counts.features})")]
    out = []
    for f in features:
        if req.check == "fnmr_at_fmr":
            part = res.readings.xs((req.fmr, f), level=("target", "feature"))
            out += [Evidence(r.fnmr, r.get("fnmr_low", np.nan), r.get("fnmr_high", np.nan), r.genuine, f"{f}={g}",
                             f"{int(r.false_non_matches)} of {int(r.genuine)} genuine comparisons of {int(r.subjects)} "
                             "subjects rejected") for g, r in part.iterrows()]
        else:
            r = res.inequity.loc[(req.fmr, f, "fmr_same", "max_geomean_ratio")]
            out.append(Evidence(r["value"], r.get("low", np.nan), r.get("high", np.nan),
                                int(res.counts.n_impostor), f, "max/geomean of the groups' same-group FMR"))
    return out


def _robustness_evidence(req: Requirement, result: GateResult) -> Evidence:
    """The drop of a metric, or the flip rate, at one perturbation strength; a perturbation the model
    could not score at all counts as an infinite loss (the requirement fails, with the reason)."""
    rob = result.robustness
    if rob is None:
        return _missing("robustness was not measured (the model cannot score perturbed inputs)")
    if req.perturbation in rob.errors:
        return Evidence(math.inf, math.inf, math.inf, len(result.evaluation.data), "overall",
                        rob.errors[req.perturbation])
    if req.check == "robustness_drop":
        d = rob.drop(req.perturbation, req.strength, req.metric)
        return Evidence(d["drop"], d["drop_ci_low"], d["drop_ci_high"], d["n"])
    f = rob.flips(req.perturbation, req.strength)
    return Evidence(f["flip_rate"], f["flip_ci_low"], f["flip_ci_high"], f["n"])


def served_replica(model_uri: str, scorer: Any, sets: list[Dataset], *, sample_rows: int = 200,
                   max_requests: int = 200) -> dict[str, Any]:
    """Serve ``model_uri`` with MLflow's scoring server, check served = in-process scores on ``sets`` and run
    the bounded load loop (see :mod:`evalkit.staging`); the server is always stopped. Returns the
    :class:`~evalkit.staging.StageResult` as a dict."""
    from ..serve import StageResult, check_replica, serve

    t = time.perf_counter()
    with serve(model_uri) as server:
        startup = time.perf_counter() - t
        checks, load = check_replica(server, scorer, [(d.name, d) for d in sets], sample_rows=sample_rows,
                                     max_requests=max_requests)
        return StageResult(model_uri=model_uri, url=server.url, checks=checks, load=load,
                           server_rss_mb=server.rss_mb(), run_id=None, startup_seconds=startup).to_dict()


def budget_evidence(req: Requirement, served: dict[str, Any] | None) -> Evidence:
    """Latency or memory evidence from a served replica (a :class:`~evalkit.staging.StageResult` as a dict):
    a latency percentile at the requirement's concurrency, with a bootstrap interval over the requests;
    the server's resident memory after the load loop as a single reading."""
    from ..models import latency_percentile

    if served is None:
        return _missing("needs a served replica: only a registered model can be served (mlflow models serve)")
    if req.check == "memory":
        rss = served.get("server_rss_mb")
        return _missing("the server's memory could not be read") if rss is None else \
            Evidence(rss, rss, rss, 1, "served replica", "resident memory of the scoring server after the load loop")
    level = next(lv for lv in served["load"] if lv["concurrency"] == req.concurrency)
    est, low, high = latency_percentile(np.array(level["latencies_ms"]), req.percentile)
    return Evidence(est, low, high, level["requests"], f"served, concurrency {req.concurrency}",
                    f"{level['requests']} HTTP requests, one row each")


def _missing(note: str) -> Evidence:
    return Evidence(math.nan, math.nan, math.nan, math.nan, "overall", note)


def _non_inferiority(req: Requirement, result: GateResult) -> list[Evidence] | None:
    from ..stats import paired_difference

    if result.staging_scores is None or result.staging is None:
        return None
    ev = result.evaluation
    s = result.settings
    diff = paired_difference(ev.y_true, ev.y_score, result.staging_scores, req.metric, threshold_a=ev.threshold,
                             n_boot=max(s["n_boot"], 200), level=s["ci_level"], seed=s["seed"],
                             lower_is_better=req.metric in ("fpr", "fnr"))
    result.non_inferiority.append({
        "requirement": req.name, "metric": req.metric, "candidate": diff["a"], "staging": diff["b"],
        "difference": diff["difference"], "ci_low": diff["ci_low"], "ci_high": diff["ci_high"], "n": diff["n"],
        "staging_uri": result.staging.uri, "staging_version": result.staging.version, "method": diff["method"]})
    return [Evidence(diff["difference"], diff["ci_low"], diff["ci_high"], diff["n"], "vs staging",
                     f"candidate {diff['a']:.4g}, staging (v{result.staging.version}) {diff['b']:.4g}")]
