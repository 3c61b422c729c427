"""Ctrl-C and SIGTERM, remembered: a signal that some library swallows still stops the pipeline.

The CLI installs :func:`handler` for SIGINT and SIGTERM. It records the signal and raises
:class:`KeyboardInterrupt`; the pipelines call :func:`check` before they publish anything, so even an
interrupt caught and dropped deep inside a notebook client cannot let a report or gate decision
through: the run is marked FAILED and the CLI exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import signal

_received: list[str] = []


def handler(signum: int, frame: object) -> None:
    """Record the signal and raise :class:`KeyboardInterrupt` naming it."""
    name = signal.Signals(signum).name
    _received.append(name)
    raise KeyboardInterrupt(f"terminated by signal {name}")


def install() -> None:
    """Use :func:`handler` for SIGINT and SIGTERM (main thread only)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def check() -> None:
    """Raise :class:`KeyboardInterrupt` if a signal arrived since start-up, even if it was swallowed."""
    if _received:
        raise KeyboardInterrupt(f"terminated by signal {_received[-1]}")
