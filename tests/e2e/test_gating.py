"""The gate pipeline, promotion and rollback against a real MLflow registry in a temporary SQLite store
(evalkit/gate/_pipeline.py, evalkit/gate/_promotion.py): real notebooks, real pyfunc loading, real aliases."""

from __future__ import annotations

import json
import shutil

import pytest

from evalkit import tracking
from evalkit.models import register_model
from evalkit.exceptions import ConfigError, ReportError
from evalkit.gate import DECISION_TAG, run_gate
from evalkit.models import load_estimator, resolve_model
from evalkit.gate import PROMOTION_EXPERIMENT, PromotionError, promote, rollback
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
NAME = "income-model"
REQUIREMENTS = """requirements:
  - {name: auc, check: metric, metric: roc_auc, min: 0.85}
  - {name: recall-every-sex, check: metric, metric: recall, scope: groups, feature: sex, min: 0.4}
  - {name: flips, check: robustness_flips, perturbation: gaussian_noise, strength: 0.25, max: 0.15}
  - {name: vs-staging, check: non_inferiority, metric: roc_auc, margin: 0.01}
"""


def _policy(folder, corner=None, requirements=REQUIREMENTS, n_boot=100):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gates.yaml"
    corner = corner or ROOT / "data_manifests" / "adult_corner_cases.yaml"
    path.write_text(f"policy: e2e\ncorner_cases: {corner}\nsettings: {{n_boot: {n_boot}, robustness_suite: policy}}\n"
                    + requirements)
    return path


def _register(flawed_models, adult, kind, tmp_path):
    model = load_estimator(resolve_model(str(flawed_models[kind])))
    return register_model(model, NAME, adult[0], path=tmp_path / f"{kind}.skops", experiment="e2e-training")


def _gate(version, policy, tmp_path, **kwargs):
    return run_gate(f"models:/{NAME}/{version}", policy=policy, output_root=tmp_path / "reports", progress=False,
                    **kwargs)


def test_gate_promote_block_promote_again_and_roll_back(mlflow_store, flawed_models, adult, tmp_path):
    policy = _policy(tmp_path / "configs")
    v1 = _register(flawed_models, adult, "sound", tmp_path)
    run = _gate(v1, policy, tmp_path)
    assert run.decision == "pass"
    for name in ("gate.html", "gate.json", "corner_cases.csv", "gate.ipynb"):
        assert (run.output_dir / name).is_file()
    record = json.loads((run.output_dir / "gate.json").read_text())
    assert record["model"]["version"] == v1 and record["staging"] is None
    tags = tracking.version_tags(NAME, v1)
    assert tags[DECISION_TAG] == "pass" and tags["evalkit.gate.run_id"] == run.run_id
    gate_run = tracking.get_run(run.run_id)
    assert gate_run.info.status == "FINISHED" and gate_run.data.tags[DECISION_TAG] == "pass"
    assert gate_run.data.metrics["gate/pass"] == 1.0
    artifacts = {a.path for a in tracking.client().list_artifacts(run.run_id, "gate")}
    assert {"gate/gate.html", "gate/gate.json", "gate/corner_cases.csv", "gate/gates.yaml"} <= artifacts

    # A pass counts only under the very policy file it was judged by, and only while that file is valid.
    text = policy.read_text()
    policy.write_text(text.replace("min: 0.85", "min: 0.8"))
    with pytest.raises(PromotionError, match="passed the gate under another policy"):
        promote(NAME, policy=policy)
    policy.write_text(text.replace("check: metric, metric: roc_auc", "check: metric, metric: auc"))
    with pytest.raises(ConfigError, match="'auc' is not one of"):
        promote(NAME, policy=policy)
    assert tracking.alias_version(NAME) is None
    policy.write_text(text)

    first = promote(NAME, policy=policy)
    assert first.action == "promoted" and tracking.alias_version(NAME) == v1
    assert "628 corner cases" in first.detail and "max |difference| 0" in first.detail
    assert tracking.version_tags(NAME, v1)["evalkit.status"] == "staging"

    # A model unfair to women fails the gate and cannot be promoted; staging stays where it was.
    v2 = _register(flawed_models, adult, "biased", tmp_path)
    blocked = _gate(v2, policy, tmp_path)
    assert blocked.decision == "fail"
    assert blocked.record["staging"]["version"] == v1  # compared with the model in staging
    with pytest.raises(PromotionError, match=f"version {v2}: the latest gate decision is 'fail'"):
        promote(f"models:/{NAME}/{v2}", policy=policy)
    assert tracking.alias_version(NAME) == v1

    # A sound retrain passes (non-inferior to v1) and replaces it; rollback restores v1.
    v3 = _register(flawed_models, adult, "sound", tmp_path)
    assert _gate(v3, policy, tmp_path).decision == "pass"
    second = promote(NAME, policy=policy)
    assert (second.version, tracking.alias_version(NAME)) == (v3, v3)
    assert tracking.version_tags(NAME, v3)["evalkit.previous_staging"] == v1
    back = rollback(NAME, reason="latency regression seen in canary")
    assert (back.version, back.staging, tracking.alias_version(NAME)) == (v3, v1, v1)
    tags = tracking.version_tags(NAME, v3)
    assert tags["evalkit.status"] == "returned_to_lab"
    assert tags["evalkit.returned_reason"] == "latency regression seen in canary"
    runs = tracking.client().search_runs([tracking.experiment_id(PROMOTION_EXPERIMENT)],
                                         order_by=["attributes.start_time ASC"])
    assert [(r.data.params["action"], r.data.params["version"], r.info.status) for r in runs] == [
        ("promote", v1, "FINISHED"), ("promote", v3, "FINISHED"), ("rollback", v3, "FINISHED")]
    # Rolling back v1 too leaves no model in staging (v3 was returned to the lab: never restored).
    assert rollback(NAME).staging is None and tracking.alias_version(NAME) is None
    with pytest.raises(PromotionError, match="nothing to roll back"):
        rollback(NAME)


