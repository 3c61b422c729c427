"""The score histogram tool's logic: binning, selection, threshold index, confidently wrong samples."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.metrics import metrics_by_group
from evalkit.metrics import ThresholdIndex, bin_counts, most_confidently_wrong, outcome, select
from evalkit.views import thumbnails_html
from evalkit.metrics import binary_metrics

scores = st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=300)


@settings(max_examples=80, deadline=None)
@given(scores, st.integers(1, 40), st.integers(0, 2**31))
def test_bin_counts_add_up_and_match_selection(s, bins, seed):
    s = np.array(s)
    y = np.random.default_rng(seed).integers(0, 2, s.size)
    g = np.random.default_rng(seed + 1).choice(["a", "b"], s.size)
    table = bin_counts(y, s, bins=bins, groups=g)
    assert table["n"].sum() == s.size
    for name, part in table.groupby("group"):
        assert part["n"].sum() == (g == name).sum()
    for r in table[table["group"] == "a"].itertuples():  # a bin's count = the samples select() returns
        rows = select(y, s, low=r.low, high=r.high, groups=g, group="a", include_high=r.bin == bins - 1)
        assert len(rows) == r.n
        assert ((s[rows] >= r.low) & (s[rows] <= r.high)).all()
        assert (y[rows] == 1).sum() == r.positives


def test_select_returns_exactly_the_samples_inside():
    rng = np.random.default_rng(2)
    s = np.round(rng.random(2000), 3)
    y = rng.integers(0, 2, 2000)
    rows = select(y, s, low=0.25, high=0.5, label=1, kind="fn", threshold=0.6)
    expected = np.flatnonzero((s >= 0.25) & (s < 0.5) & (y == 1) & (s < 0.6))
    np.testing.assert_array_equal(rows, expected)
    with pytest.raises(ValueError, match="kind='fp' needs a threshold"):
        select(y, s, kind="fp")


@pytest.mark.parametrize("weighted", [False, True])
def test_threshold_index_equals_evalkit_metrics(weighted):
    rng = np.random.default_rng(4)
    n = 5000
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 2)  # ties at the thresholds below
    g = rng.choice(["x", "y", "z"], n)
    w = rng.uniform(0.5, 2, n) if weighted else None
    index = ThresholdIndex(y, s, g, sample_weight=w)
    for t in (0.0, 0.13, 0.5, 0.5000001, 0.99, 1.5):
        ours = index.metrics(t)
        ref = metrics_by_group(y, s, sensitive=pd.DataFrame({"g": g}), threshold=t, sample_weight=w).loc["g"]
        for m in ("n", "selection_rate", "precision", "recall", "fpr", "fnr", "accuracy", "tp", "fp"):
            np.testing.assert_allclose(ours.loc[["x", "y", "z"], m], ref.loc[["x", "y", "z"], m], atol=1e-9,
                                       equal_nan=True, err_msg=f"{m} at {t}")
        overall = binary_metrics(y, s, threshold=t, sample_weight=w)
        assert ours.loc["all", "recall"] == pytest.approx(overall["recall"], abs=1e-12, nan_ok=True)


def test_most_confidently_wrong_orders_by_distance_on_the_wrong_side():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.95, 0.75, 0.02, 0.25, 0.1, 0.9])
    order = most_confidently_wrong(y, s, 0.5)
    assert order.tolist() == [2, 0, 1, 3]  # fn 0.48, fp 0.45, then fp 0.25 and fn 0.25 (a tie: by position)
    assert set(outcome(y, s, 0.5)[order]) == {"fp", "fn"}
    assert most_confidently_wrong(y, s, 0.5, k=1).tolist() == [2]


def test_thumbnails_are_embedded_and_captions_escaped(tmp_path):
    from PIL import Image

    Image.new("L", (8, 8), 128).save(tmp_path / "a.png")
    html = thumbnails_html([tmp_path / "a.png"], ["<b>x</b>"])
    assert "data:image/png;base64," in html and "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x" not in html
