"""The comparison pipeline behind ``make compare MODELS="a b c"``: find each model's latest finished report
run in MLflow → check they were evaluated on the same data → start a run of ``evalkit-compare`` linked to
them → execute ``notebooks/compare_models.ipynb`` with papermill (which calls :func:`evalkit.compare.compare`)
→ render ``comparison.html`` → attach it to the run → publish into ``reports/compare/<names>/``.

As for reports, everything is staged and moved into place only when every step has succeeded; a failure
marks the comparison run FAILED and leaves the previous comparison as it was.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ._scale import check_columns, compare_columns, evaluation_settings
from ._stats import Candidate, Comparison, ComparisonError, align, check_compare_settings, check_same_data, compare
from ..evaluation import SCORES_FILE
from ..models import safe_name
from ..runner import Outputs, Pipeline, Target, log, run_pipeline
from ..settings import CompareSettings, EvaluationSettings, RunOptions

#: The comparison notebook, relative to the project root.
COMPARE_NOTEBOOK = Path("notebooks") / "compare_models.ipynb"
#: MLflow experiment of comparison runs.
COMPARE_EXPERIMENT = "evalkit-compare"
#: Files a comparison publishes (the HTML last: it marks a complete comparison).
COMPARE_FILES = ("comparison.json", "compare_models.ipynb", "comparison.html")
#: Tag on a comparison run listing the compared report runs (comma-separated ids, baseline first).
COMPARED_TAG = "evalkit.compared_runs"
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class CompareRun:
    """Where a finished comparison went.

    Attributes
    ----------
    output_dir : Path
        ``reports/compare/<names>/``.
    html : Path
    record : dict
        ``comparison.json``.
    run_id : str or None
    """

    output_dir: Path
    html: Path
    record: dict[str, Any]
    run_id: str | None


def find_report_run(spec: str, *, experiment: str | None = None) -> Any:
    """The report run ``spec`` names: a run id, or a model name (its latest FINISHED report run).

    Raises
    ------
    ComparisonError
        If there is no such run, it is not a finished report, or the model has no finished report.
    """
    from mlflow.exceptions import MlflowException

    from .. import tracking

    experiment = experiment or tracking.DEFAULT_EXPERIMENT
    c = tracking.client()
    if _RUN_ID.fullmatch(spec):
        try:
            run = c.get_run(spec)
        except MlflowException as err:
            raise ComparisonError(f"no MLflow run {spec} at {tracking.tracking_uri()}") from err
        if run.data.tags.get("evalkit.kind") != "report" or run.info.status != "FINISHED":
            raise ComparisonError(f"run {spec} is not a finished evalkit report (kind "
                                  f"{run.data.tags.get('evalkit.kind', 'none')}, status {run.info.status})")
        return run
    exp = c.get_experiment_by_name(experiment)
    runs = [] if exp is None else c.search_runs(
        [exp.experiment_id], max_results=1, order_by=["attributes.start_time DESC"],
        filter_string=f"tags.`evalkit.kind` = 'report' and tags.`evalkit.model` = '{spec.replace(chr(39), '')}' "
                      "and attributes.status = 'FINISHED'")
    if not runs:
        known = [] if exp is None else sorted({r.data.tags.get("evalkit.model", "") for r in c.search_runs(
            [exp.experiment_id], filter_string="tags.`evalkit.kind` = 'report' and attributes.status = 'FINISHED'",
            max_results=500)} - {""})
        raise ComparisonError(
            f"no finished report of model '{spec}' in experiment '{experiment}' at {tracking.tracking_uri()}: "
            f"run `make report MODEL={spec}` (or `make report-all`) first. Models with reports: "
            f"{', '.join(known) or 'none'}")
    return runs[0]


def load_candidate(spec: str, *, experiment: str | None = None, name: str | None = None) -> Candidate:
    """Download a report run's ``metrics.json`` and ``scores.parquet`` (see :func:`find_report_run`).

    Raises
    ------
    ComparisonError
        If the run has no ``scores.parquet`` (a report made before evalkit kept per-sample scores, or one
        evaluated out of core).
    """
    return _load_run(find_report_run(spec, experiment=experiment), name)


def _load_run(run: Any, name: str | None) -> Candidate:
    import json

    from .. import tracking

    run_id, model = run.info.run_id, run.data.tags.get("evalkit.model", run.info.run_id)
    with tempfile.TemporaryDirectory(prefix="evalkit-candidate-") as tmp:
        files = {}
        for artifact in ("metrics.json", SCORES_FILE):
            try:
                files[artifact] = tracking.download_artifacts(Path(tmp), run_id=run_id, artifact_path=artifact)
            except Exception as err:  # MlflowException or OSError, depending on the store
                out_of_core = run.data.params.get("engine") in ("stream", "dask")
                raise ComparisonError(
                    f"report run {run_id} of {model} has no {artifact}"
                    + ((" (evaluated out of core: no per-sample scores are kept)" if out_of_core
                        else " (made before evalkit kept per-sample scores)") if artifact == SCORES_FILE else "")
                    + f": run `make report MODEL={model}` again" + (" in memory" if out_of_core else "")) from err
        metrics = json.loads(files["metrics.json"].read_text())
        scores = pd.read_parquet(files[SCORES_FILE])
    return Candidate(name=name or model, metrics=metrics, scores=scores, run_id=run_id)


def load_candidates(specs: Sequence[str], *, experiment: str | None = None) -> list[Candidate]:
    """:func:`load_candidate` for each spec; a model compared twice (two run ids) is called
    ``name@<run id prefix>``."""
    runs = [find_report_run(s, experiment=experiment) for s in specs]
    models = [r.data.tags.get("evalkit.model", s) for r, s in zip(runs, specs, strict=True)]
    names = [m if models.count(m) == 1 else f"{m}@{r.info.run_id[:8]}" for m, r in zip(models, runs, strict=True)]
    if len({r.info.run_id for r in runs}) != len(runs):
        raise ComparisonError(f"the same report run is named twice: {list(specs)}")
    return [_load_run(run, name) for run, name in zip(runs, names, strict=True)]


def comparison(
    models: Sequence[str],
    *,
    data: str | Path | None = None,
    settings: EvaluationSettings | Mapping[str, Any] | None = None,
    compare_settings: CompareSettings | Mapping[str, Any] | None = None,
    report_experiment: str | None = None,
    progress: bool = False,
) -> Comparison:
    """What the comparison notebook computes: without ``data``, the latest reports of ``models`` (names or run ids,
    :func:`load_candidates` then :func:`~evalkit.compare.compare`); with ``data``, the models evaluated on that
    manifest with ``settings`` (:class:`~evalkit.settings.EvaluationSettings` or their parameters; see
    :func:`~evalkit.compare.compare_columns`). Either way compared with ``compare_settings``
    (:class:`~evalkit.settings.CompareSettings` or their parameters)."""
    cs = CompareSettings.build(compare_settings)
    if data:
        return compare_columns(models, data, settings=EvaluationSettings.build(settings), compare_settings=cs,
                               progress=progress)
    return compare(load_candidates(models, experiment=report_experiment), cs, progress=progress)


def run_compare(
    models: Sequence[str],
    *,
    compare_settings: CompareSettings | Mapping[str, Any] | None = None,
    data: str | Path | None = None,
    settings: EvaluationSettings | Mapping[str, Any] | None = None,
    report_experiment: str | None = None,
    name: str | None = None,
    options: RunOptions | None = None,
    **overrides: Any,
) -> CompareRun:
    """Compare the latest reports of ``models`` (names or run ids), or the models on ``data``, and publish the
    comparison.

    Parameters
    ----------
    models : sequence of str
        Two or more registered model names (their latest finished report run) or report run ids; with ``data``,
        model specs (``column:<name>`` for score columns of the data file; only those out of core).
    compare_settings : CompareSettings or dict, optional
        How they are compared (:class:`evalkit.settings.CompareSettings`: baseline, ``allow_different_data``,
        leaderboard order, bootstrap, correction); checked before anything runs.
    data : path-like, optional
        A dataset manifest: evaluate the models on it instead of reading their reports
        (:func:`~evalkit.compare.compare_columns`).
    settings : EvaluationSettings or dict, optional
        With ``data``: how each model is evaluated (engine, ``stream``/``dask`` out of core, threshold, rule,
        score range, chunk size); its statistics are the comparison's.
    report_experiment : str, optional
        Where the report runs are (default ``evalkit``).
    name : str, optional
        The comparison's folder name (default the candidate names joined by ``-vs-``).
    options : RunOptions, optional
        How the run goes (:class:`evalkit.settings.RunOptions`): ``output_root`` (``compare/<name>/`` is
        written under it, default ``reports/``), ``experiment`` (default ``evalkit-compare``), ``timeout``,
        ``progress``. A comparison is always tracked: it reads the report runs from MLflow.
    **overrides
        Any :class:`~evalkit.settings.RunOptions` field as a keyword.

    Returns
    -------
    CompareRun

    Raises
    ------
    EvalkitError
        Bad settings, a model without a finished report, or runs evaluated on different data stop before
        the comparison run starts. A later failure marks the comparison run FAILED.
    """
    from .. import tracking

    opts = RunOptions.build(options, **overrides)
    cs = CompareSettings.build(compare_settings)
    if isinstance(models, str) or not all(isinstance(m, str) and m for m in models):
        raise ValueError(f"models must be a list of model names or run ids, got {models!r}")
    if data is None and settings is not None:
        raise ValueError("settings apply only with data (models evaluated on a manifest); reports are compared "
                         "with the settings they were made with")
    check_compare_settings(list(models))  # how many and distinct; the baseline once the names are known
    root = tracking.project_root()
    output_root = Path(opts.output_root) if opts.output_root is not None else root / "reports"
    experiment = opts.experiment or COMPARE_EXPERIMENT
    tracking.check_reachable()
    if data is not None:
        st = evaluation_settings(EvaluationSettings.build(settings), cs)
        names, manifest = check_columns(models, data, st, cs)  # refused here, before any run
        baseline = cs.baseline or names[0]
        ordered_names = [baseline, *[n for n in names if n != baseline]]
    else:
        log(f"finding the reports of {', '.join(models)}")
        candidates = load_candidates(models, experiment=report_experiment)
        names = [c.name for c in candidates]
        check_compare_settings(names, cs)
        ordered = sorted(candidates, key=lambda c: c.name != (cs.baseline or names[0]))
        same = check_same_data(ordered, allow_different_data=cs.allow_different_data)  # refused before any run
        align(ordered, same_data=same)  # no shared sample, or shared samples labelled differently: refused here too
        ordered_names = [c.name for c in ordered]
    folder = safe_name(name or "-vs-".join(ordered_names))[:120]
    # the comparison's settings as the run records them (the baseline by the name it resolved to)
    recorded = {**cs.to_parameters(), "baseline": ordered_names[0]}

    def validate(workdir: Path) -> Target:
        return Target(name=folder, out_dir=output_root / "compare" / folder,
                      title=f"evalkit comparison: {' vs '.join(names)}")

    def start_run(target: Target) -> str:
        if data is not None:
            return _start_columns_run(list(models), ordered_names, Path(data), manifest, st, cs, experiment)
        return _start_compare_run(ordered, experiment, same, cs)

    def parameters(target: Target, staging: Path, run_id: str | None) -> dict[str, Any]:
        common = {"compare_settings": recorded, "run_id": run_id, "output_dir": str(staging)}
        if data is not None:
            return {"models": list(models), "data": str(Path(data).resolve()), "settings": st.to_parameters(),
                    **common}
        return {"models": [c.run_id for c in ordered],
                "report_experiment": report_experiment or tracking.DEFAULT_EXPERIMENT, **common}

    def log_run(run_id: str, target: Target, out: Outputs) -> None:
        _log_compare(run_id, out.record, [out.html, out.record_path, out.notebook], out.figures)

    pipeline = Pipeline(kind="comparison", notebook=root / COMPARE_NOTEBOOK, html_name="comparison.html",
                        record_name="comparison.json", published=COMPARE_FILES, validate=validate,
                        start_run=start_run, parameters=parameters, log_run=log_run, kernel_extra="evalkit.compare")
    target, out, run_id = run_pipeline(pipeline, dataclasses.replace(opts, track=True),
                                       output_root=output_root / "compare")
    log(f"comparison written to {out.html}")
    return CompareRun(output_dir=target.out_dir, html=out.html, record=out.record, run_id=run_id)


def _compare_params(cs: CompareSettings) -> dict[str, Any]:
    """The comparison's settings as MLflow parameters (the baseline is its own parameter, by name)."""
    return {k: v for k, v in cs.to_mlflow_params().items() if k != "baseline"}


