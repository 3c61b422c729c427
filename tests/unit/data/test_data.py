import unicodedata

import numpy as np
import pandas as pd
import pytest

from evalkit import DataError, load_dataset
from evalkit._io import sha256_file
from evalkit.data import make_biased_scores

from tests.conftest import ADULT_TEST, ADULT_TRAIN, SMALL_MANIFEST


def _dataset(tmp_path, frame: pd.DataFrame, *, sha: str | None = None, extra: str = "") -> object:
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    manifest = tmp_path / "d.yaml"
    manifest.write_text(
        f"name: d\nsource: corner_case\npath: d.csv\nsha256: {sha or sha256_file(data)}\nformat: csv\n"
        "id_column: id\nlabel_column: y\npositive_label: 1\nsensitive_features: [g]\nlicense: CC0-1.0\n" + extra
    )
    return manifest


def _frame(**over):
    base = {"id": ["a", "b", "c", "d"], "y": [0, 1, 0, 1], "g": ["x", "x", "NA", "None"], "f": [1.0, 2.0, None, 4.0]}
    base.update(over)
    return pd.DataFrame(base)


def test_adult_test_loads_and_is_verified():
    ds = load_dataset(ADULT_TEST)
    assert len(ds) == 16281
    assert ds.y_true.sum() == 3846
    assert list(ds.sensitive.columns) == ["sex", "race", "age_band"]
    assert set(ds.sensitive["sex"]) == {"Male", "Female"}
    assert ds.ids.is_unique
    assert list(ds.features.columns) == list(ds.manifest.feature_columns)


def test_adult_train_loads():
    ds = load_dataset(ADULT_TRAIN)
    assert len(ds) == 32561
    assert ds.y_true.sum() == 7841


def test_group_values_stay_strings(tmp_path):
    ds = load_dataset(_dataset(tmp_path, _frame()))
    assert ds.sensitive["g"].tolist() == ["x", "x", "NA", "None"]
    assert np.isnan(ds.frame["f"][2])  # ordinary columns still read an empty field as missing
    assert ds.y_true.tolist() == [0, 1, 0, 1]


def test_group_values_nfc_normalised_and_trimmed(tmp_path):
    decomposed = unicodedata.normalize("NFD", "Zoë")
    ds = load_dataset(_dataset(tmp_path, _frame(g=[" Zoë", decomposed + " ", "x", "x"])))
    assert ds.sensitive["g"].tolist() == ["Zoë", "Zoë", "x", "x"]


def test_sha_mismatch(tmp_path):
    manifest = _dataset(tmp_path, _frame(), sha="f" * 64)
    with pytest.raises(DataError, match=r"d\.csv: sha256 mismatch: the manifest d\.yaml expects f{64}, the file has"):
        load_dataset(manifest)


def test_size_mismatch(tmp_path):
    manifest = _dataset(tmp_path, _frame(), extra="size_bytes: 3\n")
    with pytest.raises(DataError, match="bytes, the manifest says 3"):
        load_dataset(manifest)


def test_missing_data_file(tmp_path):
    manifest = _dataset(tmp_path, _frame())
    (tmp_path / "d.csv").unlink()
    with pytest.raises(DataError, match=r"d\.csv: data file not found"):
        load_dataset(manifest)


def test_missing_column_lists_available(tmp_path):
    with pytest.raises(DataError, match=r"column 'g': column missing .* available columns: \['id', 'y', 'f'\]") as info:
        load_dataset(_dataset(tmp_path, _frame().drop(columns="g")))
    assert info.value.column == "g"


def test_duplicate_ids(tmp_path):
    with pytest.raises(DataError, match=r"column 'id': 2 rows share an id.*\['a'\]"):
        load_dataset(_dataset(tmp_path, _frame(id=["a", "a", "c", "d"])))


def test_missing_label_counted_with_examples(tmp_path):
    with pytest.raises(DataError, match=r"column 'y': 1 missing values, expected none; e.g. ids \['b'\]"):
        load_dataset(_dataset(tmp_path, _frame(y=[0, None, 0, 1])))


def test_missing_group_value(tmp_path):
    with pytest.raises(DataError, match=r"column 'g': 1 missing values"):
        load_dataset(_dataset(tmp_path, _frame(g=["x", "", "y", "y"])))


def test_no_positive_label(tmp_path):
    with pytest.raises(DataError, match=r"no row has the positive_label '1'"):
        load_dataset(_dataset(tmp_path, _frame(y=[0, 0, 0, 0])))


def test_zero_rows(tmp_path):
    with pytest.raises(DataError, match="zero rows"):
        load_dataset(_dataset(tmp_path, _frame().iloc[0:0]))


def test_truncated_gzip(tmp_path):
    src = ADULT_TEST.parent.parent / "data" / "adult" / "adult_test.csv.gz"
    data = tmp_path / "t.csv.gz"
    data.write_bytes(src.read_bytes()[:20000])
    manifest = tmp_path / "t.yaml"
    text = ADULT_TEST.read_text().replace("../data/adult/adult_test.csv.gz", "t.csv.gz")
    text = text.replace("size_bytes: 247292\n", "")
    text = text.replace(load_dataset(ADULT_TEST).manifest.sha256, sha256_file(data))
    manifest.write_text(text)
    with pytest.raises(DataError, match="cannot be read as csv"):
        load_dataset(manifest)


def test_reading_parquet_gives_arrows_free_pages_back(tmp_path, monkeypatch):
    """After a Parquet file is read, the Arrow table's freed pages are returned (release_unused of Arrow's pool):
    once before the checks allocate, once after them; without pyarrow imported there is nothing to release and
    pyarrow is not imported for it."""
    import sys

    import pyarrow as pa

    from evalkit import _io

    released = []
    pool = pa.default_memory_pool()
    monkeypatch.setattr(pa, "default_memory_pool", lambda: type("Pool", (), {
        "release_unused": lambda self: released.append(pool.bytes_allocated())})())
    frame = make_biased_scores(200, seed=1).drop(columns=["score", "y"])
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    (tmp_path / "d.yaml").write_text(SMALL_MANIFEST.replace("d.csv", "d.parquet").replace("format: csv", "format: parquet")
                                     .format(sha=sha256_file(tmp_path / "d.parquet")))
    assert len(load_dataset(tmp_path / "d.yaml")) == 200
    assert len(released) == 2
    monkeypatch.delitem(sys.modules, "pyarrow")
    _io.release_free_memory()
    assert len(released) == 2 and "pyarrow" not in sys.modules
