"""What the comparison report shows: which model is better and for whom first, then the evidence.

Every function takes a :class:`evalkit.compare.Comparison` and returns an HTML display object built from
escaped parts with :mod:`evalkit.summary`'s styles (values to 4 significant digits, intervals to 3,
undefined as an em dash); :func:`save` writes ``comparison.json``.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._io import atomic_write_json
from ._stats import LEADERBOARD_COST, LEADERBOARD_METRICS
from ..metrics import LOWER_IS_BETTER
from ..views import cell_html, fmt, fmt_ci, html_fragment, html_table, label

if TYPE_CHECKING:
    from IPython.display import HTML

    from ._stats import Comparison

_COST_LABELS = {"cost/latency_p95_ms": "p95 latency ms", "cost/rows_per_second": "rows/s",
                "cost/file_mb": "file MB", "cost/peak_memory_mb": "scoring MB"}


def _p(p: Any) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def _signed(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+.4g}"


def _arrow(row: Any) -> str:
    """▲ better / ▼ worse for a significant difference, in the metric's good direction."""
    if not row["significant"]:
        return ""
    if row["better"] is None:
        return "<b>changed</b>"
    return "<b style='color:#1b7a3a'>▲ better</b>" if row["better"] else "<b style='color:#a61b1b'>▼ worse</b>"


def header(cmp: Comparison) -> HTML:
    """What was compared: the candidates with their runs and data, the baseline and the settings."""
    from ..evaluation import git_commit, versions

    s = cmp.settings
    first = cmp.candidates[0]
    data = ", ".join(f"{n} (sha256 {sha[:12]}…)" for n, sha in first.data_key)
    same = (f"the same {cmp.n:,} samples for every model" if cmp.same_data else
            f"<b class='evalkit-warn'>different data</b> (allowed by --allow-different-data): compared on the "
            f"{cmp.n:,} samples they share, joined on dataset and id; the leaderboard's values are "
            "each model's own report")
    if cmp.scale:
        sc = cmp.scale
        bound = max(sc["auc_binning_bound"].values(), default=0.0)
        same += html.escape(
            f"; score columns {', '.join(sc['score_columns'])} of the data file, read out of core ({sc['engine']}, "
            f"{sc['passes']} passes of {sc['chunks']} chunk{'s' if sc['chunks'] != 1 else ''}, {sc['seconds']:.1f} s); scores on a grid of "
            f"{sc['fine_bins']:,} bins: ROC AUC and DeLong's test are those of the scores rounded down to it "
            f"(AUC error at most {bound:.1e}), every count at the threshold is exact")
    rows = [("Candidates", "; ".join(f"{html.escape(c.name)} (" + (f"run {c.run_id or 'not tracked'}, " if not cmp.scale
                                     else "") + f"threshold {c.threshold:.4g})" for c in cmp.candidates)),
            ("Baseline", html.escape(cmp.baseline)),
            ("Data", html.escape(data) + "; " + same),
            ("Statistics", html.escape(
                f"metrics at the threshold: paired Poisson bootstrap on the same samples, {s['n_boot']} resamples, "
                f"seed {s['seed']}; ROC AUC: "
                + ("paired bootstrap (weighted samples)" if s.get("weighted") else "DeLong's test")
                + f"; {s['ci_level']:.0%} intervals; Benjamini-Hochberg at FDR {s['fdr']:g} over every group and metric "
                f"with n ≥ {s['min_group_size']}; McNemar's exact test for error rates"
                + (" (McNemar and DeLong count samples, not weights)" if s.get("weighted") else ""))),
            ("evalkit", html.escape(f"{versions()['evalkit']}, git {git_commit()}"))]
    table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return html_fragment(f"<div class='evalkit-box'><h3>Comparison: {html.escape(' vs '.join(cmp.names))}</h3>"
                 f"<table class='evalkit-kv'>{table}</table></div>")


