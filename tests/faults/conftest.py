"""Helpers for the fault suite: every case must fail cleanly, i.e. a clear error, no report written,
no staging folder left behind and no MLflow run left RUNNING."""

from __future__ import annotations

from pathlib import Path

from evalkit import tracking


def runs(status: str | None = None) -> list:
    c = tracking.client()
    exps = [e.experiment_id for e in c.search_experiments()]
    found = c.search_runs(exps) if exps else []
    return [r for r in found if status is None or r.info.status == status]


def assert_nothing_half_written(output_root: Path) -> None:
    if output_root.exists():
        assert not list(output_root.rglob("report.html")), "a report.html was written"
        assert not list(output_root.glob(".staging-*")), "a staging folder was left behind"
    assert runs("RUNNING") == [], "an MLflow run was left RUNNING"

