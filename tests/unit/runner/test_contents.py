"""The reports' table of contents (evalkit/runner/_execute.py: add_contents)."""

from __future__ import annotations

import json

import nbformat
import pytest

from evalkit.runner import add_contents, section_id
from tests.conftest import ROOT


@pytest.mark.parametrize("name", ["evaluate_model.ipynb", "gate.ipynb", "compare_models.ipynb", "verify.ipynb"])
def test_every_report_gets_contents_under_its_first_screen(name):
    nb = nbformat.reads(json.dumps(json.load(open(ROOT / "notebooks" / name))), as_version=4)
    headings = [line[3:].strip() for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    sections = add_contents(nb)
    assert [h for h, _ in sections] == headings and len(headings) >= 3
    toc = next(i for i, c in enumerate(nb.cells) if "evalkit-toc" in c.source)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "\n## " in "\n" + c.source)
    assert toc == first - 1  # just before the first section: under the first screen
    for heading, anchor in sections:
        assert f"href='#{anchor}'" in nb.cells[toc].source
        assert sum(f"<a id='{anchor}'></a>" in c.source for c in nb.cells) == 1


def test_section_ids():
    assert section_id("Presentation attacks (spoofs)") == "evalkit-presentation-attacks-spoofs"
    assert section_id("What the model costs to run") == "evalkit-what-the-model-costs-to-run"
