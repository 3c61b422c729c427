"""Faults: interruption, a dead kernel, stale runs, an unreachable server, a full or read-only disk,
concurrent reports and the cell time limit. Each produced for real; a mock only where the machine
cannot produce the fault (no permission to mount a small file system)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from evalkit import ReportError, TrackingError, tracking
from evalkit.runner import run_report
from evalkit.data import make_biased_scores, write_synthetic_dataset

from tests.conftest import READY_BOUND, ROOT
from tests.faults.conftest import assert_nothing_half_written, runs

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def _cli(model: str, data: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit", "report", "--model", model, "--data", str(data), "--output-root", str(out),
         "--no-progress", *extra],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )


def _wait_for(proc: subprocess.Popen, text: str) -> list[str]:
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if text in line:
            return lines
    pytest.fail(f"the process ended before printing {text!r}: {''.join(lines)}")


def _wait_for_cells(proc: subprocess.Popen, out: Path, cells: int) -> None:
    """Wait until papermill has saved ``cells`` executed code cells of the report being written.

    Readiness, not a clock: papermill saves the staging notebook after every cell. The bound only
    stops a hung run from hanging the suite; it is never reached by a run that makes progress.
    """
    deadline = time.monotonic() + READY_BOUND
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the report ended before {cells} cells ran: {proc.communicate()[1][-2000:]}")
        for nb in out.glob(".staging-*/*.ipynb"):
            try:
                doc = json.loads(nb.read_text())
            except (OSError, ValueError):  # being rewritten
                continue
            done = sum(1 for c in doc["cells"] if c["cell_type"] == "code" and c.get("execution_count"))
            if done >= cells:
                return
        time.sleep(0.1)
    pytest.fail(f"no progress to {cells} executed cells in 900 s")


@pytest.fixture
def good_report(synthetic_dataset, mlflow_store, tmp_path):
    """A finished report in tmp_path/reports, to check that a later failure leaves it intact."""
    manifest, preds = synthetic_dataset
    out = tmp_path / "reports"
    result = run_report(str(preds), manifest, output_root=out, progress=False, n_boot=0, cost_repetitions=0)
    return manifest, preds, out, result.html.read_bytes()


@pytest.mark.parametrize(("sig", "code", "cells"), [(signal.SIGINT, 130, 6), (signal.SIGTERM, 143, 1)])
def test_interrupt_mid_run(good_report, sig, code, cells):
    """Early or late in the notebook: a signal swallowed inside a library must still fail the run."""
    manifest, preds, out, before = good_report
    proc = _cli(str(preds), manifest, out)
    _wait_for(proc, "executing")
    _wait_for_cells(proc, out, cells)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=READY_BOUND)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert (out / "synthetic_scores" / "report.html").read_bytes() == before  # previous report intact
    assert (out / "synthetic_scores" / "failed.ipynb").is_file()  # partial notebook kept
    failed = runs("FAILED")
    assert len(failed) == 1 and runs("RUNNING") == []
    assert "failed.ipynb" in {a.path for a in tracking.client().list_artifacts(failed[0].info.run_id)}
    assert not list(out.glob(".staging-*"))


@pytest.mark.parametrize("how", ["launched", "forked"])
def test_kernel_dies_mid_run(good_report, request, kernel_zygote, how):
    """The kernel killed while it runs cells, whether the command launched it or the zygote forked it."""
    manifest, preds, out, before = good_report
    if how == "launched":
        request.getfixturevalue("no_zygote")
    proc = _cli(str(preds), manifest, out)
    _wait_for(proc, "executing")
    _wait_for_cells(proc, out, 1)  # the kernel is running cells (killed earlier, it would die at start-up)
    if how == "launched":
        kernels = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "ipykernel_launcher" in " ".join(p.cmdline())]
    else:  # the zygote's children (they share its command line, which names its socket)
        (zygote,) = [p for p in psutil.Process().children() if kernel_zygote in " ".join(p.cmdline())]
        kernels = zygote.children()
    assert len(kernels) == 1
    kernels[0].kill()
    _, err = proc.communicate(timeout=READY_BOUND)
    assert proc.returncode == 1
    assert "evalkit: error: the notebook kernel failed: DeadKernelError" in err
    assert (out / "synthetic_scores" / "report.html").read_bytes() == before
    assert len(runs("FAILED")) == 1 and runs("RUNNING") == []


def test_stale_running_run_is_marked_failed(synthetic_dataset, mlflow_store, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_id = tracking.start_run(experiment="evalkit", run_name="crashed", params={},
                                  tags={"evalkit.kind": "report", **tracking.owner_tags(), "evalkit.pid": str(dead.pid)})
    elsewhere = tracking.start_run(experiment="evalkit", run_name="other host", params={},
                                   tags={"evalkit.kind": "report", "evalkit.host": "another-host", "evalkit.pid": "1"})
    now = int(time.time())
    silent = tracking.start_run(experiment="evalkit", run_name="other host, silent", params={},
                                tags={"evalkit.kind": "report", "evalkit.host": "another-host", "evalkit.pid": "2",
                                      "evalkit.heartbeat": str(now - 3600)})
    beating = tracking.start_run(experiment="evalkit", run_name="other host, beating", params={},
                                 tags={"evalkit.kind": "report", "evalkit.host": "another-host", "evalkit.pid": "3",
                                       "evalkit.heartbeat": str(now)})
    manifest, preds = synthetic_dataset
    run_report(str(preds), manifest, output_root=tmp_path / "r", progress=False)
    stale = tracking.get_run(stale_id)
    assert stale.info.status == "FAILED"
    assert stale.data.tags["evalkit.error"] == f"stale: process {dead.pid} ended without finishing the run"
    assert tracking.get_run(elsewhere).info.status == "RUNNING"  # no heartbeat, another host: cannot be judged
    gone = tracking.get_run(silent)  # another host, but silent for an hour: judged by its heartbeat
    assert gone.info.status == "FAILED"
    assert gone.data.tags["evalkit.error"].startswith("stale: no heartbeat from process 2 on another-host for 36")
    assert tracking.get_run(beating).info.status == "RUNNING"


def test_a_running_report_renews_its_heartbeat(mlflow_store):
    """The heartbeat thread renews the tag while the run works; waits on the tag changing, not on a clock."""
    run_id = tracking.start_run(experiment="evalkit", run_name="beating", params={},
                                tags={"evalkit.kind": "report", **tracking.owner_tags(), "evalkit.heartbeat": "0"})
    with tracking.Heartbeat(run_id, interval=0.05) as beat:
        deadline = time.monotonic() + READY_BOUND  # a bound for a hung store only
        while tracking.get_run(run_id).data.tags["evalkit.heartbeat"] == "0":
            assert time.monotonic() < deadline, "no heartbeat was written"
            time.sleep(0.05)
    assert beat.beats >= 1 and int(tracking.get_run(run_id).data.tags["evalkit.heartbeat"]) > 1_700_000_000


def test_unreachable_tracking_server(synthetic_dataset, monkeypatch, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    manifest, preds = synthetic_dataset
    start = time.monotonic()
    with pytest.raises(TrackingError, match=rf"the MLflow tracking server http://127\.0\.0\.1:{port} \(MLFLOW_TRACKING_URI\) is unreachable: .*--no-tracking"):
        run_report(str(preds), manifest, output_root=tmp_path / "r", progress=False)
    print(f"failed after {time.monotonic() - start:.2f} s")  # reported, not asserted
    assert not (tmp_path / "r").exists()
    result = run_report(str(preds), manifest, output_root=tmp_path / "r", progress=False, track=False)
    assert result.html.is_file() and result.run_id is None


@contextmanager
def _small_fs(path: Path, size: str):
    """A real tmpfs of ``size`` at ``path`` (root only); None where mounting is not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if res.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full(synthetic_dataset, mlflow_store, tmp_path, monkeypatch):
    manifest, preds = synthetic_dataset
    with _small_fs(tmp_path / "tiny", "600k") as fs:
        out = fs
        if fs is None:  # cannot mount here: produce ENOSPC at the first write instead
            import errno

            out = tmp_path / "tiny"

            def full(*a, **k):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / "x"))

            monkeypatch.setattr("evalkit.runner._execute.atomic_write_text", full)
        # Whichever write hits the limit first (papermill saving the notebook, or the kernel writing
        # metrics.json), the message says so plainly.
        with pytest.raises(ReportError, match=r"(cannot write the report: .*: |OSError: \[Errno 28\] )No space left on device"):
            run_report(str(preds), manifest, output_root=out, progress=False)
        assert_nothing_half_written(out)
        assert len(runs("FAILED")) == 1


