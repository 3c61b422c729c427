"""``evalkit reproduce --run <id>``: replay a recorded report, verification, gate or comparison run and say
exactly what differs.

1. Read the run: its kind, parameters, record (``metrics.json``, ``gate.json``, ``comparison.json``) and the
   executed notebook (whose papermill parameters hold every setting as it ran).
2. Verify the inputs: the model file's and every data file's sha256 must equal the recorded ones (refused
   otherwise, naming the file); a different git commit or library version is warned about and listed.
3. Re-run the same pipeline with the same settings and seed into ``reports/reproduce/<run id>/`` and a new
   MLflow run tagged ``evalkit.reproduces=<run id>`` (a gate replay compares with the recorded staging model
   and does not touch the version's decision).
4. Compare the new record with the recorded one value by value (:func:`diff_records`): **identical** or
   **different**, each differing path with its old and new value and the likely reason.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import atomic_write_json, sha256_file
from ..exceptions import DataError, EvalkitError, ModelError, ReproduceError
from ..runner import log
from ..settings import CompareSettings, EvaluationSettings, RunOptions, VerificationSettings, field_names
from ._diff import about, diff_records

#: Tag of a reproduction's run: the run it reproduces.
REPRODUCES_TAG = "evalkit.reproduces"
#: Tag of a reproduction's run: its verdict, ``identical`` or ``different``.
REPRODUCTION_TAG = "evalkit.reproduction"
#: Exit codes of ``python -m evalkit reproduce``.
EXIT_IDENTICAL, EXIT_DIFFERENT = 0, 4
#: Where each kind of run keeps its record and its executed notebook (artifact paths).
ARTIFACTS = {
    "report": ("metrics.json", "evaluate_model.ipynb"),
    "verification": ("metrics.json", "verify.ipynb"),
    "gate": ("gate/gate.json", "gate/gate.ipynb"),
    "comparison": ("comparison.json", "compare_models.ipynb"),
}


@dataclass(frozen=True)
class Recorded:
    """What a run recorded: kind, parameters, tags, its JSON record and the executed notebook's parameters."""

    run_id: str
    kind: str
    experiment: str
    params: dict[str, str]
    tags: dict[str, str]
    record: dict[str, Any]
    executed: dict[str, Any]


@dataclass(frozen=True)
class Reproduction:
    """The verdict of a reproduction.

    Attributes
    ----------
    run_id, new_run_id : str
        The run reproduced, and the reproduction's run.
    kind : str
    verdict : {"identical", "different"}
    differences : list of dict
        ``path``, ``old``, ``new``, ``about`` (``values`` or ``intervals``) and ``reason`` of every unexpected
        difference.
    expected_differences : list of str
        The paths that differ as expected (creation time, run ids, timings).
    verified : list of str
        The inputs whose sha256 matched the record.
    warnings : list of str
        Code or library versions that differ from the recorded ones; settings recorded differently from how the
        notebook ran.
    equality : str
        How values were compared.
    output_dir : Path
        The reproduced report and ``reproduction.json``.
    """

    run_id: str
    new_run_id: str
    kind: str
    verdict: str
    differences: list[dict[str, Any]]
    expected_differences: list[str]
    verified: list[str]
    warnings: list[str]
    equality: str
    output_dir: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_IDENTICAL if self.verdict == "identical" else EXIT_DIFFERENT

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["output_dir"] = str(self.output_dir)
        return out


