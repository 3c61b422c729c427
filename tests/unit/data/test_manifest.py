from pathlib import Path

import pytest

from evalkit import ManifestError, load_manifest

from tests.conftest import ADULT_TEST

VALID = """\
name: demo
source: benchmark
path: data.csv
sha256: {sha}
format: csv
id_column: id
label_column: label
positive_label: "pos"
sensitive_features: [group]
license: CC0-1.0
"""
SHA = "ab" * 32


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return p


def test_shipped_manifest_loads():
    m = load_manifest(ADULT_TEST)
    assert m.name == "adult_test"
    assert m.source == "benchmark"
    assert m.sensitive_features == ("sex", "race", "age_band")
    assert m.positive_label == ">50K"
    assert m.data_path.is_file()
    assert m.license == "CC BY 4.0"


def test_valid_minimal_manifest(tmp_path):
    m = load_manifest(_write(tmp_path, VALID.format(sha=SHA)))
    assert m.data_path == (tmp_path / "data.csv").resolve()
    assert m.feature_columns is None


def test_missing_file_names_path_and_lists_manifests(tmp_path):
    (tmp_path / "other.yaml").write_text("x: 1")
    with pytest.raises(ManifestError, match=r"nope\.yaml: manifest file not found; manifests in .*other\.yaml"):
        load_manifest(tmp_path / "nope.yaml")


def test_unparseable_yaml(tmp_path):
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(_write(tmp_path, "name: [unclosed\n"))


def test_duplicate_key_refused(tmp_path):
    with pytest.raises(ManifestError, match="duplicate key 'name'"):
        load_manifest(_write(tmp_path, VALID.format(sha=SHA) + "name: again\n"))


def test_unknown_key_named(tmp_path):
    with pytest.raises(ManifestError, match=r"key 'colour': unknown key\(s\) \['colour'\]") as info:
        load_manifest(_write(tmp_path, VALID.format(sha=SHA) + "colour: red\n"))
    assert info.value.key == "colour"


def test_missing_key_named(tmp_path):
    text = VALID.format(sha=SHA).replace("license: CC0-1.0\n", "")
    with pytest.raises(ManifestError, match=r"key 'license': missing required key\(s\) \['license'\]"):
        load_manifest(_write(tmp_path, text))


def test_yaml_boolean_label_refused_with_hint(tmp_path):
    text = VALID.format(sha=SHA).replace('positive_label: "pos"', "positive_label: yes")
    with pytest.raises(ManifestError, match=r"key 'positive_label': expected a string or integer, found bool True \(quote"):
        load_manifest(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("source: benchmark", "source: prod", "source", "expected one of"),
        ("format: csv", "format: xlsx", "format", "expected one of"),
        (f"sha256: {SHA}", "sha256: abc", "sha256", "64 lowercase hex"),
        ("path: data.csv", "path: /etc/passwd", "path", "relative to the manifest"),
        ("path: data.csv", "path: https://x.org/d.csv", "path", "relative to the manifest"),
        ("sensitive_features: [group]", "sensitive_features: []", "sensitive_features", "at least one"),
        ("sensitive_features: [group]", "sensitive_features: [label]", "sensitive_features", "also the id or label"),
        ("sensitive_features: [group]", "sensitive_features: group", "sensitive_features", "expected a list"),
    ],
)
def test_bad_values_name_the_key(tmp_path, old, new, key, message):
    text = VALID.format(sha=SHA).replace(old, new)
    with pytest.raises(ManifestError, match=message) as info:
        load_manifest(_write(tmp_path, text))
    assert info.value.key == key
    assert f"key '{key}'" in str(info.value)


def test_all_digit_sha_retyped_by_yaml_is_caught(tmp_path):
    text = VALID.format(sha="0" * 64)
    with pytest.raises(ManifestError, match=r"key 'sha256': expected a string, found int 0 \(quote"):
        load_manifest(_write(tmp_path, text))
