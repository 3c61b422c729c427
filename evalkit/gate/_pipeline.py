"""The gate pipeline behind ``make gate MODEL=x``: validate → start an MLflow run → execute
``notebooks/gate.ipynb`` with papermill (which calls :func:`evalkit.checks.run_checks`) → render
``gate.html`` → attach the decision record to the run and to the registered model version → publish
into ``reports/<model>/gate/``.

As with reports, everything is staged and moved into place only when every step has succeeded; any
failure marks the run FAILED and, for a registered model, sets the version's gate decision to
``error``, so an earlier ``pass`` can never be promoted after a failed re-check.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .._io import atomic_write_json, atomic_write_text, sha256_file
from ..data import load_dataset
from ..models import ModelRef, check_model_columns, check_model_file, gives_scores, resolve_model, score
from ..runner import DEFAULT_MANIFEST, Outputs, Pipeline, Target, log, model_imports, run_pipeline
from ..settings import GATE_TIMEOUT, RunOptions
from ._policy import load_policy

#: The gate notebook, relative to the project root.
GATE_NOTEBOOK = Path("notebooks") / "gate.ipynb"
#: The default policy, relative to the project root.
DEFAULT_POLICY = Path("configs") / "gates.yaml"
#: MLflow experiment of gate runs.
GATE_EXPERIMENT = "evalkit-gate"
#: Files a gate run publishes (the HTML last: it marks a complete run).
#: ``run_gate(staging=NO_STAGING)``: compare with no staging model (as a gate run that found none).
NO_STAGING = "none"
#: Version tag set by a reproduction that found the gate decision identical: the gate run it reproduced.
REPRODUCED_TAG = "evalkit.gate.reproduced"
GATE_FILES = ("gate.json", "corner_cases.csv", "gate.ipynb", "gate.html")
#: Model version tags a gate sets (``evalkit.gate.decision`` is pass, fail, inconclusive or error).
DECISION_TAG = "evalkit.gate.decision"


@dataclass(frozen=True)
class GateRun:
    """Where a finished gate run went.

    Attributes
    ----------
    decision : str
    output_dir : Path
        ``reports/<model>/gate/``.
    html : Path
    record : dict
        The decision record (``gate.json``).
    run_id : str or None
    """

    decision: str
    output_dir: Path
    html: Path
    record: dict[str, Any]
    run_id: str | None


def write_outputs(result: Any, output_dir: str | Path | None) -> dict[str, Any]:
    """Write ``gate.json`` (the decision record) and ``corner_cases.csv`` (scores of the policy's corner
    cases) atomically into ``output_dir``; return the record. Called by the gate notebook."""
    record = result.record()
    if output_dir is None:
        return record
    out = Path(output_dir)
    corner = result.corner_cases if result.corner_cases is not None else pd.DataFrame({"id": [], "score": []})
    atomic_write_text(out / "corner_cases.csv", corner.to_csv(index=False, float_format="%.17g"))
    record["corner_cases_sha256"] = sha256_file(out / "corner_cases.csv")
    atomic_write_json(out / "gate.json", record)
    return record


def _staging_ref(ref: ModelRef, download_dir: Path) -> ModelRef | None:
    """The model version holding the staging alias of ``ref``'s registered model, if any."""
    from .. import tracking

    if ref.kind != "registered" or ref.uri is None:
        return None
    name = tracking.registered_name(ref.uri)
    version = tracking.alias_version(name)
    if version is None:
        return None
    return resolve_model(f"models:/{name}/{version}", download_dir=download_dir)


