"""Which model is better, overall and for every group? Candidates evaluated on the same samples are
compared with paired statistics.

A candidate is one report: its ``metrics.json`` and its per-sample ``scores.parquet`` (see
:meth:`evalkit.evaluation.Evaluation.scores_frame`). :func:`compare` pairs every candidate with a
baseline on the same samples and gives

- a **leaderboard**: each report's headline metrics with their intervals, largest disparities and
  cost, ranked by one metric;
- **per-group deltas**: candidate − baseline for every metric of :data:`evalkit.paired.PAIRED_METRICS`,
  overall and in every group and pairwise intersection, with a paired bootstrap interval (the same
  Poisson weights for both models, so the interval reflects only how they disagree) and a p-value;
  the p-values of all groups big enough to compare are adjusted together with Benjamini-Hochberg;
- **tests**: McNemar's exact test of error rates, DeLong's test of ROC AUC and the decision flip rate
  (with an exact interval), overall and per group (:mod:`evalkit.significance`).

Candidates evaluated on different data (another sha256, or other rows) are refused by
:func:`check_same_data` unless ``allow_different_data`` is set; then they are compared on the samples
they share (joined on dataset and id).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .bootstrap import percentile_interval
from .cost import cost_metrics
from .exceptions import EvalkitError
from .fairness import group_columns
from .metrics import LOWER_IS_BETTER
from .paired import (
    COUNT_METRICS,
    PAIRED_METRICS,
    confusion_counts,
    count_metric,
    group_matrix,
    weight_blocks,
    weighted_auc,
)
from .significance import delong, flip_rate, mcnemar
from .uncertainty import benjamini_hochberg

#: Metrics of the per-group deltas by default (FNR is left out: it is 1 − recall).
COMPARE_METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "recall", "fpr", "precision", "f1", "selection_rate")
#: Metrics with no better direction: their differences are reported, never called better or worse.
NEUTRAL_METRICS: frozenset[str] = frozenset({"selection_rate"})

#: Headline metrics of the leaderboard (each with its interval from the candidate's report).
LEADERBOARD_METRICS: tuple[str, ...] = ("roc_auc", "average_precision", "eer", "accuracy", "recall", "fpr", "f1")
#: Disparities shown on the leaderboard (largest difference between groups, over features).
LEADERBOARD_DISPARITIES: tuple[str, ...] = ("recall", "fpr", "selection_rate")
#: Cost figures shown on the leaderboard: MLflow keys of :func:`evalkit.cost.cost_metrics`.
LEADERBOARD_COST: tuple[str, ...] = ("cost/latency_p95_ms", "cost/rows_per_second", "cost/file_mb",
                                     "cost/peak_memory_mb")


class ComparisonError(EvalkitError):
    """Candidates that cannot be compared (different data, no shared samples, a missing file)."""


@dataclass(frozen=True)
class Candidate:
    """One evaluated model: a report's ``metrics.json`` and ``scores.parquet``.

    Attributes
    ----------
    name : str
        How the comparison calls it (the model name; ``name@run`` when a model appears twice).
    metrics : dict
        The report's ``metrics.json``.
    scores : DataFrame
        The report's ``scores.parquet``: ``id``, ``dataset``, ``y_true``, ``score``, ``weight`` and
        ``group:<feature>`` columns.
    run_id : str or None
        The MLflow run of the report.
    """

    name: str
    metrics: dict[str, Any]
    scores: pd.DataFrame
    run_id: str | None = None

    @classmethod
    def from_evaluation(cls, ev: Any, name: str | None = None) -> Candidate:
        """A candidate from an in-process :class:`~evalkit.evaluation.Evaluation` (what its report would hold)."""
        return cls(name=name or ev.model.name, metrics=ev.to_dict(), scores=ev.scores_frame(), run_id=ev.run_id)

    @property
    def threshold(self) -> float:
        """The report's decision threshold."""
        return float(self.metrics["threshold"])

    @property
    def data_key(self) -> tuple[tuple[str, str], ...]:
        """``(dataset name, sha256)`` of every dataset the report evaluated, sorted."""
        return tuple(sorted((d["name"], d["sha256"]) for d in self.metrics.get("datasets", [])))

    @property
    def balance(self) -> str:
        """How the report balanced its data (``none`` unless it did)."""
        b = self.metrics.get("balance") or {}
        return f"{b.get('method', 'none')}" + (f" by {b['by']}" if b.get("by") else "")


