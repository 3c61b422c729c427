"""Promotion to staging and rollback, through the MLflow model registry's ``staging`` alias.

:func:`promote` moves the alias only for a model version whose latest gate decision is ``pass``
under the *current* policy file (same sha256, still valid) and whose model file is the one the gate
judged. It then checks the promoted model end to end: it loads ``models:/<name>@staging`` through
MLflow's pyfunc loader, scores the policy's corner-case set, and compares every score with the ones
the gate recorded (to 1e-9). On any failure the alias goes back to the previous version (or is
removed if there was none) and the version is marked as returned to the lab, with the reason.

:func:`rollback` does the same by hand. Each action is recorded as a run of the MLflow experiment
``evalkit-promotions`` and as tags on the model versions involved:

- ``evalkit.status``: ``staging`` or ``returned_to_lab``;
- ``evalkit.returned_reason``, ``evalkit.previous_staging``, ``evalkit.promoted_at``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import sha256_file
from ..data import load_dataset
from ..exceptions import EvalkitError
from ._policy import Policy, load_policy
from ._pipeline import DECISION_TAG, DEFAULT_POLICY, REPRODUCED_TAG
from ..runner import log
from ..serve import score_mismatch
from ..views import fmt_ci
from ..tracking import STAGING_ALIAS

#: MLflow experiment that records promotions and rollbacks.
PROMOTION_EXPERIMENT = "evalkit-promotions"
#: How closely the served scores must match the gate's (absolute difference).
TOLERANCE = 1e-9


class PromotionError(EvalkitError, RuntimeError):
    """A model may not be promoted, or its promotion was rolled back; the message says why."""


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion or rollback did.

    Attributes
    ----------
    name : str
    version : str
        The version promoted, or rolled back.
    staging : str or None
        The version holding the ``staging`` alias afterwards.
    action : {"promoted", "rolled_back", "unchanged"}
    run_id : str
    detail : str
    """

    name: str
    version: str
    staging: str | None
    action: str
    run_id: str
    detail: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _resolve(spec: str) -> tuple[str, str]:
    """(name, version) of a registered model spec (a name means its latest version)."""
    from .. import tracking
    from ..exceptions import ModelError

    if Path(spec).suffix or "/" in spec and not spec.startswith("models:/"):
        raise PromotionError(f"model '{spec}': only registered models can be promoted or rolled back; register it "
                             "in MLflow first (a .skops or predictions file has no registry entry)")
    uri = spec if spec.startswith("models:/") else f"models:/{spec}/latest"
    try:
        return tracking.resolve_registered(spec, uri)
    except ModelError as err:
        raise PromotionError(str(err)) from err


def _record_run(name: str, version: str, action: str, params: dict[str, Any], *, failed: str | None = None,
                replica: dict[str, Any] | None = None) -> str:
    from .. import tracking
    from ..serve import stage_metrics

    run_id = tracking.start_run(experiment=PROMOTION_EXPERIMENT, run_name=f"{action}-{name}-v{version}",
                                params={"model": name, "version": version, "action": action, **params},
                                tags={"evalkit.kind": action, "evalkit.model": name, **tracking.owner_tags()})
    if replica is not None:
        tracking.log_metrics(run_id, stage_metrics(replica["served"]))
        tracking.client().log_dict(run_id, replica, "replica.json")
    if failed:
        tracking.client().set_tag(run_id, "evalkit.error", failed[:5000])
    tracking.end_run(run_id, "FAILED" if failed else "FINISHED")
    return run_id


def check_gate(name: str, version: str, policy: str | Path, *,
               require_reproduced: bool = False) -> tuple[dict[str, str], Policy]:
    """Refuse promotion unless version ``version`` passed the gate under this very policy file (and, with
    ``require_reproduced``, unless ``evalkit reproduce`` found that very gate run's decision identical).

    Returns
    -------
    (dict, Policy)
        The version's tags and the policy.

    Raises
    ------
    PromotionError
        If the policy file is invalid or changed since the gate ran, the decision is not ``pass``
        (fail, inconclusive, error, or no gate run at all), or the model file changed; with
        ``require_reproduced``, if the latest gate run was not reproduced identically.
    ConfigError
        If the policy file is missing or invalid.
    """
    from .. import tracking

    current = load_policy(policy)  # an invalid policy stops everything (ConfigError)
    tags = tracking.version_tags(name, version)
    decision = tags.get(DECISION_TAG)
    if decision is None:
        raise PromotionError(f"{name} version {version} has no gate decision; run 'make gate MODEL={name}' first")
    if decision != "pass":
        raise PromotionError(f"{name} version {version}: the latest gate decision is '{decision}' (run "
                             f"{tags.get('evalkit.gate.run_id', '?')}); only a pass can be promoted")
    if tags.get("evalkit.gate.policy_sha256") != current.sha256:
        raise PromotionError(f"{name} version {version} passed the gate under another policy (sha256 "
                             f"{tags.get('evalkit.gate.policy_sha256', '?')[:12]}…); {current.path} is now "
                             f"{current.sha256[:12]}…: run 'make gate MODEL={name}' again")
    gate_run = tags.get("evalkit.gate.run_id", "?")
    if require_reproduced and tags.get(REPRODUCED_TAG) != gate_run:
        found = tags.get("evalkit.gate.reproduction")
        raise PromotionError(f"{name} version {version}: its gate run {gate_run} has not been reproduced identically"
                             + (f" (the last reproduction: {found})" if found else "")
                             + f"; run 'make reproduce RUN={gate_run}' first")
    return tags, current


