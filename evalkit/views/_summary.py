"""What the report shows: the header, the "good and fair enough?" summary, and formatted tables.

Every function returns an :class:`IPython.display.HTML` (or a string of HTML) built from escaped
values, formatted to 4 significant digits; the notebook only displays them.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data import INTERSECTION_SEP
from ._html import cell_html, fmt, fmt_ci, html_fragment, html_table, label
from ._slices import where_it_fails

if TYPE_CHECKING:
    from IPython.display import HTML

    from ..evaluation import Evaluation

#: Metrics in the headline strip, in order.
HEADLINE = ("roc_auc", "average_precision", "eer", "accuracy", "precision", "recall", "f1", "fpr",
            "selection_rate")
#: Metrics whose disparities are shown on the first screen.
KEY_DISPARITY_METRICS = ("recall", "fpr", "selection_rate", "precision", "roc_auc")
def header(ev: Evaluation) -> HTML:
    """Model, dataset(s) with sha256, threshold, evalkit version, git commit, date and MLflow run."""
    from ..evaluation import git_commit, versions

    m = ev.data.manifest
    model = ev.model.name + (f" (version {ev.model.version}, {ev.model.uri})" if ev.model.version else
                             " (scores in a column of the data)" if ev.model.kind == "column" else
                             f" ({ev.model.kind} file)")
    items = [
        ("Model", model),
        ("Model sha256", ev.model.sha256[:16] + "…" if ev.model.sha256 else "—"),
        ("Dataset", _dataset_text(ev)),
        ("Balancing", _balance_text(ev)),
        ("Dataset sha256", m.sha256),
        ("Decision threshold", _threshold_text(ev)),
        ("Uncertainty", uncertainty_text(ev)),
        ("Sensitive features", ", ".join(m.sensitive_features) + " and their pairwise intersections"
         + (" and all of them together" if len(m.sensitive_features) >= 3 else "")),
        ("Per-group metrics", f"{ev.engine} engine; groups under {ev.min_group_size} samples flagged"),
        *([("Out of core", _scale_text(ev))] if ev.scale else []),
        ("evalkit", f"{versions()['evalkit']}, git {git_commit()}"),
        ("Date (UTC)", ev.created),
        ("MLflow run", ev.run_id or "not tracked"),
    ]
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in items)
    return html_fragment(f"<div class='evalkit-box'><h3>Evaluation of {html.escape(ev.model.name)}</h3>"
                 f"<table class='evalkit-kv'>{rows}</table></div>")


def _scale_text(ev: Evaluation) -> str:
    d = ev.scale
    rate = f"{d['rows_per_second']:,.0f} rows/s" if d.get("rows_per_second") else "—"
    where = d["scheduler"] or "this process"
    return (f"{d['rows']:,} rows read in {d['chunks']} chunk(s) of up to {d['chunk_rows']:,} by the {d['engine']} engine "
            f"on {d['workers']} worker(s) ({where}) in {d['seconds']:.1f} s, {rate}; scores from {d['scores']}; "
            f"counts at the threshold exact, threshold-free metrics from {d['fine_bins']:,} score bins "
            f"(ROC AUC within ±{d['auc_binning_bound']:.1e})")


def _dataset_text(ev: Evaluation) -> str:
    m = ev.data.manifest
    if "members" not in m.extra:
        return f"{m.name} ({m.source}, {ev.n:,} rows, licence {m.license})"
    counts = ev.data.frame["dataset"].value_counts()
    members = ", ".join(f"{x.name} ({x.source}, {int(counts.get(x.name, 0)):,} rows)" for x in ev.data.members)
    return f"suite {m.name}: {members}; licences {m.license}"


def _balance_text(ev: Evaluation) -> str:
    b = ev.balance
    if b.get("method", "none") == "none":
        return "none (the data as they are; composition below)"
    target = b["target"] if isinstance(b["target"], str) else ", ".join(f"{k} {v:g}" for k, v in b["target"].items())
    if b["method"] == "downsample":
        return (f"stratified down-sample by {b['by']} to {target} (seed {ev.uncertainty.seed if ev.uncertainty else 0}): "
                f"{b['rows_before']:,} → {b['rows_after']:,} rows")
    return f"weights by {b['by']} to {target}: every metric and interval is weighted ({b['rows_after']:,} rows kept)"


def _is_source(feature: str) -> bool:
    from ..data import SOURCE_FEATURE

    return SOURCE_FEATURE in feature.split(INTERSECTION_SEP)


def _threshold_text(ev: Evaluation) -> str:
    op = ev.operating_point
    if op is None or op.rule == "fixed":
        return f"{ev.threshold:.4g} (fixed)"
    return f"{ev.threshold:.4g}, chosen by rule '{op.rule}': {op.description}"


def uncertainty_text(ev: Evaluation) -> str:
    """How an evaluation's intervals were made, one sentence per method and the metrics it covers (the report's and
    the gate's header)."""
    u = ev.uncertainty
    if u is None:
        return "no confidence intervals (n_boot=0)"
    bins = ("exact" if u.exact_bins else "256 merged score bins, shifted to the fine-histogram values" if ev.scale
            else "binned scores, shifted to the exact values")
    boot = f"Poisson bootstrap percentile from {u.n_boot:,} resamples (seed {u.seed}, {bins})"
    shown = [m for m in u.methods if m not in ("n", "tp", "fp", "tn", "fn")]
    by_method: dict[str, list[str]] = {}
    for m in shown:
        by_method.setdefault(u.methods[m], []).append(m)
    names = {"wilson": "Wilson score", "delong-logit": "DeLong on the logit scale", "percentile": boot}
    parts = [f"{names.get(method, method)} for {', '.join(metrics)}" for method, metrics in by_method.items()]
    if not u.methods:
        parts = [boot]
    simultaneous = [m for m, method in u.disparity_methods.items() if method == "simultaneous-wilson"]
    disparity = ("max - min disparities of proportions from simultaneous Bonferroni-Wilson bounds over the groups "
                 "(Newcombe's interval for two groups), others from the bootstrap" if simultaneous
                 else "disparities from the bootstrap")
    return (f"{u.level:.0%} intervals: {'; '.join(parts)}; {disparity}; differences to reference groups "
            f"from the bootstrap, tested against tolerance {u.tolerance:g} with Benjamini-Hochberg at FDR {u.fdr:g}")