def _describe(c: Candidate) -> str:
    data = ", ".join(f"{n} (sha256 {s[:12]}…)" for n, s in c.data_key) or "no dataset recorded"
    run = f", run {c.run_id}" if c.run_id else ""
    return f"{c.name}{run}: {data}, {len(c.scores):,} rows, balance {c.balance}"


def check_same_data(candidates: Sequence[Candidate], *, allow_different_data: bool = False) -> bool:
    """Refuse candidates evaluated on different data, saying which and how.

    Data are the same when every candidate's datasets have the same names and sha256 and the same
    rows were evaluated (ids, labels and weights; balancing can change them).

    Returns
    -------
    bool
        True when the data are the same; False when they differ and ``allow_different_data`` is set.

    Raises
    ------
    ComparisonError
        When the data differ and ``allow_different_data`` is not set.
    """
    first = candidates[0]
    reasons = []
    for c in candidates[1:]:
        if c.data_key != first.data_key:
            reasons.append("different datasets (name or sha256)")
        elif not (len(c.scores) == len(first.scores)
                  and c.scores["id"].equals(first.scores["id"]) and c.scores["dataset"].equals(first.scores["dataset"])):
            reasons.append("the same datasets but different rows (balancing or a subset)")
        elif not (c.scores["y_true"].equals(first.scores["y_true"]) and c.scores["weight"].equals(first.scores["weight"])):
            reasons.append("the same rows with different labels or weights")
        else:
            continue
        if not allow_different_data:
            raise ComparisonError(
                f"cannot compare {first.name} and {c.name}: they were evaluated on {reasons[-1]}. "
                f"{_describe(first)}; {_describe(c)}. Paired statistics need the same samples: evaluate both on "
                "the same manifest, or pass --allow-different-data to compare them on the samples they share "
                "(joined on dataset and id).")
    return not reasons


