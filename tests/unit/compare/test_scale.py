"""Comparing score columns out of core (compare.compare_columns): the same tests, deltas and intervals as the
in-memory comparison on scores on the fine grid, the known effect of a generated challenger found, and clear
refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evalkit import DataError, ModelError
from evalkit.compare import compare_columns
from evalkit.data import write_dataset, write_large_dataset
from evalkit.evaluation import FINE_BINS
from evalkit.settings import CompareSettings, EvaluationSettings
from evalkit.stats import delong

MODELS = ["column:a", "column:b", "column:c"]


def _frame(n: int, seed: int, *, on_grid: bool) -> pd.DataFrame:
    """Three correlated score columns (b helps group C's positives, c is a weaker model) and three sensitive
    features; scores rounded down to the fine grid when ``on_grid``."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.35
    group = rng.choice(["A", "B", "C"], n)
    base = 1 / (1 + np.exp(-rng.normal(np.where(y, 1.0, -1.0), 1.2)))
    scores = {"a": base, "b": np.clip(base + rng.normal(0, 0.08, n) + np.where(y & (group == "C"), 0.1, 0), 0, 1),
              "c": rng.random(n) * 0.3 + 0.7 * base}
    if on_grid:
        scores = {k: np.floor(np.clip(v, 0, 1 - 1e-12) * FINE_BINS) / FINE_BINS for k, v in scores.items()}
    return pd.DataFrame({"id": np.arange(n), "label": np.where(y, "pos", "neg"), "group": group,
                         "band": rng.choice(["lo", "hi"], n), "region": rng.choice(["r1", "r2"], n), **scores})


FIELDS = {"name": "cols", "source": "benchmark", "description": "three score columns", "id_column": "id",
          "label_column": "label", "positive_label": "pos", "label_values": ["pos", "neg"],
          "sensitive_features": ["group", "band", "region"], "license": "CC0-1.0"}


@pytest.fixture(scope="module")
def columns(tmp_path_factory):
    """The same 6,000 rows with scores on the grid, and with the raw scores (and those rounded down, in memory)."""
    folder = tmp_path_factory.mktemp("columns")
    raw = _frame(6000, 1, on_grid=False)
    floored = raw.assign(**{k: np.floor(raw[k] * FINE_BINS) / FINE_BINS for k in "abc"})
    return {name: write_dataset(frame, folder / f"{name}.csv", folder / f"{name}.yaml", fields=FIELDS)
            for name, frame in (("grid", _frame(6000, 1, on_grid=True)), ("raw", raw), ("floored", floored))}


def _same(a, b):
    pd.testing.assert_frame_equal(a.tests, b.tests, check_exact=False, atol=1e-9, check_dtype=False)
    pd.testing.assert_frame_equal(a.deltas, b.deltas, check_exact=False, atol=1e-9, check_dtype=False)


@pytest.mark.parametrize("rule", ["fixed", "fpr=0.1"])
def test_out_of_core_equals_the_in_memory_comparison_on_the_grid(columns, rule):
    """McNemar, flips, DeLong per group and the paired bootstrap of every count metric (same seed, same draws) are
    those of the in-memory comparison, for every group and intersection, with each model's own threshold."""
    kw = {"n_boot": 200, "seed": 3}
    memory = compare_columns(MODELS, columns["grid"], settings=EvaluationSettings(threshold_rule=rule), **kw)
    oc = compare_columns(MODELS, columns["grid"], settings=EvaluationSettings(engine="stream", chunk_rows=1000,
                                                                             threshold_rule=rule),
                         compare_settings=CompareSettings(baseline="a", **kw))
    assert memory.scale is None and oc.scale["passes"] == 2 and oc.scale["rows"] == oc.n == 6000
    assert [c.threshold for c in oc.candidates] == [c.threshold for c in memory.candidates]
    assert len(oc.tests) == 2 * 36 and set(oc.tests["feature"]) >= {"overall", "group", "group&band&region"}
    _same(memory, oc)
    # DeLong's numbers are those of the reference implementation on the whole data
    frame = pd.read_csv(columns["grid"].with_suffix(".csv"))
    ref = delong(frame["label"].eq("pos"), frame["b"], frame["a"])
    t = oc.tests.set_index(["candidate", "feature"]).loc[("b", "overall")]
    assert t["delong_difference"] == pytest.approx(ref["difference"], abs=1e-12)
    assert t["delong_p"] == pytest.approx(ref["p_value"], rel=1e-9)
    doc = json.loads(json.dumps(oc.to_dict()))
    assert doc["n"] == 6000 and doc["scale"]["score_columns"] == ["a", "b", "c"]
    assert doc["candidates"][1]["rows"] == 6000


def test_curves_out_of_core_are_drawn_from_the_histograms(columns):
    """The ROC curves through the grid's edges have each model's AUC (the trapezoid of the binned curve is the
    AUC with ties counted one half), and the same dots as in memory."""
    from evalkit import views

    oc = compare_columns(MODELS[:2], columns["grid"], settings=EvaluationSettings(engine="stream"), n_boot=20)
    memory = compare_columns(MODELS[:2], columns["grid"], n_boot=20)
    labels = []
    for cmp in (oc, memory):
        ax = views.compare_curves(cmp).axes[0]
        labels.append([line.get_label() for line in ax.lines if not line.get_label().startswith("_")])
        dots = [tuple(np.round(line.get_xydata()[0], 12)) for line in ax.lines if len(line.get_xydata()) == 1]
        labels[-1].append(dots)
    assert labels[0] == labels[1] and "AUC 0.8" in labels[0][0]


def test_scores_off_the_grid_are_compared_as_rounded_down_to_it(columns):
    """Out of core, raw scores give the in-memory comparison of the scores rounded down to the grid."""
    oc = compare_columns(MODELS[:2], columns["raw"], settings=EvaluationSettings(engine="stream"), n_boot=100)
    memory = compare_columns(MODELS[:2], columns["floored"], n_boot=100)
    _same(memory, oc)
    assert 0 < oc.scale["auc_binning_bound"]["a"] < 1e-3


def test_dask_gives_the_stream_engines_numbers(columns):
    stream = compare_columns(MODELS[:2], columns["grid"], settings=EvaluationSettings(engine="stream", chunk_rows=1500),
                             n_boot=50)
    dask = compare_columns(MODELS[:2], columns["grid"], settings=EvaluationSettings(engine="dask", chunk_rows=1500),
                           n_boot=50)
    assert dask.scale["engine"] == "dask" and dask.scale["chunks"] > 1
    pd.testing.assert_frame_equal(stream.tests, dask.tests, check_exact=False, atol=1e-12)
    pd.testing.assert_frame_equal(stream.deltas, dask.deltas, check_exact=False, atol=1e-12)


def test_the_generated_challengers_known_effect_is_found(tmp_path):
    """``score_b`` drops region r4's bias against positives: significantly better recall and AUC there."""
    manifest = write_large_dataset(tmp_path, 60_000, challenger=True, row_group_rows=20_000)
    cmp = compare_columns(["column:score", "column:score_b"], manifest,
                          settings=EvaluationSettings(engine="stream", chunk_rows=20_000), n_boot=200)
    d = cmp.deltas.set_index(["feature", "group", "metric"])
    for metric in ("recall", "roc_auc"):
        row = d.loc[("region", "r4", metric)]
        assert row["significant"] and row["better"] and row["ci_low"] > 0, metric
    assert not d.loc[("region", "r0", "roc_auc"), "better"]  # noisier elsewhere


def test_refusals_name_what_is_wrong(columns, tmp_path):
    stream = EvaluationSettings(engine="stream")
    with pytest.raises(ValueError, match="balance='weights'.*unweighted"):
        compare_columns(MODELS, columns["grid"], settings=EvaluationSettings(engine="stream", balance="weights"))
    with pytest.raises(ModelError, match="adult-logreg.*score columns of the data file"):
        compare_columns(["column:a", "adult-logreg"], columns["grid"], settings=stream)
    with pytest.raises(ModelError, match="column:nope.*no such column in grid.csv; its columns are.*'a', 'b', 'c'"):
        compare_columns(["column:a", "column:nope"], columns["grid"], settings=stream)
    with pytest.raises(ValueError, match="baseline must be one of the candidates"):
        compare_columns(MODELS, columns["grid"], settings=stream, baseline="z")
    with pytest.raises(ValueError, match=r"settings\.n_boot=200: a comparison's statistics are its CompareSettings' "
                                         r"\(n_boot=1000; set compare_settings instead\)"):
        compare_columns(MODELS, columns["grid"], settings=EvaluationSettings(n_boot=200))
    with pytest.raises(ValueError, match="distinct"):
        compare_columns(["column:a", "column:a"], columns["grid"], settings=stream)
    bad = _frame(300, 2, on_grid=True)
    bad.loc[123, "b"] = 1.5
    manifest = write_dataset(bad, tmp_path / "bad.csv", tmp_path / "bad.yaml", fields=FIELDS)
    with pytest.raises(DataError, match=r"score 1\.5 in column 'b' at row 123 .*outside the score range"):
        compare_columns(MODELS, manifest, settings=stream)
