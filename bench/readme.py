"""The README's speed and coverage figures, written from ``bench/results.json`` (never typed by hand).

``python bench/readme.py`` (run by ``make bench`` after the measurements) replaces the text between
``<!-- bench:speed -->`` and ``<!-- /bench:speed -->`` (and ``bench:coverage``) in README.md with
:func:`render`'s output for the current results. ``tests/unit/test_bench_readme.py`` checks that the README
holds exactly what the committed results give, so a figure typed into those blocks fails the tests.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = ("speed", "coverage")
_POW = {10**k: f"10{''.join('⁰¹²³⁴⁵⁶⁷⁸⁹'[int(c)] for c in str(k))}" for k in range(3, 10)}


def _rows(n: int) -> str:
    return _POW.get(n, f"{n:,}")


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 0.1:
        return f"{seconds:.3f} s"
    if seconds < 10:
        return f"{seconds:.2f} s".replace(".00 s", " s")
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:,.0f} s"


def _mb(mb: float | None) -> str:
    return "—" if mb is None else f"{mb:,.0f} MB"


def _x(ratio: float | None) -> str:
    return "—" if ratio is None else (f"{ratio:.1f}×" if ratio < 10 else f"{ratio:,.0f}×")


def _find(records: list[dict], name: str, rows: int | None = None) -> dict | None:
    return next((r for r in records if r["name"] == name and (rows is None or r["rows"] == rows)), None)


def _target(r: dict) -> str:
    if "target_met" not in r:
        return ""
    return "met" if r["target_met"] else "**missed**"


def _targets_table(records: list[dict]) -> list[str]:
    out = ["| record | rows | measured | baseline (same run) | target | |", "|---|---|---|---|---|---|"]
    for r in records:
        if "target_met" not in r and "target_seconds" not in r:
            continue
        target = []
        if r.get("target_seconds") is not None:
            target.append(f"≤ {_s(r['target_seconds'])}")
        if r.get("target_peak_mb") is not None:
            target.append(f"peak ≤ {_mb(r['target_peak_mb'])}")
        measured = _s(r["seconds"]) + (f", peak {_mb(r['peak_mb'])}" if r.get("peak_mb") is not None else "")
        base = "—"
        if r.get("baseline"):
            base = f"{r['baseline']}: {_s(r['baseline_seconds'])}"
            if r.get("baseline_peak_mb") is not None:
                base += f", peak {_mb(r['baseline_peak_mb'])}"
        out.append(f"| `{r['name']}` | {_rows(r['rows'])} | {measured} | {base} | {', '.join(target)} | {_target(r)} |")
    return out


def _by_group(records: list[dict]) -> list[str]:
    out = ["| rows | evalkit | peak | MetricFrame | naive loop |", "|---|---|---|---|---|"]
    for r in records:
        if r["name"] != "by_group_vs_metricframe":
            continue
        loop = _find(records, "by_group_vs_sklearn_loop", r["rows"])
        frame = f"{_s(r['baseline_seconds'])} ({_x(r['speedup'])})"
        if r.get("baseline_rows") and r["baseline_rows"] != r["rows"]:
            frame = f"~{_s(r['baseline_seconds'])}, scaled from {_rows(r['baseline_rows'])} ({_x(r['speedup'])})"
        naive = f"{_s(loop['baseline_seconds'])} ({_x(loop['speedup'])})" if loop else "—"
        out.append(f"| {_rows(r['rows'])} | {_s(r['seconds'])} | {_mb(r['peak_mb'])} | {frame} | {naive} |")
    return out


def _slowest(record: dict, k: int) -> str:
    """The ``k`` slowest cells of a report record's profile: ``cell`` seconds, joined by semicolons."""
    return "; ".join(f"`{c['cell']}` {_s(c['seconds'])}" for c in record.get("profile", {}).get("cells", [])[:k])