@dataclass
class Comparison:
    """The result of :func:`compare`.

    Attributes
    ----------
    candidates : list of Candidate
    baseline : str
        The name of the candidate the others are compared with.
    samples : DataFrame
        The aligned samples: ``y_true``, ``weight``, one ``score:<name>`` column per candidate and the
        ``group:<feature>`` columns.
    same_data : bool
        False when the candidates were evaluated on different data and compared on shared samples.
    leaderboard : DataFrame
        One row per candidate (best first by ``rank_by``): headline metrics with ``_ci_low``/``_ci_high``
        columns, largest disparities, cost figures and ``rank``.
    deltas : DataFrame
        One row per candidate × feature × group × metric: ``n``, ``baseline``, ``value``,
        ``difference`` (candidate − baseline), ``ci_low``, ``ci_high``, ``p_value``, ``p_adjusted``,
        ``significant``, ``better`` (True/False: the difference is in the metric's good/bad direction; None for
        :data:`NEUTRAL_METRICS`) and ``small``.
    tests : DataFrame
        One row per candidate × feature × group: McNemar (``mcnemar_b``, ``mcnemar_c``, ``mcnemar_p``),
        DeLong (``delong_difference``, ``delong_ci_low``, ``delong_ci_high``, ``delong_p``) and flips
        (``flips``, ``flip_rate``, ``flip_ci_low``, ``flip_ci_high``).
    settings : dict
        ``rank_by``, ``n_boot``, ``ci_level``, ``seed``, ``fdr``, ``min_group_size``, ``intersections``.
    """

    candidates: list[Candidate]
    baseline: str
    samples: pd.DataFrame
    same_data: bool
    leaderboard: pd.DataFrame
    deltas: pd.DataFrame
    tests: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Candidate names, in the order given."""
        return [c.name for c in self.candidates]

    def candidate(self, name: str) -> Candidate:
        """The candidate called ``name``."""
        return next(c for c in self.candidates if c.name == name)

    def significant(self, name: str | None = None) -> pd.DataFrame:
        """Deltas that survive the Benjamini-Hochberg correction (of one candidate), largest first."""
        d = self.deltas[self.deltas["significant"]]
        if name is not None:
            d = d[d["candidate"] == name]
        return d.reindex(d["difference"].abs().sort_values(ascending=False, kind="stable").index)

    def verdicts(self) -> pd.DataFrame:
        """One row per challenger: how many surviving differences are better and worse (selection rate is
        neither), the overall
        differences in ``rank_by`` and error rate, and the groups it is significantly worse for."""
        rank_by = self.settings.get("rank_by", "roc_auc")
        rows = []
        for c in self.candidates:
            if c.name == self.baseline:
                continue
            sig = self.significant(c.name)
            overall = self.deltas[(self.deltas["candidate"] == c.name) & (self.deltas["feature"] == "overall")]
            main = overall[overall["metric"] == rank_by]
            worse = sig[(sig["better"] == False) & (sig["feature"] != "overall")]  # noqa: E712 (None: neutral)
            flips = self.tests[(self.tests["candidate"] == c.name) & (self.tests["feature"] == "overall")]
            rows.append({
                "candidate": c.name,
                "metric": rank_by,
                "difference": float(main["difference"].iloc[0]) if len(main) else math.nan,
                "ci_low": float(main["ci_low"].iloc[0]) if len(main) else math.nan,
                "ci_high": float(main["ci_high"].iloc[0]) if len(main) else math.nan,
                "significant": bool(main["significant"].iloc[0]) if len(main) else False,
                "better": int((sig["better"] == True).sum()),  # noqa: E712
                "worse": int((sig["better"] == False).sum()),  # noqa: E712
                "worse_groups": [f"{r.feature}={r.group} ({r.metric})" for r in worse.itertuples()],
                "flip_rate": float(flips["flip_rate"].iloc[0]) if len(flips) else math.nan,
                "mcnemar_p": float(flips["mcnemar_p"].iloc[0]) if len(flips) else math.nan,
                "delong_p": float(flips["delong_p"].iloc[0]) if len(flips) else math.nan,
            })
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``comparison.json``: settings, candidates, leaderboard, verdicts, deltas, tests."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _plain(v) for k, v in row.items()} for row in frame.reset_index().to_dict("records")]

        return {
            "baseline": self.baseline,
            "same_data": self.same_data,
            "n": int(len(self.samples)),
            "settings": self.settings,
            "candidates": [{"name": c.name, "run_id": c.run_id, "threshold": c.threshold,
                            "datasets": [{"name": n, "sha256": s} for n, s in c.data_key],
                            "rows": int(len(c.scores)), "balance": c.balance} for c in self.candidates],
            "leaderboard": records(self.leaderboard),
            "verdicts": records(self.verdicts()),
            "deltas": records(self.deltas),
            "tests": records(self.tests),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def align(candidates: Sequence[Candidate], *, same_data: bool) -> pd.DataFrame:
    """The candidates' scores side by side on their shared samples (all rows when ``same_data``).

    Raises
    ------
    ComparisonError
        If no sample is shared, or a shared sample has different labels in two reports.
    """
    base = candidates[0].scores
    groups = [c for c in base.columns if c.startswith("group:")]
    for c in candidates[1:]:
        groups = [g for g in groups if g in c.scores.columns]
    if same_data:
        out = base[["dataset", "id", "y_true", "weight", *groups]].reset_index(drop=True)
        for c in candidates:
            out[f"score:{c.name}"] = c.scores["score"].to_numpy(dtype=np.float64)
        return out
    out = base[["dataset", "id", "y_true", "weight", *groups]].rename(columns={"y_true": "y_true", "weight": "weight"})
    out[f"score:{candidates[0].name}"] = base["score"].to_numpy(dtype=np.float64)
    for c in candidates[1:]:
        right = c.scores[["dataset", "id", "y_true", "score"]].rename(
            columns={"y_true": f"y_true:{c.name}", "score": f"score:{c.name}"})
        out = out.merge(right, on=["dataset", "id"], how="inner", validate="one_to_one")
        differ = out["y_true"] != out[f"y_true:{c.name}"]
        if differ.any():
            raise ComparisonError(f"{int(differ.sum())} shared samples have different labels in {candidates[0].name} "
                                  f"and {c.name}, e.g. ids {out.loc[differ, 'id'].head(5).tolist()}")
        out = out.drop(columns=f"y_true:{c.name}")
    if out.empty:
        raise ComparisonError(f"{', '.join(c.name for c in candidates)} share no sample (joined on dataset and id)")
    return out.reset_index(drop=True)


def leaderboard(candidates: Sequence[Candidate], *, rank_by: str = "roc_auc") -> pd.DataFrame:
    """Each candidate's headline metrics with intervals, largest disparities and cost, best first."""
    rows = []
    for c in candidates:
        m = c.metrics
        row: dict[str, Any] = {"candidate": c.name, "n": m.get("n"), "threshold": c.threshold}
        for metric in LEADERBOARD_METRICS:
            row[metric] = m["overall"].get(metric)
            ci = (m.get("overall_ci") or {}).get(metric) or {}
            row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = ci.get("ci_low"), ci.get("ci_high")
        for metric in LEADERBOARD_DISPARITIES:
            diffs = [(d[metric]["difference"], feature) for feature, d in (m.get("disparities") or {}).items()
                     if metric in d and d[metric].get("difference") is not None and "&" not in feature]
            largest = max(diffs, default=(None, None))
            row[f"max_{metric}_gap"], row[f"max_{metric}_gap_feature"] = largest
        cost = cost_metrics(m.get("cost"))
        row.update({key: cost.get(key) for key in LEADERBOARD_COST})
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("candidate")
    values = pd.to_numeric(frame[rank_by], errors="coerce")
    frame["rank"] = values.rank(ascending=rank_by in LOWER_IS_BETTER, method="min", na_option="bottom").astype(int)
    return frame.sort_values(["rank"], kind="stable")


