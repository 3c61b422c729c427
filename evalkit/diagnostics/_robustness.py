"""Robustness: how metrics and predictions change when the inputs are perturbed with increasing strength.

Tabular perturbations (:data:`PERTURBATIONS`):

- ``gaussian_noise``: every numeric feature plus Normal(0, strength x the feature's standard deviation);
- ``missing``: each feature value is blanked with probability ``strength``;
- ``category_swap``: each categorical value is replaced, with probability ``strength``, by another
  category drawn from the column's observed frequencies.

Image perturbations (datasets with ``image_column`` and ``image_features`` in the manifest: the
image is perturbed, then turned into the model's pixel columns): ``noise`` (Gaussian, standard
deviation ``strength`` x 255), ``blur`` (Gaussian, radius ``strength`` pixels), ``brightness``
(factor ``1 + strength``), ``rotation`` (``strength`` degrees) and ``jpeg`` (quality ``100 - strength``).

For each perturbation and strength, :func:`assess_robustness` reports every metric overall and per
group with a paired bootstrap interval (the same resampled rows, clean and perturbed), the drop from
the clean value, and the prediction flip rate. The bootstrap resamples joint cells (group of every
feature x label x clean decision x perturbed decision; see :class:`evalkit.stats.JointCells`): the
per-sample paired Poisson bootstrap in distribution, at a cost that does not grow with the rows.

A perturbation *hurts a group more than others* when that group's drop exceeds the drop of the rest of its
feature by more than ``tolerance`` and the interval of that excess lies above zero; such findings are ranked
by the interval's lower bound.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..settings import CI_LEVEL, MIN_GROUP_SIZE
from ..stats import percentile_interval
from ..data import Dataset, image_paths
from ..exceptions import ModelError
from ..data import group_columns
from ..metrics import LOWER_IS_BETTER
from ..stats import COUNT_METRICS, JointCells, confusion_counts, count_metric, group_codes


@dataclass(frozen=True)
class Perturbation:
    """A kind of input perturbation.

    Attributes
    ----------
    name : str
    modality : {"tabular", "image"}
    unit : str
        What ``strength`` measures.
    strengths : tuple of float
        The default strengths, in increasing order.
    """

    name: str
    modality: str
    unit: str
    strengths: tuple[float, ...]


#: Every perturbation evalkit can apply, by name.
PERTURBATIONS: dict[str, Perturbation] = {p.name: p for p in (
    Perturbation("gaussian_noise", "tabular", "noise s.d. in feature s.d.s", (0.1, 0.25, 0.5, 1.0)),
    Perturbation("missing", "tabular", "share of values blanked", (0.05, 0.1, 0.2, 0.4)),
    Perturbation("category_swap", "tabular", "share of categories swapped", (0.05, 0.1, 0.2, 0.4)),
    Perturbation("noise", "image", "noise s.d. / 255", (0.05, 0.1, 0.2, 0.3)),
    Perturbation("blur", "image", "blur radius (pixels)", (0.5, 1.0, 1.5, 2.0)),
    Perturbation("brightness", "image", "brightness factor - 1", (0.2, 0.4, 0.6, 0.8)),
    Perturbation("rotation", "image", "degrees", (5.0, 10.0, 15.0, 20.0)),
    Perturbation("jpeg", "image", "100 - JPEG quality", (50.0, 70.0, 85.0, 95.0)),
)}


def default_suite(data: Dataset) -> dict[str, tuple[float, ...]]:
    """The perturbations that apply to ``data`` (image ones for image data the model reads as pixels,
    tabular ones otherwise), each at its default strengths."""
    modality = "image" if data.manifest.image_features else "tabular"
    return {p.name: p.strengths for p in PERTURBATIONS.values() if p.modality == modality}


def _check_suite(data: Dataset, suite: Mapping[str, Sequence[float]]) -> None:
    modality = "image" if data.manifest.image_features else "tabular"
    for name, strengths in suite.items():
        if name not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {name!r}; expected one of {sorted(PERTURBATIONS)}")
        if PERTURBATIONS[name].modality != modality:
            raise ValueError(f"perturbation {name!r} applies to {PERTURBATIONS[name].modality} data, but dataset "
                             f"'{data.name}' is {modality} (image data need image_column and image_features)")
        bad = [s for s in strengths if not (isinstance(s, (int, float)) and math.isfinite(s) and s > 0)]
        if bad or not strengths:
            raise ValueError(f"perturbation {name!r}: strengths must be positive numbers, got {list(strengths)}")


def feature_kinds(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(numeric, categorical)`` columns of a feature frame."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not
               pd.api.types.is_bool_dtype(frame[c])]
    return numeric, [c for c in frame.columns if c not in numeric]


def perturb_frame(frame: pd.DataFrame, perturbation: str, strength: float, rng: np.random.Generator, *,
                  reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """A perturbed copy of a feature frame.

    Parameters
    ----------
    frame : DataFrame
        The model's input columns.
    perturbation : {"gaussian_noise", "missing", "category_swap"}
    strength : float
        See :data:`PERTURBATIONS`.
    rng : numpy Generator
    reference : DataFrame, optional
        Where feature spreads and category frequencies come from (default ``frame``).

    Examples
    --------
    >>> f = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "c": ["a", "b", "a", "b"]})
    >>> out = perturb_frame(f, "category_swap", 1.0, np.random.default_rng(0))
    >>> (out["c"] != f["c"]).all()
    np.True_
    """
    reference = frame if reference is None else reference
    numeric, categorical = feature_kinds(frame)
    out = frame.copy()
    n = len(frame)
    if perturbation == "gaussian_noise":
        for col in numeric:
            spread = float(reference[col].std(skipna=True)) if len(reference) > 1 else 0.0
            values = out[col].astype(np.float64)
            out[col] = values + rng.normal(0.0, strength * (spread if math.isfinite(spread) else 0.0), n)
    elif perturbation == "missing":
        for col in frame.columns:
            blank = rng.random(n) < strength
            if col in numeric:
                out[col] = out[col].astype(np.float64).mask(blank)
            else:
                out[col] = out[col].astype(object).mask(blank, np.nan)
    elif perturbation == "category_swap":
        for col in categorical:
            freq = reference[col].dropna().value_counts(normalize=True)
            if len(freq) < 2:
                continue
            cats = freq.index.to_numpy()
            swap = rng.random(n) < strength
            drawn = rng.choice(len(cats), size=n, p=freq.to_numpy())
            current = pd.Categorical(out[col], categories=cats).codes
            same = drawn == current  # a swap must change the value: take the next category instead
            drawn = np.where(same, (drawn + 1) % len(cats), drawn)
            out[col] = out[col].astype(object).where(~swap, cats[drawn])
    else:
        raise ValueError(f"{perturbation!r} is not a tabular perturbation; expected gaussian_noise, missing or "
                         "category_swap")
    return out


def perturb_image(image: Any, perturbation: str, strength: float, rng: np.random.Generator) -> Any:
    """A perturbed copy of a grayscale PIL image (see :data:`PERTURBATIONS` for the strengths)."""
    from PIL import Image, ImageEnhance, ImageFilter

    img = image.convert("L")
    if perturbation == "noise":
        arr = np.asarray(img, dtype=np.float64) + rng.normal(0.0, strength * 255.0, (img.height, img.width))
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
    if perturbation == "blur":
        return img.filter(ImageFilter.GaussianBlur(radius=strength))
    if perturbation == "brightness":
        return ImageEnhance.Brightness(img).enhance(1.0 + strength)
    if perturbation == "rotation":
        arr = np.asarray(img)
        border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
        return img.rotate(strength, resample=Image.BILINEAR, fillcolor=int(np.median(border)))
    if perturbation == "jpeg":
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=max(1, int(round(100 - strength))))
        return Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    raise ValueError(f"{perturbation!r} is not an image perturbation; expected noise, blur, brightness, rotation "
                     "or jpeg")


def image_features(images: Sequence[Any], spec: Mapping[str, Any], columns: Sequence[str]) -> pd.DataFrame:
    """The model's pixel columns from images, as the manifest's ``image_features`` describes: the
    grayscale image reduced to ``size`` by block means, inverted if ``invert``, scaled to ``max_value``."""
    from PIL import Image

    rows, cols = spec["size"]
    scale = float(spec.get("max_value", 255)) / 255.0
    out = np.empty((len(images), rows * cols))
    for i, img in enumerate(images):
        arr = np.asarray(img.convert("L").resize((cols, rows), Image.BOX), dtype=np.float64)
        out[i] = ((255.0 - arr) if spec.get("invert") else arr).ravel() * scale
    return pd.DataFrame(out, columns=list(columns))


def load_images(data: Dataset) -> list[Any]:
    """The dataset's images (``image_column``), loaded as grayscale PIL images, in row order."""
    from PIL import Image

    images = []
    for path in image_paths(data):
        with Image.open(path) as img:
            images.append(img.convert("L"))
    return images


