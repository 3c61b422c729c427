"""Small file helpers: streamed checksums, atomic writes, and giving Arrow's free memory back after a read."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader sees either the old file or the complete new one, never a truncated file.
    """
    return _atomic_write(path, lambda fh: fh.write(data))


def _atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """``write(file)`` into a temporary file in ``path``'s folder, then flush, fsync and rename it to
    ``path``; the temporary file is removed on any error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, strict JSON (NaN is refused) atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def atomic_write_parquet(path: str | Path, frame: Any) -> Path:
    """Write a pandas DataFrame as Parquet (pyarrow, no index) atomically (see :func:`atomic_write_bytes`),
    streamed into the temporary file (no copy of the whole file in memory)."""
    return _atomic_write(path, lambda fh: frame.to_parquet(fh, index=False, engine="pyarrow"))


def release_free_memory() -> None:
    """Give the allocators' free pages back to the system: Arrow's (mimalloc) and the C library's (glibc's
    ``malloc_trim``).

    Reading a Parquet file builds an Arrow table that is freed once converted to pandas; mimalloc keeps those
    pages (about 130 MB at 10^6 rows) resident. glibc keeps the freed temporaries of numpy and pandas in its
    heap (about 80 MB after an evaluation at 10^6 rows). Both count in a report's peak while the next step
    allocates from the other allocator. Milliseconds (some tens on a large, fragmented heap); nothing to do
    for an allocator that is not in use."""
    import sys

    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None (another C library, another system)."""
    import ctypes

    # the symbols already loaded (find_library would run ldconfig in a subprocess: a fork of a big process)
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def end_process(code: int, streams: Iterable[Any]) -> NoReturn:
    """Flush ``streams`` and end the process with ``code`` at once (``os._exit``): no exit handlers run and
    the interpreter frees nothing (one to two seconds after a report, in the command and in its kernel). A
    stream that is None, closed or broken is passed over: nothing more can reach it."""
    for stream in streams:
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


@contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    """The environment variable ``name`` set to ``value`` inside the block (for this process and the processes
    it starts), and as it was, or unset, after it."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


#: Set by :func:`own_process`: this process is ``python -m evalkit``, not a program that imported evalkit.
_OWN_PROCESS = False


def own_process() -> None:
    """Mark this process as evalkit's own command (``python -m evalkit`` calls it first), so that
    :func:`preimport` may pause and freeze Python's garbage collector here; freezes what is imported so far."""
    import gc

    global _OWN_PROCESS
    _OWN_PROCESS = True
    gc.freeze()


def preimport(modules: Iterable[str]) -> None:
    """Import ``modules`` now, with Python's cyclic garbage collector paused, then freeze what exists
    (:func:`gc.freeze`): in evalkit's own process (:func:`own_process`) only; elsewhere nothing happens (a
    program that imported evalkit keeps its collector as it is, and imports as it goes).

    A report command imports about 2,300 modules (MLflow and its SQLite store, papermill, nbconvert): long-lived
    objects and next to no garbage. While they were made, the collector scanned the growing heap again and
    again: 7 full collections, 1.1 s of the command's CPU; 0.2 s with this (measured on Adult; nbconvert is
    imported after the run, with the heap frozen). Frozen, they are also skipped by every later collection.
    What is alive at the end stays frozen for the life of the process: for imports at its start, never around
    work on data. Modules imported already are skipped; when all are, nothing is frozen.
    """
    missing = [name for name in modules if name not in sys.modules]
    if not _OWN_PROCESS or not missing:  # already imported (a second pipeline in one command): nothing to freeze
        return
    import gc
    import importlib

    gc.disable()
    try:
        for name in missing:
            importlib.import_module(name)
    finally:
        gc.freeze()
        gc.enable()


def without_iri_format_checker() -> None:
    """Leave jsonschema without its "iri" format checker, in this process: call before anything imports
    jsonschema. A process that runs papermill and nbconvert imports jsonschema (through nbformat), which
    imports rfc3987_syntax when it is installed (it is, through jupyter-events' "format-nongpl" extra), and
    that compiles about 35 lark grammars at import: 2-5 s of the process's start, for the "iri" formats no
    notebook schema uses (python-jsonschema/jsonschema#1428). Without the module jsonschema simply has no
    "iri" checker. ``python -m evalkit`` and the test processes call it; importing evalkit as a library
    changes nothing."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
