"""Reproducing a recorded run: ``make reproduce RUN=<id>`` replays a report, verification, gate or
comparison run from its MLflow record (parameters, record, executed notebook) after verifying the model's
and every data file's sha256, re-runs the same pipeline into ``reports/reproduce/<id>/`` and a new run tagged
``evalkit.reproduces``, and compares the records value by value: **identical** or **different**, each
difference with its likely reason (settings, code or library version).

May import: every subpackage (it replays :mod:`evalkit.runner`, :mod:`evalkit.verification`,
:mod:`evalkit.gate` and :mod:`evalkit.compare` pipelines); nothing imports it but the CLI.
"""

from ._diff import (
    EXPECTED_KEYS,
    TIMING_KEY,
    Difference,
    about,
    diff_records,
    expected,
)
from ._replay import (
    ARTIFACTS,
    EXIT_DIFFERENT,
    EXIT_IDENTICAL,
    REPRODUCES_TAG,
    REPRODUCTION_TAG,
    Recorded,
    Reproduction,
    format_table,
    load_recorded,
    recorded_settings,
    reproduce,
)

__all__ = [
    "ARTIFACTS",
    "Difference",
    "EXIT_DIFFERENT",
    "EXIT_IDENTICAL",
    "EXPECTED_KEYS",
    "REPRODUCES_TAG",
    "REPRODUCTION_TAG",
    "Recorded",
    "Reproduction",
    "TIMING_KEY",
    "about",
    "diff_records",
    "expected",
    "format_table",
    "load_recorded",
    "recorded_settings",
    "reproduce",
]
