"""Multiclass classification metrics, overall and per group, vectorised.

The prediction is the class with the highest score (ties: the first class, like ``numpy.argmax``).
Per-class precision, recall and F1 follow scikit-learn's ``precision_recall_fscore_support``
(undefined values are NaN, never 0); ``macro`` averages the classes where the value is defined
(scikit-learn's ``zero_division=np.nan``), ``micro`` pools the counts (equal to accuracy for
single-label data); ``roc_auc_ovr``
is each class against the rest, and ``roc_auc_macro`` their mean (scikit-learn's
``roc_auc_score(multi_class="ovr", average="macro")``). Tests check every value against
scikit-learn, and per group against fairlearn's MetricFrame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._binary import _safe_div, check_sample_weight, group_metric_table


def _check(y_true: npt.ArrayLike, y_score: npt.ArrayLike, labels: Sequence | None) -> tuple[np.ndarray, np.ndarray, list]:
    s = np.asarray(y_score, dtype=np.float64)
    y = np.asarray(y_true)
    if s.ndim != 2 or s.shape[0] != y.shape[0] or y.ndim != 1:
        raise ValueError(f"y_score must have shape (n_samples, n_classes) with n_samples = len(y_true) = {y.shape[0]}, "
                         f"got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("y_score must be finite")
    labels = list(labels) if labels is not None else sorted(pd.unique(y).tolist())
    if len(labels) != s.shape[1]:
        raise ValueError(f"y_score has {s.shape[1]} columns but there are {len(labels)} labels {labels}; "
                         "pass labels= in the order of the score columns")
    index = {v: i for i, v in enumerate(labels)}
    unknown = sorted({str(v) for v in pd.unique(y) if v not in index})
    if unknown:
        raise ValueError(f"y_true has labels {unknown} that are not in labels {labels}")
    codes = np.fromiter((index[v] for v in y), dtype=np.int64, count=y.size)
    return codes, s, labels


def confusion_matrices(
    y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, n_groups: int, n_classes: int,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Confusion matrix of every group in one ``bincount``: shape (n_groups, n_classes, n_classes),
    rows true class, columns predicted class."""
    k = n_classes
    flat = (codes * k + y_true) * k + y_pred
    return np.bincount(flat, weights=sample_weight, minlength=n_groups * k * k).reshape(n_groups, k, k).astype(float)


