"""The report's and the gate's HTML fragments as units (evalkit/views, evalkit/gate/_view.py): the first screen,
tables and verdicts hold the right numbers, and every value from data or files is escaped. No notebook runs."""

from __future__ import annotations

import html
import re

import pytest

from evalkit import evaluate
from evalkit.data import make_biased_scores, write_synthetic_dataset
from evalkit.gate import Evidence, GateResult, Policy, Requirement, combine, judge
from evalkit.gate import header as gate_header
from evalkit.gate import requirements as gate_requirements
from evalkit.gate import verdicts as gate_verdicts
from evalkit.views import CSS, cell_html, fmt, fmt_ci, html_table, samples_html
from evalkit.views import header, overall_table, small_groups_table, summary

HOSTILE = "<script>alert(1)</script>&co"


@pytest.fixture(scope="module")
def hostile_evaluation(tmp_path_factory):
    """An evaluation whose group names and dataset text carry HTML; group B has an injected lower recall."""
    frame = make_biased_scores(3000, seed=11)
    frame["group"] = frame["group"].map({"A": "A", "B": HOSTILE, "C": "C"})
    manifest, preds = write_synthetic_dataset(tmp_path_factory.mktemp("hostile"), frame, name="hostile",
                                              description=f"description with {HOSTILE}")
    return evaluate(str(preds), manifest, n_boot=200, seed=1)


def _text(fragment) -> str:
    return fragment.data if hasattr(fragment, "data") else fragment


def test_formatting_helpers():
    assert fmt(None) == fmt(float("nan")) == "—"
    assert fmt(12345.0, "tp") == "12,345"
    assert fmt(0.123456) == "0.1235"
    assert fmt_ci(0.1, 0.2) == "[0.1, 0.2]" and fmt_ci(float("nan"), 0.2) == ""
    assert cell_html(0.5, "recall", 0.4, 0.6) == "0.5<span class='evalkit-ci'>[0.4, 0.6]</span>"
    assert cell_html(10, "tp", 9, 11) == "10"  # counts get no interval


def test_table_escapes_values_unless_trusted():
    import pandas as pd

    frame = pd.DataFrame({"group": [HOSTILE], "v": ["<b>x</b>"]})
    text = html_table(frame, ("group",))
    assert "<script>" not in text and html.escape(HOSTILE) in text and "&lt;b&gt;x&lt;/b&gt;" in text
    assert "<td class=t>" in text
    assert "<b>x</b>" in html_table(frame, raw_html=True)


def test_css_is_read_from_the_package():
    assert CSS.startswith("<style>") and CSS.endswith("</style>") and ".evalkit-box" in CSS


def test_first_screen_answers_good_and_fair_enough(hostile_evaluation):
    ev = hostile_evaluation
    text = _text(summary(ev))
    assert "Good enough?" in text and "Fair enough?" in text
    # the headline tiles carry the overall values and their intervals
    assert f"<div class='v'>{fmt(ev.overall['roc_auc'], 'roc_auc')}</div>" in text
    low, high = ev.interval("roc_auc")
    assert html.escape(fmt_ci(low, high)) in text
    # the injected gap is on the first screen, named by its escaped group
    assert html.escape(HOSTILE) in text and "<script>" not in text
    counts = f"TP {fmt(ev.overall['tp'], 'tp')}, FP {fmt(ev.overall['fp'], 'fp')}"
    assert counts in text


def test_header_and_tables_escape_data_text(hostile_evaluation):
    ev = hostile_evaluation
    for fragment in (header(ev), overall_table(ev), small_groups_table(ev)):
        assert "<script>" not in _text(fragment)
    assert "hostile" in _text(header(ev))
    table = _text(overall_table(ev))
    assert fmt(ev.overall["recall"], "recall") in table


def test_samples_table_escapes_values(hostile_evaluation):
    ev = hostile_evaluation
    rows = [i for i, g in enumerate(ev.group_values("group")) if g == HOSTILE][:3]
    text = samples_html(ev, rows, feature="group")
    assert html.escape(HOSTILE) in text and "<script>" not in text
    assert samples_html(ev, []) == "<p>No samples in this selection.</p>"


def test_gate_verdict_views(hostile_evaluation):
    ev = hostile_evaluation
    auc = Requirement(name="auc", check="metric", bound=0.8, direction="min", metric="roc_auc")
    gap = Requirement(name=f"gap {HOSTILE}", check="disparity", bound=0.01, direction="max", metric="recall",
                      feature="group")
    verdicts = [judge(auc, Evidence(0.9, 0.85, 0.95, 1000)), judge(gap, Evidence(0.2, 0.15, 0.25, 1000))]
    result = GateResult(decision=combine(verdicts), verdicts=verdicts, policy=Policy(name="p", requirements=(auc, gap)),
                        evaluation=ev, settings={"ci_level": 0.95, "n_boot": 200, "seed": 1})
    head = _text(gate_header(result))
    assert result.decision == "fail" and "FAIL" in head.upper() and "1 pass, 1 fail, 0 inconclusive" in head
    assert "Wilson score for" in head and "DeLong on the logit scale for roc_auc" in head  # each interval's method
    assert "exact binomial (Clopper-Pearson) for attack rates" in head
    reqs = _text(gate_requirements(result))
    assert reqs.index(html.escape(f"gap {HOSTILE}")) < reqs.index(">auc<")  # failed first
    assert "<script>" not in reqs and "[0.15, 0.25]" in reqs
    table = _text(gate_verdicts(result))
    assert re.search(r"≤ 0\.01", table) and "<script>" not in table


