"""The MLflow store: where runs live (SQLite by default, ``MLFLOW_TRACKING_URI`` honoured), the
project root, starting, tagging, logging into and ending runs, stale-run detection and artifact
downloads. Every other module talks to MLflow through here, except the model registry calls of
:mod:`evalkit.models` and :mod:`evalkit.gate` (loading and aliasing registered models) and the
``mlflow.models.evaluate`` plugin in :mod:`evalkit.runner`.

May import: the package root's ``exceptions`` and ``_io`` only (it is the lowest layer above them).
"""

from ._store import (
    DEFAULT_EXPERIMENT,
    project_root,
    default_tracking_uri,
    tracking_uri,
    store_lock,
    check_reachable,
    client,
    experiment_id,
    metric_key,
    start_run,
    log_params,
    owner_tags,
    fail_stale_runs,
    log_metrics,
    log_artifacts,
    end_run,
    get_run,
    registered_names,
    resolve_registered,
    download_model,
    download_artifacts,
    STAGING_ALIAS,
    registered_name,
    alias_version,
    set_alias,
    version_tags,
    set_version_tags,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "STAGING_ALIAS",
    "alias_version",
    "check_reachable",
    "client",
    "default_tracking_uri",
    "download_artifacts",
    "download_model",
    "end_run",
    "experiment_id",
    "fail_stale_runs",
    "get_run",
    "log_artifacts",
    "log_metrics",
    "log_params",
    "metric_key",
    "owner_tags",
    "project_root",
    "registered_name",
    "registered_names",
    "resolve_registered",
    "set_alias",
    "set_version_tags",
    "start_run",
    "store_lock",
    "tracking_uri",
    "version_tags",
]
