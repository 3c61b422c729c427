"""``make report-all``: evaluate every registered model on the same data, several at a time.

Each model is one ``python -m evalkit report`` process with its own MLflow run, so a failure (or a
crash) of one cannot touch the others; at most ``jobs`` run at once (default: one per CPU core, each
report keeps about one core busy). The processes share one tracking store: a SQLite store is created
and migrated once, under a file lock, before they start (see :func:`evalkit.tracking.store_lock`), and
every report publishes its own ``reports/<model>/`` folder. Each report's output goes to
``reports/report-all/<model>.log``; ``reports/report-all/summary.json`` lists every outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write_json
from ..models import safe_name
from ._report import log
from ._zygote import fork_command

#: Folder (under the output root) with each report's log and ``summary.json``.
BATCH_DIR = "report-all"


@dataclass
class BatchItem:
    """One model's report in a batch.

    Attributes
    ----------
    model : str
    status : str
        ``done``, ``failed`` or ``interrupted``.
    exit_code : int or None
    started : float
        When it started (seconds since the epoch).
    seconds : float
        How long it ran.
    run_id : str or None
        Its MLflow run (from the report's output).
    html : str or None
    error : str
        The report's error line, when it failed.
    log : str
        Its log file.
    """

    model: str
    status: str = "pending"
    exit_code: int | None = None
    started: float = 0.0
    seconds: float = 0.0
    run_id: str | None = None
    html: str | None = None
    error: str = ""
    log: str = ""


def default_jobs(n_models: int) -> int:
    """One report per CPU core, and no more than there are models."""
    return max(1, min(os.cpu_count() or 1, n_models))


def registered_models() -> list[str]:
    """Every registered model; on a store with none, the demo models are trained and registered first
    (as ``make report MODEL=<demo model>`` would)."""
    from .. import models as demo
    from .. import tracking

    names = tracking.registered_names()
    if names:
        return names
    with tracking.store_lock():
        if not tracking.registered_names():
            log("no registered model yet: training and registering the demo models")
            demo.register_demo_models()
    return tracking.registered_names()


#: The native thread pools a report's kernel uses: OpenMP (scikit-learn), OpenBLAS and MKL (numpy).
_THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _pool_environment(jobs: int, cores: int, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of each report when ``jobs`` run at once on ``cores`` cores: ``environ`` with each
    thread pool (``_THREAD_POOLS``) limited to its share of the cores, ``cores // jobs`` threads (at least
    one), where the user has not set it. Left at their defaults, every report's pools take every core, and
    their threads (OpenMP's spin) wait for one another: measured, ``make report-all`` of the two demo models
    on 2 cores took 44-56 s (75-97 s of CPU) with the defaults and 25-26 s (39-40 s of CPU) with one thread
    each. One report alone keeps the defaults (it is faster with them)."""
    env = dict(environ)
    for name in _THREAD_POOLS:
        env.setdefault(name, str(max(1, cores // jobs)))
    return env


def _command(model: str, data: str | Path | None, output_root: Path, extra: Sequence[str]) -> list[str]:
    cmd = [sys.executable, "-m", "evalkit", "report", "--model", model, "--output-root", str(output_root),
           "--no-progress"]
    if data is not None:
        cmd += ["--data", str(data)]
    return cmd + list(extra)


def _finish(item: BatchItem, proc: subprocess.Popen, started: float) -> None:
    item.exit_code = proc.returncode
    item.seconds = round(time.monotonic() - started, 2)
    text = Path(item.log).read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith("mlflow run: "):
            item.run_id = line.split(": ", 1)[1].strip()
        elif line.endswith("report.html") and not line.startswith("evalkit"):
            item.html = line.strip()
    if proc.returncode == 0:
        item.status = "done"
    else:
        item.status = "interrupted" if proc.returncode in (130, 143, -2, -15) else "failed"
        errors = [line for line in text.splitlines() if line.startswith("evalkit: ")]
        item.error = errors[-1] if errors else f"exit code {proc.returncode}"


def report_all(
    models: Sequence[str] | None = None,
    *,
    data: str | Path | None = None,
    jobs: int | None = None,
    report_args: Sequence[str] = (),
    output_root: str | Path | None = None,
) -> list[BatchItem]:
    """Evaluate ``models`` (default: every registered model) on ``data``, ``jobs`` at a time.

    Parameters
    ----------
    models : sequence of str, optional
        Any values accepted by ``make report MODEL=``; default :func:`registered_models`.
    data : path-like, optional
        The evaluation manifest for every model (default ``data_manifests/adult_test.yaml``).
    jobs : int, optional
        Reports at once; default and maximum one per CPU core (:func:`default_jobs`).
    report_args : sequence of str
        Further ``evalkit report`` options for every model (e.g. ``["--n-boot", "200"]``).
    output_root : path-like, optional
        Default ``reports/``.

    Returns
    -------
    list of BatchItem
        One per model, in the order given; ``summary.json`` holds the same.

    Raises
    ------
    ValueError
        On bad ``jobs`` or an empty or repeated model list.
    KeyboardInterrupt
        After Ctrl-C (or SIGTERM) has been passed to every running report and they have ended (each marks
        its run FAILED).
    """
    from .. import tracking

    cores = os.cpu_count() or 1
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= cores):
        raise ValueError(f"jobs must be a whole number from 1 to the {cores} CPU cores of this machine, got {jobs!r}")
    root = tracking.project_root()
    output_root = Path(output_root) if output_root is not None else root / "reports"
    if data is not None and not Path(data).is_file():
        raise ValueError(f"data: no manifest at {data}")
    tracking.check_reachable()
    tracking.client()  # a fresh SQLite store is created and migrated once, here, before the reports start
    names = list(models) if models is not None else registered_models()
    if not names or len(set(names)) != len(names):
        raise ValueError(f"models must be a non-empty list without repeats, got {names}")
    jobs = jobs or default_jobs(len(names))
    logs = output_root / BATCH_DIR
    logs.mkdir(parents=True, exist_ok=True)
    items = [BatchItem(model=m, log=str(logs / f"{safe_name(Path(m).stem if Path(m).is_file() else m)}.log"))
             for m in names]
    env = _pool_environment(jobs, cores, os.environ) if jobs > 1 else None  # one report alone: the defaults
    log(f"evaluating {len(items)} model(s), {jobs} at a time: {', '.join(names)}"
        + (f" ({env['OMP_NUM_THREADS']} thread(s) per report)" if env else ""))
    pending, running = list(items), {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                item = pending.pop(0)
                cmd = _command(item.model, data, output_root, report_args)
                with open(item.log, "w") as fh:
                    # Forked by a command zygote when one runs (evalkit.runner.zygote; the test suite's), else
                    # started as usual.
                    proc = fork_command(cmd, env=env or dict(os.environ), cwd=str(root), stdout=fh,
                                        stderr=subprocess.STDOUT, new_session=True) \
                        or subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=root,
                                            start_new_session=True, env=env)
                running[proc] = (item, time.monotonic())
                item.status, item.started = "running", round(time.time(), 3)
                log(f"started {item.model} (pid {proc.pid}; log {item.log})")
            for proc in [p for p in running if p.poll() is not None]:
                item, started = running.pop(proc)
                _finish(item, proc, started)
                done = sum(i.status in ("done", "failed", "interrupted") for i in items)
                log(f"[{done}/{len(items)}] {item.model} {item.status} in {item.seconds:.1f} s"
                    + (f" (run {item.run_id})" if item.run_id else "") + (f": {item.error}" if item.error else ""))
            time.sleep(0.2)
    except BaseException:
        _stop(running)
        raise
    finally:
        atomic_write_json(logs / "summary.json", {"data": str(data) if data else None, "jobs": jobs,
                                                  "reports": [asdict(i) for i in items]})
    return items


def _stop(running: dict[subprocess.Popen, Any]) -> None:
    """Pass an interrupt on to every running report (each marks its run FAILED and stops its kernel) and wait
    for them; one that has not ended after a minute is killed with its kernel, and its run marked FAILED."""
    from .. import tracking

    for proc, (item, _) in running.items():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # the report, not its group: it shuts its own kernel down
            item.status = "interrupted"
    deadline = time.monotonic() + 60
    killed = False
    for proc in running:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = True
    if killed:
        try:
            tracking.fail_stale_runs()  # their processes are gone: no run stays RUNNING
        except Exception as err:  # never hide the interrupt behind a tracking error
            log(f"could not mark the killed reports' runs FAILED: {err}")
