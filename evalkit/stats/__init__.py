"""Statistics: the Poisson bootstrap (per sample and from sufficient statistics), intervals and
multiple comparisons for an evaluation, the paired bootstrap of two models on the same samples,
significance tests (McNemar, DeLong), exact binomial intervals (Clopper-Pearson), Wilson intervals and
Newcombe's interval for a difference of proportions.

Pure computation. May import: :mod:`evalkit.metrics`, the root's ``exceptions``.
"""

from ._binomial import (
    clopper_pearson,
    wilson,
    newcombe_difference,
    max_min_interval,
)
from ._bootstrap import (
    CountMetric,
    Histogram,
    histogram,
    histogram_metrics,
    combine_codes,
    Replicates,
    bootstrap,
    group_onehots,
    bootstrap_histogram,
    percentile_interval,
    shifted_interval,
    group_interval_frames,
)
from ._paired import (
    COUNT_METRICS,
    PAIRED_METRICS,
    BLOCK_BYTES,
    poisson_weights,
    weight_blocks,
    replicates,
    count_metric,
    group_matrix,
    confusion_counts,
    weighted_auc,
    paired_difference,
    metric_by_columns,
    metrics_by_columns,
    count_metrics_by_columns,
)
from ._significance import (
    mcnemar,
    delong,
    delong_sorted,
    flip_rate,
)
from ._uncertainty import (
    Uncertainty,
    benjamini_hochberg,
    tolerance_p_value,
    estimate_uncertainty,
    uncertainty_from_replicates,
)

__all__ = [
    "BLOCK_BYTES",
    "COUNT_METRICS",
    "CountMetric",
    "Histogram",
    "PAIRED_METRICS",
    "Replicates",
    "Uncertainty",
    "benjamini_hochberg",
    "bootstrap",
    "bootstrap_histogram",
    "clopper_pearson",
    "combine_codes",
    "confusion_counts",
    "count_metric",
    "count_metrics_by_columns",
    "delong",
    "delong_sorted",
    "estimate_uncertainty",
    "flip_rate",
    "group_interval_frames",
    "group_matrix",
    "group_onehots",
    "histogram",
    "histogram_metrics",
    "max_min_interval",
    "mcnemar",
    "metric_by_columns",
    "metrics_by_columns",
    "newcombe_difference",
    "paired_difference",
    "percentile_interval",
    "poisson_weights",
    "replicates",
    "shifted_interval",
    "tolerance_p_value",
    "uncertainty_from_replicates",
    "weight_blocks",
    "weighted_auc",
    "wilson",
]
