"""Figures for an :class:`~evalkit.evaluation.Evaluation`.

Each function draws on ``ax`` (a new figure when ``None``) and returns the Axes; nothing here calls
``show()`` or ``savefig()``. :func:`by_feature` lays one panel per sensitive feature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..evaluation import Evaluation

_OVERALL = dict(color="black", lw=2.2, label="overall")
_MAX_GROUPS = 8


def axes_for(ax: Axes | None, size: tuple[float, float] = (5.0, 4.2)) -> Axes:
    """``ax``, or new constrained-layout axes of ``size`` inches."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


_SHORT = {"eer": "EER", "roc_auc": "AUC", "average_precision": "AP"}


def _with_ci(ev: Evaluation, metric: str, feature: str | None = None, group: str | None = None) -> str:
    """``0.184 [0.177, 0.191]``: a metric with its interval (when computed), for legends."""
    value = ev.overall[metric] if feature is None else ev.by_group.loc[(feature, group), metric]
    low, high = ev.interval(metric, feature, group)
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else f"{value:.3f}"


def _curve_groups(ev: Evaluation, feature: str | None, *, both_classes: bool = True,
                  metric: str | None = None) -> list[tuple[str, str]]:
    """(label, group) of the groups of ``feature`` worth a curve: big enough, largest first. With
    ``metric``, the label ends with the group's value and interval."""
    if feature is None:
        return []
    table = ev.by_group.loc[feature].sort_values("n", ascending=False)
    out = []
    for group, row in table.iterrows():
        if row["n"] < ev.min_group_size or (both_classes and (row["tp"] + row["fn"] == 0 or row["tn"] + row["fp"] == 0)):
            continue
        suffix = f" {_SHORT.get(metric, metric)} {_with_ci(ev, metric, feature, group)}" if metric else ""
        out.append((f"{group} (n={int(row['n']):,}){suffix}", str(group)))
    return out[:_MAX_GROUPS]


def _groups(ev: Evaluation, feature: str | None, *, both_classes: bool = True,
            metric: str | None = None) -> list[tuple[str, np.ndarray]]:
    """(label, mask) of the groups of ``feature`` worth a curve (see :func:`_curve_groups`)."""
    values = ev.group_values(feature) if feature is not None else None
    return [(label, values == group) for label, group in _curve_groups(ev, feature, both_classes=both_classes,
                                                                       metric=metric)]


#: A curve is drawn through at most about 6 x this many of its points (see :func:`thin_curve`).
CURVE_POINTS = 500


def thin_curve(x: np.ndarray, y: np.ndarray, points: int = CURVE_POINTS) -> np.ndarray:
    """Indices of the points of a monotone curve (``x`` and ``y`` non-decreasing from 0 to 1) that draw it.

    For each coordinate: the first point reaching each of ``points`` equal steps, and each of ``points`` steps
    equal on a log scale from 1e-6 to 1 of the coordinate and of its distance to 1; and both ends. Between two
    kept points the curve moves by less than one step in each coordinate, on linear axes (1/500 of a panel a
    few hundred pixels wide) as on normal-deviate (DET) axes down to 10^-6: the line drawn is the curve
    through every point. A curve of at most ``6 * points`` points is kept whole.
    """
    if x.size <= 6 * points:
        return np.arange(x.size)
    grid = np.r_[np.linspace(0.0, 1.0, points + 1), np.logspace(-6, 0, points + 1)]
    keep = [np.searchsorted(v, q) for v in (x, y) for q in (grid, 1.0 - grid)]
    return np.unique(np.clip(np.concatenate([*keep, [0, x.size - 1]]), 0, x.size - 1))


