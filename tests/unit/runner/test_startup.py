"""The command's start-up: ``python -m evalkit`` goes without jsonschema's slow "iri" checker, and
notebooks are still validated; it marks its process as its own (its imports may freeze the garbage
collector's objects, evalkit._io.preimport)."""
import os
import subprocess
import sys

PROBE = """
import runpy, sys
sys.argv = ["evalkit", "--help"]
try:
    runpy.run_module("evalkit", run_name="__main__")
except SystemExit as exit:
    assert exit.code == 0, exit.code
import nbformat, jsonschema
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
nbformat.validate(nb)
broken = nbformat.v4.new_notebook()
broken["cells"] = [{"cell_type": "code"}]
try:
    nbformat.validate(broken)
except nbformat.ValidationError:
    print("refused")
print("iri" in jsonschema.FormatChecker().checkers, sys.modules.get("rfc3987_syntax"))
import gc
from evalkit import _io
print(_io._OWN_PROCESS, gc.isenabled(), gc.get_freeze_count() > 0)
"""


def test_the_command_validates_notebooks_without_the_iri_grammars():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-3:] == ["refused", "False None", "True True True"]  # and its imports may be frozen


def test_importing_evalkit_leaves_jsonschema_whole():
    probe = "import evalkit, evalkit.runner, jsonschema; print('iri' in jsonschema.FormatChecker().checkers)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


ARENA_PROBE = """
import os, sys


class Spy:  # records the option as Arrow is first imported (its allocator reads it then, once)
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow" and "seen" not in globals():
            globals()["seen"] = os.environ.get("MIMALLOC_ARENA_EAGER_COMMIT")


sys.meta_path.insert(0, Spy())
import evalkit
print(seen, os.environ["MIMALLOC_ARENA_EAGER_COMMIT"])
"""


def test_importing_evalkit_sets_arrows_allocator_option_before_arrow_loads():
    """Arrow's allocator commits its arenas lazily in evalkit's processes and those they start (kernels, workers):
    the option is set before pandas loads Arrow, and a value the user set is kept."""
    assert _said(ARENA_PROBE, "MIMALLOC_ARENA_EAGER_COMMIT") == ["0", "0"]
    assert _said(ARENA_PROBE, "MIMALLOC_ARENA_EAGER_COMMIT", "1") == ["1", "1"]


def _said(probe: str, variable: str, value: str | None = None) -> list[str]:
    """The words ``probe`` prints, run in a fresh Python with ``variable`` unset (None) or set to ``value``."""
    env = {k: v for k, v in os.environ.items() if k != variable}
    if value is not None:
        env[variable] = value
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          check=True).stdout.split()


HUGE_PAGES_PROBE = """
import os, subprocess, sys
import evalkit, numpy
# numpy's setter returns the setting it replaces: the one numpy took from the environment at its import
print(numpy._core.multiarray._set_madvise_hugepage(True), os.environ["NUMPY_MADVISE_HUGEPAGE"])
child = "import numpy; print(numpy._core.multiarray._set_madvise_hugepage(True))"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout.strip())
"""


def test_importing_evalkit_before_numpy_turns_numpys_huge_pages_off_here_and_in_children():
    """numpy's transparent huge pages are off in a process that imports evalkit first and in the processes it
    starts (kernels, servers); a value the user set is kept."""
    assert _said(HUGE_PAGES_PROBE, "NUMPY_MADVISE_HUGEPAGE") == ["False", "0", "False"]
    assert _said(HUGE_PAGES_PROBE, "NUMPY_MADVISE_HUGEPAGE", "1") == ["True", "1", "True"]


def test_a_notebook_figure_is_drawn_once_and_still_shown(tmp_path):
    """After ``setup_notebook()`` a real kernel draws each figure once, for the inline backend's PNG; pyplot's own
    post-cell redraw of every open figure (for GUI windows) would draw it a second time."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import evalkit, matplotlib.pyplot as plt\nevalkit.setup_notebook()"),
        nbformat.v4.new_code_cell("draws = []\nfig, ax = plt.subplots()\nax.plot([0, 1])\n"
                                  "fig.canvas.mpl_connect('draw_event', lambda event: draws.append(1));"),
        nbformat.v4.new_code_cell("print(len(draws))"),
    ])
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for o in nb.cells[1].outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert nb.cells[2].outputs[0]["text"].strip() == "1"


def test_a_notebook_gives_free_memory_back_after_every_cell(tmp_path):
    """``setup_notebook()`` registers one post-cell hook (also when called twice) that returns the allocators' free
    pages: it runs after every later cell, in a real kernel."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import evalkit, evalkit._io as io\nevalkit.setup_notebook()\nevalkit.setup_notebook()"),
        nbformat.v4.new_code_cell("calls = []\nrelease = io.release_free_memory\n"
                                  "io.release_free_memory = lambda: calls.append(1) or release()"),
        nbformat.v4.new_code_cell("print(len(calls))"),
        nbformat.v4.new_code_cell("print(len(calls))"),
    ])
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert [nb.cells[k].outputs[0]["text"].strip() for k in (2, 3)] == ["1", "2"]


EXIT_PROBE = """
import atexit, runpy, sys
atexit.register(lambda: print("exit handler ran"))
sys.argv = ["evalkit", *sys.argv[1:]]
runpy.run_module("evalkit", run_name="__main__")
print("never printed: the command ends the process")
"""


def test_the_command_ends_without_teardown_but_runs_exit_handlers_and_flushes(tmp_path):
    """``python -m evalkit`` ends with the command's exit code without the interpreter's teardown (about a second
    after a report); exit handlers still run and everything printed reaches the pipe, on success and on error."""
    ok = subprocess.run([sys.executable, "-c", EXIT_PROBE, "schemas", "--out", str(tmp_path)], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    *written, last = ok.stdout.splitlines()
    assert sorted(written) == sorted(str(p) for p in tmp_path.glob("*.json")) and len(written) == 5
    assert last == "exit handler ran"
    bad = subprocess.run([sys.executable, "-c", EXIT_PROBE, "report", "--model", "m.skops", "--data",
                          str(tmp_path / "missing.yaml")], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 1 and "missing.yaml" in bad.stderr and bad.stdout == "exit handler ran\n"


TRUSTED = """
import hashlib, json, sys
if sys.argv[1] == "without":
    sys.modules.setdefault(sys.argv[2], None)
from skops.io import _trusted_types as trusted
lists = {k: sorted(map(str, v)) for k, v in vars(trusted).items() if k.isupper() and isinstance(v, list)}
print(len(lists["SKLEARN_ESTIMATOR_TYPE_NAMES"]), hashlib.sha256(json.dumps(lists).encode()).hexdigest(),
      "dask.array" in sys.modules)
"""


def test_skops_trusts_the_same_types_without_sklearns_dask_adapter():
    """The kernels import skops without scikit-learn's array-API adapter for dask (runner._kernel.DASK_ADAPTER): the
    types skops trusts are the same, and dask.array is not imported."""
    from evalkit.runner._kernel import DASK_ADAPTER

    with_it, without = (subprocess.run([sys.executable, "-c", TRUSTED, how, DASK_ADAPTER], capture_output=True,
                                       text=True, check=True).stdout.split() for how in ("with", "without"))
    assert int(with_it[0]) > 150 and with_it[:2] == without[:2]
    assert with_it[2] == "True" and without[2] == "False"  # dask is installed: the walk imported it before
