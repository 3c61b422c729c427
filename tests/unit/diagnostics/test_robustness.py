"""Perturbations and robustness curves (evalkit/diagnostics/_robustness.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, recall_score

from evalkit import load_dataset
from evalkit.models import load_scorer, resolve_model
from evalkit.diagnostics import (
    PERTURBATIONS,
    assess_robustness,
    default_suite,
    image_features,
    load_images,
    perturb_frame,
    perturb_image,
)
from tests.conftest import ROOT

DIGITS = ROOT / "data_manifests" / "digits_images.yaml"


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(10, 2, 20000), "k": rng.integers(0, 100, 20000),
                         "c": rng.choice(["a", "b", "c"], 20000, p=[0.6, 0.3, 0.1])})


def test_gaussian_noise_is_scaled_to_each_feature(frame):
    out = perturb_frame(frame, "gaussian_noise", 0.5, np.random.default_rng(1))
    assert (out["x"] - frame["x"]).std() == pytest.approx(0.5 * frame["x"].std(), rel=0.03)
    assert (out["k"] - frame["k"]).std() == pytest.approx(0.5 * frame["k"].std(), rel=0.03)
    assert out["c"].equals(frame["c"])  # categories untouched
    assert frame["x"].iloc[0] != out["x"].iloc[0]  # a copy: the input is unchanged


def test_missing_blanks_the_given_share(frame):
    out = perturb_frame(frame, "missing", 0.2, np.random.default_rng(1))
    assert out.isna().mean().to_dict() == pytest.approx({"x": 0.2, "k": 0.2, "c": 0.2}, abs=0.01)


def test_category_swap_changes_the_given_share_to_other_observed_categories(frame):
    out = perturb_frame(frame, "category_swap", 0.3, np.random.default_rng(1))
    changed = out["c"] != frame["c"]
    assert changed.mean() == pytest.approx(0.3, abs=0.01)
    assert set(out["c"]) == {"a", "b", "c"}
    assert out["x"].equals(frame["x"])


def test_unknown_perturbations_are_refused(frame):
    with pytest.raises(ValueError, match="not a tabular perturbation"):
        perturb_frame(frame, "blur", 1.0, np.random.default_rng(0))
    data = load_dataset(DIGITS)
    with pytest.raises(ValueError, match="applies to tabular data, but dataset 'digits_images' is image"):
        assess_robustness(lambda f: np.zeros(len(f)), data, suite={"missing": [0.1]})
    with pytest.raises(ValueError, match="unknown perturbation 'fire'"):
        assess_robustness(lambda f: np.zeros(len(f)), data, suite={"fire": [0.1]})
    with pytest.raises(ValueError, match="strengths must be positive"):
        assess_robustness(lambda f: np.zeros(len(f)), data, suite={"blur": [-1]})


def test_image_features_of_clean_images_reproduce_the_pixel_columns():
    data = load_dataset(DIGITS)
    images = load_images(data)
    feats = image_features(images, data.manifest.image_features, data.manifest.feature_columns)
    pixels = data.frame[list(data.manifest.feature_columns)].to_numpy(float)
    assert np.abs(feats.to_numpy() - pixels).max() <= 16 / 255 + 1e-9  # uint8 rounding of p*255/16 only


@pytest.mark.parametrize("name", [p for p, v in PERTURBATIONS.items() if v.modality == "image"])
def test_image_perturbations_keep_size_and_change_pixels(name):
    data = load_dataset(DIGITS)
    img = load_images(data)[0]
    out = perturb_image(img, name, PERTURBATIONS[name].strengths[-1], np.random.default_rng(0))
    assert out.size == img.size and out.mode == "L"
    assert not np.array_equal(np.asarray(out), np.asarray(img))


def test_default_suite_follows_the_modality(adult):
    assert set(default_suite(adult[1])) == {"gaussian_noise", "missing", "category_swap"}
    assert set(default_suite(load_dataset(DIGITS))) == {"noise", "blur", "brightness", "rotation", "jpeg"}


def test_curves_equal_sklearn_on_the_same_perturbed_inputs(adult, flawed_models):
    test = adult[1]
    scorer = load_scorer(resolve_model(str(flawed_models["sound"])), positive_label=">50K")
    rob = assess_robustness(scorer, test, suite={"gaussian_noise": [0.5]}, n_boot=50, seed=4,
                            metrics=("accuracy", "recall"))
    # The same seed stream reproduces the perturbed inputs: strength index 0 of perturbation 0.
    noisy = perturb_frame(test.features, "gaussian_noise", 0.5, np.random.default_rng([4, 0, 0]))
    clean_pred = scorer(test.features) >= 0.5
    pred = scorer(noisy) >= 0.5
    c = rob.curves.set_index(["perturbation", "feature", "group", "metric"])
    row = c.loc[("gaussian_noise", "overall", "all", "accuracy")]
    assert row["value"] == pytest.approx(accuracy_score(test.y_true, pred), abs=1e-12)
    assert row["drop"] == pytest.approx(accuracy_score(test.y_true, clean_pred) - accuracy_score(test.y_true, pred),
                                        abs=1e-12)
    assert row["flip_rate"] == pytest.approx(np.mean(pred != clean_pred), abs=1e-12)
    women = test.sensitive["sex"].to_numpy() == "Female"
    row = c.loc[("gaussian_noise", "sex", "Female", "recall")]
    assert row["value"] == pytest.approx(recall_score(test.y_true[women], pred[women]), abs=1e-12)
    assert row["ci_low"] <= row["value"] <= row["ci_high"]
    clean = c.loc[("clean", "overall", "all", "accuracy")]
    assert clean["drop"] == 0 and clean["flip_rate"] == 0
    assert rob.drop("gaussian_noise", 0.5, "accuracy")["drop"] == pytest.approx(
        c.loc[("gaussian_noise", "overall", "all", "accuracy")]["drop"])


def test_the_brittle_model_flips_more_than_the_sound_one(adult, flawed_models):
    test = adult[1]
    results = {}
    for name in ("sound", "brittle"):
        scorer = load_scorer(resolve_model(str(flawed_models[name])), positive_label=">50K")
        results[name] = assess_robustness(scorer, test, suite={"gaussian_noise": [0.25]}, n_boot=100)
    sound, brittle = (results[n].drop("gaussian_noise", 0.25, "accuracy") for n in ("sound", "brittle"))
    assert brittle["drop_ci_low"] > 0.03 > sound["drop_ci_high"]
    assert results["brittle"].flips("gaussian_noise", 0.25)["flip_rate"] > 0.1 > \
        results["sound"].flips("gaussian_noise", 0.25)["flip_rate"]


def _noise_case(tmp_path, rng: np.random.Generator, group: np.ndarray):
    """Group A is decided by x1, every other group by x2 with the same margin, but x2 is spread 100x wider in
    group A, so noise scaled to x2's overall spread swamps the other groups' decisions. Returns the dataset
    and a scorer that is perfect on clean data."""
    from evalkit.data import write_synthetic_dataset

    n = len(group)
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, np.where(group == "A", 100.0, 1.0))
    y = np.where(group == "A", x1 > 0, x2 > 0).astype(int)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "label": np.where(y == 1, "pos", "neg"), "y": y,
                          "score": 0.5, "group": group, "band": rng.choice(["u", "v"], n), "x1": x1, "x2": x2})
    manifest, _ = write_synthetic_dataset(tmp_path, frame)
    data = load_dataset(manifest)
    in_a = data.frame["group"].to_numpy() == "A"

    def scorer(f: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-10 * np.where(in_a, f["x1"].to_numpy(), f["x2"].to_numpy())))

    return data, scorer


def test_a_perturbation_that_hurts_one_group_is_named(tmp_path):
    """Synthetic ground truth (:func:`_noise_case`): noise must name B, never A."""
    rng = np.random.default_rng(0)
    data, scorer = _noise_case(tmp_path, rng, rng.choice(["A", "B"], 4000))
    rob = assess_robustness(scorer, data, suite={"gaussian_noise": [0.01]}, n_boot=100, metrics=("accuracy",))
    named = rob.hurt[rob.hurt.feature == "group"]
    assert list(named.group) == ["B"]
    assert named.iloc[0].excess_ci_low > 0
    assert rob.drop("gaussian_noise", 0.01, "accuracy", "group", "B")["drop"] > 0.1
    assert rob.drop("gaussian_noise", 0.01, "accuracy", "group", "A")["drop"] < 0.01


def test_hurt_groups_are_ranked_by_the_lower_bound(tmp_path):
    """Two groups hurt by noise: the one with the larger lower bound of its excess drop comes first, whatever
    the point estimates (ranking by what the data support)."""
    rng = np.random.default_rng(1)
    group = rng.choice(["A", "B", "C"], 6000, p=[0.47, 0.47, 0.06])  # C: small and strongly hurt
    data, scorer = _noise_case(tmp_path, rng, group)
    rob = assess_robustness(scorer, data, suite={"gaussian_noise": [0.01]}, n_boot=100, metrics=("accuracy",))
    h = rob.hurt[rob.hurt.feature == "group"]
    assert set(h.group) <= {"B", "C"} and len(h) >= 1
    assert h["excess_ci_low"].is_monotonic_decreasing


def test_a_model_that_cannot_take_missing_values_is_reported_not_crashed(adult, flawed_models):
    scorer = load_scorer(resolve_model(str(flawed_models["sound"])), positive_label=">50K")
    rob = assess_robustness(scorer, adult[1], suite={"missing": [0.1], "category_swap": [0.1]}, n_boot=0)
    assert "missing" in rob.errors and "contains NaN" in rob.errors["missing"]
    assert "\n" not in rob.errors["missing"]
    assert set(rob.curves.perturbation) == {"clean", "category_swap"}


def test_same_seed_same_result(adult, flawed_models):
    scorer = load_scorer(resolve_model(str(flawed_models["sound"])), positive_label=">50K")
    a = assess_robustness(scorer, adult[1], suite={"category_swap": [0.2]}, n_boot=30, seed=5)
    b = assess_robustness(scorer, adult[1], suite={"category_swap": [0.2]}, n_boot=30, seed=5)
    pd.testing.assert_frame_equal(a.curves, b.curves)


@pytest.mark.parametrize("metric", ["accuracy", "recall", "fpr"])
def test_values_and_intervals_agree_with_the_former_per_sample_paired_bootstrap(adult, flawed_models, metric):
    """The joint-cell bootstrap against the former per-sample one (the same weights for clean and perturbed
    rows): identical values, drops and flip rates; drop intervals within Monte Carlo error (the same
    distribution, other draws)."""
    from evalkit.data import group_columns
    from evalkit.stats import confusion_counts, count_metric, group_matrix, percentile_interval, replicates

    test = adult[1]
    scorer = load_scorer(resolve_model(str(flawed_models["brittle"])), positive_label=">50K")
    rob = assess_robustness(scorer, test, suite={"gaussian_noise": [0.25]}, n_boot=2000, seed=4, metrics=(metric,))
    y = test.y_true.astype(bool)
    clean = scorer(test.features) >= 0.5
    pred = scorer(perturb_frame(test.features, "gaussian_noise", 0.25, np.random.default_rng([4, 0, 0]))) >= 0.5
    groups, index = group_matrix(group_columns(test.sensitive, intersections=False), len(y))

    def value(c):
        return count_metric(metric, c["tp"], c["fp"], c["tn"], c["fn"])

    sign = -1.0 if metric == "fpr" else 1.0
    drop = sign * (value(confusion_counts(y, clean, groups)) - value(confusion_counts(y, pred, groups)))
    reps = replicates(lambda w: sign * (value(confusion_counts(y, clean, groups, w))
                                        - value(confusion_counts(y, pred, groups, w))), len(y), 2000, 4)
    low, high = percentile_interval(reps, 0.95)
    c = rob.curves[(rob.curves.perturbation == "gaussian_noise") & (rob.curves.metric == metric)]
    c = c.set_index(["feature", "group"]).loc[list(index)]
    assert c["drop"].tolist() == drop.tolist()
    assert c["value"].tolist() == value(confusion_counts(y, pred, groups)).tolist()
    flips = (groups * (pred != clean)[:, None]).sum(0, dtype=np.float64)
    assert c["flip_rate"].tolist() == (flips / groups.sum(0, dtype=np.float64)).tolist()
    big = (c["n"] >= 1000).to_numpy()
    assert big.sum() >= 6
    tol = 0.1 * (high - low)[big]  # each endpoint is off by about 2 % of the width (2,000 draws): 4.5 SDs
    assert np.all(np.abs(c["drop_ci_low"].to_numpy()[big] - low[big]) < tol)
    assert np.all(np.abs(c["drop_ci_high"].to_numpy()[big] - high[big]) < tol)
