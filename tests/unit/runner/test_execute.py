"""Executing a notebook (evalkit/runner/_execute.py): papermill's saves while cells run are throttled, and the
final save, with whatever a failed run got to, is always made."""

from __future__ import annotations

import nbformat
import pytest

from evalkit.exceptions import ReportError
from evalkit.runner import _execute
from evalkit.runner._kernel import warm_kernel


def _notebook(folder, cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), *map(nbformat.v4.new_code_cell, cells)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    path = folder / "template.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("fails", [False, True])
def test_saves_are_throttled_and_the_last_is_always_written(tmp_path, monkeypatch, fails):
    import papermill.iorw

    writes = []
    write = papermill.iorw.write_ipynb
    monkeypatch.setattr("papermill.engines.write_ipynb", lambda nb, path: (writes.append(path), write(nb, path)))
    monkeypatch.setattr(_execute, "SAVE_EVERY", 1e9)  # no save while cells run
    template = _notebook(tmp_path, ["y = x + 1", "y * 2", "raise ValueError('boom')" if fails else "z = y"])
    out = tmp_path / "out.ipynb"
    with warm_kernel(tmp_path, tmp_path / "kernel.log") as km:
        if fails:
            with pytest.raises(ReportError, match="boom") as err:
                _execute.execute_notebook(template, out, tmp_path, km=km, timeout=600, progress=False,
                                          parameters={"x": 2})
            out = err.value.notebook  # the partial notebook kept
        else:
            _execute.execute_notebook(template, out, tmp_path, km=km, timeout=600, progress=False,
                                      parameters={"x": 2})
    assert len(writes) == 2  # the parameterised notebook at the start, then the final one
    cells = {c.source: c for c in nbformat.read(out, as_version=4).cells}
    assert cells["y * 2"].outputs[0]["data"]["text/plain"] == "6"  # x = 2 injected, every cell's outputs saved
    if fails:
        assert cells["raise ValueError('boom')"].outputs[0]["ename"] == "ValueError"


def test_leaving_the_kernel_drops_messages_it_will_never_read(tmp_path, monkeypatch):
    """After stop_soon, leaving warm_kernel closes papermill's client with a zero linger on its request sockets
    (jupyter_client's 1 s linger made every report wait a second for a kernel already gone) and the kernel has
    exited."""
    from evalkit.runner import _kernel

    seen = []
    drop = _kernel._drop_unsent
    monkeypatch.setattr(_kernel, "_drop_unsent", lambda client: (drop(client), seen.append(
        [ch.socket.linger for ch in (client.shell_channel, client.stdin_channel, client.control_channel)
         if ch.socket is not None and not ch.socket.closed])))
    template = _notebook(tmp_path, ["y = x + 1"])
    with warm_kernel(tmp_path, tmp_path / "kernel.log") as km:
        _execute.execute_notebook(template, tmp_path / "out.ipynb", tmp_path, km=km, timeout=600, progress=False,
                                  parameters={"x": 2})
        km.stop_soon()
    assert seen and all(lingers and set(lingers) == {0} for lingers in seen)
    from jupyter_core.utils import run_sync

    assert not run_sync(km.is_alive)()


@pytest.mark.parametrize("how", ["launched", "forked"])
def test_the_kernel_ends_without_the_interpreters_teardown(tmp_path, request, how):
    """A pipeline's kernel leaves at once when shut down: no exit handler registered before the warm-up, and
    no finaliser of the session's objects, runs (they cost about 2 s after a report), yet a notebook's own
    exit handlers (registered later) still run first and the kernel's log is flushed. The same for a kernel
    launched as ``python -m ipykernel_launcher`` and one forked by the kernel zygote."""
    from jupyter_core.utils import run_sync

    if how == "launched":
        request.getfixturevalue("no_zygote")

    finalised, late = tmp_path / "finalised", tmp_path / "late-handler"
    template = _notebook(tmp_path, [
        f"class Witness:\n    def __del__(self):\n        open({str(finalised)!r}, 'w').close()\n"
        "w = Witness()",
        f"import atexit, sys\natexit.register(lambda: open({str(late)!r}, 'w').close())\n"
        "print('to the log', file=sys.__stderr__)"])
    with warm_kernel(tmp_path, tmp_path / "kernel.log") as km:
        _execute.execute_notebook(template, tmp_path / "out.ipynb", tmp_path, km=km, timeout=600, progress=False,
                                  parameters={"x": 2})
        km.stop_soon()
    assert not run_sync(km.is_alive)()
    assert late.is_file() and not finalised.exists()
    assert "to the log" in (tmp_path / "kernel.log").read_text()
