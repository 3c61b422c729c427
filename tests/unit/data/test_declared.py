"""Declared file schemas (evalkit/data/_declared.py): YAML's surprises are refused with the file and key named,
and the JSON Schemas in schemas/ are the declared ones and accept every shipped file."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from evalkit import ManifestError, load_manifest
from evalkit.cli import schema_documents
from evalkit.data import key_path
from evalkit.gate import load_policy
from evalkit.metrics import load_metrics_config
from tests.conftest import ROOT

SHA = "0" * 64
BASE = ("name: d\nsource: benchmark\npath: data.csv\nsha256: '{sha}'\nformat: csv\nid_column: id\nlabel_column: y\n"
        "positive_label: '1'\nsensitive_features: [group]\nlicense: CC0\n")


def _manifest(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("old, new, key, message", [
    ("license: CC0", "license: yes", "license", r"expected a string, found bool True \(quote"),
    ("name: d", "name: 0777", "name", r"expected a string, found int 511 \(quote"),
    ("license: CC0", "license: 2024-01-01", "license", r"expected a string, found date datetime\.date\(2024, 1, 1\)"),
    ("positive_label: '1'", "positive_label: 1.0", "positive_label", r"expected a string or integer, found float 1\.0"),
    ("license: CC0", "license: CC0\nimage_features: {size: [2, 2], colour: 1}", "image_features.colour",
     r"unknown key\(s\) \['colour'\]; allowed keys are \['invert', 'max_value', 'size'\]"),
    ("license: CC0", "license: CC0\nimage_features: {size: [2]}", "image_features.size",
     r"expected \[rows, columns\] of positive integers, found \[2\]"),
])
def test_yaml_surprises_are_refused_naming_the_key(tmp_path, old, new, key, message):
    path = _manifest(tmp_path, BASE.format(sha=SHA).replace(old, new))
    with pytest.raises(ManifestError, match=message) as err:
        load_manifest(path)
    assert err.value.key == key and str(path) in str(err.value)


def test_key_paths():
    assert key_path(("requirements", 2, "metric")) == "requirements[2].metric"
    assert key_path(("metrics", 0)) == "metrics[0]"
    assert key_path(()) == ""


def test_policy_requirement_keys_depend_on_the_check(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("requirements:\n  - {check: memory, max: 900}\n  - {check: latency, max: 5, percentile: 90}\n")
    with pytest.raises(Exception, match=r"key 'requirements\[1\]\.percentile': expected one of \[50, 95, 99\], "
                                        r"found 90"):
        load_policy(path)
    path.write_text("requirements:\n  - {metric: roc_auc, min: 0.8}\n")
    with pytest.raises(Exception, match=r"key 'requirements\[0\]\.check': missing required key\(s\) \['check'\]"):
        load_policy(path)


def test_committed_json_schemas_are_the_declared_ones():
    docs = schema_documents()
    for name, doc in docs.items():
        committed = json.loads((ROOT / "schemas" / name).read_text())
        assert committed == json.loads(json.dumps(doc)), f"schemas/{name} is stale: run `python -m evalkit schemas`"
        jsonschema.Draft202012Validator.check_schema(committed)
    assert sorted(p.name for p in (ROOT / "schemas").glob("*.json")) == sorted(docs)


def test_every_shipped_file_validates_against_its_json_schema():
    def schema(name):
        return jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text()))

    for path in sorted((ROOT / "data_manifests").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        kind = {"suite": "suite-manifest", "verification": "verification-manifest"}.get(raw.get("kind"),
                                                                                      "data-manifest")
        errors = list(schema(kind).iter_errors(raw))
        assert not errors, f"{path.name}: {errors[0].message}"
    for path in sorted((ROOT / "configs").glob("gates*.yaml")):
        assert not list(schema("gate-policy").iter_errors(yaml.safe_load(path.read_text()))), path.name
        load_policy(path)
    metrics = ROOT / "configs" / "metrics.yaml"
    assert not list(schema("metrics-config").iter_errors(yaml.safe_load(metrics.read_text())))
    load_metrics_config(metrics)


def test_json_schema_refuses_what_evalkit_refuses():
    doc = json.loads((ROOT / "schemas" / "data-manifest.schema.json").read_text())
    raw = yaml.safe_load(BASE.format(sha=SHA))
    jsonschema.validate(raw, doc)
    for bad in ({**raw, "colour": "red"}, {**raw, "sha256": "abc"}, {**raw, "source": "prod"},
                {k: v for k, v in raw.items() if k != "license"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, doc)
