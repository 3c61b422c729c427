"""The kernel zygote (evalkit/runner/_zygote.py): a forked kernel is the kernel a launch would give (same
environment, arguments, working folder, process group, matplotlib backend), it is interrupted, stopped and
killed by its pid, its exit status comes back, and it never outlives the process that asked for it or the
zygote. Without a usable zygote the kernel is launched as before."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from evalkit.runner import warm_kernel, zygote
from evalkit.runner._zygote import ZYGOTE_ENV, ForkedProcess, fork_kernel

from tests.conftest import command_zygote, evalkit_command

PROBE = r"""
import gc, json, os, signal, sys
from ipykernel.kernelapp import IPKernelApp
import matplotlib
print(json.dumps({"env": {k: v for k, v in os.environ.items() if k != "EVALKIT_KERNEL_ZYGOTE"},
                  "argv0": sys.argv[0], "parent_handle": IPKernelApp.instance().parent_handle,
                  "cwd": os.getcwd(), "session_leader": os.getsid(0) == os.getpid(),
                  "backend": matplotlib.get_backend(), "path0": sys.path[0], "executable": sys.executable,
                  "collector": [gc.isenabled(), gc.get_freeze_count() > 100_000],
                  "dask": ["dask.array" in sys.modules,
                           sys.modules.get("sklearn.externals.array_api_compat.dask", 0)]}))
"""


def _probe(folder):
    """What the kernel :func:`warm_kernel` starts in ``folder`` says about itself, and its process object."""
    from jupyter_client.blocking import BlockingKernelClient

    out = []
    with warm_kernel(folder, folder / "kernel.log") as km:
        # the manager as parent: wait_for_ready then asks it whether the kernel's process is alive; a client of
        # its own judges by heartbeats, and a kernel busy importing on a loaded machine can miss one (jupyter_client
        # then says "Kernel died before replying to kernel_info" of a kernel that is alive: seen once in a full run)
        kc = BlockingKernelClient(parent=km)
        kc.load_connection_info(km.get_connection_info())
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=600)
            kc.execute_interactive(PROBE, timeout=600, output_hook=lambda m: out.append(
                m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
        finally:
            kc.stop_channels()
        process = km.provisioner.process
        km.stop_soon()
    said = json.loads("".join(out))
    said["env"].pop("JPY_PARENT_PID")  # the asking process's pid: checked through parent_handle
    return said, process


def test_a_forked_kernel_is_the_kernel_a_launch_gives(tmp_path, monkeypatch, kernel_zygote):
    monkeypatch.setenv("EVALKIT_PROBE", "seen")
    forked, process = _probe(tmp_path)
    assert isinstance(process, ForkedProcess) and process.returncode == 0
    monkeypatch.delenv(ZYGOTE_ENV)
    launched, process = _probe(tmp_path)
    assert isinstance(process, subprocess.Popen)
    assert forked == launched
    assert forked["env"]["EVALKIT_PROBE"] == "seen" and forked["parent_handle"] == os.getpid()
    assert forked["session_leader"] and forked["cwd"] == str(tmp_path)
    assert forked["backend"] == "module://matplotlib_inline.backend_inline"
    assert forked["collector"] == [True, True]  # the warm-up's imports frozen, the collector on again
    assert forked["dask"] == [False, None]  # the zygote imported skops without scikit-learn's dask adapter


def _fork(tmp_path, **env):
    cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", str(tmp_path / "never-written.json")]
    with open(tmp_path / "kernel.log", "ab") as log:
        return fork_kernel(cmd, env={**os.environ, **env}, cwd=str(tmp_path), stdout=log, stderr=log)


def test_a_forked_kernel_is_signalled_by_pid_and_its_exit_status_comes_back(tmp_path, kernel_zygote):
    kernel = _fork(tmp_path)
    assert kernel.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        kernel.wait(timeout=0.01)
    kernel.terminate()
    assert kernel.wait(timeout=600) == -signal.SIGTERM and kernel.poll() == -signal.SIGTERM
    kernel.kill()  # ended already: nothing to signal


def test_no_usable_zygote_means_a_launched_kernel(tmp_path, monkeypatch, kernel_zygote):
    assert _fork(tmp_path, MPLBACKEND="agg") is None  # the zygote imported matplotlib with the inline backend
    cmd = ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "k.json"]
    assert fork_kernel(cmd, env=dict(os.environ), cwd=str(tmp_path), stdout=None, stderr=None) is None
    monkeypatch.setenv(ZYGOTE_ENV, str(tmp_path / "no-zygote.sock"))
    assert _fork(tmp_path) is None


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (waits for it, at most the suite's bound)."""
    from tests.conftest import READY_BOUND

    deadline = time.monotonic() + READY_BOUND
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":  # ended, not yet collected by its parent
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


ASKER = """
import os, sys
from evalkit.runner._zygote import fork_kernel
cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", sys.argv[1]]
kernel = fork_kernel(cmd, env=dict(os.environ), cwd=os.getcwd(), stdout=None, stderr=None)
print(kernel.pid, flush=True)
sys.stdin.read()
"""


