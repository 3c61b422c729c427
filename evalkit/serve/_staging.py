"""A staging replica: the model behind MLflow's real scoring server, checked end to end over HTTP.

:func:`serve` starts ``mlflow models serve`` (local environment manager: nothing is downloaded) on
127.0.0.1 and a free port in its own process group, waits until ``/ping`` answers, and always stops
it by its process group (also on errors and Ctrl-C). :func:`check_replica` then sends the corner-case
set and a sample of the evaluation set, asserts that every served score equals the in-process score
(to 1e-9, naming the first sample that differs), and measures latency (p50/p95/p99) and throughput at
concurrency 1 and 4 with a request loop bounded both in count and in time, plus the server's resident
memory. :func:`stage` does all of it for a registered model and records it on an MLflow run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..models import latency_summary
from ..data import Dataset, load_dataset
from ..exceptions import EvalkitError
from ..models import load_scorer, model_frame, resolve_model

#: How closely served scores must equal in-process scores.
TOLERANCE = 1e-9
#: Concurrency levels of the load loop.
CONCURRENCY: tuple[int, ...] = (1, 4)
#: MLflow experiment of staging checks.
STAGE_EXPERIMENT = "evalkit-stage"


class StagingError(EvalkitError, RuntimeError):
    """The scoring server did not start, or its answers differ from the model's in-process scores."""