def load_recorded(run_id: str, dst: Path) -> Recorded:
    """Read run ``run_id``: refused unless it is a finished evalkit report, verification, gate or comparison run
    whose record and notebook are in its artifacts."""
    from .. import tracking

    if not isinstance(run_id, str) or not run_id.strip():
        raise ValueError(f"run must be an MLflow run id, got {run_id!r}")
    try:
        run = tracking.client().get_run(run_id.strip())
    except Exception as err:  # MlflowException: the store's own words
        raise ReproduceError(f"run {run_id}: not found at {tracking.tracking_uri()} ({err})") from err
    kind = run.data.tags.get("evalkit.kind", "")
    if kind not in ARTIFACTS:
        raise ReproduceError(f"run {run_id}: not an evalkit report, verification, gate or comparison run "
                             f"(evalkit.kind={kind or 'absent'}); nothing to reproduce")
    if any(k.startswith("evalkit.") for k in run.data.params):
        raise ReproduceError(f"run {run_id}: made through the mlflow.models.evaluate plugin, whose run belongs to "
                             "its caller; replay it by calling mlflow.models.evaluate again")
    if run.info.status != "FINISHED":
        raise ReproduceError(f"run {run_id}: status {run.info.status}; only a FINISHED run has a record to reproduce")
    record_path, notebook_path = ARTIFACTS[kind]
    files = {}
    for name, path in (("record", record_path), ("notebook", notebook_path)):
        try:
            files[name] = json.loads(tracking.download_artifacts(dst, run_id=run_id, artifact_path=path).read_text())
        except Exception as err:
            raise ReproduceError(f"run {run_id}: cannot read its artifact '{path}' ({err})") from err
    executed = files["notebook"].get("metadata", {}).get("papermill", {}).get("parameters")
    if not isinstance(executed, dict):
        raise ReproduceError(f"run {run_id}: its notebook '{notebook_path}' records no papermill parameters")
    section = files["record"].get("verification", {}) if kind == "verification" else files["record"]
    recorded_schema, current = section.get("schema_version"), _schema_version(kind)
    if current is not None and recorded_schema != current:
        raise ReproduceError(f"run {run_id}: its {record_path} has schema_version {recorded_schema}; this evalkit "
                             f"writes {current}: the records cannot be compared value by value (reproduce it with "
                             f"the evalkit version of the run, git commit {run.data.params.get('git_commit', '?')})")
    experiment = tracking.client().get_experiment(run.info.experiment_id).name
    return Recorded(run_id=run_id, kind=kind, experiment=experiment, params=dict(run.data.params),
                    tags=dict(run.data.tags), record=files["record"], executed=executed)


def _schema_version(kind: str) -> int | None:
    """The schema_version this evalkit writes for a kind of record (None: the record has none)."""
    if kind == "report":
        from ..evaluation import SCHEMA_VERSION
        return SCHEMA_VERSION
    if kind == "verification":
        from ..verification import SCHEMA_VERSION as VERIFY_SCHEMA
        return VERIFY_SCHEMA
    if kind == "gate":
        from ..gate import RECORD_SCHEMA_VERSION
        return RECORD_SCHEMA_VERSION
    return None


# ---- settings -----------------------------------------------------------------------------------------------


def _parse(annotation: str, text: str) -> Any:
    """An MLflow parameter back to a value (JSON for everything but plain text)."""
    if annotation.replace(" ", "") == "str":
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=list) == json.dumps(b, sort_keys=True, default=list)


def recorded_settings(cls: type, params: Mapping[str, str], executed: Mapping[str, Any], *,
                      prefix: str = "") -> tuple[Any, dict[str, tuple[Any, Any]]]:
    """The settings of a run: its parameters, completed by the executed notebook's ``settings`` for fields the
    run does not record (older versions; fields kept out of the parameters).

    Returns
    -------
    (settings, drift)
        ``drift`` maps each field whose recorded parameter differs from the value the notebook ran with to
        ``(executed, recorded)``: the record is what is replayed, the drift explains differences.
    """
    values = dict(executed)
    drift: dict[str, tuple[Any, Any]] = {}
    for f in fields(cls):
        if prefix + f.name not in params:
            continue
        value = _parse(str(f.type), params[prefix + f.name])
        if value == "" and values.get(f.name, f.default) is None:
            value = None  # recorded as "" where MLflow would show nothing (the out-of-core scheduler)
        if f.name in values and not _same(values[f.name], value):
            drift[f.name] = (values[f.name], value)
        values[f.name] = value
    known = {f.name for f in fields(cls)}
    return cls.build({k: v for k, v in values.items() if k in known}), drift


# ---- inputs -------------------------------------------------------------------------------------------------


def _local(recorded: str, what: str, run_id: str) -> Path:
    """A file recorded by absolute path: there, or at the same place relative to this project (a clone
    elsewhere)."""
    from .. import tracking

    path = Path(recorded)
    if path.is_file():
        return path
    root = tracking.project_root()
    for i in range(1, len(path.parts)):
        candidate = root.joinpath(*path.parts[i:])
        if candidate.is_file():
            return candidate
    raise ReproduceError(f"run {run_id}: its {what} {recorded} is not there, nor under {root}")


def _check_sha(path: Path, recorded: str, what: str, run_id: str, error: Callable[..., EvalkitError]) -> str:
    actual = sha256_file(path)
    if recorded and actual != recorded:
        raise error(path, f"sha256 {actual[:12]}… differs from the {recorded[:12]}… that run {run_id} recorded: "
                          f"the {what} changed since the run; a reproduction needs the same {what}")
    return f"{what} {path} (sha256 {actual[:12]}…)"