#: Fewest samples in a metric's denominator (positives for recall, ...) for a group's value to be ranked.
MIN_DENOMINATOR = 10


def denominator(row: pd.Series, metric: str) -> float:
    """The samples a group's value of ``metric`` rests on: positives for recall/FNR, negatives for FPR/TNR,
    predicted positives for precision, the smaller class for threshold-free metrics, else all samples."""
    pos, neg = row.get("tp", np.nan) + row.get("fn", np.nan), row.get("fp", np.nan) + row.get("tn", np.nan)
    if metric in ("recall", "fnr", "tpr"):
        return pos
    if metric in ("fpr", "tnr", "specificity"):
        return neg
    if metric in ("precision", "fdr"):
        return row.get("tp", np.nan) + row.get("fp", np.nan)
    if metric in ("roc_auc", "average_precision", "eer", "f1"):
        return min(pos, neg) if metric != "f1" else pos
    return row.get("n", np.nan)


def _support(ev: Evaluation, feature: str, worst: str, best: str, metric: str) -> float:
    return float(min(denominator(ev.by_group.loc[(feature, worst)], metric),
                     denominator(ev.by_group.loc[(feature, best)], metric)))


def disparity_table(ev: Evaluation, *, metrics: tuple[str, ...] = KEY_DISPARITY_METRICS,
                    top: int | None = 10, intersections: bool = True, supported: bool | None = True
                    ) -> pd.DataFrame:
    """The largest between-group differences, ranked by what the data support, with the worst and best groups.

    Ranked by the lower bound of the difference's interval (the bound nearest zero; by the difference itself
    without intervals), never by the point estimate alone.

    Parameters
    ----------
    metrics : tuple of str
        Which metrics to include.
    top : int or None, default=10
        Keep the ``top`` first rows (all when None).
    intersections : bool, default=True
        Include intersections of features; ``False`` keeps single features only.
    supported : bool or None, default=True
        True: only gaps whose two groups each have at least :data:`MIN_DENOMINATOR` samples in the metric's
        denominator (:func:`denominator`); False: only the others (under-powered, listed apart); None: all.

    Returns
    -------
    DataFrame
        Formatted strings: feature, metric, difference (with interval), ratio, worst group (value, n), best
        group, groups, and ``support`` (the smaller denominator of the two groups).
    """
    d = ev.disparities.reset_index()
    keep = d["metric"].isin(list(metrics)) & d["difference"].notna() & ~d["feature"].map(_is_source)
    if not intersections:
        keep &= ~d["feature"].str.contains(INTERSECTION_SEP, regex=False)
    d = d[keep].copy()
    d["support"] = [_support(ev, r.feature, r.worst_group, r.best_group, r.metric) for r in d.itertuples()]
    if supported is not None:
        d = d[(d["support"] >= MIN_DENOMINATOR) == supported]
    u = ev.uncertainty
    ci = u.disparities if u is not None else pd.DataFrame()
    d["bound"] = [ci.loc[(r.feature, r.metric), "difference_ci_low"] if (r.feature, r.metric) in ci.index
                  else r.difference for r in d.itertuples()]
    d = d.sort_values(["bound", "difference"], ascending=False, kind="stable", na_position="last")
    if top is not None:
        d = d.head(top)
    rows = []
    for r in d.itertuples():
        worst = ev.by_group.loc[(r.feature, r.worst_group)]
        best = ev.by_group.loc[(r.feature, r.best_group)]
        interval = ""
        if (r.feature, r.metric) in ci.index:
            c = ci.loc[(r.feature, r.metric)]
            interval = fmt_ci(c["difference_ci_low"], c["difference_ci_high"])
        rows.append({
            "feature": r.feature,
            "metric": label(r.metric) + (" ↓" if r.metric in ev.lower_is_better else ""),
            "difference": fmt(r.difference) + (f" {interval}" if interval else ""),
            "ratio": fmt(r.ratio),
            "worst-off group": f"{r.worst_group}: {fmt(worst[r.metric])} (n={int(worst['n']):,})",
            "best group": f"{r.best_group}: {fmt(best[r.metric])} (n={int(best['n']):,})",
            "groups": r.groups_compared,
            "support": f"{int(r.support):,}" if np.isfinite(r.support) else "—",
        })
    return pd.DataFrame(rows, columns=["feature", "metric", "difference", "ratio", "worst-off group",
                                       "best group", "groups", "support"])