def _gate_files(run_id: str, dst: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    from .. import tracking

    local = tracking.download_artifacts(dst, run_id=run_id, artifact_path="gate")
    record = json.loads((local / "gate.json").read_text())
    corner = pd.read_csv(local / "corner_cases.csv", dtype={"id": str})
    if record.get("corner_cases_sha256") and sha256_file(local / "corner_cases.csv") != record["corner_cases_sha256"]:
        raise PromotionError(f"the corner-case scores of gate run {run_id} do not match their recorded sha256")
    return record, corner


def served_check(name: str, record: dict[str, Any], expected: pd.DataFrame, *,
                 alias: str = STAGING_ALIAS) -> dict[str, Any]:
    """Load ``models:/<name>@<alias>`` through MLflow's pyfunc loader, score the gate's corner cases and
    compare with the scores the gate recorded.

    Returns
    -------
    dict
        ``rows``, ``max_abs_diff``, ``uri``.

    Raises
    ------
    PromotionError
        If the corner-case data changed, the model cannot be loaded or applied, or any score differs by
        more than :data:`TOLERANCE` (the message names the first differing sample).
    """
    import warnings

    import mlflow

    from .. import tracking

    corner_info = record.get("corner_cases")
    if not corner_info:
        raise PromotionError("the gate record names no corner-case set (policy key corner_cases): nothing to check "
                             "the promoted model with")
    data = load_dataset(corner_info["manifest"])
    if data.manifest.sha256 != corner_info["sha256"]:
        raise PromotionError(f"the corner-case data {data.manifest.manifest_path} changed since the gate ran")
    uri = f"models:/{name}@{alias}"
    tracking.client()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = mlflow.pyfunc.load_model(uri)
            columns = model.metadata.get_input_schema().input_names() if model.metadata.get_input_schema() else None
            out = model.predict(data.frame[columns] if columns else data.features)
    except Exception as err:
        raise PromotionError(f"{uri} could not be loaded or applied to {data.name}: {type(err).__name__}: {err}") from err
    values = np.asarray(out, dtype=np.float64)
    scores = values[:, -1] if values.ndim == 2 else values
    exp = expected.set_index("id")["score"].reindex(data.ids.to_numpy()).to_numpy(np.float64)
    mismatch, max_diff = score_mismatch(scores, exp, data.ids.tolist(), got_name="served", expected_name="gate",
                                        tolerance=TOLERANCE)
    if mismatch:
        raise PromotionError(f"{uri} scores corner cases differently from the gate: {mismatch}")
    return {"rows": len(data), "max_abs_diff": max_diff, "uri": uri}


def replica_check(name: str, record: dict[str, Any], model_file: Path, policy: Policy,
                  alias: str = STAGING_ALIAS) -> dict[str, Any]:
    """Serve ``models:/<name>@<alias>`` with MLflow's scoring server, check its scores against the model
    file in-process on the gate's corner cases and evaluation data, and judge the policy's latency and
    memory budgets on it.

    Returns
    -------
    dict
        ``served`` (the replica's measurements) and ``verdicts``.

    Raises
    ------
    PromotionError
        If a served score differs, or a budget is not met with confidence (fail or inconclusive).
    """
    from ._evidence import budget_evidence, served_replica
    from ._policy import judge
    from ..models import load_scorer, resolve_model

    data = [load_dataset(record[key]["manifest"]) for key in ("corner_cases", "data") if record.get(key)]
    scorer = load_scorer(resolve_model(str(model_file)), positive_label=data[-1].manifest.positive_label)
    log(f"serving models:/{name}@{alias} to check its latency and memory budgets")
    served = served_replica(f"models:/{name}@{alias}", scorer, data,
                            max_requests=int(policy.settings.get("replica_requests", 200)))
    verdicts = [judge(req, budget_evidence(req, served)) for req in [*policy.needs("latency"), *policy.needs("memory")]]
    missed = [v for v in verdicts if v["decision"] != "pass"]
    if missed:
        raise PromotionError("the served replica misses its budget: " + "; ".join(
            f"{v['text']}: {v['estimate']:.4g} {fmt_ci(v['ci_low'], v['ci_high'])} ({v['decision']})" for v in missed))
    return {"served": served, "verdicts": verdicts}


def promote(model: str, *, policy: str | Path | None = None, require_reproduced: bool = False) -> PromotionResult:
    """Move the ``staging`` alias to ``model``'s version after checking its gate decision, then check the
    promoted model end to end; roll back on any failure.

    Parameters
    ----------
    model : str
        A registered model name (its latest version) or ``models:/<name>/<version>``.
    policy : path-like, optional
        The policy the gate must have passed under (default ``configs/gates.yaml``).
    require_reproduced : bool, default=False
        Also require that ``evalkit reproduce`` replayed the version's latest gate run and found the decision
        and every verdict identical (``--require-reproduced``).

    Returns
    -------
    PromotionResult

    Raises
    ------
    PromotionError
        If the version may not be promoted (nothing changes), or its end-to-end check failed (the alias
        is back where it was and the version is marked ``returned_to_lab``).
    """
    from .. import tracking

    policy = Path(policy) if policy is not None else tracking.project_root() / DEFAULT_POLICY
    name, version = _resolve(model)
    tags, policy_obj = check_gate(name, version, policy, require_reproduced=require_reproduced)
    previous = tracking.alias_version(name)
    if previous == version:
        run_id = _record_run(name, version, "promote", {"previous": previous, "result": "unchanged"})
        log(f"{name} version {version} already holds the staging alias")
        return PromotionResult(name, version, version, "unchanged", run_id, "already in staging")
    workdir = Path(tempfile.mkdtemp(prefix="evalkit-promote-"))
    try:
        record, expected = _gate_files(tags["evalkit.gate.run_id"], workdir)
        local = tracking.download_model(f"models:/{name}/{version}", workdir / "model")
        if sha256_file(local / "model.skops") != record["model"]["sha256"]:
            raise PromotionError(f"{name} version {version}: the model file differs from the one the gate judged")
        log(f"moving alias staging of {name}: {previous or 'none'} → {version}")
        tracking.set_alias(name, version)
        replica: dict[str, Any] | None = None
        try:
            check = served_check(name, record, expected)
            if policy_obj.needs("latency") or policy_obj.needs("memory"):
                replica = replica_check(name, record, local / "model.skops", policy_obj)
        except Exception as err:
            reason = f"end-to-end check after promotion failed: {err}"
            _return_to_lab(name, version, previous, reason)
            run_id = _record_run(name, version, "promote", {"previous": previous or "", "result": "rolled_back"},
                                 failed=reason)
            raise PromotionError(f"{name} version {version} was promoted and rolled back to "
                                 f"{previous or 'no staging model'}: {reason}") from err
        tracking.set_version_tags(name, version, {"evalkit.status": "staging", "evalkit.promoted_at": _now(),
                                                  "evalkit.previous_staging": previous or ""})
        detail = f"{check['rows']} corner cases scored through {check['uri']}, max |difference| {check['max_abs_diff']:.3g}"
        if replica is not None:
            detail += "; served replica within its budgets (" + ", ".join(
                f"{v['requirement']} {v['estimate']:.4g}" for v in replica["verdicts"]) + ")"
        run_id = _record_run(name, version, "promote", {"previous": previous or "", "result": "promoted",
                                                        "gate_run": tags["evalkit.gate.run_id"],
                                                        "served_check": detail[:500]}, replica=replica)
        log(f"{name} version {version} is in staging ({detail})")
        return PromotionResult(name, version, version, "promoted", run_id, detail)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _return_to_lab(name: str, version: str, previous: str | None, reason: str) -> None:
    from .. import tracking

    tracking.set_alias(name, previous)
    tracking.set_version_tags(name, version, {"evalkit.status": "returned_to_lab", "evalkit.returned_reason": reason,
                                              "evalkit.returned_at": _now()})
    if previous is not None:
        tracking.set_version_tags(name, previous, {"evalkit.status": "staging"})
    log(f"alias staging of {name} is back at {previous or 'none'}; version {version} returned to the lab: {reason}")


def rollback(model: str, *, reason: str = "rolled back by hand") -> PromotionResult:
    """Return the model in staging to the lab and give the alias back to the version it replaced.

    Parameters
    ----------
    model : str
        The registered model name (or any ``models:/<name>/...`` URI of it).
    reason : str
        Recorded on the version.

    Raises
    ------
    PromotionError
        If no version of the model holds the ``staging`` alias.
    """
    from .. import tracking

    name = tracking.registered_name(model) if model.startswith("models:/") else model
    _resolve(name)  # an unknown name gets the registry's list
    current = tracking.alias_version(name)
    if current is None:
        raise PromotionError(f"no version of {name} holds the staging alias: nothing to roll back")
    previous = tracking.version_tags(name, current).get("evalkit.previous_staging") or None
    seen = {current}
    while previous is not None and previous not in seen and \
            tracking.version_tags(name, previous).get("evalkit.status") == "returned_to_lab":
        seen.add(previous)  # a version sent back to the lab never returns by rollback: go further back
        previous = tracking.version_tags(name, previous).get("evalkit.previous_staging") or None
    _return_to_lab(name, current, previous, reason)
    run_id = _record_run(name, current, "rollback", {"previous": previous or "", "reason": reason})
    return PromotionResult(name, current, previous, "rolled_back", run_id, reason)
