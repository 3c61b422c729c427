"""The report pipeline (``make report``): evaluate a model on a dataset in the report notebook and publish
``report.html``, ``metrics.json``, ``scores.parquet`` and the executed notebook into ``reports/<model>/`` and
its MLflow run. It supplies to :func:`~evalkit.runner.run_pipeline` only what is its own: checking the
model and data, the run's parameters, the notebook's parameters and what is logged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import release_free_memory
from .. import tracking
from ..data import Manifest, balance_groups, load_dataset, load_manifest
from ..evaluation import SCORES_FILE, spec_for
from ..exceptions import DataError
from ..metrics import check_reference, load_metrics_config
from ..models import (ModelRef, check_model_columns, check_model_file, check_score_range, cost_metrics, gives_scores,
                      resolve_model, score)
from ..settings import EvaluationSettings, RunOptions, split_settings
from ._execute import check_parameters, log, version_params
from ._kernel import model_imports
from ._pipeline import Outputs, Pipeline, Target, run_pipeline

#: The report notebook, relative to the project root.
NOTEBOOK = Path("notebooks") / "evaluate_model.ipynb"
#: The report notebook of the out-of-core engines (``stream``, ``dask``).
SCALE_NOTEBOOK = Path("notebooks") / "evaluate_at_scale.ipynb"
#: The default evaluation set, relative to the project root.
DEFAULT_MANIFEST = Path("data_manifests") / "adult_test.yaml"


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


def _check_inputs(model: str, data: Path, download_dir: Path, trust: bool,
                  st: EvaluationSettings) -> tuple[Manifest, ModelRef]:
    """Every check that needs only the files, before a run starts."""
    if st.out_of_core:
        # Out of core: the data are never loaded whole. The sha256 is streamed and the values are checked
        # chunk by chunk, in the notebook; here the manifest, the file and the model.
        manifest = load_manifest(data)
        if not manifest.data_path.is_file():
            raise DataError(manifest.data_path, f"data file not found (named by {manifest.manifest_path})")
        ref = resolve_model(model, download_dir=download_dir, trust=trust)
        spec_for(ref, manifest, threshold=st.threshold, score_range=st.score_range)
        check_model_file(ref)
        return manifest, ref
    dataset = load_dataset(data)  # a dataset or a suite: sha256, schema, columns and values checked up front
    check_reference(dataset.sensitive, st.reference)
    balance_groups(dataset.sensitive, st.balance, st.balance_by, st.balance_target)
    ref = resolve_model(model, download_dir=download_dir, trust=trust)
    # Refuse unreadable files before any run starts. The trusted-types check needs skops, whose import
    # alone takes ~2 s, so it happens once, in the kernel, where the model is loaded anyway.
    check_model_file(ref)
    check_model_columns(ref, dataset)  # from the file's schema: a model for other data stops here, not in the kernel
    if ref.kind in ("predictions", "column"):
        # Scores given as a file or column need no model: every check on them (ids against the data, numeric
        # and finite values, the declared range) is made here, with the messages the kernel would give.
        scores = score(ref, dataset)
        if st.score_range is not None:
            check_score_range(ref, dataset, scores, st.score_range)
    manifest = dataset.manifest
    del dataset
    _give_back_memory()
    return manifest, ref


def _give_back_memory() -> None:
    """Return the checked data's memory to the system: the kernel loads the data again while this process
    waits, and the allocators (Arrow's above all) would keep the freed pages (about 180 MB for 10^6 rows) in the
    report's peak."""
    import gc

    gc.collect()
    release_free_memory()


def run_report(
    model: str,
    data: str | Path | None = None,
    *,
    settings: EvaluationSettings | Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
    **overrides: Any,
) -> ReportResult:
    """Evaluate ``model`` on ``data`` and publish the report, metrics and MLflow run.

    Parameters
    ----------
    model : str
        Any value accepted by :func:`evalkit.resolve_model`.
    data : path-like, optional
        A data manifest (default ``data_manifests/adult_test.yaml``).
    settings : EvaluationSettings or dict, optional
        How the model is evaluated (see :class:`evalkit.settings.EvaluationSettings`: threshold and rule,
        groups, intervals, balancing, engine, ...). The out-of-core engines (``stream``, ``dask``) run
        ``notebooks/evaluate_at_scale.ipynb``: the data are read in chunks and never held in memory.
    options : RunOptions, optional
        How the run goes (see :class:`evalkit.settings.RunOptions`): output folder, MLflow experiment,
        tracking, time limit per cell, progress bar, trusting pickle files, and ``attach_to`` (an open
        MLflow run to log into instead of starting one: how the ``mlflow.models.evaluate`` plugin reports
        into its run; parameters then get an ``evalkit.`` prefix and the run is left open for its owner).
    **overrides
        Any field of either, as a keyword (``run_report("adult-logreg", n_boot=200, track=False)``).

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
    ev_over, run_over, unknown = split_settings(overrides)
    if unknown:
        raise TypeError(f"run_report() got unknown setting(s) {sorted(unknown)}")
    st = EvaluationSettings.build(settings, **ev_over)
    opts = RunOptions.build(options, **run_over)
    config = load_metrics_config(st.metrics_config)  # a bad configuration stops here, naming file and key
    root = tracking.project_root()
    data = Path(data) if data is not None else root / DEFAULT_MANIFEST
    output_root = Path(opts.output_root) if opts.output_root is not None else root / "reports"
    experiment = opts.experiment or tracking.DEFAULT_EXPERIMENT
    notebook = root / (SCALE_NOTEBOOK if st.out_of_core else NOTEBOOK)
    if config.path is not None:
        st = st.replace(metrics_config=str(config.path))  # recorded resolved
    check_parameters(notebook, _parameters(st, ref=None, manifest=None, run_id=None, output_dir=None))

    def validate(workdir: Path) -> Target:
        log(f"checking data {data} and model {model}")
        manifest, ref = _check_inputs(model, data, workdir / "model", opts.trust, st)
        return Target(name=ref.name, out_dir=output_root / ref.name, title=f"evalkit report: {ref.name}",
                      context={"ref": ref, "manifest": manifest})

    def start_run(target: Target) -> str:
        ref, manifest = target.context["ref"], target.context["manifest"]
        params, tags = _run_fields(ref, manifest, st)
        if opts.attach_to is not None:
            tracking.log_params(opts.attach_to, {f"evalkit.{k}": v for k, v in params.items()}, tags)
            log(f"reporting into the open MLflow run {opts.attach_to} at {tracking.tracking_uri()}")
            return opts.attach_to
        stale = tracking.fail_stale_runs(experiment)
        if stale:
            log(f"marked {len(stale)} stale RUNNING run(s) FAILED: {', '.join(stale)}")
        run_id = tracking.start_run(experiment=experiment, run_name=f"report-{ref.name}", params=params,
                                    tags={**tags, **tracking.owner_tags()})
        log(f"MLflow run {run_id} in experiment '{experiment}' at {tracking.tracking_uri()}")
        return run_id

    def parameters(target: Target, staging: Path, run_id: str | None) -> dict[str, Any]:
        return _parameters(st, ref=target.context["ref"], manifest=target.context["manifest"], run_id=run_id,
                           output_dir=staging)

    logged: dict[str, int] = {}

    def log_record(run_id: str, target: Target, record: Mapping[str, Any]) -> None:
        logged["metrics"] = tracking.log_metrics(run_id, _metric_values(record))

    def log_run(run_id: str, target: Target, out: Outputs) -> None:
        scores = [] if st.out_of_core else [out.staging / SCORES_FILE]  # out of core: no per-sample scores
        files = [out.html, out.notebook, out.record_path, *scores, *([config.path] if config.path else [])]
        tracking.log_artifacts(run_id, files)
        tracking.log_artifacts(run_id, out.figures, artifact_path="figures")
        log(f"logged {logged['metrics']} metrics, {len(files)} files and {len(out.figures)} figures to MLflow")

    published = ("metrics.json", *(() if st.out_of_core else (SCORES_FILE,)), "evaluate_model.ipynb", "report.html")
    pipeline = Pipeline(kind="report", notebook=notebook, html_name="report.html", record_name="metrics.json",
                        published=published, validate=validate, start_run=start_run, parameters=parameters,
                        log_record=log_record, log_run=log_run, end_run=opts.attach_to is None,
                        notebook_name="evaluate_model.ipynb",
                        # scores from a file or column are checked in full before the kernel starts (in memory)
                        check_first=gives_scores(model) and not st.out_of_core,
                        kernel_extra=model_imports(model))
    target, out, run_id = run_pipeline(pipeline, opts, output_root=output_root)
    log(f"report written to {out.html}")
    return ReportResult(output_dir=target.out_dir, html=out.html, metrics=out.record, run_id=run_id)


def _parameters(st: EvaluationSettings, *, ref: ModelRef | None, manifest: Manifest | None, run_id: str | None,
                output_dir: Path | None) -> dict[str, Any]:
    """The report notebook's parameters: the model, the data, the run, and the settings as one dict."""
    if ref is None:
        model: Any = ""
    elif st.out_of_core:
        model = ref.spec
    else:
        model = {**dataclasses.asdict(ref), "path": str(ref.path)}
    return {"model": model, "data": str(manifest.manifest_path) if manifest is not None else "",
            "settings": st.to_parameters(), "run_id": run_id,
            "output_dir": str(output_dir) if output_dir is not None else None}


def _run_fields(ref: ModelRef, manifest: Manifest, st: EvaluationSettings) -> tuple[dict[str, Any], dict[str, str]]:
    """The parameters and tags of a report run."""
    params = {"model": ref.name, "model_spec": ref.spec, "model_kind": ref.kind, "model_uri": ref.uri or "",
              "model_version": ref.version or "", "model_sha256": ref.sha256, "dataset": manifest.name,
              "dataset_sha256": manifest.sha256, **_recorded(st), **version_params()}
    return params, {"evalkit.kind": "report", "evalkit.model": ref.name, "evalkit.dataset": manifest.name}


def _recorded(st: EvaluationSettings) -> dict[str, Any]:
    """The settings as run parameters: the in-memory report records no out-of-core options, the out-of-core
    one no balancing, costs or custom metrics it cannot use (so runs of either kind keep their columns)."""
    params = st.to_mlflow_params()
    drop = {"intersections", "trusted_types"} | ({"scheduler", "chunk_rows"} if not st.out_of_core else set())
    if st.out_of_core:
        params["scheduler"] = st.scheduler or ""
    return {k: v for k, v in params.items() if k not in drop}


def _metric_values(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """The MLflow metrics of a report's ``metrics.json``: overall, per group, disparities, intervals, the
    threshold, the engine's figures and the cost."""
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
    return values


