"""Finding a model, loading it safely, and scoring a dataset with it.

``MODEL`` can be given four ways (see :func:`resolve_model`): a registered model name, a
``models:/`` URI, a local ``.skops`` file, or a predictions file (CSV or Parquet with the manifest's
id column and a ``score`` column) for models built outside Python. Models load through skops with a
list of trusted types; pickle and joblib files are refused.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._io import sha256_file
from .data import Dataset
from .exceptions import ModelError

ModelKind = Literal["registered", "skops", "predictions"]
#: Column of a predictions file that holds the model score.
SCORE_COLUMN = "score"
_PREDICTION_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
_UNSAFE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle")
#: Types a skops file may contain beyond scikit-learn's own (``sklearn.*``) and numpy's.
TRUSTED_EXTRA_TYPES: frozenset[str] = frozenset({"functools.partial"})
_TRUSTED_PREFIXES = ("sklearn.", "numpy.")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: what the user asked for and the local file that answers it.

    Attributes
    ----------
    spec : str
        The model as the user gave it.
    name : str
        A short name, safe for folder names (``reports/<name>/``).
    kind : {"registered", "skops", "predictions"}
        How scores are obtained.
    path : Path
        The local ``.skops`` or predictions file.
    sha256 : str
        Checksum of :attr:`path`.
    uri : str or None
        The ``models:/name/version`` URI for registered models.
    version : str or None
        The registered model version.
    """

    spec: str
    name: str
    kind: ModelKind
    path: Path
    sha256: str
    uri: str | None = None
    version: str | None = None


def safe_name(text: str) -> str:
    """A folder- and MLflow-safe version of ``text``: letters, digits, ``_ . -``."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "model"
    return cleaned[:100]


def _strip_suffix(path: Path) -> str:
    name = path.name
    for suffix in (*_PREDICTION_SUFFIXES, ".skops"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _local_ref(spec: str, path: Path) -> ModelRef:
    name = path.name.lower()
    if name.endswith(_UNSAFE_SUFFIXES):
        raise ModelError(
            spec,
            "pickle/joblib files can run arbitrary code when loaded and are refused; "
            "save the model with skops (skops.io.dump) or give a predictions file",
        )
    if name.endswith(".skops"):
        kind: ModelKind = "skops"
    elif name.endswith(_PREDICTION_SUFFIXES):
        kind = "predictions"
    else:
        raise ModelError(
            spec, f"unknown file type; expected a .skops model or a predictions file ({', '.join(_PREDICTION_SUFFIXES)})"
        )
    return ModelRef(spec=spec, name=safe_name(_strip_suffix(path)), kind=kind, path=path.resolve(),
                    sha256=sha256_file(path))


def resolve_model(spec: str, *, download_dir: str | Path | None = None) -> ModelRef:
    """Turn a ``MODEL`` value into a local, checksummed model file.

    Parameters
    ----------
    spec : str
        One of: a local ``.skops`` file; a predictions file (``.csv``, ``.csv.gz``, ``.parquet``);
        a ``models:/<name>/<version or alias>`` URI; a registered model name (latest version). The
        shipped demo models (:data:`evalkit.demo.DEMO_MODELS`) are trained and registered on first
        use.
    download_dir : path-like, optional
        Where registered models are downloaded (a new temporary folder by default).

    Returns
    -------
    ModelRef

    Raises
    ------
    ModelError
        If the file does not exist or has an unsafe or unknown type, or no registered model has that
        name. The message lists what is available.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelError(str(spec), "expected a model name, models:/ URI, .skops file or predictions file")
    spec = spec.strip()
    path = Path(spec)
    if path.is_file():
        return _local_ref(spec, path)
    if spec.startswith("models:/"):
        return _registered_ref(spec, spec, download_dir)
    if "/" in spec or "\\" in spec or path.suffix:
        raise ModelError(spec, f"file not found (looked in {Path.cwd()})")
    return _registered_ref(spec, f"models:/{spec}/latest", download_dir)


def _registered_ref(spec: str, uri: str, download_dir: str | Path | None) -> ModelRef:
    from . import demo, tracking

    if spec in demo.DEMO_MODELS and spec not in tracking.registered_names():
        demo.register_demo_models((spec,))
    name, version = tracking.resolve_registered(spec, uri)
    target = Path(download_dir or tempfile.mkdtemp(prefix="evalkit-model-"))
    local = tracking.download_model(f"models:/{name}/{version}", target)
    skops_file = local / "model.skops"
    if not skops_file.is_file():
        raise ModelError(spec, f"registered version {version} has no model.skops (only skops models are loaded)")
    return ModelRef(spec=spec, name=safe_name(name), kind="registered", path=skops_file,
                    sha256=sha256_file(skops_file), uri=f"models:/{name}/{version}", version=str(version))


def check_model_file(ref: ModelRef) -> None:
    """A cheap check that a skops model file is a readable skops archive, without importing skops.

    :func:`load_estimator` does the full check (trusted types) when the model is loaded; this one lets
    the report pipeline refuse an unreadable file before it starts a run or a kernel.

    Raises
    ------
    ModelError
        If the file is not a zip archive with a skops ``schema.json``.
    """
    import zipfile

    if ref.kind == "predictions":
        return
    try:
        with zipfile.ZipFile(ref.path) as archive:
            if "schema.json" not in archive.namelist():
                raise ModelError(ref.spec, f"{ref.path} cannot be read as a skops file: no schema.json inside")
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelError(ref.spec, f"{ref.path} cannot be read as a skops file: {err}") from err


