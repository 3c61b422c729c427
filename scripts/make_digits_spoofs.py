"""Build the presentation-attack set ``data/digits_spoof/`` from scikit-learn's bundled digits data.

The task of ``digits_images`` is "is the digit 5 or more?", and a positive answer means *accept*.
This set holds 150 genuine digits and 150 attacks that try to get a low digit, or a reproduction
of a high one, accepted:

- ``print``: a high digit printed and photographed again: lower contrast, blur and sensor noise;
- ``replay``: a high digit shown on a screen: moire stripes and a brightness shift;
- ``overlay``: a low digit with a high digit blended over it (a forged sample).

Genuine digits are the first 150 of the 400 digits in ``digits_images``; attacks are made from the
other 250, so no attack copies a genuine sample. Every row carries the model's pixel columns
(``p00`` ... ``p63``, the image reduced as the manifest's ``image_features`` says), so
``data/digits/digits_logreg.skops`` scores it like any dataset. Group ``ink`` comes from the source
digit. Licence: CC BY 4.0, as the digits.

Usage: ``python scripts/make_digits_spoofs.py`` (writes ``data/digits_spoof/`` and
``data_manifests/digits_spoof.yaml``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image, ImageFilter
from sklearn.datasets import load_digits

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "digits_spoof"
SPEC = {"size": [8, 8], "max_value": 16, "invert": True}
N_TEST, N_GENUINE, N_PER_SPECIES = 400, 150, 50


def _image(pixels: np.ndarray) -> Image.Image:
    img = Image.fromarray((255 - pixels.reshape(8, 8) * 255 / 16).astype(np.uint8), mode="L")
    return img.resize((32, 32), Image.NEAREST)


def _print(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(0.8)), dtype=float)
    arr = 255 - (255 - arr) * 0.6 + rng.normal(0, 8, arr.shape)  # faded ink, sensor noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L")


def _replay(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img, dtype=float)
    rows, cols = np.indices(arr.shape)
    phase = rng.uniform(0, 2 * np.pi)
    moire = 18 * np.sin(0.9 * rows + 0.4 * cols + phase)
    return Image.fromarray(np.clip(arr * 0.9 + 20 + moire, 0, 255).astype(np.uint8), mode="L")


def _overlay(low: Image.Image, high: Image.Image) -> Image.Image:
    return Image.fromarray(np.minimum(np.asarray(low), np.asarray(high) * 0.5 + 127).astype(np.uint8), mode="L")


def main() -> None:
    from evalkit._io import sha256_file
    from evalkit.robustness import image_features
    from evalkit.schema import infer_schema

    digits = load_digits()
    x, target = digits.data[-N_TEST:], digits.target[-N_TEST:]
    ink = x.sum(axis=1)
    cuts = np.quantile(ink, [1 / 3, 2 / 3])
    band = np.where(ink < cuts[0], "light", np.where(ink < cuts[1], "medium", "heavy"))
    rng = np.random.default_rng(0)
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    columns = [f"p{i:02d}" for i in range(64)]
    rows, images = [], []
    for i in range(N_GENUINE):
        rows.append({"id": f"genuine-{i + 1:04d}", "label": "high" if target[i] >= 5 else "low", "ink": band[i],
                     "attack": "bona_fide"})
        images.append(_image(x[i]))
    rest = np.arange(N_GENUINE, N_TEST)
    high, low = rest[target[rest] >= 5], rest[target[rest] < 5]
    for species in ("print", "replay", "overlay"):
        for j in range(N_PER_SPECIES):
            h = high[rng.integers(len(high))]
            if species == "overlay":
                source = low[rng.integers(len(low))]
                img = _overlay(_image(x[source]), _image(x[h]))
            else:
                source = h
                img = (_print if species == "print" else _replay)(_image(x[h]), rng)
            rows.append({"id": f"{species}-{j + 1:04d}", "label": "high", "ink": band[source], "attack": species})
            images.append(img)
    for row, img in zip(rows, images, strict=True):
        row["image"] = f"images/{row['id']}.png"
        img.save(OUT / row["image"], optimize=True)
    pixels = image_features(images, SPEC, columns).round(4)
    frame = pd.concat([pd.DataFrame(rows), pixels], axis=1)
    frame.to_csv(OUT / "digits_spoof.csv", index=False)
    doc = {
        "name": "digits_spoof", "source": "corner_case",
        "description": "150 genuine digits and 150 presentation attacks (print, replay, overlay) made from scikit-learn's "
                       "bundled UCI digits; accept = 'digit is 5 or more'. Made by scripts/make_digits_spoofs.py.",
        "path": "../data/digits_spoof/digits_spoof.csv", "sha256": sha256_file(OUT / "digits_spoof.csv"),
        "size_bytes": (OUT / "digits_spoof.csv").stat().st_size, "format": "csv", "id_column": "id",
        "label_column": "label", "positive_label": "high", "label_values": ["high", "low"],
        "sensitive_features": ["ink"], "image_column": "image", "image_features": SPEC, "attack_column": "attack",
        "feature_columns": columns, "license": "CC BY 4.0",
        "citation": "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI Machine "
                    "Learning Repository. doi:10.24432/C50P49",
        "schema": infer_schema(pd.read_csv(OUT / "digits_spoof.csv", dtype=str, keep_default_na=False)),
    }
    (ROOT / "data_manifests" / "digits_spoof.yaml").write_text(
        "# Presentation attacks on the digits model: attack_column names the species (bona_fide for genuine).\n"
        + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=110))


if __name__ == "__main__":
    main()
