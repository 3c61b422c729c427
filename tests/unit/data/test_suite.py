"""Suite manifests: several verified datasets in one evaluation, reported per source."""

import os
import shutil

import pytest

from evalkit import ManifestError, evaluate, load_dataset
from evalkit.data import load_suite_members

from tests.conftest import ROOT

SUITE = ROOT / "data_manifests" / "adult_suite.yaml"


def test_shipped_suite_combines_three_sources():
    ds = load_dataset(SUITE)
    assert [m.name for m in ds.members] == ["adult_test", "adult_production_sample", "adult_corner_cases"]
    assert sorted(ds.sources.unique()) == ["benchmark", "corner_case", "production"]
    assert len(ds) == sum(len(load_dataset(ROOT / "data_manifests" / f"{m.name}.yaml")) for m in ds.members)
    assert ds.frame["id"].is_unique and ds.frame["id"].iloc[0].startswith("adult_test:")
    assert ds.manifest.sensitive_features == ("sex", "race", "age_band", "source")
    test = load_dataset(ROOT / "data_manifests" / "adult_test.yaml")
    part = ds.frame[ds.frame["dataset"] == "adult_test"]
    assert (part["label"] == "1").sum() == test.y_true.sum()  # labels follow each member's positive_label


def test_metrics_per_source_equal_metrics_of_each_member(use_shared_store):
    suite = evaluate("adult-logreg", SUITE, n_boot=0)
    alone = evaluate("adult-logreg", ROOT / "data_manifests" / "adult_production_sample.yaml", n_boot=0)
    for metric in ("roc_auc", "recall", "fpr", "eer"):
        assert suite.by_group.loc[("source", "production"), metric] == pytest.approx(alone.overall[metric], abs=1e-12)
    doc = suite.to_dict()
    assert doc["suite"] == "adult_suite"
    assert [d["n"] for d in doc["datasets"]] == [16281, 3000, 628]
    assert doc["composition"]["source"]["corner_case"]["n"] == 628


def _suite(tmp_path, text):
    for name in ("adult_test.yaml", "adult_production_sample.yaml", "german_credit.yaml"):
        rel = os.path.relpath(ROOT / "data", tmp_path)
        src = (ROOT / "data_manifests" / name).read_text().replace("path: ../data/", f"path: {rel}/")
        (tmp_path / name).write_text(src)
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, key, message", [
    ("kind: suite\nname: s\ndatasets: [adult_test.yaml]\ncolour: red\n", "colour", "unknown key"),
    ("kind: suite\nname: s\n", "datasets", r"missing required key\(s\) \['datasets'\]"),
    ("kind: suite\nname: s\ndatasets: []\n", "datasets", "non-empty list"),
    ("kind: suite\nname: s\ndatasets: [/etc/passwd]\n", "datasets", "relative to the suite"),
    ("kind: suite\nname: s\ndatasets: ['https://example.com/x.yaml']\n", "datasets", "relative to the suite"),
    ("kind: suite\nname: s\ndatasets: [../../etc/x.yaml]\n", "datasets", "outside the data folders"),
    ("kind: suite\nname: s\ndatasets: [adult_test.yaml, adult_test.yaml]\n", "datasets", "listed twice"),
    ("kind: suite\nname: s\ndatasets: [adult_test.yaml, german_credit.yaml]\n", "datasets",
     "members have different sensitive features"),
    ("kind: suite\nname: s\ndatasets: [suite.yaml]\n", "datasets", "suites cannot be nested"),
    ("kind: suite\nname: s\ndatasets: [adult_test.yaml]\ndatasets: [x.yaml]\n", None, "duplicate key 'datasets'"),
])
def test_bad_suites_name_file_and_key(tmp_path, monkeypatch, text, key, message):
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(ROOT / "data"))
    path = _suite(tmp_path, text)
    with pytest.raises(ManifestError, match=message) as err:
        load_suite_members(path)
    assert str(path) in str(err.value)
    if key:
        assert f"key '{key}'" in str(err.value)


def test_a_changed_member_fails_the_suite(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(tmp_path))
    shutil.copy(ROOT / "data" / "adult" / "adult_test.csv.gz", tmp_path / "t.csv.gz")
    text = (ROOT / "data_manifests" / "adult_test.yaml").read_text().replace("../data/adult/adult_test.csv.gz", "t.csv.gz")
    (tmp_path / "t.yaml").write_text(text.replace("size_bytes: 247292", "size_bytes: 1"))
    (tmp_path / "s.yaml").write_text("kind: suite\nname: s\ndatasets: [t.yaml]\n")
    from evalkit import DataError

    with pytest.raises(DataError, match="size is 247292 bytes, the manifest says 1"):
        load_dataset(tmp_path / "s.yaml")
