"""The interactive explorer: the score histogram tool with a threshold slider, group, source and failing-slice
selectors, live per-group metrics and the samples behind any bin, as an ipywidgets app.

The slice list holds the evaluation's significant failing slices (:attr:`Evaluation.slices
<evalkit.evaluation.Evaluation.slices>`, ranked as in the report); choosing one restricts the histogram,
the live metrics and the samples to its rows.

``evalkit.explore(model, data)`` in JupyterLab, or ``make explore MODEL=x`` as a web app (Voilà on
127.0.0.1). All numbers come from :mod:`evalkit.histogram` (the same definitions as the report); the
widget only wires controls to them. Metrics follow the threshold through a
:class:`~evalkit.histogram.ThresholdIndex` (sorted scores and cumulative counts), so moving the
threshold does not touch the raw rows.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..metrics import (
    ThresholdIndex,
    bin_counts,
    bin_edges,
    most_confidently_wrong,
    select,
)

from ..views import metrics_table_html, samples_html, slice_rows

if TYPE_CHECKING:
    from ..evaluation import Evaluation

_ALL = "(all)"


class Explorer:
    """The explorer's state and widgets for one :class:`~evalkit.evaluation.Evaluation`.

    Parameters
    ----------
    ev : Evaluation
    bins : int, default=30
        Histogram bins.

    Attributes
    ----------
    widget : ipywidgets.VBox
        Display it (``display(explorer.widget)``, or return it from a cell).
    """

    def __init__(self, ev: Evaluation, *, bins: int = 30) -> None:
        import ipywidgets as w

        self.ev, self.bins = ev, bins
        self.edges = bin_edges(ev.y_score, bins)
        self._indexes: dict[tuple[str, str, str], ThresholdIndex] = {}
        self._counts: dict[tuple[str, str], pd.DataFrame] = {}
        features = list(ev.data.manifest.sensitive_features)
        sources = sorted(pd.unique(ev.data.sources)) if "members" in ev.data.manifest.extra else []
        lo, hi = float(self.edges[0]), float(self.edges[-1])
        self.threshold = w.FloatSlider(value=ev.threshold, min=lo, max=hi, step=(hi - lo) / 1000, readout_format=".3f",
                                       description="threshold", continuous_update=True,
                                       layout=w.Layout(width="480px"))
        self.feature = w.Dropdown(options=features, value=features[0], description="group by")
        self.source = w.Dropdown(options=[_ALL, *sources], value=_ALL, description="source",
                                 layout=w.Layout(display=None if sources else "none"))
        self._slices = self._slice_options(ev)
        self._slice_rows: dict[str, np.ndarray] = {}
        self._slice_names = {q: label.split(" (n=")[0].split(" ", 1)[-1] for label, q in self._slices}
        self.slice = w.Dropdown(options=[(label, q) for label, q in self._slices], value=_ALL,
                                description="slice", layout=w.Layout(width="760px",
                                                                     display=None if len(self._slices) > 1 else "none"))
        self.bin_range = w.IntRangeSlider(value=(0, bins - 1), min=0, max=bins - 1, description="bins",
                                          continuous_update=False, layout=w.Layout(width="480px"))
        self.group = w.Dropdown(options=[_ALL], value=_ALL, description="group")
        self.kind = w.Dropdown(options=[("all samples", "all"), ("false positives", "fp"), ("false negatives", "fn"),
                                        ("positives", "pos"), ("negatives", "neg")],
                               value="all", description="show")
        self.sort = w.Dropdown(options=[("most confidently wrong", "wrong"), ("score, high first", "score")],
                               value="wrong", description="sort")
        self.log = w.Checkbox(value=False, description="log counts")
        self.metrics = w.HTML()
        self.plot = w.Output()
        self.samples = w.HTML()
        self.selection = w.HTML()
        self.widget = w.VBox([
            w.HTML(f"<h3>Explore {html.escape(ev.model.name)} on {html.escape(ev.data.name)} "
                   f"({len(ev.data):,} samples)</h3>"),
            w.HBox([self.threshold, self.feature, self.source]),
            self.slice,
            self.metrics,
            w.HBox([self.log]),
            self.plot,
            w.HBox([self.bin_range, self.group]),
            w.HBox([self.kind, self.sort]),
            self.selection,
            self.samples,
        ])
        self.threshold.observe(lambda _: self.on_threshold(), names="value")
        for control in (self.feature, self.source, self.slice):
            control.observe(lambda _: self.refresh(), names="value")
        for control in (self.bin_range, self.group, self.kind, self.sort):
            control.observe(lambda _: self.update_samples(), names="value")
        self.log.observe(lambda _: self.update_plot(), names="value")
        self.refresh()

    # --- state ---------------------------------------------------------------------------------
    @staticmethod
    def _slice_options(ev: Evaluation, top: int = 30) -> list[tuple[str, str]]:
        """``(label, query)`` of "all samples" and the ``top`` significant slices, ranked as in the report."""
        options = [("all samples", _ALL)]
        s = ev.slices
        if s is None:
            return options
        name = s.settings.metric.replace("_", " ")
        for k, r in enumerate(s.top.head(top).itertuples(), 1):
            options.append((f"#{k} {r.slice} (n={r.n:,}, {name} {r.value:.3g} vs {r.rest:.3g})", r.query))
        return options

    def _rows(self) -> np.ndarray:
        if self.source.value == _ALL:
            rows = np.arange(len(self.ev.data))
        else:
            rows = np.flatnonzero(self.ev.data.sources.to_numpy() == self.source.value)
        query = self.slice.value
        if query == _ALL:
            return rows
        if query not in self._slice_rows:
            self._slice_rows[query] = np.sort(slice_rows(self.ev, query))
        return np.intersect1d(rows, self._slice_rows[query], assume_unique=True)

    def index(self) -> ThresholdIndex:
        """The threshold index of the current feature, source and slice (built once, then cached)."""
        key = (self.feature.value, self.source.value, self.slice.value)
        if key not in self._indexes:
            rows = self._rows()
            w = None if self.ev.sample_weight is None else self.ev.sample_weight[rows]
            self._indexes[key] = ThresholdIndex(self.ev.y_true[rows], self.ev.y_score[rows],
                                                self.ev.group_values(self.feature.value)[rows], sample_weight=w)
        return self._indexes[key]

    def live_metrics(self, threshold: float | None = None) -> pd.DataFrame:
        """Per-group metrics at ``threshold`` (default the slider's)."""
        return self.index().metrics(self.threshold.value if threshold is None else threshold)

    def selected_rows(self) -> np.ndarray:
        """The samples of the current bin range, group and kind, in the chosen order."""
        lo_bin, hi_bin = self.bin_range.value
        rows = self._rows()
        y, s, t = self.ev.y_true, self.ev.y_score, self.threshold.value
        groups = self.ev.group_values(self.feature.value)
        kind = self.kind.value
        picked = select(y[rows], s[rows], low=self.edges[lo_bin], high=self.edges[hi_bin + 1],
                        include_high=hi_bin == self.bins - 1,
                        label={"pos": 1, "neg": 0}.get(kind), groups=groups[rows],
                        group=None if self.group.value == _ALL else self.group.value,
                        kind=kind if kind in ("fp", "fn") else None, threshold=t)
        picked = rows[picked]
        if self.sort.value == "wrong":
            wrong = most_confidently_wrong(y, s, t, rows=picked)
            right = np.setdiff1d(picked, wrong, assume_unique=True)
            return np.r_[wrong, right[np.argsort(-np.abs(s[right] - t), kind="stable")]].astype(int)
        return picked[np.argsort(-s[picked], kind="stable")]

    # --- views ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        groups = [_ALL, *[g for g in self.index().groups if g != "all"]]
        self.group.options = groups
        self.group.value = _ALL
        self.on_threshold()
        self.update_samples()

    def on_threshold(self) -> None:
        """Threshold moved: new metrics from the index, the threshold line, the selection."""
        self.metrics.value = metrics_table_html(self.live_metrics())
        self.update_plot()
        self.update_samples()

    def update_plot(self) -> None:
        import matplotlib.pyplot as plt

        key = (self.source.value, self.slice.value)
        if key not in self._counts:  # the bins do not move with the threshold: count once per source and slice
            rows = self._rows()
            self._counts[key] = bin_counts(self.ev.y_true[rows], self.ev.y_score[rows], bins=self.bins,
                                           score_range=(self.edges[0], self.edges[-1]))
        counts = self._counts[key]
        self.plot.clear_output(wait=True)
        with self.plot:
            fig, ax = plt.subplots(figsize=(8, 3.0), layout="constrained")
            ax.stairs(counts["negatives"], self.edges, fill=True, color="#4c72b0", alpha=0.9, label="negatives")
            ax.stairs(counts["n"], self.edges, baseline=counts["negatives"], fill=True, color="#dd8452", alpha=0.9,
                      label="positives")
            lo_bin, hi_bin = self.bin_range.value
            ax.axvspan(self.edges[lo_bin], self.edges[hi_bin + 1], color="#2ca02c", alpha=0.08, label="selected bins")
            ax.axvline(self.threshold.value, color="black", ls="--", lw=1.2,
                       label=f"threshold {self.threshold.value:.3f}")
            if self.log.value:
                ax.set_yscale("log")
            ax.set(xlabel="score", ylabel="samples" + (" (log)" if self.log.value else ""))
            ax.legend(fontsize=7, ncols=4)
            plt.show()

    def update_samples(self) -> None:
        rows = self.selected_rows()
        lo_bin, hi_bin = self.bin_range.value
        self.selection.value = (f"<p>{len(rows):,} samples with score in [{self.edges[lo_bin]:.3f}, "
                                f"{self.edges[hi_bin + 1]:.3f}{']' if hi_bin == self.bins - 1 else ')'}"
                                f"{'' if self.group.value == _ALL else f', {html.escape(str(self.group.value))}'}"
                                f"{'' if self.slice.value == _ALL else f', in slice {html.escape(self._slice_names[self.slice.value])}'}"
                                f" — first 24:</p>")
        self.samples.value = samples_html(self.ev, rows, feature=self.feature.value)


def explore(model: Any = None, data: Any = None, *, bins: int = 30, **evaluate_kwargs: Any) -> Any:
    """Open the explorer on a model and dataset (see :func:`evalkit.evaluate` for both).

    ``model`` and ``data`` default to the ``EVALKIT_MODEL`` and ``EVALKIT_DATA`` environment variables
    (how ``make explore`` passes them to the app), then to the demo model on ``adult_test``; evaluation
    settings given to ``make explore`` (``THRESHOLD=``, ``RULE=``, ...) arrive as JSON in ``EVALKIT_SETTINGS``
    and start the slider at the threshold they choose.
    Confidence intervals are skipped (``n_boot=0``) unless asked for: the explorer is about samples.

    Returns
    -------
    ipywidgets.VBox
        The widget; its :class:`Explorer` is its ``explorer`` attribute.
    """
    from ..evaluation import evaluate
    from ..tracking import project_root

    model = model or os.environ.get("EVALKIT_MODEL") or "adult-logreg"
    data = data or os.environ.get("EVALKIT_DATA") or project_root() / "data_manifests" / "adult_test.yaml"
    given = json.loads(os.environ.get("EVALKIT_SETTINGS") or "{}")  # make explore THRESHOLD= RULE= ...
    kwargs: Mapping[str, Any] = {"n_boot": 0, **given, **evaluate_kwargs}
    explorer = Explorer(evaluate(model, data, **kwargs), bins=bins)
    explorer.widget.explorer = explorer
    return explorer.widget
