"""Out-of-core evaluation: chunked reading, identical engines (a real dask.distributed LocalCluster on
127.0.0.1), agreement with the in-memory engine, and errors that name the row."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from evalkit import DataError, ModelError, evaluate
from evalkit.data import write_dataset
from evalkit.metrics import threshold_for_fpr
from evalkit.evaluation import FINE_BINS, bin_index, fine_edges
from evalkit.data import make_biased_scores, write_large_dataset, write_synthetic_dataset

from tests.conftest import ROOT, evalkit_command

COUNTS = ["n", "tp", "fp", "tn", "fn", "accuracy", "precision", "recall", "f1", "fpr", "fnr", "selection_rate",
          "prevalence"]


@pytest.fixture(scope="module")
def scored_csv(tmp_path_factory):
    """20,000 synthetic rows with their scores in a column, as CSV and gzipped CSV, and the same data as a
    dataset + predictions file for the in-memory engine."""
    folder = tmp_path_factory.mktemp("scale")
    frame = make_biased_scores(20_000, seed=4)
    memory = write_synthetic_dataset(folder / "memory", frame)
    fields = {"name": "scored", "source": "benchmark", "description": "x", "id_column": "id", "label_column": "label",
              "positive_label": "pos", "label_values": ["pos", "neg"], "sensitive_features": ["group", "band"],
              "license": "CC0-1.0"}
    csv = write_dataset(frame.drop(columns=["y"]), folder / "scored.csv", folder / "scored.yaml", fields=fields)
    gz = write_dataset(frame.drop(columns=["y"]), folder / "scored.csv.gz", folder / "scored_gz.yaml",
                       fields={**fields, "name": "scored_gz"})
    return memory, csv, gz


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """300,000 rows of Parquet in 6 row groups."""
    return write_large_dataset(tmp_path_factory.mktemp("large"), 300_000, seed=2, row_group_rows=50_000)


def test_chunked_csv_equals_the_in_memory_engine(scored_csv):
    (manifest, preds), csv, gz = scored_csv
    memory = evaluate(str(preds), manifest, n_boot=0)
    for path in (csv, gz):
        ev = evaluate("column:score", path, engine="stream", chunk_rows=1000, n_boot=0)
        assert ev.scale["rows"] == 20_000 and ev.n == 20_000
        assert ev.scale["chunks"] == 1 if path == gz else ev.scale["chunks"] > 5  # a .gz file is one stream
        for m in COUNTS:  # counts at the threshold: exact
            assert ev.overall[m] == pytest.approx(memory.overall[m], abs=1e-12), m
        pd.testing.assert_frame_equal(ev.by_group[COUNTS], memory.by_group[COUNTS], check_exact=False, atol=1e-12)
        # threshold-free metrics: within the binning bound the engine reports
        bound = ev.tables.auc_binning_bound
        assert abs(ev.overall["roc_auc"] - memory.overall["roc_auc"]) <= bound["overall"] + 1e-12
        for (feature, group), row in memory.by_group.iterrows():
            assert abs(ev.by_group.loc[(feature, group), "roc_auc"] - row["roc_auc"]) <= bound[(feature, group)] + 1e-12
        assert ev.overall["average_precision"] == pytest.approx(memory.overall["average_precision"], abs=1e-3)
        assert ev.overall["eer"] == pytest.approx(memory.overall["eer"], abs=1e-3)


def test_both_engines_use_the_same_interval_methods(scored_csv):
    """Wilson and simultaneous-Wilson intervals rest on exact counts: identical in memory and out of core."""
    (manifest, preds), csv, _ = scored_csv
    memory = evaluate(str(preds), manifest, n_boot=50)
    ev = evaluate("column:score", csv, engine="stream", chunk_rows=5000, n_boot=50)
    assert ev.uncertainty.methods == memory.uncertainty.methods
    assert ev.uncertainty.disparity_methods == memory.uncertainty.disparity_methods
    assert memory.uncertainty.methods["recall"] == "wilson"
    for m in ("recall", "fpr", "precision", "selection_rate"):
        cols = [(m, "ci_low"), (m, "ci_high")]
        pd.testing.assert_frame_equal(ev.uncertainty.by_group[cols], memory.uncertainty.by_group[cols],
                                      check_exact=False, atol=1e-12)
        key = [(f, m) for f in ("group", "band")]
        pd.testing.assert_frame_equal(ev.uncertainty.disparities.loc[key], memory.uncertainty.disparities.loc[key],
                                      check_exact=False, atol=1e-12)


@pytest.fixture(scope="module")
def on_the_grid(tmp_path_factory):
    """The 20,000 rows of ``scored_csv`` with their scores rounded down to the fine grid, as a dataset +
    predictions file (in memory) and as a CSV with a score column (out of core)."""
    folder = tmp_path_factory.mktemp("grid")
    frame = make_biased_scores(20_000, seed=4)
    frame["score"] = np.floor(frame["score"] * FINE_BINS) / FINE_BINS
    memory = write_synthetic_dataset(folder / "memory", frame)
    fields = {"name": "grid", "source": "benchmark", "description": "x", "id_column": "id", "label_column": "label",
              "positive_label": "pos", "label_values": ["pos", "neg"], "sensitive_features": ["group", "band"],
              "license": "CC0-1.0"}
    return memory, write_dataset(frame.drop(columns=["y"]), folder / "grid.csv", folder / "grid.yaml", fields=fields)


@pytest.mark.parametrize("rule, extra", [("fpr=0.05", {}), ("recall=0.8", {}), ("cost", {"cost_fn": 5.0}),
                                         ("fpr=0.2", {"target_fpr": 0.01})])
def test_threshold_rules_out_of_core_equal_the_in_memory_rule_on_the_grid(on_the_grid, rule, extra):
    """On scores already on the fine grid, every rule picks the same threshold in memory and out of core, the
    counts at it are identical, and so is the per-group threshold analysis."""
    (manifest, preds), csv = on_the_grid
    memory = evaluate(str(preds), manifest, n_boot=0, threshold_rule=rule, **extra)
    ev = evaluate("column:score", csv, engine="stream", chunk_rows=5000, n_boot=0, threshold_rule=rule, **extra)
    assert ev.threshold == memory.threshold and ev.operating_point.rule == rule
    assert "on the score grid" in ev.operating_point.description
    for m in COUNTS:
        assert ev.overall[m] == pytest.approx(memory.overall[m], abs=1e-12), m
    pd.testing.assert_frame_equal(ev.by_group[COUNTS], memory.by_group[COUNTS], check_exact=False, atol=1e-12)
    assert ev.target_fpr == memory.target_fpr
    pd.testing.assert_frame_equal(ev.group_thresholds, memory.group_thresholds, check_dtype=False,
                                  check_exact=False, atol=1e-12)
    doc = json.loads(json.dumps(ev.to_dict()))
    assert doc["threshold_rule"] == rule and doc["group_thresholds"]["group"].keys() == {"A", "B", "C"}


def test_eer_out_of_core_is_the_grid_edge_nearest_the_in_memory_point(on_the_grid):
    (manifest, preds), csv = on_the_grid
    memory = evaluate(str(preds), manifest, n_boot=0, threshold_rule="eer")
    ev = evaluate("column:score", csv, engine="stream", chunk_rows=5000, n_boot=0, threshold_rule="eer")
    assert abs(ev.threshold - memory.threshold) <= 1 / FINE_BINS
    assert abs(ev.overall["fpr"] - ev.overall["fnr"]) <= abs(memory.overall["fpr"] - memory.overall["fnr"]) + 1e-3


def test_a_rule_out_of_core_on_unrounded_scores_is_the_rule_on_the_grid(scored_csv):
    """Scores off the grid: the threshold is the in-memory rule's on the scores rounded down to the grid."""
    (manifest, preds), csv, _ = scored_csv
    ev = evaluate("column:score", csv, engine="stream", chunk_rows=5000, n_boot=0, threshold_rule="fpr=0.05")
    scores = pd.read_csv(preds)["score"].to_numpy()  # the same rows in the same order as the CSV
    y = (pd.read_csv(csv.parent / "scored.csv")["label"] == "pos").to_numpy()
    assert ev.threshold == threshold_for_fpr(y, np.floor(scores * FINE_BINS) / FINE_BINS, 0.05)
    assert ev.overall["fpr"] <= 0.05


