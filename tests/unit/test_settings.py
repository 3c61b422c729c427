"""The settings objects (evalkit/settings.py): every default written once, validated once, and the CLI flags,
the notebooks' parameters and the MLflow plugin's config keys all come from their fields."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re

import pytest

from evalkit import EvaluationSettings, Resampling, RunOptions
from evalkit.settings import N_BOOT, CompareSettings, add_arguments, field_names, from_arguments, split_settings
from tests.conftest import ROOT


def test_defaults():
    s = EvaluationSettings()
    assert (s.threshold, s.threshold_rule, s.n_boot, s.ci_level, s.seed, s.min_group_size) == (0.5, "fixed", N_BOOT,
                                                                                               0.95, 0, 30)
    assert s.score_range == (0.0, 1.0) and s.reference == {} and s.trusted_types == ()
    assert s.resampling == Resampling()
    assert RunOptions().timeout == 900 and RunOptions().track


@pytest.mark.parametrize("changes, message", [
    ({"threshold": "0.5"}, r"threshold must be a finite number, got '0\.5'"),
    ({"n_boot": 5}, r"n_boot must be 0 \(no intervals\) or an integer >= 20, got 5"),
    ({"ci_level": 1.5}, r"ci_level must be a number in \(0\.5, 1\), got 1\.5"),
    ({"engine": "spark"}, r"engine must be one of \['vectorised', 'fairlearn', 'stream', 'dask'\], got 'spark'"),
    ({"threshold_rule": "fpr=2"}, r"the target must be a number in \(0, 1\)"),
    ({"balance": "up"}, r"balance must be one of \['none', 'downsample', 'weights'\]"),
    ({"score_range": (1, 0)}, r"score_range must be two finite numbers with low < high"),
    ({"engine": "stream", "balance": "downsample"}, r"out of core\) balances by weights"),
    ({"engine": "stream", "chunk_rows": 10}, r"chunk_rows must be a whole number >= 1000"),
    ({"scheduler": "tcp://x:1"}, r"scheduler is only for engine='dask'"),
    ({"cost_fp": -1}, r"cost_fp must be a finite non-negative number"),
    ({"cost_repetitions": True}, r"cost_repetitions must be a whole number >= 0"),
])
def test_bad_settings_name_the_setting(changes, message):
    with pytest.raises(ValueError, match=message):
        EvaluationSettings(**changes)
    with pytest.raises(ValueError, match=message):  # replace validates too
        EvaluationSettings().replace(**changes)


def test_unknown_names_are_refused():
    with pytest.raises(TypeError, match=r"unknown EvaluationSettings setting\(s\) \['thresold'\]"):
        EvaluationSettings.build(thresold=0.4)
    with pytest.raises(TypeError, match=r"unknown RunOptions option\(s\) \['trak'\]"):
        RunOptions.build(trak=False)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        RunOptions(timeout=0)


def test_build_keywords_override_and_settings_are_frozen():
    base = EvaluationSettings(threshold=0.3, n_boot=200)
    s = EvaluationSettings.build(base, n_boot=0)
    assert (s.threshold, s.n_boot) == (0.3, 0) and base.n_boot == 200
    assert EvaluationSettings.build({"seed": 3}, seed=4).seed == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.threshold = 0.9  # type: ignore[misc]


def test_notebook_and_mlflow_round_trip():
    s = EvaluationSettings(threshold=0.4, reference={"sex": "Male"}, score_range=None, balance="weights",
                           balance_target={"A": 0.5, "B": 0.5}, trusted_types=["x.Y"])
    params = s.to_parameters()
    assert json.loads(json.dumps(params)) == params  # JSON-friendly: what papermill writes into the notebook
    assert EvaluationSettings.build(params) == s
    mlflow = s.to_mlflow_params()
    assert mlflow["threshold"] == 0.4 and mlflow["reference"] == '{"sex": "Male"}' and mlflow["score_range"] == "null"
    assert s.changed() == {"threshold": 0.4, "reference": {"sex": "Male"}, "score_range": None, "balance": "weights",
                           "balance_target": {"A": 0.5, "B": 0.5}, "trusted_types": ["x.Y"]}


def test_split_settings():
    ev, run, rest = split_settings({"threshold": 1, "timeout": 5, "other": 0})
    assert (ev, run, rest) == ({"threshold": 1}, {"timeout": 5}, {"other": 0})


def test_cli_flags_are_generated_from_the_fields():
    p = argparse.ArgumentParser()
    add_arguments(p, EvaluationSettings)
    flags = {a.dest: a for a in p._actions if a.dest != "help"}
    with_flags = [f.name for f in dataclasses.fields(EvaluationSettings) if f.metadata.get("cli") is not None]
    assert sorted(flags) == sorted(with_flags)
    assert "(default 1000)" in flags["n_boot"].help and "(default 0.5)" in flags["threshold"].help
    args = p.parse_args(["--threshold", "0.4", "--reference", "sex=Male", "--reference", "race=White",
                         "--score-range", "any", "--trust-type", "a.B"])
    given = from_arguments(args, EvaluationSettings)
    assert given == {"threshold": 0.4, "reference": {"sex": "Male", "race": "White"}, "score_range": [],
                     "trusted_types": ["a.B"]}
    assert EvaluationSettings(**given).score_range is None


def test_report_cli_has_every_evaluation_flag():
    from evalkit.cli import _parser

    report = _parser()._subparsers._group_actions[0].choices["report"]
    dests = {a.dest for a in report._actions}
    assert {f.name for f in dataclasses.fields(EvaluationSettings) if f.metadata.get("cli")} <= dests
    assert {"output_root", "experiment", "timeout", "no_tracking", "no_progress", "trust"} <= dests


def test_notebooks_take_the_settings_as_one_parameter():
    from evalkit.runner import NOTEBOOK, SCALE_NOTEBOOK, notebook_parameters

    for nb in (NOTEBOOK, SCALE_NOTEBOOK):
        assert notebook_parameters(ROOT / nb) == {"model": None, "data": "str", "settings": "dict", "run_id": None,
                                                  "output_dir": None}
    text = (ROOT / SCALE_NOTEBOOK).read_text()
    assert EvaluationSettings.build({"engine": "stream"}).out_of_core and '\\"engine\\": \\"stream\\"' in text


@pytest.mark.parametrize("changes, message", [
    ({"n_boot": 5}, "n_boot must be a whole number >= 10, got 5"),
    ({"rank_by": "tp"}, r"rank_by must be one of \['roc_auc', .*'f1'\], got 'tp'"),
    ({"allow_different_data": "yes"}, "allow_different_data must be True or False, got 'yes'"),
    ({"fdr": 1}, "fdr must lie strictly between 0 and 1, got 1"),
    ({"seed": -1}, "seed must be a whole number >= 0, got -1"),
    ({"min_group_size": 0}, "min_group_size must be a whole number >= 1, got 0"),
    ({"baseline": ""}, "baseline must be a candidate's name or None, got ''"),
])
def test_bad_compare_settings_name_the_setting(changes, message):
    with pytest.raises(ValueError, match=message):
        CompareSettings(**changes)


def test_compare_settings_are_one_object_from_the_command_line_to_the_notebook():
    """``make compare``'s flags are generated from CompareSettings' fields, and the comparison notebook takes them as
    one parameter (as the report notebooks take EvaluationSettings)."""
    from evalkit.cli import _parser
    from evalkit.compare import COMPARE_NOTEBOOK
    from evalkit.runner import notebook_parameters

    cs = CompareSettings.build({"n_boot": 200}, baseline="b")
    assert cs.statistics() == {"n_boot": 200, "ci_level": 0.95, "seed": 0, "fdr": 0.05, "min_group_size": 30}
    assert CompareSettings.build(json.loads(json.dumps(cs.to_parameters()))) == cs
    compare = _parser()._subparsers._group_actions[0].choices["compare"]
    args = compare.parse_args(["--models", "a", "b", "--n-boot", "200", "--rank-by", "f1", "--baseline", "b"])
    assert CompareSettings.build(from_arguments(args, CompareSettings)) == cs.replace(rank_by="f1")
    assert {f.name for f in dataclasses.fields(CompareSettings) if f.metadata.get("cli")} <= {
        a.dest for a in compare._actions}
    assert notebook_parameters(ROOT / COMPARE_NOTEBOOK) == {
        "models": "list", "data": "str", "settings": "dict", "compare_settings": "dict", "report_experiment": "str",
        "run_id": None, "output_dir": None}


def test_plugin_config_keys_come_from_the_fields():
    from evalkit.runner.mlflow_plugin import REPORT_KEYS

    assert set(REPORT_KEYS) <= set(field_names(EvaluationSettings))
    assert {"threshold", "threshold_rule", "n_boot", "ci_level", "seed", "min_group_size", "reference",
            "tolerance", "fdr", "cost_repetitions"} <= set(REPORT_KEYS)


def test_each_default_is_written_once():
    """The numeric defaults live in evalkit/settings.py; no other module writes them as literals."""
    pattern = re.compile(r"\b(n_boot|ci_level|level|fdr|tolerance|min_group_size)\s*(?::\s*\w+)?\s*=\s*"
                         r"(1000|0\.95|0\.05|30)\b")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "evalkit").rglob("*.py") if p.name != "settings.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