def summary(ev: Evaluation, *, top: int = 8) -> HTML:
    """The first screen: headline metrics, largest disparities, worst-off groups, small groups."""
    o = ev.overall
    headline = list(HEADLINE) + ev.config.names
    tiles = "".join(f"<div class='evalkit-tile'><div class='v'>{fmt(o[m], m)}</div>"
                    f"<span class='evalkit-ci'>{html.escape(fmt_ci(*ev.interval(m)))}</span>"
                    f"<div class='k'>{html.escape(label(m))}</div></div>" for m in headline)
    rule = "" if ev.operating_point is None or ev.operating_point.rule == "fixed" else (
        f" (rule '{ev.operating_point.rule}')")
    n = (f"{int(o['n']):,} samples, prevalence {fmt(o['prevalence'])}, threshold {ev.threshold:.4g}{rule}: "
         f"TP {fmt(o['tp'], 'tp')}, FP {fmt(o['fp'], 'fp')}, TN {fmt(o['tn'], 'tn')}, FN {fmt(o['fn'], 'fn')}; "
         f"EER {fmt(o['eer'])} at score {fmt(o['eer_threshold'])}.")
    disp = disparity_table(ev, top=top)
    single = disparity_table(ev, top=top, intersections=False)
    small = ev.small_groups
    small_text = (
        f"<p class='evalkit-warn'>⚠ {len(small)} group(s) have fewer than {ev.min_group_size} samples; "
        "their metrics are too noisy to compare and are left out of the disparities (listed at the end): "
        + html.escape(", ".join(f"{r.feature}={r.group} (n={int(r.n)})" for r in small.head(12).itertuples()))
        + (" …" if len(small) > 12 else "") + "</p>"
        if len(small) else f"<p>All groups have at least {ev.min_group_size} samples.</p>"
    )
    undefined = [u for u in ev.undefined() if u["scope"] == "by_group" and u["metric"] != "eer_threshold"]
    undefined_text = (f"<p class='evalkit-warn'>⚠ {len(undefined)} per-group values are undefined "
                      "(e.g. a group with one class has no AUC); see the table at the end.</p>"
                      if undefined else "")
    return html_fragment(
        "<div class='evalkit-box'><h3>Good enough?</h3>"
        f"<div class='evalkit-strip'>{tiles}</div><p>{html.escape(n)}</p>{_by_source_html(ev)}</div>"
        "<div class='evalkit-box'><h3>Fair enough? Largest gaps between groups</h3>"
        f"<p>By single feature (groups with n ≥ {ev.min_group_size}), ranked by the lower bound of the gap's "
        f"interval (what the data support, not the point estimate); <i>support</i> is the smaller group's count in "
        "the metric's denominator (positives for recall, negatives for FPR, predicted positives for precision); "
        "↓ marks metrics where lower is better.</p>"
        + html_table(single, ("feature", "metric", "worst-off group", "best group"))
        + "<p>Including intersections:</p>"
        + html_table(disp, ("feature", "metric", "worst-off group", "best group"))
        + _thin_html(ev, top=top)
        + _survivors_html(ev, top=top)
        + small_text + undefined_text + "</div>"
        + where_it_fails(ev)
    )