@dataclass
class Robustness:
    """The result of :func:`assess_robustness`.

    Attributes
    ----------
    curves : DataFrame
        One row per perturbation x strength (strength 0 is the clean data) x group x metric:
        ``perturbation``, ``strength``, ``feature``, ``group``, ``n``, ``metric``, ``value``, ``ci_low``,
        ``ci_high``, ``drop``, ``drop_ci_low``, ``drop_ci_high``, ``flip_rate``, ``flip_ci_low``,
        ``flip_ci_high``. The overall rows have feature ``overall`` and group ``all``.
    hurt : DataFrame
        Perturbations that hurt one group more than the rest of its feature: ``perturbation``,
        ``strength``, ``feature``, ``group``, ``metric``, ``drop``, ``drop_rest``, ``excess``,
        ``excess_ci_low``, ``excess_ci_high``; largest excess first.
    errors : dict of str to str
        Perturbations the model could not score, with the reason (e.g. it cannot take missing values).
    metrics : tuple of str
    threshold, level, tolerance : float
    n_boot, seed, min_group_size : int
    """

    curves: pd.DataFrame
    hurt: pd.DataFrame
    errors: dict[str, str]
    metrics: tuple[str, ...]
    threshold: float
    level: float
    n_boot: int
    seed: int
    tolerance: float
    min_group_size: int
    suite: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def drop(self, perturbation: str, strength: float, metric: str, feature: str = "overall",
             group: str = "all") -> dict[str, float]:
        """The drop of one metric at one perturbation strength: ``drop``, ``drop_ci_low``, ``drop_ci_high``,
        ``n`` (NaN if it was not measured)."""
        c = self.curves
        row = c[(c.perturbation == perturbation) & np.isclose(c.strength, strength) & (c.metric == metric)
                & (c.feature == feature) & (c.group == group)]
        if row.empty:
            return {"drop": math.nan, "drop_ci_low": math.nan, "drop_ci_high": math.nan, "n": math.nan}
        r = row.iloc[0]
        return {k: float(r[k]) for k in ("drop", "drop_ci_low", "drop_ci_high", "n")}

    def flips(self, perturbation: str, strength: float, feature: str = "overall", group: str = "all") -> dict[str, float]:
        """The share of decisions one perturbation strength flips: ``flip_rate``, ``flip_ci_low``,
        ``flip_ci_high``, ``n`` (NaN if it was not measured)."""
        c = self.curves
        row = c[(c.perturbation == perturbation) & np.isclose(c.strength, strength) & (c.feature == feature)
                & (c.group == group)]
        keys = ("flip_rate", "flip_ci_low", "flip_ci_high", "n")
        return {k: math.nan for k in keys} if row.empty else {k: float(row.iloc[0][k]) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for ``gate.json`` and MLflow."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                    for r in frame.to_dict("records")]
        return {"metrics": list(self.metrics), "threshold": self.threshold, "level": self.level,
                "n_boot": self.n_boot, "seed": self.seed, "tolerance": self.tolerance,
                "suite": {k: list(v) for k, v in self.suite.items()}, "errors": self.errors,
                "curves": records(self.curves), "hurt": records(self.hurt)}


def _perturbed_inputs(data: Dataset, base: pd.DataFrame, images: list[Any] | None, perturbation: str,
                      strength: float, rng: np.random.Generator) -> pd.DataFrame:
    if images is None:
        return perturb_frame(base, perturbation, strength, rng)
    spec = data.manifest.image_features or {}
    return image_features([perturb_image(img, perturbation, strength, rng) for img in images], spec,
                          data.manifest.feature_columns or ())


def assess_robustness(
    scorer: Callable[[pd.DataFrame], np.ndarray],
    data: Dataset,
    *,
    suite: Mapping[str, Sequence[float]] | None = None,
    threshold: float = 0.5,
    metrics: Sequence[str] = ("accuracy", "recall", "fpr"),
    n_boot: int = 200,
    level: float = CI_LEVEL,
    seed: int = 0,
    tolerance: float = 0.02,
    min_group_size: int = MIN_GROUP_SIZE,
    progress: bool = False,
) -> Robustness:
    """Score perturbed copies of ``data`` and measure what changes.

    Parameters
    ----------
    scorer : callable
        Feature frame to positive-class scores (see :func:`evalkit.models.load_scorer`).
    data : Dataset
    suite : mapping of str to sequence of float, optional
        Perturbation name to strengths (default :func:`default_suite`).
    threshold : float, default=0.5
        The operating threshold (``score >= threshold`` is positive).
    metrics : sequence of str, default=("accuracy", "recall", "fpr")
        Metrics of :data:`evalkit.paired.COUNT_METRICS`.
    n_boot : int, default=200
        Paired bootstrap replicates (0: no intervals).
    level : float, default=0.95
    seed : int, default=0
        Seeds the perturbations and the bootstrap: the same seed gives the same result.
    tolerance : float, default=0.02
        How much more a group may lose than the rest of its feature before it is named.
    min_group_size : int, default=30
        Smaller groups get curves but are not named as hurt.
    progress : bool, default=False
        Print one line per perturbation to stderr.

    Returns
    -------
    Robustness

    Raises
    ------
    ValueError
        For unknown perturbations or metrics, or image perturbations on data without ``image_features``.
    """
    suite = dict(default_suite(data) if suite is None else {k: tuple(v) for k, v in suite.items()})
    _check_suite(data, suite)
    unknown = [m for m in metrics if m not in COUNT_METRICS]
    if unknown:
        raise ValueError(f"robustness metrics must be among {list(COUNT_METRICS)}, got {unknown}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    images = load_images(data) if data.manifest.image_features else None
    base = data.frame[list(data.manifest.feature_columns)] if data.manifest.feature_columns else data.features
    clean_inputs = base if images is None else image_features(images, data.manifest.image_features or {},
                                                               data.manifest.feature_columns or ())
    y = data.y_true.astype(bool)
    codes, index = group_codes(group_columns(data.sensitive, intersections=False))
    clean_pred = scorer(clean_inputs) >= threshold
    clean = _measure(y, clean_pred, clean_pred, codes, index, n_boot, [seed, 0])
    rows = [_rows("clean", 0.0, clean, clean, index, metrics, level)]
    hurt, errors = [], {}
    for k, (name, strengths) in enumerate(suite.items()):
        if progress:
            print(f"evalkit: robustness {k + 1}/{len(suite)}: {name} at {list(strengths)}", file=sys.stderr, flush=True)
        for j, strength in enumerate(sorted(strengths)):
            rng = np.random.default_rng([seed, k, j])
            inputs = _perturbed_inputs(data, base, images, name, strength, rng)
            try:
                pred = scorer(inputs) >= threshold
            except ModelError as err:
                reason = str(err).split(": ", 1)[-1].split("\n")[0]
                errors[name] = f"the model could not score inputs perturbed by {name} (strength {strength:g}): {reason}"
                break
            measured = _measure(y, pred, clean_pred, codes, index, n_boot, [seed, 1, k, j])
            rows.append(_rows(name, strength, measured, clean, index, metrics, level))
            hurt.extend(_hurt(name, strength, measured, clean, index, metrics, level, tolerance, min_group_size))
    curves = pd.concat(rows, ignore_index=True)
    hurt_frame = pd.DataFrame(hurt, columns=["perturbation", "strength", "feature", "group", "metric", "drop",
                                             "drop_rest", "excess", "excess_ci_low", "excess_ci_high"])
    # ranked by what the data support: the excess's lower bound, then the excess itself
    hurt_frame = hurt_frame.sort_values(["excess_ci_low", "excess"], ascending=False, kind="stable",
                                        na_position="last").reset_index(drop=True)
    return Robustness(curves=curves, hurt=hurt_frame, errors=errors, metrics=tuple(metrics), threshold=threshold,
                      level=level, n_boot=n_boot, seed=seed, tolerance=tolerance, min_group_size=min_group_size,
                      suite={k: tuple(sorted(v)) for k, v in suite.items()})


def _measure(y: np.ndarray, pred: np.ndarray, clean_pred: np.ndarray, codes: Mapping[str, np.ndarray],
             index: pd.MultiIndex, n_boot: int, seed: Sequence[int]) -> dict[str, Any]:
    """Counts per group column (and flips) of the perturbed and the clean decisions, for the data and, with
    ``n_boot``, for every replicate of a Poisson bootstrap of the joint cells (group of every feature x label x
    clean decision x perturbed decision): one draw per cell gives both decisions' counts, so they are paired."""
    cells = JointCells({**{f"group:{f}": c for f, c in codes.items()}, "y": y, "clean": clean_pred, "pred": pred})
    member = cells.member({f: f"group:{f}" for f in codes}, index)
    yc = cells.of_cell["y"].astype(bool)
    pc, cc = cells.of_cell["pred"].astype(bool), cells.of_cell["clean"].astype(bool)
    flipped = member * (pc != cc)[:, None]

    def counts(w: np.ndarray) -> dict[str, Any]:
        return {"counts": confusion_counts(yc, pc, member, w), "clean": confusion_counts(yc, cc, member, w),
                "flips": w @ flipped, "n": w @ member}

    point = counts(cells.counts[None, :])
    out: dict[str, Any] = {"point": {k: v[0] for k, v in point["counts"].items()}, "n": point["n"][0],
                           "flips": point["flips"][0]}
    if n_boot:
        reps = counts(cells.draws(n_boot, seed))
        out.update(reps=reps["counts"], clean_reps=reps["clean"], rep_flips=reps["flips"], rep_n=reps["n"])
    return out


def _metric(metric: str, counts: Mapping[str, np.ndarray]) -> np.ndarray:
    return count_metric(metric, counts["tp"], counts["fp"], counts["tn"], counts["fn"])


def _loss(metric: str, clean: Mapping[str, np.ndarray], perturbed: Mapping[str, np.ndarray]) -> np.ndarray:
    """How much worse a metric got: clean minus perturbed, or the reverse for lower-is-better metrics."""
    diff = _metric(metric, clean) - _metric(metric, perturbed)
    return -diff if metric in LOWER_IS_BETTER else diff


def _rows(name: str, strength: float, m: Mapping[str, Any], clean: Mapping[str, Any], index: pd.MultiIndex,
          metrics: Sequence[str], level: float) -> pd.DataFrame:
    parts = []
    n = m["n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        flip = np.where(n > 0, m["flips"] / np.where(n > 0, n, 1), np.nan)
        if "reps" in m:
            flip_low, flip_high = percentile_interval(m["rep_flips"] / m["rep_n"], level)
        else:
            flip_low = flip_high = np.full(len(index), np.nan)
    for metric in metrics:
        value = _metric(metric, m["point"])
        drop = _loss(metric, clean["point"], m["point"])
        if "reps" in m:
            low, high = percentile_interval(_metric(metric, m["reps"]), level)
            drop_low, drop_high = percentile_interval(_loss(metric, m["clean_reps"], m["reps"]), level)
        else:
            low = high = drop_low = drop_high = np.full(len(index), np.nan)
        parts.append(pd.DataFrame({
            "perturbation": name, "strength": strength, "feature": index.get_level_values(0),
            "group": index.get_level_values(1), "n": n, "metric": metric, "value": value, "ci_low": low,
            "ci_high": high, "drop": drop, "drop_ci_low": drop_low, "drop_ci_high": drop_high, "flip_rate": flip,
            "flip_ci_low": flip_low, "flip_ci_high": flip_high}))
    return pd.concat(parts, ignore_index=True)


def _rest(counts: Mapping[str, np.ndarray], members: np.ndarray, column: int) -> dict[str, np.ndarray]:
    """Counts of the other groups of a feature: the feature's total minus one group."""
    return {k: v[..., members].sum(axis=-1) - v[..., column] for k, v in counts.items()}


def _losses(metric: str, clean: Mapping[str, np.ndarray], perturbed: Mapping[str, np.ndarray], members: np.ndarray,
            column: int) -> tuple[np.ndarray, np.ndarray]:
    """Loss of one group and of the rest of its feature (for the data or each replicate)."""
    group = _loss(metric, clean, perturbed)[..., column]
    rest = _loss(metric, _rest(clean, members, column), _rest(perturbed, members, column))
    return group, rest


def _hurt(name: str, strength: float, m: Mapping[str, Any], clean: Mapping[str, Any], index: pd.MultiIndex,
          metrics: Sequence[str], level: float, tolerance: float, min_group_size: int) -> list[dict[str, Any]]:
    if "reps" not in m:
        return []
    found = []
    features = index.get_level_values(0)
    for feature in dict.fromkeys(features):
        if feature == "overall":
            continue
        members = np.flatnonzero(features == feature)
        for col in members:
            if m["n"][col] < min_group_size or m["n"][members].sum() - m["n"][col] < min_group_size:
                continue
            for metric in metrics:
                group, rest = _losses(metric, clean["point"], m["point"], members, col)
                rep_group, rep_rest = _losses(metric, m["clean_reps"], m["reps"], members, col)
                excess = float(group - rest)
                low, high = percentile_interval(rep_group - rep_rest, level)
                if math.isfinite(excess) and excess > tolerance and float(low) > 0:
                    found.append({"perturbation": name, "strength": strength, "feature": feature,
                                  "group": index[col][1], "metric": metric, "drop": float(group),
                                  "drop_rest": float(rest), "excess": excess, "excess_ci_low": float(low),
                                  "excess_ci_high": float(high)})
    return found
