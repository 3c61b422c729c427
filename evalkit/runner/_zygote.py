"""A kernel zygote: one process that has imported what every report's kernel imports (:data:`WARM_UP`, skops
and ipykernel) and forks a kernel for each request, instead of each kernel starting Python and importing
them again (about 3 s of a core per kernel; see :func:`evalkit.runner.warm_kernel`).

Opt-in: :func:`warm_kernel` asks the zygote named by the environment variable :data:`ZYGOTE_ENV` (its Unix
socket) for its kernel, and starts the kernel the usual way when the variable is unset, the zygote does not
answer, or the kernel command, matplotlib backend or Python are not the zygote's.
:func:`evalkit.runner.zygote` starts one for a block of work (the test suite does, per test process).

A command zygote (``kind="command"``, named by :data:`COMMAND_ZYGOTE_ENV`) does the same for
``python -m evalkit ...`` itself: it has imported the command's modules (MLflow and its store, papermill,
nbconvert: about 2 s of a core per command, most of a failing command's time) and forks a process that runs
``evalkit.__main__`` with the request's arguments, working folder, environment and standard streams
(:func:`fork_command`). The test suite runs its commands so, except where the process's own start is tested.

A forked kernel is an ordinary ipykernel: it gets the request's command line, working folder, environment,
log file and a new session (process group), and is interrupted, stopped and killed by its process id like a
launched one; its exit status comes back through a pipe. It ends when the process that asked for it ends, as
a launched kernel does when its parent goes.

The zygote stays single-threaded between forks (Python's own threads; the BLAS library's worker threads
are re-created after fork by the library). Modules read environment variables at import, so the zygote
imports with the kernel's matplotlib backend and refuses a request with another one.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

#: The environment variable naming a zygote's socket; :func:`warm_kernel` uses the zygote when it is set.
ZYGOTE_ENV = "EVALKIT_KERNEL_ZYGOTE"
#: The environment variable naming a command zygote's socket (:func:`fork_command`).
COMMAND_ZYGOTE_ENV = "EVALKIT_COMMAND_ZYGOTE"
#: The backend ipykernel sets for its kernels when none is set (``ipykernel.kernelapp``).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_LAUNCHER = ["-m", "ipykernel_launcher"]
_COMMAND = ["-m", "evalkit"]


def serve(path: str, warm_up: str, kind: str = "kernel") -> None:
    """(The zygote's main.) Run ``warm_up`` (for kernels, after importing ipykernel), listen on the Unix socket
    ``path``, fork a kernel (``kind="kernel"``) or an evalkit command (``kind="command"``) per request, and
    report each one's exit status when it ends. Ends on SIGTERM or when its parent ends, killing the
    processes it forked that are still running."""
    if kind == "kernel":
        os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    before = dict(os.environ)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does (a command puts its working folder back, as -m does)
    if kind == "kernel":
        import ipykernel.ipkernel  # noqa: F401
        import ipykernel.kernelapp  # noqa: F401

    # A launched kernel's warm-up (runner._kernel.warm_up_code), or a command's imports: it also freezes what it
    # imports, so the imported modules' objects stay shared with the children (no copy on write from the
    # garbage collector).
    exec(warm_up, {})  # noqa: S102 - evalkit.runner.zygote's own code
    # Set by the imports (OpenMP's KMP_INIT_AT_FORK, ...): a launched kernel has them, a forked one gets them.
    added = {k: v for k, v in os.environ.items() if before.get(k) != v}
    parent = os.getppid()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    children: dict[int, int] = {}  # pid -> write end of its status pipe
    try:
        while not stopping and os.getppid() == parent:
            ready, _, _ = select.select([listener, wake_read], [], [], 1.0)
            if wake_read in ready:
                os.read(wake_read, 512)
            _reap(children)
            if listener in ready:
                conn, _ = listener.accept()
                with conn:
                    try:
                        _fork(kind, conn, listener, children, (wake_read, wake_write), added)
                    except (OSError, ValueError, KeyError):  # a broken request: refused (empty answer)
                        continue
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)


def _reap(children: dict[int, int]) -> None:
    """Collect ended kernels and write each one's exit status (``subprocess`` style) to its pipe."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = children.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, str(os.waitstatus_to_exitcode(status)).encode())
            os.close(fd)


def _fork(kind: str, conn: socket.socket, listener: socket.socket, children: dict[int, int],
          wake: tuple[int, int], added: dict[str, str]) -> None:
    """Read one request (JSON and its descriptors: [input,] output, error output, status pipe), fork its
    kernel or command and answer with the child's pid."""
    count = 4 if kind == "command" else 3
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, count)
    try:
        request = json.loads(message)
        *streams, status = fds
        # Only what this process can become: this Python, ipykernel with the backend it imported matplotlib
        # with, or evalkit's command.
        usable = (len(fds) == count and Path(request["argv"][0]).resolve() == Path(sys.executable).resolve()
                  and (request["argv"][1:3] == _COMMAND if kind == "command" else
                       request["argv"][1:3] == _LAUNCHER
                       and request["env"].get("MPLBACKEND", INLINE_BACKEND) == os.environ["MPLBACKEND"]))
    except (ValueError, KeyError, TypeError, IndexError):
        usable = False
    if not usable:
        for fd in fds:
            os.close(fd)
        return
    pid = os.fork()
    if pid == 0:  # the kernel or command
        try:
            signal.set_wakeup_fd(-1)
            listener.close()
            conn.close()
            for fd in (status, *wake, *children.values()):
                os.close(fd)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if kind == "kernel" or request.get("new_session"):
                os.setsid()
            if kind == "kernel":
                streams.insert(0, os.open(os.devnull, os.O_RDONLY))
            for target, fd in enumerate(streams):
                os.dup2(fd, target)
            for fd in set(streams):
                if fd > 2:
                    os.close(fd)
            (_become_command if kind == "command" else _become_kernel)(request, added)
        except BaseException:
            import traceback

            traceback.print_exc()  # into the kernel's log, or the command's error output
            sys.stderr.flush()
        finally:
            os._exit(1)
    for fd in streams:
        os.close(fd)
    children[pid] = status
    conn.sendall(str(pid).encode())


