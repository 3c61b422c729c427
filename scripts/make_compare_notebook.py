"""Write notebooks/compare_models.ipynb (the comparison report): run once after editing this file.

The notebook stays thin: every cell is one evalkit call; this script keeps its cells reviewable as code.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PARAMETERS = '''\
# Parameters (papermill replaces this cell: `make compare MODELS="adult-logreg adult-hgb"`).
models: list = ["adult-logreg", "adult-hgb"]  # model names (their latest finished report) or report run ids
baseline: str = ""  # the model the others are compared with (default: the first)
allow_different_data: bool = False  # compare runs evaluated on different data on the samples they share
rank_by: str = "roc_auc"  # leaderboard order
n_boot: int = 1000  # paired bootstrap resamples
ci_level: float = 0.95  # confidence level
seed: int = 0  # bootstrap seed
fdr: float = 0.05  # false discovery rate of the Benjamini-Hochberg correction
min_group_size: int = 30  # smaller groups are listed, never called significant
report_experiment: str = "evalkit"  # MLflow experiment of the report runs
run_id = None  # the comparison's MLflow run (set by `make compare`)
output_dir = None  # where comparison.json is written (set by `make compare`)
'''


def cells():
    yield new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})
    yield new_code_cell("import evalkit\nfrom evalkit import compare, compare_view, comparing, plots\n\n"
                        "evalkit.setup_notebook()")
    yield new_code_cell(
        "candidates = comparing.load_candidates(models, experiment=report_experiment)\n"
        "cmp = compare.compare(candidates, baseline=baseline or None, allow_different_data=allow_different_data,\n"
        "                      rank_by=rank_by, n_boot=n_boot, ci_level=ci_level, seed=seed, fdr=fdr,\n"
        "                      min_group_size=min_group_size)\n"
        "compare_view.save(cmp, output_dir, run_id=run_id);")
    yield new_code_cell("compare_view.header(cmp)")
    yield new_code_cell("compare_view.summary(cmp)")
    yield new_markdown_cell(
        "## ROC and DET curves on the same samples\n"
        "Every model's curve on the samples they were all evaluated on; the dot is each model's operating "
        "point at its own threshold. The legend gives each AUC and its difference to the baseline.")
    yield new_code_cell("plots.compare_curves(cmp);", metadata={"tags": ["figure-compare-curves"]})
    yield new_markdown_cell(
        "## Differences to the baseline, by group\n"
        "Candidate − baseline on the same samples, overall and in every group, with paired bootstrap "
        "intervals. Filled points survive the Benjamini-Hochberg correction: green where the candidate is "
        "better, red where it is worse (for FPR, lower is better). Grey points are small groups.")
    for metric in ("recall", "fpr", "roc_auc"):
        yield new_code_cell(f'plots.group_deltas(cmp, "{metric}");', metadata={"tags": [f"figure-deltas-{metric}"]})
    yield new_markdown_cell(
        "## Decision flips and significance tests, by group\n"
        "How many samples get a different decision from the candidate than from the baseline (with an exact "
        "interval), McNemar's exact test of equal error rates (only the samples on which one model is right "
        "and the other wrong count), and DeLong's test of equal ROC AUC.")
    yield new_code_cell("compare_view.tests_table(cmp)")
    yield new_markdown_cell("## Every per-group difference\nSignificant differences first, largest first; "
                            "then the rest, for every metric, group and pairwise intersection.")
    yield new_code_cell("compare_view.deltas_table(cmp)")


def main() -> None:
    nb = new_notebook(cells=list(cells()), metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):  # stable ids: the file only changes when a cell does
        cell["id"] = f"compare-{i:02d}"
    path = Path(__file__).resolve().parents[1] / "notebooks" / "compare_models.ipynb"
    nbformat.write(nb, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
