"""`evalkit data import`: chunked, reproducible (stratified) samples with a valid manifest."""


import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit import load_dataset
from evalkit.data import import_file, sample_rows

from tests.conftest import ROOT, evalkit_command


@pytest.fixture(autouse=True)
def _data_root(tmp_path, monkeypatch):
    """Data written under tmp_path is inside an allowed data folder (as EVALKIT_DATA_ROOT allows)."""
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(tmp_path))


@pytest.fixture
def big_csv(tmp_path):
    n = 2500
    frame = pd.DataFrame({
        "id": [f"u{i}" for i in range(n)],
        "outcome": ["yes" if i % 4 == 0 else "no" for i in range(n)],
        "region": ["NA" if i % 10 == 0 else "None" if i % 10 == 1 else "EU" for i in range(n)],  # text, kept exactly
        "age": [18 + i % 60 for i in range(n)],
        "amount": [round(i * 0.37, 2) if i % 13 else "" for i in range(n)],
    })
    path = tmp_path / "prod.csv"
    frame.to_csv(path, index=False)
    return path


def _import(big_csv, tmp_path, name, **kw):
    return import_file(big_csv, name=name, source="production", label_column="outcome", positive_label="yes",
                       sensitive_features=["region"], id_column="id", data_dir=tmp_path / "data" / name,
                       manifest_dir=tmp_path / "manifests", log=lambda m: None, **kw)


def test_sample_is_reproducible_and_independent_of_chunk_size(big_csv, tmp_path):
    a = _import(big_csv, tmp_path, "a", sample=300, seed=3, chunksize=97)
    b = _import(big_csv, tmp_path, "b", sample=300, seed=3, chunksize=5000)
    c = _import(big_csv, tmp_path, "c", sample=300, seed=4, chunksize=97)
    ids = [set(load_dataset(r.manifest_path).ids) for r in (a, b, c)]
    assert ids[0] == ids[1] != ids[2]
    assert a.rows_read == 2500 and a.rows_written == 300


def test_stratified_sample_keeps_shares(big_csv, tmp_path):
    r = _import(big_csv, tmp_path, "s", sample=500, stratify_by=["region"], seed=0, chunksize=300)
    ds = load_dataset(r.manifest_path)
    shares = ds.frame["region"].value_counts()
    assert shares.to_dict() == {"EU": 400, "NA": 50, "None": 50}  # 80/10/10 of the file, exactly
    assert r.strata == {"region=EU": 400, "region=NA": 50, "region=None": 50}


def test_strata_of_two_columns_name_each_value_and_a_missing_one(tmp_path):
    """The stratum keys as the row-by-row definition wrote them: ``column=value`` joined by ``&``, a Parquet null
    read as ``nan``, a value holding ``=`` or ``&`` kept as it is."""
    path = tmp_path / "p.parquet"
    pd.DataFrame({"id": range(5), "g": ["a", None, "a", "b", "x=y&z"], "h": ["x", "y", "x", "y", "y"]}).to_parquet(path)
    sample, read, strata = sample_rows(path, k=5, stratify_by=["g", "h"], chunksize=2)
    assert read == 5 and sample["id"].tolist() == ["0", "1", "2", "3", "4"]
    assert strata == {"g=a&h=x": 2, "g=b&h=y": 1, "g=nan&h=y": 1, "g=x=y&z&h=y": 1}


def test_manifest_has_sha_size_and_inferred_schema(big_csv, tmp_path):
    r = _import(big_csv, tmp_path, "m")
    doc = yaml.safe_load(r.manifest_path.read_text())
    assert doc["source"] == "production" and doc["size_bytes"] == r.data_path.stat().st_size
    assert doc["schema"]["age"] == {"type": "integer", "min": 18, "max": 77}
    assert doc["schema"]["amount"]["nullable"] is True
    assert doc["schema"]["region"]["allowed"] == ["EU", "NA", "None"]
    ds = load_dataset(r.manifest_path)
    assert len(ds) == 2500 and set(ds.sensitive["region"]) == {"EU", "NA", "None"}


def test_parquet_input(big_csv, tmp_path):
    pq = tmp_path / "prod.parquet"
    pd.read_csv(big_csv, dtype=str, keep_default_na=False).to_parquet(pq)
    r = import_file(pq, name="p", source="production", label_column="outcome", positive_label="yes",
                    sensitive_features=["region"], id_column="id", sample=100, data_dir=tmp_path / "d",
                    manifest_dir=tmp_path / "m", log=lambda m: None, chunksize=333)
    assert len(load_dataset(r.manifest_path)) == 100


def test_errors(big_csv, tmp_path):
    with pytest.raises(ValueError, match=r"prod.csv: column\(s\) \['gender'\] not found; columns are"):
        import_file(big_csv, name="x", source="production", label_column="outcome", positive_label="yes",
                    sensitive_features=["gender"], data_dir=tmp_path / "d", manifest_dir=tmp_path / "m")
    _import(big_csv, tmp_path, "dup")
    with pytest.raises(ValueError, match="dup.yaml already exists"):
        _import(big_csv, tmp_path, "dup")


def test_cli_import_prints_what_it_did(big_csv, tmp_path):
    res = evalkit_command("data", "import", str(big_csv), "--name", "cli",
                          "--label-column", "outcome", "--positive-label", "yes", "--sensitive", "region",
                          "--sample", "50", "--stratify-by", "region", "--data-dir", str(tmp_path / "d"),
                          "--manifest-dir", str(tmp_path / "m"), cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "wrote 50 rows to" in res.stdout and "region=EU: 40" in res.stdout


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# up to 120 rows: a chunk of one row costs pandas ~2 ms, and 400 rows read one at a time, twice, made single
# examples take 2 s and the test anywhere from 2 to 23 s; chunks still range from one row to more than the file
@given(n=st.integers(1, 120), k=st.integers(1, 150), chunk=st.integers(1, 140), seed=st.integers(0, 2**31),
       stratified=st.booleans())
def test_sampler_sizes_reproducibility_and_chunking(tmp_path, n, k, chunk, seed, stratified):
    path = tmp_path / f"s{n}.csv"
    if not path.exists():
        pd.DataFrame({"id": range(n), "g": [("a", "b", "c")[i % 3] for i in range(n)]}).to_csv(path, index=False)
    strat = ["g"] if stratified else []
    sample, read, strata = sample_rows(path, k=k, stratify_by=strat, seed=seed, chunksize=chunk)
    again, _, _ = sample_rows(path, k=k, stratify_by=strat, seed=seed, chunksize=max(1, chunk // 2 + 1))
    assert read == n and len(sample) == min(k, n)
    assert sample["id"].tolist() == again["id"].tolist()  # same seed, any chunk size: same rows
    assert sample["_row"].is_monotonic_increasing and sample["id"].is_unique
    if stratified:
        counts = pd.Series([("a", "b", "c")[i % 3] for i in range(n)]).value_counts()
        for g, kept in sample["g"].value_counts().items():
            assert abs(kept - min(k, n) * counts[g] / n) < 1 + 1e-9  # each stratum keeps its share (rounded)
