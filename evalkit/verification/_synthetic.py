"""Synthetic verification sets with known demographic differentials: the ground truth of the tests and the
shipped demo.

Every subject has demographic attributes and an identity vector; each sample of the subject is a noisy copy
of it, as a unit-length template (an embedding). Two knobs per group make the differentials:

- ``spread``: the within-subject noise. More noise gives lower genuine scores, so a higher FNMR at any
  threshold.
- ``concentration``: how tightly the group's identity vectors cluster around a group centroid. More
  concentration makes two different subjects of that group look alike, so a higher same-group FMR: the
  effect NIST reports for impostors of the same demographic group.

The score of two samples is their cosine similarity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def make_verification_set(
    n_subjects: int = 600,
    samples_per_subject: int = 4,
    *,
    dim: int = 64,
    groups: Mapping[str, Mapping[str, float]] | None = None,
    spread: Mapping[str, float] | None = None,
    concentration: Mapping[str, float] | None = None,
    feature: str = "group",
    other_features: Mapping[str, Mapping[str, float]] | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Samples and their templates, with known per-group differentials.

    Parameters
    ----------
    n_subjects, samples_per_subject : int
    dim : int
        Template length.
    groups : dict, optional
        Share of subjects per group of ``feature`` (default ``{"A": 0.5, "B": 0.3, "C": 0.2}``).
    spread : dict, optional
        Within-subject noise per group (default 0.55 for every group; larger: higher FNMR).
    concentration : dict, optional
        Pull of a group's identities towards its centroid (default 0 for every group; larger: higher
        same-group FMR).
    feature : str
        The name of the demographic column the differentials follow.
    other_features : dict, optional
        Further demographic columns without an effect: ``{"sex": {"F": 0.5, "M": 0.5}}``.
    seed : int

    Returns
    -------
    samples : DataFrame
        ``sample`` (``s00000-1``), ``subject`` (``s00000``), ``feature`` and the other features, one row per
        sample, subjects in order.
    templates : ndarray of float32, shape (n_samples, dim)
        Unit-length rows, in the order of ``samples``.

    Examples
    --------
    >>> samples, templates = make_verification_set(20, 3, dim=8, seed=1)
    >>> samples.shape, templates.shape
    ((60, 3), (60, 8))
    """
    groups = dict(groups or {"A": 0.5, "B": 0.3, "C": 0.2})
    names = list(groups)
    spread = {g: 0.55 for g in names} | dict(spread or {})
    concentration = {g: 0.0 for g in names} | dict(concentration or {})
    rng = np.random.default_rng(seed)
    shares = np.array([groups[g] for g in names], dtype=float)
    group_of = rng.choice(len(names), size=n_subjects, p=shares / shares.sum())
    centroids = rng.standard_normal((len(names), dim))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    identity = rng.standard_normal((n_subjects, dim)) / np.sqrt(dim)
    pull = np.array([concentration[g] for g in names])[group_of]
    identity = identity + pull[:, None] * centroids[group_of] / np.sqrt(1 + pull[:, None] ** 2)
    identity /= np.linalg.norm(identity, axis=1, keepdims=True)
    noise = np.array([spread[g] for g in names])[group_of]
    subject = np.repeat(np.arange(n_subjects), samples_per_subject)
    templates = identity[subject] + noise[subject, None] * rng.standard_normal((len(subject), dim)) / np.sqrt(dim)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    ids = np.array([f"s{i:05d}" for i in range(n_subjects)])
    samples = pd.DataFrame({
        "sample": [f"{ids[s]}-{k + 1}" for s, k in zip(subject, np.tile(np.arange(samples_per_subject), n_subjects),
                                                       strict=True)],
        "subject": ids[subject],
        feature: np.array(names)[group_of][subject],
    })
    for name, values in (other_features or {}).items():
        keys = list(values)
        p = np.array([values[k] for k in keys], dtype=float)
        samples[name] = np.array(keys)[rng.choice(len(keys), size=n_subjects, p=p / p.sum())][subject]
    return samples, templates.astype(np.float32)
