"""Where the model fails: the slices the search found (:mod:`evalkit.slices`), on the first screen and in a
section of their own, each with its samples one click away."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._html import fmt, fmt_ci, html_fragment, html_table, label
from ._samples import samples_html

if TYPE_CHECKING:
    from IPython.display import HTML

    from ..evaluation import Evaluation


def _name(metric: str) -> str:
    return {"error_rate": "error rate", "fnr": "FNR", "fpr": "FPR", "cost": "cost per sample"}.get(metric, label(metric))


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.2g}"


def slice_rows(ev: Evaluation, query: str, frame: pd.DataFrame | None = None) -> np.ndarray:
    """The rows (evaluation order) of the slice ``query``, the wrongly decided first, then by score.

    ``frame`` is :func:`evalkit.evaluation.slice_frame` of the evaluation's data (built when not given; pass it
    when reading many slices)."""
    from ..evaluation import slice_frame

    frame = slice_frame(ev.data) if frame is None else frame
    inside = frame.eval(query).to_numpy(dtype=bool)
    rows = np.flatnonzero(inside)
    wrong = (ev.y_score[rows] >= ev.threshold).astype(int) != ev.y_true[rows]
    return rows[np.lexsort((-ev.y_score[rows], ~wrong))]


def _rows(ev: Evaluation, top: pd.DataFrame, *, links: bool) -> pd.DataFrame:
    s = ev.slices
    metric = _name(s.settings.metric)
    out = []
    for k, r in enumerate(top.itertuples(), 1):
        name = html.escape(r.slice)
        out.append({
            "#": f"<a href='#evalkit-slice-{k}'>{k}</a>" if links else str(k),
            "slice": name,
            "n": f"{r.n:,}" + ("" if s.settings.metric in ("error_rate", "cost") else
                               f" ({r.denominator:,} in the smaller class)" if s.settings.metric == "roc_auc" else
                               f" ({r.denominator:,} in the denominator)"),
            f"{metric} in the slice": fmt(r.value),
            "rest of the data": fmt(r.rest),
            "how much worse": html.escape(f"{fmt(r.gap)} {fmt_ci(r.gap_low, r.gap_high)}"),
            "adjusted p": _p(r.p_adjusted)})
    return pd.DataFrame(out)


def where_it_fails(ev: Evaluation, *, top: int = 5) -> str:
    """The first screen's block: how many slices were tested and found, and the best supported few."""
    s = ev.slices
    if s is None:
        return ""
    metric = _name(s.settings.metric)
    found = s.top
    head = (f"<div class='evalkit-box'><h3>Where the model fails</h3><p>{s.tested:,} slices tested (up to "
            f"{s.settings.max_terms} conditions on the sensitive features and the model's inputs); <b>{len(found):,}"
            f"</b> are worse on {metric} than the rest of the data after a Benjamini-Hochberg correction at FDR "
            f"{s.settings.fdr:g} (and worse than each of their sub-slices); overall {metric} {fmt(s.overall)}.")
    if found.empty:
        return head + "</p></div>"
    return (head + f" The {min(top, len(found))} the data support best (ranked by the interval's lower bound; "
            "the full list and their samples under <a href='#evalkit-where-the-model-fails'>Where the model fails</a>):</p>"
            + html_table(_rows(ev, found.head(top), links=True), ("slice",), raw_html=True) + "</div>")


def slices_section(ev: Evaluation, *, top: int = 30, samples: int = 12) -> HTML:
    """Every significant slice that adds to its sub-slices (up to ``top``), the method, and each slice's
    samples (the wrongly decided first) with its pandas query."""
    s = ev.slices
    if s is None:
        return html_fragment("<p>No slice search (<code>--slice-metric none</code>).</p>")
    found = s.top.head(top)
    parts = [f"<p>{html.escape(s.method())}</p>"]
    if found.empty:
        parts.append("<p>No slice is significantly worse than the rest of the data.</p>")
        return html_fragment("".join(parts))
    parts.append(html_table(_rows(ev, found, links=False), ("slice",), raw_html=True))
    from ..evaluation import slice_frame

    frame = slice_frame(ev.data)  # once for every slice's rows
    for k, r in enumerate(found.itertuples(), 1):
        rows = slice_rows(ev, r.query, frame)
        parts.append(f"<details id='evalkit-slice-{k}'><summary>{k}. {html.escape(r.slice)} — {r.n:,} samples"
                     f"</summary><p>pandas: <code>frame.query({html.escape(repr(r.query))})</code></p>"
                     + samples_html(ev, rows, max_rows=samples) + "</details>")
    if len(s.top) > top:
        parts.append(f"<p>… and {len(s.top) - top:,} more in <code>metrics.json</code> (section "
                     "<code>slices</code>).</p>")
    return html_fragment("".join(parts))
