"""The gate's evidence and verdicts on deliberately flawed models (evalkit/gate/_evidence.py).

Each check must catch the model built to fail it, and the sound model must pass every check.
"""

from __future__ import annotations

import json

import pytest

from evalkit.gate import run_checks
from tests.conftest import ADULT_TEST, ROOT

TRAIN = "../data_manifests/adult_train.yaml"
CORNER = "../data_manifests/adult_corner_cases.yaml"


def _policy(tmp_path, requirements: str, *, settings: str = "n_boot: 200", extra: str = ""):
    folder = tmp_path / "configs"
    folder.mkdir(exist_ok=True)
    path = folder / "gates.yaml"
    # manifests are resolved against the policy's folder: point back at the project's
    body = extra.replace("../data_manifests", str(ROOT / "data_manifests"))
    path.write_text(f"policy: test\n{body}\nsettings: {{{settings}, robustness_suite: policy}}\n"
                    f"requirements:\n{requirements}")
    return path


def _decisions(result):
    return {r.requirement: r.decision for r in result.requirements().itertuples()}


def test_the_overfitted_model_fails_the_fitting_check(tmp_path, flawed_models):
    policy = _policy(tmp_path, "  - {name: gap, check: fitting_gap, metric: roc_auc, max: 0.03}\n",
                     extra=f"train_data: {TRAIN}")
    over = run_checks(str(flawed_models["overfitted"]), ADULT_TEST, policy)
    sound = run_checks(str(flawed_models["sound"]), ADULT_TEST, policy)
    assert _decisions(over) == {"gap": "fail"} and over.decision == "fail"
    assert _decisions(sound) == {"gap": "pass"} and sound.decision == "pass"
    assert over.learning_curve is not None and len(over.learning_curve) == 4


def test_the_brittle_model_fails_the_robustness_checks(tmp_path, flawed_models):
    policy = _policy(tmp_path, "  - {name: drop, check: robustness_drop, metric: accuracy, perturbation: gaussian_noise,"
                               " strength: 0.25, max: 0.03}\n"
                               "  - {name: flips, check: robustness_flips, perturbation: gaussian_noise, strength: 0.25,"
                               " max: 0.1}\n")
    brittle = run_checks(str(flawed_models["brittle"]), ADULT_TEST, policy)
    sound = run_checks(str(flawed_models["sound"]), ADULT_TEST, policy)
    assert _decisions(brittle) == {"drop": "fail", "flips": "fail"}
    assert _decisions(sound) == {"drop": "pass", "flips": "pass"}
    # better on clean data than the sound model: only the robustness checks expose it
    assert brittle.evaluation.overall["roc_auc"] > sound.evaluation.overall["roc_auc"]


def test_the_biased_model_fails_the_group_checks(tmp_path, flawed_models):
    policy = _policy(tmp_path, "  - {name: recall, check: metric, metric: recall, scope: groups, feature: sex, min: 0.4}\n"
                               "  - {name: gap, check: disparity, metric: recall, feature: sex, max: 0.15}\n"
                               "  - {name: auc, check: metric, metric: roc_auc, min: 0.85}\n")
    biased = run_checks(str(flawed_models["biased"]), ADULT_TEST, policy)
    sound = run_checks(str(flawed_models["sound"]), ADULT_TEST, policy)
    assert _decisions(biased) == {"recall": "fail", "gap": "fail", "auc": "pass"}  # good overall, unfair to women
    failing = [v for v in biased.verdicts if v["requirement"] == "recall" and v["decision"] == "fail"]
    assert [v["subject"] for v in failing] == ["sex=Female"]
    assert _decisions(sound) == {"recall": "pass", "gap": "pass", "auc": "pass"}


def test_too_little_data_is_inconclusive_with_the_sample_size_that_would_decide(tmp_path, flawed_models):
    # The sound model's ROC AUC is 0.905 [0.900, 0.909]: a bound inside its interval cannot be decided.
    policy = _policy(tmp_path, "  - {name: auc, check: metric, metric: roc_auc, min: 0.904}\n")
    result = run_checks(str(flawed_models["sound"]), ADULT_TEST, policy)
    (verdict,) = result.verdicts
    assert result.decision == "inconclusive" and verdict["decision"] == "inconclusive"
    assert verdict["n_to_decide"] > len(result.evaluation.data)