def test_failed_end_to_end_check_rolls_the_alias_back(mlflow_store, flawed_models, adult, tmp_path, monkeypatch):
    # The corner-case set lives in a private copy that changes between the gate and the promotion.
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(tmp_path))
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "adult_corner_cases", data / "adult_corner_cases")
    (tmp_path / "data_manifests").mkdir()
    manifest = tmp_path / "data_manifests" / "corner.yaml"
    manifest.write_text((ROOT / "data_manifests" / "adult_corner_cases.yaml").read_text())
    policy = _policy(tmp_path / "configs", corner=manifest)
    v1 = _register(flawed_models, adult, "sound", tmp_path)
    assert _gate(v1, policy, tmp_path).decision == "pass"
    csv = data / "adult_corner_cases" / "adult_corner_cases.csv"
    csv.write_bytes(csv.read_bytes() + b"\n")
    with pytest.raises(PromotionError, match="promoted and rolled back to no staging model") as info:
        promote(NAME, policy=policy)
    assert "size is" in str(info.value) or "sha256" in str(info.value)
    assert tracking.alias_version(NAME) is None
    tags = tracking.version_tags(NAME, v1)
    assert tags["evalkit.status"] == "returned_to_lab" and "end-to-end check" in tags["evalkit.returned_reason"]
    (run,) = tracking.client().search_runs([tracking.experiment_id(PROMOTION_EXPERIMENT)])
    assert run.info.status == "FAILED" and run.data.params["result"] == "rolled_back"