def _become_command(request: dict[str, Any], added: dict[str, str]) -> None:
    """(In the forked child.) Take the request's folder, environment and arguments and run ``evalkit.__main__``
    as ``python -m evalkit`` would (its working folder first on ``sys.path``); it ends the process itself."""
    import runpy

    _take(request, added)
    sys.path.insert(0, os.getcwd())
    sys.argv = ["-m", *request["argv"][3:]]  # run_module puts the module's file first, as -m does
    # evalkit.__main__ ends the process itself, or raises SystemExit (argparse's usage errors: 2)
    _run_as_main(lambda: runpy.run_module("evalkit", run_name="__main__", alter_sys=True), (sys.stdout, sys.stderr))


def _take(request: dict[str, Any], added: dict[str, str]) -> None:
    """(In the forked child.) The request's working folder, and its environment with what the zygote's imports
    set."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update({**added, **request["env"]})


def _run_as_main(main: Callable[[], object], streams: tuple[Any, ...]) -> NoReturn:
    """(In the forked child.) Run ``main`` and end the process as the interpreter ends after its main module: an
    uncaught SystemExit's status (its message printed when it is not a number), the exit handlers, then
    ``streams`` flushed, without the interpreter's teardown."""
    import atexit

    from .._io import end_process

    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        if not isinstance(stop.code, (int, type(None))):
            print(stop.code, file=sys.stderr)
    atexit._run_exitfuncs()  # what the interpreter's exit runs first (private, in CPython since 2.x)
    end_process(code, streams)


