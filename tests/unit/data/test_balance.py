"""Stratified down-sampling and balancing weights (hypothesis), and composition tables."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.data import balancing_weights, composition, downsample

groups_strategy = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=2, max_size=300).filter(
    lambda g: len(set(g)) >= 2)


@settings(max_examples=80, deadline=None)
@given(groups_strategy, st.integers(0, 2**31))
def test_downsample_gives_equal_groups_reproducibly(groups, seed):
    rows = downsample(groups, seed=seed)
    g = np.asarray(groups)
    smallest = min(pd.Series(g).value_counts())
    assert all(n == smallest for n in pd.Series(g[rows]).value_counts())
    assert len(set(rows)) == len(rows) and np.all(np.diff(rows) > 0)  # distinct, sorted positions
    np.testing.assert_array_equal(rows, downsample(groups, seed=seed))


@settings(max_examples=60, deadline=None)
@given(groups_strategy, st.integers(0, 2**31), st.lists(st.floats(0.05, 1.0), min_size=4, max_size=4))
def test_downsample_to_a_target_distribution(groups, seed, raw):
    names = sorted(set(groups))
    target = dict(zip(names, raw[: len(names)], strict=True))
    rows = downsample(groups, target=target, seed=seed)
    counts = pd.Series(np.asarray(groups)[rows]).value_counts().reindex(names).fillna(0)
    available = pd.Series(groups).value_counts().reindex(names)
    share = pd.Series(target) / sum(target.values())
    assert (counts <= available).all()
    scale = (available / share).min()
    np.testing.assert_array_equal(counts.to_numpy(), np.floor(scale * share + 1e-9).to_numpy())


@settings(max_examples=80, deadline=None)
@given(groups_strategy)
def test_weights_give_every_group_the_same_total(groups):
    w = balancing_weights(groups)
    totals = pd.Series(w).groupby(np.asarray(groups)).sum()
    np.testing.assert_allclose(totals, len(groups) / totals.size)
    assert w.sum() == pytest.approx(len(groups))


def test_bad_targets():
    with pytest.raises(ValueError, match=r"share for exactly the groups \['a', 'b'\]; unknown \['c'\], missing \['b'\]"):
        downsample(["a", "b"], target={"a": 1, "c": 1})
    with pytest.raises(ValueError, match="non-negative numbers with a positive sum"):
        balancing_weights(["a", "b"], target={"a": -1, "b": 1})


def test_composition_counts_shares_sources_and_small_groups():
    sens = pd.DataFrame({"sex": ["F", "M", "M", "M"], "band": ["y", "y", "o", "o"]})
    comp = composition(sens, pd.Series(["prod", "prod", "bench", "bench"]), min_group_size=2)
    assert comp.loc[("sex", "M"), "n"] == 3 and comp.loc[("sex", "M"), "share"] == 0.75
    assert comp.loc[("sex", "M"), "n[bench]"] == 2 and comp.loc[("sex", "F"), "share[prod]"] == 0.5
    assert bool(comp.loc[("sex", "F"), "small"]) and not comp.loc[("sex", "M"), "small"]
    assert comp.loc[("sex&band", "M&o"), "n"] == 2
