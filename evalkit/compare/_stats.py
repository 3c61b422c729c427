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

How candidates are compared (the baseline, the leaderboard's order, the bootstrap and the correction) is one
:class:`evalkit.settings.CompareSettings`. Candidates evaluated on different data (another sha256, or other
rows) are refused by :func:`check_same_data` unless its ``allow_different_data`` is set; then they are compared
on the samples they share (joined on dataset and id).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..settings import RANK_METRICS, CompareSettings
from ..stats import JointCells, percentile_interval
from ..models import cost_metrics
from ..exceptions import EvalkitError
from ..data import group_columns
from ..metrics import LOWER_IS_BETTER
from ..stats import (
    COUNT_METRICS,
    PAIRED_METRICS,
    SortedScores,
    benjamini_hochberg,
    count_metrics_by_columns,
    delong_by_group,
    flip_rate_counts,
    mcnemar_counts,
    metrics_by_columns,
    placement_order,
    placements,
    tolerance_p_value,
    weight_blocks,
)

#: Metrics of the per-group deltas by default (FNR is left out: it is 1 − recall).
COMPARE_METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "recall", "fpr", "precision", "f1", "selection_rate")
#: Metrics with no better direction: their differences are reported, never called better or worse.
NEUTRAL_METRICS: frozenset[str] = frozenset({"selection_rate"})

#: Headline metrics of the leaderboard (each with its interval from the candidate's report); ``rank_by`` is one.
LEADERBOARD_METRICS: tuple[str, ...] = RANK_METRICS
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
    scale : dict or None
        Score columns compared out of core (:func:`evalkit.compare.compare_columns`): the engine, rows, passes,
        seconds and score grid; ``samples`` is then empty.
    histograms : dict or None
        Out of core: ``edges`` (the fine score grid's lower edges) and ``counts`` (per candidate, its ``(bins, 2)``
        counts of negatives and positives): what the curves are drawn from.
    """

    candidates: list[Candidate]
    baseline: str
    samples: pd.DataFrame
    same_data: bool
    leaderboard: pd.DataFrame
    deltas: pd.DataFrame
    tests: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, Any] | None = None
    histograms: dict[str, Any] | None = None

    @property
    def n(self) -> int:
        """The samples compared (every row of the data file out of core)."""
        return int(self.scale["rows"]) if self.scale else int(len(self.samples))

    @property
    def names(self) -> list[str]:
        """Candidate names, in the order given."""
        return [c.name for c in self.candidates]

    def candidate(self, name: str) -> Candidate:
        """The candidate called ``name``."""
        return next(c for c in self.candidates if c.name == name)

    def significant(self, name: str | None = None) -> pd.DataFrame:
        """Deltas that survive the Benjamini-Hochberg correction (of one candidate), ranked by what the data
        support: the interval bound nearest zero, largest first (then the difference). A large difference in a
        small group, whose interval reaches almost to zero, ranks below a smaller one that is known precisely.
        Groups under ``min_group_size`` are never significant (see ``small``)."""
        d = self.deltas[self.deltas["significant"]]
        if name is not None:
            d = d[d["candidate"] == name]
        diff, low, high = d["difference"].to_numpy(float), d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float)
        bound = np.where(diff >= 0, np.maximum(low, 0), np.maximum(-high, 0))
        order = np.lexsort((-np.abs(diff), -np.nan_to_num(bound, nan=-1.0)))
        return d.iloc[order]

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
            "n": self.n,
            "settings": self.settings,
            **({"scale": self.scale} if self.scale else {}),
            "candidates": [{"name": c.name, "run_id": c.run_id, "threshold": c.threshold,
                            "datasets": [{"name": n, "sha256": s} for n, s in c.data_key],
                            "rows": self.n if self.scale else int(len(c.scores)), "balance": c.balance}
                           for c in self.candidates],
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
        for c in candidates:  # the candidates' own arrays, not copies (pandas copies a bare array it is given)
            out[f"score:{c.name}"] = pd.Series(c.scores["score"].to_numpy(dtype=np.float64), index=out.index,
                                               copy=False)
        return out
    out = base[["dataset", "id", "y_true", "weight", *groups]].copy()
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


@dataclass(frozen=True)
class _Groups:
    """Every group compared, overall first, held as one code per sample and grouping (no rows × groups matrix,
    which at 10⁷ rows and 50 groups would take 2 GB)."""

    codes: dict[str, np.ndarray]
    index: pd.MultiIndex
    columns: list[tuple[str | None, int]]
    counts: np.ndarray

    @classmethod
    def of(cls, samples: pd.DataFrame, intersections: bool) -> _Groups:
        sensitive = samples[[c for c in samples.columns if c.startswith("group:")]]
        sensitive = sensitive.rename(columns=lambda c: c[len("group:"):])
        groupings = group_columns(sensitive, intersections=intersections) if sensitive.shape[1] else {}
        codes, keys, columns, counts = {}, [("overall", "all")], [(None, 0)], [len(samples)]
        for feature, values in groupings.items():  # categoricals with sorted categories (group_columns)
            raw = values.cat.codes.to_numpy()
            if raw.size and raw.min() < 0:
                raise ComparisonError(f"group column {feature!r} has missing values")
            per = np.bincount(raw, minlength=len(values.cat.categories))
            used = np.flatnonzero(per)  # the groups present, in sorted order (pd.factorize(sort=True)'s)
            remap = (np.cumsum(per > 0) - 1).astype(np.min_scalar_type(-max(used.size, 1)))  # int8 up to 128
            codes[feature] = remap[raw]
            for k, j in enumerate(used):
                keys.append((feature, str(values.cat.categories[j])))
                columns.append((feature, k))
                counts.append(int(per[j]))
        return cls(codes, pd.MultiIndex.from_tuples(keys, names=["feature", "group"]), columns, np.array(counts))

    def mask(self, k: int) -> np.ndarray | slice:
        """The samples of group column ``k`` (a slice of everything for overall)."""
        feature, code = self.columns[k]
        return slice(None) if feature is None else self.codes[feature] == code

    def member(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``(rows, groups)`` 0/1 float matrix of the given samples (all when None)."""
        n = int(self.counts[0]) if rows is None else rows.size
        out = np.zeros((n, len(self.columns)), dtype=np.float32)
        out[:, 0] = 1
        for k, (feature, code) in enumerate(self.columns[1:], start=1):
            values = self.codes[feature] if rows is None else self.codes[feature][rows]
            out[:, k] = values == code
        return out


