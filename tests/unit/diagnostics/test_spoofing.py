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
    assert set(overall.index) == {"APCER:overlay", "APCER:print", "APCER:replay", "BPCER"}
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
