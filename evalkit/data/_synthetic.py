"""Synthetic evaluation data with known, injected bias: ground truth for tests and demos.

:func:`make_biased_scores` draws labels and scores for several groups; the scores of one or more
groups are shifted on the logit scale, so the resulting gaps (e.g. lower recall for the shifted
group's positives) are known in advance. :func:`write_synthetic_dataset` writes the data, a
predictions file and a manifest, exactly as a user's own data would be laid out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import atomic_write_text, sha256_file


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


def write_synthetic_dataset(folder: str | Path, frame: pd.DataFrame | None = None, *, name: str = "synthetic",
                            manifest_dir: str | Path | None = None,
                            description: str = "synthetic scores with an injected bias against group B "
                                                "(evalkit.synthetic)") -> tuple[Path, Path]:
    """Write ``frame`` (default :func:`make_biased_scores`) as a dataset with a manifest (with its
    inferred schema), and its scores as a predictions file.

    Returns
    -------
    (manifest_path, predictions_path)
        ``<manifest_dir>/<name>.yaml`` (default: beside the data in ``<folder>/<name>.csv``) and
        ``<folder>/<name>_scores.csv``.
    """
    from ._manifest import write_dataset

    folder = Path(folder)
    mdir = Path(manifest_dir) if manifest_dir is not None else folder
    frame = make_biased_scores() if frame is None else frame
    folder.mkdir(parents=True, exist_ok=True)
    preds = folder / f"{name}_scores.csv"
    atomic_write_text(preds, frame[["id", "score"]].to_csv(index=False))
    manifest = write_dataset(frame.drop(columns=["score", "y"]), folder / f"{name}.csv", mdir / f"{name}.yaml", fields={
        "name": name, "source": "corner_case", "description": description, "id_column": "id",
        "label_column": "label", "positive_label": "pos", "label_values": ["pos", "neg"],
        "sensitive_features": ["group", "band"], "license": "CC0-1.0 (generated)"})
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


def make_corner_cases(
    *,
    rows: int = 2000,
    groups: Mapping[str, float] | None = None,
    tiny: Mapping[str, int] | None = None,
    score_bias: Mapping[str, float] | None = None,
    label_bias: Mapping[str, float] | None = None,
    boundary: float = 0.0,
    missing: float = 0.0,
    rare: float = 0.0,
    threshold: float = 0.5,
    prevalence: float = 0.3,
    seed: int = 0,
) -> pd.DataFrame:
    """A corner-case evaluation set with known properties, deterministic for a seed.

    Parameters
    ----------
    rows : int, default=2000
        Rows shared out among ``groups`` (column ``group``).
    groups : dict of str to float, optional
        Group shares (default A 0.6, B 0.3, C 0.1).
    tiny : dict of str to int, optional
        Extra groups with exactly this many rows (e.g. ``{"D": 5}``): groups too small to compare.
    score_bias : dict of str to float, optional
        Logit shift of the scores of a group's positives (negative: lower recall for that group).
    label_bias : dict of str to float, optional
        Share of a group's labels flipped: the recorded labels disagree with what the scores track.
    boundary : float, default=0
        Share of scores set exactly to 0, 1 or ``threshold`` (a third each).
    missing : float, default=0
        Share of empty values in the feature column ``x1``.
    rare : float, default=0
        Share of rows whose feature ``channel`` takes the rare value ``"rare-value"``.

    Returns
    -------
    DataFrame
        ``id``, ``label`` (``pos``/``neg``), ``y``, ``score``, ``group``, ``band``, ``x1``,
        ``channel``; :func:`write_synthetic_dataset` writes it with its manifest.
    """
    shares = dict(groups or {"A": 0.6, "B": 0.3, "C": 0.1})
    for name, value in {**shares, **(tiny or {})}.items():
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"group {name!r}: expected a non-negative size or share, got {value!r}")
    base = make_biased_scores(rows, groups=shares, prevalence=prevalence,
                              positive_shift=dict(score_bias or {}), seed=seed)
    rng = np.random.default_rng(seed + 1)
    extra = []
    for name, count in (tiny or {}).items():
        part = make_biased_scores(int(count), groups={name: 1.0}, prevalence=prevalence,
                                  positive_shift={name: (score_bias or {}).get(name, 0.0)}, seed=seed + 2)
        extra.append(part)
    frame = pd.concat([base, *extra], ignore_index=True)
    frame["id"] = [f"c{i:06d}" for i in range(len(frame))]
    for name, share in (label_bias or {}).items():
        members = np.flatnonzero(frame["group"].to_numpy() == name)
        flip = rng.choice(members, size=int(round(share * members.size)), replace=False) if members.size else []
        frame.loc[flip, "y"] = 1 - frame.loc[flip, "y"]
    frame["label"] = np.where(frame["y"] == 1, "pos", "neg")
    if boundary > 0:
        chosen = rng.choice(len(frame), size=int(round(boundary * len(frame))), replace=False)
        frame.loc[chosen, "score"] = np.resize([0.0, 1.0, threshold], chosen.size)
    frame["x1"] = np.round(rng.normal(0, 1, len(frame)), 4).astype(object)
    if missing > 0:
        frame.loc[rng.random(len(frame)) < missing, "x1"] = ""
    frame["channel"] = rng.choice(["web", "branch", "phone"], len(frame))
    if rare > 0:
        frame.loc[rng.random(len(frame)) < rare, "channel"] = "rare-value"
    return frame


def make_corner_cases_like(
    dataset: Any,
    *,
    group_feature: str,
    sizes: Mapping[str, int] | None = None,
    label_bias: Mapping[str, float] | None = None,
    missing: float = 0.0,
    rare: float = 0.0,
    rare_column: str | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Corner cases with a real dataset's columns, so a real model can score them: rows of
    ``dataset`` resampled per group of ``group_feature`` to chosen ``sizes`` (tiny groups included),
    with a share of a group's labels flipped, empty values in the columns that may be empty, and a rare
    category value never seen in training.

    Parameters
    ----------
    dataset : Dataset
        The real data to start from (e.g. ``load_dataset("data_manifests/adult_test.yaml")``).
    group_feature : str
        A sensitive feature of ``dataset``.
    sizes : dict of str to int, optional
        Rows per group (drawn with replacement); default 200 per group.
    label_bias : dict of str to float, optional
        Share of a group's labels flipped (to the other label value).
    missing : float, default=0
        Share of values emptied in each nullable column of the schema (or each text feature column).
    rare : float, default=0
        Share of rows whose ``rare_column`` (default: the first text feature column that is not
        sensitive) becomes ``"rare-value"``.
    seed : int, default=0

    Returns
    -------
    DataFrame
        The dataset's columns; ids ``cc-000001`` ...
    """
    m = dataset.manifest
    if group_feature not in m.sensitive_features:
        raise ValueError(f"group_feature must be one of {list(m.sensitive_features)}, got {group_feature!r}")
    frame = dataset.frame
    groups = sorted(frame[group_feature].unique())
    sizes = dict(sizes or dict.fromkeys(groups, 200))
    unknown = sorted(set(sizes) - set(groups))
    if unknown:
        raise ValueError(f"sizes name unknown group(s) {unknown} of {group_feature}; groups are {groups}")
    rng = np.random.default_rng(seed)
    parts = [frame[frame[group_feature] == g].sample(n=int(n), replace=True, random_state=rng)
             for g, n in sizes.items()]
    out = pd.concat(parts, ignore_index=True)
    out[m.id_column] = [f"cc-{i:06d}" for i in range(1, len(out) + 1)]
    labels = list(m.label_values or sorted(frame[m.label_column].unique()))
    positive = str(m.positive_label)
    negative = next((v for v in labels if v != positive), None)
    for g, share in (label_bias or {}).items():
        members = np.flatnonzero(out[group_feature].to_numpy() == g)
        flip = rng.choice(members, size=int(round(share * members.size)), replace=False) if members.size else []
        out.loc[flip, m.label_column] = np.where(out.loc[flip, m.label_column] == positive, negative, positive)
    protected = {m.id_column, m.label_column, *m.sensitive_features}
    features = list(m.feature_columns or [c for c in out.columns if c not in protected])
    text_features = [c for c in features if c not in protected and not pd.api.types.is_numeric_dtype(out[c])]
    nullable = [s.name for s in m.schema if s.nullable and s.name not in protected] or text_features
    if missing > 0:
        for c in nullable:
            out.loc[rng.random(len(out)) < missing, c] = np.nan
    if rare > 0:
        column = rare_column or (text_features[0] if text_features else None)
        if column is None or column not in out.columns:
            raise ValueError(f"rare_column must be a text feature column, got {column!r}")
        out.loc[rng.random(len(out)) < rare, column] = "rare-value"
    return out


