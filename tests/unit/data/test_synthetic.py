import numpy as np

from evalkit import load_dataset
from evalkit.data import make_biased_scores, write_synthetic_dataset


def test_reproducible_and_shaped():
    a, b = make_biased_scores(500, seed=4), make_biased_scores(500, seed=4)
    assert a.equals(b)
    assert list(a.columns) == ["id", "label", "y", "score", "group", "band"]
    assert a["score"].between(0, 1).all()


def test_injected_bias_size():
    df = make_biased_scores(20000, seed=0, positive_shift={"B": -1.5})
    pos = df[df.y == 1]
    recall = (pos.score >= 0.5).groupby(pos.group).mean()
    # positives' logits ~ N(1.5, 1): recall = P(Z > -1.5) = 0.933; group B ~ N(0, 1): 0.5
    assert abs(recall["A"] - 0.933) < 0.02
    assert abs(recall["B"] - 0.5) < 0.03
    no_bias = make_biased_scores(20000, seed=0, positive_shift={})
    pos = no_bias[no_bias.y == 1]
    r = (pos.score >= 0.5).groupby(pos.group).mean()
    assert np.ptp(r.to_numpy()) < 0.03


def test_written_dataset_loads(tmp_path):
    manifest, preds = write_synthetic_dataset(tmp_path, make_biased_scores(300, seed=1))
    ds = load_dataset(manifest)
    assert len(ds) == 300 and ds.manifest.source == "corner_case"
    assert preds.is_file()


def test_multiclass_generator_injects_the_bias():
    from evalkit.metrics import multiclass_by_group
    from evalkit.data import make_multiclass_scores

    frame, scores = make_multiclass_scores(4000, seed=2)
    table = multiclass_by_group(frame["label"], scores, frame["group"], labels=["cat", "dog", "eel", "fox"])
    assert table.loc["B", "recall[fox]"] < 0.4 < table.loc["A", "recall[fox]"]
    assert abs(table.loc["B", "recall[cat]"] - table.loc["A", "recall[cat]"]) < 0.1  # only fox is affected


def test_ranking_generator_injects_the_bias():
    from evalkit.metrics import ranking_by_group
    from evalkit.data import make_ranking_scores

    pairs = make_ranking_scores(300, seed=2)
    table = ranking_by_group(pairs["relevant"], pairs["score"], pairs["query"], pairs["group"], k=5)
    assert table.loc["older", "map"] < table.loc["younger", "map"] - 0.2
    assert (pairs.groupby("query")["group"].nunique() == 1).all()
