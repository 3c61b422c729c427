"""Shared fixtures: a throw-away MLflow store per test (or per session for the slow end-to-end tests),
the shipped Adult data, and synthetic data with a known injected bias."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# One thread per native thread pool (OpenMP: scikit-learn's gradient boosting and scoring; OpenBLAS: numpy),
# in the test processes and every process they start (commands, kernels, servers inherit the variables). The
# suite runs three test processes on two cores, so each pool's threads only wait for one another: OpenMP's
# threads spin while they wait. Measured: training the "brittle" model in three processes at once took 12-16 s
# of CPU each with the default pools and 1.9 s with one thread. Set before numpy and scikit-learn are loaded.
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")

from evalkit._io import environment_variable, without_iri_format_checker  # noqa: E402
from evalkit.data import make_biased_scores, write_synthetic_dataset  # noqa: E402

# The test processes import nbformat (papermill, nbconvert, nbclient) after this: they do without jsonschema's
# "iri" grammars as `python -m evalkit` does (tests/unit/runner/test_startup.py checks both ways, in processes
# of their own). Measured: collection 14.2 s -> 8.5 s of each test process's start.
without_iri_format_checker()

ROOT = Path(__file__).resolve().parents[1]
#: How long a test waits for a server or process to become ready. Tests wait on readiness (a line printed, a
#: port that answers, a file written) and fail at once when the process exits; this bound only stops a hung
#: process from hanging the suite. It is never reached by a process that makes progress, however loaded the
#: machine (``make test`` beside ``make bench``).
READY_BOUND = 900.0
ADULT_TEST = ROOT / "data_manifests" / "adult_test.yaml"
ADULT_TRAIN = ROOT / "data_manifests" / "adult_train.yaml"


#: Markers that follow the test's folder (``tests/e2e/``, ``tests/browser/``, ``tests/faults/``), so that
#: ``-m "not e2e"`` and friends select by layout as well as by a file's own ``pytestmark``.
#: The manifest of :func:`write_small_case`'s dataset (``{sha}`` filled in).
SMALL_MANIFEST = """\
name: d
source: corner_case
path: d.csv
sha256: {sha}
format: csv
id_column: id
label_column: label
positive_label: "pos"
label_values: ["pos", "neg"]
sensitive_features: [group, band]
license: CC0-1.0
"""


def write_small_case(folder: Path, rows: int = 400, seed: int = 5) -> Path:
    """A good synthetic dataset (``d.csv``, ``d.yaml``) and its scores (``scores.csv``) in ``folder``."""
    from evalkit._io import sha256_file

    frame = make_biased_scores(rows, seed=seed)
    frame.drop(columns=["score", "y"]).to_csv(folder / "d.csv", index=False)
    frame[["id", "score"]].to_csv(folder / "scores.csv", index=False)
    (folder / "d.yaml").write_text(SMALL_MANIFEST.format(sha=sha256_file(folder / "d.csv")))
    return folder


_FOLDER_MARKERS = {"e2e": ("e2e",), "browser": ("browser", "e2e"), "faults": ("faults",)}


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(ROOT / "tests").parts
        for name in _FOLDER_MARKERS.get(parts[0], ()):
            item.add_marker(getattr(pytest.mark, name))


def pytest_collection_finish(session):
    """Freeze what collection made (every imported module and collected test, alive to the end): the garbage
    collector's full scans then skip them. Measured on tests/unit/metrics and stats in one process: 14 full
    collections took 1.6 s of 47 s."""
    import gc

    gc.freeze()


def _store_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def once_per_run(tmp_path_factory, worker_id: str, name: str, make) -> Path:
    """The folder ``name`` filled by ``make(folder)`` once for the whole test run and shared by its xdist
    workers: the first worker to ask builds it under a file lock, the others wait for it and reuse it.
    Only for what tests read and never change (trained models, written data)."""
    import fcntl

    if worker_id == "master":  # not under xdist
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # this run's folder, shared by its workers
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".complete").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed half-way
            folder.mkdir()
            make(folder)
            (folder / ".complete").touch()
    return folder


@pytest.fixture(scope="session", autouse=True)
def kernel_zygote(tmp_path_factory):
    """One kernel zygote per test process (:mod:`evalkit.runner._zygote`): the reports, gates and comparisons
    the tests run, in this process and in the commands it starts, get kernels forked from it instead of
    each starting Python and importing the report's libraries (about 3 s of a core per kernel, ~90 kernels).
    The launched path stays covered by the tests that start kernels without it (``no_zygote``)."""
    from evalkit.runner import zygote

    with zygote(tmp_path_factory.mktemp("zygote")) as path:
        yield path


@pytest.fixture
def no_zygote(monkeypatch):
    """Kernels launched as ``python -m ipykernel_launcher``, as without the zygote (the default for users)."""
    from evalkit.runner._zygote import ZYGOTE_ENV

    monkeypatch.delenv(ZYGOTE_ENV, raising=False)


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory, worker_id) -> Path:
    """An empty SQLite MLflow store, created by MLflow once per test run (:func:`once_per_run`).

    Creating a store runs MLflow's schema migrations (about 2 s); :func:`new_store` copies this file instead.
    The copy is the store MLflow would create in its place: the schema at the same revision and only the
    ``Default`` experiment, whose artifact location (``./mlruns/0``) follows the working directory, not the
    store's folder. Tests of creating a store (concurrent first use) use :func:`unmade_store`.
    """
    return once_per_run(tmp_path_factory, worker_id, "migrated-store", _migrate) / "mlflow.db"


def _migrate(folder: Path) -> None:
    import mlflow

    mlflow.MlflowClient(tracking_uri=_store_uri(folder)).search_experiments(max_results=1)


def new_store(folder: Path, migrated: Path) -> str:
    """The URI of a new store in ``folder``: a copy of the ``migrated`` empty store."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated, folder / "mlflow.db")
    return _store_uri(folder)


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch, migrated_store) -> str:
    """A fresh SQLite MLflow store for one test; ``MLFLOW_TRACKING_URI`` points at it."""
    uri = new_store(tmp_path / "store", migrated_store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def unmade_store(tmp_path, monkeypatch) -> str:
    """``MLFLOW_TRACKING_URI`` pointing at a SQLite store not created yet: the first user makes it."""
    uri = _store_uri(tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory, worker_id, migrated_store) -> str:
    """One SQLite MLflow store per xdist worker with the demo models registered: trained and registered once
    for the whole run (:func:`once_per_run`, about 25 s), each worker then gets a copy of that database. The
    copies share the registered models' artifacts (read only) and the experiment's artifact folder, where each
    run writes under its own id."""
    built = once_per_run(tmp_path_factory, worker_id, "demo-store", lambda folder: _register_demos(folder,
                                                                                                  migrated_store))
    uri = new_store(tmp_path_factory.mktemp("store"), built / "store" / "mlflow.db")
    with environment_variable("MLFLOW_TRACKING_URI", uri):
        yield uri


def _register_demos(folder: Path, migrated: Path) -> None:
    from evalkit.models import register_demo_models

    with environment_variable("MLFLOW_TRACKING_URI", new_store(folder / "store", migrated)):
        register_demo_models(out_dir=folder / "models")


@pytest.fixture
def use_shared_store(shared_store, monkeypatch) -> str:
    """Point ``MLFLOW_TRACKING_URI`` at the session store for this test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store)
    return shared_store


@pytest.fixture
def biased():
    """2,000 synthetic samples; group B's positives have their scores lowered (known lower recall)."""
    return make_biased_scores(2000, seed=7)


@pytest.fixture
def synthetic_dataset(tmp_path):
    """(manifest, predictions file) of a synthetic dataset written like a user's own."""
    return write_synthetic_dataset(tmp_path / "synthetic", make_biased_scores(1500, seed=3))


@pytest.fixture(scope="session")
def adult():
    """(train, test) Adult datasets, loaded once."""
    from evalkit import load_dataset

    return load_dataset(ADULT_TRAIN), load_dataset(ADULT_TEST)


@pytest.fixture(scope="session")
def flawed_models(tmp_path_factory, worker_id) -> dict[str, Path]:
    """Adult models saved with skops, each with one deliberate flaw, and a sound one (trained once per test
    run, see :func:`once_per_run`):

    - ``sound``: the demo logistic regression;
    - ``overfitted``: an unpruned decision tree (training ROC AUC ~1.0, evaluation ~0.77);
    - ``brittle``: a large gradient-boosted model, better than the sound one on clean data (AUC ~0.92)
      but leaning on exact values (capital gain exactly 0): small noise flips ~12% of its decisions;
    - ``biased``: a logistic regression trained on labels where 60% of the women with high income
      were relabelled as low income, so its recall for women collapses.
    """
    folder = once_per_run(tmp_path_factory, worker_id, "flawed-models", _train_flawed_models)
    return {name: folder / f"{name}.skops" for name in FLAWS}


FLAWS = ("sound", "overfitted", "brittle", "biased")


def _train_flawed_models(folder: Path) -> None:
    import numpy as np
    import skops.io as sio
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder
    from sklearn.tree import DecisionTreeClassifier

    from evalkit import load_dataset
    from evalkit.models import train_demo_model
    from evalkit.models._demo import _columns

    train = load_dataset(ADULT_TRAIN)
    X, y = train.features, train.y_true
    numeric, categorical = _columns(X)

    def encoder():
        return make_column_transformer(
            (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1), categorical),
            ("passthrough", numeric), verbose_feature_names_out=False)

    rng = np.random.default_rng(0)
    biased_y = np.where((X["sex"].to_numpy() == "Female") & (y == 1) & (rng.random(len(y)) < 0.6), 0, y)
    models = {
        "sound": train_demo_model("adult-logreg", train),
        "overfitted": make_pipeline(encoder(), DecisionTreeClassifier(random_state=0)).fit(X, y),
        "brittle": make_pipeline(encoder(), HistGradientBoostingClassifier(
            categorical_features=list(range(len(categorical))), max_iter=300, learning_rate=0.1, max_leaf_nodes=63,
            min_samples_leaf=5, early_stopping=False, random_state=0)).fit(X, y),
        "biased": train_demo_model("adult-logreg", train).fit(X, biased_y),
    }
    assert tuple(models) == FLAWS
    for name, model in models.items():
        sio.dump(model, folder / f"{name}.skops")


