"""Command line: ``python -m evalkit report|demo-models``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from .exceptions import EvalkitError


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _score_range(text: str) -> list[float]:
    if text.strip().lower() in ("any", "none", ""):
        return []
    parts = text.split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (e.g. 0,1) or 'any', got {text!r}") from None
    if not low < high or float("inf") in (abs(low), abs(high)):
        raise argparse.ArgumentTypeError(f"expected two finite numbers with LOW < HIGH, got {text!r}")
    return [low, high]


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {'a positive number' if minimum == 1 else f'{minimum} or more'}, "
                                         f"got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _whole(text, 1)


def _count(text: str) -> int:
    return _whole(text, 0)


def _fraction(text: str) -> float:
    value = _threshold(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _threshold(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _reference(text: str) -> tuple[str, str]:
    feature, sep, group = text.partition("=")
    if not sep or not feature or not group:
        raise argparse.ArgumentTypeError(f"expected FEATURE=GROUP (e.g. sex=Male), got {text!r}")
    return feature, group


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evalkit", description="Evaluate models for quality and fairness.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="evaluate a model and write reports/<model>/report.html")
    r.add_argument("--model", required=True,
                   help="registered model name, models:/ URI, .skops file, or predictions file (.csv/.parquet)")
    r.add_argument("--data", default=None, help="data manifest (default: data_manifests/adult_test.yaml)")
    r.add_argument("--threshold", type=_threshold, default=0.5, help="decision threshold (default 0.5)")
    r.add_argument("--threshold-rule", default="fixed", metavar="RULE",
                   help="how the threshold is chosen: fixed (default, uses --threshold), eer, fpr=TARGET, "
                        "recall=TARGET, or cost (uses --cost-fp/--cost-fn)")
    r.add_argument("--cost-fp", type=_non_negative, default=None, help="cost of one false positive (default 1)")
    r.add_argument("--cost-fn", type=_non_negative, default=None, help="cost of one false negative (default 1)")
    r.add_argument("--metrics-config", default=None, metavar="FILE",
                   help="YAML file of custom metrics (functions and cost metrics); see README")
    r.add_argument("--n-boot", type=_count, default=1000,
                   help="bootstrap resamples for confidence intervals (default 1000; 0 for none)")
    r.add_argument("--ci-level", type=_fraction, default=0.95, help="confidence level (default 0.95)")
    r.add_argument("--seed", type=_count, default=0, help="bootstrap seed (default 0)")
    r.add_argument("--reference", type=_reference, action="append", default=[], metavar="FEATURE=GROUP",
                   help="reference group of a feature (default: its largest group; repeatable)")
    r.add_argument("--tolerance", type=_non_negative, default=0.05,
                   help="differences to the reference group up to this are not of interest (default 0.05)")
    r.add_argument("--fdr", type=_fraction, default=0.05,
                   help="false discovery rate of the Benjamini-Hochberg correction (default 0.05)")
    r.add_argument("--target-fpr", type=_fraction, default=None,
                   help="FPR for the per-group threshold analysis (default: the overall FPR at the threshold)")
    r.add_argument("--min-group-size", type=_positive_int, default=30,
                   help="groups smaller than this are flagged and not compared (default 30)")
    r.add_argument("--engine", choices=["vectorised", "fairlearn"], default="vectorised",
                   help="per-group engine: vectorised (default) or fairlearn's MetricFrame (same numbers, slower)")
    r.add_argument("--output-root", default=None, help="folder for <model>/ (default: reports/)")
    r.add_argument("--experiment", default=None, help="MLflow experiment (default: evalkit)")
    r.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    r.add_argument("--timeout", type=_positive_int, default=900,
                   help="seconds a notebook cell may run before the report fails (default 900)")
    r.add_argument("--score-range", type=_score_range, default=[0.0, 1.0], metavar="LOW,HIGH",
                   help="scores must lie in [LOW, HIGH] (default 0,1); 'any' accepts any finite score")
    r.add_argument("--trust", action="store_true",
                   help="accept a pickle/joblib model file (loading it can run arbitrary code)")
    r.add_argument("--trust-type", action="append", default=[], metavar="TYPE",
                   help="a type a skops model may contain beyond the trusted ones (repeatable)")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sub.add_parser("demo-models", help="train and register the demo models (adult-logreg, adult-hgb)")
    return p


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signal.Signals(signum).name}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 success, 1 evaluation error, 2 usage error,
    130 interrupted, 143 terminated)."""
    args = _parser().parse_args(argv)
    # SIGTERM (kill, CI cancellation) unwinds like Ctrl-C: the run is marked FAILED, the kernel stopped.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == "demo-models":
            from .demo import register_demo_models

            register_demo_models()
            return 0
        from .report import run_report

        result = run_report(
            args.model, args.data, threshold=args.threshold, min_group_size=args.min_group_size,
            engine=args.engine, score_range=args.score_range, trust=args.trust,
            threshold_rule=args.threshold_rule, cost_fp=args.cost_fp, cost_fn=args.cost_fn,
            metrics_config=args.metrics_config, n_boot=args.n_boot, ci_level=args.ci_level, seed=args.seed,
            reference=dict(args.reference), tolerance=args.tolerance, fdr=args.fdr, target_fpr=args.target_fpr,
            trusted_types=args.trust_type, output_root=args.output_root, experiment=args.experiment, track=not args.no_tracking,
            timeout=args.timeout, progress=not args.no_progress,
        )
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