COSTS_ONLY = "costs: {fp: 1, fn: 4}\nmetrics:\n  - {name: review_cost, cost: {fp: 1, fn: 4}, per_sample: true}\n"


@pytest.mark.parametrize("balance", [{}, {"balance": "weights"},
                                     {"balance": "weights", "balance_by": "group&band",
                                      "balance_target": None}])
def test_balancing_weights_and_cost_metrics_out_of_core_equal_the_in_memory_engine(on_the_grid, tmp_path, balance):
    """Balancing by weights (each cell's samples weighted as in memory) and cost metrics from a metrics
    configuration give the in-memory engine's threshold (rule 'cost' with the configuration's costs), counts,
    rates, cost metric and per-group thresholds."""
    (manifest, preds), csv = on_the_grid
    config = tmp_path / "metrics.yaml"
    config.write_text(COSTS_ONLY)
    options = {"n_boot": 0, "threshold_rule": "cost", "metrics_config": str(config),
               **{k: v for k, v in balance.items() if v is not None}}
    memory = evaluate(str(preds), manifest, **options)
    ev = evaluate("column:score", csv, engine="stream", chunk_rows=5000, **options)
    assert ev.threshold == memory.threshold
    assert ev.balance == {k: v for k, v in memory.balance.items()}
    rates = ["accuracy", "precision", "recall", "f1", "fpr", "fnr", "selection_rate", "prevalence", "review_cost"]
    for m in ["n", *rates]:
        assert ev.overall[m] == pytest.approx(memory.overall[m], rel=1e-12, abs=1e-12), m
    pd.testing.assert_frame_equal(ev.by_group[["n", *rates]], memory.by_group[["n", *rates]], check_exact=False,
                                  rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(ev.group_thresholds, memory.group_thresholds, check_dtype=False,
                                  check_exact=False, rtol=1e-12, atol=1e-12)
    assert "review_cost" in ev.disparities.index.get_level_values("metric")


def test_weights_and_cost_metrics_get_intervals_and_function_metrics_are_refused(scored_csv, tmp_path):
    _, csv, _ = scored_csv
    config = tmp_path / "metrics.yaml"
    config.write_text(COSTS_ONLY)
    ev = evaluate("column:score", csv, engine="stream", n_boot=200, balance="weights", metrics_config=str(config))
    low, high = ev.interval("review_cost")
    assert low < ev.overall["review_cost"] < high
    assert ev.uncertainty.by_group[("review_cost", "ci_low")].notna().all()
    with pytest.raises(ValueError, match=r"function metrics \['balanced_accuracy', 'brier'\]: they need the rows"):
        evaluate("column:score", csv, engine="stream", metrics_config=str(ROOT / "configs" / "metrics.yaml"))
    with pytest.raises(ValueError, match="a down-sample needs the rows in memory"):
        evaluate("column:score", csv, engine="stream", balance="downsample")
    with pytest.raises(ValueError, match="balance_by must be a sensitive feature or intersection"):
        evaluate("column:score", csv, engine="stream", balance="weights", balance_by="nope")


def test_csv_chunk_boundaries_lose_and_repeat_no_row(scored_csv):
    _, csv, _ = scored_csv
    counts = {rows: evaluate("column:score", csv, engine="stream", chunk_rows=rows, n_boot=0).overall["n"]
              for rows in (1000, 1234, 7777, 50_000)}
    assert set(counts.values()) == {20_000}


def test_stream_and_dask_engines_are_identical(large):
    """The same counts, so the same metrics, intervals and disparities, on a real LocalCluster on 127.0.0.1."""
    stream = evaluate("column:score", large, engine="stream", chunk_rows=50_000, n_boot=200, seed=3)
    dask = evaluate("column:score", large, engine="dask", chunk_rows=50_000, n_boot=200, seed=3)
    assert dask.scale["engine"] == "dask" and dask.scale["chunks"] == 6 and dask.scale["workers"] >= 1
    assert dask.scale["scheduler"].startswith("LocalCluster at tcp://127.0.0.1:")
    assert stream.overall == dask.overall
    pd.testing.assert_frame_equal(stream.by_group, dask.by_group, check_exact=True)
    pd.testing.assert_frame_equal(stream.uncertainty.by_group, dask.uncertainty.by_group, check_exact=True)
    pd.testing.assert_frame_equal(stream.disparities, dask.disparities, check_exact=True)
    doc_s, doc_d = stream.to_dict(), dask.to_dict()
    for doc in (doc_s, doc_d):
        json.dumps(doc, allow_nan=False)
    assert doc_s["n"] == doc_d["n"] == 300_000 and doc_d["engine"] == "dask"
    assert doc_d["engine_details"]["rows"] == 300_000 and doc_s["by_group"] == doc_d["by_group"]
    # the injected bias is found: region r4's positives were scored lower
    assert doc_s["disparities"]["region"]["recall"]["worst_group"] == "r4"


LEFT_BEHIND = """
import sys, psutil
from evalkit import evaluate
ev = evaluate("column:score", sys.argv[1], engine="dask", chunk_rows=100_000, n_boot=0)
me = psutil.Process()
alive = [p for p in me.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
print(ev.scale["chunks"], [p.cmdline()[-1][:60] for p in alive])
"""


def test_the_dask_engine_leaves_no_process_behind(large):
    """The LocalCluster's spawned workers start multiprocessing's resource tracker, a child that ignores SIGTERM:
    evaluate() stops it with the cluster (a Jupyter kernel asked to shut down waits for its children: the report's
    command waited for its kernel after every dask report, then killed it)."""
    out = subprocess.run([sys.executable, "-c", LEFT_BEHIND, str(large)], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "3 []", out.stdout


def test_dask_engine_on_a_given_scheduler(large):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      processes=True) as cluster:
        ev = evaluate("column:score", large, engine="dask", scheduler=cluster.scheduler_address,
                      chunk_rows=100_000, n_boot=0)
    assert ev.scale["scheduler"] == cluster.scheduler_address and ev.scale["chunks"] == 3
    reference = evaluate("column:score", large, engine="stream", chunk_rows=100_000, n_boot=0)
    pd.testing.assert_frame_equal(ev.by_group, reference.by_group, check_exact=True)


def test_a_model_is_scored_chunk_by_chunk(adult, tmp_path):
    """A real model on the Adult test data: the same counts as scoring it in memory."""
    import skops.io as sio

    from evalkit.models import train_demo_model

    train, test = adult
    path = tmp_path / "logreg.skops"
    path.write_bytes(sio.dumps(train_demo_model("adult-logreg", train)))
    memory = evaluate(str(path), test, n_boot=0)
    ev = evaluate(str(path), test.manifest.manifest_path, engine="stream", chunk_rows=4000, n_boot=0)
    assert ev.scale["scores"] == "the model, chunk by chunk" and ev.scale["rows"] == len(test)
    pd.testing.assert_frame_equal(ev.by_group[COUNTS], memory.by_group[COUNTS], check_exact=False, atol=1e-12)


def test_bins_match_a_binary_search():
    rng = np.random.default_rng(0)
    for threshold in (0.5, 0.3333333, 1.0):
        edges = fine_edges(threshold, (0.0, 1.0))
        scores = np.clip(np.r_[rng.random(50_000), edges, np.nextafter(edges, 0), np.nextafter(edges, 2)], 0, 1)
        expected = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, edges.size - 1)
        assert (bin_index(scores, edges) == expected).all()
        assert threshold in edges or threshold == 1.0


