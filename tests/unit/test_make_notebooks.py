"""scripts/make_notebooks.py writes the notebooks it owns exactly as they are in notebooks/ (edit the script, not
the notebook)."""

from __future__ import annotations

import importlib.util
import json

import nbformat
import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "scripts" / "make_notebooks.py")
make_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_notebooks)


@pytest.mark.parametrize("name", sorted(make_notebooks.NOTEBOOKS))
def test_the_script_writes_the_shipped_notebook(name):
    written = json.loads(nbformat.writes(make_notebooks.build(name)))
    assert written == json.loads((ROOT / "notebooks" / name).read_text())
