"""Comparison statistics on constructed cases where the answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score, roc_auc_score

from evalkit import evaluate
from evalkit.compare import Candidate, ComparisonError, check_same_data, compare
from evalkit.stats import paired_difference
from evalkit.stats import delong
from evalkit.data import make_biased_scores, write_synthetic_dataset


def _candidate(folder, frame, name, *, data_name="synthetic", **kwargs):
    """A real evaluation of ``frame``'s scores, as its report would record it."""
    manifest, preds = write_synthetic_dataset(folder / name, frame, name=data_name)
    ev = evaluate(str(preds), manifest, n_boot=kwargs.pop("n_boot", 50), **kwargs)
    return Candidate.from_evaluation(ev, name)


@pytest.fixture(scope="module")
def biased_and_fixed(tmp_path_factory):
    """The baseline is biased against group B's positives; the candidate is the same model without the
    bias: identical scores everywhere except for B's positives."""
    folder = tmp_path_factory.mktemp("compare")
    biased = make_biased_scores(3000, seed=5)
    fixed = make_biased_scores(3000, seed=5, positive_shift={})
    assert (biased["score"] != fixed["score"]).sum() == ((biased["group"] == "B") & (biased["y"] == 1)).sum()
    return _candidate(folder, biased, "biased"), _candidate(folder, fixed, "fixed")


def test_identical_models_show_no_difference(biased_and_fixed, tmp_path):
    a, _ = biased_and_fixed
    twin = Candidate("twin", a.metrics, a.scores.copy())
    cmp = compare([a, twin], n_boot=200)
    assert cmp.same_data and cmp.baseline == "biased"
    assert (cmp.deltas["difference"].abs().max(), cmp.deltas["ci_low"].min(), cmp.deltas["ci_high"].max()) == (0, 0, 0)
    assert not cmp.deltas["significant"].any() and cmp.significant().empty
    assert (cmp.tests["flips"] == 0).all() and (cmp.tests["mcnemar_p"] == 1).all()
    defined = cmp.tests["delong_p"].notna()
    assert (cmp.tests.loc[defined, "delong_p"] == 1).all()
    v = cmp.verdicts().iloc[0]
    assert (v["difference"], v["better"], v["worse"], v["flip_rate"], v["significant"]) == (0, 0, 0, 0, False)


def test_a_model_better_only_on_one_group_is_detected_there(biased_and_fixed):
    biased, fixed = biased_and_fixed
    cmp = compare([biased, fixed], n_boot=300, seed=1)
    d = cmp.deltas.set_index(["feature", "group", "metric"])
    # group B: recall and AUC up, significantly, after Benjamini-Hochberg
    for metric in ("recall", "roc_auc", "accuracy"):
        row = d.loc[("group", "B", metric)]
        assert row["significant"] and row["better"] and row["ci_low"] > 0, metric
    assert d.loc[("group", "B", "fpr"), "difference"] == 0  # only positives changed
    # groups A and C: the scores are identical, so every difference is exactly zero and not significant
    for group in ("A", "C"):
        rows = d.xs(("group", group), level=("feature", "group"))
        assert (rows["difference"] == 0).all() and not rows["significant"].any()
    # every significant difference is in a group holding samples whose scores changed (B's positives)
    sig = cmp.significant("fixed")
    s = cmp.samples
    changed = s["score:fixed"] != s["score:biased"]
    for f, g in zip(sig["feature"], sig["group"], strict=True):
        if f != "overall":
            members = np.logical_and.reduce([s[f"group:{part}"] == value
                                             for part, value in zip(f.split("&"), g.split("&"), strict=True)])
            assert (members & changed).any(), (f, g)
    assert {("group", "B"), ("group&band", "B&young"), ("group&band", "B&old")} <= set(zip(sig["feature"], sig["group"], strict=True))
    assert set(sig.loc[sig["metric"] != "selection_rate", "better"]) == {True}
    assert set(sig.loc[sig["metric"] == "selection_rate", "better"]) <= {None}  # no good direction
    t = cmp.tests.set_index(["feature", "group"])
    assert t.loc[("group", "A"), "flips"] == 0 and t.loc[("group", "B"), "flips"] > 0
    assert t.loc[("group", "B"), "mcnemar_p"] < 0.001 and t.loc[("group", "B"), "delong_p"] < 0.001
    assert t.loc[("group", "A"), "mcnemar_p"] == 1 and t.loc[("group", "A"), "delong_p"] == 1
    v = cmp.verdicts().iloc[0]
    assert v["candidate"] == "fixed" and v["worse"] == 0 and v["worse_groups"] == []
    assert v["better"] == int((sig["metric"] != "selection_rate").sum())
    assert list(cmp.leaderboard.index) == ["fixed", "biased"] and list(cmp.leaderboard["rank"]) == [1, 2]


