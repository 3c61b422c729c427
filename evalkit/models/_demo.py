"""The shipped demo models: trained deterministically on the Adult training split, saved with skops
and registered in the MLflow model registry, so that a fresh clone has models to evaluate."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .._io import atomic_write_bytes
from ..data import Dataset, load_dataset

#: Training manifest of the demo models, relative to the project root.
TRAIN_MANIFEST = Path("data_manifests") / "adult_train.yaml"
#: Registered name of each demo model.
DEMO_MODELS: tuple[str, ...] = ("adult-logreg", "adult-hgb")


def _columns(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    return numeric, [c for c in X.columns if c not in numeric]


def _logreg(X: pd.DataFrame):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric, categorical = _columns(X)
    prep = make_column_transformer(
        (StandardScaler(), numeric),
        (OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20), categorical),
    )
    return make_pipeline(prep, LogisticRegression(max_iter=2000))


def _hgb(X: pd.DataFrame):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    numeric, categorical = _columns(X)
    prep = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1),
         categorical),
        ("passthrough", numeric),
        verbose_feature_names_out=False,
    )
    hgb = HistGradientBoostingClassifier(
        categorical_features=list(range(len(categorical))), max_iter=200, random_state=0
    )
    return make_pipeline(prep, hgb)


_BUILDERS: dict[str, Callable[[pd.DataFrame], object]] = {"adult-logreg": _logreg, "adult-hgb": _hgb}


def train_demo_model(name: str, train: Dataset):
    """Fit demo model ``name`` on ``train`` (deterministic: fixed seeds, fixed data)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown demo model {name!r}; expected one of {list(DEMO_MODELS)}")
    model = _BUILDERS[name](train.features)
    return model.fit(train.features, train.y_true)


#: The distributions a served or reloaded demo model needs (skops format, scikit-learn estimators).
MODEL_DISTRIBUTIONS = ("mlflow", "numpy", "pandas", "scikit-learn", "scipy", "skops")


def model_requirements() -> list[str]:
    """The pip requirements logged with a model: :data:`MODEL_DISTRIBUTIONS` pinned to the installed versions.

    Stated rather than inferred: MLflow's inference imports the model in a subprocess (about 6 s per model)
    and lists whatever that process happened to import (pytest, dask …).
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_DISTRIBUTIONS]


def register_model(model, name: str, train: Dataset, *, path: Path, experiment: str = "evalkit-demo-models") -> str:
    """Save a fitted scikit-learn model with skops at ``path`` and register it as a new version of ``name``.

    The model is logged with :func:`mlflow.sklearn.log_model` in skops format (never pickle), with a
    signature inferred from ``train`` and the requirements of :func:`model_requirements`, in a run of
    ``experiment`` that records the training data's sha256. Its pyfunc flavour predicts ``predict_proba``.

    Returns
    -------
    str
        The new version.
    """
    import skops.io as sio
    from mlflow.models import infer_signature

    import mlflow

    from .. import tracking

    path = atomic_write_bytes(path, sio.dumps(model))
    trusted = sio.get_untrusted_types(data=path.read_bytes())
    X = train.features.head(20)
    with warnings.catch_warnings():  # MLflow's hint that integer columns cannot hold missing values
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer", category=UserWarning)
        signature = infer_signature(X, model.predict_proba(X))
    tracking.client()
    exp = tracking.experiment_id(experiment)
    with mlflow.start_run(experiment_id=exp, run_name=f"train-{name}") as run:
        mlflow.log_params({"train_dataset": train.name, "train_sha256": train.manifest.sha256,
                           "estimator": type(model[-1] if hasattr(model, "steps") else model).__name__})
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=trusted,
            registered_model_name=name,
            pyfunc_predict_fn="predict_proba",
            signature=signature,
            pip_requirements=model_requirements(),
        )
    print(f"evalkit: registered {name} version {info.registered_model_version} (run {run.info.run_id})",
          file=sys.stderr)
    return str(info.registered_model_version)


def register_demo_models(names: tuple[str, ...] = DEMO_MODELS, *, out_dir: Path | None = None) -> dict[str, Path]:
    """Train the demo models, save them as ``models/<name>.skops`` and register them in MLflow
    (see :func:`register_model`).

    Returns
    -------
    dict of str to Path
        Name to the saved ``.skops`` file.
    """
    from .. import tracking

    root = tracking.project_root()
    out_dir = out_dir or root / "models"
    train = load_dataset(root / TRAIN_MANIFEST)
    saved = {}
    for name in names:
        print(f"evalkit: training demo model {name} on {train.name} ({len(train)} rows)", file=sys.stderr)
        model = train_demo_model(name, train)
        register_model(model, name, train, path=out_dir / f"{name}.skops")
        saved[name] = out_dir / f"{name}.skops"
    return saved
