"""``make verify``: the verification report on the one run skeleton (:func:`evalkit.runner.run_pipeline`).

The manifest and every file it names are checked (sha256, columns, values) before any run or kernel starts;
``notebooks/verify.ipynb`` then loads, evaluates and draws; the HTML, ``metrics.json`` (with its
``verification`` section) and the notebook go to ``reports/verify/<name>/`` and the MLflow run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import tracking
from ..runner import Outputs, Pipeline, Target, log, run_pipeline, version_params
from ..settings import RunOptions, VerificationSettings, split_settings
from ._data import check_verification, load_verification
from ._evaluate import VerificationResult, evaluate_verification

#: The verification notebook, relative to the project root.
VERIFY_NOTEBOOK = Path("notebooks") / "verify.ipynb"
#: The shipped demo set.
DEFAULT_VERIFICATION = Path("data_manifests") / "verification_demo.yaml"
#: Files a verification run publishes (the HTML last).
VERIFY_FILES = ("metrics.json", "verify.ipynb", "report.html")


@dataclass(frozen=True)
class VerifyRun:
    """Where a finished verification report went."""

    output_dir: Path
    html: Path
    metrics: dict[str, Any]
    run_id: str | None


def verify(data: str | Path, *, settings: VerificationSettings | Mapping[str, Any] | None = None,
           system: str | None = None, run_id: str | None = None) -> VerificationResult:
    """Load a verification manifest and evaluate it: what the report notebook calls.

    Examples
    --------
    >>> res = verify("data_manifests/verification_demo.yaml", settings={"n_boot": 0})  # doctest: +SKIP
    """
    st = VerificationSettings.build(settings)
    data = load_verification(data, settings=st)
    res = evaluate_verification(data.counts, settings=st, name=data.name, system=system or data.manifest.system,
                                data_sha256=data.sha256, run_id=run_id)
    res.data = data
    return res


def run_verify(data: str | Path | None = None, *, system: str | None = None,
               settings: VerificationSettings | Mapping[str, Any] | None = None, options: RunOptions | None = None,
               **overrides: Any) -> VerifyRun:
    """Evaluate a verification set and publish its report, ``metrics.json`` and MLflow run.

    Parameters
    ----------
    data : path-like, optional
        A ``kind: verification`` manifest (default the shipped ``data_manifests/verification_demo.yaml``).
    system : str, optional
        The system's name in the report (default the manifest's ``system``).
    settings : VerificationSettings or dict, optional
    options : RunOptions, optional
    **overrides
        Fields of either, as keywords.

    Raises
    ------
    EvalkitError
        A bad manifest or file stops before any run starts; a later failure marks the run FAILED.
    """
    ver, run_over, unknown = _split(overrides)
    if unknown:
        raise TypeError(f"run_verify() got unknown setting(s) {sorted(unknown)}")
    st = VerificationSettings.build(settings, **ver)
    opts = RunOptions.build(options, **run_over)
    root = tracking.project_root()
    data = Path(data) if data is not None else root / DEFAULT_VERIFICATION
    output_root = (Path(opts.output_root) if opts.output_root is not None else root / "reports") / "verify"
    experiment = opts.experiment or tracking.DEFAULT_EXPERIMENT
    log(f"checking verification data {data}")
    manifest = check_verification(data)  # keys, sha256 of every file, samples table: refused before any run
    label = system or manifest.system or manifest.name

    def validate(workdir: Path) -> Target:
        return Target(name=manifest.name, out_dir=output_root / manifest.name, title=f"evalkit verification: {label}")

    def start_run(target: Target) -> str:
        params = {"kind": "verification", "dataset": manifest.name, "system": label,
                  **{f"data_sha256_{k}": getattr(manifest, k).sha256 for k in ("samples", "comparisons", "templates")
                     if getattr(manifest, k) is not None}, **st.to_mlflow_params(), **version_params()}
        run_id = tracking.start_run(experiment=experiment, run_name=f"verify-{manifest.name}", params=params,
                                    tags={"evalkit.kind": "verification", "evalkit.model": label,
                                          "evalkit.dataset": manifest.name, **tracking.owner_tags()})
        log(f"MLflow run {run_id} in experiment '{experiment}' at {tracking.tracking_uri()}")
        return run_id

    def parameters(target: Target, staging: Path, run_id: str | None) -> dict[str, Any]:
        return {"data": str(data.resolve()), "system": label, "settings": st.to_parameters(), "run_id": run_id,
                "output_dir": str(staging)}

    def log_run(run_id: str, target: Target, out: Outputs) -> None:
        values = verification_metrics(out.record["verification"])
        tracking.log_metrics(run_id, values)
        tracking.log_artifacts(run_id, [out.html, out.notebook, out.record_path])
        tracking.log_artifacts(run_id, out.figures, artifact_path="figures")
        log(f"logged {len(values)} metrics and the report to MLflow")

    pipeline = Pipeline(kind="verification", notebook=root / VERIFY_NOTEBOOK, html_name="report.html",
                        record_name="metrics.json", published=VERIFY_FILES, validate=validate, start_run=start_run,
                        parameters=parameters, log_run=log_run, kernel_extra="evalkit.verification, seaborn")
    target, out, run_id = run_pipeline(pipeline, opts, output_root=output_root)
    log(f"verification report written to {out.html}")
    return VerifyRun(output_dir=target.out_dir, html=out.html, metrics=out.record, run_id=run_id)


def _split(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from ..settings import field_names

    ver = set(field_names(VerificationSettings))
    _, run, rest = split_settings({k: v for k, v in values.items() if k not in ver})
    return {k: v for k, v in values.items() if k in ver}, run, rest


def verification_metrics(doc: Mapping[str, Any]) -> dict[str, float | None]:
    """MLflow metrics of a ``verification`` section: thresholds, per-group rates at each, EER, inequity."""
    key = tracking.metric_key
    out: dict[str, float | None] = {}
    for target, block in doc["at_threshold"].items():
        out[key("threshold", target)] = block["threshold"]
        for feature, groups in block["groups"].items():
            for group, row in groups.items():
                for m in ("fnmr", "fmr_same", "fmr_cross"):
                    out[key("verification", target, feature, group, m)] = row.get(m)
        for feature, rates in block["inequity"].items():
            for rate, summaries in rates.items():
                for summary, row in summaries.items():
                    out[key("inequity", target, feature, rate, summary)] = row.get("value")
    for name, row in doc["eer"].items():
        out[key("eer", name)] = row.get("eer")
    return out
