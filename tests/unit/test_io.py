"""The root's file and process helpers (evalkit/_io.py)."""

from __future__ import annotations

import os
import subprocess
import sys

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


PREIMPORT = """
import gc, sys
from evalkit import _io
frozen = gc.get_freeze_count()
_io.preimport(["wave"])
library = ["wave" in sys.modules, gc.isenabled(), gc.get_freeze_count() == frozen]
_io.own_process()
_io.preimport(["wave"])
own = ["wave" in sys.modules, gc.isenabled(), gc.get_freeze_count() > frozen]
try:
    _io.preimport(["evalkit_no_such_module"])
except ModuleNotFoundError:
    print(library, own, gc.isenabled())
"""


def test_preimport_pauses_and_freezes_only_in_evalkits_own_process():
    """Imported as a library, evalkit leaves the importer's collector alone and imports nothing ahead; in its own
    process (``python -m evalkit``) the modules are imported and frozen with the collector on again after, also
    when an import fails. In a process of its own: freezing is for the life of a process."""
    out = subprocess.run([sys.executable, "-c", PREIMPORT], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[False, True, True] [True, True, True] True"
