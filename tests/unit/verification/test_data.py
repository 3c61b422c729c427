"""Verification data: the manifest kind, strict checks naming file, row and column, and the shipped demo
(evalkit/verification/_data.py)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import yaml

from evalkit import DataError, ManifestError
from evalkit._io import sha256_file
from evalkit.settings import VerificationSettings
from evalkit.verification import (
    evaluate_verification,
    load_verification,
    make_verification_set,
)
from tests.conftest import ROOT

DEMO = ROOT / "data_manifests" / "verification_demo.yaml"


def _write(tmp_path, samples: pd.DataFrame, comparisons: pd.DataFrame | None = None, templates=None, **extra):
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    samples.to_csv(folder / "samples.csv", index=False)
    doc = {"kind": "verification", "name": "t", "source": "benchmark", "license": "CC0-1.0",
           "samples": {"path": "data/samples.csv", "sha256": sha256_file(folder / "samples.csv"), "format": "csv"},
           "sensitive_features": ["group"], **extra}
    if comparisons is not None:
        comparisons.to_csv(folder / "comparisons.csv", index=False)
        doc["comparisons"] = {"path": "data/comparisons.csv", "sha256": sha256_file(folder / "comparisons.csv"),
                              "format": "csv"}
        doc.setdefault("score_range", [-1.0, 1.0])
    if templates is not None:
        np.save(folder / "templates.npy", templates)
        doc["templates"] = {"path": "data/templates.npy", "sha256": sha256_file(folder / "templates.npy"),
                            "format": "npy"}
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def small(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(tmp_path))
    samples, templates = make_verification_set(30, 3, dim=8, seed=1)
    i, j = np.triu_indices(len(samples), 1)
    comps = pd.DataFrame({"probe": samples["sample"].to_numpy()[i], "reference": samples["sample"].to_numpy()[j],
                          "score": np.einsum("ij,ij->i", templates[i], templates[j]).round(6)})
    return samples, templates, comps


def test_comparisons_and_templates_forms_agree(tmp_path, small):
    samples, templates, comps = small
    a = load_verification(_write(tmp_path, samples, comparisons=comps))
    (tmp_path / "t").mkdir()
    b = load_verification(_write(tmp_path / "t", samples, templates=templates))
    assert a.counts.n_genuine == b.counts.n_genuine == 30 * 3
    assert a.counts.n_impostor == b.counts.n_impostor == len(comps) - 90
    assert set(a.sha256) == {"samples", "comparisons"} and set(b.sha256) == {"samples", "templates"}


@pytest.mark.parametrize("change, message, column", [
    (lambda s, c: (s, c.assign(probe=c.probe.where(c.index != 5, "nobody"))), r"row 7 names sample 'nobody', "
     r"which is not in the samples table", "probe"),
    (lambda s, c: (s.assign(group=s.group.where(s.index != 1, "Z")), c), r"subject 's00000' has conflicting values",
     "group"),
    (lambda s, c: (s, c.assign(reference=c.reference.where(c.index != 3, c.probe))), r"row 5 compares sample .* "
     r"with itself", "reference"),
    (lambda s, c: (s, pd.concat([c, c.iloc[[4]]], ignore_index=True)), r"repeats the comparison", "probe"),
    (lambda s, c: (s, c.assign(score=c.score.astype(str).where(c.index != 2, "0,5"))), r"row 4: score '0,5' is not "
     r"a finite number", "score"),
    (lambda s, c: (s, c.assign(score=c.score.where(c.index != 2, 7.0))), r"outside score_range", "score"),
    (lambda s, c: (s.assign(group=s.group.where(s.subject != "s00000", "solo")), c), r"group 'solo' has 1 subject",
     "group"),
    (lambda s, c: (s.assign(sample=s["sample"].where(s.index != 1, s["sample"][0])), c), r"appears twice", "sample"),
])
def test_bad_data_are_refused_naming_row_and_column(tmp_path, small, change, message, column):
    samples, _, comps = small
    samples, comps = change(samples.copy(), comps.copy())
    with pytest.raises(DataError, match=message) as err:
        load_verification(_write(tmp_path, samples, comparisons=comps))
    assert err.value.column == column


def test_bad_manifests_and_files(tmp_path, small):
    samples, templates, comps = small
    path = _write(tmp_path, samples, comparisons=comps, templates=templates)
    with pytest.raises(ManifestError, match="exactly one of 'comparisons'"):
        load_verification(path)
    path = _write(tmp_path, samples, templates=templates[:-1])
    with pytest.raises(DataError, match=r"expected a float array of 90 rows"):
        load_verification(path)
    path = _write(tmp_path, samples, comparisons=comps)
    (tmp_path / "data" / "comparisons.csv").write_text("probe,reference,score\n")
    with pytest.raises(DataError, match="sha256 mismatch"):
        load_verification(path)
    doc = yaml.safe_load(path.read_text())
    doc["colour"] = "red"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ManifestError, match=r"key 'colour': unknown key\(s\) \['colour'\]"):
        load_verification(path)


def test_sampled_impostor_pairs_are_stated_and_seeded(tmp_path, small):
    samples, templates, _ = small
    path = _write(tmp_path, samples, templates=templates)
    a = load_verification(path, settings=VerificationSettings(impostor_pairs=500, seed=1))
    b = load_verification(path, settings=VerificationSettings(impostor_pairs=500, seed=1))
    assert a.counts.n_impostor == 500 and "500 sampled impostor pairs (seed 1)" in a.counts.similarity
    assert np.array_equal(a.counts.tail_score, b.counts.tail_score)


def test_shipped_demo_shows_its_injected_effects():
    data = load_verification(DEMO)
    assert data.counts.n_impostor == 4000 * 3999 // 2 - 1000 * 6 and data.counts.n_genuine == 6000
    res = evaluate_verification(data.counts, fmr_targets=(1e-3,), n_boot=100)
    part = res.readings.xs((1e-3, "group"), level=("target", "feature"))
    assert part["fnmr_low"].idxmax() == "B" and part["fmr_same_low"].idxmax() == "C"
    sex = res.inequity.loc[(1e-3, "sex", "fnmr", "max_geomean_ratio"), "value"]
    assert sex < 1.5  # no effect injected on sex
