"""Write the shipped verification demo (data/verification_demo/, data_manifests/verification_demo.yaml).

Synthetic face-verification templates from evalkit.verification.make_verification_set with known, injected
demographic differentials (the ground truth the report must show):

- group B: more within-subject noise, so a higher FNMR at every threshold;
- group C: identities that cluster together, so a higher same-group FMR (impostors of C match each other);
- sex: no effect.

Run: .venv/bin/python scripts/make_verification_demo.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from evalkit._io import sha256_file
from evalkit.verification import make_verification_set

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "verification_demo"
SETTINGS = dict(n_subjects=1000, samples_per_subject=4, dim=64, groups={"A": 0.5, "B": 0.3, "C": 0.2},
                spread={"A": 0.8, "B": 0.95, "C": 0.8}, concentration={"A": 0.0, "B": 0.0, "C": 0.45},
                other_features={"sex": {"F": 0.5, "M": 0.5}}, seed=2026)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    samples, templates = make_verification_set(**SETTINGS)
    samples.to_csv(OUT / "samples.csv", index=False)
    np.save(OUT / "templates.npy", templates)
    (OUT / "README.md").write_text(
        "# verification_demo\n\nSynthetic face-verification templates (64-d, unit length) of 1,000 subjects x 4 "
        "samples, made by `scripts/make_verification_demo.py` with `evalkit.verification.make_verification_set`.\n"
        "Injected effects: group B has more within-subject noise (higher FNMR), group C's identities cluster "
        "(higher same-group FMR); sex has no effect.\n\nLicence: CC0-1.0 (generated; no person's data).\n")
    manifest = {
        "kind": "verification", "name": "verification_demo", "source": "benchmark", "license": "CC0-1.0",
        "description": "synthetic face-verification templates with injected demographic differentials "
                       "(B: higher FNMR; C: higher same-group FMR; sex: none)",
        "system": "synthetic-embedder",
        "samples": {"path": "../data/verification_demo/samples.csv", "sha256": sha256_file(OUT / "samples.csv"),
                    "format": "csv"},
        "sample_column": "sample", "subject_column": "subject", "sensitive_features": ["group", "sex"],
        "templates": {"path": "../data/verification_demo/templates.npy",
                      "sha256": sha256_file(OUT / "templates.npy"), "format": "npy"},
    }
    text = "# yaml-language-server: $schema=../schemas/verification-manifest.schema.json\n" + \
        yaml.safe_dump(manifest, sort_keys=False)
    (ROOT / "data_manifests" / "verification_demo.yaml").write_text(text)
    print(f"wrote {OUT} and data_manifests/verification_demo.yaml")


if __name__ == "__main__":
    main()