@dataclass
class Server:
    """A running scoring server (see :func:`serve`)."""

    url: str
    pid: int
    log: Path
    process: subprocess.Popen = field(repr=False)

    def rss_mb(self) -> float:
        """Resident memory of the server and its children, in MB (NaN if it cannot be read)."""
        try:
            import psutil

            proc = psutil.Process(self.pid)
            procs = [proc, *proc.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20
        except Exception:  # psutil missing or the process gone: memory is then unknown
            return math.nan


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def serve(model_uri: str, *, port: int | None = None, timeout: float = 180.0, log: Path | None = None) -> Iterator[Server]:
    """Serve ``model_uri`` with ``mlflow models serve --env-manager local`` on 127.0.0.1 until the block ends.

    Parameters
    ----------
    model_uri : str
        ``models:/<name>/<version>``, ``models:/<name>@<alias>`` or a local MLflow model folder.
    port : int, optional
        Default: a free port.
    timeout : float, default=180
        Seconds to wait for ``/ping``.
    log : Path, optional
        Where the server's output goes (default: a temporary file).

    Raises
    ------
    StagingError
        If the server exits or does not answer in time; the message ends with its last log lines.
    """
    from .. import tracking

    port = port or free_port()
    log = log or Path(tempfile.mkstemp(prefix="evalkit-serve-", suffix=".log")[1])
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_bin) if mlflow_bin.exists() else "mlflow", "models", "serve", "-m", model_uri,
           "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # MLflow starts uvicorn by name: the environment's own bin folder comes first on PATH.
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.tracking_uri(), "MLFLOW_REGISTRY_URI": tracking.tracking_uri(),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    with open(log, "ab") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(url=f"http://127.0.0.1:{port}", pid=process.pid, log=log, process=process)
    try:
        _wait_ready(server, timeout)
        yield server
    finally:
        stop(server)


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise StagingError(f"the scoring server exited with code {server.process.returncode} before it was ready; "
                               f"its log ({server.log}) ends:\n{_log_tail(server.log)}")
        try:
            with urllib.request.urlopen(server.url + "/ping", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise StagingError(f"the scoring server at {server.url} did not answer /ping within {timeout:g} s; its log "
                       f"({server.log}) ends:\n{_log_tail(server.log)}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def stop(server: Server, grace: float = 10.0) -> None:
    """Stop the server's whole process group (the MLflow CLI and its uvicorn workers): SIGTERM, wait until
    every process of the group has exited, SIGKILL whatever is left after ``grace`` seconds."""
    if not _group_alive(server.pid):
        server.process.poll()
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        server.process.poll()  # reap the leader, or the group never empties
        if not _group_alive(server.pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.process.wait(timeout=grace)


def _payload(frame: pd.DataFrame) -> bytes:
    """``dataframe_split`` JSON; missing values become null."""
    split = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    return json.dumps({"dataframe_split": {"columns": split["columns"], "data": split["data"]}}).encode()


def invoke(url: str, frame: pd.DataFrame, *, timeout: float = 30.0) -> np.ndarray:
    """POST rows to ``/invocations``; return the positive-class score of each (the last column of
    ``predict_proba``-style answers)."""
    request = urllib.request.Request(url + "/invocations", data=_payload(frame),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        raise StagingError(f"the scoring server refused {len(frame)} rows: HTTP {err.code}: "
                           f"{err.read()[:500].decode(errors='replace')}") from err
    values = np.asarray(body["predictions"] if isinstance(body, dict) else body, dtype=np.float64)
    return values[:, -1] if values.ndim == 2 else values


def compare_served(url: str, frame: pd.DataFrame, ids: Sequence[str], expected: np.ndarray, *,
                   batch: int = 200, what: str = "rows") -> dict[str, Any]:
    """Score ``frame`` through the server in batches and compare with ``expected``.

    Raises
    ------
    StagingError
        Naming the first sample whose served score differs by more than :data:`TOLERANCE`.
    """
    served = np.concatenate([invoke(url, frame.iloc[i:i + batch]) for i in range(0, len(frame), batch)])
    mismatch, max_diff = score_mismatch(served, expected, ids, got_name="served", expected_name="in-process")
    if mismatch:
        raise StagingError(f"{what} are scored differently by the server: {mismatch}")
    return {"rows": len(frame), "max_abs_diff": max_diff}


def score_mismatch(got: np.ndarray, expected: np.ndarray, ids: Sequence[Any], *, got_name: str = "got",
                   expected_name: str = "expected", tolerance: float = TOLERANCE) -> tuple[str | None, float]:
    """Compare two score vectors: ``(None, max |difference|)`` when all agree to ``tolerance``, else a
    sentence naming how many differ and the first one (its id and both scores)."""
    diff = np.abs(np.asarray(got, dtype=np.float64) - np.asarray(expected, dtype=np.float64))
    bad = ~(diff <= tolerance)  # NaN counts as different
    max_diff = float(np.nanmax(diff)) if diff.size and not np.isnan(diff).all() else 0.0
    if not bad.any():
        return None, max_diff
    first = int(np.flatnonzero(bad)[0])
    return (f"{int(bad.sum())} of {len(diff)} differ; first: id {ids[first]}: {got_name} {float(got[first])!r}, "
            f"{expected_name} {float(expected[first])!r}"), max_diff


def load_loop(url: str, frame: pd.DataFrame, *, concurrency: int, max_requests: int = 200,
              max_seconds: float = 10.0) -> dict[str, Any]:
    """Single-row requests from ``concurrency`` threads until ``max_requests`` are done or ``max_seconds``
    have passed, whichever comes first.

    Returns
    -------
    dict
        ``concurrency``, ``requests``, ``seconds``, ``throughput_rps``, ``errors`` and the latency
        summary (``p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms``, ``max_ms``).
    """
    payloads = [_payload(frame.iloc[[i % len(frame)]]) for i in range(min(max_requests, 50))]
    lock = threading.Lock()
    durations: list[float] = []
    errors: list[str] = []
    issued = [0]
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        while True:
            with lock:
                if issued[0] >= max_requests or time.monotonic() >= deadline:
                    return
                k = issued[0]
                issued[0] += 1
            request = urllib.request.Request(url + "/invocations", data=payloads[k % len(payloads)],
                                             headers={"Content-Type": "application/json"})
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    resp.read()
                with lock:
                    durations.append(time.perf_counter() - t)
            except (urllib.error.URLError, OSError) as err:
                with lock:
                    errors.append(str(err))

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=max_seconds + 35)
    seconds = time.perf_counter() - start
    if not durations:
        raise StagingError(f"no request to {url} succeeded at concurrency {concurrency}: {errors[:3]}")
    return {"concurrency": concurrency, "requests": len(durations), "seconds": seconds,
            "throughput_rps": len(durations) / seconds, "errors": len(errors), **latency_summary(np.array(durations)),
            "latencies_ms": [round(d * 1000, 3) for d in durations]}


@dataclass
class StageResult:
    """What :func:`stage` checked and measured."""

    model_uri: str
    url: str
    checks: dict[str, Any]
    load: list[dict[str, Any]]
    server_rss_mb: float
    run_id: str | None
    startup_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"model_uri": self.model_uri, "url": self.url, "checks": self.checks, "load": self.load,
                "server_rss_mb": None if not math.isfinite(self.server_rss_mb) else self.server_rss_mb,
                "run_id": self.run_id, "startup_seconds": self.startup_seconds}

    def metrics(self) -> dict[str, float]:
        """Flat ``stage/...`` values for MLflow (see :func:`stage_metrics`)."""
        return stage_metrics(self.to_dict())


def stage_metrics(doc: dict[str, Any]) -> dict[str, float]:
    """Flat ``stage/...`` MLflow values from a :class:`StageResult` document (``stage.json``)."""
    out: dict[str, float] = {"stage/startup_seconds": doc["startup_seconds"]}
    if doc.get("server_rss_mb") is not None:
        out["stage/server_rss_mb"] = doc["server_rss_mb"]
    for name, c in doc["checks"].items():
        out[f"stage/{name}_max_abs_diff"] = c["max_abs_diff"]
    for level in doc["load"]:
        c = level["concurrency"]
        out.update({f"stage/c{c}_{k}": level[k] for k in ("p50_ms", "p95_ms", "p99_ms", "throughput_rps",
                                                        "requests", "errors")})
    return out


def check_replica(server: Server, model: Any, sets: Sequence[tuple[str, Dataset]], *, sample_rows: int = 500,
                  max_requests: int = 200, max_seconds: float = 10.0, seed: int = 0) -> tuple[dict[str, Any],
                                                                                          list[dict[str, Any]]]:
    """Compare served with in-process scores on each ``(name, dataset)`` (the first ``sample_rows`` of a
    seeded shuffle of each), then run the load loop at each of :data:`CONCURRENCY`.

    ``model`` is the in-process reference: a ModelRef (loaded with skops) or a scorer function.
    """
    scorer = model if callable(model) else None
    checks = {}
    frames = []
    for name, data in sets:
        if scorer is None:
            scorer = load_scorer(model, positive_label=data.manifest.positive_label)
        rows = np.sort(np.random.default_rng(seed).permutation(len(data))[:sample_rows])
        frame = model_frame(scorer, data).iloc[rows].reset_index(drop=True)
        expected = scorer(frame)
        checks[name] = compare_served(server.url, frame, data.ids.iloc[rows].tolist(), expected, what=f"{name} rows")
        frames.append(frame)
    load = [load_loop(server.url, frames[-1], concurrency=c, max_requests=max_requests, max_seconds=max_seconds)
            for c in CONCURRENCY]
    return checks, load


def stage(model: str, *, data: str | Path | None = None, corner_cases: str | Path | None = None,
          sample_rows: int = 500, max_requests: int = 200, max_seconds: float = 10.0, track: bool = True,
          keep: bool = False, port: int | None = None, out_dir: str | Path | None = None) -> StageResult:
    """Serve a registered model on 127.0.0.1, check it end to end over HTTP, record the result, stop it.

    Parameters
    ----------
    model : str
        A registered model name (latest version) or ``models:/<name>/<version>`` / ``@<alias>``.
    data, corner_cases : path-like, optional
        The evaluation set (default ``data_manifests/adult_test.yaml``) and corner cases (default
        ``data_manifests/adult_corner_cases.yaml``) whose rows are sent.
    sample_rows : int, default=500
        Rows of each set sent for the equality check.
    max_requests, max_seconds
        Bounds of the load loop at each concurrency level.
    track : bool, default=True
        Record a run of the experiment ``evalkit-stage``.
    keep : bool, default=False
        After a successful check, keep serving until Ctrl-C.
    port : int, optional
    out_dir : path-like, optional
        Where ``stage.json`` and the server log are written (default ``reports/<model>/stage/``).

    Raises
    ------
    StagingError
        The server did not start, or a served score differs (the first differing sample is named).
        The server is stopped and the run marked FAILED in every case.
    """
    from .. import tracking
    from .._io import atomic_write_json
    from ..runner import log

    root = tracking.project_root()
    uri = model if model.startswith("models:/") else f"models:/{model}/latest"
    name, version = tracking.resolve_registered(model, uri)
    ref = resolve_model(f"models:/{name}/{version}")
    sets = [("corner_cases", load_dataset(corner_cases or root / "data_manifests" / "adult_corner_cases.yaml")),
            ("evaluation", load_dataset(data or root / "data_manifests" / "adult_test.yaml"))]
    for label, ds in sets:
        if ds.manifest.positive_label != sets[0][1].manifest.positive_label:
            raise StagingError(f"{label} set {ds.name} has another positive label than {sets[0][1].name}")
    out = Path(out_dir) if out_dir is not None else root / "reports" / ref.name / "stage"
    out.mkdir(parents=True, exist_ok=True)
    run_id = None
    if track:
        run_id = tracking.start_run(experiment=STAGE_EXPERIMENT, run_name=f"stage-{name}-v{version}", params={
            "model_uri": f"models:/{name}/{version}", "model_sha256": ref.sha256, "server": "mlflow models serve",
            "env_manager": "local", "sample_rows": sample_rows, "max_requests": max_requests,
            "max_seconds": max_seconds, "concurrency": ",".join(map(str, CONCURRENCY)), "cpus": os.cpu_count(),
            **{f"{label}_sha256": ds.manifest.sha256 for label, ds in sets}},
            tags={"evalkit.kind": "stage", "evalkit.model": name, **tracking.owner_tags()})
    server_log = out / "server.log"
    server_log.write_text("")
    try:
        t = time.perf_counter()
        with serve(f"models:/{name}/{version}", port=port, log=server_log) as server:
            startup = time.perf_counter() - t
            log(f"scoring server for models:/{name}/{version} ready at {server.url} (pid {server.pid}, "
                f"{startup:.1f} s)")
            checks, load = check_replica(server, ref, sets, sample_rows=sample_rows, max_requests=max_requests,
                                         max_seconds=max_seconds)
            result = StageResult(model_uri=f"models:/{name}/{version}", url=server.url, checks=checks, load=load,
                                 server_rss_mb=server.rss_mb(), run_id=run_id, startup_seconds=startup)
            atomic_write_json(out / "stage.json", result.to_dict())
            if track:
                tracking.log_metrics(run_id, result.metrics())
                tracking.log_artifacts(run_id, [out / "stage.json", server_log])
                tracking.end_run(run_id, "FINISHED")
                run_id = None  # finished: a Ctrl-C while kept serving does not fail it
            for level in load:
                log(f"concurrency {level['concurrency']}: {level['requests']} requests, p50 {level['p50_ms']:.1f} ms, "
                    f"p95 {level['p95_ms']:.1f} ms, p99 {level['p99_ms']:.1f} ms, {level['throughput_rps']:.0f} req/s")
            if keep:
                log(f"serving at {server.url} until Ctrl-C")
                print(server.url, flush=True)
                while server.process.poll() is None:
                    time.sleep(0.5)
        return result
    except BaseException as err:
        if run_id is not None:
            from ..runner import fail_run

            if server_log.is_file():
                try:
                    tracking.log_artifacts(run_id, [server_log])
                except Exception:  # the original error matters more
                    pass
            fail_run(run_id, err)
        raise
