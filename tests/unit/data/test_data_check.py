"""`make data-check` / `evalkit data check`, corner-case generation and image datasets."""

import shutil

import pytest

from evalkit import DataError, load_dataset
from evalkit.data import image_paths
from evalkit.data import make_corner_cases

from tests.conftest import ROOT, evalkit_command


@pytest.fixture(autouse=True)
def _data_root(tmp_path, monkeypatch):
    """Data written under tmp_path is inside an allowed data folder (as EVALKIT_DATA_ROOT allows)."""
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(tmp_path))


def _cli(*args, cwd=ROOT):
    return evalkit_command(*args, cwd=cwd)


def test_every_shipped_manifest_verifies():
    res = _cli("data", "check")
    assert res.returncode == 0, res.stdout + res.stderr
    for name in ("adult_test", "adult_train", "german_credit", "digits_images", "adult_suite"):
        assert f"{name}," in res.stdout


def test_a_tampered_file_fails_the_check(tmp_path):
    (tmp_path / "d").mkdir()
    shutil.copy(ROOT / "data" / "german" / "german_credit.csv.gz", tmp_path / "d" / "g.csv.gz")
    text = (ROOT / "data_manifests" / "german_credit.yaml").read_text().replace("../data/german/german_credit.csv.gz",
                                                                               "d/g.csv.gz")
    (tmp_path / "g.yaml").write_text(text)
    assert _cli("data", "check", str(tmp_path)).returncode == 0
    with open(tmp_path / "d" / "g.csv.gz", "ab") as f:
        f.write(b"x")
    res = _cli("data", "check", str(tmp_path))
    assert res.returncode == 1
    assert "FAIL" in res.stdout and "size is 19955 bytes, the manifest says 19954" in res.stdout


def test_generate_is_deterministic_and_writes_a_valid_manifest(tmp_path):
    args = ["data", "generate", "--name", "cc", "--rows", "600", "--tiny", "D=4", "--score-bias", "B=-1.5",
            "--boundary", "0.05", "--missing", "0.1", "--rare", "0.02", "--seed", "7"]
    a = _cli(*args, "--data-dir", str(tmp_path / "a"), "--manifest-dir", str(tmp_path / "ma"))
    b = _cli(*args, "--data-dir", str(tmp_path / "b"), "--manifest-dir", str(tmp_path / "mb"))
    assert a.returncode == b.returncode == 0, a.stderr
    assert (tmp_path / "a" / "cc.csv").read_bytes() == (tmp_path / "b" / "cc.csv").read_bytes()
    ds = load_dataset(tmp_path / "ma" / "cc.yaml")
    assert ds.frame["group"].value_counts()["D"] == 4
    assert ds.frame["x1"].isna().sum() > 0 and (ds.frame["channel"] == "rare-value").any()


def test_corner_case_properties():
    f = make_corner_cases(rows=1000, tiny={"T": 3}, boundary=0.06, label_bias={"C": 0.5}, seed=1)
    assert (f["group"] == "T").sum() == 3
    assert ((f["score"] == 0) | (f["score"] == 1) | (f["score"] == 0.5)).sum() >= 60
    clean = make_corner_cases(rows=1000, seed=1)
    c = f["group"] == "C"
    assert 0.4 < (f.loc[c, "y"] != clean.loc[c, "y"]).mean() < 0.6  # half of C's labels flipped
    assert (f.loc[~c & (f["group"] != "T"), "y"] == clean.loc[~c, "y"].iloc[: (~c & (f["group"] != "T")).sum()]).all()


def test_generate_like_a_real_dataset():
    res = _cli("data", "check", str(ROOT / "data_manifests" / "adult_corner_cases.yaml"))
    assert res.returncode == 0
    ds = load_dataset(ROOT / "data_manifests" / "adult_corner_cases.yaml")
    assert ds.frame["race"].value_counts().to_dict() == {"White": 300, "Black": 200, "Asian-Pac-Islander": 100,
                                                          "Amer-Indian-Eskimo": 20, "Other": 8}
    assert (ds.frame["workclass"].isna() | (ds.frame["workclass"] == "rare-value")).any()


def test_image_dataset_paths_are_checked(tmp_path):
    ds = load_dataset(ROOT / "data_manifests" / "digits_images.yaml")
    paths = image_paths(ds)
    assert len(paths) == 400 and all(p.endswith(".png") for p in paths.head())
    shutil.copytree(ROOT / "data" / "digits", tmp_path / "digits")
    text = (ROOT / "data_manifests" / "digits_images.yaml").read_text().replace("../data/digits/", "digits/")
    (tmp_path / "m.yaml").write_text(text)
    (tmp_path / "digits" / "images" / "digit-0007.png").unlink()
    with pytest.raises(DataError, match=r"1 image file\(s\) do not exist .*e\.g\. ids \['digit-0007'\]"):
        load_dataset(tmp_path / "m.yaml")
