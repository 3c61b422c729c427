"""Model cost measurements (evalkit/models/_cost.py): present, positive and described; never asserted as speeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.models import latency_percentile, latency_summary, measure_cost
from evalkit.models import resolve_model


def test_cost_figures_are_present_and_positive(adult, flawed_models):
    cost = measure_cost(resolve_model(str(flawed_models["sound"])), adult[1], repetitions=20, warmup=2,
                        batch_rows=2000)
    d = cost.to_dict()
    assert d["applicable"] and d["batch_rows"] == 2000 and d["repetitions"] == 20 and d["warmup"] == 2
    assert d["file_bytes"] == flawed_models["sound"].stat().st_size
    for key in ("load_seconds", "batch_seconds", "rows_per_second", "peak_memory_mb"):
        assert d[key] > 0, key
    assert 0 < d["latency"]["p50_ms"] <= d["latency"]["p95_ms"] <= d["latency"]["p99_ms"] <= d["latency"]["max_ms"]
    assert d["cpus"] >= 1 and "Python" in d["machine"]
    assert "latency_samples_ms" not in d and len(cost.latency_samples_ms) == 20
    assert set(cost.metrics()) >= {"cost/file_mb", "cost/load_seconds", "cost/rows_per_second",
                                   "cost/peak_memory_mb", "cost/latency_p95_ms"}


def test_predictions_files_have_no_cost(synthetic_dataset):
    from evalkit import load_dataset

    manifest, predictions = synthetic_dataset
    cost = measure_cost(resolve_model(str(predictions)), load_dataset(manifest))
    assert not cost.applicable and "predictions file" in cost.reason and cost.metrics() == {}
    assert cost.to_dict()["load_seconds"] is None


@pytest.mark.parametrize("kwargs, message", [({"repetitions": 0}, "repetitions"), ({"warmup": -1}, "warmup"),
                                             ({"batch_rows": 0}, "batch_rows")])
def test_bad_settings(adult, flawed_models, kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure_cost(resolve_model(str(flawed_models["sound"])), adult[1], **kwargs)


def test_latency_summary_and_latency_percentile_by_hand():
    s = latency_summary(np.array([0.001, 0.002, 0.003, 0.004]))
    assert s["p50_ms"] == pytest.approx(2.5) and s["max_ms"] == pytest.approx(4.0) and s["mean_ms"] == pytest.approx(2.5)
    est, low, high = latency_percentile(np.full(50, 7.0), 95)
    assert (est, low, high) == (7.0, 7.0, 7.0)
    assert all(math.isnan(v) for v in latency_percentile(np.array([]), 95))
