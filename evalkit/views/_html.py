"""Shared HTML helpers of every view: the stylesheet (``report.css``, read from the package), metric
labels, number and interval formatting, escaped table cells and tables.

Every value that reaches HTML passes through :func:`html.escape` here or in :func:`html_table`.
"""

from __future__ import annotations

import html
import math
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..metrics import COUNT_METRICS

if TYPE_CHECKING:
    from IPython.display import HTML

#: The views' stylesheet, as a ``<style>`` element (prepended to every fragment a notebook displays).
CSS = "<style>\n" + files(__package__).joinpath("report.css").read_text(encoding="utf-8") + "</style>"

_LABELS = {
    "n": "n", "prevalence": "prevalence", "selection_rate": "selection rate", "accuracy": "accuracy",
    "precision": "precision", "recall": "recall (TPR)", "f1": "F1", "fpr": "FPR", "fnr": "FNR",
    "tp": "TP", "fp": "FP", "tn": "TN", "fn": "FN", "roc_auc": "ROC AUC",
    "average_precision": "avg precision", "eer": "EER", "eer_threshold": "EER threshold",
    "fnmr_at_fmr_1e-2": "FNMR @ FMR 1e-2", "fnmr_at_fmr_1e-3": "FNMR @ FMR 1e-3", "fnmr_at_fmr_1e-4": "FNMR @ FMR 1e-4",
}


def label(metric: str) -> str:
    """The display name of a metric (custom metrics keep their own name)."""
    return _LABELS.get(metric, metric)




def fmt(value: Any, metric: str | None = None) -> str:
    """A value for display: counts with thousands separators, other numbers to 4 significant digits,
    undefined as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if metric in COUNT_METRICS:
        return f"{value:,.0f}"  # weighted counts are rounded, not truncated
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    return str(value)


def fmt_ci(low: Any, high: Any) -> str:
    """An interval as ``[low, high]`` at 3 significant digits, or an empty string when undefined."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (low, high)):
        return ""
    return f"[{low:.3g}, {high:.3g}]"


def cell_html(value: Any, metric: str, low: Any = None, high: Any = None) -> str:
    """HTML for a table cell: the value, and its interval on a second, smaller line."""
    ci = fmt_ci(low, high) if metric not in COUNT_METRICS else ""
    return html.escape(fmt(value, metric)) + (f"<span class='evalkit-ci'>{html.escape(ci)}</span>" if ci else "")


def html_fragment(text: str) -> HTML:
    from IPython.display import HTML

    return HTML(CSS + text)


def html_table(frame: pd.DataFrame, text_columns: tuple[str, ...] = (), raw_html: bool = False) -> str:
    """An HTML table of ``frame``'s (already formatted) values; ``raw_html`` cells are trusted HTML built
    from escaped parts."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    opens = [f"<td{' class=t' if c in text_columns else ''}>" for c in frame.columns]
    rows = []
    for values in frame.itertuples(index=False, name=None):  # each column's own values (iterrows upcasts)
        cells = "".join(f"{o}{v if raw_html else html.escape(str(v))}</td>"
                        for o, v in zip(opens, values, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    return f"<table class='evalkit'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
