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

- **APCER_max**: the worst species' APCER, a row of its own per group in :func:`attack_rates` (and
  :func:`worst_apcer`). Its interval bounds the maximum of the species' true rates: the largest lower and the
  largest upper bound of the species' Clopper-Pearson intervals at the Bonferroni level
  ``1 - (1 - level) / species`` (when every species' interval covers, which happens with probability at least
  ``level``, the true maximum lies between them).
- **BPCER at a fixed APCER** (ISO's BPCER10 and BPCER20: APCER 10 % and 5 %): the threshold is set once, on
  everyone, as the most accepting threshold at which *every* species' APCER is at most the target; BPCER and
  each species' APCER are then read per group at it (:func:`bpcer_at_apcer`), as demographic differentials of
  verification are read at one global threshold.
- The **DET of APCER_max against BPCER** over all thresholds (:func:`apcer_bpcer_curve`), overall and per
  group, every group's curve read at the same (global) thresholds.

Each presentation is taken as an independent trial: the intervals assume no subject contributes many
presentations (ISO/IEC 30107-3 asks for several subjects per species for that reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
        ``feature``, ``group``, ``rate`` (``APCER:<species>``, ``APCER_max`` or ``BPCER``), ``errors``, ``n``,
        ``value``, ``ci_low``, ``ci_high``; overall rows have feature ``overall``, group ``all``. The
        ``APCER_max`` row holds the worst species' counts and the simultaneous interval of the module docstring.

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
    return _with_apcer_max(out, len(kinds), level)


def _with_apcer_max(rates: pd.DataFrame, species: int, level: float) -> pd.DataFrame:
    """An ``APCER_max`` row per group (before its ``BPCER`` row): the worst species' counts, and the bounds of
    the maximum from Bonferroni-level Clopper-Pearson intervals of every species."""
    apcer = rates[rates.rate.str.startswith("APCER:") & (rates.n > 0)].copy()
    lo, hi = clopper_pearson(apcer["errors"].to_numpy(), apcer["n"].to_numpy(), 1 - (1 - level) / max(species, 1))
    apcer["sim_low"], apcer["sim_high"] = lo, hi
    rows = []
    for (feature, group), part in apcer.groupby(["feature", "group"], sort=False):
        worst = part.sort_values(["value", "n"], ascending=[False, True], kind="stable").iloc[0]
        rows.append({"feature": feature, "group": group, "rate": "APCER_max", "errors": int(worst.errors),
                     "n": int(worst.n), "value": float(worst.value), "ci_low": float(part.sim_low.max()),
                     "ci_high": float(part.sim_high.max())})
    if not rows:
        return rates
    top = pd.DataFrame(rows)
    out = pd.concat([rates, top], ignore_index=True)
    # keep each group's rows together: its species, APCER_max, then BPCER
    order = {"BPCER": 2, "APCER_max": 1}
    out["_group"] = pd.Categorical(list(zip(out.feature, out.group)), categories=list(dict.fromkeys(
        zip(rates.feature, rates.group))))
    out["_rank"] = out.rate.map(order).fillna(0)
    return out.sort_values(["_group", "_rank"], kind="stable").drop(columns=["_group", "_rank"]).reset_index(drop=True)


def worst_apcer(rates: pd.DataFrame, feature: str = "overall", group: str = "all") -> pd.Series:
    """The attack species with the highest APCER for one group (ISO's reported APCER)."""
    part = rates[(rates.feature == feature) & (rates.group == group) & rates.rate.str.startswith("APCER:")]
    part = part[part.n > 0]
    return part.sort_values(["value", "ci_high"], ascending=False, kind="stable").iloc[0]


def bpcer_name(target: float) -> str:
    """ISO/IEC 30107-3's name for BPCER at APCER ``target``: ``BPCER N`` where the target is ``1/N``.

    Examples
    --------
    >>> bpcer_name(0.10), bpcer_name(0.05), bpcer_name(0.03)
    ('BPCER10', 'BPCER20', 'BPCER at APCER 0.03')
    """
    n = 1 / target
    return f"BPCER{round(n):d}" if abs(n - round(n)) < 1e-9 else f"BPCER at APCER {target:g}"


def _attack_column(data: Dataset) -> str:
    column = data.manifest.attack_column
    if not column:
        raise ValueError(f"dataset '{data.name}' ({data.manifest.manifest_path}) has no attack_column; add one "
                         "naming the attack species of each sample (bona_fide for genuine ones)")
    return column


def spoof_dataset_rates(data: Dataset, y_score: np.ndarray, *, threshold: float, level: float = CI_LEVEL) -> pd.DataFrame:
    """:func:`attack_rates` for a dataset whose manifest names an ``attack_column``.

    Raises
    ------
    ValueError
        If the manifest has no ``attack_column``.
    """
    return attack_rates(data.y_true, y_score, data.frame[_attack_column(data)], threshold=threshold,
                        sensitive=data.sensitive, level=level)


@dataclass(frozen=True)
class PresentationAttacks:
    """Everything ISO/IEC 30107-3 reports for one attack set, overall and per group.

    Attributes
    ----------
    threshold : float
        The operating threshold ``rates`` are read at.
    rates : DataFrame
        :func:`attack_rates` at ``threshold``: APCER per species, APCER_max and BPCER with intervals.
    at_apcer : DataFrame
        :func:`bpcer_at_apcer`: every group's rates at the global thresholds where APCER_max reaches each target
        (the ``BPCER`` rows of targets 0.10 and 0.05 are BPCER10 and BPCER20).
    curve : DataFrame
        :func:`apcer_bpcer_curve` overall and per group, at the same thresholds.
    """

    threshold: float
    rates: pd.DataFrame
    at_apcer: pd.DataFrame
    curve: pd.DataFrame


def presentation_attacks(y_true: np.ndarray, y_score: np.ndarray, attack: Sequence[str] | pd.Series, *,
                         threshold: float, sensitive: pd.DataFrame | None = None,
                         targets: Sequence[float] = (0.10, 0.05), level: float = CI_LEVEL) -> PresentationAttacks:
    """:func:`attack_rates` at ``threshold``, :func:`bpcer_at_apcer` at the APCER ``targets`` and the per-group
    :func:`apcer_bpcer_curve`, together."""
    return PresentationAttacks(
        threshold=float(threshold),
        rates=attack_rates(y_true, y_score, attack, threshold=threshold, sensitive=sensitive, level=level),
        at_apcer=bpcer_at_apcer(y_true, y_score, attack, targets=targets, sensitive=sensitive, level=level),
        curve=apcer_bpcer_curve(y_true, y_score, attack, sensitive=sensitive))


def spoof_dataset_report(data: Dataset, y_score: np.ndarray, *, threshold: float, level: float = CI_LEVEL,
                         targets: Sequence[float] = (0.10, 0.05)) -> PresentationAttacks:
    """:func:`presentation_attacks` for a dataset whose manifest names an ``attack_column``.

    Raises
    ------
    ValueError
        If the manifest has no ``attack_column``.
    """
    return presentation_attacks(data.y_true, y_score, data.frame[_attack_column(data)], threshold=threshold,
                                sensitive=data.sensitive, targets=targets, level=level)


def _pad_arrays(y_true: np.ndarray, y_score: np.ndarray, attack: Sequence[str] | pd.Series
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    species = attack_species(attack)
    score = np.asarray(y_score, dtype=float)
    bona = (species == "") & np.asarray(y_true).astype(bool)
    if not (species != "").any() or not bona.any():
        raise ValueError("APCER and BPCER need attack samples and bona fide samples with a positive label")
    return species, score, bona


def apcer_bpcer_curve(y_true: np.ndarray, y_score: np.ndarray, attack: Sequence[str] | pd.Series, *,
                      sensitive: pd.DataFrame | None = None) -> pd.DataFrame:
    """APCER of every species, APCER_max and BPCER at every distinct score as threshold (``score >= t``
    accepts), from "accept everything" to "accept nothing".

    Parameters
    ----------
    sensitive : DataFrame, optional
        Also one curve per group of each column, read at the same thresholds (every distinct score of all
        presentations): a group's curve shows its error rates where the global threshold would be set.

    Returns
    -------
    DataFrame
        ``threshold``, ``apcer_max``, ``bpcer`` and ``APCER:<species>`` columns, thresholds ascending; with
        ``sensitive``, also ``feature`` and ``group`` (``overall``/``all`` first). A group without bona fide
        presentations (or without attacks of a species) has NaN there.

    Examples
    --------
    >>> c = apcer_bpcer_curve(np.array([1, 1, 0]), np.array([.9, .4, .6]), ["", "", "print"])
    >>> c[["threshold", "apcer_max", "bpcer"]].to_numpy().tolist()[1:3]
    [[0.6, 1.0, 0.5], [0.9, 0.0, 0.5]]
    """
    species, score, bona = _pad_arrays(y_true, y_score, attack)
    thresholds = np.r_[np.unique(score), np.nextafter(score.max(), np.inf)]
    kinds = sorted(set(species) - {""})
    groupings = {"overall": pd.Series(np.full(len(score), "all"))}
    if sensitive is not None:
        groupings.update({k: v.astype(str).reset_index(drop=True)
                          for k, v in group_columns(sensitive, intersections=False).items()})
    frames = []
    for feature, values in groupings.items():
        values = values.to_numpy()
        for group in sorted(pd.unique(values), key=str):
            mask = values == group
            out = {"threshold": thresholds}
            for kind in kinds:
                out[f"APCER:{kind}"] = _share_at_or_above(score[mask & (species == kind)], thresholds)
            out["bpcer"] = 1 - _share_at_or_above(score[mask & bona], thresholds)  # rejected: < t
            frame = pd.DataFrame(out)
            frame.insert(1, "apcer_max", frame[[f"APCER:{k}" for k in kinds]].max(axis=1, skipna=True))
            if sensitive is not None:
                frame.insert(0, "group", group)
                frame.insert(0, "feature", feature)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _share_at_or_above(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Share of ``scores`` at or above each threshold (NaN for no scores)."""
    if scores.size == 0:
        return np.full(thresholds.size, np.nan)
    s = np.sort(scores)
    return (s.size - np.searchsorted(s, thresholds, side="left")) / s.size


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