def test_deltas_equal_scikit_learn_on_the_same_samples(biased_and_fixed):
    biased, fixed = biased_and_fixed
    cmp = compare([fixed, biased], baseline="biased", n_boot=20, metrics=("roc_auc", "recall"))
    s = cmp.samples
    y = s["y_true"].to_numpy()
    d = cmp.deltas.set_index(["feature", "group", "metric"])
    expected = roc_auc_score(y, s["score:fixed"]) - roc_auc_score(y, s["score:biased"])
    assert d.loc[("overall", "all", "roc_auc"), "difference"] == pytest.approx(expected, abs=1e-12)
    young = (s["group:band"] == "young").to_numpy()
    for name, t in (("fixed", fixed.threshold), ("biased", biased.threshold)):
        col = "value" if name == "fixed" else "baseline"
        assert d.loc[("band", "young", "recall"), col] == pytest.approx(
            recall_score(y[young], s[f"score:{name}"][young] >= t), abs=1e-12)
    # ROC AUC differences are DeLong's; count metrics come from the cell bootstrap, whose interval agrees with
    # the per-sample paired bootstrap of evalkit.paired (the same distribution, other draws)
    cmp2 = compare([fixed, biased], baseline="biased", n_boot=2000, metrics=("roc_auc", "recall"), intersections=False)
    d2 = cmp2.deltas.set_index(["feature", "group", "metric"])
    dl = delong(y, s["score:fixed"], s["score:biased"])
    auc = d2.loc[("overall", "all", "roc_auc")]
    assert auc["method"] == "DeLong"
    assert (auc["ci_low"], auc["ci_high"], auc["p_value"]) == pytest.approx((dl["ci_low"], dl["ci_high"], dl["p_value"]),
                                                                            rel=1e-9, abs=1e-15)
    b = s["group:group"] == "B"
    ref = paired_difference(y[b], s["score:fixed"][b].to_numpy(), s["score:biased"][b].to_numpy(), "recall",
                            threshold_a=fixed.threshold, threshold_b=biased.threshold, n_boot=2000, seed=3)
    rec = d2.loc[("group", "B", "recall")]
    assert rec["method"] == "paired Poisson bootstrap" and rec["difference"] == pytest.approx(ref["difference"], abs=1e-12)
    assert rec["ci_high"] - rec["ci_low"] == pytest.approx(ref["ci_high"] - ref["ci_low"], rel=0.1)
    assert rec["ci_low"] == pytest.approx(ref["ci_low"], abs=0.015) and rec["ci_high"] == pytest.approx(ref["ci_high"], abs=0.015)


def test_weighted_candidates_use_their_weights(tmp_path):
    frame = make_biased_scores(1500, seed=2)
    a = _candidate(tmp_path, frame, "a", balance="weights", balance_by="group")
    b_frame = frame.assign(score=np.clip(frame["score"] + 0.05, 0, 1))
    b = _candidate(tmp_path, b_frame, "b", balance="weights", balance_by="group")
    cmp = compare([a, b], n_boot=20, metrics=("recall",), intersections=False)
    s = cmp.samples
    assert cmp.settings["weighted"] and s["weight"].nunique() == 3
    y, w = s["y_true"].to_numpy(), s["weight"].to_numpy()
    expected = (recall_score(y, s["score:b"] >= b.threshold, sample_weight=w)
                - recall_score(y, s["score:a"] >= a.threshold, sample_weight=w))
    assert cmp.deltas.set_index(["feature", "metric"]).loc[("overall", "recall"), "difference"] == pytest.approx(
        expected, abs=1e-12)
    auc = compare([a, b], n_boot=20, metrics=("roc_auc",), intersections=False).deltas.iloc[0]
    assert auc["method"] == "paired Poisson bootstrap"  # DeLong counts samples: weighted AUC is bootstrapped
    assert auc["difference"] == pytest.approx(roc_auc_score(y, s["score:b"], sample_weight=w)
                                              - roc_auc_score(y, s["score:a"], sample_weight=w), abs=1e-12)
    # weights with more distinct values than cells allow: the per-sample bootstrap gives the same estimates
    rng = np.random.default_rng(0)
    w2 = rng.uniform(0.5, 2.0, len(a.scores))
    a2 = Candidate("a", a.metrics, a.scores.assign(weight=w2))
    b2 = Candidate("b", b.metrics, b.scores.assign(weight=w2))
    many = compare([a2, b2], n_boot=20, metrics=("recall",), intersections=False).deltas.iloc[0]
    assert many["difference"] == pytest.approx(
        recall_score(y, s["score:b"] >= b.threshold, sample_weight=w2)
        - recall_score(y, s["score:a"] >= a.threshold, sample_weight=w2), abs=1e-12)


