"""The report's HTML: evalkit's exporter gives the page nbconvert's HTMLExporter gives, without its
BeautifulSoup pass."""
import base64
import re

import nbformat
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter

from evalkit.runner import _execute

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def _notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"## Section {k}\n\ntext <b>{k}</b>") for k in range(3)]
    figure = nbformat.v4.new_code_cell("plot()", metadata={"alt": "ROC curves, overall"})
    figure.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    table = nbformat.v4.new_code_cell("table()")
    table.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": "<table><tr><td>1</td></tr></table>",
                                                                    "text/plain": "1"}, execution_count=1),
                     nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    bare = nbformat.v4.new_code_cell("other()")
    bare.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG})]
    nb.cells += [figure, table, bare]
    for k, cell in enumerate(nb.cells):
        cell.id = f"cell{k}"
    return nb


def _page(path, monkeypatch, exporter=None):
    if exporter is not None:
        monkeypatch.setattr(_execute, "_report_exporter", lambda: exporter)
    nb = _notebook()
    nbformat.write(nb, path.parent / "nb.ipynb")
    _execute.render_html(path.parent / "nb.ipynb", path, title="t")
    return re.sub(r'cell-id=[0-9a-f-]+', "", str(BeautifulSoup(path.read_text(), "html.parser")))


def test_the_page_is_nbconverts_without_its_soup_pass(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ours = _page(tmp_path / "a" / "r.html", monkeypatch)
    theirs = _page(tmp_path / "b" / "r.html", monkeypatch, HTMLExporter)
    assert ours == theirs
    soup = BeautifulSoup(ours, "html.parser")
    assert [img["alt"] for img in soup.find_all("img")] == ["ROC curves, overall", "figure"]
    focusable = soup.select(".jp-Notebook div.jp-OutputArea-output, .jp-Notebook div.jp-Cell-inputWrapper")
    assert len(focusable) == 8 and {d["tabindex"] for d in focusable} == {"0"}  # 4 markdown, 4 outputs