def test_the_sound_model_passes_the_shipped_policy_and_the_record_is_complete(flawed_models):
    result = run_checks(str(flawed_models["sound"]), ADULT_TEST, ROOT / "configs" / "gates.yaml", n_boot=200)
    assert result.decision == "pass", result.requirements()[["requirement", "decision", "estimate", "ci_low",
                                                             "ci_high"]]
    record = json.loads(json.dumps(result.record()))  # JSON-safe
    assert record["decision"] == "pass" and record["kind"] == "evalkit.gate"
    assert record["model"]["sha256"] == result.evaluation.model.sha256
    assert record["data"]["sha256"] == result.evaluation.data.manifest.sha256
    assert record["policy"]["sha256"] == result.policy.sha256 and record["policy"]["content"]["policy"] == "adult-default"
    assert record["train_data"]["name"] == "adult_train" and record["corner_cases"]["name"] == "adult_corner_cases"
    assert {r["requirement"] for r in record["requirements"]} == {r.name for r in result.policy.requirements}
    assert record["evidence"]["adversarial"]["attacked"] == 20
    assert len(result.corner_cases) == 628 and result.corner_cases.score.between(0, 1).all()
    vs = [v for v in record["verdicts"] if v["requirement"] == "vs-staging"][0]
    assert vs["decision"] == "pass" and "nothing to compare with" in vs["note"]


def test_non_inferiority_against_the_staging_model(tmp_path, flawed_models):
    policy = _policy(tmp_path, "  - {name: vs, check: non_inferiority, metric: roc_auc, margin: 0.01}\n")
    same = run_checks(str(flawed_models["sound"]), ADULT_TEST, policy, staging=str(flawed_models["sound"]))
    assert same.non_inferiority[0]["difference"] == 0 and same.decision == "pass"
    worse = run_checks(str(flawed_models["overfitted"]), ADULT_TEST, policy, staging=str(flawed_models["sound"]))
    assert worse.decision == "fail"
    assert worse.non_inferiority[0]["ci_high"] < -0.01


def test_every_non_inferiority_requirement_keeps_its_comparison(tmp_path, flawed_models):
    """Several non_inferiority requirements: each comparison is kept (the result, gate.json and the report)."""
    from evalkit.gate import non_inferiority

    policy = _policy(tmp_path, "  - {name: vs-auc, check: non_inferiority, metric: roc_auc, margin: 0.01}\n"
                               "  - {name: vs-recall, check: non_inferiority, metric: recall, margin: 0.02}\n"
                               "  - {name: vs-fpr, check: non_inferiority, metric: fpr, margin: 0.01}\n")
    result = run_checks(str(flawed_models["overfitted"]), ADULT_TEST, policy, staging=str(flawed_models["sound"]))
    assert [c["requirement"] for c in result.non_inferiority] == ["vs-auc", "vs-recall", "vs-fpr"]
    assert [c["metric"] for c in result.non_inferiority] == ["roc_auc", "recall", "fpr"]
    record = json.loads(json.dumps(result.record()))["evidence"]["non_inferiority"]
    assert [c["metric"] for c in record] == ["roc_auc", "recall", "fpr"]
    by_req = {v["requirement"]: v for v in result.verdicts}
    for c in result.non_inferiority:
        assert by_req[c["requirement"]]["estimate"] == c["difference"]
    shown = non_inferiority(result).data
    assert all(name in shown for name in ("vs-auc", "vs-recall", "vs-fpr"))


def test_no_staging_model_is_a_first_class_pass(tmp_path, flawed_models):
    policy = _policy(tmp_path, "  - {name: vs, check: non_inferiority, metric: roc_auc, margin: 0.01}\n")
    result = run_checks(str(flawed_models["sound"]), ADULT_TEST, policy)
    (v,) = [v for v in result.verdicts if v["requirement"] == "vs"]
    assert v["decision"] == "pass" and v["estimate"] is None and v["ci_low"] is None and v["n_to_decide"] is None
    assert v["note"] == "no model holds the staging alias: nothing to compare with" and v["subject"] == "vs staging"
    assert result.non_inferiority == []


def test_predictions_files_leave_model_checks_inconclusive(tmp_path, synthetic_dataset):
    manifest, predictions = synthetic_dataset
    policy = tmp_path / "p.yaml"
    policy.write_text("settings: {n_boot: 100}\nrequirements:\n"
                      "  - {name: flips, check: robustness_flips, perturbation: missing, strength: 0.1, max: 0.1}\n"
                      "  - {name: auc, check: metric, metric: roc_auc, min: 0.5}\n")
    result = run_checks(str(predictions), manifest, policy)
    d = {v["requirement"]: v for v in result.verdicts}
    assert d["auc"]["decision"] == "pass"
    assert d["flips"]["decision"] == "inconclusive" and "cannot score perturbed inputs" in d["flips"]["note"]
    assert result.decision == "inconclusive"


