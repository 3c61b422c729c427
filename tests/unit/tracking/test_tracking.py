from evalkit import tracking


def test_metric_key_sanitises_and_stays_distinct():
    a = tracking.metric_key("by_group", "age_band", "65+", "recall")
    b = tracking.metric_key("by_group", "age_band", "65_", "recall")
    c = tracking.metric_key("by_group", "age_band", "65&", "recall")
    assert a.startswith("by_group/age_band/65_-") and a.endswith("/recall")
    assert b == "by_group/age_band/65_/recall"
    assert len({a, b, c}) == 3


def test_metric_key_keeps_allowed_characters():
    assert tracking.metric_key("by_group", "race", "Asian-Pac-Islander", "f1") == "by_group/race/Asian-Pac-Islander/f1"


def test_tracking_uri_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/x.db")
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/x.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking.tracking_uri() == tracking.default_tracking_uri()
    assert tracking.default_tracking_uri().endswith("/mlflow/mlflow.db")


def test_client_modules_name_the_store_a_client_imports(monkeypatch, tmp_path):
    """A database URI's client imports MLflow's SQLAlchemy stores; a server's or a folder's does not. Each name
    exists in the installed MLflow: ``python -m evalkit`` imports them before its checks (_io.preimport)."""
    import importlib.util

    stores = ("mlflow", "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store")
    for uri, expected in ((f"sqlite:///{tmp_path}/x.db", stores), ("postgresql+psycopg2://u@h/db", stores),
                          ("http://127.0.0.1:5000", ("mlflow",)), (f"file://{tmp_path}/mlruns", ("mlflow",))):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        assert tracking.client_modules() == expected, uri
    assert all(importlib.util.find_spec(name) is not None for name in stores)


def test_experiment_gets_explicit_artifact_location(mlflow_store):
    exp_id = tracking.experiment_id("t")
    exp = tracking.client().get_experiment(exp_id)
    assert exp.artifact_location.startswith("file://") and exp.artifact_location.endswith("/artifacts")
    assert tracking.experiment_id("t") == exp_id
