"""The verification report's first screen, tables and figures: escaped HTML fragments and matplotlib/seaborn
figures (each plot takes ``ax=None`` and returns its Axes)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..views import axes_for, curve_style, det_axes, fmt, fmt_ci, html_fragment, html_table, thumbnails_html
from ._evaluate import METHODS, VerificationResult
from ._metrics import group_codes

if TYPE_CHECKING:
    from IPython.display import HTML
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_SUMMARIES = {"max_min_ratio": "max / min", "max_geomean_ratio": "max / geometric mean", "gini": "Gini",
              "fdr": "FDR"}


def _rate(value: Any) -> str:
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3g}"


def header(res: VerificationResult) -> HTML:
    """What was evaluated: data set, system, comparisons, how scores were formed, the thresholds."""
    c = res.counts
    rows = [("Data set", f"{res.name} ({len(c.subjects):,} subjects, {int(c.subjects['n_samples'].sum()):,} samples)"),
            ("System", res.system or "—"),
            ("Comparisons", f"{c.n_genuine:,} genuine, {c.n_impostor:,} impostor "
                            f"({'every pair of samples' if c.complete else 'as listed'}; scores: {c.similarity})"),
            ("Demographic features", ", ".join(c.features)),
            ("Data sha256", ", ".join(f"{k} {v[:12]}…" for k, v in res.data_sha256.items()) or "—"),
            ("Intervals", f"{res.settings.ci_level:.0%} subject-clustered bootstrap ({res.settings.n_boot} resamples, "
                          f"seed {res.settings.seed})" if res.settings.n_boot else "none (n_boot = 0)"),
            ("Computed", f"{res.created}; scoring and reduction {c.seconds:.1f} s"),
            ("MLflow run", res.run_id or "not tracked")]
    kv = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return html_fragment(f"<div class='evalkit-box'><h3>Verification: {html.escape(res.system or res.name)}</h3>"
                         f"<table class='evalkit-kv'>{kv}</table></div>")


def thresholds_table(res: VerificationResult) -> str:
    """The global thresholds, each set once at a target FMR, or why a target is not supported."""
    rows = [{"target FMR": f"{t.target:g}", "threshold": fmt(t.threshold) if t.supported else "—",
             "false matches": f"{int(t.false_matches):,}" if t.supported else "—",
             "achieved FMR": _rate(t.fmr), "note": t.reason or "set on all impostor comparisons"}
            for t in res.thresholds.itertuples()]
    return html_table(pd.DataFrame(rows), ("note",))


def _ranked(part: pd.DataFrame, rate: str) -> pd.DataFrame:
    """Groups ranked by what the data support: the lower interval bound of the rate (the point estimate where
    there is no interval), worst first."""
    key = part[f"{rate}_low"] if f"{rate}_low" in part else part[rate]
    return part.assign(_key=key.fillna(-1)).sort_values("_key", ascending=False)


def _group_rows(res: VerificationResult, target: float, feature: str) -> pd.DataFrame:
    part = res.readings.xs((target, feature), level=("target", "feature"))
    small = set(res.small_groups.loc[res.small_groups["feature"] == feature, "group"])
    rows = []
    for group, r in _ranked(part, "fnmr").iterrows():
        rows.append({"group": group + (" ⚠" if group in small else ""), "subjects": f"{int(r.subjects):,}",
                     "FNMR": _rate(r.fnmr), "FNMR interval": fmt_ci(r.get("fnmr_low"), r.get("fnmr_high")),
                     "same-group FMR": _rate(r.fmr_same),
                     "FMR interval": fmt_ci(r.get("fmr_same_low"), r.get("fmr_same_high")),
                     "cross-group FMR": _rate(r.fmr_cross), "genuine": f"{int(r.genuine):,}",
                     "same-group impostors": f"{int(r.impostor_same):,}"})
    return pd.DataFrame(rows)


def _inequity_sentence(res: VerificationResult, target: float, feature: str) -> str:
    if res.inequity.empty:
        return ""
    part = res.inequity.xs((target, feature), level=("target", "feature"))
    bits = []
    for rate, label in (("fnmr", "FNMR"), ("fmr_same", "same-group FMR")):
        r = part.loc[(rate, "max_geomean_ratio")]
        bits.append(f"{label} max/geomean {_rate(r['value'])} {fmt_ci(r.get('low'), r.get('high'))}")
    fdr = part.loc[("fdr", "fdr")]
    bits.append(f"FDR {_rate(fdr['value'])} {fmt_ci(fdr.get('low'), fdr.get('high'))}")
    return "; ".join(bits)


def summary(res: VerificationResult) -> HTML:
    """The first screen: the thresholds, then at the operating threshold every group's FNMR and FMR with
    intervals (worst first by the lower interval bound), and the inequity summaries per feature."""
    target = res.operating
    parts = ["<div class='evalkit-box'><h3>Thresholds, set once for everyone</h3>", thresholds_table(res), "</div>"]
    if target is None:
        parts.append("<p class='evalkit-warn'>⚠ No target FMR is supported by this much data; no differential is "
                     "read.</p>")
        return html_fragment("".join(parts))
    tau = float(res.thresholds.set_index("target").loc[target, "threshold"])
    overall = res.readings.loc[(target, "overall", "all")]
    eer = res.eer.loc[("overall", "all")]
    parts.append(
        f"<div class='evalkit-box'><h3>Good enough? At FMR {target:g} (threshold {fmt(tau)})</h3>"
        f"<div class='evalkit-strip'>"
        + "".join(f"<div class='evalkit-tile'><div class='v'>{html.escape(v)}</div><span class='evalkit-ci'>"
                  f"{html.escape(ci)}</span><div class='k'>{html.escape(k)}</div></div>"
                  for k, v, ci in [("FNMR", _rate(overall.fnmr), fmt_ci(overall.get("fnmr_low"), overall.get("fnmr_high"))),
                                   ("FMR", _rate(overall.fmr_same), fmt_ci(overall.get("fmr_same_low"),
                                                                           overall.get("fmr_same_high"))),
                                   ("EER", _rate(eer.eer), fmt_ci(eer.get("eer_low"), eer.get("eer_high")))])
        + "</div></div>")
    parts.append(f"<div class='evalkit-box'><h3>Fair enough? Each group at the same threshold</h3>"
                 f"<p>Groups worst first by the lower bound of their FNMR interval (what the data support, not the "
                 f"point estimate). ⚠ marks groups with fewer than {res.settings.min_subjects} subjects: shown, not "
                 "summarised.</p>")
    for feature in res.counts.features:
        parts.append(f"<h4>{html.escape(feature)}</h4>"
                     + html_table(_group_rows(res, target, feature), ("group",))
                     + f"<p>{html.escape(_inequity_sentence(res, target, feature))}</p>")
    parts.append("</div>")
    return html_fragment("".join(parts))


def rates_table(res: VerificationResult) -> HTML:
    """Every supported threshold: per-group FNMR and FMR with intervals, and every inequity summary."""
    parts = []
    for target in res.supported["target"]:
        parts.append(f"<h4>FMR {target:g}</h4>")
        for feature in res.counts.features:
            parts.append(f"<p><b>{html.escape(feature)}</b></p>" + html_table(_group_rows(res, target, feature),
                                                                               ("group",)))
        if not res.inequity.empty:
            ineq = res.inequity.xs(target, level="target").reset_index()
            ineq["summary"] = ineq["summary"].map(_SUMMARIES)
            ineq["value"] = [_rate(v) for v in ineq["value"]]
            ineq["interval"] = [fmt_ci(a, b) for a, b in zip(ineq.get("low", np.nan), ineq.get("high", np.nan),
                                                             strict=True)] if "low" in ineq else ""
            parts.append(html_table(ineq[["feature", "rate", "summary", "value", "interval"]],
                                    ("feature", "rate", "summary")))
    return html_fragment("".join(parts))


def eer_table(res: VerificationResult) -> HTML:
    """EER overall and per group, with intervals and how each was computed."""
    rows = [{"feature": f, "group": g, "EER": _rate(r.eer), "interval": fmt_ci(r.get("eer_low"), r.get("eer_high")),
             "method": r.method} for (f, g), r in res.eer.iterrows()]
    return html_fragment(html_table(pd.DataFrame(rows), ("feature", "group", "method")))


def worst_comparisons(res: VerificationResult, data: Any = None, *, k: int = 8) -> HTML:
    """The highest-scoring impostor comparisons (false matches first) and the lowest-scoring genuine ones (false
    non-matches first), with the subjects' groups; as image pairs when the samples name images (``data`` a
    :class:`~evalkit.verification.VerificationData`)."""
    c = res.counts
    subj = c.subjects
    order = np.argsort(-c.tail_score, kind="stable")[:k]
    low = np.argsort(c.genuine_score, kind="stable")[:k]
    fm = pd.DataFrame({"score": [f"{v:.4f}" for v in c.tail_score[order]],
                       "subject a": subj["subject"].to_numpy()[c.tail_a[order]],
                       "subject b": subj["subject"].to_numpy()[c.tail_b[order]]})
    for f in c.features:
        fm[f"{f} (a / b)"] = [f"{x} / {y}" for x, y in zip(subj[f].to_numpy()[c.tail_a[order]],
                                                            subj[f].to_numpy()[c.tail_b[order]], strict=True)]
    fnm = pd.DataFrame({"score": [f"{v:.4f}" for v in c.genuine_score[low]],
                        "subject": subj["subject"].to_numpy()[c.genuine_subject[low]]})
    for f in c.features:
        fnm[f] = subj[f].to_numpy()[c.genuine_subject[low]]
    parts = ["<h4>Highest-scoring impostor comparisons (false matches first)</h4>",
             html_table(fm, tuple(fm.columns[1:]))]
    images = data is not None and data.manifest.image_column and c.tail_samples is not None
    if images:
        parts.append(_pairs_html(data, c.tail_samples[order], [f"impostor {v:.3f}" for v in c.tail_score[order]]))
    parts += ["<h4>Lowest-scoring genuine comparisons (false non-matches first)</h4>",
              html_table(fnm, tuple(fnm.columns[1:]))]
    if images and c.genuine_samples is not None:
        parts.append(_pairs_html(data, c.genuine_samples[low], [f"genuine {v:.3f}" for v in c.genuine_score[low]]))
    return html_fragment("".join(parts))


def _pairs_html(data: Any, pairs: np.ndarray, captions: list[str]) -> str:
    """Each comparison as its two images side by side (embedded, escaped captions)."""
    samples = data.samples
    column = data.manifest.image_column
    folder = data.file(data.manifest.samples).parent
    cells = []
    for (i, j), caption in zip(pairs, captions, strict=True):
        paths = [folder / str(samples[column].iloc[i]), folder / str(samples[column].iloc[j])]
        names = [str(samples[data.manifest.sample_column].iloc[x]) for x in (i, j)]
        cells.append("<div style='display:inline-block;margin:4px 10px 4px 0'>"
                     + thumbnails_html(paths, [f"{names[0]}", f"{names[1]}"], size=72)
                     + f"<div style='font-size:11px;text-align:center'>{html.escape(caption)}</div></div>")
    return "<div>" + "".join(cells) + "</div>"


def methods(res: VerificationResult) -> HTML:
    """Every method and its assumptions, as stated in ``metrics.json``."""
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in METHODS.items())
    extra = ("Impostor scores are all kept: EER and curves are exact." if res.counts.exact else
             f"Impostor scores at or above {res.counts.tail_floor:.4f} are kept exactly (every threshold is among "
             f"them); EER and curves use a grid of {res.counts.edges.size - 1:,} bins.")
    return html_fragment(f"<ul>{items}</ul><p>{html.escape(extra)}</p>")


def fmr_heatmap(res: VerificationResult, feature: str, *, target: float | None = None, ax: Axes | None = None) -> Axes:
    """The FMR matrix (probe group × reference group) at a global threshold, log-coloured."""
    import seaborn as sns
    from matplotlib.colors import LogNorm

    target = res.operating if target is None else target
    m = res.fmr_matrix(feature, target)
    ax = axes_for(ax, (1.2 + 0.9 * len(m), 0.9 + 0.8 * len(m)))
    positive = m.to_numpy()[m.to_numpy() > 0]
    # colours on a log scale around the target: a matrix of equal rates stays one colour, a tenfold one stands out
    norm = LogNorm(vmin=min(positive.min(), target / 3), vmax=max(positive.max(), target * 3)) if positive.size \
        else None
    sns.heatmap(m.where(m > 0), annot=m.map(lambda v: f"{v:.2g}"), fmt="", cmap="rocket_r", norm=norm, ax=ax,
                cbar_kws={"label": "FMR"}, linewidths=0.5)
    ax.set(title=f"FMR by {feature} pair at FMR {target:g}", xlabel=f"reference {feature}", ylabel=f"probe {feature}")
    return ax


def fmr_heatmaps(res: VerificationResult) -> Figure:
    """:func:`fmr_heatmap` for every demographic feature, side by side."""
    import matplotlib.pyplot as plt

    features = res.counts.features
    fig, axes = plt.subplots(1, len(features), figsize=(4.6 * len(features), 3.8), layout="constrained", squeeze=False)
    for ax, f in zip(axes[0], features, strict=True):
        if res.operating is not None:
            fmr_heatmap(res, f, ax=ax)
    return fig


def det_plot(res: VerificationResult, feature: str, *, ax: Axes | None = None) -> Axes:
    """DET curves (FNMR against FMR on normal-deviate axes) overall and per group (same-group impostors), with
    the global thresholds marked on the overall curve."""
    from scipy.stats import norm

    ax = axes_for(ax)
    low = max(1.0 / max(res.counts.n_impostor, 1), 1e-6)
    eps = low / 2
    eer = res.eer["eer"]
    for k, (name, (fmr, fnmr)) in enumerate(res.det(feature).items()):
        key = ("overall", "all") if name == "all" else (feature, name)
        label = ("overall" if name == "all" else name) + f" (EER {_rate(eer.get(key, np.nan))})"
        ax.plot(norm.ppf(np.clip(fmr, eps, 1 - eps)), norm.ppf(np.clip(fnmr, eps, 1 - eps)), **curve_style(k, label))
    for t in res.supported.itertuples():
        over = res.readings.loc[(t.target, "overall", "all")]
        ax.plot(norm.ppf(max(t.fmr, eps)), norm.ppf(max(over.fnmr, eps)), "o", color="black", ms=4)
    det_axes(ax, f"DET by {feature}", low=low, xlabel="False match rate", ylabel="False non-match rate")
    return ax


def det_plots(res: VerificationResult) -> Figure:
    """:func:`det_plot` for every demographic feature."""
    import matplotlib.pyplot as plt

    features = res.counts.features
    fig, axes = plt.subplots(1, len(features), figsize=(5 * len(features), 4.4), layout="constrained", squeeze=False)
    for ax, f in zip(axes[0], features, strict=True):
        det_plot(res, f, ax=ax)
    return fig


def score_distributions(res: VerificationResult, feature: str | None = None) -> Figure:
    """Genuine and same-group impostor score densities per group, the operating threshold dashed."""
    import matplotlib.pyplot as plt

    c = res.counts
    feature = feature or c.features[0]
    names, subject_group, cell_group = group_codes(c, feature)
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 2.8), layout="constrained", squeeze=False,
                             sharey=True)
    centres = (c.edges[:-1] + c.edges[1:]) / 2
    step = 64  # plot on a coarser grid than the fine one: the shape does not change
    gen_group = subject_group[c.genuine_subject]
    for ax, (g, name) in zip(axes[0], enumerate(names), strict=True):
        cells = np.nonzero(cell_group == g)[0]
        imp = c.impostor_hist[np.ix_(cells, cells)].sum(axis=(0, 1)).reshape(-1, step).sum(axis=1)
        gen, _ = np.histogram(c.genuine_score[gen_group == g], bins=c.edges[::step])
        x = centres.reshape(-1, step).mean(axis=1)
        for counts, label, colour in ((imp, "impostor", "#c44"), (gen, "genuine", "#36c")):
            if counts.sum():
                ax.fill_between(x, counts / counts.sum(), step="mid", alpha=0.45, color=colour, label=label)
        if res.operating is not None:
            tau = float(res.thresholds.set_index("target").loc[res.operating, "threshold"])
            ax.axvline(tau, ls="--", color="black", lw=1)
        used = x[(imp + gen) > 0]
        if used.size:
            ax.set_xlim(used.min(), used.max())
        ax.set(title=f"{feature} = {name}", xlabel="score")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("share of comparisons")
    return fig