_COMMAND_ZYGOTE: list = []  # [ExitStack, socket path] once started: this test process's command zygote


def command_zygote() -> str:
    """The socket of this test process's command zygote (:func:`evalkit.runner.zygote`, ``kind="command"``),
    started at the first call and ended with the session. Its variable is not set for the test process."""
    import contextlib
    import tempfile

    from evalkit.runner import zygote
    from evalkit.runner._zygote import COMMAND_ZYGOTE_ENV

    if not _COMMAND_ZYGOTE:
        stack = contextlib.ExitStack()
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="evalkit-commands-")))
        path = stack.enter_context(zygote(folder, kind="command"))
        os.environ.pop(COMMAND_ZYGOTE_ENV)  # put back (absent) when the stack closes
        _COMMAND_ZYGOTE.extend([stack, path])
    return _COMMAND_ZYGOTE[1]


def evalkit_command(*args: str, cwd: Path | str = ROOT, env: dict[str, str] | None = None,
                    timeout: float = 600.0):
    """``python -m evalkit ARGS`` run to its end, its output captured as text, as ``subprocess.run(...,
    capture_output=True, text=True)`` gives it: forked by this test process's command zygote (started at the first
    call; :func:`evalkit.runner.fork_command`), which imported the command's modules once. A command's own
    start is about 2 s of a core, most of a failing command's time, and the suite runs ~50 of them. The real
    start (``python -m evalkit``, bin/evalkit, make) stays covered by tests/unit/runner/test_startup.py, the
    fault tests (signals, kernels killed, concurrent commands) and the make targets' tests.

    The zygote's variable is set for the call and the forked command (``report-all`` forks its reports too), not
    for the test process: the commands a test starts itself are started as usual."""
    import subprocess
    import sys
    import tempfile

    from evalkit.runner import fork_command
    from evalkit.runner._zygote import COMMAND_ZYGOTE_ENV

    cmd = [sys.executable, "-m", "evalkit", *args]
    path = command_zygote()
    child_env = {**(os.environ if env is None else env), COMMAND_ZYGOTE_ENV: path}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, open(os.devnull) as nothing, \
            environment_variable(COMMAND_ZYGOTE_ENV, path):
        proc = fork_command(cmd, env=child_env, cwd=str(cwd), stdin=nothing, stdout=out, stderr=err)
        if proc is None:  # the zygote refused (it never should): the command as usual
            return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=child_env, timeout=timeout)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, code, out.read(), err.read())


def pytest_sessionfinish(session, exitstatus):
    if _COMMAND_ZYGOTE:
        _COMMAND_ZYGOTE[0].close()
        _COMMAND_ZYGOTE.clear()


def stop_process_group(proc) -> None:
    """Stop a server started with ``start_new_session=True``: SIGTERM to its group, SIGKILL after 20 s."""
    import signal
    import subprocess

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
