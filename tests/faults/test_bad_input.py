"""Bad input, one case each: a clear message naming the file, column, key or parameter with what was
expected and found, a non-zero exit, no report written, no run left RUNNING."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit import DataError, ManifestError, ModelError, ReportError
from evalkit._io import sha256_file
from evalkit.runner import run_report
from evalkit.data import make_biased_scores

from tests.conftest import ROOT, SMALL_MANIFEST, evalkit_command, write_small_case
from tests.faults.conftest import assert_nothing_half_written, runs

pytestmark = pytest.mark.faults

GOOD = SMALL_MANIFEST


@pytest.fixture
def case(tmp_path, mlflow_store):
    """A folder with a good synthetic dataset (d.csv, d.yaml) and its scores (scores.csv)."""
    return write_small_case(tmp_path)


def _rewrite_data(folder: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / "d.csv", index=False)
    text = (folder / "d.yaml").read_text().splitlines()
    text = [f"sha256: {sha256_file(folder / 'd.csv')}" if t.startswith("sha256:") else t for t in text]
    (folder / "d.yaml").write_text("\n".join(text) + "\n")


def _data(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "d.csv", dtype=str, keep_default_na=False)


def _fails(folder: Path, error, match: str, *, model: str | None = None, data: Path | None = None, **kw):
    out = folder / "reports"
    with pytest.raises(error, match=match):
        run_report(model or str(folder / "scores.csv"), data or folder / "d.yaml", output_root=out,
                   progress=False, **kw)
    assert_nothing_half_written(out)


def _manifest_edit(folder: Path, old: str, new: str) -> None:
    p = folder / "d.yaml"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new))


def test_good_case_passes(case):
    result = run_report(str(case / "scores.csv"), case / "d.yaml", output_root=case / "reports", progress=False)
    assert result.html.is_file() and runs("FINISHED")


def test_manifest_missing(case):
    _fails(case, ManifestError, r"nope\.yaml: manifest file not found", data=case / "nope.yaml")


def test_manifest_unparseable(case):
    (case / "d.yaml").write_text("name: [d\nsource: x\n")
    _fails(case, ManifestError, r"d\.yaml: not valid YAML")


def test_manifest_duplicate_key(case):
    (case / "d.yaml").write_text((case / "d.yaml").read_text() + "source: benchmark\n")
    _fails(case, ManifestError, r"d\.yaml: not valid YAML: .*duplicate key 'source'")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("name: d", "name: NO", r"key 'name': expected a string, found bool False \(quote"),
        ("name: d", "name: 0777", r"key 'name': expected a string, found int 511 \(quote"),
        ("name: d", "name: 2024-01-31", r"key 'name': expected a string, found date datetime.date\(2024, 1, 31\) \(quote"),
        ('positive_label: "pos"', "positive_label: yes", r"key 'positive_label': expected a string or integer, found bool True"),
    ],
)
def test_manifest_values_yaml_retypes(case, old, new, match):
    _manifest_edit(case, old, new)
    _fails(case, ManifestError, match)


def test_manifest_unknown_key(case):
    (case / "d.yaml").write_text((case / "d.yaml").read_text() + "weights: w\n")
    _fails(case, ManifestError, r"key 'weights': unknown key\(s\) \['weights'\]; allowed keys are")


def test_manifest_missing_key(case):
    _manifest_edit(case, "id_column: id\n", "")
    _fails(case, ManifestError, r"key 'id_column': missing required key\(s\) \['id_column'\]")


def test_path_escaping_with_dotdot(case):
    _manifest_edit(case, "path: d.csv", "path: " + "../" * 12 + "etc/passwd")
    _fails(case, ManifestError, r"key 'path': path '(\.\./)+etc/passwd' resolves to /etc/passwd, outside the data folders")


def test_path_escaping_through_symlink(case, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.csv"
    shutil.copy(case / "d.csv", outside)
    (case / "link.csv").symlink_to(outside)
    _manifest_edit(case, "path: d.csv", "path: link.csv")
    _fails(case, ManifestError, r"key 'path': path 'link\.csv' resolves to .*secret\.csv, outside the data folders")


def test_absolute_path_and_url(case):
    _manifest_edit(case, "path: d.csv", "path: https://example.org/d.csv")
    _fails(case, ManifestError, r"key 'path': expected a path relative to the manifest, found 'https://")


def test_sha256_mismatch(case):
    (case / "d.csv").write_text((case / "d.csv").read_text().replace("s000001", "s999999"))
    _fails(case, DataError, r"d\.csv: sha256 mismatch: the manifest d\.yaml expects [0-9a-f]{64}, the file has [0-9a-f]{64}")


def test_size_mismatch(case):
    (case / "d.yaml").write_text((case / "d.yaml").read_text() + "size_bytes: 12\n")
    _fails(case, DataError, r"d\.csv: size is \d+ bytes, the manifest says 12")


def test_truncated_file(case):
    raw = (case / "d.csv").read_bytes()
    (case / "d.csv").write_bytes(raw[: len(raw) // 2] + b'"unterminated')
    text = [f"sha256: {sha256_file(case / 'd.csv')}" if t.startswith("sha256:") else t
            for t in (case / "d.yaml").read_text().splitlines()]
    (case / "d.yaml").write_text("\n".join(text) + "\n")
    _fails(case, DataError, r"d\.csv: cannot be read as csv")


def test_zero_rows(case):
    _rewrite_data(case, _data(case).iloc[0:0])
    _fails(case, DataError, r"d\.csv: the file has a header but zero rows")


def test_missing_column_lists_available(case):
    _rewrite_data(case, _data(case).drop(columns=["band"]))
    _fails(case, DataError, r"column 'band': column missing \(named in d\.yaml\); available columns: \['id', 'label', 'group'\]")


def test_duplicate_ids(case):
    frame = _data(case)
    frame.loc[3, "id"] = frame.loc[2, "id"]
    _rewrite_data(case, frame)
    _fails(case, DataError, r"column 'id': 2 rows share an id; ids must be unique, e.g. \['s000002'\]")


def test_nan_labels_counted_with_ids(case):
    frame = _data(case)
    frame.loc[[4, 9], "label"] = ""
    _rewrite_data(case, frame)
    _fails(case, DataError, r"column 'label': 2 missing values, expected none; e.g. ids \['s000004', 's000009'\]")


def test_labels_outside_declared_set(case):
    frame = _data(case)
    frame.loc[7, "label"] = "maybe"
    _rewrite_data(case, frame)
    _fails(case, DataError, r"column 'label': 1 labels outside the declared label_values \['pos', 'neg'\]: found \['maybe'\], e.g. ids \['s000007'\]")


@pytest.mark.parametrize("third", ["7", "pos.", "Pos", "NEG"])
def test_a_third_label_value_is_refused_not_counted_negative(case, third):
    """Without label_values, a value other than the positive one and one other used to become a negative."""
    _manifest_edit(case, 'label_values: ["pos", "neg"]\n', "")
    frame = _data(case)
    frame.loc[[7, 8], "label"] = third
    _rewrite_data(case, frame)
    _fails(case, DataError, rf"column 'label': 3 label values found \('pos', .*{third!r}.*\); a binary label column holds "
                            r"the positive_label 'pos' and one other value, and evalkit will not count several values "
                            rf"as negative silently: declare them with negative_labels: .*; e\.g\. .* at ids \[")
    assert runs("RUNNING") == [] and runs("FAILED") == []  # refused before any run


def test_negative_labels_declare_several_negatives(case):
    _manifest_edit(case, 'label_values: ["pos", "neg"]\n', 'negative_labels: ["neg", "unknown"]\n')
    frame = _data(case)
    frame.loc[[7, 8], "label"] = "unknown"
    _rewrite_data(case, frame)
    from evalkit import load_dataset

    ds = load_dataset(case / "d.yaml")
    assert ds.y_true[[7, 8]].tolist() == [0, 0]
    frame.loc[9, "label"] = "7"
    _rewrite_data(case, frame)
    _fails(case, DataError, r"column 'label': label '7' is neither the positive_label 'pos' nor one of negative_labels "
                            r"\['neg', 'unknown'\]; e\.g\. ids \['s000009'\]")


def test_negative_labels_must_not_hold_the_positive(case):
    _manifest_edit(case, 'label_values: ["pos", "neg"]\n', 'negative_labels: ["neg", "pos"]\n')
    _fails(case, ManifestError, r"key 'negative_labels': negative_labels \['neg', 'pos'\] must be a non-empty list "
                                r"without the positive_label 'pos'")


@pytest.mark.parametrize("engine", ["stream", "dask"])
def test_out_of_core_refuses_a_third_label_across_chunks(tmp_path, engine):
    """Each chunk holds one negative value, the file two: judged on the whole file, naming the first row."""
    from evalkit import evaluate
    from evalkit.data import write_dataset

    frame = make_biased_scores(4000, seed=2).drop(columns=["y"])
    frame.loc[3000:, "label"] = frame.loc[3000:, "label"].replace({"neg": "no"})
    fields = {"name": "three", "source": "benchmark", "description": "x", "id_column": "id", "label_column": "label",
              "positive_label": "pos", "sensitive_features": ["group", "band"], "license": "CC0-1.0"}
    manifest = write_dataset(frame, tmp_path / "three.csv", tmp_path / "three.yaml", fields=fields)
    first_no = int(np.flatnonzero(frame["label"].to_numpy() == "no")[0])
    with pytest.raises(DataError, match=rf"3 label values found .*'no' at row {first_no:,}"):
        evaluate("column:score", manifest, engine=engine, chunk_rows=1000, n_boot=0)


def test_an_unquoted_yaml_boolean_label_is_refused(case):
    _manifest_edit(case, 'positive_label: "pos"', "positive_label: true")
    _fails(case, ManifestError, r"key 'positive_label': expected a string or integer, found bool True \(quote the value "
                                r"so YAML keeps it as text\)")


@pytest.mark.parametrize("label", ["True", "true", "1"])
def test_boolean_looking_labels_are_text_not_coerced(case, label):
    """``positive_label: "True"`` is the text 'True'; labels 'true' or '1' are not it: refused by name."""
    _manifest_edit(case, 'positive_label: "pos"\nlabel_values: ["pos", "neg"]\n', 'positive_label: "True"\n')
    frame = _data(case)
    frame["label"] = np.where(frame["label"] == "pos", label, "false")
    _rewrite_data(case, frame)
    if label == "True":
        from evalkit import load_dataset

        assert load_dataset(case / "d.yaml").y_true.sum() == (frame["label"] == "True").sum()
    else:
        found = sorted(["false", label])
        _fails(case, DataError, rf"no row has the positive_label 'True'; labels found: \['{found[0]}', '{found[1]}'\]")


def test_ids_are_not_normalised_in_the_data_either(tmp_path, mlflow_store):
    """The same decomposed 'é' in data and predictions: byte-equal ids match (the data's ids are not
    normalised behind the user's back); a trailing space in the data is part of the id."""
    import unicodedata

    frame = make_biased_scores(200, seed=1)
    frame["id"] = [unicodedata.normalize("NFD", f"caf\u00e9-{i}") + (" " if i == 3 else "") for i in range(len(frame))]
    frame.drop(columns=["score", "y"]).to_csv(tmp_path / "d.csv", index=False)
    frame[["id", "score"]].to_csv(tmp_path / "scores.csv", index=False)
    (tmp_path / "d.yaml").write_text(GOOD.format(sha=sha256_file(tmp_path / "d.csv")))
    from evalkit import evaluate, load_dataset

    ds = load_dataset(tmp_path / "d.yaml")
    assert ds.ids[3].endswith(" ") and unicodedata.is_normalized("NFD", ds.ids[0])
    assert evaluate(str(tmp_path / "scores.csv"), tmp_path / "d.yaml", n_boot=0).n == 200


def test_missing_group_values(case):
    frame = _data(case)
    frame.loc[11, "group"] = " "
    _rewrite_data(case, frame)
    _fails(case, DataError, r"column 'group': 1 missing values, expected none; e.g. ids \['s000011'\]")


def test_single_group(case):
    frame = _data(case).assign(band="old")
    _rewrite_data(case, frame)
    _fails(case, DataError, r"column 'band': only one group \('old'\) in 400 rows; a sensitive feature needs at least two")


@pytest.mark.parametrize(("value", "what"), [(np.nan, "NaN"), (np.inf, "inf")])
def test_nan_or_inf_scores(case, value, what):
    scores = pd.read_csv(case / "scores.csv")
    scores.loc[5, "score"] = value
    scores.to_csv(case / "scores.csv", index=False)
    # checked before any run or kernel: no run at all
    _fails(case, ModelError, r"model '.*scores\.csv': column 'score' has 1 missing, non-numeric or infinite values, e\.g\. ids \['s000005'\]")
    assert runs("FAILED") == [] and runs("RUNNING") == []


@pytest.fixture
def kernels(monkeypatch):
    """Counts the kernels the run pipeline starts (the real warm_kernel, wrapped)."""
    from evalkit.runner import _pipeline

    started: list[Path] = []
    real = _pipeline.warm_kernel

    def counting(cwd, log, **kw):
        started.append(log)
        return real(cwd, log, **kw)

    monkeypatch.setattr(_pipeline, "warm_kernel", counting)
    return started


@pytest.mark.parametrize(("edit", "match"), [
    (lambda f: f.assign(score=f["score"].astype(object).where(f.index != 7, "high")),
     r"column 'score' has 1 missing, non-numeric or infinite values, e\.g\. ids \['s000007'\]"),
    (lambda f: f.drop(index=[3, 4]), r"no score for 2 of 400 ids of dataset 'd', e\.g\. \['s000003', 's000004'\]"),
])
def test_bad_predictions_file_starts_no_kernel(case, kernels, edit, match):
    """Issue 20: a predictions file's problems are found before any MLflow run or kernel starts, by the
    report and by the gate; a good file starts exactly one kernel."""
    from evalkit.gate import run_gate

    good = pd.read_csv(case / "scores.csv", dtype={"id": str})
    edit(good).to_csv(case / "scores.csv", index=False)
    _fails(case, ModelError, match)
    policy = case / "p.yaml"
    policy.write_text("settings: {n_boot: 0}\nrequirements:\n  - {name: auc, check: metric, metric: roc_auc, min: 0.5}\n")
    with pytest.raises(ModelError, match=match):
        run_gate(str(case / "scores.csv"), case / "d.yaml", policy=policy, output_root=case / "reports", progress=False)
    assert kernels == [] and runs("FAILED") == [] and runs("RUNNING") == []
    good.to_csv(case / "scores.csv", index=False)
    run_report(str(case / "scores.csv"), case / "d.yaml", output_root=case / "reports", progress=False, n_boot=0)
    assert len(kernels) == 1


@pytest.mark.parametrize(("change", "example"), [
    (lambda i: "0" + i, "s000000"),                                   # a leading zero
    (lambda i: i + " ", "s000000"),                                   # trailing whitespace
    (lambda i: i.replace("s", "\u0455", 1), "s000000"),               # a look-alike letter (Cyrillic dze)
])
def test_prediction_ids_must_match_exactly(case, change, example):
    """Ids are never normalised (groups are): a predictions file whose ids differ is refused up front."""
    scores = pd.read_csv(case / "scores.csv", dtype={"id": str})
    scores["id"] = scores["id"].map(change)
    scores.to_csv(case / "scores.csv", index=False)
    _fails(case, ModelError, rf"no score for 400 of 400 ids of dataset 'd', e\.g\. \['{example}'")
    assert runs("FAILED") == [] and runs("RUNNING") == []


def test_unicode_normalisation_of_ids_is_not_undone(tmp_path, mlflow_store):
    """'é' composed (NFC) in the data and decomposed (NFD) in the predictions: different ids, refused."""
    import unicodedata

    frame = make_biased_scores(200, seed=1)
    frame["id"] = [f"caf\u00e9-{i}" for i in range(len(frame))]
    frame.drop(columns=["score", "y"]).to_csv(tmp_path / "d.csv", index=False)
    preds = frame[["id", "score"]].assign(id=lambda f: f["id"].map(lambda v: unicodedata.normalize("NFD", v)))
    preds.to_csv(tmp_path / "scores.csv", index=False)
    (tmp_path / "d.yaml").write_text(GOOD.format(sha=sha256_file(tmp_path / "d.csv")))
    _fails(tmp_path, ModelError, r"no score for 200 of 200 ids of dataset 'd'")


def test_decimal_comma_scores_are_refused(case):
    scores = pd.read_csv(case / "scores.csv")
    scores["score"] = scores["score"].map(lambda v: f"{v:.4f}".replace(".", ","))
    scores.to_csv(case / "scores.csv", index=False)
    _fails(case, ModelError, r"column 'score' has 400 missing, non-numeric or infinite values")


def test_scores_outside_declared_range(case):
    scores = pd.read_csv(case / "scores.csv")
    scores["score"] = scores["score"] * 10 - 5  # logits-like
    scores.to_csv(case / "scores.csv", index=False)
    _fails(case, ModelError, r"\d+ scores lie outside the declared range \[0, 1\] \(found min .*, max .*\), e\.g\. ids \['s0000")
    result = run_report(str(case / "scores.csv"), case / "d.yaml", output_root=case / "ok", progress=False,
                        score_range=None)  # declared as any finite score: accepted
    assert result.html.is_file()


def test_model_that_does_not_match_features(case):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0]})
    sio.dump(LogisticRegression().fit(X, [0, 0, 1, 1]), case / "m.skops")
    # read from the file's schema before any run or kernel starts (evalkit.models.expected_columns)
    _fails(case, ModelError, r"the model expects column\(s\) \['income'\] that dataset 'd' does not have; its columns are \['id', 'label', 'group', 'band'\]",
           model=str(case / "m.skops"))
    assert runs() == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": float("nan")}, r"threshold must be a finite number, got nan"),
        ({"threshold": None}, r"threshold must be a finite number, got None"),
        ({"threshold": "0.5"}, r"threshold must be a finite number, got '0\.5'"),
        ({"min_group_size": 0}, r"min_group_size must be a positive integer, got 0"),
        ({"timeout": 0}, r"timeout must be a positive number of seconds, got 0"),
        ({"engine": "spark"}, r"engine must be one of \['vectorised', 'fairlearn', 'stream', 'dask'\], got 'spark'"),
        ({"score_range": (1, 0)}, r"score_range must be two finite numbers with low < high, got \(1, 0\)"),
        ({"threshold_rule": "fpr"}, r"threshold_rule must be one of 'fixed', 'eer', 'cost', 'fpr=<target>'"),
        ({"threshold_rule": "recall=2"}, r"threshold_rule 'recall=2': the target must be a number in \(0, 1\)"),
        ({"n_boot": 3}, r"n_boot must be 0 \(no intervals\) or an integer >= 20, got 3"),
        ({"ci_level": 0.3}, r"ci_level must be a number in \(0\.5, 1\), got 0\.3"),
        ({"fdr": 1.5}, r"fdr must be a number in \(0, 1\), got 1\.5"),
        ({"target_fpr": 0}, r"target_fpr must be a number in \(0, 1\), got 0"),
        ({"reference": {"group": "Z"}}, r"reference group 'Z' for feature 'group' does not exist; groups are \['A', 'B', 'C'\]"),
        ({"reference": {"colour": "Z"}}, r"reference names unknown feature\(s\) \['colour'\]"),
        ({"balance": "oversample"}, r"balance must be one of \['none', 'downsample', 'weights'\], got 'oversample'"),
        ({"balance": "downsample", "balance_by": "colour"}, r"balance_by must be a sensitive feature or intersection"),
        ({"balance": "weights", "balance_target": {"A": 1}},
         r"balance target must give a share for exactly the groups \['A', 'B', 'C'\]; unknown \[\], missing \['B', 'C'\]"),
    ],
)
def test_bad_settings(case, kwargs, match):
    _fails(case, ValueError, match, **kwargs)