def test_different_data_is_refused_unless_allowed(biased_and_fixed, tmp_path):
    biased, _ = biased_and_fixed
    other = _candidate(tmp_path, make_biased_scores(3000, seed=5).head(2000), "subset")
    with pytest.raises(ComparisonError, match=r"cannot compare biased and subset: they were evaluated on different "
                                              r"datasets \(name or sha256\).*sha256 [0-9a-f]{12}.*--allow-different-data"):
        compare([biased, other])
    assert check_same_data([biased, other], allow_different_data=True) is False
    cmp = compare([biased, other], allow_different_data=True, n_boot=20, metrics=("accuracy",))
    assert not cmp.same_data and len(cmp.samples) == 2000
    assert (cmp.deltas["difference"] == 0).all()  # the same model on the rows they share
    balanced = Candidate("balanced", biased.metrics, biased.scores.iloc[::2].reset_index(drop=True))
    with pytest.raises(ComparisonError, match="the same datasets but different rows"):
        compare([biased, balanced])
    relabelled = Candidate("relabelled", biased.metrics, biased.scores.assign(y_true=1 - biased.scores["y_true"]))
    with pytest.raises(ComparisonError, match="different labels or weights"):
        compare([biased, relabelled])
    with pytest.raises(ComparisonError, match="shared samples have different labels"):
        compare([biased, relabelled], allow_different_data=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"baseline": "nope"}, "baseline must be one of the candidates"),
    ({"metrics": ("eer",)}, "metrics must be a non-empty subset"),
    ({"n_boot": 5}, "n_boot must be a whole number >= 10"),
    ({"ci_level": 1.0}, "ci_level must lie strictly between 0 and 1"),
    ({"rank_by": "tp"}, "rank_by must be one of"),
    ({"min_group_size": 0}, "min_group_size must be a whole number"),
])
def test_bad_settings_name_the_parameter(biased_and_fixed, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare(list(biased_and_fixed), **kwargs)
    with pytest.raises(ValueError, match="names must be distinct"):
        compare([biased_and_fixed[0], biased_and_fixed[0]])
    with pytest.raises(ValueError, match="at least two"):
        compare([biased_and_fixed[0]])


def test_comparison_json_is_strict(biased_and_fixed):
    import json

    doc = compare(list(biased_and_fixed), n_boot=20).to_dict()
    text = json.dumps(doc, allow_nan=False)
    assert doc["baseline"] == "biased" and doc["n"] == 3000 and doc["same_data"] is True
    assert {c["name"] for c in doc["candidates"]} == {"biased", "fixed"} and "NaN" not in text
    assert doc["verdicts"][0]["candidate"] == "fixed" and math.isfinite(doc["verdicts"][0]["difference"])
    assert pd.DataFrame(doc["deltas"]).shape[0] == len(compare(list(biased_and_fixed), n_boot=20).deltas)


def test_significant_differences_are_ranked_by_the_bound_nearest_zero():
    """A large difference in a small group whose interval almost reaches zero ranks below a smaller, precise one."""
    from evalkit.compare import Comparison

    deltas = pd.DataFrame([
        {"candidate": "c", "feature": "g", "group": "tiny", "metric": "recall", "n": 40, "difference": -0.30,
         "ci_low": -0.58, "ci_high": -0.02, "significant": True, "better": False, "small": False},
        {"candidate": "c", "feature": "g", "group": "big", "metric": "recall", "n": 9000, "difference": -0.10,
         "ci_low": -0.13, "ci_high": -0.07, "significant": True, "better": False, "small": False},
        {"candidate": "c", "feature": "g", "group": "up", "metric": "fpr", "n": 500, "difference": 0.05,
         "ci_low": 0.01, "ci_high": 0.09, "significant": True, "better": False, "small": False},
        {"candidate": "c", "feature": "g", "group": "none", "metric": "recall", "n": 900, "difference": -0.5,
         "ci_low": -0.9, "ci_high": 0.1, "significant": False, "better": False, "small": False},
    ])
    cmp = Comparison(candidates=[], baseline="b", samples=pd.DataFrame(), same_data=True,
                     leaderboard=pd.DataFrame(), deltas=deltas, tests=pd.DataFrame())
    assert list(cmp.significant("c")["group"]) == ["big", "tiny", "up"]  # bounds 0.07, 0.02, 0.01


@pytest.mark.parametrize("ranking", ["sorted", "hashed", "hashed, radix"])
def test_per_group_tests_equal_the_tests_on_each_group_alone(ranking, monkeypatch):
    """Issue 19: McNemar and flip rates from counts per cell, DeLong from one ranking per model and every group's
    placement values at once: every number equals the same test run on the group's own samples (the former
    per-group path), counts exactly and DeLong to 1e-9 (the sums are taken in another order), for three
    candidates, 3 features and their intersections, with tied scores.

    ``sorted``: every model sorted (few samples). ``hashed``: the tied scores ranked by hashing, as at scale, so
    the candidate with distinct scores is placed in its own score order and the baseline's table read in that
    order; ``radix``: the groups found by a radix sort of their codes rather than a scan."""
    from evalkit.compare._stats import _Groups, _tests
    from evalkit.stats import _significance, flip_rate, mcnemar

    if ranking != "sorted":
        monkeypatch.setattr(_significance, "_TIE_PROBE", 2048)  # scores with ~1,000 values are hashed at n = 6,000
    if ranking == "hashed, radix":
        monkeypatch.setattr(_significance, "_SCAN_GROUPS", 2)
    rng = np.random.default_rng(4)
    n = 6000
    y = rng.random(n) < 0.3
    base = np.round(np.clip(0.35 * y + 0.6 * rng.random(n), 0, 1), 3)
    scores = {"base": base, "b": np.clip(base + rng.normal(0, 0.05, n), 0, 1),
              "c": np.round(np.clip(base + rng.normal(0, 0.2, n), 0, 1), 2)}
    samples = pd.DataFrame({"group:sex": rng.choice(["F", "M"], n), "group:age": rng.choice(["<30", "30+", "65+"], n),
                            "group:site": rng.choice(list("abcd"), n, p=[0.5, 0.3, 0.19, 0.01])})
    groups = _Groups.of(samples, True)
    thresholds = {"base": 0.5, "b": 0.45, "c": 0.5}
    ranked = {name: _significance.SortedScores(y, score) for name, score in scores.items()}
    assert [r.sample_rank is not None for r in ranked.values()] == [ranking != "sorted", False, ranking != "sorted"]
    got = _tests(y, scores, thresholds, groups, "base", 0.95)
    expected = []
    for name in ("b", "c"):
        for k, (feature, group) in enumerate(groups.index):
            rows = np.ones(n, bool) if feature == "overall" else groups.mask(k)
            yk, a, b = y[rows], scores[name][rows], base[rows]
            pa, pb = a >= thresholds[name], b >= 0.5
            mc, dl, fl = mcnemar(yk, pa, pb), delong(yk.astype(int), a, b), flip_rate(pa, pb)
            expected.append({"candidate": name, "feature": feature, "group": group, "n": int(rows.sum()),
                             "mcnemar_b": mc["b"], "mcnemar_c": mc["c"], "mcnemar_p": mc["p_value"],
                             "auc_candidate": dl["auc_a"], "auc_baseline": dl["auc_b"],
                             "delong_difference": dl["difference"], "delong_ci_low": dl["ci_low"],
                             "delong_ci_high": dl["ci_high"], "delong_p": dl["p_value"], "flips": fl["flips"],
                             "flip_rate": fl["rate"], "flip_ci_low": fl["ci_low"], "flip_ci_high": fl["ci_high"]})
    assert len(got) == 2 * len(groups.index) == 2 * (1 + 2 + 3 + 4 + 6 + 8 + 12 + 24)
    pd.testing.assert_frame_equal(got, pd.DataFrame(expected), check_exact=False, rtol=1e-9, atol=1e-15)


def test_evaluation_settings_without_data_are_refused_before_anything_runs():
    from evalkit.compare import run_compare
    from evalkit.settings import EvaluationSettings

    with pytest.raises(ValueError, match="settings apply only with data .*reports are compared with the settings "
                                         "they were made with"):
        run_compare(["adult-logreg", "adult-hgb"], settings=EvaluationSettings(threshold=0.3))
