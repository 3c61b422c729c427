"""Comparing two records value by value (evalkit/reproduce/_diff.py) and reading settings back from a run."""

from __future__ import annotations

import math

import pytest

from evalkit.reproduce import Difference, about, diff_records, expected, recorded_settings
from evalkit.settings import EvaluationSettings


def test_identical_records_have_no_difference():
    record = {"a": [1, 2.5, {"b": "x"}], "n": None, "nan": math.nan, "flag": True}
    assert diff_records(record, {**record, "nan": float("nan")}) == ([], [])


def test_every_kind_of_difference_is_named_by_its_path():
    old = {"overall": {"recall": 0.5, "n": 10}, "groups": ["a", "b"], "gone": 1, "flag": True, "text": "x"}
    new = {"overall": {"recall": 0.5000000000000001, "n": 10}, "groups": ["a", "c", "d"], "flag": 1, "text": "x",
           "added": 2}
    diffs, timing = diff_records(old, new)
    assert diffs == [Difference("overall.recall", 0.5, 0.5000000000000001),
                     Difference("groups", "2 items", "3 items"), Difference("groups.1", "b", "c"),
                     Difference("gone", 1, "(absent)"), Difference("flag", True, 1),  # a bool is not a number
                     Difference("added", "(absent)", 2)]
    assert timing == []


def test_rtol_relaxes_numbers_only():
    old, new = {"x": 1.0, "s": "a"}, {"x": 1.0 + 1e-12, "s": "b"}
    assert [d.path for d in diff_records(old, new)[0]] == ["x", "s"]
    assert [d.path for d in diff_records(old, new, rtol=1e-9)[0]] == ["s"]
    with pytest.raises(ValueError, match=r"rtol must be a number in \[0, 1\), got -1"):
        diff_records(old, new, rtol=-1)


def test_identity_time_and_timings_are_expected_differences():
    old = {"created": "t1", "mlflow_run_id": "r1", "cost": {"batch_seconds": 0.1},
           "engine_details": {"seconds": 2, "rows": 9, "scheduler": "tcp://127.0.0.1:1"},
           "verdicts": [{"requirement": "latency", "p99_latency_ms": 3.0, "decision": "pass"}],
           "model": {"spec": "m", "sha256": "s"}}
    new = {"created": "t2", "mlflow_run_id": "r2", "cost": {"batch_seconds": 0.2},
           "engine_details": {"seconds": 3, "rows": 8, "scheduler": "tcp://127.0.0.1:2"},
           "verdicts": [{"requirement": "latency", "p99_latency_ms": 4.0, "decision": "fail"}],
           "model": {"spec": "models:/m/1", "sha256": "s"}}
    diffs, timing = diff_records(old, new)
    assert diffs == [Difference("engine_details.rows", 9, 8),  # only the timings of engine_details are expected
                     Difference("verdicts.0.decision", "pass", "fail")]  # a decision is never a timing
    assert timing == ["created", "mlflow_run_id", "cost", "engine_details.seconds", "engine_details.scheduler",
                      "verdicts.0.p99_latency_ms", "model.spec"]
    assert expected("cost.load_seconds") and not expected("overall.recall")


@pytest.mark.parametrize(("path", "what"), [("overall_ci.recall.ci_low", "intervals"), ("bootstrap.n_boot", "intervals"),
                                            ("disparities.sex.fpr.difference_ci_low", "intervals"),
                                            ("by_group.sex.Female.recall", "values")])
def test_about(path, what):
    assert about(path) == what


def test_settings_come_from_the_parameters_then_the_notebook():
    executed = EvaluationSettings(n_boot=50, intersections=False, threshold=0.4).to_parameters()
    params = {k: str(v) for k, v in EvaluationSettings(n_boot=60, threshold=0.4).to_mlflow_params().items()
              if k not in ("intersections", "slice_terms")}  # not recorded (as by an older evalkit)
    st, drift = recorded_settings(EvaluationSettings, params, executed)
    assert st.n_boot == 60 and st.intersections is False and st.threshold == 0.4
    assert st.score_range == (0.0, 1.0) and st.reference == {}
    assert drift == {"n_boot": (50, 60)}
    same, none = recorded_settings(EvaluationSettings, {"n_boot": "50", "threshold_rule": "fixed", "scheduler": ""},
                                   executed)
    assert same == EvaluationSettings.build(executed) and same.scheduler is None and none == {}


def test_a_comparisons_settings_come_from_one_parameter_or_from_the_separate_ones_of_older_runs():
    from evalkit.reproduce._replay import _compare_settings
    from evalkit.settings import CompareSettings

    want = CompareSettings(baseline="x", rank_by="f1", n_boot=200, ci_level=0.9, seed=1, fdr=0.1, min_group_size=20)
    older = {"models": ["r1", "r2"], "baseline": "x", "allow_different_data": False, "rank_by": "f1", "n_boot": 200,
             "ci_level": 0.9, "seed": 1, "fdr": 0.1, "min_group_size": 20, "report_experiment": "evalkit",
             "run_id": "r3", "output_dir": "/tmp/out"}
    assert _compare_settings(older) == want
    assert _compare_settings({**older, "baseline": ""}).baseline is None
    assert _compare_settings({"models": ["r1", "r2"], "compare_settings": want.to_parameters()}) == want