def _dataset_files(manifest_path: Path, recorded: Mapping[str, str], run_id: str) -> list[str]:
    """Check every data file a dataset or suite manifest names against the recorded sha256 (by dataset name)."""
    from ..data import is_suite, load_manifest, load_suite_members

    manifests = load_suite_members(manifest_path)[1] if is_suite(manifest_path) else [load_manifest(manifest_path)]
    missing = sorted(set(recorded) - {m.name for m in manifests})
    if missing:
        raise ReproduceError(f"run {run_id}: dataset(s) {missing} it evaluated are not in {manifest_path} any more")
    return [_check_sha(m.data_path, recorded.get(m.name, ""), "data file", run_id, DataError) for m in manifests]


def _model(params: Mapping[str, str], executed_model: Any, run_id: str, workdir: Path, trust: bool,
           prefix: str = "") -> tuple[str, list[str]]:
    """The model spec to replay (a registered model pinned to its version) and its verified sha256."""
    from ..models import resolve_model

    kind = params.get(prefix + "model_kind") or (executed_model.get("kind") if isinstance(executed_model, dict)
                                                 else "") or ""
    spec = params.get(prefix + "model_spec", "")
    if params.get(prefix + "model_uri"):
        spec = params[prefix + "model_uri"]  # models:/<name>/<version>: the very version, not the latest
    elif kind == "column" or spec.startswith("column:"):
        return spec, []
    elif isinstance(executed_model, dict) and executed_model.get("path") and kind != "registered":
        spec = str(_local(executed_model["path"], "model file", run_id))
    elif spec:
        spec = str(_local(spec, "model file", run_id))
    ref = resolve_model(spec, download_dir=workdir / "model", trust=trust)
    checked = _check_sha(ref.path, params.get(prefix + "model_sha256", ""), "model file", run_id, ModelError)
    return spec, [checked.replace(str(ref.path), spec) if ref.kind == "registered" else checked]


def _drift_warnings(params: Mapping[str, str], prefix: str = "") -> list[str]:
    from ..runner import version_params

    now = version_params()
    out = []
    for key, value in sorted(params.items()):
        key = key[len(prefix):] if prefix and key.startswith(prefix) else key
        if key in now and (key.startswith("version_") or key == "git_commit") and now[key] != value:
            what = "git commit" if key == "git_commit" else key[len("version_"):]
            out.append(f"{what}: recorded {value}, now {now[key]}")
    return out


# ---- replay -------------------------------------------------------------------------------------------------


def _replay(rec: Recorded, workdir: Path, options: RunOptions, trust: bool) -> tuple[dict[str, Any], str | None,
                                                                                   list[str], dict[str, Any], dict]:
    """Verify the inputs and re-run; return the new record, run id, verified inputs, settings, drift."""
    p, ex = rec.params, rec.executed
    if rec.kind == "report":
        st, drift = recorded_settings(EvaluationSettings, p, ex.get("settings") or {})
        data = _local(ex["data"], "data manifest", rec.run_id)
        model, verified = _model(p, ex.get("model"), rec.run_id, workdir, trust)
        verified += _dataset_files(data, {d["name"]: d["sha256"] for d in rec.record.get("datasets", [])},
                                   rec.run_id)
        from ..runner import run_report

        log(f"replaying report run {rec.run_id}: {model} on {data}")
        run = run_report(model, data, settings=st, options=options.replace(trust=trust))
        return run.metrics, run.run_id, verified, st.to_parameters(), drift
    if rec.kind == "verification":
        vst, drift = recorded_settings(VerificationSettings, p, ex.get("settings") or {})
        data = _local(ex["data"], "verification manifest", rec.run_id)
        verified = _verification_files(data, p, rec.run_id)
        from ..verification import run_verify

        log(f"replaying verification run {rec.run_id}: {data}")
        vrun = run_verify(data, system=ex.get("system") or None, settings=vst, options=options)
        return vrun.metrics, vrun.run_id, verified, vst.to_parameters(), drift
    if rec.kind == "gate":
        return _replay_gate(rec, workdir, options, trust)
    from ..compare import run_compare

    names = ex["models"]
    cs = _compare_settings(ex)
    if ex.get("data"):  # the models evaluated on a manifest (compare_columns): its files are verified first
        st, drift = recorded_settings(EvaluationSettings, p, ex.get("settings") or {})
        data = _local(ex["data"], "data manifest", rec.run_id)
        datasets = (rec.record.get("candidates") or [{}])[0].get("datasets", [])
        verified = _dataset_files(data, {d["name"]: d["sha256"] for d in datasets}, rec.run_id)
        log(f"replaying comparison run {rec.run_id} of {', '.join(names)} on {data}")
        crun = run_compare(names, compare_settings=cs, data=data, settings=st, options=options)
        return crun.record, crun.run_id, verified, {**cs.to_parameters(), **st.to_parameters()}, drift
    log(f"replaying comparison run {rec.run_id} of report runs {', '.join(names)}")
    crun = run_compare(names, compare_settings=cs, report_experiment=ex.get("report_experiment"), options=options)
    return crun.record, crun.run_id, [f"report run {r}" for r in names], cs.to_parameters(), {}


