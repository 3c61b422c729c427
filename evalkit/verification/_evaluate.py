"""One verification evaluation: thresholds set once at target FMRs, per-group FNMR and FMR read at them, the
FMR matrix, EER per group, inequity summaries, each with a subject-clustered interval; the ``verification``
section of ``metrics.json``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import atomic_write_json
from .._version import __version__
from ..settings import VerificationSettings
from ._bootstrap import subject_bootstrap
from ._counts import VerificationCounts
from ._metrics import (
    det_curves,
    eer_by_group,
    fairness_discrepancy_rate,
    fmr_matrix,
    fmr_thresholds,
    group_codes,
    inequity,
    readings,
)

#: Version of the ``verification`` section of metrics.json.
SCHEMA_VERSION = 1


@dataclass
class VerificationResult:
    """The result of :func:`evaluate_verification`.

    Attributes
    ----------
    counts : VerificationCounts
    settings : VerificationSettings
    thresholds : DataFrame
        One row per target FMR (see :func:`evalkit.verification.fmr_thresholds`).
    readings : DataFrame
        Per-group FNMR and FMR at each supported threshold, with ``*_low``/``*_high`` interval columns.
    eer : DataFrame
        EER overall and per group, with its interval.
    inequity : DataFrame
        Indexed by ``(target, feature, rate, summary)``: ``value``, ``low``, ``high``.
    small_groups : DataFrame
        Groups with fewer than ``min_subjects`` subjects (shown, never summarised).
    name, system : str
        The data set and the system evaluated.
    data : VerificationData or None
        The loaded data (samples, images), when evaluated from a manifest.
    """

    counts: VerificationCounts
    settings: VerificationSettings
    thresholds: pd.DataFrame
    readings: pd.DataFrame
    eer: pd.DataFrame
    inequity: pd.DataFrame
    small_groups: pd.DataFrame
    name: str = "verification"
    system: str = ""
    data_sha256: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    data: Any = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def supported(self) -> pd.DataFrame:
        """The thresholds the data support."""
        return self.thresholds[self.thresholds["supported"]]

    @property
    def operating(self) -> float | None:
        """The first supported target FMR (the report's operating point), or None."""
        return None if self.supported.empty else float(self.supported["target"].iloc[0])

    def fmr_matrix(self, feature: str, target: float | None = None) -> pd.DataFrame:
        """FMR of every pair of groups of ``feature`` at the threshold of ``target`` (default the operating one)."""
        target = self.operating if target is None else target
        tau = float(self.thresholds.set_index("target").loc[target, "threshold"])
        return fmr_matrix(self.counts, feature, tau)

    def det(self, feature: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(FMR, FNMR) curves overall and per group of ``feature``."""
        return det_curves(self.counts, feature)

    def to_dict(self) -> dict[str, Any]:
        """The ``verification`` section of ``metrics.json`` (JSON-friendly)."""
        def clean(v: Any) -> Any:
            if isinstance(v, (float, np.floating)):
                return None if not math.isfinite(float(v)) else float(v)
            if isinstance(v, (np.integer,)):
                return int(v)
            if isinstance(v, (np.bool_,)):
                return bool(v)
            return v

        c = self.counts
        by_target = {}
        for t in self.supported.itertuples():
            part = self.readings.xs(t.target, level="target")
            groups: dict[str, dict[str, Any]] = {}
            for (feature, group), row in part.iterrows():
                groups.setdefault(feature, {})[group] = {k: clean(v) for k, v in row.items()}
            ineq = {}
            if not self.inequity.empty and t.target in self.inequity.index.get_level_values("target"):
                for (feature, rate, summary), row in self.inequity.xs(t.target, level="target").iterrows():
                    ineq.setdefault(feature, {}).setdefault(rate, {})[summary] = {k: clean(v) for k, v in row.items()}
            by_target[f"{t.target:g}"] = {"threshold": clean(t.threshold), "false_matches": clean(t.false_matches),
                                          "fmr": clean(t.fmr), "groups": groups, "inequity": ineq}
        return {
            "schema_version": SCHEMA_VERSION, "evalkit_version": __version__, "created": self.created,
            "name": self.name, "system": self.system, "data_sha256": self.data_sha256, "run_id": self.run_id,
            "settings": self.settings.to_parameters(),
            "data": {"subjects": len(c.subjects), "samples": int(c.subjects["n_samples"].sum()),
                     "genuine": c.n_genuine, "impostor": c.n_impostor, "similarity": c.similarity,
                     "impostor_scores_exact": c.exact, "tail_floor": clean(c.tail_floor),
                     "score_grid_width": clean((c.edges[-1] - c.edges[0]) / (c.edges.size - 1)),
                     "ordered": c.ordered, "all_pairs": c.complete, "seconds": clean(c.seconds)},
            "thresholds": [{k: clean(v) for k, v in row.items()} for row in self.thresholds.to_dict("records")],
            "at_threshold": by_target,
            "eer": {f"{f}={g}" if f != "overall" else "overall": {k: clean(v) for k, v in row.items()}
                    for (f, g), row in self.eer.iterrows()},
            "small_groups": self.small_groups.to_dict("records"),
            "methods": METHODS,
        }

    def save(self, output_dir: str | Path | None) -> Path | None:
        """Write ``metrics.json`` (``{"verification": ...}``) into ``output_dir``."""
        if output_dir is None:
            return None
        path = Path(output_dir) / "metrics.json"
        atomic_write_json(path, {"schema_version": SCHEMA_VERSION, "kind": "verification",
                                 "verification": self.to_dict()})
        return path


#: How every figure is computed, for the report and metrics.json.
METHODS = {
    "threshold": "the most accepting score threshold whose overall FMR is at most the target, set once on all "
                 "impostor comparisons; a target is used only with at least min_false_matches / target impostor "
                 "comparisons (Doddington's rule of 30 by default)",
    "fnmr": "genuine comparisons of a group's subjects below the threshold, over all of them",
    "fmr_same": "impostor comparisons with both samples in the group at or above the threshold, over all of them "
                "(the FMR matrix diagonal)",
    "fmr_cross": "impostor comparisons with exactly one sample in the group at or above the threshold",
    "eer": "where FMR = FNMR, linearly interpolated; per group against same-group impostors; exact when every "
           "impostor score is kept, else on the fine score grid",
    "intervals": "percentile intervals of a subject-clustered Poisson bootstrap: one-way (subjects) for FNMR, "
                 "two-way (both subjects of an impostor comparison) for FMR, and for EER one-way on the genuine "
                 "side and the linear part of two-way (w_a + w_b - 1) on the impostor side, on per-subject "
                 "histograms whose grid is placed at the score quantiles where an EER can lie; the threshold "
                 "held fixed; a group with no error gets the exact binomial upper bound over its subjects",
    "inequity": "max/min and max/geometric-mean ratios, the Gini coefficient (with n/(n-1)) and the Fairness "
                "Discrepancy Rate 1 - (alpha*maxgap FMR + (1-alpha)*maxgap FNMR), over groups with at least "
                "min_subjects subjects",
}


def _inequity_points(r: pd.DataFrame, counts: VerificationCounts, *, min_subjects: int,
                     alpha: float) -> pd.DataFrame:
    rows = []
    for target in r.index.get_level_values("target").unique():
        part = r.xs(target, level="target")
        for f in counts.features:
            g = part.xs(f, level="feature")
            big = g[g["subjects"] >= min_subjects]
            for rate in ("fnmr", "fmr_same"):
                for summary, value in inequity(big[rate]).items():
                    rows.append({"target": target, "feature": f, "rate": rate, "summary": summary, "value": value})
            rows.append({"target": target, "feature": f, "rate": "fdr", "summary": "fdr",
                         "value": fairness_discrepancy_rate(big["fmr_same"], big["fnmr"], alpha=alpha)})
    return pd.DataFrame(rows).set_index(["target", "feature", "rate", "summary"]) if rows else pd.DataFrame()


def evaluate_verification(counts: VerificationCounts, *, settings: VerificationSettings | Mapping[str, Any] | None = None,
                          name: str = "verification", system: str = "", data_sha256: Mapping[str, str] | None = None,
                          run_id: str | None = None, **overrides: Any) -> VerificationResult:
    """Evaluate a verification system from its comparison statistics.

    Parameters
    ----------
    counts : VerificationCounts
        From :func:`evalkit.verification.load_verification` (or the ``counts_from_*`` builders).
    settings : VerificationSettings or dict, optional
        Target FMRs, support rule, minimum subjects per group, bootstrap; keywords override it.
    name, system : str
        The data set's and the system's names, for the report.

    Returns
    -------
    VerificationResult

    Examples
    --------
    >>> from evalkit.verification import counts_from_templates, make_verification_set
    >>> samples, templates = make_verification_set(200, 3, seed=0)
    >>> counts = counts_from_templates(samples, templates, subject_column="subject", features=["group"])
    >>> res = evaluate_verification(counts, fmr_targets=(1e-3,), n_boot=0)
    >>> bool(res.thresholds["supported"].iloc[0])
    True
    """
    st = VerificationSettings.build(settings, **overrides)
    thresholds = fmr_thresholds(counts, st.fmr_targets, min_false_matches=st.min_false_matches)
    r = readings(counts, thresholds)
    eer = eer_by_group(counts)
    ineq = _inequity_points(r, counts, min_subjects=st.min_subjects, alpha=st.fdr_alpha) if not r.empty \
        else pd.DataFrame()
    small = []
    for f in counts.features:
        names, subject_group, _ = group_codes(counts, f)
        n = np.bincount(subject_group, minlength=len(names))
        small += [{"feature": f, "group": g, "subjects": int(n[i])} for i, g in enumerate(names) if n[i] < st.min_subjects]
    if st.n_boot:
        supported = thresholds[thresholds["supported"]]
        boot = subject_bootstrap(counts, supported["threshold"].tolist(), n_boot=st.n_boot, level=st.ci_level,
                                 seed=st.seed, min_subjects=st.min_subjects, alpha=st.fdr_alpha,
                                 eer_points=eer["eer"])
        targets = supported["target"].to_numpy()
        if not r.empty:
            ci = boot["rates"].rename(index=lambda j: targets[j], level="target_index")
            ci.index = ci.index.set_names("target", level=0)
            r = r.join(ci)
        eer = eer.join(boot["eer"])
        if not ineq.empty:
            ici = boot["inequity"].rename(index=lambda j: targets[j], level="target_index")
            ici.index = ici.index.set_names("target", level=0)
            ineq = ineq.join(ici)
    return VerificationResult(counts=counts, settings=st, thresholds=thresholds, readings=r, eer=eer, inequity=ineq,
                              small_groups=pd.DataFrame(small, columns=["feature", "group", "subjects"]), name=name,
                              system=system, data_sha256=dict(data_sha256 or {}), run_id=run_id)
