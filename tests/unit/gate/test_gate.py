"""Policy files and interval verdicts (evalkit/gate/_policy.py)."""

from __future__ import annotations

import math

import pytest

from evalkit.exceptions import ConfigError
from evalkit.gate import (
    Evidence,
    Requirement,
    combine,
    judge,
    load_policy,
    requirement_table,
    sample_size_to_decide,
)
from tests.conftest import ROOT

SHIPPED = ROOT / "configs" / "gates.yaml"


def _write(tmp_path, text: str):
    path = tmp_path / "gates.yaml"
    path.write_text(text)
    return path


def test_shipped_policy_loads():
    policy = load_policy(SHIPPED, features=["sex", "race", "age_band"])
    assert policy.name == "adult-default"
    assert [r.check for r in policy.requirements] == ["metric", "metric", "disparity", "fitting_gap",
                                                      "robustness_drop", "robustness_flips", "attack_success",
                                                      "non_inferiority"]
    assert policy.train_data == (ROOT / "data_manifests" / "adult_train.yaml").resolve()
    assert policy.corner_cases.name == "adult_corner_cases.yaml"
    assert len(policy.sha256) == 64
    vs = policy.requirements[-1]
    assert (vs.direction, vs.bound) == ("min", -0.01)


@pytest.mark.parametrize("body, key, message", [
    ("requirements: []", "requirements", "non-empty list"),
    ("requirements:\n  - {check: speed, min: 1}", r"requirements\[0\]\.check", "unknown check 'speed'"),
    ("requirements:\n  - {check: metric, metric: auc, min: 0.8}", r"requirements\[0\]\.metric", "'auc' is not one of"),
    ("requirements:\n  - {check: metric, metric: roc_auc}", r"requirements\[0\]", "exactly one bound"),
    ("requirements:\n  - {check: metric, metric: roc_auc, min: 0.8, max: 0.9}", r"requirements\[0\]", "exactly one"),
    ("requirements:\n  - {check: metric, metric: roc_auc, min: high}", r"requirements\[0\]\.min", "finite number"),
    ("requirements:\n  - {check: disparity, metric: fpr, max: 0.1}", r"requirements\[0\]", "names its 'feature'"),
    ("requirements:\n  - {check: disparity, metric: fpr, feature: gender, max: 0.1}", r"requirements\[0\]\.feature",
     "'gender' is not a sensitive feature"),
    ("requirements:\n  - {check: metric, metric: roc_auc, min: 0.8, colour: red}", r"requirements\[0\]\.colour",
     r"unknown key\(s\) \['colour'\]"),
    ("requirements:\n  - {check: robustness_drop, metric: accuracy, perturbation: fire, strength: 1, max: 0.1}",
     r"requirements\[0\]\.perturbation", "unknown perturbation 'fire'"),
    ("requirements:\n  - {check: robustness_drop, metric: roc_auc, perturbation: missing, strength: 1, max: 0.1}",
     r"requirements\[0\]\.metric", "'roc_auc' is not one of"),
    ("requirements:\n  - {check: robustness_flips, perturbation: missing, strength: 0, max: 0.1}",
     r"requirements\[0\]\.strength", "must be > 0"),
    ("requirements:\n  - {check: non_inferiority, metric: roc_auc, margin: -1}", r"requirements\[0\]\.margin", ">= 0"),
    ("requirements:\n  - {check: non_inferiority, metric: roc_auc}", r"requirements\[0\]", "missing 'margin'"),
    ("requirements:\n  - {check: metric, metric: roc_auc, min: 0.8}\n  - {check: metric, metric: roc_auc, min: 0.9}",
     "requirements", "names must be unique"),
    ("requirements:\n  - {check: fitting_gap, metric: roc_auc, max: 0.03}", "train_data", "needs train_data"),
    ("requirements:\n  - {check: attack_success, max: 0.3}", "settings", "adversarial_budget"),
    ("requirements:\n  - {check: apcer, max: 0.1}", "attack_data", "attack_column"),
    ("settings: {n_boot: lots}\nrequirements:\n  - {check: metric, metric: roc_auc, min: 0.8}", r"settings\.n_boot",
     "expected an integer, found str 'lots'"),
    ("settings: {robustness_suite: some}\nrequirements:\n  - {check: metric, metric: roc_auc, min: 0.8}",
     r"settings\.robustness_suite", "'full'"),
    ("train_data: missing.yaml\nrequirements:\n  - {check: metric, metric: roc_auc, min: 0.8}", "train_data",
     "not found"),
    ("polcy: x\nrequirements:\n  - {check: metric, metric: roc_auc, min: 0.8}", None, r"unknown key\(s\) \['polcy'\]"),
])
def test_invalid_policies_name_file_and_key(tmp_path, body, key, message):
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as info:
        load_policy(path, features=["sex", "race"])
    assert str(path) in str(info.value)
    if key:
        assert info.value.key is not None and __import__("re").fullmatch(key, info.value.key)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(_write(tmp_path, "requirements: [\n"))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_policy(_write(tmp_path, "- 1\n- 2\n"))


