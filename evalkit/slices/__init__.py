"""Where the model fails: a search over conjunctions of predicates (sensitive features and model inputs,
numeric columns in quantile bins) for slices whose metric is worse than on the rest of the data, each tested,
with the p-values of everything tested corrected together (Benjamini-Hochberg), and ranked by what the data
support.

May import: :mod:`evalkit.data`, :mod:`evalkit.metrics`, :mod:`evalkit.stats`, the root's ``settings`` and
``exceptions``.
"""

from ..settings import SLICE_METRICS, SliceSettings
from ._predicates import (
    Predicate,
    column_predicates,
    predicate_codes,
    predicate_table,
)
from ._search import (
    SliceSearch,
    find_slices,
)

__all__ = [
    "Predicate",
    "SLICE_METRICS",
    "SliceSearch",
    "SliceSettings",
    "column_predicates",
    "find_slices",
    "predicate_codes",
    "predicate_table",
]
