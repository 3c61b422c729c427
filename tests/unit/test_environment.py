"""Set-up files stay consistent: pins, environment.yml, Makefile help, README commands."""

import re
import subprocess

from tests.conftest import ROOT


def _pins(*files):
    out = []
    for f in files:
        for line in (ROOT / f).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def test_requirements_are_pinned():
    for pin in _pins("requirements.txt", "requirements-dev.txt"):
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", pin), pin


def test_environment_yml_has_the_same_pins():
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(p for p in pip if p != "-e .") == sorted(_pins("requirements.txt", "requirements-dev.txt"))


def test_constraints_agree_with_requirements():
    lock = {}
    for line in _pins("constraints.txt"):
        name, _, version = line.partition("==")
        lock[name.lower().replace("_", "-")] = version
    for pin in _pins("requirements.txt", "requirements-dev.txt"):
        name, _, version = pin.partition("==")
        assert lock[name.lower().replace("_", "-")] == version, pin


def test_nbconvert_pin_has_security_fixes():
    pin = next(p for p in _pins("requirements.txt") if p.startswith("nbconvert=="))
    major, minor, patch = (int(x) for x in pin.split("==")[1].split(".")[:3])
    assert (major, minor, patch) >= (7, 17, 1)


def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    targets = re.findall(r"^([a-zA-Z_-]+):.*## ", (ROOT / "Makefile").read_text(), flags=re.M)
    assert {"report", "test", "bench", "lab", "mlflow-ui", "help"} <= set(targets)
    for target in targets:
        assert target in out


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make report MODEL=adult-logreg" in readme
    assert "make test" in readme


def test_make_report_without_model_is_a_usage_error():
    res = subprocess.run(["make", "-s", "report"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode != 0
    assert "set MODEL=" in res.stderr
