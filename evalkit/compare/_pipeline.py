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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ._scale import check_columns, compare_columns
from ._stats import Candidate, Comparison, ComparisonError, align, check_compare_settings, check_same_data, compare
from ..evaluation import SCORES_FILE
from ..models import safe_name
from ..runner import Outputs, Pipeline, Target, log, run_pipeline
from ..settings import CI_LEVEL, FDR, MIN_GROUP_SIZE, N_BOOT, EvaluationSettings, RunOptions

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
    settings: Any = None,
    baseline: str | None = None,
    allow_different_data: bool = False,
    rank_by: str = "roc_auc",
    n_boot: int = N_BOOT,
    ci_level: float = CI_LEVEL,
    seed: int = 0,
    fdr: float = FDR,
    min_group_size: int = MIN_GROUP_SIZE,
    report_experiment: str | None = None,
    progress: bool = False,
) -> Comparison:
    """What the comparison notebook computes: without ``data``, the latest reports of ``models`` (names or run ids,
    :func:`load_candidates` then :func:`~evalkit.compare.compare`); with ``data``, the models evaluated on that
    manifest (:func:`~evalkit.compare.compare_columns`; ``settings`` are
    :class:`~evalkit.settings.EvaluationSettings` or their parameters, the statistics' settings given here win)."""
    if data:
        st = EvaluationSettings.build(settings, n_boot=n_boot, ci_level=ci_level, seed=seed, fdr=fdr,
                                      min_group_size=min_group_size)
        return compare_columns(models, data, settings=st, baseline=baseline, rank_by=rank_by, progress=progress)
    candidates = load_candidates(models, experiment=report_experiment)
    return compare(candidates, baseline=baseline, allow_different_data=allow_different_data, rank_by=rank_by,
                   n_boot=n_boot, ci_level=ci_level, seed=seed, fdr=fdr, min_group_size=min_group_size,
                   progress=progress)