def _counts_roc(fps: np.ndarray, tps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fpr = np.r_[0.0, fps / fps[-1]] if fps[-1] > 0 else np.r_[0.0, np.zeros_like(fps)]
    tpr = np.r_[0.0, tps / tps[-1]] if tps[-1] > 0 else np.r_[0.0, np.zeros_like(tps)]
    keep = thin_curve(fpr, tpr)
    return fpr[keep], tpr[keep]


def _roc_curves(ev: Evaluation, feature: str | None, metric: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(legend label, FPR, TPR) overall and for the groups of ``feature`` worth a curve: from the samples, or
    for an out-of-core evaluation from its merged histograms."""
    if ev.tables is not None:
        return [(label, *_histogram_roc(counts)) for label, counts in _histogram_groups(ev, feature, metric)]
    fps, tps, _ = ev.curve_counts()[None]
    curves = [(f"overall {_SHORT.get(metric, metric)} {_with_ci(ev, metric)}", *_counts_roc(fps, tps))]
    chosen = _curve_groups(ev, feature, metric=metric)
    counts = ev.curve_counts(feature) if chosen else {}
    for label, group in chosen:
        fps, tps, _ = counts[group]
        curves.append((label, *_counts_roc(fps, tps)))
    return curves


def curve_style(k: int, label: str) -> dict[str, Any]:
    """The first curve (overall) thick and black, the groups' thin in the colour cycle."""
    return _OVERALL | {"label": label} if k == 0 else {"lw": 1.2, "label": label}


def roc(ev: Evaluation, feature: str | None = None, *, ax: Axes | None = None) -> Axes:
    """ROC curves, overall and per group of ``feature``, with the operating point at the threshold."""
    ax = axes_for(ax)
    for k, (label, fpr, tpr) in enumerate(_roc_curves(ev, feature, "roc_auc")):
        ax.plot(fpr, tpr, **curve_style(k, label))
    ax.plot([ev.overall["fpr"]], [ev.overall["recall"]], "o", color="black", ms=6,
            label=f"threshold {ev.threshold:.3g}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC{' by ' + feature if feature else ''}")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def det(ev: Evaluation, feature: str | None = None, *, ax: Axes | None = None) -> Axes:
    """DET curves (FNR against FPR on normal-deviate axes), overall and per group, with the EER and
    its confidence interval in the legend."""
    from scipy.stats import norm

    ax = axes_for(ax)
    eps = 1e-4
    for k, (label, fpr, tpr) in enumerate(_roc_curves(ev, feature, "eer")):
        ax.plot(norm.ppf(np.clip(fpr, eps, 1 - eps)), norm.ppf(np.clip(1 - tpr, eps, 1 - eps)), **curve_style(k, label))
    det_axes(ax, f"DET{' by ' + feature if feature else ''}")
    return ax


def det_axes(ax: Axes, title: str, fontsize: float = 7, *, low: float = 0.0005, xlabel: str = "False positive rate",
             ylabel: str = "False negative rate") -> None:
    """Normal-deviate axes with percentage ticks from ``low``, the diagonal (where the EER lies), labels and
    legend."""
    from scipy.stats import norm

    ticks = np.array([t for t in (1e-6, 1e-5, 1e-4, 0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95) if t >= low * 1.9])
    labels = [f"{t:.0e}" if t < 0.001 else f"{t:.1%}" if t < 0.01 else f"{t:.0%}" for t in ticks]
    ax.set_xticks(norm.ppf(ticks), labels)
    ax.set_yticks(norm.ppf(ticks), labels)
    lim = norm.ppf([low, 0.99])
    ax.plot(lim, lim, ls=":", color="grey", lw=1)
    ax.set(xlim=lim, ylim=lim, xlabel=xlabel, ylabel=ylabel, title=title)
    if low < 1e-3:  # decades down to 1e-6: slanted labels keep apart
        ax.tick_params(axis="x", labelrotation=45)
    ax.legend(fontsize=fontsize, loc="upper right")


def _histogram_counts(ev: Evaluation, feature: str | None = None, group: str | None = None) -> np.ndarray:
    """``(bins, 2)`` counts of negatives and positives per fine score bin, overall or for one group."""
    t = ev.tables
    if feature is None:
        return t.histogram.counts.sum(axis=0)
    codes, names = t.groupings[feature]
    return t.histogram.counts[codes == names.index(group)].sum(axis=0)


def _histogram_groups(ev: Evaluation, feature: str | None, metric: str) -> list[tuple[str, np.ndarray]]:
    """(legend label, counts) for overall and the groups of ``feature`` worth a curve, largest first."""
    out = [(f"overall {_SHORT.get(metric, metric)} {_with_ci(ev, metric)}", _histogram_counts(ev))]
    if feature is None:
        return out
    table = ev.by_group.loc[feature].sort_values("n", ascending=False)
    for group, row in table.iterrows():
        if row["n"] < ev.min_group_size or row["tp"] + row["fn"] == 0 or row["tn"] + row["fp"] == 0:
            continue
        out.append((f"{group} (n={int(row['n']):,}) {_SHORT.get(metric, metric)} {_with_ci(ev, metric, feature, group)}",
                    _histogram_counts(ev, feature, str(group))))
        if len(out) > _MAX_GROUPS:
            break
    return out


def _histogram_roc(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FPR and TPR at every bin edge, from the most to the least accepting-nothing threshold."""
    neg, pos = counts[::-1, 0].cumsum(), counts[::-1, 1].cumsum()
    return np.r_[0.0, neg / max(neg[-1], 1)], np.r_[0.0, pos / max(pos[-1], 1)]


def _counts_pr(fps: np.ndarray, tps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at each distinct score, as scikit-learn's ``precision_recall_curve`` gives them
    (ending at recall 0, precision 1), thinned for drawing. Needs positives."""
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tps / tps[-1]
        precision = np.where(tps + fps > 0, tps / (tps + fps), 1.0)
    keep = thin_curve(recall, np.maximum.accumulate(fps / max(fps[-1], 1e-300)))
    return np.r_[recall[keep][::-1], 0.0], np.r_[precision[keep][::-1], 1.0]


def precision_recall(ev: Evaluation, feature: str | None = None, *, ax: Axes | None = None) -> Axes:
    """Precision-recall curves, overall and per group, with the prevalence as the chance line."""
    ax = axes_for(ax)
    r, p = _counts_pr(*ev.curve_counts()[None][:2])
    ax.plot(r, p, **{**_OVERALL, "label": f"overall AP={ev.overall['average_precision']:.3f}"})
    chosen = _curve_groups(ev, feature)
    counts = ev.curve_counts(feature) if chosen else {}
    for label, group in chosen:
        r, p = _counts_pr(*counts[group][:2])
        ax.plot(r, p, lw=1.2, label=label)
    ax.axhline(ev.overall["prevalence"], ls=":", color="grey", lw=1)
    ax.plot([ev.overall["recall"]], [ev.overall["precision"]], "o", color="black", ms=6,
            label=f"threshold {ev.threshold:.4g}")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01),
           title=f"Precision-recall{' by ' + feature if feature else ''}")
    ax.legend(fontsize=7, loc="lower left")
    return ax


def calibration(ev: Evaluation, feature: str | None = None, *, n_bins: int = 10, ax: Axes | None = None) -> Axes:
    """Reliability diagram: observed positive rate per score bin (scores must lie in [0, 1])."""
    from sklearn.calibration import calibration_curve

    ax = axes_for(ax)
    if ev.y_score.min() < 0 or ev.y_score.max() > 1:
        ax.text(0.5, 0.5, "scores outside [0, 1]:\nnot probabilities, no calibration curve",
                ha="center", va="center", transform=ax.transAxes)
        return ax
    t, p = calibration_curve(ev.y_true, ev.y_score, n_bins=n_bins, strategy="quantile")
    ax.plot(p, t, marker="o", **_OVERALL)
    for label, mask in _groups(ev, feature):
        t, p = calibration_curve(ev.y_true[mask], ev.y_score[mask], n_bins=n_bins, strategy="quantile")
        ax.plot(p, t, marker=".", lw=1.2, label=label)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set(xlabel="Mean predicted score", ylabel="Observed positive rate", xlim=(0, 1), ylim=(0, 1),
           title=f"Calibration{' by ' + feature if feature else ''}")
    ax.legend(fontsize=7, loc="upper left")
    return ax


def score_histogram(
    ev: Evaluation, feature: str | None = None, group: str | None = None, *, bins: int = 40,
    log: bool = False, legend: bool = True, ax: Axes | None = None,
) -> Axes:
    """Samples binned by score, stacked by true label, with the threshold drawn.

    Parameters
    ----------
    feature, group : str, optional
        Restrict to the samples of one group (both or neither).
    bins : int, default=40
    log : bool, default=False
        Logarithmic counts, for heavy tails.
    legend : bool, default=True
        Draw the legend (grids draw it once).
    """
    ax = axes_for(ax)
    edges, neg, pos = _score_counts(ev, feature, group, bins)
    # Two filled step artists instead of one rectangle per bin: same picture, far cheaper to draw.
    ax.stairs(neg, edges, fill=True, color="#4c72b0", alpha=0.9, label="true negative class")
    ax.stairs(neg + pos, edges, baseline=neg, fill=True, color="#dd8452", alpha=0.9, label="true positive class")
    if log:
        ax.set_yscale("log")
    ax.axvline(ev.threshold, color="black", ls="--", lw=1.2, label=f"threshold {ev.threshold:.4g}")
    n = f" (n={int(neg.sum() + pos.sum()):,})"
    title = f"{feature} = {group}{n}" if feature else "Scores by true label" + (n if ev.tables is not None else "")
    ax.set(xlabel="Model score", ylabel="Samples" + (" (log)" if log else ""), title=title)
    if legend:
        ax.legend(fontsize=7)
    return ax


def _interval_bars(ax: Axes, at: np.ndarray, low: np.ndarray, high: np.ndarray, *, horizontal: bool = False,
                  **style: Any) -> None:
    """Error bars spanning each interval ``[low, high]`` at positions ``at`` (none where a bound is NaN).

    Drawn from the interval itself, not as offsets from the estimate: a percentile bootstrap interval need not
    hold its estimate, and a bound one rounding error past it would make matplotlib refuse a negative offset.
    """
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    mid, half = (low + high) / 2, np.abs(high - low) / 2
    if horizontal:
        ax.errorbar(mid, at, xerr=half, fmt="none", **style)
    else:
        ax.errorbar(at, mid, yerr=half, fmt="none", **style)


def _score_counts(ev: Evaluation, feature: str | None, group: str | None, bins: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Display bin edges and the negatives and positives in each: from the samples, or out of core from the
    merged fine histogram regrouped into the display bins."""
    if ev.tables is not None:
        counts = _histogram_counts(ev, feature, group)
        low, high = ev.scale["score_range"]
        edges = np.linspace(low, high, bins + 1)
        which = np.clip(np.searchsorted(edges, ev.tables.histogram.edges, side="right") - 1, 0, bins - 1)
        return (edges, np.bincount(which, weights=counts[:, 0], minlength=bins),
                np.bincount(which, weights=counts[:, 1], minlength=bins))
    mask = np.ones(len(ev.y_true), dtype=bool) if feature is None else ev.group_values(feature) == group
    y, s = ev.y_true[mask], ev.y_score[mask]
    edges = np.linspace(min(ev.y_score.min(), 0.0), max(ev.y_score.max(), 1.0), bins + 1)
    return edges, np.histogram(s[y == 0], bins=edges)[0], np.histogram(s[y == 1], bins=edges)[0]


def group_bars(ev: Evaluation, metric: str, feature: str, *, ax: Axes | None = None) -> Axes:
    """One bar per group of ``feature`` for ``metric``, with its confidence interval as an error bar
    and the overall value as a line.

    Groups below the minimum size are drawn hatched and pale; undefined values are marked "n/a".
    """
    table = ev.by_group.loc[feature].sort_values("n", ascending=False)
    ax = axes_for(ax, (max(4.0, 0.5 * len(table) + 1.5), 3.6))
    x = np.arange(len(table))
    values = table[metric].to_numpy(dtype=float)
    small = table["n"].to_numpy() < ev.min_group_size
    bars = ax.bar(x, np.nan_to_num(values), color=np.where(small, "#c8c8c8", "#4c72b0"))
    if ev.uncertainty is not None and metric in ev.uncertainty.by_group.columns.get_level_values(0):
        ci = ev.uncertainty.by_group.loc[feature].loc[table.index, metric]
        _interval_bars(ax, x, ci["ci_low"], ci["ci_high"], ecolor="black", elinewidth=1, capsize=3,
                      label=f"{ev.uncertainty.level:.0%} CI")
    for bar, is_small, v in zip(bars, small, values, strict=True):
        if is_small:
            bar.set_hatch("//")
        if np.isnan(v):
            ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=7)
    ax.axhline(ev.overall[metric], color="black", ls="--", lw=1, label=f"overall {ev.overall[metric]:.3g}")
    labels = [f"{g}\nn={int(n):,}" for g, n in zip(table.index, table["n"], strict=True)]
    crowded = len(table) > 6 or max(len(str(g)) for g in table.index) * len(table) > 50
    ax.set_xticks(x, labels, fontsize=7, rotation=25 if crowded else 0, ha="right" if crowded else "center",
                  rotation_mode="anchor")
    ax.set(ylabel=metric, title=f"{metric} by {feature}")
    ax.legend(fontsize=7)
    return ax


def _fixed_grid(fig: Figure, rows: int, *, hspace: float = 0.55) -> None:
    """Fixed margins for large grids: constrained layout costs about as much as drawing them."""
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.06, right=0.985, top=1 - 0.45 / height, bottom=0.75 / height,
                        hspace=hspace, wspace=0.28)


def by_feature(ev: Evaluation, plot: Callable[..., Any], features: list[str] | None = None, **kwargs: Any) -> Figure:
    """One panel per sensitive feature (default: each feature, no intersections), side by side.

    Examples
    --------
    >>> fig = by_feature(ev, roc)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    features = features or list(ev.data.manifest.sensitive_features)
    fig, axes = plt.subplots(1, len(features), figsize=(4.6 * len(features), 4.2), squeeze=False)
    _fixed_grid(fig, 1)
    for ax, feature in zip(axes[0], features, strict=True):
        plot(ev, feature, ax=ax, **kwargs)
    return fig


def metric_bars(ev: Evaluation, metrics: tuple[str, ...] = ("recall", "fpr", "precision", "selection_rate"),
                feature: str | None = None) -> Figure:
    """A grid of :func:`group_bars`: one row per metric, one column per feature (or one ``feature``)."""
    import matplotlib.pyplot as plt

    features = [feature] if feature else list(ev.data.manifest.sensitive_features)
    fig, axes = plt.subplots(len(metrics), len(features), figsize=(4.6 * len(features), 3.4 * len(metrics)),
                             squeeze=False)
    _fixed_grid(fig, len(metrics), hspace=0.6)
    for i, metric in enumerate(metrics):
        for j, feat in enumerate(features):
            group_bars(ev, metric, feat, ax=axes[i][j])
    return fig


def score_histograms(ev: Evaluation, features: list[str] | None = None, *, bins: int = 30,
                     log: bool = False, max_groups: int = 6) -> Figure:
    """:func:`score_histogram` per group: one row per feature (default: each sensitive feature), one
    panel per group, largest groups first (at most ``max_groups`` a row)."""
    import matplotlib.pyplot as plt

    features = features or list(ev.data.manifest.sensitive_features)
    rows = [(f, list(ev.by_group.loc[f].sort_values("n", ascending=False).index[:max_groups])) for f in features]
    cols = max(len(groups) for _, groups in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.9 * cols, 2.6 * len(rows)), squeeze=False)
    _fixed_grid(fig, len(rows))
    for (feature, groups), ax_row in zip(rows, axes, strict=True):
        for j, ax in enumerate(ax_row):
            if j < len(groups):
                score_histogram(ev, feature, groups[j], bins=bins, log=log, legend=j == 0, ax=ax)
                ax.title.set_fontsize(8)
            else:
                ax.set_visible(False)
    return fig


def reference_differences(ev: Evaluation, metric: str = "recall", *, intersections: bool = False,
                          ax: Axes | None = None) -> Axes:
    """Each group's difference to its feature's reference group on ``metric``, with its confidence
    interval; differences that survive the Benjamini-Hochberg correction are drawn in red, and the
    shaded band is the tolerance."""
    ref = ev.reference
    ax = axes_for(ax, (7.5, 0.5 + 0.28 * max(len(ref), 1)))
    if ref.empty or metric not in ref.index.get_level_values("metric"):
        ax.set_axis_off()
        ax.set_title(f"{metric}: no group to compare")
        return ax
    rows = ref.xs(metric, level="metric").reset_index()
    if not intersections:
        rows = rows[~rows["feature"].str.contains("&", regex=False)]
    y = np.arange(len(rows))[::-1]
    d = rows["difference"].to_numpy(dtype=float)
    has_ci = "difference_ci_low" in rows
    significant = rows["significant"].to_numpy(dtype=bool) if "significant" in rows else np.zeros(len(rows), bool)
    colors = np.where(significant, "#c0392b", "#4c72b0")
    if has_ci:
        _interval_bars(ax, y, rows["difference_ci_low"], rows["difference_ci_high"], horizontal=True, ecolor="#555",
                      elinewidth=1, capsize=2)
    ax.scatter(d, y, c=colors, zorder=3, s=18)
    xlabel = f"{metric}: group − reference"
    if ev.uncertainty is not None:
        tol = ev.uncertainty.tolerance
        ax.axvspan(-tol, tol, color="#2ca02c", alpha=0.08)
        xlabel += f" (green: tolerance ±{tol:g}; red: survives BH)"
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{r.feature}: {r.group} vs {r.reference}" for r in rows.itertuples()], fontsize=7)
    ax.set(xlabel=xlabel, title=f"{metric}: difference to the reference group")
    return ax


def reference_grid(ev: Evaluation, metrics: tuple[str, ...] = ("recall", "fpr")) -> Figure:
    """:func:`reference_differences` for each of ``metrics``, side by side (single features)."""
    import matplotlib.pyplot as plt

    rows = 0 if ev.reference.empty else int(
        (~ev.reference.index.get_level_values("feature").str.contains("&", regex=False)).sum() / max(len(
            ev.reference.index.get_level_values("metric").unique()), 1))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 1.2 + 0.3 * max(rows, 2)), squeeze=False)
    fig.subplots_adjust(left=0.17, right=0.99, wspace=0.55, bottom=0.6 / fig.get_figheight() + 0.05, top=0.9)
    for ax, metric in zip(axes[0], metrics, strict=True):
        reference_differences(ev, metric, ax=ax)
    return fig