def _from_confusion(cm: np.ndarray, labels: list) -> dict[str, np.ndarray]:
    """Per-class and averaged metrics from confusion matrices (..., k, k)."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)  # true count per class
    predicted = cm.sum(axis=-2)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * tp, support + predicted)
    out: dict[str, np.ndarray] = {"n": cm.sum(axis=(-1, -2)), "accuracy": _safe_div(tp.sum(-1), cm.sum(axis=(-1, -2)))}
    for name, v in (("precision", precision), ("recall", recall), ("f1", f1)):
        # scikit-learn with zero_division=np.nan: undefined classes are left out of the macro average.
        defined = ~np.isnan(v)
        out[f"{name}_macro"] = _safe_div(np.where(defined, v, 0.0).sum(-1), defined.sum(-1).astype(float))
    micro = _safe_div(tp.sum(-1), cm.sum(axis=(-1, -2)))
    out.update(precision_micro=micro, recall_micro=micro, f1_micro=micro)
    for j, label in enumerate(labels):
        out[f"precision[{label}]"] = precision[..., j]
        out[f"recall[{label}]"] = recall[..., j]
        out[f"f1[{label}]"] = f1[..., j]
        out[f"support[{label}]"] = support[..., j]
    return out


def multiclass_metrics(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    labels: Sequence | None = None,
    sample_weight: npt.ArrayLike | None = None,
) -> dict[str, float | np.ndarray]:
    """Per-class and macro/micro precision, recall, F1, one-vs-rest ROC AUC and the confusion matrix.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_score : array-like of shape (n_samples, n_classes)
        Scores (e.g. ``predict_proba``), columns in the order of ``labels``.
    labels : sequence, optional
        The classes in column order (default: the sorted labels of ``y_true``).
    sample_weight : array-like, optional

    Returns
    -------
    dict
        Floats for ``n``, ``accuracy``, ``{precision,recall,f1}_{macro,micro}``, ``roc_auc_macro``,
        ``precision[c]``, ``recall[c]``, ``f1[c]``, ``support[c]``, ``roc_auc_ovr[c]`` per class, and
        ``confusion_matrix`` (array, rows true, columns predicted).

    Examples
    --------
    >>> m = multiclass_metrics(["a", "b", "c", "a"], [[.8, .1, .1], [.2, .7, .1], [.3, .4, .3], [.1, .1, .8]])
    >>> m["accuracy"], m["recall[a]"], m["confusion_matrix"].tolist()
    (0.5, 0.5, [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    """
    codes, s, labels = _check(y_true, y_score, labels)
    w = check_sample_weight(sample_weight, codes.size)
    table = multiclass_by_group(codes, s, pd.Series(np.zeros(codes.size, dtype=np.int64)), labels=list(range(len(labels))),
                                sample_weight=w, _names=labels)
    out: dict[str, float | np.ndarray] = {k: float(v) for k, v in table.iloc[0].items()}
    out["confusion_matrix"] = confusion_matrices(codes, s.argmax(1), np.zeros(codes.size, dtype=np.int64), 1,
                                                 len(labels), w)[0]
    return out


def multiclass_by_group(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    groups: pd.Series,
    *,
    labels: Sequence | None = None,
    sample_weight: npt.ArrayLike | None = None,
    _names: Sequence | None = None,
) -> pd.DataFrame:
    """:func:`multiclass_metrics` (without the confusion matrix) for every group, vectorised.

    Returns
    -------
    DataFrame
        One row per group (sorted), one column per metric; see :func:`group_confusion_matrices` for the
        matrices themselves.
    """
    codes, s, labels = _check(y_true, y_score, labels)
    names = list(_names) if _names is not None else labels
    w = check_sample_weight(sample_weight, codes.size)
    g, uniques = pd.factorize(pd.Series(groups).astype(str) if _names is None else groups, sort=True)
    n_groups, k = len(uniques), len(labels)
    cm = confusion_matrices(codes, s.argmax(1), g, n_groups, k, w)
    out = _from_confusion(cm, names)
    aucs = np.full((n_groups, k), np.nan)
    for j in range(k):
        binary = group_metric_table((codes == j).astype(np.int8), s[:, j], g, n_groups, threshold=0.5, sample_weight=w)
        aucs[:, j] = binary["roc_auc"]
        out[f"roc_auc_ovr[{names[j]}]"] = binary["roc_auc"]
    # scikit-learn's macro OvR AUC needs every class present; NaN otherwise.
    out["roc_auc_macro"] = np.where(np.isnan(aucs).any(1), np.nan, np.nanmean(np.where(np.isnan(aucs), 0, aucs), 1))
    order = ["n", "accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_micro", "recall_micro",
             "f1_micro", "roc_auc_macro"]
    order += [c for c in out if c not in order]
    return pd.DataFrame({c: out[c] for c in order}, index=pd.Index(np.asarray(uniques, dtype=object), name="group"))


def group_confusion_matrices(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, groups: pd.Series, *, labels: Sequence | None = None
) -> dict[str, pd.DataFrame]:
    """The confusion matrix of every group, as labelled DataFrames (rows true, columns predicted)."""
    codes, s, labels = _check(y_true, y_score, labels)
    g, uniques = pd.factorize(pd.Series(groups).astype(str), sort=True)
    cm = confusion_matrices(codes, s.argmax(1), g, len(uniques), len(labels))
    idx = pd.Index(labels, name="true")
    cols = pd.Index(labels, name="predicted")
    return {name: pd.DataFrame(cm[i], index=idx, columns=cols) for i, name in enumerate(uniques)}


def per_class(table: pd.DataFrame) -> pd.DataFrame:
    """Reshape :func:`multiclass_by_group`'s per-class columns (``recall[c]`` ...) to one row per
    (group, class) and one column per metric: easier to read than one very wide row per group."""
    pattern = table.columns.str.extract(r"^(\w+)\[(.+)\]$")
    keep = pattern[0].notna().to_numpy()
    long = table.loc[:, keep].copy()
    long.columns = pd.MultiIndex.from_arrays([pattern[1][keep], pattern[0][keep]], names=["class", "metric"])
    out = long.stack(level="class", future_stack=True)
    return out[["precision", "recall", "f1", "support", "roc_auc_ovr"]]


def averages(table: pd.DataFrame) -> pd.DataFrame:
    """The averaged columns of :func:`multiclass_by_group` (no per-class columns)."""
    return table.loc[:, ~table.columns.str.contains("[", regex=False)]
