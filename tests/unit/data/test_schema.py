"""Declared column schemas: strict parsing, and every violation reported at once with row ids."""

import pandas as pd
import pytest

from evalkit import DataError, ManifestError, load_dataset
from evalkit._io import sha256_file
from evalkit.data import check_frame, infer_schema, parse_schema

from tests.conftest import ADULT_TEST, ADULT_TRAIN

MANIFEST = """\
name: d
source: production
path: d.csv
sha256: {sha}
format: csv
id_column: id
label_column: label
positive_label: "pos"
sensitive_features: [group]
license: internal
schema:
  id: {{type: string}}
  label: {{type: string, allowed: [pos, neg]}}
  group: {{type: string, allowed: [A, B]}}
  age: {{type: integer, min: 18, max: 99}}
  income: {{type: float, min: 0, nullable: true}}
"""


def _case(tmp_path, rows):
    frame = pd.DataFrame(rows, columns=["id", "label", "group", "age", "income"])
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.yaml").write_text(MANIFEST.format(sha=sha256_file(tmp_path / "d.csv")))
    return tmp_path / "d.yaml"


def test_valid_data_passes(tmp_path):
    path = _case(tmp_path, [["r1", "pos", "A", 30, 1.5], ["r2", "neg", "B", 40, None]])
    assert len(load_dataset(path)) == 2


def test_every_violation_is_reported_at_once(tmp_path):
    path = _case(tmp_path, [
        ["r1", "pos", "A", 30, 1.5],
        ["r2", "neg", "B", 12, 2.0],        # age below min
        ["r3", "neg", "A", 150, -1.0],      # age above max, income below min
        ["r4", "pos", "B", "old", 3.0],     # age not a number
        ["r5", "pos", "A", 41.5, 3.0],      # age not whole
        ["r6", "neg", "B", None, 3.0],      # age missing, not nullable
    ])
    with pytest.raises(DataError) as err:
        load_dataset(path)
    text = str(err.value)
    assert str(tmp_path / "d.csv") in text and "schema violation(s) against d.yaml" in text
    assert "column 'age': 1 value(s) fail '>= 18', e.g. ids ['r2']" in text
    assert "column 'age': 1 value(s) fail '<= 99', e.g. ids ['r3']" in text
    assert "column 'age': 1 value(s) fail 'is a integer', e.g. ids ['r4']" in text
    assert "column 'age': 1 value(s) fail 'is a whole number', e.g. ids ['r5']" in text
    assert "column 'age': 1 value(s) fail 'not empty (nullable: false)', e.g. ids ['r6']" in text
    assert "column 'income': 1 value(s) fail '>= 0', e.g. ids ['r3']" in text


def test_allowed_values(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b", "c"], "g": ["x", "y", "z"]})
    specs = parse_schema(tmp_path / "m.yaml", {"g": {"type": "string", "allowed": ["x", "y"]}})
    with pytest.raises(DataError, match=r"column 'g': 1 value\(s\) fail .*e\.g\. ids \['c'\] \(values \['z'\]\)"):
        check_frame(frame, specs, id_column="id", path=tmp_path / "d.csv", manifest_name="m.yaml")


@pytest.mark.parametrize("schema, key, message", [
    ({"age": {"type": "int"}}, "schema.age.type", "expected a type among"),
    ({"age": {"type": "integer", "minimum": 3}}, "schema.age.minimum", "unknown key"),
    ({"age": {"type": "integer", "min": "3"}}, "schema.age.min", "expected a finite number"),
    ({"age": {"type": "string", "max": 3}}, "schema.age.max", "min/max apply to integer or float"),
    ({"age": {"type": "integer", "min": 5, "max": 1}}, "schema.age.min", "min 5 is above max 1"),
    ({"age": {"type": "string", "allowed": []}}, "schema.age.allowed", "non-empty list"),
    ({"age": {"type": "string", "nullable": "no"}}, "schema.age.nullable", "expected true or false"),
    ({"age": "integer"}, "schema.age", "expected a mapping"),
])
def test_bad_schema_names_manifest_and_key(tmp_path, schema, key, message):
    with pytest.raises(ManifestError, match=message) as err:
        parse_schema(tmp_path / "m.yaml", schema)
    assert f"key '{key}'" in str(err.value) and "m.yaml" in str(err.value)


def test_declared_column_missing(tmp_path):
    specs = parse_schema(tmp_path / "m.yaml", {"nope": {"type": "string"}})
    with pytest.raises(DataError, match=r"column\(s\) \['nope'\] declared in the schema of m.yaml are missing"):
        check_frame(pd.DataFrame({"id": ["a"]}), specs, id_column="id", path=tmp_path / "d.csv", manifest_name="m.yaml")


def test_inferred_schema_validates_its_own_data(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b", "c"], "n": [1, 2, 3], "x": [0.5, None, 2.0], "g": ["u", "v", "u"]})
    raw = infer_schema(frame)
    assert raw["n"] == {"type": "integer", "min": 1, "max": 3}
    assert raw["x"] == {"type": "float", "min": 0.5, "max": 2, "nullable": True}
    assert raw["g"] == {"type": "string", "allowed": ["u", "v"]}
    check_frame(frame, parse_schema(tmp_path / "m.yaml", raw), id_column="id", path=tmp_path, manifest_name="m")


def test_shipped_benchmarks_declare_and_pass_a_schema():
    for manifest in (ADULT_TEST, ADULT_TRAIN):
        ds = load_dataset(manifest)
        assert {s.name for s in ds.manifest.schema} >= {"age", "sex", "race", "income"}