def load_estimator(ref: ModelRef) -> Any:
    """Load a skops model, trusting only scikit-learn and numpy types (and :data:`TRUSTED_EXTRA_TYPES`).

    Raises
    ------
    ModelError
        If the file is not a skops file, or contains any other type (which is named).
    """
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=ref.path)
    except Exception as err:  # skops raises zip, JSON and type errors for non-skops files
        raise ModelError(ref.spec, f"{ref.path} cannot be read as a skops file: {err}") from err
    refused = [t for t in untrusted if not (t.startswith(_TRUSTED_PREFIXES) or t in TRUSTED_EXTRA_TYPES)]
    if refused:
        raise ModelError(ref.spec, f"{ref.path} contains types evalkit does not trust: {refused}")
    try:
        return sio.load(ref.path, trusted=untrusted)
    except Exception as err:
        raise ModelError(ref.spec, f"{ref.path} could not be loaded: {err}") from err


def _positive_column(model: Any, spec: str, positive_label: str | int) -> int:
    classes = list(getattr(model, "classes_", []))
    for candidate in (positive_label, str(positive_label), 1, True):
        if candidate in classes:
            return classes.index(candidate)
    raise ModelError(spec, f"the model's classes {classes} contain neither the positive label "
                           f"{positive_label!r} nor 1")


def _score_estimator(ref: ModelRef, data: Dataset) -> np.ndarray:
    model = load_estimator(ref)
    if not hasattr(model, "predict_proba"):
        raise ModelError(ref.spec, f"{type(model).__name__} has no predict_proba; a scoring model is expected")
    wanted = list(getattr(model, "feature_names_in_", data.features.columns))
    missing = [c for c in wanted if c not in data.frame.columns]
    if missing:
        raise ModelError(
            ref.spec,
            f"the model expects column(s) {missing} that dataset '{data.name}' does not have; "
            f"its columns are {list(data.frame.columns)}",
        )
    try:
        proba = model.predict_proba(data.frame[wanted])
    except Exception as err:
        raise ModelError(ref.spec, f"scoring dataset '{data.name}' failed: {type(err).__name__}: {err}") from err
    return np.asarray(proba[:, _positive_column(model, ref.spec, data.manifest.positive_label)], dtype=np.float64)


def _score_predictions(ref: ModelRef, data: Dataset) -> np.ndarray:
    id_col = data.manifest.id_column
    try:
        if ref.path.name.lower().endswith((".parquet", ".pq")):
            preds = pd.read_parquet(ref.path)
            if id_col in preds.columns:
                preds[id_col] = preds[id_col].astype(str)
        else:
            preds = pd.read_csv(ref.path, dtype={id_col: str}, keep_default_na=False,
                                na_values={SCORE_COLUMN: ["", "nan", "NaN"]})
    except (ValueError, OSError, EOFError) as err:
        raise ModelError(ref.spec, f"cannot read predictions file {ref.path}: {err}") from err
    for col in (id_col, SCORE_COLUMN):
        if col not in preds.columns:
            raise ModelError(ref.spec, f"predictions file {ref.path} has no column '{col}'; "
                                       f"found {list(preds.columns)}")
    dup = preds[id_col].duplicated()
    if dup.any():
        raise ModelError(ref.spec, f"{int(dup.sum())} repeated ids in column '{id_col}', e.g. "
                                   f"{preds.loc[dup, id_col].head(5).tolist()}")
    scores = pd.to_numeric(preds[SCORE_COLUMN], errors="coerce")
    bad = ~np.isfinite(scores.to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        raise ModelError(ref.spec, f"column '{SCORE_COLUMN}' has {int(bad.sum())} missing, non-numeric or "
                                   f"infinite values, e.g. ids {preds.loc[bad, id_col].head(5).tolist()}")
    by_id = pd.Series(scores.to_numpy(dtype=np.float64), index=preds[id_col])
    aligned = by_id.reindex(data.ids)
    missing = aligned.isna().to_numpy()
    if missing.any():
        raise ModelError(ref.spec, f"no score for {int(missing.sum())} of {len(data)} ids of dataset "
                                   f"'{data.name}', e.g. {data.ids[missing].head(5).tolist()}")
    return aligned.to_numpy()


def score(ref: ModelRef, data: Dataset) -> np.ndarray:
    """Scores of ``ref`` for every sample of ``data``, in the dataset's row order.

    Parameters
    ----------
    ref : ModelRef
        From :func:`resolve_model`.
    data : Dataset
        From :func:`evalkit.load_dataset`.

    Returns
    -------
    ndarray of float64, shape (len(data),)
        Finite scores; higher means more likely positive.

    Raises
    ------
    ModelError
        If the model cannot be loaded or applied, or a predictions file misses ids, repeats them, or
        has non-finite scores.
    """
    scores = _score_predictions(ref, data) if ref.kind == "predictions" else _score_estimator(ref, data)
    if not np.isfinite(scores).all():
        raise ModelError(ref.spec, f"produced {int((~np.isfinite(scores)).sum())} non-finite scores")
    return scores
