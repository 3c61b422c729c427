"""The root's file and process helpers (evalkit/_io.py)."""

from __future__ import annotations

import os

import pytest

from evalkit._io import environment_variable


def test_an_environment_variable_is_set_inside_the_block_and_restored_or_unset_after(monkeypatch):
    monkeypatch.setenv("EVALKIT_PROBE", "before")
    monkeypatch.delenv("EVALKIT_PROBE_UNSET", raising=False)
    with environment_variable("EVALKIT_PROBE", "inside"), environment_variable("EVALKIT_PROBE_UNSET", "x"):
        assert os.environ["EVALKIT_PROBE"] == "inside" and os.environ["EVALKIT_PROBE_UNSET"] == "x"
    assert os.environ["EVALKIT_PROBE"] == "before" and "EVALKIT_PROBE_UNSET" not in os.environ
    with pytest.raises(RuntimeError), environment_variable("EVALKIT_PROBE", "inside"):
        raise RuntimeError("left by an error")
    assert os.environ["EVALKIT_PROBE"] == "before"
