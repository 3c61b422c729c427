"""Choosing between models: paired statistics of two or more reports on the same samples
(DeLong, McNemar, flip rates, per-group paired bootstrap), the comparison pipeline (``make compare``)
and its view.

May import: :mod:`evalkit.runner` and everything below it; never :mod:`evalkit.gate`.
"""

from ._pipeline import (
    COMPARE_NOTEBOOK,
    COMPARE_EXPERIMENT,
    COMPARE_FILES,
    COMPARED_TAG,
    CompareRun,
    comparison,
    find_report_run,
    load_candidate,
    load_candidates,
    run_compare,
)
from ._scale import (
    compare_columns,
)
from ._stats import (
    COMPARE_METRICS,
    NEUTRAL_METRICS,
    LEADERBOARD_METRICS,
    LEADERBOARD_DISPARITIES,
    LEADERBOARD_COST,
    ComparisonError,
    Candidate,
    check_same_data,
    Comparison,
    align,
    leaderboard,
    check_compare_settings,
    compare,
)
from ._view import (
    header,
    leaderboard_table,
    summary,
    deltas_html,
    deltas_table,
    tests_table,
    save,
)

__all__ = [
    "COMPARED_TAG",
    "COMPARE_EXPERIMENT",
    "COMPARE_FILES",
    "COMPARE_METRICS",
    "COMPARE_NOTEBOOK",
    "Candidate",
    "CompareRun",
    "Comparison",
    "ComparisonError",
    "LEADERBOARD_COST",
    "LEADERBOARD_DISPARITIES",
    "LEADERBOARD_METRICS",
    "NEUTRAL_METRICS",
    "align",
    "check_compare_settings",
    "check_same_data",
    "compare",
    "compare_columns",
    "comparison",
    "deltas_html",
    "deltas_table",
    "find_report_run",
    "header",
    "leaderboard",
    "leaderboard_table",
    "load_candidate",
    "load_candidates",
    "run_compare",
    "save",
    "summary",
    "tests_table",
]