def _compare_settings(executed: Mapping[str, Any]) -> CompareSettings:
    """A comparison run's settings from its executed notebook's parameters: ``compare_settings``, or the separate
    ``baseline``, ``rank_by``, ``n_boot`` ... of comparison runs recorded before they were kept as one."""
    if executed.get("compare_settings") is not None:
        return CompareSettings.build(executed["compare_settings"])
    flat = {k: executed[k] for k in field_names(CompareSettings) if k in executed}
    return CompareSettings.build(flat, baseline=flat.get("baseline") or None)


def _verification_files(manifest: Path, params: Mapping[str, str], run_id: str) -> list[str]:
    import yaml

    raw = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    out = []
    for key in ("samples", "comparisons", "templates"):
        ref = raw.get(key)
        if isinstance(ref, dict) and ref.get("path"):
            out.append(_check_sha(manifest.parent / ref["path"], params.get(f"data_sha256_{key}", ""),
                                  f"{key} file", run_id, DataError))
    return out


def _replay_gate(rec: Recorded, workdir: Path, options: RunOptions,
                 trust: bool) -> tuple[dict[str, Any], str | None, list[str], dict[str, Any], dict]:
    from ..gate import NO_STAGING, run_gate

    p, ex = rec.params, rec.executed
    model, verified = _model(p, ex.get("model"), rec.run_id, workdir, trust)
    data = _local(ex["data"], "data manifest", rec.run_id)
    verified += _dataset_files(data, {rec.record.get("data", {}).get("name", p.get("dataset", "")):
                                      p.get("dataset_sha256", "")}, rec.run_id)
    policy = _local(p.get("policy_path") or ex["policy"], "policy", rec.run_id)
    verified.append(_check_sha(policy, p.get("policy_sha256", ""), "policy file", rec.run_id,
                               lambda path, msg: ReproduceError(f"{path}: {msg}")))
    staging = ex.get("staging") or {}
    pinned = staging.get("uri") or (f"models:/{staging['name']}/{staging['version']}" if staging.get("version")
                                    else NO_STAGING)
    n_boot = None if ex.get("n_boot", -1) == -1 else ex["n_boot"]
    seed = None if ex.get("seed", -1) == -1 else ex["seed"]
    settings = {"n_boot": n_boot, "seed": seed, "staging": pinned, "trusted_types": list(ex.get("trusted_types", []))}
    log(f"replaying gate run {rec.run_id}: {model} on {data} under {policy} (staging: {pinned})")
    run = run_gate(model, data, policy=policy, n_boot=n_boot, seed=seed, trusted_types=tuple(settings["trusted_types"]),
                   staging=pinned, record_decision=False, options=options.replace(trust=trust))
    return run.record, run.run_id, verified, settings, {}


def _reasons(drift: Mapping[str, tuple[Any, Any]], warnings: list[str]) -> Callable[[str], str]:
    interval_settings = {"n_boot", "ci_level", "seed", "fdr", "tolerance"}

    def reason(path: str) -> str:
        parts = []
        if drift:
            keys = [k for k in drift if about(path) == "intervals" and k in interval_settings] or list(drift)
            parts.append("settings: the run records " + ", ".join(f"{k}={drift[k][1]!r}" for k in keys)
                         + " but its notebook ran with " + ", ".join(f"{k}={drift[k][0]!r}" for k in keys))
        code = [w for w in warnings if w.startswith(("git commit", "evalkit"))]
        libs = [w for w in warnings if w not in code]
        if code:
            parts.append("code version (" + "; ".join(code) + ")")
        if libs:
            parts.append("library version (" + "; ".join(libs) + ")")
        return "; ".join(parts) or "unexplained: same inputs, settings, code and libraries"
    return reason


