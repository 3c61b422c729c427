"""Shared fixtures: a throw-away MLflow store per test (or per session for the slow end-to-end tests),
the shipped Adult data, and synthetic data with a known injected bias."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evalkit.synthetic import make_biased_scores, write_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]
ADULT_TEST = ROOT / "data_manifests" / "adult_test.yaml"
ADULT_TRAIN = ROOT / "data_manifests" / "adult_train.yaml"


def _store_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A fresh SQLite MLflow store for one test; ``MLFLOW_TRACKING_URI`` points at it."""
    uri = _store_uri(tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory) -> str:
    """One SQLite MLflow store for the session, with the demo models registered once."""
    uri = _store_uri(tmp_path_factory.mktemp("store"))
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    from evalkit.demo import register_demo_models

    register_demo_models(out_dir=tmp_path_factory.mktemp("models"))
    yield uri
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture
def use_shared_store(shared_store, monkeypatch) -> str:
    """Point ``MLFLOW_TRACKING_URI`` at the session store for this test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store)
    return shared_store


@pytest.fixture
def biased():
    """2,000 synthetic samples; group B's positives have their scores lowered (known lower recall)."""
    return make_biased_scores(2000, seed=7)


@pytest.fixture
def synthetic_dataset(tmp_path):
    """(manifest, predictions file) of a synthetic dataset written like a user's own."""
    return write_synthetic_dataset(tmp_path / "synthetic", make_biased_scores(1500, seed=3))
