"""The staging replica: MLflow's real scoring server on 127.0.0.1, checked over HTTP (evalkit/serve/_staging.py).

Timings are recorded, never asserted; the load loop's bounds (request count and time) are."""

from __future__ import annotations

import json
import time

import psutil
import pytest

from evalkit import tracking
from evalkit.models import register_model
from evalkit.models import load_estimator, load_scorer, resolve_model
from evalkit.serve import STAGE_EXPERIMENT, StagingError, check_replica, load_loop, serve, stage
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
NAME = "served-model"


def _register(flawed_models, adult, tmp_path, kind="sound"):
    model = load_estimator(resolve_model(str(flawed_models[kind])))
    return register_model(model, NAME, adult[0], path=tmp_path / f"{kind}.skops", experiment="e2e-training")


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("demo", ["adult-logreg", "adult-hgb"])
def test_each_demo_model_is_served_checked_recorded_and_stopped(use_shared_store, demo, tmp_path):
    result = stage(demo, sample_rows=150, max_requests=40, max_seconds=5, out_dir=tmp_path / "stage")
    assert result.model_uri == f"models:/{demo}/1" and result.url.startswith("http://127.0.0.1:")
    assert result.checks["corner_cases"]["rows"] == 150 and result.checks["evaluation"]["rows"] == 150
    assert all(c["max_abs_diff"] <= 1e-9 for c in result.checks.values())
    assert [level["concurrency"] for level in result.load] == [1, 4]
    for level in result.load:
        assert 0 < level["requests"] <= 40 and level["errors"] == 0
        assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"] and level["throughput_rps"] > 0
    assert result.server_rss_mb > 0
    doc = json.loads((tmp_path / "stage" / "stage.json").read_text())
    assert doc["checks"] == result.checks
    run = tracking.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.info.experiment_id == tracking.experiment_id(STAGE_EXPERIMENT)
    assert run.data.params["model_uri"] == result.model_uri
    assert run.data.metrics["stage/c1_p95_ms"] > 0 and run.data.metrics["stage/c4_requests"] <= 40
    assert {a.path for a in tracking.client().list_artifacts(result.run_id)} == {"stage.json", "server.log"}
    port = int(result.url.rsplit(":", 1)[1])
    assert not any(c.laddr and c.laddr.port == port and c.status == "LISTEN" for c in psutil.net_connections("tcp"))


def test_a_differing_score_is_named_and_the_server_always_stops(mlflow_store, flawed_models, adult, tmp_path):
    version = _register(flawed_models, adult, tmp_path)
    other = load_scorer(resolve_model(str(flawed_models["biased"])), positive_label=">50K")
    corner = __import__("evalkit").load_dataset(ROOT / "data_manifests" / "adult_corner_cases.yaml")
    with pytest.raises(StagingError, match=r"scored differently by the server: \d+ of 50 differ; first: id \S+: served .*, in-process"):
        with serve(f"models:/{NAME}/{version}") as server:
            pid = server.pid
            # the bounds hold: a count bound, then a time bound
            assert load_loop(server.url, corner.features.head(5), concurrency=1, max_requests=7)["requests"] == 7
            t = time.monotonic()
            timed = load_loop(server.url, corner.features.head(5), concurrency=4, max_requests=100_000,
                              max_seconds=0.5)
            assert timed["requests"] < 100_000 and time.monotonic() - t < 30
            check_replica(server, other, [("corner_cases", corner)], sample_rows=50)
    assert _gone(pid)


def test_a_server_that_cannot_start_is_reported_with_its_log(mlflow_store, tmp_path):
    log = tmp_path / "server.log"
    with pytest.raises(StagingError, match="exited with code") as info:
        with serve("models:/no-such-model/1", log=log, timeout=60):
            pass
    assert "no-such-model" in str(info.value) or "RESOURCE_DOES_NOT_EXIST" in str(info.value)


def test_a_port_already_taken_fails_the_run_cleanly(mlflow_store, flawed_models, adult, tmp_path):
    import socket

    _register(flawed_models, adult, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(StagingError, match="exited with code"):
            stage(NAME, port=taken.getsockname()[1], out_dir=tmp_path / "s")
    (run,) = tracking.client().search_runs([tracking.experiment_id(STAGE_EXPERIMENT)])
    assert run.info.status == "FAILED" and "StagingError" in run.data.tags["evalkit.error"]
    assert "server.log" in {a.path for a in tracking.client().list_artifacts(run.info.run_id)}


def test_score_mismatch_names_the_first_differing_sample():
    import numpy as np

    from evalkit.serve import score_mismatch

    text, worst = score_mismatch(np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.25, np.nan]), ["a", "b", "c"],
                                 got_name="served", expected_name="in-process")
    assert text == "2 of 3 differ; first: id b: served 0.2, in-process 0.25"
    assert worst == pytest.approx(0.05)
    assert score_mismatch(np.array([0.5]), np.array([0.5 + 1e-12]), ["a"]) == (None, pytest.approx(1e-12))