def test_notebook_parameter_of_wrong_type_refused_before_kernel():
    from evalkit.runner import NOTEBOOK, check_parameters
    from evalkit.settings import EvaluationSettings

    with pytest.raises(ReportError, match=r"parameter 'settings' expects dict, got str 'threshold=0\.5'"):
        check_parameters(ROOT / NOTEBOOK, {"settings": "threshold=0.5"})
    with pytest.raises(ReportError, match=r"unknown parameter\(s\) \['thresold'\]"):
        check_parameters(ROOT / NOTEBOOK, {"thresold": 0.5})
    # the settings inside the dict are checked by EvaluationSettings, in the parent, before any kernel starts
    with pytest.raises(ValueError, match=r"threshold must be a finite number, got '0\.5'"):
        EvaluationSettings.build({"threshold": "0.5"})
    with pytest.raises(ValueError, match=r"min_group_size must be a positive integer, got 2\.5"):
        EvaluationSettings.build({"min_group_size": 2.5})
    with pytest.raises(TypeError, match=r"unknown EvaluationSettings setting\(s\) \['thresold'\]"):
        EvaluationSettings.build({"thresold": 0.5})
    check_parameters(ROOT / NOTEBOOK, {"settings": {"threshold": 1, "score_range": [0.0, 1.0]}, "model": {"a": 1}})


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--threshold", "nan"], 2, "argument --threshold: expected a finite number, got 'nan'"),
        (["--threshold"], 2, "argument --threshold: expected one argument"),
        (["--score-range", "1,0"], 2, "argument --score-range: expected two finite numbers with LOW < HIGH"),
        (["--timeout", "0"], 2, "argument --timeout: expected a positive number, got '0'"),
        (["--data", "nope.yaml"], 1, "nope.yaml: manifest file not found"),
        (["--threshold-rule", "fmr=0.1"], 1, "threshold_rule must be one of 'fixed', 'eer', 'cost'"),
        (["--reference", "group"], 2, "argument --reference: expected FEATURE=GROUP (e.g. sex=Male), got 'group'"),
        (["--n-boot", "-5"], 2, "argument --n-boot: expected 0 or more, got '-5'"),
        (["--ci-level", "95"], 2, "argument --ci-level: expected a number between 0 and 1, got '95'"),
        (["--metrics-config", "nope.yaml"], 1, "nope.yaml: metrics configuration file not found"),
        (["--balance-target", "A=x"], 2, "argument --balance-target: expected GROUP=SHARE,..."),
        (["--balance", "downsample", "--balance-by", "band&group"], 1, "balance_by must be a sensitive feature"),
    ],
)
def test_cli_exit_codes(case, args, code, message):
    res = evalkit_command("report", "--model", str(case / "scores.csv"), *args, cwd=case, env={**os.environ})
    assert res.returncode == code
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_a_gate_on_a_model_for_other_data_stops_before_any_run(case):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from evalkit.gate import run_gate

    sio.dump(LogisticRegression().fit(pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0]}), [0, 0, 1, 1]), case / "m.skops")
    policy = case / "gates.yaml"
    policy.write_text("policy: t\nrequirements:\n  - {name: auc, check: metric, metric: roc_auc, min: 0.5}\n")
    with pytest.raises(ModelError, match=r"the model expects column\(s\) \['income'\] that dataset 'd' does not have"):
        run_gate(str(case / "m.skops"), data=case / "d.yaml", policy=policy, staging="none",
                 output_root=case / "reports", progress=False)
    assert runs() == []
    assert_nothing_half_written(case / "reports")