def _verdict_sentence(cmp: Comparison, v: Any) -> str:
    metric = label(v["metric"])
    direction = "higher" if v["difference"] > 0 else "lower" if v["difference"] < 0 else "the same"
    sig = "significantly" if v["significant"] else "not significantly"
    worse = ", ".join(v["worse_groups"][:6]) + (" …" if len(v["worse_groups"]) > 6 else "")
    parts = [f"<b>{html.escape(v['candidate'])}</b> vs {html.escape(cmp.baseline)}: {metric} "
             f"{_signed(v['difference'])} {html.escape(fmt_ci(v['ci_low'], v['ci_high']))} ({sig} {direction}; "
             f"DeLong p {_p(v['delong_p'])}); decisions differ for {v['flip_rate']:.2%} of samples "
             f"(McNemar p {_p(v['mcnemar_p'])}). Significantly better in {v['better']} and worse in {v['worse']} "
             "group × metric comparisons."]
    if worse:
        parts.append(f"<span class='evalkit-sig'>Worse for: {html.escape(worse)}.</span>")
    return " ".join(parts)


def leaderboard_table(cmp: Comparison) -> str:
    """The leaderboard as HTML: rank, headline metrics with intervals, largest gaps, cost."""
    lb = cmp.leaderboard
    out = pd.DataFrame({"rank": lb["rank"].astype(str), "model": lb.index})
    for m in LEADERBOARD_METRICS:
        out[label(m) + (" ↓" if m in LOWER_IS_BETTER else "")] = [
            cell_html(r[m], m, r[f"{m}_ci_low"], r[f"{m}_ci_high"]) for _, r in lb.iterrows()]
    for m in ("recall", "fpr", "selection_rate"):
        out[f"max {label(m)} gap ↓"] = [
            html.escape(fmt(r[f"max_{m}_gap"])) + (f"<span class='evalkit-ci'>{html.escape(str(r[f'max_{m}_gap_feature']))}"
                                                  "</span>" if r[f"max_{m}_gap_feature"] else "")
            for _, r in lb.iterrows()]
    for key in LEADERBOARD_COST:
        out[_COST_LABELS[key]] = [html.escape(f"{v:,.0f}" if isinstance(v, (int, float)) and abs(v) >= 1000 else fmt(v))
                                  for v in lb[key]]
    return html_table(out, ("model",), raw_html=True)


def summary(cmp: Comparison, *, top: int = 10) -> HTML:
    """The first screen: the verdict for each challenger, the leaderboard, and the significant per-group
    differences (worse first, each ranked by its interval bound nearest zero)."""
    verdicts = cmp.verdicts()
    sentences = "".join(f"<li>{_verdict_sentence(cmp, v)}</li>" for _, v in verdicts.iterrows())
    best = cmp.leaderboard.index[0]
    rank_by = label(cmp.settings["rank_by"])
    sig = cmp.significant()
    sig = sig[sig["feature"] != "overall"]
    sig = pd.concat([sig[sig["better"] == False], sig[sig["better"] != False]])  # noqa: E712 (worse first)
    small = cmp.deltas[cmp.deltas["small"]][["feature", "group", "n"]].drop_duplicates()
    small_text = (f"<p class='evalkit-warn'>⚠ {len(small)} group(s) have fewer than {cmp.settings['min_group_size']} "
                  "samples: listed in the full table, never counted as significant: "
                  + html.escape(", ".join(f"{r.feature}={r.group} (n={r.n})" for r in small.head(10).itertuples()))
                  + (" …" if len(small) > 10 else "") + "</p>") if len(small) else ""
    return html_fragment(
        "<div class='evalkit-box'><h3>Which model is better?</h3>"
        f"<p>Best by {html.escape(rank_by)}: <b>{html.escape(str(best))}</b>. Against the baseline "
        f"<b>{html.escape(cmp.baseline)}</b>, on the same samples:</p><ul>{sentences}</ul></div>"
        "<div class='evalkit-box' style='overflow-x:auto'><h3>Leaderboard: quality, fairness and cost</h3><p>Each "
        "model's own report: value and 95% interval; ↓ lower is better; gaps are the largest difference between "
        "groups of one feature; cost (single-row p95 latency, batch rows per second, file size, memory while "
        "scoring) as measured by its report.</p>" + leaderboard_table(cmp) + "</div>"
        "<div class='evalkit-box'><h3>Significant differences by group</h3><p>Worse first; ranked by the interval "
        "bound nearest zero (what the data support), not by the point estimate.</p>"
        + (deltas_html(sig.head(top)) if len(sig) else "<p>No per-group difference survives the correction.</p>")
        + small_text + "</div>")


