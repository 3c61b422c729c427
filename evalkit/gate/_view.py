"""What the gate report shows: the decision first, then the evidence, formatted for someone deciding.

Every function takes a :class:`evalkit.checks.GateResult` and returns an HTML display object built
from escaped parts with :mod:`evalkit.summary`'s styles (values to 4 significant digits, intervals to
3, undefined as an em dash).
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..diagnostics import bpcer_name
from ..views import fmt, fmt_ci, html_fragment, html_table, uncertainty_text

if TYPE_CHECKING:
    from IPython.display import HTML
    from matplotlib.figure import Figure

    from ._evidence import GateResult

_COLOURS = {"pass": "#1b7a3a", "fail": "#a61b1b", "inconclusive": "#8a5a00", "error": "#a61b1b"}


def _badge(decision: str) -> str:
    colour = _COLOURS.get(decision, "#333")
    return (f"<span style='background:{colour};color:white;border-radius:4px;padding:1px 8px;font-weight:600'>"
            f"{html.escape(decision.upper())}</span>")


def _ci(low: Any, high: Any) -> str:
    return fmt_ci(low, high) or "—"


def _n(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.0f}"


def header(result: GateResult) -> HTML:
    """The decision, why, and what was judged: model, data, policy (with sha256) and settings."""
    ev = result.evaluation
    table = result.requirements()
    counts = table["decision"].value_counts() if not table.empty else pd.Series(dtype=int)
    why = {
        "pass": "every requirement is met with confidence: the model may be promoted to staging (make promote).",
        "fail": "at least one requirement is missed with confidence: the model goes back to the lab.",
        "inconclusive": "no requirement is missed with confidence, but some could not be decided on this much "
                        "data; the table says how many samples would decide them. Nothing is promoted.",
    }[result.decision]
    model = ev.model
    rows = [("model", f"{model.name}" + (f" (version {model.version}, {model.uri})" if model.version else "")
             + f", sha256 {model.sha256[:12]}…"),
            ("evaluation data", f"{ev.data.name}: {len(ev.data):,} rows, sha256 {ev.data.manifest.sha256[:12]}…"),
            ("policy", f"{result.policy.name} ({result.policy.path}), sha256 {result.policy.sha256[:12]}…"),
            ("operating threshold", f"{ev.threshold:.4g}"),
            ("intervals", uncertainty_text(ev) + "; exact binomial (Clopper-Pearson) for attack rates; the fitting, "
                          "robustness and non-inferiority checks state their own methods below"),
            ("staging model now", f"version {result.staging.version} ({result.staging.uri})" if result.staging
             else "none"),
            ("MLflow run", result.run_id or "not tracked"),
            ("decided", result.decided_at)]
    kv = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    tally = ", ".join(f"{int(counts.get(d, 0))} {d}" for d in ("pass", "fail", "inconclusive"))
    return html_fragment(
        f"<div class='evalkit-box'><h3>Promotion gate: {_badge(result.decision)}</h3>"
        f"<p style='margin:2px 0 8px 0'>{html.escape(why)} Requirements: {html.escape(tally)}.</p>"
        f"<table class='evalkit-kv'>{kv}</table></div>")


def requirements(result: GateResult) -> HTML:
    """One row per requirement, failed first: decision, the worst subject's estimate and interval, the
    bound, and for inconclusive ones the sample size that would likely decide."""
    table = result.requirements()
    if table.empty:
        return html_fragment("<p>No requirements were judged.</p>")
    rows = []
    for r in table.itertuples():
        decide = f"~{r.n_to_decide:,.0f} rows" if isinstance(r.n_to_decide, (int, float)) and r.n_to_decide == \
            r.n_to_decide and r.n_to_decide is not None else ""
        rows.append({"requirement": html.escape(r.requirement), "decision": _badge(r.decision),
                     "what is required": html.escape(r.text), "worst case": html.escape(str(r.subject)),
                     "estimate": html.escape(fmt(r.estimate)), "interval": html.escape(_ci(r.ci_low, r.ci_high)),
                     "would decide at": html.escape(decide), "note": html.escape(str(r.note or ""))})
    return html_fragment(html_table(pd.DataFrame(rows), ("requirement", "decision", "what is required", "worst case", "note"),
                        raw_html=True))


def verdicts(result: GateResult) -> HTML:
    """Every judged subject (e.g. each group of a per-group requirement), failed first."""
    frame = pd.DataFrame(result.verdicts)
    if frame.empty:
        return html_fragment("<p>No verdicts.</p>")
    order = {"fail": 0, "inconclusive": 1, "pass": 2}
    frame = frame.assign(_r=frame["decision"].map(order)).sort_values(["_r", "requirement"], kind="stable")
    out = pd.DataFrame({
        "requirement": frame["requirement"], "subject": frame["subject"], "decision": frame["decision"],
        "estimate": [fmt(v) for v in frame["estimate"]],
        "interval": [_ci(a, b) for a, b in zip(frame["ci_low"], frame["ci_high"], strict=True)],
        "bound": [("≥ " if d == "min" else "≤ ") + f"{b:.4g}" for d, b in zip(frame["direction"], frame["bound"],
                                                                              strict=True)],
        "n": [_n(v) for v in frame["n"]],
        "would decide at": [_n(v) if v is not None and v == v else "" for v in frame["n_to_decide"]],
    })
    spent = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in result.timings.items())
    timing = f"<p style='font-size:12px;color:#555'>Time spent: {html.escape(spent)}.</p>" if spent else ""
    return html_fragment(html_table(out, ("requirement", "subject", "decision")) + timing)


def quality(result: GateResult, metrics: tuple[str, ...] = ("roc_auc", "accuracy", "recall", "fpr", "precision",
                                                              "eer")) -> HTML:
    """Headline metrics with their intervals (the full report is ``make report``)."""
    from ..views import label

    ev = result.evaluation
    tiles = []
    for m in metrics:
        low, high = ev.interval(m)
        tiles.append(f"<div class='evalkit-tile'><div class='v'>{html.escape(fmt(ev.overall[m]))}</div>"
                     f"<div class='k'>{html.escape(label(m))}</div>"
                     f"<span class='evalkit-ci'>{html.escape(fmt_ci(low, high))}</span></div>")
    return html_fragment(f"<div class='evalkit-strip'>{''.join(tiles)}</div>")


def fitting(result: GateResult, *, top: int = 12) -> HTML:
    """Training against evaluation metrics overall, and the flagged groups (largest gap first)."""
    fit = result.fitting
    if fit is None:
        return html_fragment("<p>No fitting diagnostics: the policy names no <code>train_data</code>, or the model cannot "
                     "score new inputs.</p>")
    t = fit.table
    shown = pd.concat([t[t.feature == "overall"], fit.flagged().head(top)])
    out = pd.DataFrame({
        "metric": shown["metric"], "group": [g if f == "overall" else f"{f}={g}" for f, g in zip(shown.feature,
                                                                                                shown.group, strict=True)],
        "train": [fmt(v) for v in shown["train"]], "evaluation": [fmt(v) for v in shown["eval"]],
        "gap": [fmt(v) for v in shown["gap"]],
        "gap interval": [_ci(a, b) for a, b in zip(shown.gap_ci_low, shown.gap_ci_high, strict=True)],
        "n train / eval": [f"{a:,.0f} / {b:,.0f}" for a, b in zip(shown.n_train, shown.n_eval, strict=True)],
        "flag": shown["flag"]})
    flagged = len(fit.flagged())
    note = (f"<p>{flagged} group × metric combinations are flagged (gap above {fit.max_gap:g}: "
            f"<b>overfit</b> when the whole interval is above, <b>possible overfit</b> when only the estimate is; "
            f"<b>underfit</b> when even the training value is below "
            f"{', '.join(f'{k} {v:g}' for k, v in fit.min_train.items()) or 'no bound'}).</p>")
    methods = {}
    for metric, text in fit.methods.items():
        methods.setdefault(text, []).append(metric)
    if methods:
        note += ("<p>The training and evaluation sets are independent samples. Intervals: " + "; ".join(
            f"{html.escape(', '.join(ms))}: {html.escape(text)}" for text, ms in methods.items()) + ".</p>")
    return html_fragment(note + html_table(out, ("metric", "group", "flag")))


def robustness(result: GateResult, *, top: int = 10) -> HTML:
    """Perturbations the model could not score, and the ones that hurt one group more than the rest."""
    rob = result.robustness
    if rob is None:
        return html_fragment("<p>Robustness was not measured: the model cannot score perturbed inputs (a predictions "
                     "file).</p>")
    parts = []
    for name, reason in rob.errors.items():
        parts.append(f"<p class='evalkit-warn'><b>{html.escape(name)}</b>: {html.escape(reason)}</p>")
    if rob.hurt.empty:
        parts.append(f"<p>No perturbation hurts one group more than the rest of its feature by more than "
                     f"{rob.tolerance:g} (with the interval of the excess above zero).</p>")
    else:
        h = rob.hurt.head(top)
        parts.append(f"<p><b>{len(rob.hurt)}</b> perturbation × group × metric combinations hurt one group more than "
                     f"the rest of its feature (excess drop above {rob.tolerance:g}, interval above zero); the "
                     f"{len(h)} best supported (ranked by the interval's lower bound):</p>")
        out = pd.DataFrame({
            "perturbation": [f"{p} ({s:g})" for p, s in zip(h.perturbation, h.strength, strict=True)],
            "group": [f"{f}={g}" for f, g in zip(h.feature, h.group, strict=True)], "metric": h.metric,
            "drop in group": [fmt(v) for v in h["drop"]], "drop in the rest": [fmt(v) for v in h.drop_rest],
            "excess": [fmt(v) for v in h.excess],
            "excess interval": [_ci(a, b) for a, b in zip(h.excess_ci_low, h.excess_ci_high, strict=True)]})
        parts.append(html_table(out, ("perturbation", "group", "metric")))
    c = rob.curves
    overall = c[(c.feature == "overall") & (c.metric == rob.metrics[0]) & (c.perturbation != "clean")]
    out = pd.DataFrame({"perturbation": overall.perturbation, "strength": [f"{v:g}" for v in overall.strength],
                        rob.metrics[0]: [fmt(v) for v in overall.value],
                        "drop": [f"{fmt(d)} {_ci(a, b)}" for d, a, b in zip(overall["drop"], overall.drop_ci_low,
                                                                            overall.drop_ci_high, strict=True)],
                        "flip rate": [f"{fmt(d)} {_ci(a, b)}" for d, a, b in zip(overall.flip_rate, overall.flip_ci_low,
                                                                                 overall.flip_ci_high, strict=True)]})
    parts.append(f"<p>Overall, per perturbation and strength ({rob.n_boot} paired resamples):</p>")
    parts.append(html_table(out, ("perturbation",)))
    return html_fragment("".join(parts))


def _pixels_png(values: np.ndarray, spec: dict[str, Any]) -> str:
    from PIL import Image

    rows, cols = spec["size"]
    arr = np.clip(values.reshape(rows, cols) / float(spec.get("max_value", 255)) * 255.0, 0, 255)
    arr = 255.0 - arr if spec.get("invert") else arr
    img = Image.fromarray(arr.astype(np.uint8), mode="L").resize((cols * 8, rows * 8), Image.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def adversarial(result: GateResult, *, examples: int = 6) -> HTML:
    """Attack success rate with its interval, per group, and example adversarial samples (what changed,
    or the original and adversarial image side by side)."""
    a = result.adversarial
    if a is None:
        return html_fragment("<p>No adversarial search: the policy sets no <code>adversarial_budget</code>, or the model "
                     "cannot score new inputs.</p>")
    parts = [f"<p><b>{a.broken}</b> of <b>{a.attacked}</b> correctly decided samples were flipped within the budget "
             f"of {a.budget:g} {html.escape(a.unit)} (L∞): attack success rate <b>{fmt(a.rate)}</b> "
             f"{html.escape(_ci(a.ci_low, a.ci_high))}. Attack: {html.escape(a.settings['attack'])}, "
             f"{a.settings['max_iter']} iterations, decision-based at threshold {a.settings['threshold']:.4g}.</p>"]
    if not a.by_group.empty:
        g = a.by_group
        parts.append(html_table(pd.DataFrame({
            "group": [f"{f}={v}" for f, v in zip(g.feature, g.group, strict=True)], "attacked": g.attacked,
            "broken": g.broken, "rate": [fmt(v) for v in g.rate],
            "interval": [_ci(x, y) for x, y in zip(g.ci_low, g.ci_high, strict=True)]}), ("group",)))
    broken = a.samples[a.samples.broken].head(examples)
    spec = result.evaluation.data.manifest.image_features
    if broken.empty:
        parts.append("<p>No sample was broken within the budget.</p>")
    elif spec:
        cells = []
        for r in broken.itertuples():
            before = _pixels_png(a.original.loc[r.id].to_numpy(np.float64), spec)
            after = _pixels_png(a.adversarial.loc[r.id].to_numpy(np.float64), spec)
            cells.append(f"<figure style='display:inline-block;margin:4px;text-align:center'>"
                         f"<img src='data:image/png;base64,{before}' alt='original {html.escape(str(r.id))}'> "
                         f"<img src='data:image/png;base64,{after}' alt='adversarial {html.escape(str(r.id))}'>"
                         f"<figcaption style='font-size:10px'>{html.escape(str(r.id))}: score {r.score:.3g} → "
                         f"{r.adv_score:.3g}</figcaption></figure>")
        parts.append("<p>Examples (original, then adversarial):</p><div>" + "".join(cells) + "</div>")
    else:
        parts.append("<p>Examples of broken samples:</p>")
        parts.append(html_table(pd.DataFrame({"id": broken.id, "score": [fmt(v) for v in broken.score],
                                          "adversarial score": [fmt(v) for v in broken.adv_score],
                                          "distance": [fmt(v) for v in broken.distance],
                                          "what changed": broken.changes}), ("id", "what changed")))
    return html_fragment("".join(parts))


def _pad_cell(row: Any) -> str:
    if not row.n:
        return "—"
    return f"{fmt(row.value)} {_ci(row.ci_low, row.ci_high)} · {row.errors:,}/{row.n:,}"


def _pad_wide(rates: pd.DataFrame, rate_order: list[str]) -> pd.DataFrame:
    """One row per group, one column per rate: value, interval and errors/n."""
    rows = []
    for (f, g), part in rates.groupby(["feature", "group"], sort=False):
        cells = {r.rate: _pad_cell(r) for r in part.itertuples()}
        rows.append({"group": "all" if f == "overall" else f"{f}={g}", **{r: cells.get(r, "—") for r in rate_order}})
    return pd.DataFrame(rows)


def spoofing(result: GateResult) -> HTML:
    """Presentation-attack detection per ISO/IEC 30107-3, overall and per group: APCER per attack species,
    APCER_max and BPCER at the operating threshold, then BPCER10 and BPCER20 (BPCER where a global threshold
    holds APCER_max at 10 % and 5 %), each with its exact interval."""
    pad = result.pad
    if pad is None:
        return html_fragment("<p>No presentation-attack data: the policy names no <code>attack_data</code>.</p>")
    rates = pad.rates
    species = [r for r in dict.fromkeys(rates.rate) if r.startswith("APCER:")]
    data = result.attack_dataset
    overall = rates[rates.feature == "overall"].set_index("rate")
    counts = ", ".join(f"{overall.loc[r, 'n']:,} {r.split(':', 1)[1]}" for r in species)
    intro = (f"<p>{html.escape(data.name) if data else 'attack data'}: {overall.loc['BPCER', 'n']:,} bona fide "
             f"presentations and {counts} attacks. At the operating threshold {fmt(pad.threshold)}: "
             "<b>APCER</b> = share of a species' attacks accepted, <b>APCER_max</b> = the worst species, "
             "<b>BPCER</b> = share of bona fide presentations rejected. Intervals: exact (Clopper-Pearson) at "
             f"{result.settings.get('ci_level', 0.95):.0%}; APCER_max's bounds the maximum over species "
             "(Bonferroni over species). Presentations are taken as independent trials.</p>")
    now = _pad_wide(rates, [*species, "APCER_max", "BPCER"])
    at = pad.at_apcer[pad.at_apcer.rate == "BPCER"]
    parts = []
    for target, part in at.groupby("target", sort=False):
        name = bpcer_name(target)
        parts.append(_pad_wide(part.assign(rate=f"{name} (threshold {fmt(part.threshold.iloc[0])})"),
                               [f"{name} (threshold {fmt(part.threshold.iloc[0])})"]).set_index("group"))
    later = pd.concat(parts, axis=1).reset_index() if parts else pd.DataFrame()
    text = "<p>Then one global threshold per APCER target, the most accepting at which every species' APCER is " \
           "at most the target, read in every group:</p>"
    return html_fragment(intro + html_table(now, ("group",)) + (text + html_table(later, ("group",)) if parts else ""))


def spoofing_det(result: GateResult, feature: str | None = None) -> Figure | None:
    """DET of BPCER against APCER_max overall and per group (see :func:`evalkit.views.apcer_bpcer_det`)."""
    import matplotlib.pyplot as plt

    from ..views import apcer_bpcer_det

    if result.pad is None:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 4.4), layout="constrained")
    apcer_bpcer_det(result.pad, feature, ax=ax)
    plt.close(fig)
    return fig


def non_inferiority(result: GateResult) -> HTML:
    """The candidate against the model now in staging, paired on the same samples: one row per
    ``non_inferiority`` requirement."""
    if not result.non_inferiority:
        return html_fragment("<p>No model holds the <code>staging</code> alias (or the policy asks for no comparison): "
                             "nothing to compare with.</p>")
    rows = [{"requirement": c["requirement"], "metric": c["metric"], "candidate": fmt(c["candidate"]),
             "staging": fmt(c["staging"]) + (f" (v{c['staging_version']})" if c.get("staging_version") else ""),
             "difference": f"{fmt(c['difference'])} {_ci(c['ci_low'], c['ci_high'])}",
             "interval": c.get("method", "")}
            for c in result.non_inferiority]
    table = pd.DataFrame(rows).fillna("")
    return html_fragment(f"<p>Paired on the same {len(result.evaluation.data):,} samples; a positive difference "
                         "means the candidate is better. ROC AUC: DeLong's interval of the difference of two "
                         "correlated AUCs (normal approximation); count metrics: a Poisson bootstrap of the joint "
                         "cells (label &times; decision of each model), the per-sample paired bootstrap in "
                         "distribution (a percentile interval: short of its level below about 30 positives).</p>" + html_table(table, ("requirement", "metric")))


def served(result: GateResult) -> HTML:
    """The served replica behind the latency and memory budgets: score equality, latency and throughput
    per concurrency level, resident memory."""
    s = result.served
    if s is None:
        return html_fragment("<p>No served replica: the policy sets no latency or memory budget, or the model is not "
                     "registered (only a registered version can be served).</p>")
    checks = "; ".join(f"{html.escape(k)}: {v['rows']:,} rows, max |difference| {v['max_abs_diff']:.3g}"
                       for k, v in s["checks"].items())
    rows = [{"concurrency": lv["concurrency"], "requests": f"{lv['requests']:,}", "errors": lv["errors"],
             "p50 ms": fmt(lv["p50_ms"]), "p95 ms": fmt(lv["p95_ms"]), "p99 ms": fmt(lv["p99_ms"]),
             "requests/s": fmt(lv["throughput_rps"])} for lv in s["load"]]
    rss = "—" if s.get("server_rss_mb") is None else f"{s['server_rss_mb']:.4g} MB"
    return html_fragment(f"<p>{html.escape(s['model_uri'])} behind <code>mlflow models serve</code> on 127.0.0.1 "
                 f"(ready in {s['startup_seconds']:.1f} s). Served scores equal in-process ones: {checks}. "
                 f"Resident memory of the server: {rss}.</p>" + html_table(pd.DataFrame(rows)))