def _broken_copy(scored_csv, tmp_path, row: int, column: str, value: str):
    _, csv, _ = scored_csv
    doc = yaml.safe_load(csv.read_text())
    frame = pd.read_csv(csv.parent / doc["path"], dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    return write_dataset(frame, tmp_path / "broken.csv", tmp_path / "broken.yaml",
                         fields={k: v for k, v in doc.items() if k in ("name", "source", "description", "id_column",
                                                                       "label_column", "positive_label", "label_values",
                                                                       "sensitive_features", "license")})


@pytest.mark.parametrize("column, value, message", [
    ("label", "maybe", r"column 'label' has label 'maybe' at row 15,000; the manifest allows \['pos', 'neg'\]"),
    ("score", "1.5", r"score 1.5 at row 15,000 is missing or outside the score range \[0, 1\]"),
    ("score", "", r"score nan at row 15,000 is missing"),
    ("group", "", r"missing value in sensitive column 'group' at row 15,000"),
])
def test_bad_values_name_the_row_in_a_late_chunk(scored_csv, tmp_path, column, value, message):
    broken = _broken_copy(scored_csv, tmp_path, 15_000, column, value)
    # one case also through Dask: a worker's error reaches the caller with its message (a cluster costs ~3 s)
    for engine in ("stream", "dask") if column == "label" else ("stream",):
        with pytest.raises(DataError, match=message):
            evaluate("column:score", broken, engine=engine, chunk_rows=1000, n_boot=0)


def test_bad_input_is_refused_up_front(scored_csv, tmp_path):
    (manifest, preds), csv, _ = scored_csv
    with pytest.raises(ModelError, match="cannot join a predictions file to the data by id"):
        evaluate(str(preds), manifest, engine="stream")
    with pytest.raises(ValueError, match="scheduler is only for engine='dask'"):
        evaluate("column:score", csv, engine="stream", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="chunk_rows must be a whole number >= 1000"):
        evaluate("column:score", csv, engine="stream", chunk_rows=10)
    with pytest.raises(ValueError, match="needs a finite score range"):
        evaluate("column:score", csv, engine="stream", score_range=None)
    doc = yaml.safe_load(csv.read_text())
    shutil.copy(csv.parent / doc["path"], tmp_path / doc["path"])
    with open(tmp_path / doc["path"], "a") as fh:  # one more row: the manifest's sha256 no longer matches
        fh.write("s999999,neg,A,young,0.5\n")
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({k: v for k, v in doc.items() if k != "size_bytes"}))
    with pytest.raises(DataError, match="sha256 mismatch"):
        evaluate("column:score", changed, engine="stream")


