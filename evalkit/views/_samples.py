"""The samples behind a selection, as HTML: a table of rows (tabular data) or a grid of thumbnails
(image data), and the explorer's live per-group metrics table. Shared by the report and the explorer.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data import image_paths
from ..metrics import outcome
from ._html import CSS, fmt, html_table

if TYPE_CHECKING:
    from ..evaluation import Evaluation

#: Metrics shown live in the explorer, in order.
LIVE_METRICS = ("n", "selection_rate", "precision", "recall", "fpr", "fnr", "accuracy")


def metrics_table_html(table: pd.DataFrame, metrics: tuple[str, ...] = LIVE_METRICS) -> str:
    """Per-group metrics as an HTML table whose cells carry ``data-group`` and ``data-metric``
    attributes (what the browser test reads), values at 4 significant digits."""
    head = "<tr><th>group</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in metrics) + "</tr>"
    rows = []
    for group, r in table.iterrows():
        g = html.escape(str(group), quote=True)
        cells = "".join(f"<td data-group='{g}' data-metric='{m}'>{html.escape(fmt(r[m], m))}</td>" for m in metrics)
        rows.append(f"<tr><td>{html.escape(str(group))}</td>{cells}</tr>")
    return f"{CSS}<table class='evalkit evalkit-live'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def sample_rows(ev: Evaluation, rows: np.ndarray, *, feature: str | None = None, max_rows: int = 50) -> pd.DataFrame:
    """The samples at ``rows`` as a table: id, score, true label, outcome at the threshold, the group,
    then the dataset's other columns (first ``max_rows``)."""
    rows = np.asarray(rows)[:max_rows]
    m = ev.data.manifest
    frame = ev.data.frame.iloc[rows]
    out = {
        "id": frame[m.id_column].to_numpy(),
        "score": np.round(ev.y_score[rows], 4),
        "label": np.where(ev.y_true[rows] == 1, "positive", "negative"),
        "outcome": outcome(ev.y_true[rows], ev.y_score[rows], ev.threshold),
    }
    if feature is not None:
        out[feature] = ev.group_values(feature)[rows]
    skip = {m.id_column, m.label_column, feature}
    for c in frame.columns:
        if c not in skip and c not in out:
            out[c] = frame[c].to_numpy()
    return pd.DataFrame(out)  # at once: inserting the columns one by one cost more than the rows


def samples_html(ev: Evaluation, rows: np.ndarray, *, feature: str | None = None, max_rows: int = 24) -> str:
    """The samples as thumbnails (image datasets) or a table (tabular data)."""
    rows = np.asarray(rows)[:max_rows]
    if len(rows) == 0:
        return "<p>No samples in this selection.</p>"
    if ev.data.manifest.image_column:
        paths = image_paths(ev.data).to_numpy()[rows]
        groups = ev.group_values(feature)[rows] if feature else [""] * len(rows)
        captions = [f"{ev.data.ids.iloc[i]} s={ev.y_score[i]:.3f} {'pos' if ev.y_true[i] else 'neg'}"
                    + (f" {g}" if g else "") for i, g in zip(rows, groups, strict=True)]
        return thumbnails_html(paths, captions)
    table = _display_strings(sample_rows(ev, rows, feature=feature, max_rows=max_rows))
    return CSS + html_table(table, tuple(table.columns))


def _display_strings(table: pd.DataFrame) -> pd.DataFrame:
    """Every value of ``table`` as the text a samples table shows: ``str`` of the value, ``—`` where it is
    missing. The same text as the frame-wide ``astype(object).where(notna, "—").astype(str)``, built column
    by column (the frame-wide form's overhead outweighed a few dozen rows)."""
    out = {}
    for c in table.columns:
        values = table[c].astype(object).to_numpy()
        out[c] = ["—" if m else str(v) for v, m in zip(values, pd.isna(values), strict=True)]
    return pd.DataFrame(out, index=table.index, columns=table.columns, dtype=object)


def _browser_image(path: Path) -> tuple[str, str]:
    """The image as base64 in a format every browser shows: PNG and JPEG as they are, anything else (PGM, TIFF,
    ...) converted to PNG."""
    suffix = path.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg"):
        return base64.b64encode(path.read_bytes()).decode(), "image/png" if suffix == ".png" else "image/jpeg"
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.open(path).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode(), "image/png"


def thumbnails_html(paths: Sequence[str | Path], captions: Sequence[str], *, size: int = 64) -> str:
    """A grid of images embedded as base64 (self-contained HTML), each with an escaped caption."""
    cells = []
    for path, caption in zip(paths, captions, strict=True):
        data, mime = _browser_image(Path(path))
        cells.append(f"<figure style='margin:4px;display:inline-block;text-align:center;width:{size + 36}px'>"
                     f"<img src='data:{mime};base64,{data}' width='{size}' height='{size}' "
                     f"style='image-rendering:pixelated;border:1px solid #ccd' alt='{html.escape(caption, quote=True)}'>"
                     f"<figcaption style='font-size:10px;line-height:1.2'>{html.escape(caption)}</figcaption></figure>")
    return "<div>" + "".join(cells) + "</div>"
