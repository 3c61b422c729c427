"""The one run skeleton that the report, the gate and the comparison share.

validate → scratch folder → MLflow run → execute the notebook → render → log → publish, or fail the run
keeping the partial notebook. A pipeline supplies only what differs (:class:`Pipeline`): how it checks its
input, how it starts its run, the notebook's parameters, what it logs (what the notebook's JSON record carries
can be logged while its later cells run: :attr:`Pipeline.log_record`). Everything is written into a
staging folder beside the final one and moved into place only when every step has succeeded, so a failure
never leaves a truncated report or replaces a good one; the MLflow run is marked FAILED (with the partial
notebook attached) on any error, including Ctrl-C.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import signals
from .._io import preimport
from ..exceptions import ReportError
from ..settings import RunOptions
from ._execute import execute_notebook, fail_run, log, publish, render_outputs, staging_dir
from ._kernel import warm_kernel


@dataclass(frozen=True)
class Target:
    """What a pipeline's validation found: the name its outputs go under and anything its later steps need.

    Attributes
    ----------
    name : str
        The folder name under the output root (a model name, ``<model>-gate``, a comparison name).
    out_dir : Path
        Where the outputs are published.
    title : str
        The HTML report's title.
    context : dict
        The pipeline's own values (the resolved model, the manifest, the policy, ...).
    """

    name: str
    out_dir: Path
    title: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outputs:
    """What a finished notebook produced, in the staging folder."""

    staging: Path
    notebook: Path
    html: Path
    record_path: Path
    record: dict[str, Any]
    figures: list[Path]


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    """What one kind of run supplies to :func:`run_pipeline`.

    Attributes
    ----------
    kind : str
        ``report``, ``gate`` or ``comparison``: in scratch-folder names and error messages.
    notebook : Path
        The notebook papermill executes.
    html_name, record_name : str
        The rendered report and the JSON record the notebook writes (``metrics.json``, ``gate.json``, ...).
    published : sequence of str
        The files moved from the staging folder into ``Target.out_dir`` when every step succeeded.
    validate : callable
        ``validate(workdir) -> Target``: checks every input; runs while the kernel starts on the other core.
    start_run : callable
        ``start_run(target) -> run_id``: start (or attach to) the MLflow run; called only when tracking.
    parameters : callable
        ``parameters(target, staging, run_id) -> dict``: the notebook's parameters.
    log_run : callable
        ``log_run(run_id, target, outputs)``: metrics and artifacts; called only when tracking.
    log_record : callable, optional
        ``log_record(run_id, target, record)``: log what the notebook's JSON record carries (a report's
        metrics). Called on a thread as soon as the notebook has written the record, while its later cells
        run (this process only waits on the kernel then), and again with the final record if the notebook
        rewrote it; called after the notebook when the record came last or the run is not the pipeline's
        (``end_run`` False). A run that fails after it keeps these values and is marked FAILED, as always.
    on_failure : callable, optional
        ``on_failure(run_id, target, error)`` after the run was marked FAILED (e.g. the gate tags the model).
    kernel_extra : str
        Modules the kernel imports while it waits (beyond the report's).
    end_run : bool
        End the MLflow run when done; False for a run someone else owns (``attach_to``).
    check_first : bool
        Run ``validate`` before the kernel starts instead of beside it (default False). For inputs whose checks
        decide most failures by themselves (scores given as a file or a column): a bad file then never starts a
        kernel, at the cost of the overlap.
    noun : str
        What the run makes, in error messages (default ``kind``): "cannot write the gate report: ...".
    notebook_name : str
        The executed notebook's file name (default the notebook's own).
    """

    kind: str
    notebook: Path
    html_name: str
    record_name: str
    published: Sequence[str]
    validate: Callable[[Path], Target]
    start_run: Callable[[Target], str]
    parameters: Callable[[Target, Path, str | None], Mapping[str, Any]]
    log_run: Callable[[str, Target, Outputs], None]
    log_record: Callable[[str, Target, Mapping[str, Any]], None] | None = None
    on_failure: Callable[[str | None, Target | None, BaseException], None] | None = None
    kernel_extra: str = ""
    end_run: bool = True
    check_first: bool = False
    noun: str = ""
    notebook_name: str = ""


def run_pipeline(pipeline: Pipeline, options: RunOptions, *, output_root: Path,
                 before_run: Callable[[], None] | None = None) -> tuple[Target, Outputs, str | None]:
    """Run ``pipeline`` once: the skeleton every evalkit report follows.

    Parameters
    ----------
    pipeline : Pipeline
    options : RunOptions
        ``track``, ``timeout`` and ``progress`` are read here.
    output_root : Path
        The folder the staging folder is made in (beside ``Target.out_dir``, so publishing is a rename).
    before_run : callable, optional
        Called after validation, before the MLflow run starts (e.g. to mark stale runs FAILED).

    Returns
    -------
    (Target, Outputs, run_id)
        Outputs point into ``Target.out_dir`` after publishing.

    Raises
    ------
    ReportError
        On a failing cell, a cell over the time limit, a dead kernel, or an unwritable output (the partial
        notebook is kept as ``<out_dir>/failed.ipynb``); any other error of ``validate`` as it was raised.
    """
    from .. import tracking

    if options.track:
        tracking.check_reachable()
    workdir = Path(tempfile.mkdtemp(prefix=f"evalkit-{pipeline.kind}-"))
    run_id: str | None = None
    target: Target | None = None
    staging: Path | None = None
    beat = tracking.Heartbeat(None)  # renews the run's heartbeat while it works (stale-run detection)
    early: _RecordLogger | None = None
    try:
        if pipeline.check_first:
            target = pipeline.validate(workdir)
        # The kernel boots and imports on the second core while this process checks the input (unless checked
        # first), talks to MLflow and imports papermill.
        with warm_kernel(pipeline.notebook.parent, workdir / "kernel.log", extra=pipeline.kernel_extra) as km:
            # What this process imports anyway before the notebook runs (MLflow and its store, papermill), at once
            # and without the garbage collector's scans, while the kernel boots (``python -m evalkit`` only:
            # _io.preimport). Not nbconvert: imported to render, once the kernel has ended, its 9 MB stay out of
            # the process tree's peak.
            preimport((*(tracking.client_modules() if options.track else ()), "papermill"))
            if target is None:
                target = pipeline.validate(workdir)
            staging = staging_dir(output_root, target.name)
            if options.track:
                if before_run is not None:
                    before_run()
                run_id = pipeline.start_run(target)
                if options.run_tags:
                    tracking.set_tags(run_id, options.run_tags)
                beat = tracking.Heartbeat(run_id if pipeline.end_run else None).__enter__()
            nb_out = staging / (pipeline.notebook_name or pipeline.notebook.name)
            if pipeline.log_record is not None and run_id is not None and pipeline.end_run:
                early = _RecordLogger(staging / pipeline.record_name, pipeline.log_record, run_id, target)
                early.start()
            execute_notebook(pipeline.notebook, nb_out, target.out_dir, km=km, timeout=options.timeout,
                             progress=options.progress,
                             parameters=dict(pipeline.parameters(target, staging, run_id)))
            km.stop_soon()  # the kernel exits (at once: _exit_without_teardown) while this process renders
            html, figures, record = render_outputs(nb_out, staging, pipeline.html_name, pipeline.record_name,
                                                   title=target.title)
            outputs = Outputs(staging=staging, notebook=nb_out, html=html,
                              record_path=staging / pipeline.record_name, record=record, figures=figures)
            if options.track and run_id is not None:
                if early is not None:
                    early.finish()
                elif pipeline.log_record is not None:
                    pipeline.log_record(run_id, target, record)
                pipeline.log_run(run_id, target, outputs)
        signals.check()
        publish(staging, target.out_dir, pipeline.published)
        beat.__exit__()
        if options.track and run_id is not None and pipeline.end_run:
            tracking.end_run(run_id, "FINISHED")
        out = target.out_dir
        return target, Outputs(staging=out, notebook=out / nb_out.name, html=out / pipeline.html_name,
                               record_path=out / pipeline.record_name, record=record, figures=figures), run_id
    except OSError as err:  # disk full, read-only or missing output folder, ...
        where = err.filename or output_root
        failure = ReportError(f"cannot write the {pipeline.noun or pipeline.kind}: {where}: {err.strerror or err}",
                              notebook=getattr(err, "notebook", None))  # kept by execute_notebook, if any
        beat.__exit__()
        _stop(early)
        _fail(pipeline, run_id, target, failure)
        raise failure from err
    except BaseException as err:
        beat.__exit__()
        _stop(early)
        _fail(pipeline, run_id, target, err)
        raise
    finally:
        beat.__exit__()
        _stop(early)
        shutil.rmtree(workdir, ignore_errors=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


class _RecordLogger:
    """Calls :attr:`Pipeline.log_record` from a daemon thread as soon as the notebook's record exists.

    The notebook writes the record atomically (a rename), so a record that exists is complete. The thread
    looks for it every :data:`RECORD_POLL_SECONDS` while the notebook runs.
    """

    def __init__(self, path: Path, log_record: Callable[[str, Target, Mapping[str, Any]], None], run_id: str,
                 target: Target) -> None:
        self.path, self._log = path, (lambda record: log_record(run_id, target, record))
        self.logged: str | None = None  # the text of the record logged
        self.error: BaseException | None = None  # the thread's, until handed over by take_error()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evalkit-record", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self.path.is_file():
            if self._stop.wait(RECORD_POLL_SECONDS):
                return
        try:
            self._write(self.path.read_text())
        except BaseException as err:  # noqa: BLE001 - raised by finish() in the pipeline's thread
            self.error = err

    def _write(self, text: str) -> None:
        self._log(json.loads(text))
        self.logged = text

    def stop(self) -> None:
        """Stop looking for the record; wait for a logging already under way."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def take_error(self) -> BaseException | None:
        """The thread's error, handed over once: :meth:`finish` raises it, or :func:`_stop` says it."""
        error, self.error = self.error, None
        return error

    def finish(self) -> None:
        """After the notebook: wait for the thread, raise its error, log the final record if it differs from
        the one logged (rewritten by a later cell, or written last)."""
        self.stop()
        error = self.take_error()
        if error is not None:
            raise error
        text = self.path.read_text()
        if text != self.logged:
            self._write(text)


#: How often the record logger looks for the notebook's record (seconds).
RECORD_POLL_SECONDS = 0.05


def _stop(early: _RecordLogger | None) -> None:
    """Stop the record logger of a run that failed; say so if it could not log the record (the run's own error
    is raised, and the logger's would otherwise go unseen)."""
    if early is not None:
        early.stop()
        error = early.take_error()
        if error is not None:
            log(f"the record was not logged to MLflow while the notebook ran: {type(error).__name__}: {error}")


def _fail(pipeline: Pipeline, run_id: str | None, target: Target | None, err: BaseException) -> None:
    if run_id is not None:
        fail_run(run_id, err, end=pipeline.end_run)
    if pipeline.on_failure is not None and run_id is not None:
        pipeline.on_failure(run_id, target, err)
