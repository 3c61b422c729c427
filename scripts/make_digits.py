"""Build the small image evaluation set ``data/digits/`` from scikit-learn's bundled digits data.

scikit-learn ships the UCI "Optical Recognition of Handwritten Digits" test set (1,797 8x8 images,
CC BY 4.0, Alpaydin & Kaynak 1998, doi:10.24432/C50P49) inside its wheel, so this needs no network.

- Task: is the digit 5 or more? (``label``: ``high``/``low``).
- Group: ``ink``, the image's total ink in tertiles (``light``/``medium``/``heavy``), a property of
  the image itself, so per-group metrics show whether faint or heavy strokes are read worse.
- Images: the last 400 digits, upscaled to 32x32 grayscale PNGs in ``images/`` (PNG has no
  timestamps, so the files are reproducible); pixels also as columns ``p00`` ... ``p63``.
- Model: a logistic regression trained on the other 1,397 digits, saved with skops as
  ``digits_logreg.skops`` (``make report MODEL=data/digits/digits_logreg.skops DATA=data_manifests/digits_images.yaml``).

Usage: ``python scripts/make_digits.py`` (writes ``data/digits/`` and ``data_manifests/digits_images.yaml``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "digits"
N_TEST = 400


def main() -> None:
    import skops.io as sio

    from evalkit._io import sha256_file
    from evalkit.schema import infer_schema

    digits = load_digits()
    x, target = digits.data, digits.target
    label = np.where(target >= 5, "high", "low")
    columns = [f"p{i:02d}" for i in range(64)]
    train, test = slice(0, len(x) - N_TEST), slice(len(x) - N_TEST, len(x))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(pd.DataFrame(x[train], columns=columns), (label[train] == "high").astype(int))
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    sio.dump(model, OUT / "digits_logreg.skops")
    ink = x[test].sum(axis=1)
    cuts = np.quantile(ink, [1 / 3, 2 / 3])
    rows = []
    for i, (pixels, lab, total) in enumerate(zip(x[test], label[test], ink, strict=True), start=1):
        name = f"images/digit-{i:04d}.png"
        img = Image.fromarray((255 - pixels.reshape(8, 8) * 255 / 16).astype(np.uint8), mode="L")
        img.resize((32, 32), Image.NEAREST).save(OUT / name, optimize=True)
        band = "light" if total < cuts[0] else "medium" if total < cuts[1] else "heavy"
        rows.append({"id": f"digit-{i:04d}", "label": lab, "ink": band, "image": name,
                     **{c: int(v) for c, v in zip(columns, pixels, strict=True)}})
    frame = pd.DataFrame(rows)
    frame.to_csv(OUT / "digits.csv", index=False)
    doc = {
        "name": "digits_images", "source": "benchmark",
        "description": "400 handwritten digits as 32x32 PNGs (scikit-learn's bundled UCI digits): is the digit 5 or more? "
                       "Group: ink (stroke weight tertile). Made by scripts/make_digits.py.",
        "path": "../data/digits/digits.csv", "sha256": sha256_file(OUT / "digits.csv"),
        "size_bytes": (OUT / "digits.csv").stat().st_size, "format": "csv", "id_column": "id",
        "label_column": "label", "positive_label": "high", "label_values": ["high", "low"],
        "sensitive_features": ["ink"], "image_column": "image",
        "image_features": {"size": [8, 8], "max_value": 16, "invert": True}, "feature_columns": columns,
        "license": "CC BY 4.0",
        "citation": "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI Machine "
                    "Learning Repository. doi:10.24432/C50P49",
        "schema": infer_schema(pd.read_csv(OUT / "digits.csv", dtype=str, keep_default_na=False)),
    }
    (ROOT / "data_manifests" / "digits_images.yaml").write_text(
        "# The image evaluation set: rows point at PNGs in data/digits/images/ (image_column).\n"
        + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=110))


if __name__ == "__main__":
    main()