def _report(records: list[dict]) -> list[str]:
    out = []
    rep, ev = _find(records, "report_end_to_end"), _find(records, "evaluate_adult")
    if rep and ev:
        parts = rep.get("profile", {}).get("parts", {})
        out.append(
            f"**The report end to end on Adult** (`make report MODEL=adult-logreg`, fastest of 3, each run followed "
            f"by one of the floor): {_s(rep['seconds'])}"
            f"; the floor (papermill and nbconvert running a notebook that only imports) {_s(rep['baseline_seconds'])}"
            f" and `evaluate()` alone {_s(ev['seconds'])} ({_s(ev['baseline_seconds'])} without intervals); target "
            f"1.5 × floor + evaluate = {_s(rep['target_seconds'])}: {_target(rep)}.")
        if parts:
            out.append(
                f"Where it went: checks, model and MLflow run {_s(parts.get('checks_and_mlflow_run'))} (the kernel "
                f"starts beside them), papermill {_s(parts.get('papermill'))} of which the cells "
                f"{_s(parts.get('cells'))}, rendering and logging {_s(parts.get('render_and_log'))}, process start "
                f"and exit {_s(parts.get('process_start_and_exit'))}; slowest cells: {_slowest(rep, 4)}.")
    batch = _find(records, "report_all_demo_models")
    if batch:
        out.append(
            f"**`make report-all`** of the two demo models, one report per core: {_s(batch['seconds'])} with each "
            f"report's native thread pools limited to its share of the cores, {_s(batch['baseline_seconds'])} with "
            f"every report's pools at every core (the libraries' default): {_x(batch['speedup'])} faster.")
    side = _find(records, "report_vs_mlflow_evaluate")
    if side:
        parts = side.get("profile", {}).get("parts", {})
        out.append(
            f"**Against `mlflow.models.evaluate`** (default evaluator, same {_rows(side['rows'])} rows and model, "
            f"two fresh processes each, alternated; the faster time and lower peak of each): the report "
            f"{_s(side['seconds'])} (peak {_mb(side['peak_mb'])} for CLI and "
            f"kernel), mlflow {_s(side['baseline_seconds'])} (peak {_mb(side.get('baseline_peak_mb'))}) with no "
            f"groups and no intervals; target ≤ 0.5 × mlflow's time and its peak: {_target(side)}"
            + (f". Papermill {_s(parts.get('papermill'))}, slowest cells: {_slowest(side, 3)}" if parts else "") + ".")
    return out


def _gate_compare(records: list[dict]) -> list[str]:
    out = []
    gate = _find(records, "gate_checks_adult")
    if gate:
        t = gate.get("timings", {})
        out.append(f"**The gate** on Adult in-process: {_s(gate['seconds'])} ("
                   + ", ".join(f"{k.replace('_', ' ')} {_s(v)}" for k, v in sorted(t.items(), key=lambda kv: -kv[1])
                               if v >= 0.5) + ").")
    scale = _find(records, "gate_checks_at_scale")
    if scale:
        t = scale.get("timings", {})
        out.append(f"The same gate on {_rows(scale['rows'])} rows (a policy with the same checks, against a staging "
                   f"model): {_s(scale['seconds'])} (" + ", ".join(
                       f"{k.replace('_', ' ')} {_s(v)}" for k, v in sorted(t.items(), key=lambda kv: -kv[1]) if v >= 0.5)
                   + f"; target {_s(scale['target_seconds'])}: {_target(scale)}).")
    paired = [r for r in records if r["name"] == "paired_auc_interval"]
    if paired:
        out.append("The gate's non-inferiority interval of the ROC AUC difference (DeLong): " + "; ".join(
            f"{_s(r['seconds'])} at {_rows(r['rows'])} rows against {_s(r['baseline_seconds'])} for the former "
            f"per-sample paired bootstrap ({_x(r['speedup'])})" for r in paired) + ".")
    cmp = [r for r in records if r["name"] == "compare_two_models"]
    if cmp:
        out.append("**Comparing two models** (`make compare`'s statistics: 7 metrics for 49 groups + overall, 1,000 "
                   "paired resamples, DeLong, McNemar and flip rates per group): " + "; ".join(
                       f"{_s(r['seconds'])} at {_rows(r['rows'])} rows (peak {_mb(r['peak_mb'])}"
                       + (f", {_x(r['speedup'])} the per-sample paired bootstrap" if r.get("speedup") else "")
                       + (f"; {_s(r['numpy_huge_pages_seconds'])} with numpy's transparent huge pages on, its default,"
                          " which evalkit turns off" if r.get("numpy_huge_pages_seconds") else "") + ")"
                       for r in cmp) + ".")
    return out