def apcer_bpcer_det(pad: Any, feature: str | None = None, *, ax: Axes | None = None) -> Axes:
    """DET of presentation-attack detection (ISO/IEC 30107-3): BPCER against APCER_max on normal-deviate axes,
    overall and for each group of ``feature`` (default: the first), every curve at the same global thresholds;
    the operating threshold marked on each curve and the APCER targets of BPCER10/20 dotted.

    Parameters
    ----------
    pad : evalkit.diagnostics.PresentationAttacks
    """
    from scipy.stats import norm

    from ..diagnostics import bpcer_name

    ax = axes_for(ax)
    curve = pad.curve
    if "feature" not in curve.columns:
        curve = curve.assign(feature="overall", group="all")
    features = [f for f in dict.fromkeys(curve.feature) if f != "overall"]
    feature = feature or (features[0] if features else None)
    parts = [("overall", "all")] + [("" if feature is None else feature, g)
                                    for g in dict.fromkeys(curve.loc[curve.feature == feature, "group"])]
    r = pad.rates
    n_min = r.loc[(r.feature == "overall") & r.rate.str.startswith("APCER:") & (r.n > 0), "n"].min()
    low = max(0.5 / max(n_min, 1), 1e-4)  # half a step of the smallest species overall; groups run off the edge
    eps = low / 2
    rates = pad.rates.set_index(["feature", "group", "rate"])
    for k, (f, g) in enumerate(parts):
        c = curve[(curve.feature == f) & (curve.group == g)].dropna(subset=["apcer_max", "bpcer"])
        if c.empty:
            continue
        label = "overall" if f == "overall" else f"{f}={g}"
        x, y = norm.ppf(np.clip(c.apcer_max, eps, 1 - eps)), norm.ppf(np.clip(c.bpcer, eps, 1 - eps))
        (line,) = ax.plot(x, y, **curve_style(k, label))
        if (f, g, "APCER_max") in rates.index and (f, g, "BPCER") in rates.index:
            at = norm.ppf(np.clip([rates.loc[(f, g, "APCER_max"), "value"], rates.loc[(f, g, "BPCER"), "value"]],
                                  eps, 1 - eps))
            ax.plot(*at, "o", color=line.get_color(), ms=4)
    for target in sorted(set(pad.at_apcer["target"])):
        ax.axvline(norm.ppf(target), ls=":", color="grey", lw=1)
        ax.annotate(bpcer_name(target), (norm.ppf(target), 0.97), xycoords=("data", "axes fraction"), rotation=90, fontsize=6,
                    color="grey", ha="right", va="top")
    det_axes(ax, f"APCER_max vs BPCER{'' if feature is None else ' by ' + feature}", low=low,
             xlabel="APCER_max (attacks accepted, worst species)", ylabel="BPCER (bona fide rejected)")
    return ax


