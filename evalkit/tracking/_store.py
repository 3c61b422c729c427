"""Everything that talks to MLflow: the store, runs, metrics, artifacts and the model registry.

The default store is a SQLite file in the project (``mlflow/mlflow.db``) with artifacts beside it
(``mlflow/artifacts``); ``MLFLOW_TRACKING_URI`` overrides it. Runs are driven through
:class:`mlflow.MlflowClient` by id, so a failure can always mark its run FAILED.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ModelError, TrackingError

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: Experiment that report runs go to unless told otherwise.
DEFAULT_EXPERIMENT = "evalkit"
_READY: set[str] = set()
_LOCK_DEPTH = 0
_KEY_OK = re.compile(r"[^A-Za-z0-9_\-. /]")
_BATCH = 900


def project_root() -> Path:
    """The evalkit checkout (where ``pyproject.toml`` is), else the current directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def default_tracking_uri() -> str:
    """``sqlite:///<project>/mlflow/mlflow.db``."""
    return f"sqlite:///{project_root() / 'mlflow' / 'mlflow.db'}"


def tracking_uri() -> str:
    """The tracking URI in force: ``MLFLOW_TRACKING_URI`` if set, else :func:`default_tracking_uri`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def _artifact_root(uri: str) -> str | None:
    """An explicit artifact folder next to a SQLite store (MLflow would otherwise use ./mlruns)."""
    db = _sqlite_path(uri)
    return (db.parent / "artifacts").resolve().as_uri() if db is not None else None


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


@contextmanager
def store_lock() -> Iterator[None]:
    """Serialise first-time set-up of a SQLite store between processes (no-op for other stores).

    Two processes creating the same fresh SQLite store both run MLflow's schema migrations and one
    fails; creating the same experiment or demo model twice fails too. Holding this lock (an
    ``flock`` on ``<db>.lock``) around those steps makes concurrent reports safe.
    """
    global _LOCK_DEPTH
    db = _sqlite_path(tracking_uri())
    if db is None or _LOCK_DEPTH:  # re-entrant: a second flock on a new descriptor would deadlock
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        _LOCK_DEPTH += 1
        try:
            yield
        finally:
            _LOCK_DEPTH -= 1
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_reachable(timeout: float = 5.0) -> None:
    """Fail fast with a clear message when a tracking *server* does not answer.

    MLflow's own client retries for minutes; this asks the server's ``/health`` once.

    Raises
    ------
    TrackingError
        If an ``http(s)://`` tracking URI does not answer within ``timeout`` seconds.
    """
    import urllib.error
    import urllib.request

    uri = tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            return
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise TrackingError(
            f"the MLflow tracking server {uri} (MLFLOW_TRACKING_URI) is unreachable: {reason}. "
            "Start it, point MLFLOW_TRACKING_URI elsewhere, or evaluate without tracking (--no-tracking)."
        ) from err


#: URI schemes MLflow keeps in a database (its SQLAlchemy stores).
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def client_modules() -> tuple[str, ...]:
    """The modules :func:`client` imports for the tracking URI: MLflow, and its SQLAlchemy stores for a
    database (about 1.4 s and 470 modules more for SQLite), for :func:`evalkit._io.preimport`."""
    if tracking_uri().split(":", 1)[0].split("+", 1)[0] in _DATABASE_SCHEMES:
        return "mlflow", "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store"
    return ("mlflow",)


def client() -> MlflowClient:
    """An MlflowClient on :func:`tracking_uri`; a SQLite store is created (once, under a lock) if new."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if _sqlite_path(uri) is None or uri in _READY:
        return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    with store_lock():  # the first connection creates and migrates the schema
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating initial tables..."
        c = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        c.search_experiments(max_results=1)
        c.search_registered_models(max_results=1)
    _READY.add(uri)
    return c


def experiment_id(name: str = DEFAULT_EXPERIMENT) -> str:
    """The id of experiment ``name``, created (with an explicit artifact location) if missing."""
    c = client()
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    with store_lock():
        exp = c.get_experiment_by_name(name)  # another process may have created it meanwhile
        if exp is not None:
            return exp.experiment_id
        return c.create_experiment(name, artifact_location=_artifact_root(tracking_uri()))


def metric_key(*parts: str) -> str:
    """An MLflow metric key from ``parts`` joined by ``/``.

    Characters MLflow refuses become ``_``; when that changes a part, a short hash of the original is
    appended so that two different group names never share a key.

    Examples
    --------
    >>> metric_key("by_group", "age_band", "65+", "recall")
    'by_group/age_band/65_-d62a7d/recall'
    """
    out = []
    for part in parts:
        clean = _KEY_OK.sub("_", part).replace("//", "_")
        if clean != part:
            clean = f"{clean}-{hashlib.sha1(part.encode()).hexdigest()[:6]}"
        out.append(clean)
    return "/".join(out)


