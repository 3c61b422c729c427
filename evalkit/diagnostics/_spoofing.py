"""Presentation-attack (spoof) evaluation in the style of ISO/IEC 30107-3.

A manifest marks attacks with ``attack_column``: the value names the attack species (presentation
attack instrument, e.g. ``print``, ``replay``, ``overlay``); ``bona_fide`` or an empty value marks a
genuine sample. The model's positive decision (``score >= threshold``) means *accept*; an attack
must be rejected whatever its label says.

- **APCER** (attack presentation classification error rate), per species: the share of that
  species' attacks that are accepted. ISO reports the worst species; :func:`attack_rates` gives each
  and ``worst``.
- **BPCER** (bona fide presentation classification error rate): the share of genuine samples that
  should be accepted (positive label) but are rejected.

Both come overall and per group with exact (Clopper-Pearson) intervals, since attack sets are small.

- **APCER_max**: the worst species' APCER (:func:`worst_apcer`).
- **BPCER at a fixed APCER** (ISO's BPCER10 and BPCER20: APCER 10 % and 5 %): the threshold is set once, on
  everyone, as the most accepting threshold at which *every* species' APCER is at most the target; BPCER and
  each species' APCER are then read per group at it (:func:`bpcer_at_apcer`), as demographic differentials of
  verification are read at one global threshold.
- The **DET of APCER_max against BPCER** over all thresholds (:func:`apcer_bpcer_curve`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..settings import CI_LEVEL
from ..data import Dataset
from ..data import group_columns
from ..stats import clopper_pearson

#: Values of ``attack_column`` that mark a genuine (bona fide) sample.
BONA_FIDE: frozenset[str] = frozenset({"", "bona_fide", "bonafide", "bona fide", "nan", "None"})


def attack_species(values: pd.Series | Sequence[str]) -> np.ndarray:
    """The attack species of each sample, ``""`` for bona fide ones (see :data:`BONA_FIDE`)."""
    text = pd.Series(values, dtype=object).fillna("").astype(str).str.strip()
    return np.where(text.isin(BONA_FIDE), "", text.to_numpy())


def attack_rates(
    y_true: np.ndarray,
    y_score: np.ndarray,
    attack: Sequence[str] | pd.Series,
    *,
    threshold: float = 0.5,
    sensitive: pd.DataFrame | None = None,
    level: float = CI_LEVEL,
) -> pd.DataFrame:
    """APCER per attack species and BPCER, overall and per group.

    Parameters
    ----------
    y_true : ndarray of 0/1
        Labels (used for BPCER: genuine samples with label 1 must be accepted).
    y_score : ndarray
    attack : sequence of str
        Attack species per sample; bona fide values as in :data:`BONA_FIDE`.
    threshold : float, default=0.5
        ``score >= threshold`` accepts.
    sensitive : DataFrame, optional
        Sensitive features for per-group rates (one feature at a time, no intersections).
    level : float, default=0.95
        Confidence level of the Clopper-Pearson intervals.

    Returns
    -------
    DataFrame
        ``feature``, ``group``, ``rate`` (``APCER:<species>`` or ``BPCER``), ``errors``, ``n``, ``value``,
        ``ci_low``, ``ci_high``; overall rows have feature ``overall``, group ``all``.

    Raises
    ------
    ValueError
        If there is no attack sample.
    """
    species = attack_species(attack)
    y, accept = np.asarray(y_true).astype(bool), np.asarray(y_score) >= threshold
    if not (species != "").any():
        raise ValueError("no attack samples: the attack column marks every sample as bona fide")
    groupings = {"overall": pd.Series(np.full(len(y), "all"))}
    if sensitive is not None:
        groupings.update({k: v.astype(str).reset_index(drop=True)
                          for k, v in group_columns(sensitive, intersections=False).items()})
    rows = []
    kinds = sorted(set(species) - {""})
    for feature, values in groupings.items():
        values = values.to_numpy()
        for group in sorted(pd.unique(values), key=str):
            in_group = values == group
            for kind in kinds:
                mask = in_group & (species == kind)
                rows.append((feature, group, f"APCER:{kind}", int((mask & accept).sum()), int(mask.sum())))
            genuine = in_group & (species == "") & y
            rows.append((feature, group, "BPCER", int((genuine & ~accept).sum()), int(genuine.sum())))
    out = pd.DataFrame(rows, columns=["feature", "group", "rate", "errors", "n"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["value"] = np.where(out["n"] > 0, out["errors"] / out["n"].where(out["n"] > 0, 1), np.nan)
    out["ci_low"], out["ci_high"] = clopper_pearson(out["errors"].to_numpy(), out["n"].to_numpy(), level)
    return out


def worst_apcer(rates: pd.DataFrame, feature: str = "overall", group: str = "all") -> pd.Series:
    """The attack species with the highest APCER for one group (ISO's reported APCER)."""
    part = rates[(rates.feature == feature) & (rates.group == group) & rates.rate.str.startswith("APCER:")]
    part = part[part.n > 0]
    return part.sort_values(["value", "ci_high"], ascending=False, kind="stable").iloc[0]


def spoof_dataset_rates(data: Dataset, y_score: np.ndarray, *, threshold: float, level: float = CI_LEVEL) -> pd.DataFrame:
    """:func:`attack_rates` for a dataset whose manifest names an ``attack_column``.

    Raises
    ------
    ValueError
        If the manifest has no ``attack_column``.
    """
    column = data.manifest.attack_column
    if not column:
        raise ValueError(f"dataset '{data.name}' ({data.manifest.manifest_path}) has no attack_column; add one "
                         "naming the attack species of each sample (bona_fide for genuine ones)")
    return attack_rates(data.y_true, y_score, data.frame[column], threshold=threshold, sensitive=data.sensitive,
                        level=level)


def _pad_arrays(y_true: np.ndarray, y_score: np.ndarray, attack: Sequence[str] | pd.Series
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    species = attack_species(attack)
    score = np.asarray(y_score, dtype=float)
    bona = (species == "") & np.asarray(y_true).astype(bool)
    if not (species != "").any() or not bona.any():
        raise ValueError("APCER and BPCER need attack samples and bona fide samples with a positive label")
    return species, score, bona


def apcer_bpcer_curve(y_true: np.ndarray, y_score: np.ndarray, attack: Sequence[str] | pd.Series) -> pd.DataFrame:
    """APCER of every species, APCER_max and BPCER at every distinct score as threshold (``score >= t``
    accepts), from "accept everything" to "accept nothing".

    Returns
    -------
    DataFrame
        ``threshold``, ``apcer_max``, ``bpcer`` and ``APCER:<species>`` columns, thresholds ascending.
    """
    species, score, bona = _pad_arrays(y_true, y_score, attack)
    thresholds = np.r_[np.unique(score), np.nextafter(score.max(), np.inf)]
    out = {"threshold": thresholds}
    kinds = sorted(set(species) - {""})
    for kind in kinds:
        s = np.sort(score[species == kind])
        out[f"APCER:{kind}"] = (s.size - np.searchsorted(s, thresholds, side="left")) / s.size  # accepted: >= t
    b = np.sort(score[bona])
    out["bpcer"] = np.searchsorted(b, thresholds, side="left") / b.size  # rejected: < t
    frame = pd.DataFrame(out)
    frame.insert(1, "apcer_max", frame[[f"APCER:{k}" for k in kinds]].max(axis=1))
    return frame


def bpcer_at_apcer(y_true: np.ndarray, y_score: np.ndarray, attack: Sequence[str] | pd.Series, *,
                   targets: Sequence[float] = (0.10, 0.05), sensitive: pd.DataFrame | None = None,
                   level: float = CI_LEVEL) -> pd.DataFrame:
    """BPCER (and each species' APCER) per group at thresholds set once where APCER_max first reaches each target.

    Returns
    -------
    DataFrame
        One row per target, feature, group and rate, as :func:`attack_rates` returns them, plus ``target`` and
        ``threshold``: ISO/IEC 30107-3's BPCER10 is the ``BPCER`` row of target 0.10, BPCER20 of target 0.05.

    Examples
    --------
    >>> y = np.array([1, 1, 1, 1, 0, 0]); s = np.array([.9, .8, .7, .2, .6, .1]); a = ["", "", "", "", "print", "print"]
    >>> t = bpcer_at_apcer(y, s, a, targets=[0.4])
    >>> t.loc[t.rate == "BPCER", ["threshold", "value"]].to_numpy().tolist()
    [[0.7, 0.25]]
    """
    curve = apcer_bpcer_curve(y_true, y_score, attack)
    frames = []
    for target in targets:
        ok = curve[curve["apcer_max"] <= target]
        tau = float(ok["threshold"].iloc[0])  # the most accepting threshold with every species at most the target
        rates = attack_rates(y_true, y_score, attack, threshold=tau, sensitive=sensitive, level=level)
        frames.append(rates.assign(target=float(target), threshold=tau))
    return pd.concat(frames, ignore_index=True)