def _req(direction="min", bound=0.8, check="metric"):
    return Requirement(name="r", check=check, bound=bound, direction=direction, metric="roc_auc")


@pytest.mark.parametrize("direction, est, low, high, decision", [
    ("min", 0.90, 0.85, 0.95, "pass"),
    ("min", 0.90, 0.80, 0.95, "pass"),        # touching the bound from above still meets "at least"
    ("min", 0.70, 0.65, 0.75, "fail"),
    ("min", 0.82, 0.78, 0.86, "inconclusive"),
    ("min", 0.78, 0.74, 0.82, "inconclusive"),
    ("max", 0.70, 0.65, 0.75, "pass"),
    ("max", 0.90, 0.85, 0.95, "fail"),
    ("max", 0.79, 0.75, 0.83, "inconclusive"),
    ("min", math.nan, math.nan, math.nan, "inconclusive"),
    ("min", 0.9, math.nan, math.nan, "inconclusive"),
])
def test_judge_on_the_interval(direction, est, low, high, decision):
    assert judge(_req(direction), Evidence(est, low, high, 1000))["decision"] == decision


def test_sample_size_to_decide_by_hand():
    # estimate 0.82, bound 0.80: the lower half-width 0.04 must shrink to 0.02 -> (0.04/0.02)^2 = 4x the rows
    assert sample_size_to_decide(0.82, 0.78, 0.86, 0.80, 1000) == 4000
    # estimate below the bound: the upper half-width 0.03 must shrink to 0.01 -> 9x
    assert sample_size_to_decide(0.79, 0.75, 0.82, 0.80, 500) == 4500
    assert sample_size_to_decide(0.80, 0.75, 0.85, 0.80, 500) is None
    v = judge(_req(), Evidence(0.80, 0.75, 0.85, 500))
    assert v["decision"] == "inconclusive" and v["n_to_decide"] is None and "no sample size decides" in v["note"]


def test_combine_and_requirement_table():
    verdicts = [judge(_req(), Evidence(0.9, 0.85, 0.95, 100, "a")),
                judge(_req(), Evidence(0.7, 0.6, 0.75, 100, "b")),
                judge(Requirement("s", "metric", 0.5, "min", "recall"), Evidence(0.55, 0.45, 0.65, 100))]
    assert combine(verdicts) == "fail"
    assert combine(verdicts[2:]) == "inconclusive"
    assert combine(verdicts[:1]) == "pass"
    assert combine([]) == "inconclusive"
    table = requirement_table(verdicts)
    assert list(table.requirement) == ["r", "s"]  # failed first
    assert table.iloc[0].subject == "b" and table.iloc[0].judged == 2
    assert table.iloc[1].n_to_decide == 400  # lower half-width 0.10 against a gap of 0.05: 4x the 100 rows


def test_text_describes_each_check():
    policy = load_policy(SHIPPED)
    texts = [r.text() for r in policy.requirements]
    assert texts[0] == "roc_auc ≥ 0.85 overall"
    assert texts[1] == "recall ≥ 0.4 in every group of sex"
    assert "decisions flipped by gaussian_noise (strength 0.25) ≤ 0.15" in texts
    assert texts[-1] == "roc_auc not worse than the staging model by more than 0.01"