def robustness_curves(rob: Any, metric: str | None = None, features: list[str] | None = None, *,
                      min_group_size: int | None = None) -> Figure:
    """Metric against perturbation strength, one column per perturbation: one row per sensitive feature
    (overall in black, each group of the feature in colour, with interval bands) and a last row with
    the prediction flip rate overall. Strength 0 is the clean data.

    Parameters
    ----------
    rob : evalkit.robustness.Robustness
    metric : str, optional
        Default: the first metric measured.
    features : list of str, optional
        Default: every feature measured.
    min_group_size : int, optional
        Smaller groups are left out (default: the assessment's).
    """
    import matplotlib.pyplot as plt

    from ..diagnostics import PERTURBATIONS

    metric = metric or rob.metrics[0]
    c = rob.curves[rob.curves.metric == metric]
    features = features or [f for f in dict.fromkeys(c.feature) if f != "overall"]
    names = list(rob.suite)
    min_n = rob.min_group_size if min_group_size is None else min_group_size
    rows = len(features) + 1
    fig, axes = plt.subplots(rows, len(names), figsize=(3.3 * max(len(names), 1) + 0.6, 3.0 * rows), squeeze=False)
    _fixed_grid(fig, rows, hspace=0.5)
    clean = c[c.perturbation == "clean"]
    for j, name in enumerate(names):
        part = _concat(clean, c[c.perturbation == name]).sort_values("strength", kind="stable")
        unit = PERTURBATIONS[name].unit if name in PERTURBATIONS else "strength"
        overall = part[part.feature == "overall"]
        for i, feature in enumerate(features):
            ax = axes[i][j]
            ax.plot(overall.strength, overall.value, marker="o", ms=3, **_OVERALL)
            ax.fill_between(overall.strength, overall.ci_low, overall.ci_high, alpha=0.15, color="black", lw=0)
            for k, group in enumerate(dict.fromkeys(part[part.feature == feature].group)):
                g = part[(part.feature == feature) & (part.group == group)]
                if g.n.iloc[0] < min_n:
                    continue
                ax.plot(g.strength, g.value, marker="o", ms=3, lw=1.3, color=f"C{k}",
                        label=f"{group} (n={int(g.n.iloc[0]):,})")
                ax.fill_between(g.strength, g.ci_low, g.ci_high, alpha=0.12, color=f"C{k}", lw=0)
            ax.set(title=f"{name}: {metric} by {feature}", xlabel=unit, ylabel=metric if j == 0 else None)
            if j == 0:
                ax.legend(fontsize=6.5)
            if name in rob.errors:
                ax.text(0.5, 0.5, "the model could not\nscore these inputs", transform=ax.transAxes, ha="center",
                        fontsize=8, color="#a61b1b")
        flip_ax = axes[-1][j]
        flip_ax.plot(overall.strength, overall.flip_rate, marker="o", ms=3, color="black")
        flip_ax.fill_between(overall.strength, overall.flip_ci_low, overall.flip_ci_high, alpha=0.15, color="black",
                             lw=0)
        flip_ax.set(title=f"{name}: decisions flipped", xlabel=unit, ylabel="flip rate" if j == 0 else None,
                    ylim=(0, None))
    return fig