def test_read_only_output_folder(synthetic_dataset, mlflow_store, tmp_path, monkeypatch):
    manifest, preds = synthetic_dataset
    with _small_fs(tmp_path / "ro", "64m") as fs:
        out = fs or tmp_path / "ro"
        first = run_report(str(preds), manifest, output_root=out, progress=False, track=False)
        before = first.html.read_bytes()
        if fs is not None:
            subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        else:  # cannot mount here (root ignores file modes): refuse the staging folder instead
            import errno

            def read_only(*a, **k):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(out))

            monkeypatch.setattr("evalkit.runner._pipeline.staging_dir", read_only)
        with pytest.raises(ReportError, match=r"cannot write the report: .*: Read-only file system"):
            run_report(str(preds), manifest, output_root=out, progress=False)
        assert first.html.read_bytes() == before
        assert runs("RUNNING") == []


def test_concurrent_reports_on_a_fresh_store(unmade_store, tmp_path):
    out = tmp_path / "reports"
    # Intervals and data size are beside the point here: --n-boot 0 and Adult's 3,000-row production sample.
    sample = ROOT / "data_manifests" / "adult_production_sample.yaml"
    procs = [_cli(m, sample, out, "--n-boot", "0", "--cost-repetitions", "0")
             for m in ("adult-logreg", "adult-hgb", "adult-hgb")]
    results = [(p.communicate(timeout=600), p.returncode) for p in procs]
    for (_, stderr), code in results:
        assert code == 0, stderr
    c = tracking.client()
    assert sorted((v.name, str(v.version)) for v in c.search_model_versions()) == [("adult-hgb", "1"), ("adult-logreg", "1")]
    reports = runs()
    assert sum(r.info.status == "FINISHED" for r in reports if r.data.tags.get("evalkit.kind") == "report") == 3
    for model in ("adult-logreg", "adult-hgb"):
        doc = (out / model / "metrics.json").read_text()
        assert doc.rstrip().endswith("}")  # complete, not interleaved
        assert (out / model / "report.html").read_text().rstrip().endswith("</html>")
    assert not list(out.glob(".staging-*"))


def test_cell_time_limit(mlflow_store, tmp_path):
    # 10^6 bootstrap resamples take minutes on any machine: the evaluate() cell outlives the limit
    manifest, preds = write_synthetic_dataset(tmp_path / "data", make_biased_scores(2_000, seed=1))
    with pytest.raises(ReportError, match=r"a notebook cell ran longer than the time limit of 1 s \(--timeout\)"):
        run_report(str(preds), manifest, output_root=tmp_path / "r", progress=False, timeout=1, n_boot=1_000_000)
    assert_nothing_half_written(tmp_path / "r")
    assert len(runs("FAILED")) == 1
