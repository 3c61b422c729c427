import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from evalkit import ModelError, load_dataset, resolve_model
from evalkit.models import check_model_file, expected_columns, load_estimator, load_scorer, safe_name, score

from tests.conftest import ADULT_TEST


@pytest.fixture
def tiny_model(tmp_path):
    X = pd.DataFrame({"age": [20, 30, 40, 50, 60, 70], "hours_per_week": [10, 20, 30, 40, 50, 60]})
    model = LogisticRegression().fit(X, [0, 0, 0, 1, 1, 1])
    path = tmp_path / "tiny.skops"
    sio.dump(model, path)
    return path, model


def test_skops_file_scores_dataset(tiny_model):
    path, model = tiny_model
    ref = resolve_model(str(path))
    assert (ref.kind, ref.name) == ("skops", "tiny")
    ds = load_dataset(ADULT_TEST)
    scores = score(ref, ds)
    expected = model.predict_proba(ds.frame[["age", "hours_per_week"]])[:, 1]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=0)


def test_scores_are_made_in_chunks_with_the_same_values(tiny_model, monkeypatch):
    """Scoring runs predict_proba on SCORE_CHUNK rows at a time (bounded memory); every score equals the one of a
    single call, and a failure in a later chunk still names the model."""
    from evalkit.models import _resolve

    path, model = tiny_model
    ds = load_dataset(ADULT_TEST)
    expected = model.predict_proba(ds.frame[["age", "hours_per_week"]])[:, 1]
    calls = []
    fit_predict = LogisticRegression.predict_proba
    monkeypatch.setattr(LogisticRegression, "predict_proba", lambda self, X: calls.append(len(X)) or fit_predict(self, X))
    monkeypatch.setattr(_resolve, "SCORE_CHUNK", 5_000)
    np.testing.assert_array_equal(score(resolve_model(str(path)), ds), expected)
    assert calls == [5_000, 5_000, 5_000, 1_281]
    monkeypatch.setattr(LogisticRegression, "predict_proba",
                        lambda self, X: fit_predict(self, X) if X.index[0] == 0 else 1 / 0)
    with pytest.raises(ModelError, match="scoring dataset 'adult_test' failed: ZeroDivisionError"):
        score(resolve_model(str(path)), ds)


def test_model_expecting_missing_columns(tmp_path):
    X = pd.DataFrame({"shoe_size": [1, 2, 3, 4]})
    path = tmp_path / "shoes.skops"
    sio.dump(LogisticRegression().fit(X, [0, 0, 1, 1]), path)
    with pytest.raises(ModelError, match=r"model '.*shoes.skops': the model expects column\(s\) \['shoe_size'\] that dataset 'adult_test' does not have; its columns are \['row_id'"):
        score(resolve_model(str(path)), load_dataset(ADULT_TEST))


def test_expected_columns_are_read_from_the_file_as_the_model_knows_them(tmp_path, tiny_model):
    """Without importing skops or loading the model: the estimator's, or a pipeline's first step's, names; None for
    a model fitted on an array (nothing to check before it loads)."""
    from sklearn.pipeline import make_pipeline

    assert expected_columns(resolve_model(str(tiny_model[0]))) == ["age", "hours_per_week"]
    frame = pd.DataFrame({"sex": ["a", "b", "a", "b"] * 5, "age": range(20), "race": ["x", "y"] * 10})
    y = [0, 1] * 10
    for name in ("onehot-sparse", "ordinal-dense"):
        model = _pipelines()[name]
        data = frame.assign(hours_per_week=1.0, capital_gain=0.0, workclass="w")
        path = tmp_path / f"{name}.skops"
        sio.dump(model.fit(data, y), path)
        assert expected_columns(resolve_model(str(path))) == list(model.feature_names_in_), name
    nested = make_pipeline(make_pipeline(_pipelines()["onehot-sparse"][0]), LogisticRegression())
    sio.dump(nested.fit(frame.assign(hours_per_week=1.0, capital_gain=0.0, workclass="w"), y), tmp_path / "n.skops")
    assert expected_columns(resolve_model(str(tmp_path / "n.skops"))) == list(nested.feature_names_in_)
    sio.dump(LogisticRegression().fit(np.arange(8.0).reshape(4, 2), [0, 0, 1, 1]), tmp_path / "array.skops")
    assert expected_columns(resolve_model(str(tmp_path / "array.skops"))) is None
    (tmp_path / "s.csv").write_text("id,score\n1,0.5\n")
    assert expected_columns(resolve_model(str(tmp_path / "s.csv"))) is None


def test_pickle_refused(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelError, match="pickle/joblib files can run arbitrary code when loaded and are refused"):
        resolve_model(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"model '.*nope.skops': file not found"):
        resolve_model(str(tmp_path / "nope.skops"))


def test_unknown_suffix(tmp_path):
    (tmp_path / "m.txt").write_text("hi")
    with pytest.raises(ModelError, match="unknown file type; expected a .skops model or a predictions file"):
        resolve_model(str(tmp_path / "m.txt"))