def _scale(records: list[dict]) -> list[str]:
    out = []
    rows = sorted({r["rows"] for r in records if r["name"].startswith("out_of_core_")})
    if rows:
        cells = []
        for n in rows:
            s, d = _find(records, "out_of_core_stream", n), _find(records, "out_of_core_dask", n)
            cells.append(f"{_rows(n)} rows: `stream` {_s(s['seconds'])} (peak {_mb(s['peak_mb'])}), `dask` "
                         f"{_s(d['seconds'])} (peak {_mb(d['peak_mb'])})")
        out.append("**Out of core** (a Parquet file generated on the fly, every metric for 40 cells and their "
                   "intersections, 1,000 resamples; peaks of the whole process tree): " + "; ".join(cells) + ".")
        compared = [(n, _find(records, "out_of_core_compare", n)) for n in rows]
        compared = [(n, c) for n, c in compared if c]
        if compared:
            out.append("**Comparing two score columns out of core** (`make compare MODELS=\"column:score "
                       "column:score_b\" DATA=... ENGINE=stream`: two passes, McNemar, flips, DeLong and the paired "
                       "bootstrap for every group and intersection): " + "; ".join(
                           f"{_rows(n)} rows {_s(c['seconds'])} (peak {_mb(c['peak_mb'])})" for n, c in compared) + ".")
    boot, move = _find(records, "bootstrap_1000"), _find(records, "explorer_threshold_move")
    if boot:
        out.append(f"Bootstrap, 1,000 resamples of every metric for 71 groups at {_rows(boot['rows'])} rows: "
                   f"{_s(boot['seconds'])} (target {_s(boot.get('target_seconds'))}: {_target(boot)}); "
                   f"`MetricFrame(n_boot=10)` on 10⁵ rows and 40 groups: {_s(boot['baseline_seconds'])}.")
    if move:
        out.append(f"Moving the explorer's threshold at {_rows(move['rows'])} rows: {move['seconds'] * 1000:.0f} ms "
                   f"median, {move['p95_ms']:.0f} ms p95 (target 200 ms: {_target(move)}).")
    return out


def _verification(records: list[dict]) -> list[str]:
    out = []
    allp, boot = _find(records, "verification_all_pairs"), _find(records, "verification_bootstrap_1000")
    pyeer, cov = _find(records, "verification_vs_pyeer"), _find(records, "verification_coverage")
    if allp:
        out.append(f"**Biometric verification** (`make verify`): every pair of 10,000 subjects × 5 samples with "
                   f"128-d templates, {allp['rows']:,} comparisons, scored and reduced in {_s(allp['seconds'])} "
                   f"(peak {_mb(allp['peak_mb'])}; target {_s(allp['target_seconds'])}: {_target(allp)}); the "
                   f"matrix products alone take {_s(allp['baseline_seconds'])}.")
    if boot:
        out.append(f"1,000 subject-clustered resamples of every per-group figure: {_s(boot['seconds'])} "
                   f"(target {_s(boot['target_seconds'])}: {_target(boot)}).")
    if pyeer:
        out.append(f"Against pyeer on 10⁶ impostor and 10⁴ genuine scores: largest difference of FMR/FNMR points "
                   f"{pyeer['max_point_difference']:g}, {_s(pyeer['seconds'])} against {_s(pyeer['baseline_seconds'])}.")
    if cov:
        c = cov["coverage"]
        out.append(f"Coverage of 95 % intervals over {cov['rows']} simulated data sets with subject random effects: "
                   f"subject bootstrap {c['fnmr_subject']:.1%} (FNMR), {c['fmr_subject']:.1%} (FMR), "
                   f"{c['eer_subject']:.1%} (EER); exact binomial over comparisons {c['fnmr_rows']:.1%} and "
                   f"{c['fmr_rows']:.1%}.")
    for name in ("slice_search_adult", "slice_search_synthetic"):
        r = _find(records, name)
        if r:
            out.append(f"Slice search `{name}` ({r['rows']:,} rows, {r['predicates']} predicates, {r['tested']:,} "
                       f"slices tested, {r['significant']:,} significant): {_s(r['seconds'])}"
                       + (f", peak {_mb(r['peak_mb'])}" if r.get("peak_mb") else "")
                       + f" (target {_s(r['target_seconds'])}: {_target(r)}).")
    return out


