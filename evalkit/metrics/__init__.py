"""Metrics: binary metrics at a threshold, per-group metrics and disparities (fairlearn's definitions),
threshold rules, custom metrics from a YAML configuration, multiclass and ranking metrics, and the
score histogram (samples binned by score and label).

Pure computation: arrays in, numbers out. May import: the root's ``exceptions``, :mod:`evalkit.data`
(group columns, the YAML reader).
"""

from ._binary import (
    METRIC_NAMES,
    COUNT_METRICS,
    LOWER_IS_BETTER,
    FMR_TARGETS,
    group_metric_table,
    undefined_reason,
    binary_metrics,
    check_sample_weight,
    equal_error_rate,
    eer_threshold,
)
from ._custom import (
    Costs,
    CostMetricSpec,
    FunctionMetricSpec,
    MetricsConfigFile,
    CustomMetric,
    MetricsConfig,
    load_metrics_config,
    function_metrics_by_group,
)
from ._groups import (
    DISPARITY_METRICS,
    reference_metrics,
    metrics_by_group,
    disparities,
    check_reference,
    reference_groups,
    reference_disparities,
    small_groups,
)
from ._histogram import (
    Outcome,
    bin_edges,
    bin_counts,
    outcome,
    select,
    most_confidently_wrong,
    ThresholdIndex,
)
from ._multiclass import (
    confusion_matrices,
    multiclass_metrics,
    multiclass_by_group,
    group_confusion_matrices,
    per_class,
    averages,
)
from ._ranking import (
    per_query,
    ranking_metrics,
    ranking_by_group,
)
from ._thresholds import (
    RULES,
    OperatingPoint,
    threshold_for_fpr,
    threshold_for_recall,
    cost_threshold,
    choose_threshold,
    group_thresholds,
)

__all__ = [
    "COUNT_METRICS",
    "CostMetricSpec",
    "Costs",
    "CustomMetric",
    "DISPARITY_METRICS",
    "FMR_TARGETS",
    "FunctionMetricSpec",
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "MetricsConfig",
    "MetricsConfigFile",
    "OperatingPoint",
    "Outcome",
    "RULES",
    "ThresholdIndex",
    "averages",
    "bin_counts",
    "bin_edges",
    "binary_metrics",
    "check_reference",
    "check_sample_weight",
    "choose_threshold",
    "confusion_matrices",
    "cost_threshold",
    "disparities",
    "eer_threshold",
    "equal_error_rate",
    "function_metrics_by_group",
    "group_confusion_matrices",
    "group_metric_table",
    "group_thresholds",
    "load_metrics_config",
    "metrics_by_group",
    "most_confidently_wrong",
    "multiclass_by_group",
    "multiclass_metrics",
    "outcome",
    "per_class",
    "per_query",
    "ranking_by_group",
    "ranking_metrics",
    "reference_disparities",
    "reference_groups",
    "reference_metrics",
    "select",
    "small_groups",
    "threshold_for_fpr",
    "threshold_for_recall",
    "undefined_reason",
]