def test_not_a_skops_file(tmp_path):
    (tmp_path / "broken.skops").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="cannot be read as a skops file"):
        load_estimator(resolve_model(str(tmp_path / "broken.skops")))


def test_cheap_file_check(tiny_model, tmp_path):
    check_model_file(resolve_model(str(tiny_model[0])))  # a real skops file passes
    (tmp_path / "zip.skops").write_bytes(b"not a zip archive")
    with pytest.raises(ModelError, match=r"zip\.skops cannot be read as a skops file: File is not a zip file"):
        check_model_file(resolve_model(str(tmp_path / "zip.skops")))
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.skops", "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ModelError, match="no schema.json inside"):
        check_model_file(resolve_model(str(tmp_path / "other.skops")))


def test_untrusted_type_refused(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    sio.dump(FunctionTransformer(func=os.getcwd), path)  # a function outside scikit-learn and numpy
    with pytest.raises(ModelError, match=r"contains types evalkit does not trust: \[.*getcwd.\]"):
        load_estimator(resolve_model(str(path)))


def test_predictions_file(synthetic_dataset):
    manifest, preds = synthetic_dataset
    ds = load_dataset(manifest)
    ref = resolve_model(str(preds))
    assert (ref.kind, ref.name) == ("predictions", "synthetic_scores")
    expected = pd.read_csv(preds).set_index("id")["score"].reindex(ds.ids).to_numpy()
    np.testing.assert_array_equal(score(ref, ds), expected)


def test_predictions_parquet_in_other_order(synthetic_dataset, tmp_path):
    manifest, preds = synthetic_dataset
    frame = pd.read_csv(preds).sample(frac=1.0, random_state=0)
    frame.to_parquet(tmp_path / "p.parquet")
    ds = load_dataset(manifest)
    got = score(resolve_model(str(tmp_path / "p.parquet")), ds)
    np.testing.assert_array_equal(got, frame.set_index("id")["score"].reindex(ds.ids).to_numpy())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.iloc[5:], r"no score for 5 of 1500 ids of dataset 'synthetic', e.g. \['s000000'"),
        (lambda f: pd.concat([f, f.iloc[:2]]), r"2 repeated ids in column 'id'"),
        (lambda f: f.assign(score=f["score"].where(f.index != 3, np.nan)), r"column 'score' has 1 missing, non-numeric or infinite values, e.g. ids \['s000003'\]"),
        (lambda f: f.assign(score=f["score"].where(f.index != 4, np.inf)), r"1 missing, non-numeric or infinite"),
        (lambda f: f.rename(columns={"score": "prob"}), r"has no column 'score'; found \['id', 'prob'\]"),
    ],
)
def test_bad_predictions(synthetic_dataset, tmp_path, mutate, message):
    manifest, preds = synthetic_dataset
    bad = tmp_path / "bad.csv"
    mutate(pd.read_csv(preds)).to_csv(bad, index=False)
    with pytest.raises(ModelError, match=message):
        score(resolve_model(str(bad)), load_dataset(manifest))


def test_unknown_registered_name_lists_models(mlflow_store):
    with pytest.raises(ModelError, match=r"model 'no-such-model': .*no registered model named 'no-such-model' .*registered models: \[\]"):
        resolve_model("no-such-model")


def test_registered_demo_model_by_name_uri_and_alias(use_shared_store, tmp_path):
    from evalkit import tracking

    by_name = resolve_model("adult-logreg", download_dir=tmp_path / "a")
    assert (by_name.kind, by_name.name, by_name.version, by_name.uri) == ("registered", "adult-logreg", "1", "models:/adult-logreg/1")
    by_uri = resolve_model("models:/adult-logreg/1", download_dir=tmp_path / "b")
    assert by_uri.sha256 == by_name.sha256
    tracking.client().set_registered_model_alias("adult-logreg", "champion", "1")
    by_alias = resolve_model("models:/adult-logreg@champion", download_dir=tmp_path / "c")
    assert by_alias.version == "1"
    with pytest.raises(ModelError, match="models:/adult-logreg/7"):
        resolve_model("models:/adult-logreg/7")


def test_registered_demo_model_states_its_requirements(use_shared_store, tmp_path):
    """The model's requirements are the pinned installed versions of what loading it needs, not MLflow's
    guess from a subprocess's imports (which listed pytest and dask)."""
    from importlib.metadata import version

    import mlflow

    from evalkit.models import model_requirements

    path = mlflow.artifacts.download_artifacts("models:/adult-logreg/1", dst_path=str(tmp_path))
    listed = (Path(path) / "requirements.txt").read_text().split()
    assert listed == model_requirements()
    assert f"scikit-learn=={version('scikit-learn')}" in listed and f"skops=={version('skops')}" in listed
    assert not any(r.startswith(("pytest", "dask")) for r in listed)


def test_safe_name():
    assert safe_name("models:/a b/1") == "models_a_b_1"
    assert safe_name("../../etc") == "etc"