def _groupings(samples: pd.DataFrame, intersections: bool) -> dict[str, pd.Series]:
    sensitive = samples[[c for c in samples.columns if c.startswith("group:")]]
    sensitive = sensitive.rename(columns=lambda c: c[len("group:"):])
    return group_columns(sensitive, intersections=intersections) if sensitive.shape[1] else {}


def _replicate_metrics(y: np.ndarray, score: np.ndarray, threshold: float, groups: np.ndarray,
                       weights: np.ndarray, metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Every metric for every group column, for each row of ``weights`` ``(B, n)``: ``(B, k)`` arrays."""
    out: dict[str, np.ndarray] = {}
    counted = [m for m in metrics if m in COUNT_METRICS]
    if counted:
        c = confusion_counts(y, score >= threshold, groups, weights)
        out.update({m: count_metric(m, c["tp"], c["fp"], c["tn"], c["fn"]) for m in counted})
    if "roc_auc" in metrics:
        cols = []
        for k in range(groups.shape[1]):
            rows = groups[:, k] > 0
            cols.append(weighted_auc(y[rows], score[rows], weights[:, rows]))
        out["roc_auc"] = np.stack(cols, axis=-1)
    return out


def _nan_std(replicates: np.ndarray) -> np.ndarray:
    """Standard deviation over replicates (axis 0) of the defined values; NaN with fewer than two."""
    defined = np.isfinite(replicates)
    count = defined.sum(axis=0)
    values = np.where(defined, replicates, 0.0)
    mean = values.sum(axis=0) / np.maximum(count, 1)
    var = (np.where(defined, replicates - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count - 1, 1)
    return np.where(count > 1, np.sqrt(var), np.nan)


def _p_value(difference: float, se: float) -> float:
    """Two-sided normal p-value of a difference with bootstrap standard error ``se``."""
    if not (math.isfinite(difference) and math.isfinite(se)):
        return math.nan
    if se <= 0:
        return 1.0 if difference == 0 else 0.0
    return float(math.erfc(abs(difference) / se / math.sqrt(2)))


def check_compare_settings(names: Sequence[str], *, baseline: str | None = None,
                           metrics: Sequence[str] = PAIRED_METRICS, rank_by: str = "roc_auc", n_boot: int = 1000,
                           ci_level: float = 0.95, fdr: float = 0.05, min_group_size: int = 30) -> None:
    """Check :func:`compare`'s settings for candidates called ``names``, before anything is loaded or run.

    Raises
    ------
    ValueError
        Naming the parameter and what it expected.
    """
    names = list(names)
    if len(names) < 2:
        raise ValueError(f"candidates: need at least two to compare, got {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"candidates: names must be distinct, got {names}")
    if baseline is not None and baseline not in names:
        raise ValueError(f"baseline must be one of the candidates {names}, got {baseline!r}")
    unknown = [m for m in metrics if m not in PAIRED_METRICS]
    if unknown or not metrics:
        raise ValueError(f"metrics must be a non-empty subset of {list(PAIRED_METRICS)}, got {list(metrics)}")
    if rank_by not in LEADERBOARD_METRICS:
        raise ValueError(f"rank_by must be one of {list(LEADERBOARD_METRICS)}, got {rank_by!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 10:
        raise ValueError(f"n_boot must be a whole number >= 10, got {n_boot!r}")
    for pname, value in (("ci_level", ci_level), ("fdr", fdr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValueError(f"{pname} must lie strictly between 0 and 1, got {value!r}")
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, int) or min_group_size < 1:
        raise ValueError(f"min_group_size must be a whole number >= 1, got {min_group_size!r}")


def compare(
    candidates: Sequence[Candidate],
    *,
    baseline: str | None = None,
    metrics: Sequence[str] = COMPARE_METRICS,
    rank_by: str = "roc_auc",
    n_boot: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    fdr: float = 0.05,
    min_group_size: int = 30,
    intersections: bool = True,
    allow_different_data: bool = False,
    progress: bool = False,
) -> Comparison:
    """Compare candidates with a baseline on the same samples (see the module docstring).

    Parameters
    ----------
    candidates : sequence of Candidate
        Two or more, with distinct names.
    baseline : str, optional
        The candidate the others are compared with (default the first).
    metrics : sequence of str, default=:data:`COMPARE_METRICS`
        Metrics for the per-group deltas (any of :data:`evalkit.paired.PAIRED_METRICS`).
    rank_by : str, default="roc_auc"
        Leaderboard order (one of :data:`LEADERBOARD_METRICS`).
    n_boot : int, default=1000
        Paired bootstrap resamples (at least 10).
    ci_level : float, default=0.95
    seed : int, default=0
        The same seed gives the same intervals.
    fdr : float, default=0.05
        False discovery rate of the Benjamini-Hochberg correction over all compared groups and metrics.
    min_group_size : int, default=30
        Smaller groups are listed (``small``) but left out of the correction and never significant.
    intersections : bool, default=True
        Also compare pairwise intersections of the sensitive features.
    allow_different_data : bool, default=False
        Compare candidates evaluated on different data on the samples they share.
    progress : bool, default=False
        Print one line per block of bootstrap resamples to stderr.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        On bad settings (naming the parameter).
    ComparisonError
        When the candidates cannot be compared.
    """
    import sys

    names = [c.name for c in candidates]
    check_compare_settings(names, baseline=baseline, metrics=metrics, rank_by=rank_by, n_boot=n_boot,
                           ci_level=ci_level, fdr=fdr, min_group_size=min_group_size)
    baseline = names[0] if baseline is None else baseline

    ordered = [next(c for c in candidates if c.name == baseline), *[c for c in candidates if c.name != baseline]]
    same = check_same_data(ordered, allow_different_data=allow_different_data)
    samples = align(ordered, same_data=same)
    y = samples["y_true"].to_numpy().astype(bool)
    sample_weight = samples["weight"].to_numpy(dtype=np.float64)
    groups, index = group_matrix(_groupings(samples, intersections), len(samples))
    scores = {c.name: samples[f"score:{c.name}"].to_numpy(dtype=np.float64) for c in ordered}
    thresholds = {c.name: c.threshold for c in ordered}

    point = {name: _replicate_metrics(y, scores[name], thresholds[name], groups, sample_weight[None, :], metrics)
             for name in names}
    reps: dict[str, dict[str, list[np.ndarray]]] = {name: {m: [] for m in metrics} for name in names}
    done = 0
    for block in weight_blocks(len(samples), n_boot, seed):
        w = block.astype(np.float64) * sample_weight[None, :]
        for name in names:
            for m, values in _replicate_metrics(y, scores[name], thresholds[name], groups, w, metrics).items():
                reps[name][m].append(values)
        done += block.shape[0]
        if progress:
            print(f"evalkit compare: {done}/{n_boot} paired resamples", file=sys.stderr, flush=True)

    counts = groups.sum(axis=0)
    rows = []
    for name in names:
        if name == baseline:
            continue
        for m in metrics:
            base_rep = np.concatenate(reps[baseline][m])
            diff_rep = np.concatenate(reps[name][m]) - base_rep
            low, high = percentile_interval(diff_rep, ci_level)
            se = _nan_std(diff_rep)
            for k, (feature, group) in enumerate(index):
                b, v = float(point[baseline][m][0, k]), float(point[name][m][0, k])
                d = v - b
                rows.append({"candidate": name, "feature": feature, "group": group, "metric": m, "n": int(counts[k]),
                             "baseline": b, "value": v, "difference": d, "ci_low": float(low[k]),
                             "ci_high": float(high[k]), "p_value": _p_value(d, float(se[k])),
                             "small": bool(counts[k] < min_group_size)})
    deltas = pd.DataFrame(rows)
    tested = ~deltas["small"] & deltas["p_value"].notna()
    deltas["p_adjusted"] = np.nan
    deltas.loc[tested, "p_adjusted"] = benjamini_hochberg(deltas.loc[tested, "p_value"].to_numpy())
    deltas["significant"] = tested & (deltas["p_adjusted"] <= fdr) & (deltas["difference"] != 0)
    lower = deltas["metric"].isin(LOWER_IS_BETTER)
    better = pd.Series(np.where(lower, deltas["difference"] < 0, deltas["difference"] > 0), dtype=object)
    deltas["better"] = better.where(~deltas["metric"].isin(NEUTRAL_METRICS), None)

    tests = _tests(y, scores, thresholds, groups, index, baseline, ci_level)
    settings = {"rank_by": rank_by, "n_boot": n_boot, "ci_level": ci_level, "seed": seed, "fdr": fdr,
                "min_group_size": min_group_size, "intersections": intersections, "metrics": list(metrics),
                "weighted": bool(np.any(sample_weight != 1.0))}
    return Comparison(candidates=list(ordered), baseline=baseline, samples=samples, same_data=same,
                      leaderboard=leaderboard(ordered, rank_by=rank_by), deltas=deltas, tests=tests,
                      settings=settings)


def _tests(y: np.ndarray, scores: Mapping[str, np.ndarray], thresholds: Mapping[str, float], groups: np.ndarray,
           index: pd.MultiIndex, baseline: str, level: float) -> pd.DataFrame:
    """McNemar, DeLong and flip rate of every challenger against the baseline, in every group column."""
    rows = []
    base_pred = scores[baseline] >= thresholds[baseline]
    for name, score in scores.items():
        if name == baseline:
            continue
        pred = score >= thresholds[name]
        for k, (feature, group) in enumerate(index):
            rows_k = groups[:, k] > 0
            mc = mcnemar(y[rows_k], pred[rows_k], base_pred[rows_k])
            dl = delong(y[rows_k], score[rows_k], scores[baseline][rows_k], level=level)
            fl = flip_rate(pred[rows_k], base_pred[rows_k], level=level)
            rows.append({"candidate": name, "feature": feature, "group": group, "n": int(rows_k.sum()),
                         "mcnemar_b": mc["b"], "mcnemar_c": mc["c"], "mcnemar_p": mc["p_value"],
                         "delong_difference": dl["difference"], "delong_ci_low": dl["ci_low"],
                         "delong_ci_high": dl["ci_high"], "delong_p": dl["p_value"],
                         "flips": fl["flips"], "flip_rate": fl["rate"], "flip_ci_low": fl["ci_low"],
                         "flip_ci_high": fl["ci_high"]})
    return pd.DataFrame(rows)
