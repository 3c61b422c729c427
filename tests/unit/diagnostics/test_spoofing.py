"""Presentation-attack rates (evalkit/diagnostics/_spoofing.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from evalkit import load_dataset
from evalkit.models import resolve_model, score
from evalkit.diagnostics import attack_rates, attack_species, spoof_dataset_rates, worst_apcer
from evalkit.stats import clopper_pearson
from evalkit.data import make_spoof_scores
from tests.conftest import ROOT


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (7, 250), (1, 1)])
def test_clopper_pearson_equals_scipy(k, n):
    low, high = clopper_pearson(k, n, 0.9)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.9, method="exact")
    assert float(low) == pytest.approx(ref.low, abs=1e-12) and float(high) == pytest.approx(ref.high, abs=1e-12)
    assert np.isnan(clopper_pearson(0, 0)[0])


def test_species_and_bona_fide_values():
    assert attack_species(["bona_fide", "", None, "print", " replay ", "nan"]).tolist() == \
        ["", "", "", "print", "replay", ""]


def test_rates_by_hand():
    # 4 print attacks (2 accepted), 2 replay attacks (0 accepted), 4 genuine: 3 positives (1 rejected), 1 negative
    y = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    s = np.array([0.9, 0.7, 0.2, 0.1, 0.3, 0.4, 0.8, 0.9, 0.3, 0.1])
    attack = ["print"] * 4 + ["replay"] * 2 + ["bona_fide"] * 4
    sex = pd.DataFrame({"sex": ["F", "M", "F", "M", "F", "M", "F", "M", "F", "M"]})
    r = attack_rates(y, s, attack, threshold=0.5, sensitive=sex).set_index(["feature", "group", "rate"])
    assert r.loc[("overall", "all", "APCER:print"), ["errors", "n", "value"]].tolist() == [2, 4, 0.5]
    assert r.loc[("overall", "all", "APCER:replay"), "value"] == 0.0
    assert r.loc[("overall", "all", "BPCER"), ["errors", "n"]].tolist() == [1, 3]
    assert r.loc[("sex", "F", "APCER:print"), ["errors", "n"]].tolist() == [1, 2]
    assert r.loc[("sex", "M", "BPCER"), ["errors", "n"]].tolist() == [0, 1]
    assert worst_apcer(r.reset_index()).rate == "APCER:print"
    # APCER_max: the worst species' counts; its interval from both species' CP intervals at level 1 - 0.05/2
    top = r.loc[("overall", "all", "APCER_max")]
    assert [top.errors, top.n, top.value] == [2, 4, 0.5]
    lo, hi = clopper_pearson(np.array([2, 0]), np.array([4, 2]), 0.975)
    assert top.ci_low == pytest.approx(lo.max(), abs=1e-12) and top.ci_high == pytest.approx(hi.max(), abs=1e-12)
    assert r.loc[("sex", "F", "APCER_max"), ["errors", "n"]].tolist() == [1, 2]
    # each group's rows stay together: its species, APCER_max, then BPCER
    assert list(r.loc[("sex", "M")].index) == ["APCER:print", "APCER:replay", "APCER_max", "BPCER"]


def test_apcer_max_interval_covers_the_worst_species_at_least_at_its_level():
    """Coverage simulation: three species with known APCERs (0.05, 0.10, 0.12) and 60 attacks each; the interval
    of the maximum covers the true maximum (0.12) in at least 95 % of 400 simulated attack sets (Bonferroni is
    conservative), while the worst observed species' own 95 % interval covers it less often (it is chosen
    because it came out high)."""
    rng = np.random.default_rng(30107)
    true = {"print": 0.05, "replay": 0.10, "overlay": 0.12}
    hits = naive = 0
    for _ in range(400):
        species = np.repeat(list(true), 60).tolist() + ["bona_fide"] * 30
        accepted = np.r_[np.concatenate([rng.random(60) < p for p in true.values()]), rng.random(30) < 0.9]
        r = attack_rates(np.ones(len(species)), accepted.astype(float), species, threshold=0.5)
        row = r[r.rate == "APCER_max"].iloc[0]
        hits += row.ci_low <= 0.12 <= row.ci_high
        worst = worst_apcer(r)
        naive += worst.ci_low <= 0.12 <= worst.ci_high
    assert hits / 400 >= 0.95, hits
    assert naive < hits


def test_injected_acceptance_bias_is_recovered():
    df = make_spoof_scores(2000, 1200, acceptance={"A": 0.05, "B": 0.30}, seed=2)
    r = attack_rates(df.y.to_numpy(), df.score.to_numpy(), df.attack, sensitive=df[["group"]])
    apcer = r[r.rate.str.startswith("APCER:") & (r.feature == "group")]
    a, b = apcer[apcer.group == "A"], apcer[apcer.group == "B"]
    assert (a.ci_low <= 0.05).all() and (a.ci_high >= 0.05).all()
    assert (b.ci_low <= 0.30).all() and (b.ci_high >= 0.30).all()
    assert b.ci_low.min() > a.ci_high.max()  # B's attacks get through more often, with confidence


def test_no_attacks_and_no_attack_column_are_clear_errors(adult):
    with pytest.raises(ValueError, match="no attack samples"):
        attack_rates(np.ones(3), np.ones(3), ["bona_fide"] * 3)
    with pytest.raises(ValueError, match="has no attack_column"):
        spoof_dataset_rates(adult[1], np.zeros(len(adult[1])), threshold=0.5)


def test_shipped_digits_attack_set_scores_through_the_real_model():
    data = load_dataset(ROOT / "data_manifests" / "digits_spoof.yaml")
    assert data.manifest.attack_column == "attack"
    assert data.frame["attack"].value_counts().to_dict() == {"bona_fide": 150, "print": 50, "replay": 50,
                                                             "overlay": 50}
    scores = score(resolve_model(str(ROOT / "data" / "digits" / "digits_logreg.skops")), data)
    r = spoof_dataset_rates(data, scores, threshold=0.5)
    overall = r[r.feature == "overall"].set_index("rate")
    assert set(overall.index) == {"APCER:overlay", "APCER:print", "APCER:replay", "APCER_max", "BPCER"}
    assert overall.loc["APCER:overlay", "errors"] == int(((scores >= 0.5) & (data.frame.attack == "overlay")).sum())


def test_bpcer_at_fixed_apcer_per_group_equals_hand_counts():
    """ISO/IEC 30107-3 BPCER10/BPCER20: one threshold where every species' APCER is at most the target, read
    per group."""
    import numpy as np

    from evalkit.data import make_spoof_scores
    from evalkit.diagnostics import apcer_bpcer_curve, bpcer_at_apcer

    df = make_spoof_scores(1500, 600, seed=4)
    y, s, attack = df["y"].to_numpy(), df["score"].to_numpy(), df["attack"]
    table = bpcer_at_apcer(y, s, attack, targets=(0.10, 0.05), sensitive=df[["group"]])
    curve = apcer_bpcer_curve(y, s, attack)
    species = np.where(attack.isin(["", "bona_fide"]), "", attack)
    for target in (0.10, 0.05):
        part = table[table.target == target]
        tau = part.threshold.iloc[0]
        assert (part.threshold == tau).all()
        for kind in sorted(set(species) - {""}):  # every species at most the target at tau, not below the next score
            attacks = s[species == kind]
            assert (attacks >= tau).mean() <= target
        lower = curve.threshold[curve.threshold < tau]
        assert lower.empty or curve.loc[curve.threshold == lower.max(), "apcer_max"].iloc[0] > target
        for group in ("A", "B"):
            bona = (species == "") & (y == 1) & (df.group == group).to_numpy()
            row = part[(part.feature == "group") & (part.group == group) & (part.rate == "BPCER")].iloc[0]
            assert row.errors == int((s[bona] < tau).sum()) and row.n == int(bona.sum())
            assert row.ci_low <= row.value <= row.ci_high
    assert (curve.apcer_max.diff().dropna() <= 1e-12).all() and (curve.bpcer.diff().dropna() >= -1e-12).all()


def test_curve_per_group_is_the_group_alone_at_the_global_thresholds():
    from evalkit.diagnostics import apcer_bpcer_curve, presentation_attacks

    df = make_spoof_scores(800, 400, acceptance={"A": 0.05, "B": 0.30}, seed=5)
    y, s, attack = df["y"].to_numpy(), df["score"].to_numpy(), df["attack"]
    both = apcer_bpcer_curve(y, s, attack, sensitive=df[["group"]])
    overall = apcer_bpcer_curve(y, s, attack)
    assert list(dict.fromkeys(zip(both.feature, both.group))) == [("overall", "all"), ("group", "A"), ("group", "B")]
    got = both[both.feature == "overall"].drop(columns=["feature", "group"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, overall)
    for g in ("A", "B"):
        part = both[both.group == g].reset_index(drop=True)
        assert np.array_equal(part.threshold, overall.threshold)  # the same (global) thresholds
        mask = (df.group == g).to_numpy()
        for t in part.threshold.iloc[::97]:  # by hand at some thresholds
            row = part[part.threshold == t].iloc[0]
            bona = mask & (y == 1) & attack.isin(["", "bona_fide"]).to_numpy()
            assert row.bpcer == pytest.approx((s[bona] < t).mean(), abs=1e-12)
            for kind in ("print", "replay"):
                att = mask & (attack == kind).to_numpy()
                if att.any():
                    assert row[f"APCER:{kind}"] == pytest.approx((s[att] >= t).mean(), abs=1e-12)
    pad = presentation_attacks(y, s, attack, threshold=0.5, sensitive=df[["group"]])
    assert set(pad.at_apcer.target) == {0.10, 0.05} and pad.threshold == 0.5
    assert (pad.rates.rate == "APCER_max").sum() == 3
