"""Before-deployment diagnostics: fitting (train against test, learning curves), robustness to
perturbations, adversarial attacks and presentation attacks (spoofing).

May import: :mod:`evalkit.data`, :mod:`evalkit.metrics`, :mod:`evalkit.stats`, the root's ``exceptions``.
"""

from ._adversarial import (
    Adversarial,
    adversarial_search,
)
from ._fitting import (
    DEFAULT_MIN_TRAIN,
    FitDiagnostics,
    fitting_diagnostics,
    learning_curve,
)
from ._robustness import (
    Perturbation,
    PERTURBATIONS,
    default_suite,
    feature_kinds,
    perturb_frame,
    perturb_image,
    image_features,
    load_images,
    Robustness,
    assess_robustness,
)
from ._spoofing import (
    BONA_FIDE,
    attack_species,
    attack_rates,
    worst_apcer,
    spoof_dataset_rates,
    PresentationAttacks,
    presentation_attacks,
    spoof_dataset_report,
    apcer_bpcer_curve,
    bpcer_at_apcer,
    bpcer_name,
)

__all__ = [
    "Adversarial",
    "BONA_FIDE",
    "DEFAULT_MIN_TRAIN",
    "FitDiagnostics",
    "PERTURBATIONS",
    "Perturbation",
    "PresentationAttacks",
    "Robustness",
    "adversarial_search",
    "apcer_bpcer_curve",
    "assess_robustness",
    "attack_rates",
    "attack_species",
    "bpcer_at_apcer",
    "bpcer_name",
    "default_suite",
    "feature_kinds",
    "fitting_diagnostics",
    "image_features",
    "learning_curve",
    "load_images",
    "perturb_frame",
    "perturb_image",
    "presentation_attacks",
    "spoof_dataset_rates",
    "spoof_dataset_report",
    "worst_apcer",
]