def _concat(*frames: Any) -> Any:
    """``pandas.concat`` of non-empty frames (pandas warns about empty ones)."""
    import pandas as pd

    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def learning_curve(curve: Any, metric: str = "roc_auc", *, ax: Axes | None = None) -> Axes:
    """Training and evaluation metric against the number of training rows (from
    :func:`evalkit.fitting.learning_curve`): a persistent gap means overfitting, two low curves
    underfitting, a still-rising evaluation curve that more data would help."""
    ax = axes_for(ax, (5.2, 3.6))
    ax.plot(curve.n_train, curve.train, marker="o", label="training data")
    ax.plot(curve.n_train, curve["eval"], marker="s", label="evaluation data")
    ax.set(xlabel="training rows", ylabel=metric, title=f"Learning curve ({metric})")
    ax.legend(fontsize=8)
    return ax


def compare_curves(cmp: Any) -> Figure:
    """ROC and DET curves of every candidate of a :class:`~evalkit.compare.Comparison`, overlaid on the
    same samples, each with its operating point; the legend gives each AUC and EER with its DeLong
    difference to the baseline."""
    import matplotlib.pyplot as plt
    from scipy.stats import norm
    from sklearn.metrics import det_curve, roc_curve

    fig, (ax_roc, ax_det) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    tests = cmp.tests[cmp.tests["feature"] == "overall"].set_index("candidate")
    eps = 1e-4
    for i, c in enumerate(cmp.candidates):
        color = f"C{i}"
        if cmp.histograms:  # out of core: the curve through the fine grid's edges, the dot at the threshold's edge
            counts = cmp.histograms["counts"][c.name]
            tp, fp = np.cumsum(counts[::-1, 1])[::-1], np.cumsum(counts[::-1, 0])[::-1]
            P, N = max(tp[0], 1), max(fp[0], 1)
            fpr, tpr = np.r_[fp / N, 0.0][::-1], np.r_[tp / P, 0.0][::-1]
            dfpr, dfnr = fpr[::-1], 1 - tpr[::-1]
            at = int(np.searchsorted(cmp.histograms["edges"], c.threshold, side="left"))
            point = (fp[at] / N, tp[at] / P) if at < fp.size else (0.0, 0.0)
        else:
            s = cmp.samples
            y, w = s["y_true"].to_numpy(), s["weight"].to_numpy()
            w = None if (w == 1).all() else w
            score = s[f"score:{c.name}"].to_numpy()
            fpr, tpr, _ = roc_curve(y, score, sample_weight=w)
            dfpr, dfnr, _ = det_curve(y, score, sample_weight=w)
            pred = score >= c.threshold
            point = (pred[y == 0].mean(), pred[y == 1].mean())
        auc = float(np.trapezoid(tpr, fpr))
        extra = "" if c.name == cmp.baseline else (
            f", Δ {tests.loc[c.name, 'delong_difference']:+.3f}" if c.name in tests.index else "")
        name = f"{c.name}{' (baseline)' if c.name == cmp.baseline else ''}"
        ax_roc.plot(fpr, tpr, color=color, lw=2 if c.name == cmp.baseline else 1.4, label=f"{name} AUC {auc:.3f}{extra}")
        ax_roc.plot([point[0]], [point[1]], "o", color=color, ms=6)
        ax_det.plot(norm.ppf(np.clip(dfpr, eps, 1 - eps)), norm.ppf(np.clip(dfnr, eps, 1 - eps)), color=color,
                    lw=2 if c.name == cmp.baseline else 1.4, label=name)
        ax_det.plot(norm.ppf(np.clip([point[0]], eps, 1 - eps)), norm.ppf(np.clip([1 - point[1]], eps, 1 - eps)), "o",
                    color=color, ms=6)
    ax_roc.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax_roc.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01),
               title="ROC, same samples (dots: each model's threshold)")
    ax_roc.legend(fontsize=7.5, loc="lower right")
    det_axes(ax_det, "DET", fontsize=7.5)
    return fig


