"""Property tests (hypothesis): on random data with tied scores, sample weights, tiny groups and
single-class groups, evalkit's vectorised per-group values equal fairlearn's MetricFrame with
scikit-learn metrics, and the histogram engine equals both."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.stats import bootstrap
from evalkit.data import group_columns
from evalkit.metrics import metrics_by_group
from evalkit.metrics import METRIC_NAMES


@st.composite
def datasets(draw):
    n = draw(st.integers(2, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = draw(st.sampled_from([3, 10, 1000]))  # few distinct scores: many ties
    s = rng.integers(0, levels, n) / (levels - 1)
    y = (rng.random(n) < draw(st.floats(0.0, 1.0))).astype(np.int8)
    n_groups = draw(st.integers(1, 5))
    g = rng.integers(0, n_groups, n)
    g[: draw(st.integers(0, 3))] = n_groups  # a tiny group, possibly single-class or a single sample
    weighted = draw(st.booleans())
    w = rng.choice([0.5, 1.0, 2.0, 3.5], n) if weighted else None
    threshold = draw(st.sampled_from([0.0, 0.25, 0.5, 0.99, 1.0]))
    sens = pd.DataFrame({"g": [f"g{v}" for v in g], "h": rng.choice(["u", "v"], n)})
    return y, s, sens, w, threshold


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # MetricFrame is slow
@given(datasets())
def test_vectorised_equals_metricframe(data):
    y, s, sens, w, threshold = data
    ours = metrics_by_group(y, s, sensitive=sens, threshold=threshold, sample_weight=w)
    ref = metrics_by_group(y, s, sensitive=sens, threshold=threshold, sample_weight=w, engine="fairlearn")
    np.testing.assert_allclose(ours.to_numpy(float), ref.loc[ours.index].to_numpy(float), atol=1e-9, rtol=0,
                               equal_nan=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_histogram_engine_equals_exact_engine(data):
    y, s, sens, w, threshold = data
    exact = metrics_by_group(y, s, sensitive=sens, threshold=threshold, sample_weight=w)
    codes = {f: pd.factorize(v, sort=True)[0] for f, v in group_columns(sens).items()}
    reps = bootstrap(y, s, codes, threshold=threshold, n_boot=1, sample_weight=w)
    for feature in codes:
        np.testing.assert_allclose(reps.binned[feature], exact.loc[feature, list(METRIC_NAMES)].to_numpy(float),
                                   atol=1e-9, rtol=0, equal_nan=True)