def deltas_html(frame: pd.DataFrame) -> str:
    """Rows of :attr:`Comparison.deltas` as an HTML table."""
    out = pd.DataFrame({
        "candidate": frame["candidate"].map(html.escape), "feature": frame["feature"].map(html.escape),
        "group": frame["group"].map(html.escape), "n": [fmt(v, "n") for v in frame["n"]],
        "metric": [html.escape(label(m)) for m in frame["metric"]],
        "baseline": [html.escape(fmt(v)) for v in frame["baseline"]],
        "candidate value": [html.escape(fmt(v)) for v in frame["value"]],
        "difference": [html.escape(_signed(d)) + f"<span class='evalkit-ci'>{html.escape(fmt_ci(lo, hi))}</span>"
                       for d, lo, hi in zip(frame["difference"], frame["ci_low"], frame["ci_high"], strict=True)],
        "p (BH)": [html.escape(_p(p)) for p in frame["p_adjusted"]],
        "": [_arrow(r) + (" <span class='evalkit-warn'>small</span>" if r["small"] else "")
             for _, r in frame.iterrows()],
    })
    return html_table(out, ("candidate", "feature", "group", "metric"), raw_html=True)


def deltas_table(cmp: Comparison, *, intersections: bool = True) -> HTML:
    """Every per-group difference: significant first (largest first), then the rest by size."""
    d = cmp.deltas if intersections else cmp.deltas[~cmp.deltas["feature"].str.contains("&", regex=False)]
    order = d.assign(_sig=~d["significant"], _size=-d["difference"].abs()).sort_values(
        ["_sig", "candidate", "_size", "feature", "group"], kind="stable").index
    return html_fragment(deltas_html(d.loc[order]))


def tests_table(cmp: Comparison) -> HTML:
    """McNemar, DeLong and flip rates per challenger and group (largest flip rate first within a feature)."""
    t = cmp.tests.sort_values(["candidate", "feature", "flip_rate"], ascending=[True, True, False], kind="stable")
    t = pd.concat([t[t["feature"] == "overall"], t[t["feature"] != "overall"]])
    out = pd.DataFrame({
        "candidate": t["candidate"].map(html.escape), "feature": t["feature"].map(html.escape),
        "group": t["group"].map(html.escape), "n": [fmt(v, "n") for v in t["n"]],
        "decisions flipped": [f"{html.escape(fmt(k, 'n'))} = {html.escape(fmt(r))}"
                              f"<span class='evalkit-ci'>{html.escape(fmt_ci(lo, hi))}</span>"
                              for k, r, lo, hi in zip(t["flips"], t["flip_rate"], t["flip_ci_low"], t["flip_ci_high"],
                                                      strict=True)],
        "only candidate right": [fmt(v, "n") for v in t["mcnemar_b"]],
        "only baseline right": [fmt(v, "n") for v in t["mcnemar_c"]],
        "McNemar p": [html.escape(_p(p)) for p in t["mcnemar_p"]],
        "AUC difference (DeLong)": [html.escape(_signed(d)) + f"<span class='evalkit-ci'>{html.escape(fmt_ci(lo, hi))}"
                                    "</span>" for d, lo, hi in zip(t["delong_difference"], t["delong_ci_low"],
                                                                  t["delong_ci_high"], strict=True)],
        "DeLong p": [html.escape(_p(p)) for p in t["delong_p"]],
    })
    return html_fragment(html_table(out, ("candidate", "feature", "group"), raw_html=True))


def save(cmp: Comparison, output_dir: str | Path | None, *, run_id: str | None = None) -> dict[str, Any]:
    """Write ``comparison.json`` atomically into ``output_dir`` (nothing when None), with the comparison's
    MLflow run and the date; return the document."""
    from datetime import datetime, timezone

    from ..evaluation import versions

    doc = {**cmp.to_dict(), "mlflow_run_id": run_id, "versions": versions(),
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if output_dir is not None:
        atomic_write_json(Path(output_dir) / "comparison.json", doc)
    return doc
