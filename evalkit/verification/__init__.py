"""Biometric verification and presentation-attack evaluation by demographic group, the way NIST (FRTE
"demographic effects", NISTIR 8280 and 8429) and ISO/IEC 19795-10 measure it: the unit is a comparison of two
samples of subjects, thresholds are set once at target false match rates, and per-group FNMR and FMR (and the
FMR matrix of probe group × reference group) are read at those thresholds, with subject-clustered intervals.

Owns the verification data kind (samples with subjects and demographics, and scored comparisons or
templates), its sufficient statistics, metrics, bootstrap, generator, report and pipeline (``make verify``).
May import: :mod:`evalkit.runner` and everything below it (data, metrics, stats, diagnostics, views,
tracking); never :mod:`evalkit.gate` or :mod:`evalkit.compare`, which may import it.
"""

from ._bootstrap import (
    WEIGHT_BLOCK,
    zero_error_bound,
    subject_bootstrap,
)
from ._counts import (
    FINE_BINS,
    COARSE_BINS,
    BLOCK_ENTRIES,
    VerificationCounts,
    subject_table,
    coarse_grid,
    counts_from_comparisons,
    tail_floor_estimate,
    counts_from_templates,
)
from ._data import (
    FileRef,
    VerificationFile,
    VerificationData,
    is_verification,
    load_verification,
    check_verification,
    describe_verification,
)
from ._evaluate import (
    SCHEMA_VERSION,
    VerificationResult,
    METHODS,
    evaluate_verification,
)
from ._faces import (
    System,
    orl_folder,
    write_orl_set,
)
from ._metrics import (
    threshold_at_fmr,
    fmr_thresholds,
    group_codes,
    impostor_pairs,
    false_match_pairs,
    fmr_matrix,
    readings,
    eer_from_histograms,
    eer_by_group,
    det_curves,
    inequity,
    inequity_arrays,
    fairness_discrepancy_rate,
)
from ._pipeline import (
    VERIFY_NOTEBOOK,
    DEFAULT_VERIFICATION,
    VERIFY_FILES,
    VerifyRun,
    verify,
    run_verify,
    verification_metrics,
)
from ._synthetic import (
    make_verification_set,
)
from ._view import (
    header,
    thresholds_table,
    summary,
    rates_table,
    eer_table,
    worst_comparisons,
    methods,
    fmr_heatmap,
    fmr_heatmaps,
    det_plot,
    det_plots,
    score_distributions,
)

__all__ = [
    "BLOCK_ENTRIES",
    "COARSE_BINS",
    "DEFAULT_VERIFICATION",
    "FINE_BINS",
    "FileRef",
    "METHODS",
    "SCHEMA_VERSION",
    "System",
    "VERIFY_FILES",
    "VERIFY_NOTEBOOK",
    "VerificationCounts",
    "VerificationData",
    "VerificationFile",
    "VerificationResult",
    "VerifyRun",
    "WEIGHT_BLOCK",
    "check_verification",
    "coarse_grid",
    "counts_from_comparisons",
    "counts_from_templates",
    "describe_verification",
    "det_curves",
    "det_plot",
    "det_plots",
    "eer_by_group",
    "eer_from_histograms",
    "eer_table",
    "evaluate_verification",
    "fairness_discrepancy_rate",
    "false_match_pairs",
    "fmr_heatmap",
    "fmr_heatmaps",
    "fmr_matrix",
    "fmr_thresholds",
    "group_codes",
    "header",
    "impostor_pairs",
    "inequity",
    "inequity_arrays",
    "is_verification",
    "load_verification",
    "make_verification_set",
    "methods",
    "orl_folder",
    "rates_table",
    "readings",
    "run_verify",
    "score_distributions",
    "subject_bootstrap",
    "subject_table",
    "summary",
    "tail_floor_estimate",
    "threshold_at_fmr",
    "thresholds_table",
    "verification_metrics",
    "verify",
    "worst_comparisons",
    "write_orl_set",
    "zero_error_bound",
]
