"""The example notebooks beyond the report run headless with papermill, cleanly, as in JupyterLab."""

import nbformat
import papermill as pm
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_multiclass_and_ranking_notebook(tmp_path):
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "multiclass_and_ranking.ipynb"), str(out),
                        parameters={"n": 2000, "queries": 200}, cwd=str(ROOT / "notebooks"), progress_bar=False,
                        kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") in ("error", "stream")]  # no errors, warnings or prints
    html = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    assert "B / fox" in html and "precision@5" in html and "true \\ predicted" in html


def test_explore_notebook_runs_headless(synthetic_dataset, tmp_path):
    manifest, preds = synthetic_dataset
    out = tmp_path / "explore.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "explore.ipynb"), str(out),
                        parameters={"model": str(preds), "data": str(manifest)}, cwd=str(ROOT / "notebooks"),
                        progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # the widget