def run_gate(
    model: str,
    data: str | Path | None = None,
    *,
    policy: str | Path | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
    trusted_types: tuple[str, ...] = (),
    staging: str | None = None,
    record_decision: bool = True,
    options: RunOptions | None = None,
    **overrides: Any,
) -> GateRun:
    """Judge ``model`` against a promotion policy and record the decision.

    Parameters
    ----------
    model : str
        Any value accepted by :func:`evalkit.resolve_model`; only registered models can later be
        promoted.
    data : path-like, optional
        The evaluation manifest (default ``data_manifests/adult_test.yaml``).
    policy : path-like, optional
        The policy file (default ``configs/gates.yaml``).
    n_boot, seed : int, optional
        Override the policy's bootstrap settings.
    trusted_types : tuple of str
        Extra types a skops model may contain.
    staging : str, optional
        The model the non-inferiority checks compare with: a ``models:/<name>/<version>`` URI, or
        :data:`NO_STAGING` for none. Default: the version holding the ``staging`` alias now. A reproduction
        passes the one recorded by the gate run it replays.
    record_decision : bool, default=True
        Tag the model version with the decision (``evalkit.gate.*``). A reproduction passes False: it must not
        replace the decision it checks.
    options : RunOptions, optional
        How the run goes (:class:`evalkit.settings.RunOptions`); the gate's default time limit per cell is
        :data:`GATE_TIMEOUT` seconds and its experiment ``evalkit-gate``. ``track=False`` writes the files only
        (no MLflow run, no model version tags).
    **overrides
        Any :class:`~evalkit.settings.RunOptions` field as a keyword.

    Returns
    -------
    GateRun

    Raises
    ------
    EvalkitError
        An invalid policy, manifest, data file or model stops before any run starts (nothing is
        tagged). A later failure marks the run FAILED and the version's gate decision ``error``.
    """
    from .. import tracking

    if options is None and "timeout" not in overrides:
        overrides["timeout"] = GATE_TIMEOUT
    opts = RunOptions.build(options, **overrides)
    root = tracking.project_root()
    data = Path(data) if data is not None else root / DEFAULT_MANIFEST
    policy_path = Path(policy) if policy is not None else root / DEFAULT_POLICY
    output_root = Path(opts.output_root) if opts.output_root is not None else root / "reports"
    experiment = opts.experiment or GATE_EXPERIMENT
    for name, value in (("n_boot", n_boot), ("seed", seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    dataset = load_dataset(data)
    policy_obj = load_policy(policy_path, features=list(dataset.sensitive.columns))  # invalid: nothing starts
    for manifest in (policy_obj.train_data, policy_obj.attack_data, policy_obj.corner_cases):
        if manifest is not None:
            load_dataset(manifest)  # sha256 and schema of every file the checks will read
    adversarial = policy_obj.needs("attack_success") or "adversarial_budget" in policy_obj.settings

    def validate(workdir: Path) -> Target:
        log(f"checking model {model}")
        ref = resolve_model(model, download_dir=workdir / "model", trust=opts.trust)
        check_model_file(ref)
        check_model_columns(ref, dataset)  # a model for other data stops here, from the file's schema
        if ref.kind in ("predictions", "column"):
            score(ref, dataset)  # ids against the data, numeric and finite: the kernel's messages, before any run
        if staging is None:
            staging_model = _staging_ref(ref, workdir / "staging")  # reading the registry, also untracked
        else:
            staging_model = None if staging == NO_STAGING else resolve_model(staging, download_dir=workdir / "staging")
        return Target(name=f"{ref.name}-gate", out_dir=output_root / ref.name / "gate",
                      title=f"evalkit gate: {ref.name}", context={"ref": ref, "staging": staging_model})

    def start_run(target: Target) -> str:
        return _start_gate_run(target.context["ref"], dataset.manifest, policy_obj, experiment,
                               target.context["staging"])

    def parameters(target: Target, staging: Path, run_id: str | None) -> dict[str, Any]:
        ref, staging_model = target.context["ref"], target.context["staging"]
        return {"model": {**dataclasses.asdict(ref), "path": str(ref.path)},
                "data": str(dataset.manifest.manifest_path), "policy": str(policy_obj.path),
                "staging": {} if staging_model is None else
                {**dataclasses.asdict(staging_model), "path": str(staging_model.path)},
                "n_boot": -1 if n_boot is None else n_boot, "seed": -1 if seed is None else seed,
                "trusted_types": list(trusted_types), "run_id": run_id, "output_dir": str(staging)}

    def log_run(run_id: str, target: Target, out: Outputs) -> None:
        _log_gate(run_id, target.context["ref"] if record_decision else None, out.record_path,
                  [out.html, out.record_path, out.notebook, out.staging / "corner_cases.csv", policy_obj.path],
                  out.figures)

    def on_failure(run_id: str | None, target: Target | None, err: BaseException) -> None:
        if run_id is not None and record_decision:
            _tag_error(target.context["ref"] if target is not None else None, run_id, err)

    pipeline = Pipeline(kind="gate", noun="gate report", notebook=root / GATE_NOTEBOOK, html_name="gate.html",
                        record_name="gate.json", published=GATE_FILES, validate=validate, start_run=start_run,
                        parameters=parameters, log_run=log_run, on_failure=on_failure, check_first=gives_scores(model),
                        kernel_extra=", ".join(m for m in ("evalkit.gate", model_imports(model),
                                                           "art.attacks.evasion" if adversarial else "") if m))
    target, out, run_id = run_pipeline(pipeline, opts, output_root=output_root)
    log(f"gate decision {out.record['decision'].upper()}; report at {out.html}")
    return GateRun(decision=out.record["decision"], output_dir=target.out_dir, html=out.html, record=out.record,
                   run_id=run_id)


def _start_gate_run(ref: ModelRef, manifest: Any, policy: Any, experiment: str, staging: ModelRef | None) -> str:
    from .. import tracking
    from ..runner import version_params

    run_id = tracking.start_run(
        experiment=experiment, run_name=f"gate-{ref.name}",
        params={"model": ref.name, "model_spec": ref.spec, "model_uri": ref.uri or "", "model_version": ref.version or "",
                "model_sha256": ref.sha256, "dataset": manifest.name, "dataset_sha256": manifest.sha256,
                "policy": policy.name, "policy_path": str(policy.path), "policy_sha256": policy.sha256,
                "staging_version": staging.version if staging else "", **version_params()},
        tags={"evalkit.kind": "gate", "evalkit.model": ref.name, "evalkit.dataset": manifest.name,
              **tracking.owner_tags()})
    log(f"MLflow run {run_id} in experiment '{experiment}' at {tracking.tracking_uri()}")
    return run_id


def _log_gate(run_id: str, ref: ModelRef | None, record_path: Path, files: list[Path], figures: list[Path]) -> None:
    from .. import tracking
    from .._io import sha256_file

    record = json.loads(record_path.read_text())

    values: dict[str, float | None] = {"gate/pass": 1.0 if record["decision"] == "pass" else 0.0}
    for v in record["verdicts"]:
        subject = "" if v["subject"] == "overall" else v["subject"]
        for field in ("estimate", "ci_low", "ci_high"):
            values[tracking.metric_key("gate", v["requirement"], *([subject] if subject else []), field)] = v[field]
    for metric, value in record["evidence"]["overall"].items():
        values[tracking.metric_key(metric)] = value
    tracking.log_metrics(run_id, values)
    tracking.log_artifacts(run_id, [f for f in files if f.is_file()], artifact_path="gate")
    tracking.log_artifacts(run_id, figures, artifact_path="gate/figures")
    tracking.client().set_tag(run_id, DECISION_TAG, record["decision"])
    if ref is not None and ref.kind == "registered" and ref.uri and ref.version:
        record_sha = sha256_file(record_path)
        tracking.set_version_tags(tracking.registered_name(ref.uri), ref.version, {
            DECISION_TAG: record["decision"], "evalkit.gate.run_id": run_id,
            "evalkit.gate.policy_sha256": record["policy"]["sha256"], "evalkit.gate.model_sha256": ref.sha256,
            "evalkit.gate.data_sha256": record["data"]["sha256"], "evalkit.gate.record_sha256": record_sha,
            "evalkit.gate.decided_at": record["decided_at"]})
    log(f"decision record attached to run {run_id}"
        + (f" and to {ref.uri}" if ref is not None and ref.kind == "registered" else ""))


def _tag_error(ref: ModelRef | None, run_id: str, err: BaseException) -> None:
    """A failed gate run leaves the version's decision at ``error``: no earlier pass can be promoted."""
    from .. import tracking

    if ref is None or ref.kind != "registered" or not ref.uri or not ref.version:
        return
    try:
        tracking.set_version_tags(tracking.registered_name(ref.uri), ref.version, {
            DECISION_TAG: "error", "evalkit.gate.run_id": run_id, "evalkit.gate.error": f"{type(err).__name__}: {err}"})
    except Exception as tag_err:  # never hide the original error
        log(f"could not tag {ref.uri}: {tag_err}")
