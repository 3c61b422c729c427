"""Synthetic evaluation data with known, injected bias: ground truth for tests and demos.

:func:`make_biased_scores` draws labels and scores for several groups; the scores of one or more
groups are shifted on the logit scale, so the resulting gaps (e.g. lower recall for the shifted
group's positives) are known in advance. :func:`write_synthetic_dataset` writes the data, a
predictions file and a manifest, exactly as a user's own data would be laid out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_write_text, sha256_file


def make_biased_scores(
    n: int = 2000,
    *,
    groups: Mapping[str, float] | None = None,
    prevalence: float = 0.3,
    separation: float = 3.0,
    positive_shift: Mapping[str, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Labels, scores and two demographic columns with a known bias.

    Parameters
    ----------
    n : int, default=2000
        Number of samples.
    groups : dict of str to float, optional
        Group name to share of samples for the column ``group`` (default ``A`` 0.6, ``B`` 0.3,
        ``C`` 0.1). A second column ``band`` (``young``/``old``, half each) is independent of it.
    prevalence : float, default=0.3
        Share of positive labels, the same in every group.
    separation : float, default=3.0
        Distance between the class means on the logit scale (larger: easier task).
    positive_shift : dict of str to float, optional
        Logit shift applied to the **positive** samples of a group: a negative value lowers their
        scores, so that group gets a lower recall and higher FNR (default ``{"B": -1.5}``).
    seed : int, default=0

    Returns
    -------
    DataFrame
        Columns ``id``, ``label`` (``"pos"``/``"neg"``), ``y`` (1/0), ``score`` in (0, 1), ``group``,
        ``band``.

    Examples
    --------
    >>> df = make_biased_scores(1000, seed=1)
    >>> recall = df[df.y == 1].assign(hit=lambda d: d.score >= 0.5).groupby("group").hit.mean()
    >>> bool(recall["B"] < recall["A"])
    True
    """
    groups = dict(groups or {"A": 0.6, "B": 0.3, "C": 0.1})
    shift = dict({"B": -1.5} if positive_shift is None else positive_shift)
    rng = np.random.default_rng(seed)
    names = np.array(list(groups))
    share = np.array(list(groups.values()), dtype=float)
    group = rng.choice(names, size=n, p=share / share.sum())
    y = (rng.random(n) < prevalence).astype(np.int8)
    logit = rng.normal(np.where(y == 1, separation / 2, -separation / 2), 1.0)
    logit += np.where(y == 1, pd.Series(group).map(shift).fillna(0.0).to_numpy(), 0.0)
    return pd.DataFrame({
        "id": [f"s{i:06d}" for i in range(n)],
        "label": np.where(y == 1, "pos", "neg"),
        "y": y,
        "score": 1.0 / (1.0 + np.exp(-logit)),
        "group": group,
        "band": rng.choice(["young", "old"], size=n),
    })


def write_synthetic_dataset(folder: str | Path, frame: pd.DataFrame | None = None, *, name: str = "synthetic") -> tuple[Path, Path]:
    """Write ``frame`` (default :func:`make_biased_scores`) as a dataset with a manifest, and its
    scores as a predictions file.

    Returns
    -------
    (manifest_path, predictions_path)
        ``<folder>/<name>.yaml`` (data in ``<folder>/<name>.csv``) and ``<folder>/<name>_scores.csv``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = make_biased_scores() if frame is None else frame
    data_path = folder / f"{name}.csv"
    atomic_write_text(data_path, frame.drop(columns=["score", "y"]).to_csv(index=False))
    preds = folder / f"{name}_scores.csv"
    atomic_write_text(preds, frame[["id", "score"]].to_csv(index=False))
    manifest = folder / f"{name}.yaml"
    atomic_write_text(manifest, "\n".join([
        f"name: {name}",
        "source: corner_case",
        "description: synthetic scores with an injected bias against group B (evalkit.synthetic)",
        f"path: {data_path.name}",
        f"sha256: {sha256_file(data_path)}",
        "format: csv",
        "id_column: id",
        "label_column: label",
        'positive_label: "pos"',
        'label_values: ["pos", "neg"]',
        "sensitive_features: [group, band]",
        "license: CC0-1.0 (generated)",
    ]) + "\n")
    return manifest, preds


def make_multiclass_scores(
    n: int = 3000,
    *,
    classes: tuple[str, ...] = ("cat", "dog", "eel", "fox"),
    confused_group: str = "B",
    confused_class: str = "fox",
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Multiclass labels and class scores with a known bias: for ``confused_group``, the true
    ``confused_class`` samples get no signal, so their recall for that class is near chance.

    Returns
    -------
    frame : DataFrame
        Columns ``id``, ``label``, ``group`` (A 60%, B 30%, C 10%).
    scores : ndarray of shape (n, len(classes))
        Rows sum to 1, columns in the order of ``classes``.

    Examples
    --------
    >>> frame, scores = make_multiclass_scores(200, seed=1)
    >>> scores.shape, bool(np.allclose(scores.sum(1), 1))
    ((200, 4), True)
    """
    rng = np.random.default_rng(seed)
    k = len(classes)
    label = rng.choice(np.array(classes), n, p=np.linspace(1.6, 0.4, k) / np.linspace(1.6, 0.4, k).sum())
    group = rng.choice(np.array(["A", "B", "C"]), n, p=[0.6, 0.3, 0.1])
    signal = 2.0 * np.eye(k)[[classes.index(v) for v in label]]
    signal[(group == confused_group) & (label == confused_class)] = 0.0
    logits = rng.normal(0, 1, (n, k)) + signal
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    frame = pd.DataFrame({"id": [f"m{i:06d}" for i in range(n)], "label": label, "group": group})
    return frame, scores


def make_ranking_scores(
    queries: int = 400,
    *,
    items_per_query: int = 20,
    relevant_share: float = 0.15,
    weak_group: str = "older",
    seed: int = 0,
) -> pd.DataFrame:
    """Query-item pairs with binary relevance and scores; for queries of ``weak_group`` the scores
    carry less signal, so their MAP and precision@k are lower (a known ranking bias).

    Returns
    -------
    DataFrame
        Columns ``query``, ``item``, ``relevant`` (0/1), ``score``, ``group`` (``younger``/``older``,
        a property of the query).
    """
    rng = np.random.default_rng(seed)
    n = queries * items_per_query
    query = np.repeat(np.arange(queries), items_per_query)
    group_of_query = rng.choice(np.array(["younger", weak_group]), queries)
    group = group_of_query[query]
    relevant = (rng.random(n) < relevant_share).astype(np.int8)
    strength = np.where(group == weak_group, 0.5, 2.0)
    score = rng.normal(0, 1, n) + strength * relevant
    return pd.DataFrame({"query": [f"q{v:04d}" for v in query], "item": np.arange(n) % items_per_query,
                         "relevant": relevant, "score": score, "group": group})