@pytest.mark.e2e
def test_make_report_with_the_dask_engine(mlflow_store, large, tmp_path):
    proc = evalkit_command("report", "--model", "column:score", "--data", str(large),
                           "--engine", "dask", "--chunk-rows", "100000", "--n-boot", "200",
                           "--output-root", str(tmp_path), "--no-progress", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "score"
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["engine"] == "dask" and doc["n"] == 300_000 and doc["engine_details"]["chunks"] == 3
    assert not (out / "scores.parquet").exists()  # out of core: no per-sample file
    html = (out / "report.html").read_text()
    assert "300,000 rows read in 3 chunk(s)" in html and "by the dask engine" in html and "Traceback" not in html
    from evalkit import tracking

    run = tracking.get_run(doc["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.metrics["engine/rows"] == 300_000
    assert run.data.params["engine"] == "dask" and run.data.params["chunk_rows"] == "100000"


@pytest.mark.parametrize("engine", ["stream", "dask"])
def test_quoted_line_breaks_in_csv_are_never_split(tmp_path, engine):
    """A quoted field holding a line break: splitting the file by bytes would cut such a row in two. Every
    row is counted once, with the counts of the in-memory engine."""
    frame = make_biased_scores(5000, seed=9)
    frame["note"] = np.where(np.arange(5000) % 7 == 0, "first line\nsecond, with a comma", "plain")
    fields = {"name": "quoted", "source": "benchmark", "description": "x", "id_column": "id", "label_column": "label",
              "positive_label": "pos", "label_values": ["pos", "neg"], "sensitive_features": ["group", "band"],
              "license": "CC0-1.0"}
    csv = write_dataset(frame.drop(columns=["y"]), tmp_path / "quoted.csv", tmp_path / "quoted.yaml", fields=fields)
    assert b'"first line\nsecond' in (tmp_path / "quoted.csv").read_bytes()
    ev = evaluate("column:score", csv, engine=engine, chunk_rows=1000, n_boot=0)
    memory = evaluate("column:score", csv, n_boot=0)
    assert ev.n == 5000 and ev.scale["chunks"] == 1  # read as one stream that knows quotes
    for m in COUNTS:
        assert ev.overall[m] == pytest.approx(memory.overall[m], abs=1e-12), m