def start_run(*, experiment: str, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    """Create a RUNNING run with ``params`` and ``tags``; return its id."""
    run = client().create_run(experiment_id(experiment), run_name=run_name, tags=dict(tags))
    log_params(run.info.run_id, params)
    return run.info.run_id


def log_params(run_id: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> None:
    """Record parameters (as text, at most 6,000 characters each) and tags on a run."""
    from mlflow.entities import Param, RunTag

    client().log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                       tags=[RunTag(k, v) for k, v in (tags or {}).items()])


def set_tags(run_id: str, tags: Mapping[str, str]) -> None:
    """Set tags on a run (one batch)."""
    from mlflow.entities import RunTag

    client().log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


#: How often a running evalkit run writes its ``evalkit.heartbeat`` tag (seconds).
HEARTBEAT_SECONDS = 60.0
#: A RUNNING run whose heartbeat is older than this is stale, whichever host started it (seconds).
STALE_AFTER_SECONDS = 15 * 60.0


def owner_tags() -> dict[str, str]:
    """Tags that identify the process owning a run, so a later command on any host can tell a stale run:
    host and pid (checked directly on the same host) and a first heartbeat (a UTC epoch second, renewed every
    :data:`HEARTBEAT_SECONDS` by :class:`Heartbeat` while the run works)."""
    import socket
    import time

    return {"evalkit.host": socket.gethostname(), "evalkit.pid": str(os.getpid()),
            "evalkit.heartbeat": str(int(time.time()))}


class Heartbeat:
    """Renew a run's ``evalkit.heartbeat`` tag every ``interval`` seconds from a daemon thread, until the
    context ends. A process that dies stops beating, which :func:`fail_stale_runs` sees from any host.
    Best effort: a failed write (a busy store) is retried at the next beat, never raised.

    Examples
    --------
    >>> with Heartbeat(run_id, interval=60):  # doctest: +SKIP
    ...     long_work()
    """

    def __init__(self, run_id: str | None, *, interval: float = HEARTBEAT_SECONDS) -> None:
        import threading

        self.run_id, self.interval = run_id, interval
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evalkit-heartbeat", daemon=True)

    def _run(self) -> None:
        import time

        while not self._stop.wait(self.interval):
            try:
                client().set_tag(self.run_id, "evalkit.heartbeat", str(int(time.time())))
                self.beats += 1
            except Exception:  # noqa: BLE001 - best effort, see the class docstring
                continue

    def __enter__(self) -> Heartbeat:
        if self.run_id is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_reason(tags: Mapping[str, str], *, now: float, host: str, pid: int,
                 stale_after: float = STALE_AFTER_SECONDS) -> str | None:
    """Why a RUNNING run with these tags is stale, or None when it may be alive.

    On the host that started it: its process has ended. On any host: its heartbeat is older than
    ``stale_after`` seconds. A run without a heartbeat (not evalkit's, or from before heartbeats) started
    elsewhere cannot be judged and is left alone.

    Examples
    --------
    >>> stale_reason({"evalkit.host": "b", "evalkit.pid": "7", "evalkit.heartbeat": "1000"}, now=5000, host="a",
    ...              pid=1)
    'stale: no heartbeat from process 7 on b for 4000 s (the limit is 900 s)'
    >>> stale_reason({"evalkit.host": "b", "evalkit.pid": "7", "evalkit.heartbeat": "4800"}, now=5000, host="a",
    ...              pid=1) is None
    True
    """
    run_pid, run_host = tags.get("evalkit.pid", ""), tags.get("evalkit.host")
    if run_host == host and run_pid.isdigit() and int(run_pid) != pid and not _alive(int(run_pid)):
        return f"stale: process {run_pid} ended without finishing the run"
    beat = tags.get("evalkit.heartbeat", "")
    if beat.isdigit() and now - int(beat) > stale_after:
        return (f"stale: no heartbeat from process {run_pid or '?'} on {run_host or '?'} for {now - int(beat):.0f} s "
                f"(the limit is {stale_after:.0f} s)")
    return None


def fail_stale_runs(experiment: str = DEFAULT_EXPERIMENT, *, stale_after: float = STALE_AFTER_SECONDS) -> list[str]:
    """Mark FAILED every RUNNING evalkit run that is stale (:func:`stale_reason`): its process ended (same
    host), or it stopped beating ``stale_after`` seconds ago (any host).

    Returns
    -------
    list of str
        The ids of the runs marked FAILED.
    """
    import socket
    import time

    c = client()
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return []
    host, now = socket.gethostname(), time.time()
    stale = []
    runs = c.search_runs([exp.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000)
    for run in runs:
        reason = stale_reason(run.data.tags, now=now, host=host, pid=os.getpid(), stale_after=stale_after)
        if reason is not None:
            c.set_tag(run.info.run_id, "evalkit.error", reason)
            c.set_terminated(run.info.run_id, status="FAILED")
            stale.append(run.info.run_id)
    return stale


def log_metrics(run_id: str, metrics: Mapping[str, float | None]) -> int:
    """Log finite metric values (``None``/NaN are skipped; metrics.json records why). Returns the count."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None and math.isfinite(v)]
    c = client()
    for i in range(0, len(batch), _BATCH):
        c.log_batch(run_id, metrics=batch[i : i + _BATCH])
    return len(batch)


def log_artifacts(run_id: str, files: Iterable[Path], *, artifact_path: str | None = None) -> None:
    """Attach files to a run."""
    c = client()
    for f in files:
        c.log_artifact(run_id, str(f), artifact_path=artifact_path)


def end_run(run_id: str, status: str = "FINISHED") -> None:
    """Terminate a run as ``FINISHED`` or ``FAILED``."""
    client().set_terminated(run_id, status=status)


def get_run(run_id: str) -> Any:
    """The MLflow run ``run_id``."""
    return client().get_run(run_id)


def registered_names() -> list[str]:
    """Names of all registered models."""
    return sorted(m.name for m in client().search_registered_models())


def resolve_registered(spec: str, uri: str) -> tuple[str, str]:
    """Resolve ``models:/name/version``, ``models:/name/latest`` or ``models:/name@alias``.

    Returns
    -------
    (name, version)

    Raises
    ------
    ModelError
        If the model or version does not exist; the message lists the registered models.
    """
    from mlflow.exceptions import MlflowException

    body = uri[len("models:/"):]
    c = client()
    try:
        if "@" in body:
            name, alias = body.split("@", 1)
            return name, str(c.get_model_version_by_alias(name, alias).version)
        name, _, version = body.partition("/")
        if not name or not version:
            raise ModelError(spec, "expected models:/<name>/<version>, models:/<name>/latest or models:/<name>@<alias>")
        if version == "latest":
            versions = c.search_model_versions(f"name='{name}'")
            if not versions:
                raise ModelError(spec, _unknown_model_message(name))
            return name, str(max(int(v.version) for v in versions))
        return name, str(c.get_model_version(name, version).version)
    except MlflowException as err:
        raise ModelError(spec, f"{err.message}. {_unknown_model_message(registered_name(uri))}") from err


def _unknown_model_message(name: str) -> str:
    return (
        f"no registered model named '{name}' in {tracking_uri()}; registered models: {registered_names()}. "
        "MODEL also accepts a .skops file, a predictions file (.csv/.parquet with id and score columns) "
        "or a models:/ URI"
    )


def download_model(uri: str, dst: Path) -> Path:
    """Download a registered model's files into ``dst``; return the local folder."""
    return download_artifacts(dst, artifact_uri=uri)


def download_artifacts(dst: Path, *, run_id: str | None = None, artifact_path: str | None = None,
                       artifact_uri: str | None = None) -> Path:
    """Download a run's artifact (file or folder) or any artifact URI into ``dst``; return the local path.

    A few small files each time: MLflow's per-file progress bar is turned off."""
    import mlflow

    client()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path,
                                                    artifact_uri=artifact_uri, dst_path=str(dst)))


#: The registry alias of the model in staging (see :mod:`evalkit.promotion`).
STAGING_ALIAS = "staging"


def registered_name(uri: str) -> str:
    """The model name of a ``models:/<name>/<version>`` or ``models:/<name>@<alias>`` URI."""
    return uri[len("models:/"):].split("@")[0].split("/")[0]


def alias_version(name: str, alias: str = STAGING_ALIAS) -> str | None:
    """The version of registered model ``name`` that holds ``alias``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def set_alias(name: str, version: str | None, alias: str = STAGING_ALIAS) -> None:
    """Point ``alias`` at ``version``; ``None`` removes the alias."""
    c = client()
    if version is None:
        if alias_version(name, alias) is not None:
            c.delete_registered_model_alias(name, alias)
    else:
        c.set_registered_model_alias(name, alias, str(version))


def version_tags(name: str, version: str) -> dict[str, str]:
    """The tags of one registered model version."""
    return dict(client().get_model_version(name, str(version)).tags)


def set_version_tags(name: str, version: str, tags: Mapping[str, str]) -> None:
    """Set tags on one registered model version."""
    c = client()
    for key, value in tags.items():
        c.set_model_version_tag(name, str(version), key, str(value)[:5000])
