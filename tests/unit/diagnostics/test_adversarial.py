"""Black-box adversarial search with ART (evalkit/diagnostics/_adversarial.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit import load_dataset
from evalkit.diagnostics import adversarial_search
from evalkit.models import load_scorer, resolve_model
from evalkit.data import write_synthetic_dataset
from tests.conftest import ROOT


@pytest.fixture
def linear(tmp_path):
    """A dataset decided by x1 > 0 and a smooth scorer of it: the distance to flip a sample is |x1|."""
    rng = np.random.default_rng(0)
    n = 400
    x1 = rng.normal(0, 1, n)
    y = (x1 > 0).astype(int)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "label": np.where(y == 1, "pos", "neg"), "y": y,
                          "score": 0.5, "group": rng.choice(["A", "B"], n), "band": rng.choice(["u", "v"], n),
                          "x1": x1, "x2": rng.normal(0, 1, n)})
    manifest, _ = write_synthetic_dataset(tmp_path, frame)
    data = load_dataset(manifest)
    sd = float(data.frame["x1"].std())

    def scorer(f: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-4 * f["x1"].to_numpy(dtype=float)))

    return data, scorer, sd


def test_success_follows_the_budget(linear):
    data, scorer, sd = linear
    wide = adversarial_search(scorer, data, budget=3.0, n_samples=8, seed=1)
    assert wide.attacked == 8 and wide.broken == 8  # every |x1| < 3 s.d. can be crossed
    tiny = adversarial_search(scorer, data, budget=1e-4, n_samples=8, seed=1)
    assert tiny.broken == 0
    assert tiny.ci_low == 0 and 0 < tiny.ci_high < 0.4


def test_broken_samples_really_flip_within_the_budget(linear):
    data, scorer, sd = linear
    adv = adversarial_search(scorer, data, budget=0.5, n_samples=10, seed=2)
    s = adv.samples.set_index("id")
    x1 = data.frame.set_index("id")["x1"]
    for rid, row in s.iterrows():
        # HopSkipJump finds at least the minimal change |x1| / sd; broken means it fit in the budget
        assert row.distance >= abs(x1[rid]) / sd - 1e-6 or not row.broken
        if row.broken:
            assert row.distance <= 0.5
            assert (row.adv_score >= 0.5) != (row.score >= 0.5)
            assert adv.adversarial.loc[rid, "x1"] * x1[rid] <= 0  # crossed the boundary
    assert adv.by_group.groupby("feature").attacked.sum().tolist() == [10, 10]


def test_same_seed_same_search(linear):
    data, scorer, _ = linear
    a = adversarial_search(scorer, data, budget=0.5, n_samples=5, seed=3)
    b = adversarial_search(scorer, data, budget=0.5, n_samples=5, seed=3)
    pd.testing.assert_frame_equal(a.samples, b.samples)


def test_image_model_pixels_stay_in_range():
    data = load_dataset(ROOT / "data_manifests" / "digits_images.yaml")
    scorer = load_scorer(resolve_model(str(ROOT / "data" / "digits" / "digits_logreg.skops")), positive_label="high")
    adv = adversarial_search(scorer, data, budget=0.2, n_samples=4, max_iter=3, max_eval=50, seed=0)
    assert adv.unit == "share of the pixel range"
    if adv.broken:
        values = adv.adversarial.to_numpy(dtype=float)
        assert values.min() >= 0 and values.max() <= 16


def test_bad_settings(linear):
    data, scorer, _ = linear
    with pytest.raises(ValueError, match="budget must be a positive number"):
        adversarial_search(scorer, data, budget=0)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        adversarial_search(scorer, data, n_samples=0)


@pytest.mark.parametrize("manifest", ["adult_test.yaml", "digits_images.yaml"])
def test_the_attacks_inputs_are_the_frames_concatenated_copies_would_give(manifest):
    """The frames the attack scores (built column by column, or at once for images) equal, values and dtypes,
    the ones made by concatenating copies of the sample and overwriting its numeric columns."""
    from evalkit.diagnostics._adversarial import _builder, image_features, load_images

    data = load_dataset(ROOT / "data_manifests" / manifest)
    spec = data.manifest.image_features
    if spec:
        base = image_features(load_images(data), spec, list(data.manifest.feature_columns))
        numeric = list(base.columns)
    else:
        base = data.features
        numeric = [c for c in base.columns if pd.api.types.is_numeric_dtype(base[c])]
        assert 0 < len(numeric) < base.shape[1]  # mixed: strings stay, numbers are replaced
    scale = base[numeric].std().to_numpy(np.float64)
    row = base.iloc[[7]].reset_index(drop=True)
    rng = np.random.default_rng(0)
    for n in (1, 3, 200):
        z = rng.normal(size=(n, len(numeric)))
        expected = pd.concat([row] * n, ignore_index=True)
        expected[numeric] = z * scale
        pd.testing.assert_frame_equal(_builder(row, numeric, scale)(z), expected, check_exact=True)


def test_the_search_is_the_same_with_the_scorer_that_fixes_each_row(flawed_models):
    """The attack scores its queries with ``scorer.fixing(sample, numeric)`` (the categorical columns
    transformed once): samples, distances and adversarial inputs are those of the model's plain scorer."""
    data = load_dataset(ROOT / "data_manifests" / "adult_test.yaml")
    scorer = load_scorer(resolve_model(str(flawed_models["sound"])))
    assert hasattr(scorer, "fixing")
    numeric = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    assert hasattr(scorer.fixing(data.frame.iloc[[0]].reset_index(drop=True), numeric), "from_values")  # no frames
    search = {"budget": 0.5, "n_samples": 4, "max_iter": 3, "max_eval": 50, "seed": 1}
    fast = adversarial_search(scorer, data, **search)
    plain = adversarial_search(lambda frame: scorer(frame), data, **search)
    pd.testing.assert_frame_equal(fast.samples, plain.samples, check_exact=True)
    pd.testing.assert_frame_equal(fast.adversarial, plain.adversarial, check_exact=True)
