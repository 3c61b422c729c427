"""The report pipeline: validate → start the MLflow run → execute the notebook with papermill →
render HTML with nbconvert → log metrics and artifacts → publish into ``reports/<model>/``.

Everything is written into a staging folder first and moved into place only when every step has
succeeded, so a failure never leaves a truncated ``report.html`` or replaces a good one; the MLflow
run is marked FAILED (with the partial notebook attached) on any error, including Ctrl-C.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _signals
from ._io import atomic_write_bytes, atomic_write_text
from ._kernel import warm_kernel
from .balance import balance_groups
from .cost import cost_metrics
from .custom import load_metrics_config
from .data import load_dataset
from .evaluation import SCORES_FILE, check_settings
from .exceptions import ReportError
from .fairness import Engine, check_reference
from .manifest import Manifest
from .models import ModelRef, check_model_file, resolve_model
from .scale import CHUNK_ROWS
from .scale import ENGINES as SCALE_ENGINES

#: The report notebook, relative to the project root.
NOTEBOOK = Path("notebooks") / "evaluate_model.ipynb"
#: The report notebook of the out-of-core engines (``stream``, ``dask``).
SCALE_NOTEBOOK = Path("notebooks") / "evaluate_at_scale.ipynb"
#: The default evaluation set, relative to the project root.
DEFAULT_MANIFEST = Path("data_manifests") / "adult_test.yaml"
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ReportResult:
    """Where a finished report went.

    Attributes
    ----------
    output_dir : Path
        ``reports/<model>/``.
    html : Path
        The rendered report.
    metrics : dict
        The contents of ``metrics.json``.
    run_id : str or None
        The MLflow run, when tracking was on.
    """

    output_dir: Path
    html: Path
    metrics: dict[str, Any]
    run_id: str | None


_START = time.monotonic()


def log(message: str) -> None:
    """A progress line on stderr, with the seconds since evalkit was imported."""
    print(f"evalkit [{time.monotonic() - _START:5.1f}s] {message}", file=sys.stderr, flush=True)


def render_html(notebook: Path, html_path: Path, *, title: str) -> Path:
    """Render an executed notebook to a self-contained HTML file without code cells.

    Inputs and prompts are left out, figures are embedded, and no script or stylesheet is loaded from
    the network (see ``evalkit/templates/evalkit_report``).
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata["title"] = title
    for cell in nb.cells:  # a figure cell's "alt" metadata describes its images to screen readers
        alt = cell.metadata.get("alt")
        for output in cell.get("outputs", []) if alt else []:
            if "image/png" in output.get("data", {}):
                output.setdefault("metadata", {}).setdefault("image/png", {})["alt"] = alt
    exporter = HTMLExporter(
        template_name="evalkit_report",
        extra_template_basedirs=[str(_TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return atomic_write_text(html_path, body)


def render_outputs(notebook: Path, staging: Path, html_name: str, json_name: str, *,
                   title: str) -> tuple[Path, list[Path], dict[str, Any]]:
    """Render an executed notebook to ``staging/<html_name>``, save its figures in ``staging/figures``
    and read the JSON document it had to write.

    Raises
    ------
    ReportError
        If the notebook did not write ``json_name``.
    """
    log(f"rendering {html_name}")
    html = render_html(notebook, staging / html_name, title=title)
    figures = extract_figures(notebook, staging / "figures")
    path = staging / json_name
    if not path.is_file():
        raise ReportError(f"the notebook {notebook.name} did not write {json_name}", notebook=notebook)
    return html, figures, json.loads(path.read_text())


def extract_figures(notebook: Path, out_dir: Path) -> list[Path]:
    """Save every PNG output of an executed notebook as ``<cell tag>.png`` (or ``figure-<cell>.png``).

    A cell's first tag starting with ``figure-`` names its images; a cell with several images gets
    ``-2``, ``-3`` … suffixes.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    saved = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = [t for t in cell.metadata.get("tags", []) if t.startswith("figure-")]
        stem = tags[0] if tags else f"figure-{index:02d}"
        images = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        for k, data in enumerate(images, start=1):
            name = f"{stem}.png" if k == 1 else f"{stem}-{k}.png"
            saved.append(atomic_write_bytes(out_dir / name, base64.b64decode(data)))
    return saved


def publish(staging: Path, out_dir: Path, names: Sequence[str] = ("metrics.json", "scores.parquet",
                                                                  "evaluate_model.ipynb", "report.html")) -> None:
    """Move the staged files into ``out_dir`` by renames on the same file system; the last of ``names``
    (the HTML) goes last so it marks completeness. A lock on ``out_dir`` keeps two runs of one model apart."""
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _move_into(staging, out_dir, names)


def _move_into(staging: Path, out_dir: Path, names: Sequence[str]) -> None:
    figures = staging / "figures"
    if figures.is_dir():
        old = out_dir / "figures"
        trash = out_dir / f".old-figures-{uuid.uuid4().hex[:8]}"
        if old.exists():
            old.rename(trash)
        figures.rename(old)
        shutil.rmtree(trash, ignore_errors=True)
    for name in names:
        os.replace(staging / name, out_dir / name)
    (out_dir / "failed.ipynb").unlink(missing_ok=True)


def _check_settings(timeout: int, settings: Mapping[str, Any]) -> None:
    check_settings(**settings)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


def _validate(model: str, data: str | Path, download_dir: Path, trust: bool,
              settings: Mapping[str, Any]) -> tuple[Manifest, ModelRef]:
    if settings["engine"] in SCALE_ENGINES:
        # Out of core: the data are never loaded whole. The sha256 is streamed and the values are checked
        # chunk by chunk, in the notebook; here the manifest, the file and the model.
        from .manifest import load_manifest
        from .scale import spec_for

        manifest = load_manifest(data)
        if not manifest.data_path.is_file():
            from .exceptions import DataError

            raise DataError(manifest.data_path, f"data file not found (named by {manifest.manifest_path})")
        ref = resolve_model(model, download_dir=download_dir, trust=trust)
        spec_for(ref, manifest, threshold=settings["threshold"], score_range=tuple(settings["score_range"]))
        check_model_file(ref)
        return manifest, ref
    dataset = load_dataset(data)  # a dataset or a suite: sha256, schema, columns and values checked up front
    manifest = dataset.manifest
    check_reference(dataset.sensitive, settings["reference"])
    balance_groups(dataset.sensitive, settings["balance"], settings["balance_by"], settings["balance_target"])
    ref = resolve_model(model, download_dir=download_dir, trust=trust)
    # Refuse unreadable files before any run starts. The trusted-types check needs skops, whose import
    # alone takes ~2 s, so it happens once, in the kernel, where the model is loaded anyway.
    check_model_file(ref)
    return manifest, ref


def run_report(
    model: str,
    data: str | Path | None = None,
    *,
    threshold: float = 0.5,
    min_group_size: int = 30,
    engine: Engine = "vectorised",
    score_range: Sequence[float] | None = (0.0, 1.0),
    threshold_rule: str = "fixed",
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    metrics_config: str | Path | None = None,
    n_boot: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    reference: Mapping[str, str] | None = None,
    tolerance: float = 0.05,
    fdr: float = 0.05,
    target_fpr: float | None = None,
    balance: str = "none",
    balance_by: str | None = None,
    balance_target: Mapping[str, float] | None = None,
    cost_repetitions: int = 100,
    output_root: str | Path | None = None,
    experiment: str | None = None,
    track: bool = True,
    timeout: int = 900,
    progress: bool = True,
    trust: bool = False,
    trusted_types: Sequence[str] = (),
    attach_to: str | None = None,
    scheduler: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ReportResult:
    """Evaluate ``model`` on ``data`` and publish the report, metrics and MLflow run.

    Parameters
    ----------
    model : str
        Any value accepted by :func:`evalkit.resolve_model`.
    data : path-like, optional
        A data manifest (default ``data_manifests/adult_test.yaml``).
    threshold : float, default=0.5
        Decision threshold.
    min_group_size : int, default=30
        Groups smaller than this are flagged and not compared.
    engine : {"vectorised", "fairlearn"}, default="vectorised"
        How per-group metrics are computed (see :func:`evalkit.fairness.metrics_by_group`); the same
        numbers either way, ``"fairlearn"`` goes through MetricFrame.
    score_range : (low, high) or None, default=(0.0, 1.0)
        Scores outside this range are an error; ``None`` accepts any finite score.
    threshold_rule, cost_fp, cost_fn, metrics_config, n_boot, ci_level, seed, reference, tolerance, fdr, target_fpr,
    balance, balance_by, balance_target
        Passed to :func:`evalkit.evaluate` (see there); checked before anything runs.
    cost_repetitions : int, default=100
        Timed single-row calls for the report's cost section (:func:`evalkit.cost.measure_cost`); 0 skips it.
    output_root : path-like, optional
        Where ``<model>/`` is written (default ``reports/`` in the project).
    experiment : str, optional
        MLflow experiment (default ``evalkit``).
    track : bool, default=True
        Log to MLflow; ``False`` produces the files only.
    timeout : int, default=900
        Seconds any one notebook cell may run; exceeding it fails the report.
    progress : bool, default=True
        Show papermill's progress bar.
    trust : bool, default=False
        Accept a pickle/joblib model file (it can run code when loaded).
    trusted_types : sequence of str, optional
        Extra types a skops model may contain.
    scheduler, chunk_rows
        For ``engine="dask"`` and ``"stream"`` (out of core; see :mod:`evalkit.scale`): the Dask scheduler
        address (default a local cluster) and the rows per chunk. These engines run
        ``notebooks/evaluate_at_scale.ipynb``: the data are read in chunks and never held in memory.
    attach_to : str, optional
        An existing, open MLflow run to log into instead of starting one (how :mod:`evalkit.mlflow_plugin`
        reports into the run of ``mlflow.models.evaluate``). Its parameters get an ``evalkit.`` prefix, and
        the run is left open either way: its owner ends it.

    Returns
    -------
    ReportResult

    Raises
    ------
    EvalkitError
        Bad input (settings, manifest, data, model) stops before a run or kernel starts. A failure
        later (notebook error, time limit, dead kernel, unwritable output, Ctrl-C) marks the run
        FAILED, keeps the partial notebook as ``<output_root>/<model>/failed.ipynb`` and leaves the
        previous ``report.html`` as it was.
    """
    from . import tracking

    settings = dict(threshold=threshold, min_group_size=min_group_size, engine=engine, score_range=score_range,
                    threshold_rule=threshold_rule, n_boot=n_boot, ci_level=ci_level, seed=seed, tolerance=tolerance,
                    fdr=fdr, target_fpr=target_fpr, balance=balance)
    _check_settings(timeout, settings)
    scale = engine in SCALE_ENGINES
    if scale:
        from .scale import check_scale_settings

        check_scale_settings(engine=engine, chunk_rows=chunk_rows, score_range=score_range, scheduler=scheduler)
        if metrics_config is not None or balance_by is not None or balance_target:
            raise ValueError(f"engine {engine!r} (out of core) computes the built-in metrics without balancing: "
                             "no metrics_config, balance_by or balance_target")
    if isinstance(cost_repetitions, bool) or not isinstance(cost_repetitions, int) or cost_repetitions < 0:
        raise ValueError(f"cost_repetitions must be a whole number >= 0, got {cost_repetitions!r}")
    config = load_metrics_config(metrics_config)  # a bad configuration stops here, naming file and key
    root = tracking.project_root()
    data = Path(data) if data is not None else root / DEFAULT_MANIFEST
    output_root = Path(output_root) if output_root is not None else root / "reports"
    experiment = experiment or tracking.DEFAULT_EXPERIMENT
    settings.update(cost_fp=cost_fp, cost_fn=cost_fn, cost_repetitions=cost_repetitions,
                    reference=dict(reference or {}), balance_by=balance_by,
                    balance_target=dict(balance_target) if balance_target else None,
                    metrics_config=str(config.path) if config.path else None)
    if scale:
        settings.update(scheduler=scheduler or "", chunk_rows=chunk_rows)  # recorded as run parameters
    notebook = root / (SCALE_NOTEBOOK if scale else NOTEBOOK)
    nb_parameters = (_scale_parameters(settings, trusted_types, scheduler, chunk_rows) if scale
                     else _settings_parameters(settings, trusted_types))
    check_parameters(notebook, nb_parameters)
    if track:
        tracking.check_reachable()
    workdir = Path(tempfile.mkdtemp(prefix="evalkit-report-"))
    run_id, staging = None, None
    try:
        # The kernel boots and imports on the second core while this process checks the input,
        # talks to MLflow and imports papermill.
        with warm_kernel(notebook.parent, workdir / "kernel.log") as km:
            log(f"checking data {data} and model {model}")
            manifest, ref = _validate(model, data, workdir / "model", trust, settings)
            out_dir = output_root / ref.name
            staging = staging_dir(output_root, ref.name)
            if track:
                plain = {k: (v if isinstance(v, (int, float, str)) else json.dumps(v)) for k, v in settings.items()}
                if attach_to is not None:
                    run_id = _attach_run(attach_to, ref, manifest, **plain)
                else:
                    stale = tracking.fail_stale_runs(experiment)
                    if stale:
                        log(f"marked {len(stale)} stale RUNNING run(s) FAILED: {', '.join(stale)}")
                    run_id = _start_run(ref, manifest, experiment, **plain)
            nb_out = staging / "evaluate_model.ipynb"
            execute_notebook(notebook, nb_out, out_dir, km=km, timeout=timeout, progress=progress, parameters={
                "model": ref.spec if scale else {**dataclasses.asdict(ref), "path": str(ref.path)},
                "data": str(manifest.manifest_path), "run_id": run_id, "output_dir": str(staging), **nb_parameters,
            })
        html, figures, metrics = render_outputs(nb_out, staging, "report.html", "metrics.json",
                                                title=f"evalkit report: {ref.name}")
        metrics_path = staging / "metrics.json"
        scores = [] if scale else [staging / SCORES_FILE]  # out of core: no per-sample scores are kept
        if track:
            extra_files = [config.path] if config.path else []
            _log_to_mlflow(run_id, metrics, [html, nb_out, metrics_path, *scores, *extra_files], figures)
        _signals.check()
        publish(staging, out_dir, ("metrics.json", *(s.name for s in scores), "evaluate_model.ipynb", "report.html"))
        if track and attach_to is None:
            tracking.end_run(run_id, "FINISHED")
        log(f"report written to {out_dir / 'report.html'}")
        return ReportResult(output_dir=out_dir, html=out_dir / "report.html", metrics=metrics, run_id=run_id)
    except OSError as err:  # disk full, read-only or missing output folder, ...
        where = err.filename or output_root
        failure = ReportError(f"cannot write the report: {where}: {err.strerror or err}",
                              notebook=getattr(err, "notebook", None))  # kept by _execute, if any
        if run_id is not None:
            fail_run(run_id, failure, end=attach_to is None)
        raise failure from err
    except BaseException as err:
        if run_id is not None:
            fail_run(run_id, err, end=attach_to is None)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _settings_parameters(settings: Mapping[str, Any], trusted_types: Sequence[str]) -> dict[str, Any]:
    """The notebook's parameters for the evaluation settings (JSON-friendly types, as annotated there)."""
    out = dict(settings)
    out.update(threshold=float(settings["threshold"]), min_group_size=int(settings["min_group_size"]),
               score_range=[float(v) for v in settings["score_range"] or []], trusted_types=list(trusted_types),
               ci_level=float(settings["ci_level"]), tolerance=float(settings["tolerance"]),
               fdr=float(settings["fdr"]))
    return out


def _scale_parameters(settings: Mapping[str, Any], trusted_types: Sequence[str], scheduler: str | None,
                      chunk_rows: int) -> dict[str, Any]:
    """The out-of-core notebook's parameters (it declares fewer: no threshold rules, balancing or custom metrics)."""
    return {"engine": settings["engine"], "scheduler": scheduler or "", "chunk_rows": int(chunk_rows),
            "threshold": float(settings["threshold"]), "min_group_size": int(settings["min_group_size"]),
            "score_range": [float(v) for v in settings["score_range"]], "n_boot": int(settings["n_boot"]),
            "ci_level": float(settings["ci_level"]), "seed": int(settings["seed"]),
            "reference": dict(settings["reference"]), "tolerance": float(settings["tolerance"]),
            "fdr": float(settings["fdr"]), "trusted_types": list(trusted_types)}


def staging_dir(output_root: Path, name: str) -> Path:
    """A private folder beside the final one (same file system, so publishing is a rename)."""
    output_root.mkdir(parents=True, exist_ok=True)
    staging = output_root / f".staging-{name}-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging


def _run_fields(ref: ModelRef, manifest: Manifest, settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The parameters and tags of a report run."""
    params = {"model": ref.name, "model_spec": ref.spec, "model_kind": ref.kind, "model_uri": ref.uri or "",
              "model_version": ref.version or "", "model_sha256": ref.sha256, "dataset": manifest.name,
              "dataset_sha256": manifest.sha256, **settings, **_version_params()}
    return params, {"evalkit.kind": "report", "evalkit.model": ref.name, "evalkit.dataset": manifest.name}


def _start_run(ref: ModelRef, manifest: Manifest, experiment: str, **settings: Any) -> str:
    from . import tracking

    params, tags = _run_fields(ref, manifest, settings)
    run_id = tracking.start_run(experiment=experiment, run_name=f"report-{ref.name}", params=params,
                                tags={**tags, **tracking.owner_tags()})
    log(f"MLflow run {run_id} in experiment '{experiment}' at {tracking.tracking_uri()}")
    return run_id


def _attach_run(run_id: str, ref: ModelRef, manifest: Manifest, **settings: Any) -> str:
    """Record a report's parameters (``evalkit.``-prefixed: the run has its owner's) and tags on an open run."""
    from . import tracking

    params, tags = _run_fields(ref, manifest, settings)
    tracking.log_params(run_id, {f"evalkit.{k}": v for k, v in params.items()}, tags)
    log(f"reporting into the open MLflow run {run_id} at {tracking.tracking_uri()}")
    return run_id


def _version_params() -> dict[str, str]:
    from .evaluation import git_commit, versions

    return {f"version_{k}": v for k, v in versions().items()} | {"git_commit": git_commit()}


_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "float": (int, float), "int": (int,), "str": (str,), "bool": (bool,), "list": (list, tuple), "dict": (dict,),
}


def notebook_parameters(notebook: Path) -> dict[str, str | None]:
    """The parameters a notebook declares: name to annotation (``"float"`` …, or None if unannotated).

    Reads the cell tagged ``parameters`` with :mod:`ast`, without papermill or a kernel.

    Raises
    ------
    ReportError
        If the notebook cannot be read or has no ``parameters`` cell.
    """
    import ast

    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError) as err:
        raise ReportError(f"{notebook}: cannot read the notebook: {err}") from err
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
               for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not sources:
        raise ReportError(f"{notebook}: no cell tagged 'parameters'; papermill cannot parameterise it")
    declared: dict[str, str | None] = {}
    for node in ast.parse(sources[0]).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared[node.target.id] = ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign):
            declared.update({t.id: None for t in node.targets if isinstance(t, ast.Name)})
    return declared


def check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    """Refuse parameters the notebook's ``parameters`` cell does not declare, or of another type than
    its annotation (``threshold: float = 0.5``). Runs before the kernel is asked to do anything."""
    declared = notebook_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ReportError(f"{notebook}: unknown parameter(s) {unknown}; its parameters cell declares "
                          f"{sorted(declared)}")
    for name, value in parameters.items():
        expected = declared[name]
        types = _PARAMETER_TYPES.get(expected or "")
        if types is not None and (isinstance(value, bool) and bool not in types or not isinstance(value, types)):
            raise ReportError(f"{notebook}: parameter '{name}' expects {expected}, got "
                              f"{type(value).__name__} {value!r}")


def execute_notebook(template: Path, out: Path, out_dir: Path, *, km: Any, timeout: int, progress: bool,
                     parameters: dict[str, Any]) -> None:
    """Execute ``template`` with papermill into ``out`` on the kernel ``km``, after checking ``parameters``.

    Raises
    ------
    ReportError
        On a failing cell, a cell over ``timeout`` seconds, or a dead kernel; the partial notebook is
        kept as ``<out_dir>/failed.ipynb`` and named in the error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    log(f"executing {template.name} with papermill")
    check_parameters(template, parameters)
    try:
        pm.execute_notebook(
            str(template), str(out), parameters=parameters, cwd=str(template.parent), progress_bar=progress,
            execution_timeout=timeout, kernel_name="python3", language="python", km=km,
        )
        _signals.check()  # an interrupt that a library caught still fails the run
    except PapermillExecutionError as err:
        failed = _keep_failed(out, out_dir)
        raise ReportError(
            f"the report notebook failed in cell {err.exec_count}: {err.ename}: {err.evalue}"
            f" (partial notebook kept at {failed})",
            notebook=failed,
        ) from err
    except TimeoutError as err:  # nbclient's CellTimeoutError
        failed = _keep_failed(out, out_dir)
        raise ReportError(f"a notebook cell ran longer than the time limit of {timeout} s (--timeout); "
                          f"partial notebook kept at {failed}", notebook=failed) from err
    except (OSError, KeyboardInterrupt, SystemExit) as err:  # full/read-only disk (TimeoutError is above), Ctrl-C
        err.notebook = _keep_failed(out, out_dir)  # type: ignore[union-attr]  # attached to the FAILED run
        raise
    except Exception as err:  # DeadKernelError and other kernel failures
        failed = _keep_failed(out, out_dir)
        raise ReportError(f"the notebook kernel failed: {type(err).__name__}: {err} "
                          f"(partial notebook kept at {failed})", notebook=failed) from err


def _keep_failed(notebook: Path, out_dir: Path) -> Path | None:
    """Copy a partially executed notebook to ``<out_dir>/failed.ipynb`` (the last report stays)."""
    if not notebook.is_file():
        return None
    target = out_dir / "failed.ipynb"
    try:
        atomic_write_bytes(target, notebook.read_bytes())
    except OSError:  # best effort: the disk may be the reason we are here
        return None
    return target


def _log_to_mlflow(run_id: str, metrics: dict[str, Any], files: list[Path], figures: list[Path]) -> None:
    from . import tracking

    values: dict[str, float | None] = {tracking.metric_key(m): v for m, v in metrics["overall"].items()}
    for feature, groups in metrics["by_group"].items():
        for group, row in groups.items():
            values.update({tracking.metric_key("by_group", feature, group, m): v for m, v in row.items()})
    for feature, per_metric in metrics["disparities"].items():
        for metric, d in per_metric.items():
            for field in ("difference", "ratio", "difference_ci_low", "difference_ci_high"):
                if field in d:
                    values[tracking.metric_key("disparity", feature, metric, field)] = d[field]
    for metric, ci in (metrics.get("overall_ci") or {}).items():
        values[tracking.metric_key("ci_low", metric)] = ci["ci_low"]
        values[tracking.metric_key("ci_high", metric)] = ci["ci_high"]
    if metrics.get("multiple_comparisons"):
        values["bh_surviving_differences"] = len(metrics["multiple_comparisons"]["surviving"])
    values["threshold"] = metrics["threshold"]
    details = metrics.get("engine_details") or {}
    values.update({f"engine/{k}": details.get(k) for k in ("rows", "seconds", "rows_per_second", "auc_binning_bound")
                   if isinstance(details.get(k), (int, float))})
    values.update(cost_metrics(metrics.get("cost")))
    count = tracking.log_metrics(run_id, values)
    tracking.log_artifacts(run_id, files)
    tracking.log_artifacts(run_id, figures, artifact_path="figures")
    log(f"logged {count} metrics, {len(files)} files and {len(figures)} figures to MLflow")


def fail_run(run_id: str, err: BaseException, *, end: bool = True) -> None:
    """Mark a run FAILED (unless ``end`` is False: a run someone else owns) with the error as a tag and the
    partial notebook (if any) attached; never raises."""
    from . import tracking

    try:
        notebook = getattr(err, "notebook", None)
        if notebook is not None and Path(notebook).is_file():
            tracking.log_artifacts(run_id, [Path(notebook)])
        tracking.client().set_tag(run_id, "evalkit.error", f"{type(err).__name__}: {err}"[:5000])
        if end:
            tracking.end_run(run_id, "FAILED")
            log(f"MLflow run {run_id} marked FAILED")
    except Exception as log_err:  # never hide the original error behind a logging one
        log(f"could not mark MLflow run {run_id} FAILED: {log_err}")