def run_compare(
    models: Sequence[str],
    *,
    baseline: str | None = None,
    allow_different_data: bool = False,
    rank_by: str = "roc_auc",
    n_boot: int = N_BOOT,
    ci_level: float = CI_LEVEL,
    seed: int = 0,
    fdr: float = FDR,
    min_group_size: int = MIN_GROUP_SIZE,
    report_experiment: str | None = None,
    name: str | None = None,
    data: str | Path | None = None,
    settings: EvaluationSettings | None = None,
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
    baseline : str, optional
        The candidate the others are compared with (a name as it appears in the comparison; default the first).
    allow_different_data : bool, default=False
        Compare runs evaluated on different data on the samples they share, instead of refusing.
    rank_by, n_boot, ci_level, seed, fdr, min_group_size
        See :func:`evalkit.compare.compare`; checked before anything runs.
    report_experiment : str, optional
        Where the report runs are (default ``evalkit``).
    name : str, optional
        The comparison's folder name (default the candidate names joined by ``-vs-``).
    data : path-like, optional
        A dataset manifest: evaluate the models on it instead of reading their reports
        (:func:`~evalkit.compare.compare_columns`).
    settings : EvaluationSettings, optional
        With ``data``: the engine (``stream``/``dask`` out of core), threshold, rule, score range, chunk size (the
        statistics' settings are the ones given here).
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
    if isinstance(models, str) or not all(isinstance(m, str) and m for m in models):
        raise ValueError(f"models must be a list of model names or run ids, got {models!r}")
    check_compare_settings(list(models), rank_by=rank_by, n_boot=n_boot, ci_level=ci_level, fdr=fdr,
                           min_group_size=min_group_size)
    root = tracking.project_root()
    output_root = Path(opts.output_root) if opts.output_root is not None else root / "reports"
    experiment = opts.experiment or COMPARE_EXPERIMENT
    tracking.check_reachable()
    st = None
    if data is not None:
        st = EvaluationSettings.build(settings, n_boot=n_boot, ci_level=ci_level, seed=seed, fdr=fdr,
                                      min_group_size=min_group_size)
        names = check_columns(models, data, st, baseline=baseline, rank_by=rank_by)  # refused here, before any run
        ordered_names = [baseline or names[0], *[n for n in names if n != (baseline or names[0])]]
        folder = safe_name(name or "-vs-".join(ordered_names))[:120]
    else:
        log(f"finding the reports of {', '.join(models)}")
        candidates = load_candidates(models, experiment=report_experiment)
        names = [c.name for c in candidates]
        check_compare_settings(names, baseline=baseline, rank_by=rank_by, n_boot=n_boot, ci_level=ci_level, fdr=fdr,
                               min_group_size=min_group_size)
        ordered = sorted(candidates, key=lambda c: c.name != (baseline or names[0]))
        same = check_same_data(ordered, allow_different_data=allow_different_data)  # refused here, before any run
        align(ordered, same_data=same)  # no shared sample, or shared samples labelled differently: refused here too
        folder = safe_name(name or "-vs-".join(c.name for c in ordered))[:120]

    def validate(workdir: Path) -> Target:
        return Target(name=folder, out_dir=output_root / "compare" / folder,
                      title=f"evalkit comparison: {' vs '.join(names)}")

    def start_run(target: Target) -> str:
        common = {"rank_by": rank_by, "n_boot": n_boot, "ci_level": ci_level, "seed": seed, "fdr": fdr,
                  "min_group_size": min_group_size}
        if st is not None:
            return _start_columns_run(list(models), ordered_names, Path(data), st, experiment, **common)
        return _start_compare_run(ordered, experiment, same, allow_different_data=allow_different_data, **common)

    def parameters(target: Target, staging: Path, run_id: str | None) -> dict[str, Any]:
        if st is not None:
            return {"models": list(models), "data": str(Path(data).resolve()), "settings": st.to_parameters(),
                    "baseline": ordered_names[0], "rank_by": rank_by, "n_boot": n_boot, "ci_level": float(ci_level),
                    "seed": seed, "fdr": float(fdr), "min_group_size": min_group_size, "run_id": run_id,
                    "output_dir": str(staging)}
        return {"models": [c.run_id for c in ordered], "baseline": ordered[0].name,
                "allow_different_data": allow_different_data, "rank_by": rank_by, "n_boot": n_boot,
                "ci_level": float(ci_level), "seed": seed, "fdr": float(fdr), "min_group_size": min_group_size,
                "report_experiment": report_experiment or tracking.DEFAULT_EXPERIMENT, "run_id": run_id,
                "output_dir": str(staging)}

    def log_run(run_id: str, target: Target, out: Outputs) -> None:
        _log_compare(run_id, out.record, [out.html, out.record_path, out.notebook], out.figures)

    pipeline = Pipeline(kind="comparison", notebook=root / COMPARE_NOTEBOOK, html_name="comparison.html",
                        record_name="comparison.json", published=COMPARE_FILES, validate=validate,
                        start_run=start_run, parameters=parameters, log_run=log_run, kernel_extra="evalkit.compare")
    target, out, run_id = run_pipeline(pipeline, dataclasses.replace(opts, track=True),
                                       output_root=output_root / "compare")
    log(f"comparison written to {out.html}")
    return CompareRun(output_dir=target.out_dir, html=out.html, record=out.record, run_id=run_id)


def _start_compare_run(candidates: Sequence[Candidate], experiment: str, same_data: bool, **settings: Any) -> str:
    from .. import tracking
    from ..runner import version_params

    ids = [c.run_id or "" for c in candidates]
    run_id = tracking.start_run(
        experiment=experiment, run_name="compare-" + "-vs-".join(c.name for c in candidates),
        params={"models": ",".join(c.name for c in candidates), "baseline": candidates[0].name,
                "compared_runs": ",".join(ids), "same_data": same_data,
                "datasets": ",".join(f"{n}:{s}" for n, s in candidates[0].data_key), **settings, **version_params()},
        tags={"evalkit.kind": "comparison", COMPARED_TAG: ",".join(ids), "evalkit.baseline": candidates[0].name,
              **{f"evalkit.compared.{safe_name(c.name)}": c.run_id or "" for c in candidates},
              "mlflow.note.content": "Compares " + ", ".join(f"{c.name} (run {c.run_id})" for c in candidates)
              + f"; baseline {candidates[0].name}.", **tracking.owner_tags()})
    log(f"MLflow run {run_id} in experiment '{experiment}' at {tracking.tracking_uri()}")
    return run_id


def _start_columns_run(models: list[str], names: list[str], data: Path, st: EvaluationSettings, experiment: str,
                       **settings: Any) -> str:
    """The MLflow run of a comparison of models on data (no report runs): the models, the dataset and its sha256,
    the evaluation settings that differ from the defaults."""
    from .. import tracking
    from ..data import load_manifest
    from ..runner import version_params

    manifest = load_manifest(data)
    run_id = tracking.start_run(
        experiment=experiment, run_name="compare-" + "-vs-".join(names),
        params={"models": ",".join(models), "baseline": names[0], "data": str(data),
                "datasets": f"{manifest.name}:{manifest.sha256}", "engine": st.engine, "same_data": True,
                **{k: v for k, v in st.changed().items() if k not in settings and k != "engine"}, **settings,
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
