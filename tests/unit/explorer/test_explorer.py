"""The explorer widget wires controls to evalkit's functions: values it shows equal evalkit's."""

import html
import re

import numpy as np
import pytest

from evalkit import evaluate
from evalkit.explorer import Explorer
from evalkit.views import metrics_table_html
from evalkit.metrics import outcome

from tests.conftest import ROOT


@pytest.fixture
def explorer(synthetic_dataset):
    manifest, preds = synthetic_dataset
    return Explorer(evaluate(str(preds), manifest, n_boot=0))


def _shown(html, group, metric):
    return re.search(rf"data-group='{group}' data-metric='{metric}'>([^<]*)<", html).group(1)


def test_moving_the_threshold_updates_metrics_to_evalkits(explorer, synthetic_dataset):
    manifest, preds = synthetic_dataset
    before = _shown(explorer.metrics.value, "B", "recall")
    explorer.threshold.value = 0.3
    after = _shown(explorer.metrics.value, "B", "recall")
    ref = evaluate(str(preds), manifest, threshold=0.3, n_boot=0).by_group.loc[("group", "B"), "recall"]
    assert after == f"{ref:.4g}" and after != before


def test_false_positive_selection_of_a_group(explorer):
    explorer.threshold.value = 0.5
    explorer.group.value = "A"
    explorer.kind.value = "fp"
    rows = explorer.selected_rows()
    ev = explorer.ev
    assert len(rows) == ((ev.group_values("group") == "A") & (outcome(ev.y_true, ev.y_score, 0.5) == "fp")).sum()
    assert (np.diff(ev.y_score[rows]) <= 0).all()  # most confidently wrong first: highest scores first for FPs
    assert f"{len(rows):,} samples" in explorer.selection.value


def test_bin_range_limits_the_selection(explorer):
    explorer.bin_range.value = (0, 2)
    rows = explorer.selected_rows()
    assert (explorer.ev.y_score[rows] < explorer.edges[3]).all() and len(rows) > 0


def test_images_show_as_thumbnails():
    ev = evaluate(str(ROOT / "data" / "digits" / "digits_logreg.skops"), ROOT / "data_manifests" / "digits_images.yaml",
                  n_boot=0)
    ex = Explorer(ev)
    ex.kind.value = "fn"
    assert "data:image/png;base64," in ex.samples.value


def test_metrics_table_escapes_group_names():
    import pandas as pd

    html = metrics_table_html(pd.DataFrame({m: [0.5] for m in ("n", "selection_rate", "precision", "recall", "fpr",
                                                                "fnr", "accuracy")}, index=["<img src=x>"]))
    assert "<img src=x>" not in html and "&lt;img src=x&gt;" in html


def test_slice_list_filters_histogram_metrics_and_samples(adult_eval_for_slices):
    """The slice list holds the report's top failing slices; choosing one restricts everything to its rows."""
    from evalkit.evaluation import slice_frame

    ev = adult_eval_for_slices
    ex = Explorer(ev)
    labels = [label for label, _ in ex.slice.options]
    assert labels[0] == "all samples" and len(labels) > 1
    top = ev.slices.top.iloc[0]
    assert labels[1].startswith(f"#1 {top['slice']} (n={top['n']:,}")
    ex.slice.value = top["query"]
    inside = np.flatnonzero(slice_frame(ev.data).eval(top["query"]).to_numpy(dtype=bool))
    np.testing.assert_array_equal(np.sort(ex.selected_rows()), inside)  # all samples of every bin
    counts = ex._counts[(ex.source.value, top["query"])]
    assert int(counts["n"].sum()) == top["n"] == inside.size
    overall = ex.live_metrics().loc["all"]
    assert overall["n"] == top["n"]
    wrong = (ev.y_score[inside] >= ex.threshold.value).astype(int) != ev.y_true[inside]
    assert 1 - overall["accuracy"] == pytest.approx(wrong.mean(), abs=1e-12) == pytest.approx(top["value"], abs=1e-12)
    assert f"in slice {html.escape(top['slice'])}" in ex.selection.value
    ex.slice.value = "(all)"
    assert len(ex.selected_rows()) == len(ev.data)


@pytest.fixture(scope="module")
def adult_eval_for_slices():
    from tests.conftest import ADULT_TEST

    return evaluate("adult-logreg", ADULT_TEST, n_boot=0)


def test_explorer_starts_at_the_threshold_make_explore_gives(synthetic_dataset, monkeypatch):
    """make explore THRESHOLD=0.45 reaches the app as EVALKIT_SETTINGS; the slider starts there."""
    from evalkit.explorer import explore

    manifest, preds = synthetic_dataset
    monkeypatch.setenv("EVALKIT_SETTINGS", '{"threshold": 0.45}')
    widget = explore(str(preds), manifest)
    assert widget.explorer.threshold.value == pytest.approx(0.45, abs=1e-3)
    assert widget.explorer.ev.threshold == 0.45
    monkeypatch.setenv("EVALKIT_SETTINGS", '{"threshold_rule": "eer"}')
    ev = explore(str(preds), manifest).explorer.ev
    assert ev.operating_point.rule == "eer" and ev.threshold == pytest.approx(ev.overall["eer_threshold"], abs=1e-9)