def test_nothing_is_promoted_without_a_current_pass(mlflow_store, flawed_models, adult, tmp_path):
    policy = _policy(tmp_path / "configs")
    v1 = _register(flawed_models, adult, "sound", tmp_path)
    with pytest.raises(PromotionError, match="has no gate decision"):
        promote(NAME, policy=policy)
    # Inconclusive: a bound inside the interval of the model's ROC AUC.
    unsure = _policy(tmp_path / "unsure", requirements="requirements:\n"
                                                       "  - {name: auc, check: metric, metric: roc_auc, min: 0.904}\n")
    assert _gate(v1, unsure, tmp_path).decision == "inconclusive"
    with pytest.raises(PromotionError, match="latest gate decision is 'inconclusive'"):
        promote(NAME, policy=unsure)
    # A gate run that errors (a cell over its time limit) records "error", replacing any earlier decision: 10^6
    # bootstrap resamples take minutes on any machine, the limit stops them after 1 s.
    with pytest.raises(ReportError, match="time limit of 1 s"):
        _gate(v1, _policy(tmp_path / "slow", n_boot=1_000_000), tmp_path, timeout=1)
    assert tracking.version_tags(NAME, v1)[DECISION_TAG] == "error"
    with pytest.raises(PromotionError, match="latest gate decision is 'error'"):
        promote(NAME, policy=policy)
    assert tracking.alias_version(NAME) is None
    failed = [r for r in tracking.client().search_runs([tracking.experiment_id("evalkit-gate")])
              if r.info.status != "FINISHED"]
    assert [r.info.status for r in failed] == ["FAILED"]