@pytest.mark.parametrize("bad", ["requirements:\n  - {check: metric, metric: roc_auc, min: 0.8, feature: nope,"
                                 " scope: groups}\n"])
def test_policy_features_are_checked_against_the_data(tmp_path, bad, flawed_models):
    from evalkit.exceptions import ConfigError

    path = tmp_path / "p.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError, match="'nope' is not a sensitive feature"):
        run_checks(str(flawed_models["sound"]), ADULT_TEST, path)


def test_the_image_policy_catches_spoofs_rotation_and_adversarial_pixels():
    """The shipped digits model is not ready: rotated scans, overlay attacks and small pixel changes get
    through. The shipped image policy must say so, requirement by requirement."""
    result = run_checks(str(ROOT / "data" / "digits" / "digits_logreg.skops"),
                        ROOT / "data_manifests" / "digits_images.yaml", ROOT / "configs" / "gates_digits.yaml",
                        n_boot=200)
    decisions = _decisions(result)
    assert decisions["auc"] == "pass"
    assert decisions["rotation"] == "fail" and decisions["spoofs"] == "fail" and decisions["adversarial"] == "fail"
    assert result.decision == "fail"
    spoofs = [v for v in result.verdicts if v["requirement"] == "spoofs"]
    assert {v["subject"] for v in spoofs} == {"print", "replay", "overlay"}
    assert [v["decision"] for v in spoofs if v["subject"] == "overlay"] == ["fail"]
    worst = {v["subject"]: v for v in result.verdicts if v["requirement"] == "worst-spoof-every-ink"}
    assert set(worst) == {"overall", "ink=heavy", "ink=light", "ink=medium"}
    rates = result.pad.rates.set_index(["feature", "group", "rate"]).sort_index()
    for subject, v in worst.items():
        key = ("overall", "all") if subject == "overall" else ("ink", subject.split("=")[1])
        row = rates.loc[(*key, "APCER_max")]
        assert (v["estimate"], v["ci_low"], v["ci_high"]) == (row.value, row.ci_low, row.ci_high)
        species = rates.loc[key].loc[lambda t: t.index.str.startswith("APCER:")]
        # the worst species' rate, with bounds wider than any one species' 95 % interval (Bonferroni)
        assert row.value == species.value.max()
        assert row.ci_low <= species.ci_low.max() and row.ci_high >= species.ci_high.max()
        expected = "pass" if row.ci_high <= 0.1 else "fail" if row.ci_low > 0.1 else "inconclusive"
        assert v["decision"] == expected
    # overlay attacks: 11 of 50 accepted; alone its 95 % interval excludes 0.1 (the 'spoofs' verdict fails), but
    # the maximum over three species cannot be told from 0.1 with 50 attacks each
    assert worst["overall"]["decision"] == "inconclusive" and worst["overall"]["estimate"] == 0.22
    # ISO/IEC 30107-3's BPCER10 and BPCER20 per group, in the report and its evidence
    from evalkit.gate import spoofing, spoofing_det

    page = spoofing(result).data
    assert "APCER_max" in page and "BPCER10 (threshold" in page and "BPCER20 (threshold" in page
    assert "ink=light" in page
    assert spoofing_det(result).axes[0].get_xlabel().startswith("APCER_max")
    assert {r["target"] for r in result.record()["evidence"]["spoofing_at_apcer"]} == {0.10, 0.05}
    assert result.adversarial.unit == "share of the pixel range"
    assert set(result.robustness.suite) == {"noise", "blur", "brightness", "rotation", "jpeg"}


def test_budgets_are_judged_on_the_served_measurements():
    from evalkit.gate import budget_evidence
    from evalkit.gate import Requirement, judge

    served = {"url": "http://127.0.0.1:1", "server_rss_mb": 420.0,
              "load": [{"concurrency": 1, "requests": 100, "latencies_ms": [10.0] * 80 + [30.0] * 20},
                       {"concurrency": 4, "requests": 100, "latencies_ms": [40.0] * 100}]}
    p95 = Requirement("p95", "latency", 20.0, "max", percentile=95, concurrency=1)
    v = judge(p95, budget_evidence(p95, served))
    assert v["decision"] == "fail" and v["estimate"] == 30.0 and v["subject"] == "served, concurrency 1"
    p50 = Requirement("p50", "latency", 20.0, "max", percentile=50, concurrency=1)
    assert judge(p50, budget_evidence(p50, served))["decision"] == "pass"
    c4 = Requirement("c4", "latency", 50.0, "max", percentile=99, concurrency=4)
    assert judge(c4, budget_evidence(c4, served))["estimate"] == 40.0
    memory = Requirement("rss", "memory", 400.0, "max")
    assert judge(memory, budget_evidence(memory, served))["decision"] == "fail"
    unserved = judge(memory, budget_evidence(memory, None))
    assert unserved["decision"] == "inconclusive" and "only a registered model can be served" in unserved["note"]