def _thin_html(ev: Evaluation, *, top: int) -> str:
    """The gaps between groups with too few samples in the metric's denominator to rank, listed apart."""
    thin = disparity_table(ev, top=None, supported=False)
    if thin.empty:
        return ""
    return (f"<details><summary>{len(thin)} gap(s) rest on a group with fewer than {MIN_DENOMINATOR} samples in "
            "the metric's denominator: listed apart, not ranked (their intervals are too wide to order)</summary>"
            + html_table(thin.head(top * 3), ("feature", "metric", "worst-off group", "best group")) + "</details>")


def _survivors_html(ev: Evaluation, *, top: int) -> str:
    u = ev.uncertainty
    if u is None:
        return "<p>No confidence intervals were computed, so no difference was tested.</p>"
    ref = u.reference
    ref = ref[~ref.index.get_level_values("feature").map(_is_source)]
    tested = ref[ref["p_value"].notna()]
    surviving = _by_importance(tested[tested["significant"]])
    intro = (f"<p><b>{len(surviving)} of {len(tested)}</b> differences between a group and its reference group "
             f"(the largest group unless chosen) exceed the tolerance of {u.tolerance:g} after a "
             f"Benjamini-Hochberg correction at FDR {u.fdr:g}"
             + (":" if len(surviving) else ".") + "</p>")
    if surviving.empty:
        return intro
    return intro + html_table(_reference_rows(ev, surviving.head(top)), ("feature", "metric", "group", "reference"))


def supported_size(frame: pd.DataFrame) -> np.ndarray:
    """How large each difference is at least, by its interval: the bound nearest zero (0 when the interval
    holds 0), or ``|difference|`` without intervals. What evalkit ranks differences by.

    Examples
    --------
    >>> f = pd.DataFrame({"difference": [-0.3, 0.1, 0.2], "difference_ci_low": [-0.6, 0.05, -0.1],
    ...                   "difference_ci_high": [-0.01, 0.15, 0.5]})
    >>> supported_size(f).tolist()
    [0.01, 0.05, 0.0]
    """
    d = frame["difference"].to_numpy(float)
    if "difference_ci_low" not in frame:
        return np.abs(d)
    low, high = frame["difference_ci_low"].to_numpy(float), frame["difference_ci_high"].to_numpy(float)
    bound = np.where(low > 0, low, np.where(high < 0, -high, 0.0))
    return np.where(np.isnan(low) | np.isnan(high), np.nan, bound)