def group_deltas(cmp: Any, metric: str = "recall", *, intersections: bool = False) -> Figure:
    """Each challenger's difference to the baseline on ``metric``, overall and per group, with its paired
    bootstrap interval; significant differences (Benjamini-Hochberg) are filled, green when better and red
    when worse; small groups are grey."""
    import matplotlib.pyplot as plt

    d = cmp.deltas[cmp.deltas["metric"] == metric]
    if not intersections:
        d = d[~d["feature"].str.contains("&", regex=False)]
    challengers = [c for c in cmp.names if c != cmp.baseline]
    keys = list(dict.fromkeys(zip(d["feature"], d["group"], strict=True)))
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.3 * max(len(keys), 2)), layout="constrained")
    ypos = {k: len(keys) - 1 - i for i, k in enumerate(keys)}
    offset = np.linspace(-0.25, 0.25, len(challengers)) if len(challengers) > 1 else [0.0]
    for j, name in enumerate(challengers):
        rows = d[d["candidate"] == name]
        yy = np.array([ypos[(f, g)] for f, g in zip(rows["feature"], rows["group"], strict=True)]) + offset[j]
        diff = rows["difference"].to_numpy(float)
        _interval_bars(ax, yy, rows["ci_low"], rows["ci_high"], horizontal=True, ecolor=f"C{j + 1}", elinewidth=1,
                      capsize=2)
        sig, better, small = (rows[c].to_numpy(bool) for c in ("significant", "better", "small"))
        face = np.where(small, "#bbb", np.where(sig, np.where(better, "#1b7a3a", "#a61b1b"), "white"))
        ax.scatter(diff, yy, facecolors=face, edgecolors=f"C{j + 1}", zorder=3, s=22)
        ax.scatter([], [], facecolors="white", edgecolors=f"C{j + 1}", s=22, label=f"{name} − {cmp.baseline}")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(list(ypos.values()), [f"{f}: {g}" if f != "overall" else "overall" for f, g in ypos], fontsize=7)
    ax.set(xlabel=f"{metric}: candidate − baseline (filled: significant; green better, red worse)",
           title=f"{metric}: difference to {cmp.baseline} by group")
    ax.legend(fontsize=7, loc="best")
    return fig