def test_a_thinned_curve_stays_within_a_step_of_every_point():
    import numpy as np
    from scipy.stats import norm

    from evalkit.views._plots import CURVE_POINTS, thin_curve

    rng = np.random.default_rng(0)
    y = rng.random(200_000) < 0.3
    s = rng.normal(np.where(y, 1.5, 0.0), 1.0)
    order = np.argsort(-s)
    tpr, fpr = np.cumsum(y[order]) / y.sum(), np.cumsum(~y[order]) / (~y).sum()
    keep = thin_curve(fpr, tpr)
    assert keep[0] == 0 and keep[-1] == fpr.size - 1 and keep.size <= 6 * (CURVE_POINTS + 1) + 2
    step = 1 / CURVE_POINTS
    gaps = np.diff(keep)
    assert np.all(np.diff(fpr[keep]) <= step + 1 / (~y).sum()) and np.all(np.diff(tpr[keep]) <= step + 1 / y.sum())
    # on DET axes (normal deviates) too, down to FPR 1e-4: a kept point every few hundredths of a deviate
    shown = fpr[keep][(fpr[keep] > 1e-4) & (fpr[keep] < 0.99)]  # det_axes' range
    assert np.max(np.diff(norm.ppf(shown))) < 0.05 and gaps.max() > 10
    small = np.arange(10)
    np.testing.assert_array_equal(thin_curve(small / 9, small / 9), small)


def test_sample_values_are_shown_as_pandas_would_and_tables_keep_each_columns_type():
    """The samples table's text is built column by column; it equals the frame-wide pandas expression it
    replaced, missing values of every kind included. html_table reads each column's own values (a row-wise
    read would show an integer beside a float column as 3.0)."""
    import numpy as np
    import pandas as pd

    from evalkit.views._samples import _display_strings

    frame = pd.DataFrame({
        "i": np.array([3, -1, 0]), "f": [0.1, np.nan, 1e-7], "s": pd.array(["a", None, "<b>"], dtype="str"),
        "n": pd.array([1, None, 3], dtype="Int64"), "c": pd.Categorical(["x", None, "y"]),
        "b": [True, False, True], "o": np.array(["u", None, 2.5], dtype=object),
        "t": pd.to_datetime(["2020-01-02", None, "2021-03-04"])})
    expected = frame.astype(object).where(lambda t: t.notna(), "—").astype(str)
    got = _display_strings(frame)
    assert got.columns.tolist() == frame.columns.tolist()
    assert got.to_numpy().tolist() == expected.to_numpy().tolist()
    text = html_table(pd.DataFrame({"n": [3], "v": [0.5]}))
    assert "<td>3</td><td>0.5</td>" in text


def test_error_bars_span_the_interval_even_where_it_misses_its_estimate(hostile_evaluation):
    """A bound a rounding error past its estimate (a Wilson lower bound of 1.4e-17 over a rate of 0 once failed a
    report's cell) or a percentile interval that excludes its estimate is drawn as it is, from low to high."""
    import copy

    import matplotlib.pyplot as plt
    import numpy as np

    from evalkit.views import group_bars

    ev = copy.copy(hostile_evaluation)
    ev.uncertainty = copy.deepcopy(ev.uncertainty)
    table = ev.by_group.loc["group"].sort_values("n", ascending=False)
    ci = ev.uncertainty.by_group
    first, second = table.index[:2]
    value = table.loc[first, "recall"]
    ci.loc[("group", first), ("recall", "ci_low")] = np.nextafter(value, 1.0)  # one rounding step above
    ci.loc[("group", first), ("recall", "ci_high")] = value + 0.1
    ci.loc[("group", second), ("recall", "ci_low")] = float("nan")
    ax = group_bars(ev, "recall", "group")
    segments = [seg for coll in ax.collections for seg in getattr(coll, "get_segments", list)()]
    spans = sorted((float(s[0][1]), float(s[1][1])) for s in segments if len(s) == 2)
    assert any(abs(a - value) < 1e-12 and abs(b - (value + 0.1)) < 1e-12 for a, b in spans), spans
    assert len(spans) == len(table) - 1  # no bar where a bound is missing
    plt.close(ax.figure)
