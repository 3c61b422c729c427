"""Write notebooks/compare_models.ipynb (the comparison report), notebooks/evaluate_at_scale.ipynb (the report of
the out-of-core engines) and notebooks/verify.ipynb (the verification report): run after editing this file.

The notebooks stay thin: every cell is one evalkit call; this script keeps their cells reviewable as code.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PARAMETERS = '''\
# Parameters (papermill replaces this cell: `make compare MODELS="adult-logreg adult-hgb"`).
models: list = ["adult-logreg", "adult-hgb"]  # model names (their latest finished report) or report run ids;
# with data: model specs evaluated on it (column:<name> for score columns of the data file)
data: str = ""  # a dataset manifest: evaluate the models on it instead of reading their reports
settings: dict = {}  # with data: evaluation settings (engine stream/dask out of core, threshold, rule ...)
compare_settings: dict = {}  # evalkit.settings.CompareSettings fields, e.g. {"n_boot": 200}
report_experiment: str = "evalkit"  # MLflow experiment of the report runs
run_id = None  # the comparison's MLflow run (set by `make compare`)
output_dir = None  # where comparison.json is written (set by `make compare`)
'''


def compare_cells():
    yield new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})
    yield new_code_cell("import evalkit\nfrom evalkit import compare, views\n\n"
                        "evalkit.setup_notebook()")
    yield new_code_cell(
        "cmp = compare.comparison(models, data=data, settings=settings, compare_settings=compare_settings,\n"
        "                         report_experiment=report_experiment)\n"
        "compare.save(cmp, output_dir, run_id=run_id);")
    yield new_code_cell("compare.header(cmp)")
    yield new_code_cell("compare.summary(cmp)")
    yield new_markdown_cell(
        "## ROC and DET curves on the same samples\n"
        "Every model's curve on the samples they were all evaluated on; the dot is each model's operating "
        "point at its own threshold. The legend gives each AUC and its difference to the baseline.")
    yield new_code_cell("views.compare_curves(cmp);", metadata={"tags": ["figure-compare-curves"]})
    yield new_markdown_cell(
        "## Differences to the baseline, by group\n"
        "Candidate − baseline on the same samples, overall and in every group, with paired bootstrap "
        "intervals. Filled points survive the Benjamini-Hochberg correction: green where the candidate is "
        "better, red where it is worse (for FPR, lower is better). Grey points are small groups.")
    for metric in ("recall", "fpr", "roc_auc"):
        yield new_code_cell(f'views.group_deltas(cmp, "{metric}");', metadata={"tags": [f"figure-deltas-{metric}"]})
    yield new_markdown_cell(
        "## Decision flips and significance tests, by group\n"
        "How many samples get a different decision from the candidate than from the baseline (with an exact "
        "interval), McNemar's exact test of equal error rates (only the samples on which one model is right "
        "and the other wrong count), and DeLong's test of equal ROC AUC.")
    yield new_code_cell("compare.tests_table(cmp)")
    yield new_markdown_cell("## Every per-group difference\nSignificant differences first, largest first; "
                            "then the rest, for every metric, group and pairwise intersection.")
    yield new_code_cell("compare.deltas_table(cmp)")


SCALE_PARAMETERS = '''\
# Parameters (papermill replaces this cell: `make report MODEL=... DATA=... ENGINE=stream|dask`).
model = "adult-logreg"  # a .skops file or registered model (scored chunk by chunk), or column:<name> of the data
data: str = "../data_manifests/adult_test.yaml"  # data manifest (Parquet or CSV of any size)
settings: dict = {"engine": "stream"}  # any field of evalkit.EvaluationSettings; engine "stream" or "dask"
run_id = None  # MLflow run (set by the report pipeline)
output_dir = None  # where metrics.json goes (set by the report pipeline)
'''


def scale_cells():
    yield new_code_cell(SCALE_PARAMETERS, metadata={"tags": ["parameters"]})
    yield new_code_cell("import evalkit\nfrom evalkit import views\n\nevalkit.setup_notebook()")
    yield new_code_cell(
        "ev = evalkit.evaluate(model, data, settings=settings, run_id=run_id)\n"
        "ev.save(output_dir)\n"
        "views.header(ev)")
    yield new_code_cell("views.summary(ev)")
    yield new_markdown_cell(
        "## Ranking quality by group\n"
        "ROC and DET curves, overall and for every group with at least `min_group_size` samples and both classes, "
        "drawn from the merged score histograms (scores within one fine bin count as tied).")
    yield new_code_cell("views.by_feature(ev, views.roc);", metadata={"tags": ["figure-roc"]})
    yield new_code_cell("views.by_feature(ev, views.det);", metadata={"tags": ["figure-det"]})
    yield new_markdown_cell(
        "## Metrics at the threshold, by group\n"
        "Bars are groups (largest first, size below each) with their confidence interval; the dashed line is the "
        "overall value. Hatched grey bars are groups below the minimum size.")
    yield new_code_cell("views.metric_bars(ev);", metadata={"tags": ["figure-group-bars"]})
    yield new_markdown_cell(
        "## Differences to the reference group\n"
        "Each group against its feature's reference group, with confidence intervals; red points survive the "
        "Benjamini-Hochberg correction.")
    yield new_code_cell("views.reference_grid(ev);", metadata={"tags": ["figure-reference-differences"]})
    yield new_code_cell("views.reference_table(ev)")
    yield new_markdown_cell(
        "## Score distribution\n"
        "Samples binned by model score and stacked by true label; the dashed line is the threshold.")
    yield new_code_cell("views.score_histogram(ev);", metadata={"tags": ["figure-score-histogram"]})
    yield new_code_cell("views.score_histograms(ev);", metadata={"tags": ["figure-score-histogram-by-group"]})
    # added after the cells were first numbered: named ids keep the later cells' ids
    yield _named("evaluate-thresholds-md", new_markdown_cell(
        "## Operating point and per-group thresholds\n"
        "The threshold each group would need to reach the target false positive rate, and the recall it would then "
        "have, from each group's merged histogram (thresholds are edges of the fine score grid, so the counts at "
        "them are exact). A large shift means one global threshold treats the groups differently."))
    yield _named("evaluate-thresholds", new_code_cell("views.thresholds_table(ev)"))
    yield new_markdown_cell(
        "## Not in an out-of-core report\n"
        "Calibration, the most confidently wrong samples, the model's cost and function metrics need the rows in "
        "memory: run `make report` without `ENGINE=stream|dask` on a sample of the data (`evalkit data import "
        "--sample`) for them.")
    yield new_markdown_cell("## All metrics\nOverall, then every group of every feature and intersection.")
    yield new_code_cell("views.overall_table(ev)")
    yield new_code_cell("views.group_tables(ev)")
    yield new_markdown_cell("## Every disparity")
    yield new_code_cell("views.all_disparities(ev)")
    yield new_code_cell("views.reference_table(ev, metrics=None, intersections=True)")
    yield new_markdown_cell("## Small groups and undefined values")
    yield new_code_cell("views.small_groups_table(ev)")
    yield new_code_cell("views.undefined_table(ev)")


VERIFY_PARAMETERS = '''\
# Parameters (papermill replaces this cell: `make verify DATA=... MODEL=...`).
data: str = "../data_manifests/verification_demo.yaml"  # a kind: verification manifest
system = None  # the system's name in the report (default: the manifest's `system`)
settings: dict = {}  # any field of evalkit.settings.VerificationSettings, e.g. {"fmr_targets": [1e-3], "n_boot": 200}
run_id = None  # MLflow run (set by the pipeline)
output_dir = None  # where metrics.json goes (set by the pipeline)
'''


def verify_cells():
    yield new_code_cell(VERIFY_PARAMETERS, metadata={"tags": ["parameters"]})
    yield new_code_cell("import evalkit\nfrom evalkit import verification\n\nevalkit.setup_notebook()")
    yield new_code_cell("res = verification.verify(data, settings=settings, system=system, run_id=run_id)\n"
                        "res.save(output_dir)\n"
                        "verification.header(res)")
    yield new_code_cell("verification.summary(res)")
    yield new_markdown_cell(
        "## False matches between groups\n"
        "The FMR of impostor comparisons between every pair of groups, at the operating threshold set for "
        "everyone. The diagonal is the same-group FMR: in face recognition, impostors of one's own group are "
        "the ones most likely to match.")
    yield new_code_cell("verification.fmr_heatmaps(res);", metadata={"tags": ["figure-fmr-matrix"]})
    yield new_markdown_cell(
        "## DET by group\n"
        "False non-match rate against false match rate on normal-deviate axes, overall and per group "
        "(genuine comparisons of the group against same-group impostors). Dots: the global thresholds.")
    yield new_code_cell("verification.det_plots(res);", metadata={"tags": ["figure-det"]})
    yield new_markdown_cell(
        "## Score distributions\n"
        "Genuine and same-group impostor scores per group; the dashed line is the operating threshold.")
    yield new_code_cell("verification.score_distributions(res);", metadata={"tags": ["figure-scores"]})
    yield new_markdown_cell("## Every threshold\nPer-group rates with intervals, and every inequity summary.")
    yield new_code_cell("verification.rates_table(res)")
    yield new_markdown_cell("## Equal error rates")
    yield new_code_cell("verification.eer_table(res)")
    yield new_markdown_cell("## The comparisons behind the errors")
    yield new_code_cell("verification.worst_comparisons(res, res.data)")
    yield new_markdown_cell("## Methods")
    yield new_code_cell("verification.methods(res)")


_NAMED = "evalkit-named-id"


def _named(cell_id: str, cell):
    """``cell`` with the id ``cell_id`` instead of its position's."""
    cell["id"] = cell_id
    cell.metadata[_NAMED] = True
    return cell


#: Each notebook this script writes, and its cells.
NOTEBOOKS = {"compare_models.ipynb": compare_cells, "evaluate_at_scale.ipynb": scale_cells,
             "verify.ipynb": verify_cells}


def build(name: str):
    """The notebook ``name`` as this script writes it."""
    nb = new_notebook(cells=list(NOTEBOOKS[name]()), metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    stem = name.removesuffix(".ipynb").split("_")[0]
    numbered = [cell for cell in nb.cells if not cell.metadata.pop(_NAMED, False)]
    for i, cell in enumerate(numbered):  # stable ids: the file only changes when a cell does
        cell["id"] = f"{stem}-{i:02d}"
    return nb


def main() -> None:
    for name in NOTEBOOKS:
        path = Path(__file__).resolve().parents[1] / "notebooks" / name
        nbformat.write(build(name), path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