def _start_compare_run(candidates: Sequence[Candidate], experiment: str, same_data: bool,
                       cs: CompareSettings) -> str:
    from .. import tracking
    from ..runner import version_params

    ids = [c.run_id or "" for c in candidates]
    run_id = tracking.start_run(
        experiment=experiment, run_name="compare-" + "-vs-".join(c.name for c in candidates),
        params={"models": ",".join(c.name for c in candidates), "baseline": candidates[0].name,
                "compared_runs": ",".join(ids), "same_data": same_data,
                "datasets": ",".join(f"{n}:{s}" for n, s in candidates[0].data_key), **_compare_params(cs),
                **version_params()},
        tags={"evalkit.kind": "comparison", COMPARED_TAG: ",".join(ids), "evalkit.baseline": candidates[0].name,
              **{f"evalkit.compared.{safe_name(c.name)}": c.run_id or "" for c in candidates},
              "mlflow.note.content": "Compares " + ", ".join(f"{c.name} (run {c.run_id})" for c in candidates)
              + f"; baseline {candidates[0].name}.", **tracking.owner_tags()})
    log(f"MLflow run {run_id} in experiment '{experiment}' at {tracking.tracking_uri()}")
    return run_id


def _start_columns_run(models: list[str], names: list[str], data: Path, manifest: Any, st: EvaluationSettings,
                       cs: CompareSettings, experiment: str) -> str:
    """The MLflow run of a comparison of models on data (no report runs): the models, the dataset (``manifest``,
    as checked) and its sha256, the evaluation settings that differ from the defaults."""
    from .. import tracking
    from ..runner import version_params

    compared = _compare_params(cs)
    run_id = tracking.start_run(
        experiment=experiment, run_name="compare-" + "-vs-".join(names),
        params={"models": ",".join(models), "baseline": names[0], "data": str(data),
                "datasets": f"{manifest.name}:{manifest.sha256}", "engine": st.engine, "same_data": True,
                **{k: v for k, v in st.changed().items() if k not in compared and k != "engine"}, **compared,
                **version_params()},
        tags={"evalkit.kind": "comparison", "evalkit.baseline": names[0], "evalkit.compared_columns": ",".join(names),
              "mlflow.note.content": f"Compares {', '.join(names)} on {manifest.name} ({st.engine}); "
                                     f"baseline {names[0]}.", **tracking.owner_tags()})
    log(f"MLflow run {run_id} in experiment '{experiment}' at {tracking.tracking_uri()}")
    return run_id


def _log_compare(run_id: str, record: dict[str, Any], files: list[Path], figures: list[Path]) -> None:
    """Per challenger: the overall differences with intervals, surviving differences and the flip rate."""
    from .. import tracking

    values: dict[str, float | None] = {}
    for d in record["deltas"]:
        if d["feature"] == "overall":
            for field in ("difference", "ci_low", "ci_high"):
                values[tracking.metric_key("delta", d["candidate"], d["metric"], field)] = d[field]
    for v in record["verdicts"]:
        values[tracking.metric_key("significantly_better", v["candidate"])] = v["better"]
        values[tracking.metric_key("significantly_worse", v["candidate"])] = v["worse"]
        values[tracking.metric_key("flip_rate", v["candidate"])] = v["flip_rate"]
    count = tracking.log_metrics(run_id, values)
    tracking.log_artifacts(run_id, files)
    tracking.log_artifacts(run_id, figures, artifact_path="figures")
    log(f"logged {count} metrics, {len(files)} files and {len(figures)} figures to MLflow")
