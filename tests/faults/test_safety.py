"""Hostile files and values: pickles, untrusted skops types, and HTML/script payloads in data."""

from __future__ import annotations

import joblib
import pandas as pd
import pytest

from evalkit import ModelError, tracking
from evalkit._io import sha256_file
from evalkit.models import load_estimator, resolve_model
from evalkit.runner import run_report
from evalkit.data import make_biased_scores

from tests.conftest import ADULT_TEST
from tests.browser.test_browser import open_report
from tests.faults.conftest import runs

pytestmark = pytest.mark.faults


@pytest.fixture
def joblib_model(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"age": [20, 30, 40, 50, 60, 70], "hours_per_week": [10, 20, 30, 40, 50, 60]})
    path = tmp_path / "legacy.joblib"
    joblib.dump(LogisticRegression().fit(X, [0, 0, 0, 1, 1, 1]), path)
    return path


def test_pickle_refused_without_trust(joblib_model, mlflow_store, tmp_path):
    with pytest.raises(ModelError, match=r"pickle/joblib files can run arbitrary code when loaded and are refused; .*or pass --trust"):
        run_report(str(joblib_model), ADULT_TEST, output_root=tmp_path / "r", progress=False)
    assert runs() == []


@pytest.mark.e2e
def test_pickle_accepted_with_trust(joblib_model, mlflow_store, tmp_path):
    # Intervals and the cost section are beside the point here (and cost seconds at this size).
    result = run_report(str(joblib_model), ADULT_TEST, output_root=tmp_path / "r", progress=False, trust=True,
                        n_boot=0, cost_repetitions=0)
    assert result.metrics["model_source"]["kind"] == "pickle"
    assert 0.5 < result.metrics["overall"]["roc_auc"] < 1


def test_untrusted_skops_type_needs_to_be_named(tmp_path):
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "custom.skops"
    sio.dump(FunctionTransformer(func=os.getcwd), path)
    ref = resolve_model(str(path))
    with pytest.raises(ModelError, match=r"contains types evalkit does not trust: \['posix\.getcwd'\]\. Loading them could run code; .*--trust-type"):
        load_estimator(ref)
    assert isinstance(load_estimator(ref, trusted_types=("posix.getcwd",)), FunctionTransformer)


PAYLOADS = {
    "A": "<script>window.__pwned = 1</script>",
    "B": '<img src=x onerror="window.__pwned = 2">',
    "C": "A",  # Latin A ...
}
LOOKALIKE = "\u0391"  # ... and Greek capital alpha: two different groups that look alike
EVIL_COLUMN = "<b onmouseover=alert(1)>band</b>"


@pytest.mark.e2e
@pytest.mark.browser
def test_html_payloads_in_data_are_inert_in_a_real_browser(mlflow_store, tmp_path):
    frame = make_biased_scores(1200, seed=9)
    frame["group"] = frame["group"].map(PAYLOADS)
    frame.loc[frame.index % 7 == 0, "group"] = LOOKALIKE
    frame = frame.rename(columns={"band": EVIL_COLUMN})
    data = tmp_path / "evil.csv"
    frame.drop(columns=["score", "y"]).to_csv(data, index=False)
    frame[["id", "score"]].to_csv(tmp_path / "scores.csv", index=False)
    (tmp_path / "evil.yaml").write_text(
        f"name: evil\nsource: corner_case\npath: evil.csv\nsha256: {sha256_file(data)}\nformat: csv\n"
        f"id_column: id\nlabel_column: label\npositive_label: pos\nsensitive_features: [group, '{EVIL_COLUMN}']\n"
        "license: CC0-1.0\n"
    )
    result = run_report(str(tmp_path / "scores.csv"), tmp_path / "evil.yaml", output_root=tmp_path / "r",
                        progress=False)
    html = result.html.read_text()
    for payload in (*PAYLOADS.values(), EVIL_COLUMN):
        if payload != "A":
            assert payload not in html  # never written raw
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html

    state, requests, errors = open_report(result.html, tmp_path / "evil.png")
    assert errors == []
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []  # <img src=x> never loaded
    assert "<script>window.__pwned = 1</script>" in state["text"]  # shown as text
    assert EVIL_COLUMN in state["text"]

    from playwright.sync_api import sync_playwright

    from tests.browser.test_browser import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(result.html.as_uri(), wait_until="load")
        page.mouse.move(10, 10)
        assert page.evaluate("() => window.__pwned") is None
        scripts = page.evaluate("() => Array.from(document.scripts).map(s => s.textContent).join('\\n')")
        browser.close()
    assert dialogs == []
    assert "__pwned" not in scripts

    # Look-alike groups stay distinct everywhere; MLflow keys are sanitised and still distinct.
    groups = set(result.metrics["by_group"]["group"])
    assert {"A", LOOKALIKE} <= groups and len(groups) == 4
    keys = [k for k in tracking.get_run(result.run_id).data.metrics if k.startswith("by_group/group/") and k.endswith("/n")]
    assert len(keys) == 4
    assert all("<" not in k and ">" not in k for k in keys)