def _fitted(tmp_path, name, model, frame, y):
    path = tmp_path / f"{name}.skops"
    sio.dump(model.fit(frame, y), path)
    return load_scorer(resolve_model(str(path)), trusted_types=tuple(sio.get_untrusted_types(file=path)))


def _pipelines():
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric = ["age", "hours_per_week", "capital_gain"]
    categorical = ["sex", "race", "workclass"]
    return {
        # sparse output: the one-hot block is sparse and below the transformer's density threshold
        "onehot-sparse": make_pipeline(make_column_transformer(
            (StandardScaler(), numeric), (OneHotEncoder(handle_unknown="ignore"), categorical)),
            LogisticRegression(max_iter=500)),
        "ordinal-dense": make_pipeline(make_column_transformer((OrdinalEncoder(), categorical),
                                                               ("passthrough", numeric)),
                                       HistGradientBoostingClassifier(max_iter=20, random_state=0)),
        # the remainder's columns are given by position; one transformer reads a moving and a fixed column
        "remainder-mixed": make_pipeline(make_column_transformer((StandardScaler(), ["age", "sex_code"]),
                                                                 remainder="passthrough"),
                                         LogisticRegression(max_iter=500)),
    }


@pytest.mark.parametrize("name", ["onehot-sparse", "ordinal-dense", "remainder-mixed"])
def test_a_scorer_fixing_a_row_gives_the_models_own_scores(tmp_path, name):
    """``scorer.fixing(row, moving)`` transforms the columns that do not move once; its scores of frames that
    differ from ``row`` only in ``moving`` are the model's own, exactly, one row or many."""
    data = load_dataset(ADULT_TEST)
    columns = ["age", "hours_per_week", "capital_gain", "sex", "race", "workclass"]
    frame = data.features[columns].iloc[:3000].copy()
    if name == "remainder-mixed":
        frame = frame.assign(sex_code=(frame["sex"] == "Female").astype(float)).drop(columns=["sex", "race",
                                                                                               "workclass"])
    scorer = _fitted(tmp_path, name, _pipelines()[name], frame, data.y_true[:3000])
    moving = ["age", "hours_per_week", "capital_gain"]
    rng = np.random.default_rng(0)
    for i in (0, 17):
        row = frame.iloc[[i]].reset_index(drop=True)
        fast = scorer.fixing(row, moving)
        assert fast is not scorer  # the short path applies to every one of these pipelines
        # from the moving values alone, without a frame, unless a transformer also reads a fixed column
        values = getattr(fast, "from_values", None)
        assert (values is None) == (name == "remainder-mixed")
        for n in (1, 50):
            queries = row.iloc[np.zeros(n, dtype=np.intp)].reset_index(drop=True)
            for c in moving:
                queries[c] = row[c].iloc[0] + rng.normal(0, 10, n)
            np.testing.assert_array_equal(fast(queries), scorer(queries))
            if values is not None:
                np.testing.assert_array_equal(values(queries[moving].to_numpy(np.float64)), scorer(queries))


def test_the_short_path_from_values_is_not_offered_where_a_nested_step_knows_names(tmp_path, recwarn):
    """A moving transformer that is itself a pipeline still has steps fitted with feature names: fed arrays, they
    would warn on every query, so only the frame path is offered (and nothing is warned)."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = load_dataset(ADULT_TEST)
    frame = data.features[["age", "hours_per_week", "sex"]].iloc[:2000]
    first = make_column_transformer((make_pipeline(SimpleImputer(), StandardScaler()), ["age", "hours_per_week"]),
                                    (OneHotEncoder(), ["sex"]))
    scorer = _fitted(tmp_path, "nested", make_pipeline(first, LogisticRegression(max_iter=500)), frame,
                     data.y_true[:2000])
    row = frame.iloc[[3]].reset_index(drop=True)
    fast = scorer.fixing(row, ["age", "hours_per_week"])
    assert fast is not scorer and not hasattr(fast, "from_values")
    assert not [w for w in recwarn if "feature names" in str(w.message)]


def test_a_scorer_fixing_a_row_falls_back_to_the_model_where_it_cannot_split_it(tmp_path):
    """A model that is not a pipeline starting with a column transformer, or one whose columns are chosen by a
    slice or a boolean mask, is scored whole."""
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = load_dataset(ADULT_TEST)
    frame = data.features[["age", "hours_per_week", "sex"]].iloc[:2000]
    y = data.y_true[:2000]
    row = frame.iloc[[0]].reset_index(drop=True)
    plain = _fitted(tmp_path, "plain", LogisticRegression(max_iter=500), frame[["age", "hours_per_week"]], y)
    assert plain.fixing(row[["age", "hours_per_week"]], ["age"]) is plain
    for k, numbers in enumerate((slice(0, 2), [True, True, False])):
        first = make_column_transformer((StandardScaler(), numbers), (OneHotEncoder(), ["sex"]))
        model = make_pipeline(first, LogisticRegression(max_iter=500))
        scorer = _fitted(tmp_path, f"chosen{k}", model, frame, y)
        assert scorer.fixing(row, ["age"]) is scorer
