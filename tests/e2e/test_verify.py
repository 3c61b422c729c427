"""make verify end to end: the shipped demo through the real notebook, MLflow store and HTML
(evalkit/verification/_pipeline.py)."""

from __future__ import annotations

import json

import pytest

from evalkit import tracking
from tests.conftest import ROOT, evalkit_command

DEMO = ROOT / "data_manifests" / "verification_demo.yaml"


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    import os

    out = evalkit_command("verify", "--data", str(DEMO), "--system", "demo <sys>",
                          "--n-boot", "200", "--fmr-targets", "1e-3,1e-4,1e-7", "--output-root", str(folder / "r"),
                          "--no-progress", cwd=ROOT, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr[-3000:]
    return folder, env, out


def test_report_metrics_and_run(verified, monkeypatch):
    folder, env, out = verified
    report = folder / "r" / "verify" / "verification_demo"
    html = (report / "report.html").read_text()
    assert "Thresholds, set once for everyone" in html and "demo &lt;sys&gt;" in html and "<sys>" not in html
    doc = json.loads((report / "metrics.json").read_text())["verification"]
    assert [t["supported"] for t in doc["thresholds"]] == [True, True, False]
    assert "needs 300,000,000 impostor comparisons" in doc["thresholds"][2]["reason"]
    groups = doc["at_threshold"]["0.001"]["groups"]["group"]
    assert groups["B"]["fnmr_low"] > groups["A"]["fnmr_high"] and groups["C"]["fmr_same_low"] > groups["A"]["fmr_same_high"]
    assert doc["data"]["impostor"] == 4000 * 3999 // 2 - 6000 and doc["methods"]["intervals"].startswith("percentile")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    run_id = out.stdout.strip().splitlines()[-1].split()[-1]
    run = tracking.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["evalkit.kind"] == "verification"
    assert run.data.metrics["verification/0.001/group/B/fnmr"] == pytest.approx(groups["B"]["fnmr"])
    assert run.data.params["fmr_targets"] == "[0.001, 0.0001, 1e-07]"


def test_a_verification_run_reproduces_identically(verified, monkeypatch, tmp_path):
    """Issue 21: the biometric report replayed from its run (settings from the run, files verified by sha256)."""
    from evalkit.reproduce import reproduce

    _, env, out = verified
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    result = reproduce(out.stdout.strip().splitlines()[-1].split()[-1], output_root=tmp_path, progress=False)
    assert result.kind == "verification" and result.verdict == "identical", result.differences[:5]
    assert result.settings["fmr_targets"] == [1e-3, 1e-4, 1e-7] and result.settings["n_boot"] == 200
    assert [v.split()[0] for v in result.verified] == ["samples", "templates"]


def test_make_report_on_a_verification_manifest_runs_the_verification_report(tmp_path):
    import os

    out = evalkit_command("report", "--model", "my-face-system", "--data", str(DEMO), "--n-boot", "0",
                          "--no-tracking", "--output-root", str(tmp_path), "--no-progress", cwd=ROOT,
                          env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((tmp_path / "verify" / "verification_demo" / "metrics.json").read_text())
    assert doc["kind"] == "verification" and doc["verification"]["system"] == "my-face-system"


def test_bad_verification_data_stop_before_a_run(tmp_path):
    import os

    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("sensitive_features:", "colour: red\nsensitive_features:"))
    out = evalkit_command("verify", "--data", str(bad), "--no-progress", cwd=ROOT,
                         env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"})
    assert out.returncode == 1 and "key 'colour': unknown key(s) ['colour']" in out.stderr
    assert "MLflow run" not in out.stderr and "Traceback" not in out.stderr
