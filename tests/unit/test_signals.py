"""Remembered signals (evalkit/signals.py): a swallowed interrupt still stops the pipeline."""

from __future__ import annotations

import signal

import pytest

from evalkit import signals


def test_a_swallowed_interrupt_is_raised_again_before_publishing():
    try:
        signals.check()  # nothing received yet: no-op
        try:
            signals.handler(signal.SIGTERM, None)
        except KeyboardInterrupt:
            pass  # what a library that catches and drops it would do
        with pytest.raises(KeyboardInterrupt, match="terminated by signal SIGTERM"):
            signals.check()
    finally:
        signals._received.clear()