def write_like_dataset(frame: pd.DataFrame, like: Any, *, name: str, folder: str | Path,
                       manifest_dir: str | Path, description: str) -> Path:
    """Write corner cases made by :func:`make_corner_cases_like` with a manifest modelled on the
    original's (same label, id, sensitive and feature columns; source ``corner_case``; schema inferred)."""
    from ._manifest import write_dataset

    m = like.manifest
    return write_dataset(frame, Path(folder) / f"{name}.csv", Path(manifest_dir) / f"{name}.yaml", max_categories=45,
                         fields={
        "name": name, "source": "corner_case", "description": description, "id_column": m.id_column,
        "label_column": m.label_column, "positive_label": str(m.positive_label),
        "label_values": list(m.label_values) if m.label_values else sorted(frame[m.label_column].unique()),
        "sensitive_features": list(m.sensitive_features),
        **({"feature_columns": list(m.feature_columns)} if m.feature_columns else {}),
        "license": f"derived from {m.name} ({m.license})"})


def make_spoof_scores(
    n_bona_fide: int = 2000,
    n_attacks: int = 600,
    *,
    species: Sequence[str] = ("print", "replay"),
    acceptance: Mapping[str, float] | None = None,
    groups: Mapping[str, float] | None = None,
    prevalence: float = 0.5,
    seed: int = 0,
) -> pd.DataFrame:
    """Bona fide samples and presentation attacks with a known attack acceptance rate per group.

    Bona fide samples are scored like :func:`make_biased_scores` without bias. Each attack is
    accepted (score above 0.5) with the probability ``acceptance[group]``, the injected APCER of
    that group; species are assigned at random.

    Parameters
    ----------
    n_bona_fide, n_attacks : int
    species : sequence of str
        Attack species names.
    acceptance : dict of str to float, optional
        Group to APCER (default ``{"A": 0.05, "B": 0.30}``: attacks on group B succeed six times as
        often).
    groups : dict of str to float, optional
        Group shares (default ``A`` 0.5, ``B`` 0.5).
    prevalence : float, default=0.5
    seed : int, default=0

    Returns
    -------
    DataFrame
        ``id``, ``label``, ``y``, ``score``, ``group``, ``attack`` (``bona_fide`` or a species).
    """
    acceptance = dict(acceptance or {"A": 0.05, "B": 0.30})
    groups = dict(groups or {"A": 0.5, "B": 0.5})
    genuine = make_biased_scores(n_bona_fide, groups=groups, prevalence=prevalence, positive_shift={}, seed=seed)
    genuine = genuine.drop(columns="band").assign(attack="bona_fide")
    rng = np.random.default_rng([seed, 1])
    names = np.array(list(groups))
    share = np.array(list(groups.values()), dtype=float)
    group = rng.choice(names, size=n_attacks, p=share / share.sum())
    accepted = rng.random(n_attacks) < pd.Series(group).map(acceptance).fillna(0.0).to_numpy()
    score = np.where(accepted, rng.uniform(0.5, 1.0, n_attacks), rng.uniform(0.0, 0.5, n_attacks))
    attacks = pd.DataFrame({
        "id": [f"a{i:06d}" for i in range(n_attacks)], "label": "pos", "y": np.int8(1), "score": score,
        "group": group, "attack": rng.choice(list(species), size=n_attacks),
    })
    return pd.concat([genuine, attacks], ignore_index=True)


