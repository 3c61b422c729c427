import sys

# This process runs papermill and nbconvert, so it imports jsonschema (through nbformat). jsonschema imports
# rfc3987_syntax when it is installed (it is, through jupyter-events' "format-nongpl" extra), and that
# compiles about 35 lark grammars at import: about 2 s of every command's start, for the "iri" formats no
# notebook schema uses (python-jsonschema/jsonschema#1428). Without the module jsonschema simply has no "iri"
# checker. Only evalkit's own command does without it: importing evalkit as a library changes nothing.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

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