def test_verification_requirements_are_judged_on_subject_clustered_intervals(tmp_path, synthetic_dataset):
    """fnmr_at_fmr and fmr_inequity on the shipped verification demo (group B: higher FNMR; C: higher
    same-group FMR), judged per group on their intervals; an unsupported target stays inconclusive."""
    manifest, predictions = synthetic_dataset
    policy = tmp_path / "p.yaml"
    demo = ROOT / "data_manifests" / "verification_demo.yaml"
    policy.write_text(f"settings: {{n_boot: 200}}\nverification_data: {demo}\nrequirements:\n"
                      "  - {name: fnmr, check: fnmr_at_fmr, fmr: 0.001, feature: group, max: 0.03}\n"
                      "  - {name: fnmr-sex, check: fnmr_at_fmr, fmr: 0.001, feature: sex, max: 0.05}\n"
                      "  - {name: inequity, check: fmr_inequity, fmr: 0.001, feature: group, max: 2}\n"
                      "  - {name: deep, check: fnmr_at_fmr, fmr: 1.0e-7, max: 0.5}\n")
    result = run_checks(str(predictions), manifest, policy)
    by = {(v["requirement"], v["subject"]): v for v in result.verdicts}
    assert by[("fnmr", "group=B")]["decision"] == "fail" and by[("fnmr", "group=A")]["decision"] == "pass"
    assert by[("fnmr-sex", "sex=F")]["decision"] == "pass"
    assert by[("inequity", "group")]["decision"] == "fail" and by[("inequity", "group")]["ci_low"] > 2
    assert by[("deep", "overall")]["decision"] == "inconclusive"
    assert "needs 300,000,000 impostor comparisons" in by[("deep", "overall")]["note"]
    record = result.record()
    assert record["evidence"]["verification"]["at_threshold"]["0.001"]["groups"]["group"]["B"]["fnmr"] > 0.03


def test_verification_requirements_need_verification_data(tmp_path):
    from evalkit.exceptions import ConfigError
    from evalkit.gate import load_policy

    path = tmp_path / "p.yaml"
    path.write_text("requirements:\n  - {check: fnmr_at_fmr, fmr: 0.001, max: 0.03}\n")
    with pytest.raises(ConfigError, match="need verification_data"):
        load_policy(path)
    path.write_text("requirements:\n  - {check: fnmr_at_fmr, fmr: 2, max: 0.03}\n")
    with pytest.raises(ConfigError, match=r"key 'requirements\[0\]\.fmr': expected the target FMR"):
        load_policy(path)


def test_no_failing_slice_is_judged_on_the_slices_intervals(tmp_path):
    """On Adult the logistic model misses most high earners among the never-married and the less educated: a
    slice search on recall finds slices far worse than the rest, so a bound of 0.1 fails; a bound of 1 cannot
    be exceeded and passes."""
    policy = _policy(tmp_path, "  - {name: slices, check: no_failing_slice, metric: recall, max: 0.1}\n"
                               "  - {name: loose, check: no_failing_slice, metric: recall, max: 1.0}\n",
                     settings="n_boot: 0")
    result = run_checks("adult-logreg", ADULT_TEST, policy)
    verdicts = {v["requirement"]: v for v in result.verdicts}
    assert verdicts["slices"]["decision"] == "fail" and verdicts["loose"]["decision"] == "pass"
    assert verdicts["slices"]["ci_low"] > 0.1 and " = " in verdicts["slices"]["subject"]
    assert "slices significantly worse" in verdicts["slices"]["note"]
    # the evaluation searched the requirements' metric once, for both
    assert result.evaluation.slices.settings.metric == "recall"
    assert result.evaluation.slice_search("recall") is result.evaluation.slices


def test_a_policy_without_slice_requirements_searches_no_slices(tmp_path, flawed_models):
    """The slice search is evidence only for no_failing_slice; without one the gate does not run it."""
    policy = _policy(tmp_path, "  - {name: auc, check: metric, metric: roc_auc, min: 0.85}\n", settings="n_boot: 0")
    result = run_checks(str(flawed_models["sound"]), ADULT_TEST, policy)
    assert result.evaluation.slices is None and [v["requirement"] for v in result.verdicts] == ["auc"]
    assert result.evaluation.settings.slice_metric == "none"
