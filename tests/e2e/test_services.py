"""`make lab` and `make mlflow-ui` really start their servers on 127.0.0.1 (then are stopped by PID)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import READY_BOUND, ROOT, stop_process_group

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_loopback_only(pid: int) -> None:
    """Every socket the server's process tree listens on is bound to the loopback address."""
    import psutil

    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    listening = []
    for p in tree:
        try:  # a short-lived helper (mlflow's server spawns some) may exit between the listing and here
            listening += [c.laddr for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except psutil.NoSuchProcess:
            continue
    assert listening, "no listening socket found"
    assert all(addr.ip in ("127.0.0.1", "::1") for addr in listening), listening


def _serve_and_get(cmd: list[str], url: str, env: dict[str, str], timeout: float = READY_BOUND,
                   tree: list[str] | None = None) -> bytes:
    """GET ``url`` once the server that ``cmd`` starts answers it; ``tree`` receives the command lines of
    the server's processes at that moment."""
    import psutil

    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{cmd} exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    body = resp.read()
            except OSError:
                time.sleep(0.5)
                continue
            _assert_loopback_only(proc.pid)
            if tree is not None:
                for p in psutil.Process(proc.pid).children(recursive=True):
                    try:
                        tree.append(" ".join(p.cmdline()))
                    except psutil.NoSuchProcess:
                        continue
            return body
        pytest.fail(f"{url} did not answer within {timeout}s")
    finally:
        stop_process_group(proc)


def test_make_mlflow_ui(tmp_path):
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    tree: list[str] = []
    body = _serve_and_get(["make", "-s", "mlflow-ui", f"MLFLOW_PORT={port}"], f"http://127.0.0.1:{port}/health",
                          env, tree=tree)
    assert body.strip() == b"OK"
    assert any("uvicorn" in cmd for cmd in tree)
    assert not any("huey" in cmd for cmd in tree), tree  # MLflow's job runner is off (see the Makefile)


def test_make_lab(tmp_path):
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    body = _serve_and_get(["make", "-s", "lab", f"LAB_PORT={port}"], f"http://127.0.0.1:{port}/api", env)
    assert "version" in json.loads(body)
