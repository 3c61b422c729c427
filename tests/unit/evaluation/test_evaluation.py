"""The metrics.json contract, on synthetic data with a known bias."""

import json

import numpy as np
import pytest

from evalkit import evaluate, load_dataset
from evalkit.metrics import METRIC_NAMES

REQUIRED_OVERALL = ["n", "accuracy", "precision", "recall", "f1", "fpr", "fnr", "tp", "fp", "tn", "fn",
                    "selection_rate", "roc_auc", "average_precision", "eer"]


@pytest.fixture
def ev(synthetic_dataset):
    manifest, preds = synthetic_dataset
    return evaluate(str(preds), manifest, threshold=0.5, min_group_size=30)


def test_metrics_json_contract(ev, tmp_path):
    path = ev.save(tmp_path)
    doc = json.loads(path.read_text())  # strict JSON: NaN would have been refused on write
    for key in ("model", "datasets", "threshold", "n", "overall", "by_group", "disparities", "mlflow_run_id"):
        assert key in doc
    assert doc["model"] == "synthetic_scores"
    assert doc["datasets"][0]["name"] == "synthetic" and len(doc["datasets"][0]["sha256"]) == 64
    assert doc["n"] == 1500 and doc["threshold"] == 0.5
    assert all(k in doc["overall"] for k in REQUIRED_OVERALL)
    assert set(doc["by_group"]) == {"group", "band", "group&band"}
    assert set(doc["by_group"]["group&band"]) == {f"{g}&{b}" for g in "ABC" for b in ("old", "young")}
    assert set(doc["by_group"]["group"]["B"]) == set(METRIC_NAMES)
    assert doc["disparities"]["group"]["recall"]["worst_group"] == "B"
    assert set(doc["disparities"]["group"]["recall"]) >= {"difference", "ratio"}
    assert doc["mlflow_run_id"] is None
    assert isinstance(doc["overall"]["tp"], int)


def test_values_equal_dataset_computation(ev):
    y, s = ev.y_true, ev.y_score
    mask = ev.data.sensitive["group"].to_numpy() == "B"
    recall_b = np.mean(s[mask & (y == 1)] >= 0.5)
    assert ev.by_group.loc[("group", "B"), "recall"] == pytest.approx(recall_b, abs=1e-12)


def test_undefined_values_are_null_with_reason(synthetic_dataset, tmp_path):
    manifest, preds = synthetic_dataset
    ev = evaluate(str(preds), manifest, threshold=1.5)  # nothing predicted positive
    doc = json.loads(ev.save(tmp_path).read_text())
    assert doc["overall"]["precision"] is None
    reasons = {(u["scope"], u["metric"]): u["reason"] for u in doc["undefined"] if u["scope"] == "overall"}
    assert reasons[("overall", "precision")] == "no predicted positives"
    assert doc["by_group"]["group"]["A"]["precision"] is None  # kept, not dropped


def test_small_groups_listed(synthetic_dataset):
    manifest, preds = synthetic_dataset
    ev = evaluate(str(preds), manifest, min_group_size=100)
    small = ev.to_dict()["small_groups"]
    assert {"feature": "group&band", "group": "C&old", "n": int(ev.by_group.loc[("group&band", "C&old"), "n"])} in small
    assert all(s["n"] < 100 for s in small)


def test_parameter_validation(synthetic_dataset):
    manifest, preds = synthetic_dataset
    with pytest.raises(ValueError, match="threshold must be a finite number, got nan"):
        evaluate(str(preds), manifest, threshold=float("nan"))
    with pytest.raises(ValueError, match="min_group_size must be a positive integer, got 0"):
        evaluate(str(preds), manifest, min_group_size=0)


def test_model_ref_as_dict(synthetic_dataset):
    manifest, preds = synthetic_dataset
    first = evaluate(str(preds), manifest)
    import dataclasses

    again = evaluate({**dataclasses.asdict(first.model), "path": str(first.model.path)}, load_dataset(manifest))
    assert again.to_dict()["overall"] == first.to_dict()["overall"]


def test_composition_section_escapes_feature_names(synthetic_dataset):
    from evalkit import views as summary

    manifest, preds = synthetic_dataset
    ev = evaluate(str(preds), manifest, n_boot=0)
    text = summary.composition_table(ev, kind="intersections").data
    assert "group&amp;band" in text and "<td class=t>group&band" not in text


def test_group_values_are_the_group_names_one_object_per_group(ev):
    """group_values reads like the categorical's to_numpy() (NaN where missing) without a string per sample."""
    import pandas as pd

    for feature in (*ev.data.manifest.sensitive_features, "&".join(ev.data.manifest.sensitive_features)):
        values = ev.group_values(feature)
        expected = ev._grouping(feature).to_numpy()
        assert values.dtype == object and values.tolist() == expected.tolist()
        assert len({id(v) for v in values}) == len(set(expected))
    kept = ev.groupings
    try:
        ev.groupings = {**kept, "gappy": pd.Series(pd.Categorical(["b", None, "a", "b"]))}
        assert [str(v) for v in ev.group_values("gappy")] == ["b", "nan", "a", "b"]
    finally:
        ev.groupings = kept
        ev._groups.pop("gappy", None)


def test_curve_counts_are_scikit_learns_curves_for_every_group(ev):
    from sklearn.metrics import precision_recall_curve, roc_curve

    for w in (None, np.random.default_rng(1).gamma(2.0, 0.5, len(ev.y_true))):
        ev.sample_weight, ev._descending = w, None
        for feature in (None, *ev.data.manifest.sensitive_features, "&".join(ev.data.manifest.sensitive_features)):
            counts = ev.curve_counts(feature)
            values = None if feature is None else ev.group_values(feature)
            assert sorted(counts, key=str) == sorted({None} if feature is None else set(values), key=str)
            for group, (fps, tps, thresholds) in counts.items():
                m = np.ones(len(ev.y_true), bool) if group is None else values == group
                y, s, wm = ev.y_true[m], ev.y_score[m], None if w is None else w[m]
                if 0 < y.sum() < y.size:
                    fpr, tpr, thr = roc_curve(y, s, sample_weight=wm, drop_intermediate=False)
                    np.testing.assert_allclose(fps / fps[-1], fpr[1:], rtol=0, atol=1e-12)
                    np.testing.assert_allclose(tps / tps[-1], tpr[1:], rtol=0, atol=1e-12)
                    np.testing.assert_array_equal(thresholds, thr[1:])
                    p, r, _ = precision_recall_curve(y, s, sample_weight=wm, drop_intermediate=False)
                    np.testing.assert_allclose(tps / (tps + fps), p[:-1][::-1], rtol=0, atol=1e-12)


def test_group_codes_are_held_in_the_smallest_integer_type_with_the_same_values():
    """The bootstrap's group codes (held through it: 8 bytes a sample per grouping as pd.factorize gives them)."""
    from evalkit.evaluation._evaluate import _small

    for top, dtype in ((0, np.int8), (127, np.int8), (128, np.int16), (32_767, np.int16), (32_768, np.int32),
                       (2**31, np.int64)):
        codes = np.array([0, top, top // 2], dtype=np.intp)
        small = _small(codes)
        assert small.dtype == dtype and small.tolist() == codes.tolist()
    assert _small(np.array([], dtype=np.intp)).dtype == np.int8