def test_invalid_policy_starts_nothing(mlflow_store, flawed_models, adult, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("requirements:\n  - {check: metric, metric: roc_auc}\n")
    v1 = _register(flawed_models, adult, "sound", tmp_path)
    with pytest.raises(ConfigError, match="exactly one bound"):
        _gate(v1, bad, tmp_path)
    assert tracking.client().get_experiment_by_name("evalkit-gate") is None
    assert DECISION_TAG not in tracking.version_tags(NAME, v1)
    assert not (tmp_path / "reports").exists()


@pytest.mark.browser
def test_cli_gate_of_a_skops_file_exits_3_on_fail_and_the_report_shows_why(mlflow_store, flawed_models, tmp_path,
                                                                             capsys):
    from evalkit.cli import main
    from tests.browser.test_browser import check_contents_links, open_report

    policy = _policy(tmp_path / "configs")
    code = main(["gate", "--model", str(flawed_models["biased"]), "--policy", str(policy), "--output-root",
                 str(tmp_path / "reports"), "--no-tracking", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "gate decision: FAIL" in out
    assert "the gate did not pass (fail): recall-every-sex; nothing may be promoted" in err
    assert tracking.client().get_experiment_by_name("evalkit-gate") is None  # --no-tracking
    html = tmp_path / "reports" / "biased" / "gate" / "gate.html"
    state, requests, errors = open_report(html, tmp_path / "gate.png")
    assert "Promotion gate: FAIL" in state["text"] and "sex=Female" in state["text"] and "Every verdict" in state["text"]
    assert state["broken"] == 0 and state["code"] == 0 and state["images"] >= 1
    assert errors == [] and [u for u in requests if not u.startswith(("file://", "data:"))] == []
    assert check_contents_links(html) == []  # the gate report's table of contents lands on every section
    assert main(["promote", "--model", str(flawed_models["biased"])]) == 1
    assert "only registered models can be promoted" in capsys.readouterr().err


def test_cli_promote_and_rollback_errors_exit_1(mlflow_store, flawed_models, adult, tmp_path, capsys):
    from evalkit.cli import main

    _register(flawed_models, adult, "sound", tmp_path)
    assert main(["promote", "--model", "no-such-model"]) == 1
    assert "no registered model named 'no-such-model'" in capsys.readouterr().err
    assert main(["rollback", "--model", NAME]) == 1
    assert f"no version of {NAME} holds the staging alias: nothing to roll back" in capsys.readouterr().err
    assert main(["promote", "--model", NAME, "--policy", str(tmp_path / "missing.yaml")]) == 1
    assert "policy file not found" in capsys.readouterr().err


def test_latency_and_memory_budgets_are_judged_on_a_served_replica(mlflow_store, flawed_models, adult, tmp_path):
    budgets = REQUIREMENTS + ("  - {name: p95, check: latency, percentile: 95, max: 5000}\n"
                              "  - {name: rss, check: memory, max: 100000}\n")
    policy = _policy(tmp_path / "configs", requirements=budgets)
    policy.write_text(policy.read_text().replace("robustness_suite: policy", "robustness_suite: policy, "
                                                                           "replica_requests: 30"))
    v1 = _register(flawed_models, adult, "sound", tmp_path)
    run = _gate(v1, policy, tmp_path)
    assert run.decision == "pass"
    served = run.record["evidence"]["served_replica"]
    assert served["model_uri"] == f"models:/{NAME}/{v1}" and "latencies_ms" not in served["load"][0]
    p95 = [v for v in run.record["verdicts"] if v["requirement"] == "p95"][0]
    assert p95["subject"] == "served, concurrency 1" and p95["ci_low"] <= p95["estimate"] <= p95["ci_high"]
    promoted = promote(NAME, policy=policy)
    assert "served replica within its budgets" in promoted.detail
    runs = tracking.client().search_runs([tracking.experiment_id(PROMOTION_EXPERIMENT)])
    assert runs[0].data.metrics["stage/c1_p95_ms"] > 0


def test_bin_evalkit_gives_the_gates_own_exit_codes(mlflow_store, flawed_models, tmp_path):
    """make turns every failing recipe into 2; bin/evalkit is the front door that keeps 0/1/2/3."""
    import os
    import subprocess

    front = ROOT / "bin" / "evalkit"
    policy = _policy(tmp_path / "configs", requirements="requirements:\n"
                     "  - {name: auc, check: metric, metric: roc_auc, min: 0.99}\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.tracking_uri()}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(front), *args], capture_output=True, text=True, env=env, cwd=tmp_path)

    gate = run("gate", "--model", str(flawed_models["sound"]), "--policy", str(policy), "--no-tracking",
               "--no-progress", "--output-root", str(tmp_path / "reports"))
    assert gate.returncode == 3, gate.stderr  # roc_auc ~0.90 < 0.99: fail
    assert "gate decision: FAIL" in gate.stdout
    assert run("report", "--model", "no-such-model", "--no-progress").returncode == 1
    usage = run("report", "--model", "adult-logreg", "--no-such-flag")
    assert usage.returncode == 2 and "unrecognized arguments: --no-such-flag" in usage.stderr


def test_a_gate_decision_reproduces_and_promotion_can_require_it(mlflow_store, flawed_models, adult, tmp_path):
    """Issue 21: the gate run is replayed against the staging model it recorded (none), even after the alias
    moved to the judged version itself; the version's decision is not replaced; promotion can require it."""
    from evalkit.gate import REPRODUCED_TAG
    from evalkit.reproduce import REPRODUCES_TAG, reproduce

    policy = _policy(tmp_path / "configs")
    v1 = _register(flawed_models, adult, "sound", tmp_path)
    run = _gate(v1, policy, tmp_path)
    assert run.decision == "pass"
    with pytest.raises(PromotionError, match=rf"its gate run {run.run_id} has not been reproduced identically; "
                                             rf"run 'make reproduce RUN={run.run_id}' first"):
        promote(NAME, policy=policy, require_reproduced=True)
    assert promote(NAME, policy=policy).action == "promoted"  # staging is v1 now
    result = reproduce(run.run_id, output_root=tmp_path / "again", progress=False)
    assert result.verdict == "identical", result.differences
    assert result.settings["staging"] == "none" and "decided_at" in result.expected_differences
    record = json.loads((tmp_path / "again" / "income-model" / "gate" / "gate.json").read_text())
    assert record["decision"] == "pass" and record["staging"] is None
    tags = tracking.version_tags(NAME, v1)
    assert tags[REPRODUCED_TAG] == run.run_id and tags["evalkit.gate.run_id"] == run.run_id  # decision kept
    assert tags["evalkit.gate.reproduction"] == f"identical (run {result.new_run_id})"
    assert tracking.get_run(result.new_run_id).data.tags[REPRODUCES_TAG] == run.run_id
    assert promote(NAME, policy=policy, require_reproduced=True).action == "unchanged"
