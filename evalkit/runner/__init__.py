"""Running notebooks into reports: the kernel (started early, on a Unix socket; forked by a kernel zygote
when one runs, :func:`zygote`; ``python -m evalkit`` commands forked by a command zygote, :func:`fork_command`),
papermill execution, nbconvert rendering, publishing, and
:func:`run_pipeline`, the one run skeleton (validate → scratch folder → MLflow run → execute → render → log
→ publish, or fail the run keeping the partial notebook) that the report, the gate and the comparison
share. Also the report pipeline itself (:func:`run_report`), ``make report-all`` and the
``mlflow.models.evaluate`` plugin.

May import: everything below it (data … views), :mod:`evalkit.tracking`, the root's ``settings``,
``exceptions``, ``_io``, ``_signals``.
"""

from ._batch import (
    BATCH_DIR,
    BatchItem,
    default_jobs,
    registered_models,
    report_all,
)
from ._execute import (
    log,
    render_html,
    add_contents,
    section_id,
    render_outputs,
    extract_figures,
    publish,
    staging_dir,
    version_params,
    notebook_parameters,
    check_parameters,
    execute_notebook,
    fail_run,
)
from ._kernel import (
    WARM_UP,
    model_imports,
    warm_kernel,
    zygote,
)
from ._zygote import fork_command
from ._pipeline import (
    Target,
    Outputs,
    Pipeline,
    run_pipeline,
)
from ._report import (
    NOTEBOOK,
    SCALE_NOTEBOOK,
    DEFAULT_MANIFEST,
    ReportResult,
    run_report,
)

__all__ = [
    "BATCH_DIR",
    "BatchItem",
    "DEFAULT_MANIFEST",
    "NOTEBOOK",
    "Outputs",
    "Pipeline",
    "ReportResult",
    "SCALE_NOTEBOOK",
    "Target",
    "WARM_UP",
    "add_contents",
    "check_parameters",
    "default_jobs",
    "execute_notebook",
    "extract_figures",
    "fail_run",
    "fork_command",
    "log",
    "model_imports",
    "notebook_parameters",
    "publish",
    "registered_models",
    "render_html",
    "render_outputs",
    "report_all",
    "run_pipeline",
    "run_report",
    "section_id",
    "staging_dir",
    "version_params",
    "warm_kernel",
    "zygote",
]
