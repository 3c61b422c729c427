"""Executing, rendering and publishing a notebook report: the steps :func:`run_pipeline` strings together.

papermill executes the notebook on an already started kernel; nbconvert renders it to one self-contained
HTML file without code cells; figures are extracted for MLflow; the outputs are moved into place only
when every step has succeeded.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import signals
from .._io import atomic_write_bytes, atomic_write_text
from ..evaluation import git_commit, versions
from ..exceptions import ReportError

_TEMPLATES = Path(__file__).parent / "templates"

_START = time.monotonic()


def log(message: str) -> None:
    """A progress line on stderr, with the seconds since evalkit was imported."""
    print(f"evalkit [{time.monotonic() - _START:5.1f}s] {message}", file=sys.stderr, flush=True)


def render_html(notebook: Path, html_path: Path, *, title: str) -> Path:
    """Render an executed notebook to a self-contained HTML file without code cells.

    Inputs and prompts are left out, figures are embedded, and no script or stylesheet is loaded from
    the network (see ``evalkit/templates/evalkit_report``).
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata["title"] = title
    add_contents(nb)
    for cell in nb.cells:  # a figure cell's "alt" metadata describes its images to screen readers
        alt = cell.metadata.get("alt")
        for output in cell.get("outputs", []) if alt else []:
            if "image/png" in output.get("data", {}):
                output.setdefault("metadata", {}).setdefault("image/png", {})["alt"] = alt
    exporter = _report_exporter()(
        template_name="evalkit_report",
        extra_template_basedirs=[str(_TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return atomic_write_text(html_path, body)


_FOCUSABLE_DIV = re.compile(r'<div class="([^"]*\b(?:jp-OutputArea-output|jp-Cell-inputWrapper)\b[^"]*)"')


def _report_exporter() -> type:
    """nbconvert's ``HTMLExporter`` without its last pass over the page.

    ``HTMLExporter.from_notebook_node`` parses the whole rendered page with BeautifulSoup's pure-Python parser
    to give images without alt text a placeholder and every output and cell input (here: the markdown)
    ``tabindex="0"``: 1.5 s of a report's 1.7 s rendering (25,000 tags). Here every figure has its alt text
    from the template (from the cell's ``alt`` metadata, else "figure"), and those ``div`` tags get their
    ``tabindex`` from one regular expression over the page.
    """
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class ReportExporter(HTMLExporter):
        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> tuple[str, Any]:
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter("highlight_code", self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _FOCUSABLE_DIV.sub(r'<div tabindex="0" class="\1"', page), resources

    return ReportExporter


def section_id(heading: str) -> str:
    """The anchor of a report section: ``evalkit-`` and the heading's words in lower case, joined by ``-``.

    Examples
    --------
    >>> section_id("Where the model fails")
    'evalkit-where-the-model-fails'
    """
    return "evalkit-" + re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def add_contents(nb: Any) -> list[tuple[str, str]]:
    """Give every section heading (``## ...`` in a markdown cell) an anchor and put a table of contents linking
    to them just before the first one, under the first screen. Returns (heading, anchor) pairs; nothing is added
    for fewer than three sections."""
    import nbformat

    sections: list[tuple[str, str]] = []
    first = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        for k, line in enumerate(lines):
            m = re.match(r"^##\s+(.+?)\s*$", line)
            if m:
                anchor = section_id(m.group(1))
                sections.append((m.group(1), anchor))
                lines[k] = f"<a id='{anchor}'></a>\n\n{line}"
                first = index if first is None else first
        cell.source = "\n".join(lines)
    if len(sections) < 3 or first is None:
        return sections
    links = "".join(f"<li><a href='#{a}'>{html.escape(h)}</a></li>" for h, a in sections)
    toc = nbformat.v4.new_markdown_cell(f"<nav class='evalkit-toc' aria-label='Contents'><b>Contents</b>"
                                        f"<ol>{links}</ol></nav>")
    nb.cells.insert(first, toc)
    return sections


def render_outputs(notebook: Path, staging: Path, html_name: str, json_name: str, *,
                   title: str) -> tuple[Path, list[Path], dict[str, Any]]:
    """Render an executed notebook to ``staging/<html_name>``, save its figures in ``staging/figures``
    and read the JSON document it had to write.

    Raises
    ------
    ReportError
        If the notebook did not write ``json_name``.
    """
    log(f"rendering {html_name}")
    html = render_html(notebook, staging / html_name, title=title)
    figures = extract_figures(notebook, staging / "figures")
    path = staging / json_name
    if not path.is_file():
        raise ReportError(f"the notebook {notebook.name} did not write {json_name}", notebook=notebook)
    return html, figures, json.loads(path.read_text())


def extract_figures(notebook: Path, out_dir: Path) -> list[Path]:
    """Save every PNG output of an executed notebook as ``<cell tag>.png`` (or ``figure-<cell>.png``).

    A cell's first tag starting with ``figure-`` names its images; a cell with several images gets
    ``-2``, ``-3`` … suffixes.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    saved = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = [t for t in cell.metadata.get("tags", []) if t.startswith("figure-")]
        stem = tags[0] if tags else f"figure-{index:02d}"
        images = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        for k, data in enumerate(images, start=1):
            name = f"{stem}.png" if k == 1 else f"{stem}-{k}.png"
            saved.append(atomic_write_bytes(out_dir / name, base64.b64decode(data)))
    return saved


def publish(staging: Path, out_dir: Path, names: Sequence[str] = ("metrics.json", "scores.parquet",
                                                                  "evaluate_model.ipynb", "report.html")) -> None:
    """Move the staged files into ``out_dir`` by renames on the same file system; the last of ``names``
    (the HTML) goes last so it marks completeness. A lock on ``out_dir`` keeps two runs of one model apart."""
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _move_into(staging, out_dir, names)


def _move_into(staging: Path, out_dir: Path, names: Sequence[str]) -> None:
    figures = staging / "figures"
    if figures.is_dir():
        old = out_dir / "figures"
        trash = out_dir / f".old-figures-{uuid.uuid4().hex[:8]}"
        if old.exists():
            old.rename(trash)
        figures.rename(old)
        shutil.rmtree(trash, ignore_errors=True)
    for name in names:
        os.replace(staging / name, out_dir / name)
    (out_dir / "failed.ipynb").unlink(missing_ok=True)

def staging_dir(output_root: Path, name: str) -> Path:
    """A private folder beside the final one (same file system, so publishing is a rename)."""
    output_root.mkdir(parents=True, exist_ok=True)
    staging = output_root / f".staging-{name}-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging

def version_params() -> dict[str, str]:
    return {f"version_{k}": v for k, v in versions().items()} | {"git_commit": git_commit()}

_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "float": (int, float), "int": (int,), "str": (str,), "bool": (bool,), "list": (list, tuple), "dict": (dict,),
}


def notebook_parameters(notebook: Path) -> dict[str, str | None]:
    """The parameters a notebook declares: name to annotation (``"float"`` …, or None if unannotated).

    Reads the cell tagged ``parameters`` with :mod:`ast`, without papermill or a kernel.

    Raises
    ------
    ReportError
        If the notebook cannot be read or has no ``parameters`` cell.
    """
    import ast

    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError) as err:
        raise ReportError(f"{notebook}: cannot read the notebook: {err}") from err
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
               for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not sources:
        raise ReportError(f"{notebook}: no cell tagged 'parameters'; papermill cannot parameterise it")
    declared: dict[str, str | None] = {}
    for node in ast.parse(sources[0]).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared[node.target.id] = ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign):
            declared.update({t.id: None for t in node.targets if isinstance(t, ast.Name)})
    return declared


def check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    """Refuse parameters the notebook's ``parameters`` cell does not declare, or of another type than
    its annotation (``threshold: float = 0.5``). Runs before the kernel is asked to do anything."""
    declared = notebook_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ReportError(f"{notebook}: unknown parameter(s) {unknown}; its parameters cell declares "
                          f"{sorted(declared)}")
    for name, value in parameters.items():
        expected = declared[name]
        types = _PARAMETER_TYPES.get(expected or "")
        if types is not None and (isinstance(value, bool) and bool not in types or not isinstance(value, types)):
            raise ReportError(f"{notebook}: parameter '{name}' expects {expected}, got "
                              f"{type(value).__name__} {value!r}")


#: Seconds between two saves of the notebook being executed. papermill saves the whole notebook (with its
#: images) when each cell starts and ends, about 1.4 s of a report's critical path; this keeps a save at
#: most every second while cells run. The final save (also after a failure, a time-out or Ctrl-C) is always
#: made, so a failed run still keeps its partial notebook.
SAVE_EVERY = 1.0

_ENGINE = "evalkit"


@functools.cache
def _register_engine() -> None:
    """Register papermill's nbclient engine under :data:`_ENGINE` (once per process), with saves at most every
    :data:`SAVE_EVERY` seconds until the final one."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class Manager(NotebookExecutionManager):  # type: ignore[misc]
        final = started = False

        def save(self, **kwargs: Any) -> None:
            if self.final or not self.started or (self.now() - self.last_save_time).total_seconds() >= SAVE_EVERY:
                self.started = True  # the first save (the parameterised notebook) is made at once
                super().save(**kwargs)

        def notebook_complete(self, **kwargs: Any) -> None:
            self.final = True  # always written: the end of the run, or what a failed run got to
            super().notebook_complete(**kwargs)

    class Engine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, output_path: str | None = None,
                             progress_bar: bool = True, log_output: bool = False, autosave_cell_every: int = 30,
                             **kwargs: Any) -> Any:  # papermill's Engine.execute_notebook with the Manager above
            nb_man = Manager(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                             autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(_ENGINE, Engine)


def execute_notebook(template: Path, out: Path, out_dir: Path, *, km: Any, timeout: int, progress: bool,
                     parameters: dict[str, Any]) -> None:
    """Execute ``template`` with papermill into ``out`` on the kernel ``km``, after checking ``parameters``.

    Raises
    ------
    ReportError
        On a failing cell, a cell over ``timeout`` seconds, or a dead kernel; the partial notebook is
        kept as ``<out_dir>/failed.ipynb`` and named in the error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    log(f"executing {template.name} with papermill")
    check_parameters(template, parameters)
    _register_engine()
    try:
        pm.execute_notebook(
            str(template), str(out), parameters=parameters, cwd=str(template.parent), progress_bar=progress,
            execution_timeout=timeout, kernel_name="python3", language="python", km=km, engine_name=_ENGINE,
        )
        signals.check()  # an interrupt that a library caught still fails the run
    except PapermillExecutionError as err:
        failed = _keep_failed(out, out_dir)
        raise ReportError(
            f"the report notebook failed in cell {err.exec_count}: {err.ename}: {err.evalue}"
            f" (partial notebook kept at {failed})",
            notebook=failed,
        ) from err
    except TimeoutError as err:  # nbclient's CellTimeoutError
        failed = _keep_failed(out, out_dir)
        raise ReportError(f"a notebook cell ran longer than the time limit of {timeout} s (--timeout); "
                          f"partial notebook kept at {failed}", notebook=failed) from err
    except (OSError, KeyboardInterrupt, SystemExit) as err:  # full/read-only disk (TimeoutError is above), Ctrl-C
        err.notebook = _keep_failed(out, out_dir)  # type: ignore[union-attr]  # attached to the FAILED run
        raise
    except Exception as err:  # DeadKernelError and other kernel failures
        failed = _keep_failed(out, out_dir)
        raise ReportError(f"the notebook kernel failed: {type(err).__name__}: {err} "
                          f"(partial notebook kept at {failed})", notebook=failed) from err


def _keep_failed(notebook: Path, out_dir: Path) -> Path | None:
    """Copy a partially executed notebook to ``<out_dir>/failed.ipynb`` (the last report stays)."""
    if not notebook.is_file():
        return None
    target = out_dir / "failed.ipynb"
    try:
        atomic_write_bytes(target, notebook.read_bytes())
    except OSError:  # best effort: the disk may be the reason we are here
        return None
    return target

def fail_run(run_id: str, err: BaseException, *, end: bool = True) -> None:
    """Mark a run FAILED (unless ``end`` is False: a run someone else owns) with the error as a tag and the
    partial notebook (if any) attached; never raises."""
    from .. import tracking

    try:
        notebook = getattr(err, "notebook", None)
        if notebook is not None and Path(notebook).is_file():
            tracking.log_artifacts(run_id, [Path(notebook)])
        tracking.client().set_tag(run_id, "evalkit.error", f"{type(err).__name__}: {err}"[:5000])
        if end:
            tracking.end_run(run_id, "FAILED")
            log(f"MLflow run {run_id} marked FAILED")
    except Exception as log_err:  # never hide the original error behind a logging one
        log(f"could not mark MLflow run {run_id} FAILED: {log_err}")
