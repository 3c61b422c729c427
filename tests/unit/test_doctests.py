"""Every example in evalkit's docstrings runs and shows what it says (the examples are documentation a
reader copies; several had drifted from the code before this test)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT

MODULES = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "evalkit").rglob("*.py")
                 if p.name != "__main__.py")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    module = importlib.import_module(name.removesuffix(".__init__"))
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={"np": np, "pd": pd, **vars(module)}):
        if test.filename and not test.filename.startswith(str(ROOT / "evalkit")):
            continue  # examples re-exported from elsewhere are checked where they are written
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (output above)"
