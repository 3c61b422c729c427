"""A Jupyter kernel started early and warmed up while the report pipeline does its other work.

Starting the kernel and importing the libraries the report notebook needs take several seconds,
which papermill would spend after everything else. :func:`warm_kernel` starts the kernel at once and
sends it a silent import request, so that the kernel boots and imports on one core while the
pipeline checks data, talks to MLflow and imports papermill on the other. papermill then executes the
notebook on this kernel (``km=``); the import request leaves no trace in the notebook.

The same request makes the kernel leave quickly when it is shut down (:func:`_exit_without_teardown`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

#: Imported silently in the kernel before the notebook runs: what the report notebook will import.
WARM_UP = (
    "import evalkit, evalkit.views, sklearn.metrics, sklearn.calibration, "
    "scipy.stats, matplotlib.pyplot, pandera.pandas"
)


#: The kernel's warm-up: :data:`WARM_UP` with the garbage collector paused, then frozen (as
#: :func:`evalkit._io.preimport` does in ``python -m evalkit``): the imports make about 2,000 modules of
#: long-lived objects and no garbage, and the collector's repeated scans of them took about 0.5 s of the
#: kernel's start (measured); frozen, they are skipped by every later collection too (a figure's cell ends
#: with one). Also without scikit-learn's dask adapter (:data:`DASK_ADAPTER`). The kernel is the report's own.
_WARM_UP_CODE = ("import gc, sys\ngc.disable()\nsys.modules.setdefault({adapter!r}, None)\n{imports}\n"
                 "gc.freeze()\ngc.enable()\n")

#: scikit-learn's vendored array-API adapter for dask arrays, which evalkit's kernels do without (their warm-up,
#: :func:`warm_up_code`, also the zygote's, marks it missing in ``sys.modules`` before importing). skops lists
#: the estimator types it trusts at import (``sklearn.utils.all_estimators``), walking every scikit-learn
#: package, and walking imports each one: this one imports ``dask.array`` when dask is installed (it is, for
#: ``ENGINE=dask``), 0.3-0.4 s of the kernel's warm-up, which a report waits for. ``all_estimators`` skips
#: ``externals`` anyway: skops' trusted lists are the same (tests/unit/runner/test_startup.py). The adapter
#: serves scikit-learn given dask arrays with array-API dispatch on, which a report never does; ``ENGINE=dask``
#: imports dask itself.
DASK_ADAPTER = "sklearn.externals.array_api_compat.dask"


def warm_up_code(extra: str = "") -> str:
    """The code a kernel runs to warm up (:data:`_WARM_UP_CODE`): :data:`WARM_UP` and the modules in ``extra``.
    A launched kernel is sent it by :func:`warm_kernel`; the zygote runs it before it forks (:func:`zygote`)."""
    return _WARM_UP_CODE.format(adapter=DASK_ADAPTER, imports=WARM_UP + (f", {extra}" if extra else ""))


#: Sent after the imports: the kernel will end without the interpreter's teardown
#: (:func:`_exit_without_teardown`).
_AT_EXIT = "__import__('evalkit.runner._kernel', fromlist=['_'])._exit_without_teardown()"


def _exit_without_teardown() -> None:
    """(Runs in the kernel.) End the kernel process as soon as the interpreter starts to exit.

    After a report's last cell, the kernel's clean exit took about 2 s of one core (measured with py-spy):
    IPython's exit handler collects garbage and saves the session's history, then the interpreter frees every
    object of every imported module. The report's process waits for it before it can finish. Nothing of that
    is needed by a kernel that papermill has finished with: its outputs are in the notebook, its history is
    not kept. Exit handlers run last registered first: this one, registered after the kernel's and IPython's
    own, runs before them (a notebook's own handlers, registered later still, run before it). It flushes the
    process's own output (the kernel's log) and ends the process.
    """
    import atexit
    import sys

    from .._io import end_process

    atexit.register(lambda: end_process(0, (sys.__stdout__, sys.__stderr__)))


def model_imports(model: str) -> str:
    """What the kernel imports beyond :data:`WARM_UP` for ``model`` (a ``MODEL=`` spec), as ``extra`` for
    :func:`warm_kernel`: skops for a model to load; nothing for scores given as a file or column. skops takes
    about 1.2 s to import, most of it building its lists of trusted numpy and scipy types."""
    from ..models import gives_scores

    return "" if gives_scores(model) else "skops.io"


@contextmanager
def warm_kernel(cwd: Path, log: Path, *, kernel_name: str = "python3", extra: str = "") -> Iterator[Any]:
    """Start a kernel in ``cwd``, ask it to import :data:`WARM_UP` (and the modules in ``extra``), yield its
    manager, shut it down. ``manager.stop_soon()`` asks the kernel to shut down early, while the caller
    goes on (rendering); leaving the block then waits for it to exit.

    The kernel process writes its own stdout and stderr (start-up notices, a traceback if it is
    stopped while booting) to ``log`` rather than the terminal; cell outputs still reach the notebook.
    The kernel is always shut down on exit, also on errors and Ctrl-C. Inside :func:`zygote` (or with its
    variable set) the kernel is forked from the zygote, which has imported :data:`WARM_UP` already.
    """
    import zmq
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    issued: list[Any] = []

    class _Manager(AsyncKernelManager):
        """Remembers the clients it hands out: papermill does not stop a client whose manager it
        does not own, and each one would keep a heartbeat thread and its sockets alive."""

        stopping = False

        def client(self, **kwargs: Any) -> Any:
            kc = super().client(**kwargs)
            issued.append(kc)
            return kc

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            """Fork the kernel from the kernel zygote when there is one (:mod:`._zygote`), else launch it."""
            from ._zygote import fork_kernel

            forked = fork_kernel(kernel_cmd, env=dict(kw.get("env") or os.environ),
                                 cwd=kw.get("cwd") or os.getcwd(), stdout=kw.get("stdout"),
                                 stderr=kw.get("stderr"))
            if forked is None:
                await super()._async_launch_kernel(kernel_cmd, **kw)
                return
            provisioner = self.provisioner
            assert provisioner is not None
            provisioner.process, provisioner.pid, provisioner.pgid = forked, forked.pid, forked.pid
            provisioner.cwd = kw.get("cwd") or os.getcwd()
            self._reconcile_connection_info(provisioner.connection_info)

        def stop_soon(self) -> None:
            """Ask the kernel to shut down and return at once: it exits (within tens of milliseconds, see
            :func:`_exit_without_teardown`) while this process renders; leaving :func:`warm_kernel` waits for
            it."""
            if not self.stopping and run_sync(self.is_alive)():
                self.shutting_down = True
                run_sync(self.request_shutdown)()
                self.stopping = True

    # Unix sockets in the run's private folder, not TCP ports: a port is picked by binding and releasing it,
    # and two reports starting kernels at once (make report-all) can pick the same one; the kernel then dies
    # before it answers ("Kernel died before replying to kernel_info").
    km = _Manager(kernel_name=kernel_name, transport="ipc", ip=str(log.parent / "kernel"))
    with open(log, "ab") as sink:
        run_sync(km.start_kernel)(cwd=str(cwd), stdout=sink, stderr=sink)
    warm_context = zmq.Context()
    kc = BlockingKernelClient(context=warm_context)
    try:
        kc.load_connection_info(km.get_connection_info())
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)  # only to send
        # Queued by ZMQ until the kernel is up; silent, so it adds no output or execution count.
        code = warm_up_code(extra) + _AT_EXIT
        kc.execute(code, silent=True, store_history=False)
        yield km
    finally:
        kc.stop_channels()
        warm_context.destroy(linger=0)
        for client in issued:
            _drop_unsent(client)
            client.stop_channels()
        if km.stopping:  # asked to shut down already: wait for it (SIGTERM, then SIGKILL, if it hangs)
            run_sync(km.finish_shutdown)()
            run_sync(km.cleanup_resources)()  # also removes the connection file
        elif run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)(now=False)  # also removes the connection file
        if not km.context.closed:
            km.context.destroy(linger=0)


def _drop_unsent(client: Any) -> None:
    """Close ``client``'s request sockets without waiting for messages the kernel will never read. A socket
    keeps unsent messages for its linger time (jupyter_client: 1 s) and destroying the client's context waits
    for it: about a second after every report, with the kernel gone. The heartbeat channel, a thread, closes
    its own socket at once."""
    for channel in (client.shell_channel, client.stdin_channel, client.control_channel, client.iopub_channel):
        socket = getattr(channel, "socket", None)
        if socket is not None and not socket.closed:
            socket.linger = 0


#: What a command zygote imports before it forks (:func:`zygote` with ``kind="command"``): what ``python -m
#: evalkit`` imports for its commands (MLflow and its SQLite stores, papermill, nbconvert, jupyter_client,
#: skops), without jsonschema's "iri" checker as in the command (:func:`evalkit._io.without_iri_format_checker`).
COMMAND_WARM_UP = ("import gc\ngc.disable()\nfrom evalkit._io import without_iri_format_checker\n"
                   "without_iri_format_checker()\nimport evalkit.cli, evalkit.runner, evalkit.compare, evalkit.gate, "
                   "evalkit.reproduce, evalkit.verification, mlflow, mlflow.store.tracking.sqlalchemy_store, "
                   "mlflow.store.model_registry.sqlalchemy_store, papermill, nbconvert, jupyter_client, skops.io\n"
                   "gc.freeze()\ngc.enable()\n")


@contextmanager
def zygote(folder: Path, kind: Literal["kernel", "command"] = "kernel") -> Iterator[str]:
    """Start a zygote (:mod:`._zygote`) listening in ``folder``, and set its variable for this process and the
    processes it starts inside the block. A kernel zygote (``ZYGOTE_ENV``): :func:`warm_kernel` then forks
    its kernels from it. A command zygote (``COMMAND_ZYGOTE_ENV``): :func:`evalkit.runner.fork_command` forks
    ``python -m evalkit`` commands from it. Yields the socket's path. The zygote, and any process of it still
    running, ends with the block."""
    import subprocess
    import sys

    from .._io import environment_variable
    from ._zygote import COMMAND_ZYGOTE_ENV, ZYGOTE_ENV

    if kind not in ("kernel", "command"):
        raise ValueError(f"kind must be 'kernel' or 'command', got {kind!r}")
    path = str(Path(folder) / f"{kind}-zygote.sock")
    warm_up = warm_up_code("skops.io") if kind == "kernel" else COMMAND_WARM_UP
    code = f"from evalkit.runner._zygote import serve; serve({path!r}, {warm_up!r}, {kind!r})"
    proc = subprocess.Popen([sys.executable, "-c", code],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # waits for readiness (or the zygote's end)
        if line.strip() != "ready":
            raise RuntimeError(f"the {kind} zygote did not start (exit code {proc.wait()})")
        with environment_variable(ZYGOTE_ENV if kind == "kernel" else COMMAND_ZYGOTE_ENV, path):
            yield path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
