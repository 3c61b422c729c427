"""The explorer widget wires controls to evalkit's functions: values it shows equal evalkit's."""

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