@dataclass(frozen=True)
class _Cells:
    """Samples reduced to cells: equal group memberships, label, every model's decision and weight."""

    rows: np.ndarray | None  # a representative sample of each cell (None out of core)
    counts: np.ndarray  # samples per cell
    y: np.ndarray
    preds: dict[str, np.ndarray]
    weight: np.ndarray


#: Most distinct sample weights for which cells are used (balancing weights take one value per group).
_MAX_WEIGHT_VALUES = 256

#: Threads of :func:`_tests`: groupings two at a time (each holds a few arrays of the samples' size; more
#: threads would raise the peak memory for little: the work is bound by memory bandwidth).
_THREADS = 2

#: Samples per step of :func:`_tests`' counts.
_STEP = 1 << 20


def _cells(samples: pd.DataFrame, groups: _Groups, y: np.ndarray, scores: Mapping[str, np.ndarray],
           thresholds: Mapping[str, float], sample_weight: np.ndarray) -> _Cells | None:
    """The cells of the count metrics' paired bootstrap, or None when weights take too many values."""
    if sample_weight.size and np.all(sample_weight == sample_weight[0]):
        weight_codes, weight_values = np.zeros(sample_weight.size, dtype=np.int8), sample_weight[:1]
    else:
        weight_codes, weight_values = pd.factorize(sample_weight, sort=True)
    if len(weight_values) > _MAX_WEIGHT_VALUES:
        return None
    # the sensitive features' codes (their intersections follow from them)
    codes: dict[str, np.ndarray] = {f"group:{f}": groups.codes[f] for f in (c[len("group:"):] for c in samples.columns
                                                                          if c.startswith("group:"))}
    preds = {name: scores[name] >= thresholds[name] for name in scores}
    cells = JointCells({**codes, "y": y, "weight": weight_codes, **{f"pred:{n}": p for n, p in preds.items()}})
    return _Cells(rows=cells.rows, counts=cells.counts, y=cells.of_cell["y"].astype(bool),
                  preds={n: cells.of_cell[f"pred:{n}"].astype(bool) for n in preds},
                  weight=np.asarray(weight_values, dtype=np.float64)[cells.of_cell["weight"]])


