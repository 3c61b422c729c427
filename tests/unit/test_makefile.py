"""Every Makefile target passes the variables that make sense for it, the same way (checked with ``make -n``:
the command each target would run, nothing run)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT


def _dry(*args: str) -> str:
    # the venv stamps are up to date in a checkout that ran the tests, so -n prints the command alone
    out = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return out.replace("\\\n", " ")


@pytest.mark.parametrize("target", ["report", "explore"])
def test_operating_point_variables_reach_report_and_explore(target):
    cmd = _dry(target, "MODEL=adult-logreg", "THRESHOLD=0.45", "RULE=fpr=0.01", "METRICS=configs/metrics.yaml",
               "BALANCE=weights")
    for flag in ('--model "adult-logreg"', '--threshold "0.45"', '--threshold-rule "fpr=0.01"',
                 '--metrics-config "configs/metrics.yaml"', '--balance "weights"'):
        assert flag in cmd, (target, flag, cmd)


def test_explore_cli_takes_the_threshold_and_passes_it_to_the_app():
    from evalkit.cli import _parser
    from evalkit.settings import EvaluationSettings, from_arguments

    args = _parser().parse_args(["explore", "--model", "m", "--threshold", "0.45", "--threshold-rule", "eer"])
    assert from_arguments(args, EvaluationSettings) == {"threshold": 0.45, "threshold_rule": "eer"}


def test_reproduce_and_promote_take_their_variables():
    assert '-m evalkit reproduce --run "abc123" --rtol "1e-9"' in _dry("reproduce", "RUN=abc123", "RTOL=1e-9")
    assert '--require-reproduced' in _dry("promote", "MODEL=m", "REQUIRE_REPRODUCED=1")
    assert '--require-reproduced' not in _dry("promote", "MODEL=m")
    out = subprocess.run(["make", "--no-print-directory", "reproduce"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "make reproduce: set RUN=, an MLflow run id" in out.stderr


def test_reproduce_cli_checks_its_options():
    from evalkit.cli import _parser

    args = _parser().parse_args(["reproduce", "--run", "r1", "--rtol", "1e-12"])
    assert (args.run, args.rtol, args.trust) == ("r1", 1e-12, False)
    for bad in ("1", "-0.1", "x"):
        with pytest.raises(SystemExit) as exit_info:
            _parser().parse_args(["reproduce", "--run", "r1", "--rtol", bad])
        assert exit_info.value.code == 2


def test_the_suite_prints_its_15_slowest_tests():
    assert "-m pytest -n 3 --dist loadfile --durations=15" in _dry("test")


def test_the_suite_compiles_evalkit_first():
    """The test processes and the commands they start read evalkit's bytecode, also where Python may not write it
    (PYTHONDONTWRITEBYTECODE)."""
    dry = _dry("test")
    assert "-m compileall -q evalkit" in dry and dry.index("compileall") < dry.index("-m pytest")