def write_large_dataset(folder: str | Path, rows: int, *, seed: int = 0, row_group_rows: int = 1_000_000,
                        name: str = "large", challenger: bool = False) -> Path:
    """Write ``rows`` synthetic samples as Parquet, one row group at a time (memory bounded by a row group),
    with a manifest; the scores are the column ``score`` (``MODEL=column:score``).

    Columns: ``id``, ``label`` (``pos``/``neg``), ``sex`` (2 groups), ``age_band`` (4), ``region`` (5), and
    ``score`` in [0, 1], with group ``region=r4``'s positives scored lower (a known bias). Group and label
    columns are dictionary-encoded. For the out-of-core engines' tests and benchmarks.

    With ``challenger``, a second model's scores ``score_b`` (``MODEL=column:score_b``): the same logit without
    region r4's bias, plus noise of standard deviation 0.6 (better for region r4, slightly worse elsewhere).

    Returns
    -------
    Path
        ``<folder>/<name>.yaml``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    levels = {"sex": ["f", "m"], "age_band": ["a1", "a2", "a3", "a4"], "region": ["r0", "r1", "r2", "r3", "r4"]}
    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, rows, row_group_rows):
            n = min(row_group_rows, rows - start)
            y = rng.random(n) < 0.3
            codes = {k: rng.integers(0, len(v), n).astype(np.int8) for k, v in levels.items()}
            logit = rng.normal(np.where(y, 1.5, -1.5), 1.0) - np.where(y & (codes["region"] == 4), 1.2, 0.0)
            columns = {"id": pa.array(np.arange(start, start + n, dtype=np.int64)),
                       "label": pa.DictionaryArray.from_arrays(pa.array(y.astype(np.int8)), pa.array(["neg", "pos"]))}
            columns.update({k: pa.DictionaryArray.from_arrays(pa.array(codes[k]), pa.array(v)) for k, v in levels.items()})
            columns["score"] = pa.array(np.round(1 / (1 + np.exp(-logit)), 6))
            if challenger:
                fixed = logit + np.where(y & (codes["region"] == 4), 1.2, 0.0) + rng.normal(0.0, 0.6, n)
                columns["score_b"] = pa.array(np.round(1 / (1 + np.exp(-fixed)), 6))
            table = pa.table(columns)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    manifest = folder / f"{name}.yaml"
    atomic_write_text(manifest, yaml.safe_dump({
        "name": name, "source": "corner_case",
        "description": f"{rows:,} synthetic rows (evalkit.synthetic.write_large_dataset, seed {seed}); scores in "
                       "column 'score', region r4's positives scored lower"
                       + ("; a challenger's in 'score_b', without that bias and noisier" if challenger else ""),
        "path": path.name, "sha256": sha256_file(path), "size_bytes": path.stat().st_size, "format": "parquet",
        "id_column": "id", "label_column": "label", "positive_label": "pos", "label_values": ["pos", "neg"],
        "sensitive_features": list(levels), "license": "CC0-1.0 (generated)"}, sort_keys=False))
    return manifest