def _cell_replicates(cells: _Cells, member: np.ndarray, metrics: Sequence[str], n_boot: int, seed: int,
                     progress: bool) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """Count metrics per group column (``member``: the cells × group columns 0/1 matrix): on the data ``(k,)`` and
    per Poisson replicate ``(B, k)``.

    A sample's Poisson(1) weights summed over a cell of ``c`` samples are Poisson(``c``), so drawing one count
    per cell resamples every sample of it at once, the same draw for every model (they share the cells)."""
    import sys

    def metrics_of(weights: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        return {name: count_metrics_by_columns(metrics, cells.y, pred, member, weights)
                for name, pred in cells.preds.items()}

    point = {name: {m: v[0] for m, v in values.items()}
             for name, values in metrics_of((cells.counts * cells.weight)[None, :]).items()}
    rng = np.random.default_rng(seed)
    block = max(1, min(n_boot, (16 * 2**20) // max(8 * cells.counts.size, 1)))
    parts: list[dict[str, dict[str, np.ndarray]]] = []
    for start in range(0, n_boot, block):
        draws = rng.poisson(cells.counts, size=(min(block, n_boot - start), cells.counts.size))
        parts.append(metrics_of(draws * cells.weight))
        if progress:
            print(f"evalkit compare: {start + draws.shape[0]}/{n_boot} paired resamples", file=sys.stderr, flush=True)
    reps = {name: {m: np.concatenate([p[name][m] for p in parts]) for m in metrics} for name in cells.preds}
    return point, reps


def _sample_replicates(y: np.ndarray, scores: Mapping[str, np.ndarray], thresholds: Mapping[str, float],
                       groups: _Groups, sample_weight: np.ndarray, metrics: Sequence[str], n_boot: int, seed: int,
                       progress: bool) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """Metrics per group column from per-sample Poisson weights (any sample weights; O(rows) per resample, and a
    rows × groups matrix)."""
    import sys

    groups = groups.member()

    point = {name: {m: v[0] for m, v in metrics_by_columns(metrics, y, s, thresholds[name], groups,
                                                            sample_weight[None, :]).items()} for name, s in scores.items()}
    parts: dict[str, dict[str, list[np.ndarray]]] = {name: {m: [] for m in metrics} for name in scores}
    done = 0
    for block in weight_blocks(len(y), n_boot, seed):
        w = block.astype(np.float64) * sample_weight[None, :]
        for name, s in scores.items():
            for m, values in metrics_by_columns(metrics, y, s, thresholds[name], groups, w).items():
                parts[name][m].append(values)
        done += block.shape[0]
        if progress:
            print(f"evalkit compare: {done}/{n_boot} paired resamples", file=sys.stderr, flush=True)
    return point, {name: {m: np.concatenate(v) for m, v in per.items()} for name, per in parts.items()}


def _nan_std(replicates: np.ndarray) -> np.ndarray:
    """Standard deviation over replicates (axis 0) of the defined values; NaN with fewer than two."""
    defined = np.isfinite(replicates)
    count = defined.sum(axis=0)
    values = np.where(defined, replicates, 0.0)
    mean = values.sum(axis=0) / np.maximum(count, 1)
    var = (np.where(defined, replicates - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count - 1, 1)
    return np.where(count > 1, np.sqrt(var), np.nan)


def _p_value(difference: float, se: float) -> float:
    """Two-sided normal p-value of a difference with bootstrap standard error ``se`` (the reference-group
    test's one-sided tail with no tolerance, doubled)."""
    p = 2 * tolerance_p_value(difference, se, 0.0)
    return p if math.isnan(p) else min(1.0, p)


def check_compare_settings(names: Sequence[str], settings: CompareSettings | None = None, *,
                           metrics: Sequence[str] = PAIRED_METRICS) -> None:
    """Check that candidates called ``names`` can be compared with ``settings`` on ``metrics``, before anything is
    loaded or run (the settings' own values are checked when they are made).

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
    baseline = settings.baseline if settings is not None else None
    if baseline is not None and baseline not in names:
        raise ValueError(f"baseline must be one of the candidates {names}, got {baseline!r}")
    unknown = [m for m in metrics if m not in PAIRED_METRICS]
    if unknown or not metrics:
        raise ValueError(f"metrics must be a non-empty subset of {list(PAIRED_METRICS)}, got {list(metrics)}")


def compare(
    candidates: Sequence[Candidate],
    settings: CompareSettings | Mapping[str, Any] | None = None,
    *,
    metrics: Sequence[str] = COMPARE_METRICS,
    intersections: bool = True,
    progress: bool = False,
    **overrides: Any,
) -> Comparison:
    """Compare candidates with a baseline on the same samples (see the module docstring).

    Parameters
    ----------
    candidates : sequence of Candidate
        Two or more, with distinct names.
    settings : CompareSettings or dict, optional
        How they are compared (:class:`evalkit.settings.CompareSettings`): ``baseline`` (default the first),
        ``allow_different_data`` (compare candidates evaluated on different data on the samples they share),
        ``rank_by`` (leaderboard order, one of :data:`LEADERBOARD_METRICS`), ``n_boot`` (paired bootstrap
        resamples, at least 10; the same ``seed`` gives the same intervals), ``ci_level``, ``fdr`` (of the
        Benjamini-Hochberg correction over all compared groups and metrics) and ``min_group_size`` (smaller
        groups are listed, ``small``, but left out of the correction and never significant).
    metrics : sequence of str, default=:data:`COMPARE_METRICS`
        Metrics for the per-group deltas (any of :data:`evalkit.paired.PAIRED_METRICS`).
    intersections : bool, default=True
        Also compare pairwise intersections of the sensitive features.
    progress : bool, default=False
        Print one line per block of bootstrap resamples to stderr.
    **overrides
        Any :class:`~evalkit.settings.CompareSettings` field as a keyword (``compare(candidates, n_boot=200)``).

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

    st = CompareSettings.build(settings, **overrides)
    names = [c.name for c in candidates]
    check_compare_settings(names, st, metrics=metrics)
    baseline = names[0] if st.baseline is None else st.baseline

    ordered = [next(c for c in candidates if c.name == baseline), *[c for c in candidates if c.name != baseline]]
    same = check_same_data(ordered, allow_different_data=st.allow_different_data)
    samples = align(ordered, same_data=same)
    y = samples["y_true"].to_numpy().astype(bool)
    sample_weight = samples["weight"].to_numpy(dtype=np.float64)
    groups = _Groups.of(samples, intersections)
    scores = {c.name: samples[f"score:{c.name}"].to_numpy(dtype=np.float64) for c in ordered}
    thresholds = {c.name: c.threshold for c in ordered}

    weighted = bool(np.any(sample_weight != 1.0))
    tests = _tests(y, scores, thresholds, groups, baseline, st.ci_level)
    counted = [m for m in metrics if m in COUNT_METRICS]
    # DeLong counts samples; a weighted AUC needs the (per-sample) paired bootstrap
    boot_metrics = counted + (["roc_auc"] if "roc_auc" in metrics and weighted else [])
    cells = _cells(samples, groups, y, scores, thresholds, sample_weight) if counted else None
    point: dict[str, dict[str, np.ndarray]] = {name: {} for name in names}
    reps: dict[str, dict[str, np.ndarray]] = {name: {} for name in names}
    if cells is not None:  # count metrics from Poisson counts of cells: exact in distribution, O(cells) per resample
        point, reps = _cell_replicates(cells, groups.member(cells.rows).astype(np.float64), counted, st.n_boot,
                                       st.seed, progress)
    per_sample = [m for m in boot_metrics if cells is None or m not in counted]
    if per_sample:
        more_point, more_reps = _sample_replicates(y, scores, thresholds, groups, sample_weight, per_sample,
                                                   st.n_boot, st.seed, progress)
        for name in names:
            point[name].update(more_point[name])
            reps[name].update(more_reps[name])

    deltas = _deltas(names, baseline, metrics, boot_metrics, point, reps, tests, groups, st, weighted=weighted)
    return Comparison(candidates=list(ordered), baseline=baseline, samples=samples, same_data=same,
                      leaderboard=leaderboard(ordered, rank_by=st.rank_by), deltas=deltas, tests=tests,
                      settings=_settings(metrics, weighted, st, intersections))


def _deltas(names: Sequence[str], baseline: str, metrics: Sequence[str], boot_metrics: Sequence[str],
            point: Mapping[str, Mapping[str, np.ndarray]], reps: Mapping[str, Mapping[str, np.ndarray]],
            tests: pd.DataFrame, groups: _Groups, st: CompareSettings, *, weighted: bool) -> pd.DataFrame:
    """Every challenger's difference to the baseline per group column and metric: the bootstrap metrics from their
    replicates, ROC AUC from DeLong's test (unless ``weighted``); p-values adjusted together (Benjamini-Hochberg)."""
    ci_level, fdr, min_group_size = st.ci_level, st.fdr, st.min_group_size
    delong = "roc_auc" in metrics and not weighted
    index = groups.index
    counts = groups.counts
    rows = []
    for name in names:
        if name == baseline:
            continue
        for m in boot_metrics:
            diff_rep = reps[name][m] - reps[baseline][m]
            low, high = percentile_interval(diff_rep, ci_level)
            se = _nan_std(diff_rep)
            for k, (feature, group) in enumerate(index):
                b, v = float(point[baseline][m][k]), float(point[name][m][k])
                rows.append({"candidate": name, "feature": feature, "group": group, "metric": m, "n": int(counts[k]),
                             "baseline": b, "value": v, "difference": v - b, "ci_low": float(low[k]),
                             "ci_high": float(high[k]), "p_value": _p_value(v - b, float(se[k])),
                             "small": bool(counts[k] < min_group_size), "method": "paired Poisson bootstrap"})
        if delong:
            t = tests[tests["candidate"] == name].reset_index(drop=True)
            for k, (feature, group) in enumerate(index):
                r = t.iloc[k]
                rows.append({"candidate": name, "feature": feature, "group": group, "metric": "roc_auc",
                             "n": int(counts[k]), "baseline": r["auc_baseline"], "value": r["auc_candidate"],
                             "difference": r["delong_difference"], "ci_low": r["delong_ci_low"],
                             "ci_high": r["delong_ci_high"], "p_value": r["delong_p"],
                             "small": bool(counts[k] < min_group_size), "method": "DeLong"})
    deltas = pd.DataFrame(rows)
    tested = ~deltas["small"] & deltas["p_value"].notna()
    deltas["p_adjusted"] = np.nan
    deltas.loc[tested, "p_adjusted"] = benjamini_hochberg(deltas.loc[tested, "p_value"].to_numpy())
    deltas["significant"] = tested & (deltas["p_adjusted"] <= fdr) & (deltas["difference"] != 0)
    lower = deltas["metric"].isin(LOWER_IS_BETTER)
    better = pd.Series(np.where(lower, deltas["difference"] < 0, deltas["difference"] > 0), dtype=object)
    deltas["better"] = better.where(~deltas["metric"].isin(NEUTRAL_METRICS), None)

    order = {m: i for i, m in enumerate(metrics)}
    deltas = deltas.sort_values(["candidate", "metric"], key=lambda c: c.map(order) if c.name == "metric" else c.map(
        {n: i for i, n in enumerate(names)}), kind="stable").reset_index(drop=True)
    return deltas


def _settings(metrics: Sequence[str], weighted: bool, st: CompareSettings, intersections: bool) -> dict[str, Any]:
    """The comparison's ``settings`` record: the leaderboard's order and the statistics, the metrics, weighting and
    each metric's method."""
    return {"rank_by": st.rank_by, **st.statistics(), "intersections": intersections, "metrics": list(metrics),
            "weighted": weighted,
            "methods": {m: ("DeLong" if m == "roc_auc" and not weighted else "paired Poisson bootstrap")
                        for m in metrics}}


def _tests(y: np.ndarray, scores: Mapping[str, np.ndarray], thresholds: Mapping[str, float], groups: _Groups,
           baseline: str, level: float) -> pd.DataFrame:
    """McNemar, DeLong and flip rate of every challenger against the baseline, in every group column.

    McNemar and the flip rate come from counts per (group, label, decision of each model), one ``bincount`` per
    grouping; DeLong from one ranking per model (hashed when its scores have many ties, else sorted) and, per
    grouping, every sample's placement value within its group (:func:`evalkit.stats.placements`, all groups
    at once in O(rows); the baseline's once per grouping). A candidate whose scores are sorted against a
    baseline read from a table is placed in its own score order (:func:`evalkit.stats.placement_order`): no
    value is scattered back to sample order. Each thread reuses its placement arrays from grouping to grouping.
    The numbers are those of the same tests run on each group's samples alone."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in scores if name != baseline}  # group columns in order
    base_pred = scores[baseline] >= thresholds[baseline]
    columns: dict[str | None, list[int]] = {}
    for k, (feature, _) in enumerate(groups.columns):
        columns.setdefault(feature, []).append(k)
    cells = {name: (y.view(np.int8) << 2) | ((score >= thresholds[name]).view(np.int8) << 1) | base_pred.view(np.int8)
             for name, score in scores.items() if name != baseline}  # label, candidate's and baseline's decision

    local = threading.local()  # each thread's placement arrays, reused from grouping to grouping

    def buffer(use: str) -> np.ndarray:
        kept = local.__dict__.setdefault("buffers", {})
        if use not in kept:
            kept[use] = np.empty(y.size)
        return kept[use]

    def grouping(feature: str | None, ranked: Mapping[str, SortedScores]) -> dict[str, list[dict[str, Any]]]:
        codes = None if feature is None else groups.codes[feature]
        n_groups = 1 if codes is None else int(codes.max()) + 1
        base: np.ndarray | None = None  # the baseline's placements in sample order, when a candidate needs them
        out: dict[str, list[dict[str, Any]]] = {}
        for name in rows:
            counts = np.bincount(cells[name], minlength=8) if codes is None else sum(
                np.bincount(codes[lo:lo + _STEP] * np.int32(8) + cells[name][lo:lo + _STEP], minlength=8 * n_groups)
                for lo in range(0, y.size, _STEP))  # a million samples at a time: temporaries stay small
            order = placement_order(ranked[name], ranked[baseline], n_groups)
            if order is None:
                if base is None:
                    base = placements(ranked[baseline], codes, n_groups, out=buffer("baseline"))
                candidate = placements(ranked[name], codes, n_groups, out=buffer("candidate"))
                tests = delong_by_group(y, candidate, base, codes, n_groups, level=level)
            else:  # both in the candidate's score order: nothing scattered back to sample order
                ordered = None if codes is None else codes[order]
                candidate = placements(ranked[name], ordered, n_groups, out=buffer("candidate"), order=order)
                in_order = placements(ranked[baseline], ordered, n_groups, out=buffer("ordered"), order=order)
                tests = delong_by_group(ranked[name].y, candidate, in_order, ordered, n_groups, level=level)
            out[name] = [_row(name, groups, k, counts[8 * code: 8 * code + 8], level, tests[code])
                         for k, code in ((k, groups.columns[k][1]) for k in columns[feature])]
        return out

    # models ranked, then groupings, two at a time: numpy releases the GIL in the sorts, gathers and sums
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        ranked = dict(zip(scores, pool.map(lambda score: SortedScores(y, score), scores.values())))
        for done in pool.map(lambda feature: grouping(feature, ranked), list(columns)):
            for name, per in done.items():
                rows[name].extend(per)
    return pd.DataFrame([row for per in rows.values() for row in per])


def _row(name: str, groups: _Groups, k: int, c: np.ndarray, level: float, dl: Mapping[str, float]) -> dict[str, Any]:
    """One row of :func:`_tests`: group column ``k``'s 8 joint counts ``c`` (label, decision of the candidate, of
    the baseline) and DeLong's result ``dl``."""
    # right only for the candidate: (y=1, a=1, b=0) and (y=0, a=0, b=1); only the baseline: (5, 2)
    mc = mcnemar_counts(int(c[6] + c[1]), int(c[5] + c[2]), int(c.sum()))
    fl = flip_rate_counts(int(c[1] + c[2] + c[5] + c[6]), int(c.sum()), level=level)
    feature, group = groups.index[k]
    return {"candidate": name, "feature": feature, "group": group, "n": int(groups.counts[k]),
            "mcnemar_b": mc["b"], "mcnemar_c": mc["c"], "mcnemar_p": mc["p_value"],
            "auc_candidate": dl["auc_a"], "auc_baseline": dl["auc_b"], "delong_difference": dl["difference"],
            "delong_ci_low": dl["ci_low"], "delong_ci_high": dl["ci_high"], "delong_p": dl["p_value"],
            "flips": fl["flips"], "flip_rate": fl["rate"], "flip_ci_low": fl["ci_low"], "flip_ci_high": fl["ci_high"]}