def reproduce(run_id: str, *, output_root: str | Path | None = None, rtol: float = 0.0, trust: bool = False,
              progress: bool = True) -> Reproduction:
    """Replay run ``run_id`` and compare its record value by value.

    Parameters
    ----------
    run_id : str
        A finished evalkit report, verification, gate or comparison run.
    output_root : path-like, optional
        Where the replay writes (default ``reports/reproduce/<run id>/``, replaced on each reproduction).
    rtol : float, default=0
        Relative tolerance for numbers; 0 (the default) asks for exact equality.
    trust : bool, default=False
        Accept a pickle/joblib model file, as the original run had to.
    progress : bool, default=True
        Show papermill's progress bar.

    Returns
    -------
    Reproduction
        ``verdict`` ``identical`` or ``different``; also written to ``reproduction.json`` and attached to the
        new run (tags ``evalkit.reproduces``, ``evalkit.reproduction``).

    Raises
    ------
    ReproduceError, DataError, ModelError
        The run is not found, not finished or not an evalkit run; a model or data file's sha256 differs from
        the recorded one (the file is named); the replay itself failed.
    """
    from .. import tracking

    if not (isinstance(rtol, (int, float)) and not isinstance(rtol, bool) and 0 <= rtol < 1):
        raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
    tracking.check_reachable()
    root = Path(output_root) if output_root is not None else tracking.project_root() / "reports" / "reproduce" / run_id
    workdir = Path(tempfile.mkdtemp(prefix="evalkit-reproduce-"))
    try:
        rec = load_recorded(run_id, workdir / "recorded")
        warnings = _drift_warnings(rec.params)
        for w in warnings:
            log(f"warning: {w}")
        options = RunOptions(output_root=str(root), experiment=rec.experiment, progress=progress,
                             run_tags={REPRODUCES_TAG: run_id})
        new, new_run, verified, settings, drift = _replay(rec, workdir, options, trust)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    warnings += [f"setting {k}: the run records {v[1]!r}, its notebook ran with {v[0]!r}" for k, v in drift.items()]
    unexpected, timing = diff_records(rec.record, new, rtol=rtol)
    reason = _reasons(drift, warnings)
    result = Reproduction(
        run_id=run_id, new_run_id=new_run or "", kind=rec.kind,
        verdict="identical" if not unexpected else "different",
        differences=[{"path": d.path, "old": d.old, "new": d.new, "about": about(d.path), "reason": reason(d.path)}
                     for d in unexpected],
        expected_differences=timing, verified=verified, warnings=warnings,
        equality="exact" if rtol == 0 else f"numbers within relative tolerance {rtol:g}", output_dir=root,
        settings=settings)
    _record(result, rec)
    return result


def _record(result: Reproduction, rec: Recorded) -> None:
    from .. import tracking
    from ..gate import REPRODUCED_TAG

    path = result.output_dir / "reproduction.json"
    atomic_write_json(path, result.as_dict())
    if result.new_run_id:
        tracking.set_tags(result.new_run_id, {REPRODUCTION_TAG: result.verdict})
        tracking.log_artifacts(result.new_run_id, [path])
    if rec.kind == "gate" and rec.params.get("model_uri") and rec.params.get("model_version"):
        name = tracking.registered_name(rec.params["model_uri"])
        version = rec.params["model_version"]
        if tracking.version_tags(name, version).get("evalkit.gate.run_id") == rec.run_id:
            tracking.set_version_tags(name, version, {
                REPRODUCED_TAG: rec.run_id if result.verdict == "identical" else "",
                "evalkit.gate.reproduction": f"{result.verdict} (run {result.new_run_id})"})
            log(f"{name} version {version}: gate run {rec.run_id} reproduced {result.verdict}")
    log(f"reproduction of run {rec.run_id}: {result.verdict.upper()}; {path}")


def format_table(result: Reproduction, limit: int = 40) -> str:
    """The verdict as text: the differing paths with old and new values and the likely reason."""
    lines = [f"reproduction of {result.kind} run {result.run_id}: {result.verdict.upper()} "
             f"(new run {result.new_run_id or 'none'}; equality: {result.equality})"]
    lines += [f"  verified: {v}" for v in result.verified]
    lines += [f"  warning: {w}" for w in result.warnings]
    if result.expected_differences:
        lines.append("  expected differences (identity, time, measured timings): "
                     + ", ".join(result.expected_differences))
    if result.differences:
        lines.append(f"  {len(result.differences)} differing value(s):")
        width = min(60, max(len(d["path"]) for d in result.differences))
        lines.append(f"  {'path':<{width}}  {'recorded':>22}  {'reproduced':>22}  reason")
        for d in result.differences[:limit]:
            lines.append(f"  {d['path']:<{width}}  {_short(d['old']):>22}  {_short(d['new']):>22}  {d['reason']}")
        if len(result.differences) > limit:
            lines.append(f"  … {len(result.differences) - limit} more in {result.output_dir / 'reproduction.json'}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 22 else text[:21] + "…"