def render_speed(doc: dict) -> str:
    """The speed block for a ``bench/results.json`` document."""
    records = doc["records"]
    lines = [f"From `bench/results.json` of {doc['created']} ({doc['machine']['cpus']} CPUs, Python "
             f"{doc['machine']['python']}); figures vary by ±30 % between runs on a shared machine.", "",
             "Every target and its baseline, measured in the same run:", "", *_targets_table(records), "",
             "Per-group metrics (every built-in metric for 40 intersectional groups) against fairlearn's `MetricFrame` "
             "and a naive per-group scikit-learn loop; peak is the memory growth during the computation:", "",
             *_by_group(records), ""]
    for paragraph in (_report(records), _gate_compare(records), _scale(records), _verification(records)):
        if paragraph:
            lines += [" ".join(paragraph), ""]
    return "\n".join(lines).rstrip() + "\n"


_COVERAGE_ROWS = (("Poisson bootstrap, percentile", "percentile", ("recall", "fpr", "precision", "roc_auc")),
                  ("**Wilson score (reports)**", "wilson", ("recall", "fpr", "precision")),
                  ("**DeLong, logit scale (reports)**", "delong-logit", ("roc_auc",)),
                  ("bootstrap percentile of max − min", "percentile",
                   ("recall max-min, equal groups", "recall max-min, different groups")),
                  ("**simultaneous Wilson bounds (reports)**", "simultaneous",
                   ("recall max-min, equal groups", "recall max-min, different groups")),
                  ("**paired DeLong (gate, compare)**", "paired delong", ("roc_auc a - b",)),
                  ("**paired joint-cell bootstrap (gate, compare)**", "paired joint-cell", ("recall a - b",)),
                  ("**independent DeLong (gate: fitting)**", "independent delong", ("roc_auc train - eval",)),
                  ("**per-set cell bootstrap (gate: fitting)**", "independent cells", ("recall train - eval",)))
_METRIC_NAMES = {"fpr": "FPR", "roc_auc": "ROC AUC", "recall max-min, equal groups": "recall gap, groups equal (true 0)",
                 "recall max-min, different groups": "recall gap, groups differ", "roc_auc a - b": "ROC AUC, A − B",
                 "recall a - b": "recall, A − B", "roc_auc train - eval": "ROC AUC, train − eval",
                 "recall train - eval": "recall, train − eval"}


def render_coverage(doc: dict) -> str:
    """The coverage table for a ``bench/results.json`` document."""
    rec = _find(doc["records"], "interval_coverage")
    if rec is None:
        return "No `interval_coverage` record in `bench/results.json`.\n"
    sizes = sorted({t["n"] for t in rec["table"]})
    cell = {(t["method"], t["metric"], t["n"]): t["coverage"] for t in rec["table"]}
    sets = rec["table"][0]["datasets"]
    lines = [f"From `bench/results.json` of {doc['created']} ({sets} simulated data sets per cell):", "",
             "| method | interval of | " + " | ".join(f"n = {n:,}" for n in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for label, method, metrics in _COVERAGE_ROWS:
        for k, metric in enumerate(metrics):
            if not any((method, metric, n) in cell for n in sizes):
                continue
            values = " | ".join(f"{cell[(method, metric, n)]:.3f}" if (method, metric, n) in cell else "—" for n in sizes)
            lines.append(f"| {label if k == 0 else ''} | {_METRIC_NAMES.get(metric, metric)} | {values} |")
    return "\n".join(lines) + "\n"


def render(doc: dict) -> dict[str, str]:
    """Each block's text for a ``bench/results.json`` document."""
    return {"speed": render_speed(doc), "coverage": render_coverage(doc)}


def replace_blocks(readme: str, blocks: dict[str, str]) -> str:
    """``readme`` with the text between each ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` replaced."""
    for name, text in blocks.items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README.md has no <!-- bench:{name} --> ... <!-- /bench:{name} --> block")
        readme = pattern.sub(lambda m: m.group(1) + text + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    results = Path(args[0]) if args else ROOT / "bench" / "results.json"
    readme = ROOT / "README.md"
    text = replace_blocks(readme.read_text(), render(json.loads(results.read_text())))
    readme.write_text(text)
    print(f"README.md: speed and coverage figures from {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
