import sys

from ._io import own_process, without_iri_format_checker

own_process()  # the imports this command makes may pause and freeze the garbage collector (_io.preimport)
without_iri_format_checker()  # before papermill and nbconvert import jsonschema: about 2 s of every command

from .cli import main  # noqa: E402


def _exit(code: int) -> None:
    """End the process with ``code`` without the interpreter's teardown: after a report, freeing every
    imported module's objects takes about a second of the command's time (the garbage collector, nothing to
    save). Exit handlers still run (MLflow's, logging's) and the standard streams are flushed first. With a
    non-daemon thread still running, the usual exit waits for it."""
    import atexit
    import threading

    from ._io import end_process

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter's exit runs first (private, in CPython since 2.x)
    end_process(code, (sys.stdout, sys.stderr))


_exit(main())