def _by_importance(frame: pd.DataFrame) -> pd.DataFrame:
    """Single features before intersections, then by what the data support (:func:`supported_size`), then the
    difference itself."""
    if frame.empty:
        return frame
    key = pd.DataFrame({
        "inter": frame.index.get_level_values("feature").str.contains(INTERSECTION_SEP, regex=False),
        "bound": -np.nan_to_num(supported_size(frame), nan=-1.0),
        "size": -frame["difference"].abs().to_numpy(),
    }, index=frame.index)
    return frame.loc[key.sort_values(["inter", "bound", "size"], kind="stable").index]


def _fmt_p(p: Any) -> str:
    if p is None or pd.isna(p):
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.2g}"


def _reference_rows(ev: Evaluation, frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (feature, metric, group), r in frame.iterrows():
        n = int(ev.by_group.loc[(feature, group), "n"])
        rows.append({
            "feature": feature,
            "metric": label(metric) + (" ↓" if metric in ev.lower_is_better else ""),
            "group": f"{group} (n={n:,})",
            "reference": r["reference"],
            "group − reference": fmt(r["difference"]) + (
                f" {fmt_ci(r['difference_ci_low'], r['difference_ci_high'])}" if "difference_ci_low" in r else ""),
            "ratio": fmt(r["ratio"]),
            "adjusted p": _fmt_p(r["p_adjusted"]) if "p_adjusted" in r else "—",
        })
    return pd.DataFrame(rows, columns=["feature", "metric", "group", "reference", "group − reference", "ratio",
                                       "adjusted p"])


def reference_table(ev: Evaluation, *, metrics: tuple[str, ...] | None = KEY_DISPARITY_METRICS,
                    intersections: bool = False, significant_only: bool = False) -> HTML:
    """Groups against their feature's reference group, with intervals and BH-adjusted p-values,
    surviving differences first, then by what the data support (:func:`supported_size`).

    Parameters
    ----------
    metrics : tuple of str or None
        Metrics to include (None: all compared metrics).
    intersections : bool, default=False
        Include intersections of features.
    significant_only : bool, default=False
        Only the differences that survive the correction.
    """
    ref = ev.reference
    if not ref.empty:
        keep = np.ones(len(ref), dtype=bool)
        if metrics is not None:
            keep &= ref.index.get_level_values("metric").isin(list(metrics))
        if not intersections:
            keep &= ~ref.index.get_level_values("feature").str.contains(INTERSECTION_SEP, regex=False)
        ref = ref[keep]
    if ref.empty:
        return html_fragment("<p>No group could be compared with a reference group.</p>")
    if "p_adjusted" in ref:
        ref = ref.assign(_bound=np.nan_to_num(supported_size(ref), nan=-1.0), _abs=ref["difference"].abs()
                         ).sort_values(["significant", "_bound", "_abs"], ascending=[False, False, False],
                                       kind="stable")
        if significant_only:
            ref = ref[ref["significant"]]
    return html_fragment(html_table(_reference_rows(ev, ref), ("feature", "metric", "group", "reference")))


def thresholds_table(ev: Evaluation, *, intersections: bool = False) -> HTML:
    """Per group: FPR and recall at the global threshold, and the threshold the group would need to reach
    the target FPR, largest shift first."""
    t = ev.group_thresholds
    if t.empty:
        return html_fragment("<p>No per-group threshold analysis (the target FPR is undefined).</p>")
    t = t.reset_index()
    if not intersections:
        t = t[~t["feature"].str.contains(INTERSECTION_SEP, regex=False)]
    t = t.assign(_abs=t["threshold_shift"].abs()).sort_values("_abs", ascending=False, kind="stable")
    frame = pd.DataFrame({
        "feature": t["feature"], "group": t["group"], "n": t["n"].map(lambda v: f"{int(v):,}"),
        "FPR at global threshold": t["fpr"].map(fmt), "recall at global threshold": t["recall"].map(fmt),
        f"threshold for FPR {ev.target_fpr:.3g}": t["threshold_for_target_fpr"].map(fmt),
        "shift": t["threshold_shift"].map(lambda v: fmt(v) if pd.isna(v) else f"{v:+.3g}"),
        f"recall at FPR {ev.target_fpr:.3g}": t["recall_at_target_fpr"].map(fmt),
    })
    note = (f"<p>Global threshold {ev.threshold:.4g}; target FPR {ev.target_fpr:.3g} "
            f"({'the rule' + chr(39) + 's target' if ev.operating_point and ev.operating_point.rule.startswith('fpr') else 'the overall FPR at the global threshold, unless set'}).</p>")
    return html_fragment(note + html_table(frame, ("feature", "group")))


def overall_table(ev: Evaluation) -> HTML:
    """Every overall metric, one row."""
    frame = pd.DataFrame([{label(m): cell_html(ev.overall[m], m, *ev.interval(m)) for m in ev.metric_names}])
    return html_fragment(html_table(frame, raw_html=True))


def _group_table_html(ev: Evaluation, feature: str) -> str:
    table = ev.by_group.loc[feature].sort_values("n", ascending=False)
    nan = pd.Series(math.nan, index=table.index)
    cis = ev.uncertainty.by_group.loc[feature] if ev.uncertainty is not None else None
    # the feature's intervals read once per metric, not one MultiIndex lookup per cell
    bounds = {m: ((cis[(m, "ci_low")], cis[(m, "ci_high")]) if cis is not None and (m, "ci_low") in cis.columns
                  else (nan, nan)) for m in ev.metric_names}
    bounds = {m: (lo.reindex(table.index).to_numpy(float), hi.reindex(table.index).to_numpy(float))
              for m, (lo, hi) in bounds.items()}
    rows = []
    for k, (group, r) in enumerate(table.iterrows()):
        row = {"group": html.escape(group) + (" ⚠ small" if r["n"] < ev.min_group_size else "")}
        row.update({label(m): cell_html(r[m], m, float(bounds[m][0][k]), float(bounds[m][1][k]))
                    for m in ev.metric_names})
        rows.append(row)
    return f"<h4>{html.escape(feature)}</h4>" + html_table(pd.DataFrame(rows), ("group",), raw_html=True)


def group_table(ev: Evaluation, feature: str) -> HTML:
    """Every metric for every group of ``feature``, largest group first; small groups marked."""
    return html_fragment(_group_table_html(ev, feature))


def group_tables(ev: Evaluation) -> HTML:
    """:func:`group_table` for every feature and intersection, one after the other."""
    features = ev.by_group.index.get_level_values("feature").unique()
    return html_fragment("".join(_group_table_html(ev, f) for f in features))


def all_disparities(ev: Evaluation) -> HTML:
    """Every disparity (all features and metrics), largest difference first."""
    from ..metrics import DISPARITY_METRICS

    return html_fragment(html_table(disparity_table(ev, metrics=DISPARITY_METRICS + ev.config.comparable, top=None, supported=None),
                        ("feature", "metric", "worst-off group", "best group")))


def undefined_table(ev: Evaluation) -> HTML:
    """Every undefined value and why, or a line saying there are none."""
    notes = ev.undefined()
    if not notes:
        return html_fragment("<p>No undefined values.</p>")
    frame = pd.DataFrame(notes).fillna("")
    frame = frame.groupby(["scope", "feature", "group", "reason"], sort=True)["metric"].agg(", ".join).reset_index()
    return html_fragment(html_table(frame, tuple(frame.columns)))


def small_groups_table(ev: Evaluation) -> HTML:
    """Groups below the minimum size, smallest first."""
    if ev.small_groups.empty:
        return html_fragment(f"<p>No group has fewer than {ev.min_group_size} samples.</p>")
    frame = ev.small_groups.sort_values("n").assign(n=lambda f: f["n"].map(lambda v: f"{int(v):,}"))
    return html_fragment(html_table(frame, ("feature", "group")))


def table(frame: pd.DataFrame, *, index_name: str | None = None, counts: tuple[str, ...] = ()) -> HTML:
    """Any metrics table (rows are groups or classes), formatted: 4 significant digits, counts with
    thousands separators, undefined as an em dash, values escaped.

    Parameters
    ----------
    frame : DataFrame
    index_name : str, optional
        Heading of the index column (default: the index's name, or ``""``).
    counts : tuple of str
        Columns to format as integer counts (``n``, ``queries`` ... are recognised by name).
    """
    known = {"n", "queries", "queries_without_relevant", "n_items", "n_relevant"} | set(counts)
    out = pd.DataFrame(index=range(len(frame)))
    out[index_name or frame.index.name or ""] = [" / ".join(map(str, v)) if isinstance(v, tuple) else str(v)
                                                 for v in frame.index]
    for c in frame.columns:
        is_count = c in known or str(c).startswith("support[")
        out[str(c)] = [fmt(v, "n" if is_count and not pd.isna(v) else None) if isinstance(v, (int, float, np.number))
                       else str(v) for v in frame[c]]
    return html_fragment(html_table(out, (out.columns[0],)))


def confusion_matrices(matrices: dict[str, pd.DataFrame]) -> HTML:
    """Confusion matrices (e.g. from :func:`evalkit.multiclass.group_confusion_matrices`) side by side,
    counts with thousands separators; rows are true classes, columns predicted classes."""
    parts = []
    for name, m in matrices.items():
        frame = pd.DataFrame({"true \\ predicted": [str(v) for v in m.index]})
        for c in m.columns:
            frame[str(c)] = [fmt(v, "n") for v in m[c]]
        parts.append(f"<div style='display:inline-block;margin:0 18px 10px 0;vertical-align:top'>"
                     f"<h4>{html.escape(str(name))}</h4>{html_table(frame, (frame.columns[0],))}</div>")
    return html_fragment("".join(parts))


_SOURCE_METRICS = ("n", "prevalence", "roc_auc", "average_precision", "eer", "precision", "recall", "fpr")


def _by_source_html(ev: Evaluation) -> str:
    from ..data import SOURCE_FEATURE

    if SOURCE_FEATURE not in ev.by_group.index.get_level_values("feature"):
        return ""
    table = ev.by_group.loc[SOURCE_FEATURE]
    rows = []
    for source, r in table.iterrows():
        row = {"source": html.escape(str(source))}
        row.update({label(m): cell_html(r[m], m, *ev.interval(m, SOURCE_FEATURE, source)) for m in _SOURCE_METRICS})
        rows.append(row)
    return ("<p><b>By source</b> (production samples, public benchmarks, generated corner cases):</p>"
            + html_table(pd.DataFrame(rows), ("source",), raw_html=True))


def composition_table(ev: Evaluation, *, before: bool = False, kind: str = "single") -> HTML:
    """Counts and shares of every group, combined and per source; groups under the minimum size are
    marked. ``kind``: ``"single"`` features, ``"intersections"`` or ``"all"``; ``before=True`` shows the
    data before balancing."""
    frame = ev.composition_before if before else ev.composition
    if frame.empty:
        return html_fragment("<p>No composition recorded.</p>")
    frame = frame.reset_index()
    inter = frame["feature"].str.contains(INTERSECTION_SEP, regex=False)
    if kind != "all":
        frame = frame[inter] if kind == "intersections" else frame[~inter]
    out = pd.DataFrame({"feature": frame["feature"].map(lambda f: html.escape(str(f))),
                        "group": [html.escape(str(g)) + (" ⚠ small" if small else "")
                                  for g, small in zip(frame["group"], frame["small"], strict=True)]})
    for c in frame.columns:
        if c.startswith("n"):
            out[c] = frame[c].map(lambda v: f"{int(v):,}")
        elif c.startswith("share"):
            out[c] = frame[c].map(lambda v: f"{v:.1%}")
    return html_fragment(html_table(out, ("feature", "group"), raw_html=True))


def composition_section(ev: Evaluation) -> HTML:
    """What the evaluation data are made of: the balancing used, then the composition per single
    feature (after balancing; before it too when the data were balanced), then intersections."""
    parts = [f"<p>Balancing: {html.escape(_balance_text(ev))}. Groups with fewer than {ev.min_group_size} "
             "samples are marked ⚠.</p>"]
    if ev.balance.get("method", "none") != "none":
        parts.append("<h4>Before balancing</h4>" + composition_table(ev, before=True).data)
        parts.append("<h4>After balancing</h4>")
    parts.append(composition_table(ev).data)
    parts.append("<h4>Intersections</h4>" + composition_table(ev, kind="intersections").data)
    return html_fragment("".join(parts))


def confidently_wrong(ev: Evaluation, feature: str | None = None, *, k: int = 5, max_groups: int = 8) -> HTML:
    """The most confidently wrong samples (false positives and false negatives furthest from the
    threshold) of each group of ``feature`` (default the first sensitive feature), largest groups
    first: a table of rows for tabular data, thumbnails for image data. Bounded: ``k`` of each kind for
    at most ``max_groups`` groups."""
    from ._samples import samples_html
    from ..metrics import most_confidently_wrong, outcome

    feature = feature or ev.data.manifest.sensitive_features[0]
    values = ev.group_values(feature)
    sizes = pd.Series(values).value_counts()
    kinds = outcome(ev.y_true, ev.y_score, ev.threshold)
    parts = []
    for group in sizes.index[:max_groups]:
        rows = np.flatnonzero(values == group)
        wrong = most_confidently_wrong(ev.y_true, ev.y_score, ev.threshold, rows=rows)
        for kind, title in (("fp", "false positives"), ("fn", "false negatives")):
            picked = wrong[kinds[wrong] == kind][:k]
            parts.append(f"<h4>{html.escape(feature)} = {html.escape(str(group))}: most confident {title} "
                         f"({int((kinds[rows] == kind).sum()):,} in the group)</h4>"
                         + samples_html(ev, picked, feature=feature, max_rows=k))
    more = f"<p>{len(sizes) - max_groups} smaller group(s) not shown.</p>" if len(sizes) > max_groups else ""
    return html_fragment("".join(parts) + more)


def cost_section(ev: Evaluation) -> HTML:
    """What the model costs to run: file size, load time, memory while scoring, throughput and
    single-row latency, with how and where it was measured."""
    c = ev.cost
    if c is None:
        return html_fragment("<p>Not measured (<code>cost_repetitions = 0</code>).</p>")
    if not c.applicable:
        return html_fragment(f"<p>Not applicable: {html.escape(c.reason)}.</p>")
    lat = c.latency
    tiles = [("model file", f"{c.file_bytes / 2**20:.3g} MB"), ("load time", f"{c.load_seconds * 1000:.3g} ms"),
             ("peak memory while scoring", f"{c.peak_memory_mb:.3g} MB"),
             ("batch throughput", f"{c.rows_per_second:,.0f} rows/s"),
             ("latency p50", f"{lat['p50_ms']:.3g} ms"), ("latency p95", f"{lat['p95_ms']:.3g} ms"),
             ("latency p99", f"{lat['p99_ms']:.3g} ms")]
    strip = "".join(f"<div class='evalkit-tile'><div class='v'>{html.escape(v)}</div>"
                    f"<div class='k'>{html.escape(k)}</div></div>" for k, v in tiles)
    how = (f"In-process on {c.cpus} CPU(s), {html.escape(c.machine)}. Load time: fastest of 3 loads of the "
           f"model file. Throughput: fastest of 3 scorings of a batch of {c.batch_rows:,} rows. Latency: "
           f"{c.repetitions} single-row calls after {c.warmup} warm-up calls. Memory: the most allocated at once while "
           f"scoring one batch (tracemalloc: Python objects and numpy buffers). Timings depend on the machine: compare models measured on the same one.")
    return html_fragment(f"<div class='evalkit-strip'>{strip}</div><p style='font-size:12px;color:#555'>{how}</p>")