def _become_kernel(request: dict[str, Any], added: dict[str, str]) -> None:
    """(In the forked child.) Take the request's folder, environment and arguments, and run ipykernel as
    ``python -m ipykernel_launcher`` would: ``sys.argv`` and ``IPKernelApp.parent_handle`` (read from
    ``JPY_PARENT_PID`` when the zygote imported ipykernel) as in a launched kernel."""
    import importlib.util
    import threading

    _take(request, added)
    owner = int(request["owner"])
    args = [*request["argv"][3:], f"--IPKernelApp.parent_handle={owner}"]
    sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin, *request["argv"][3:]]
    threading.Thread(target=_end_with, args=(owner,), daemon=True, name="evalkit-owner").start()
    from ipykernel import kernelapp

    # the kernel's own exit handlers (run by _run_as_main) end the process
    _run_as_main(lambda: kernelapp.launch_new_instance(argv=args),
                 (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__))


def _end_with(pid: int) -> None:
    """(In the kernel.) End the process when process ``pid`` (the one that asked for it) ends."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        os._exit(1)
    select.select([fd], [], [])
    os._exit(1)


class ForkedProcess:
    """What :class:`subprocess.Popen` is to a launched kernel or command, for a forked one (as much of it as
    ``jupyter_client``'s provisioner uses): its pid, exit status, signals. Its standard streams are the
    caller's to read."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, status_fd: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._status = status_fd
        os.set_blocking(status_fd, False)

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                data = os.read(self._status, 64)
            except BlockingIOError:
                return None
            self.returncode = int(data) if data else -signal.SIGKILL  # zygote gone: report it killed
            os.close(self._status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"forked process {self.pid}", timeout or 0)
            select.select([self._status], [], [], left)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_kernel(cmd: list[str], *, env: dict[str, str], cwd: str, stdout: Any,
                stderr: Any) -> ForkedProcess | None:
    """A kernel for ``cmd`` forked by the zygote named in :data:`ZYGOTE_ENV`, or None when there is none, it
    does not answer, or ``cmd`` or ``env`` are not what it can serve (then launch the kernel as usual)."""
    if cmd[1:3] != _LAUNCHER:
        return None
    request = {"argv": cmd, "env": {**env, "JPY_PARENT_PID": str(os.getpid())}, "cwd": cwd, "owner": os.getpid()}
    return _ask(os.environ.get(ZYGOTE_ENV), request, [_fileno(stdout, 1), _fileno(stderr, 2)])


def fork_command(cmd: list[str], *, env: dict[str, str], cwd: str, stdin: Any = None, stdout: Any = None,
                 stderr: Any = None, new_session: bool = False) -> ForkedProcess | None:
    """``cmd`` (``[sys.executable, "-m", "evalkit", ...]``) forked by the command zygote named in
    :data:`COMMAND_ZYGOTE_ENV`, or None when there is none, it does not answer, or ``cmd`` is not evalkit's
    command under this Python (then start it as usual). ``stdin``, ``stdout`` and ``stderr`` are files or
    descriptors (None: this process's own); ``new_session`` as :class:`subprocess.Popen`'s
    ``start_new_session``."""
    if cmd[1:3] != _COMMAND:
        return None
    request = {"argv": cmd, "env": dict(env), "cwd": cwd, "new_session": new_session}
    out = _fileno(stdout, 1)
    err = out if stderr == subprocess.STDOUT else _fileno(stderr, 2)
    return _ask(os.environ.get(COMMAND_ZYGOTE_ENV), request, [_fileno(stdin, 0), out, err])


def _ask(path: str | None, request: dict[str, Any], streams: list[int]) -> ForkedProcess | None:
    """Send ``request`` and the descriptors ``streams`` (and a status pipe's write end) to the zygote at
    ``path``; the forked process, or None when there is no zygote or it refuses."""
    if not path:
        return None
    read, write = os.pipe()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(path)
            socket.send_fds(conn, [json.dumps(request).encode()], [*streams, write])
            os.close(write)
            write = -1
            conn.shutdown(socket.SHUT_WR)
            answer = conn.recv(64)
    except OSError:
        answer = b""
    finally:
        if write >= 0:
            os.close(write)
    if not answer:
        os.close(read)
        return None
    return ForkedProcess(int(answer), read)


def _fileno(stream: Any, default: int) -> int:
    """The descriptor of ``stream`` (a file, a descriptor, or None for this process's own ``default``)."""
    if stream is None:
        return default
    return stream if isinstance(stream, int) else stream.fileno()