def test_a_forked_kernel_ends_with_the_process_that_asked_and_with_the_zygote(tmp_path):
    with zygote(tmp_path) as _:
        asker = subprocess.Popen([sys.executable, "-c", ASKER, str(tmp_path / "k.json")],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        pid = int(asker.stdout.readline())
        os.kill(pid, 0)  # running
        asker.kill()
        asker.wait()
        assert _gone(pid)
        kernel = _fork(tmp_path)
    assert _gone(kernel.pid)  # the zygote ended with its block, and took its kernel with it
    assert kernel.poll() is not None


def _both(args, env, cwd, forked_cwd=None):
    """``python -m evalkit ARGS`` started as usual (in ``cwd``) and forked by the test process's command zygote
    (in ``forked_cwd``, default the same): exit code, output and error output of each."""
    launched = subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd,
                              env=env)
    forked = evalkit_command(*args, cwd=forked_cwd or cwd, env=env)
    return [(p.returncode, p.stdout, p.stderr) for p in (launched, forked)]


def test_a_forked_command_is_the_command_python_m_gives(tmp_path):
    """The command zygote: the request's arguments, working folder (relative paths), environment, output and
    exit code, as ``python -m evalkit`` has them; a usage error exits 2 as the interpreter's SystemExit would."""
    env = {k: v for k, v in os.environ.items() if k != "EVALKIT_DATA_ROOT"}
    for name in ("launched", "forked"):
        (tmp_path / name).mkdir()
    generate = ["data", "generate", "--name", "g", "--rows", "200", "--seed", "1", "--data-dir", "d",
                "--manifest-dir", "m"]
    launched, forked = _both(generate, env, tmp_path / "launched", tmp_path / "forked")
    assert launched == forked == (0, "wrote 200 rows: m/g.yaml and predictions d/g_scores.csv\n", "")
    assert (tmp_path / "forked" / "d" / "g.csv").read_bytes() == (tmp_path / "launched" / "d" / "g.csv").read_bytes()
    check = ["data", "check", "m/g.yaml"]
    refused = _both(check, env, tmp_path / "forked")  # the data are outside the allowed folders ...
    assert refused[0] == refused[1] and refused[1][0] == 1 and "set EVALKIT_DATA_ROOT" in refused[1][1]
    allowed = _both(check, {**env, "EVALKIT_DATA_ROOT": str(tmp_path)}, tmp_path / "forked")  # ... unless allowed
    assert allowed[0] == allowed[1] and allowed[1][0] == 0 and "1 of 1 manifests verified" in allowed[1][1]
    usage = _both(["report", "--model", "x", "--threshold", "nan"], env, tmp_path)
    assert usage[0] == usage[1] and usage[1][0] == 2
    assert "argument --threshold: expected a finite number, got 'nan'" in usage[1][2]


def test_no_usable_command_zygote_means_a_started_command(tmp_path, monkeypatch):
    from evalkit.runner import fork_command
    from evalkit.runner._zygote import COMMAND_ZYGOTE_ENV

    cmd = [sys.executable, "-m", "evalkit", "schemas"]
    monkeypatch.delenv(COMMAND_ZYGOTE_ENV, raising=False)
    assert fork_command(cmd, env=dict(os.environ), cwd=str(tmp_path)) is None  # none runs
    monkeypatch.setenv(COMMAND_ZYGOTE_ENV, command_zygote())
    assert fork_command([sys.executable, "-m", "pip", "list"], env=dict(os.environ), cwd=str(tmp_path)) is None
    assert fork_command(["/usr/bin/python3", *cmd[1:]], env=dict(os.environ), cwd=str(tmp_path)) is None
    monkeypatch.setenv(COMMAND_ZYGOTE_ENV, str(tmp_path / "no-zygote.sock"))
    assert fork_command(cmd, env=dict(os.environ), cwd=str(tmp_path)) is None
    with pytest.raises(ValueError, match="kind must be 'kernel' or 'command', got 'shell'"):
        with zygote(tmp_path, kind="shell"):
            pass


def test_report_all_forks_its_reports_from_a_command_zygote(tmp_path, monkeypatch):
    """With a command zygote, report-all's reports are forked (never started: Popen is refused here), and their
    exit codes and errors come back as a started report's do."""
    from types import SimpleNamespace

    from evalkit.runner import _batch, report_all
    from evalkit.runner._zygote import COMMAND_ZYGOTE_ENV

    def refused(*args, **kwargs):
        raise AssertionError("report-all started a process instead of forking it")

    missing = [str(tmp_path / "a.skops"), str(tmp_path / "b.skops")]
    monkeypatch.setenv(COMMAND_ZYGOTE_ENV, command_zygote())
    monkeypatch.setattr(_batch, "subprocess", SimpleNamespace(Popen=refused, STDOUT=subprocess.STDOUT,
                                                              TimeoutExpired=subprocess.TimeoutExpired))
    items = report_all(missing, jobs=2, output_root=tmp_path / "reports", report_args=["--no-tracking"])
    assert [(i.status, i.exit_code) for i in items] == [("failed", 1), ("failed", 1)]
    for item, model in zip(items, missing):
        assert item.error.startswith(f"evalkit: error: model '{model}': file not found"), item.error
