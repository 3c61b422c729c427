"""What a model costs to run: file size, load time, memory while scoring, batch throughput and
single-row latency, measured in-process.

Timings are measured, never asserted: they depend on the machine, which the result records (CPU
count, Python, platform) together with how it measured (repetitions, warm-up, batch size).

Peak memory while scoring is what :mod:`tracemalloc` sees allocated at most during one batch (Python
objects and numpy buffers), so memory the process reuses from earlier work still counts. The
resident-set helpers (:func:`reset_peak_rss`, :func:`peak_rss_kb`) serve the benchmarks, which measure
whole computations in fresh processes.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import CI_LEVEL, N_BOOT
from ..data import Dataset
from ._resolve import ModelRef, load_estimator, load_scorer, model_frame

#: Single-row latency percentiles reported, in percent.
PERCENTILES: tuple[int, ...] = (50, 95, 99)


def _status_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def reset_peak_rss() -> tuple[int, bool]:
    """Reset the process's peak resident set size and return ``(current resident KiB, exact)``.

    ``exact`` is False where the counter cannot be reset (not Linux, or not permitted): the peak read
    afterwards is then the process's lifetime peak.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS"), True
    except (OSError, RuntimeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, False


def peak_rss_kb() -> int:
    """The peak resident set size since the last :func:`reset_peak_rss`, in KiB."""
    try:
        return _status_kb("VmHWM")
    except (OSError, RuntimeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def latency_summary(seconds: np.ndarray) -> dict[str, float]:
    """``p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms``, ``max_ms`` of a sample of durations in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    out = {f"p{p}_ms": float(np.percentile(ms, p)) for p in PERCENTILES}
    out.update(mean_ms=float(ms.mean()), max_ms=float(ms.max()))
    return out


def latency_percentile(samples_ms: np.ndarray, percentile: float, *, level: float = CI_LEVEL, n_boot: int = N_BOOT,
                        seed: int = 0) -> tuple[float, float, float]:
    """A latency percentile and its bootstrap percentile interval: ``(estimate, low, high)``.

    Examples
    --------
    >>> est, low, high = latency_percentile(np.arange(1, 101, dtype=float), 50)
    >>> est, low <= est <= high
    (50.5, True)
    """
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    reps = np.percentile(x[rng.integers(0, x.size, size=(n_boot, x.size))], percentile, axis=1)
    alpha = (1 - level) / 2
    return float(np.percentile(x, percentile)), float(np.quantile(reps, alpha)), float(np.quantile(reps, 1 - alpha))


@dataclass
class ModelCost:
    """The result of :func:`measure_cost` (``applicable`` False for a predictions file, with the reason).

    Attributes
    ----------
    file_bytes : int
    load_seconds : float
        Fastest of three loads of the model file (skops, with its type checks).
    batch_rows : int
    batch_seconds : float
        Fastest of three scorings of ``batch_rows`` rows.
    rows_per_second : float
    peak_memory_mb : float
        Peak memory allocated while scoring one batch (:mod:`tracemalloc`: Python objects and numpy
        buffers).
    latency : dict
        Single-row scoring: ``p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms``, ``max_ms``.
    repetitions, warmup : int
        Timed single-row calls and untimed calls before them.
    cpus : int
    machine : str
    """

    applicable: bool
    reason: str = ""
    file_bytes: int = 0
    load_seconds: float = math.nan
    batch_rows: int = 0
    batch_seconds: float = math.nan
    rows_per_second: float = math.nan
    peak_memory_mb: float = math.nan
    latency: dict[str, float] = field(default_factory=dict)
    repetitions: int = 0
    warmup: int = 0
    cpus: int = 0
    machine: str = ""
    latency_samples_ms: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None; the raw latency samples are left out)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
                if k != "latency_samples_ms"}

    def metrics(self) -> dict[str, float | None]:
        """Flat ``cost/...`` values for MLflow (see :func:`cost_metrics`)."""
        return cost_metrics(self.to_dict())


def cost_metrics(cost: dict[str, Any] | None) -> dict[str, float | None]:
    """``cost/...`` MLflow values from the ``cost`` entry of ``metrics.json`` (empty when not measured)."""
    if not cost or not cost.get("applicable"):
        return {}
    out = {"cost/file_mb": cost["file_bytes"] / 2**20, "cost/load_seconds": cost["load_seconds"],
           "cost/rows_per_second": cost["rows_per_second"], "cost/peak_memory_mb": cost["peak_memory_mb"]}
    out.update({f"cost/latency_{k}": v for k, v in cost["latency"].items()})
    return out


def measure_cost(ref: ModelRef, data: Dataset, *, repetitions: int = 200, warmup: int = 20,
                 batch_rows: int | None = None, trusted_types: tuple[str, ...] = ()) -> ModelCost:
    """Measure what ``ref`` costs to load and run on rows of ``data``.

    Parameters
    ----------
    ref : ModelRef
    data : Dataset
        Rows to score (the batch is its first ``batch_rows`` rows; single rows cycle through it).
    repetitions : int, default=200
        Timed single-row calls (warm: after ``warmup`` untimed ones).
    warmup : int, default=20
    batch_rows : int, optional
        Rows per batch (default: all of ``data``, at most 100,000).
    trusted_types : tuple of str

    Returns
    -------
    ModelCost

    Raises
    ------
    ValueError
        If ``repetitions`` < 1, ``warmup`` < 0 or ``batch_rows`` < 1.
    """
    for name, value, low in (("repetitions", repetitions, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    if batch_rows is not None and (not isinstance(batch_rows, int) or batch_rows < 1):
        raise ValueError(f"batch_rows must be a positive whole number, got {batch_rows!r}")
    machine = f"{platform.machine()} {platform.system()}, Python {platform.python_version()}"
    cpus = os.cpu_count() or 1
    if ref.kind in ("predictions", "column"):
        return ModelCost(applicable=False, reason="a predictions file or score column has no model to time", cpus=cpus,
                         machine=machine)
    loads = []
    for _ in range(3):
        t = time.perf_counter()
        load_estimator(ref, trusted_types=trusted_types)
        loads.append(time.perf_counter() - t)
    scorer = load_scorer(ref, trusted_types=trusted_types, positive_label=data.manifest.positive_label)
    frame = model_frame(scorer, data)
    rows = min(len(frame), batch_rows or 100_000)
    batch = frame.iloc[:rows]
    scorer(batch.iloc[:10])  # first-call effects (imports, caches) are not the model's steady cost
    peak = _peak_allocated_mb(scorer, batch)
    batch_s = min(_timed(scorer, batch) for _ in range(3))
    singles = [frame.iloc[[i % len(frame)]] for i in range(warmup + repetitions)]
    for row in singles[:warmup]:
        scorer(row)
    durations = np.array([_timed(scorer, row) for row in singles[warmup:]])
    return ModelCost(applicable=True, file_bytes=ref.path.stat().st_size, load_seconds=min(loads), batch_rows=rows,
                     batch_seconds=batch_s, rows_per_second=rows / batch_s, peak_memory_mb=peak,
                     latency=latency_summary(durations), repetitions=repetitions, warmup=warmup,
                     cpus=cpus, machine=machine, latency_samples_ms=(durations * 1000).tolist())


def _peak_allocated_mb(scorer: Any, frame: Any) -> float:
    """Peak memory allocated while scoring ``frame``, by :mod:`tracemalloc` (Python objects and numpy
    buffers; memory reused from earlier work counts too, unlike growth of the resident set)."""
    import tracemalloc

    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        scorer(frame)
        return (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        if not already:
            tracemalloc.stop()


def _timed(scorer: Any, frame: Any) -> float:
    t = time.perf_counter()
    scorer(frame)
    return time.perf_counter() - t
