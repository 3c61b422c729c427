"""Evaluation data: manifests (sha256, schema, label/score and demographic columns), loading and
validation, suites of several sources, demographic balancing and group columns, importing outside
data, ``make data-check``, and the synthetic generators with known, injected effects.

Owns ``data_manifests/`` and ``data/``. May import: the package root's ``exceptions``, ``_io``, and
:mod:`evalkit.tracking` (for the project root). Never imports metrics, models or anything above.
"""

from ._balance import (
    balance_groups,
    downsample,
    balancing_weights,
    composition,
)
from ._check import (
    manifest_files,
    check_manifests,
)
from ._dataset import (
    Dataset,
    check_label_values,
    load_dataset,
    image_paths,
    load_suite,
)
from ._declared import (
    Declared,
    keys,
    key_path,
    clean_loc,
    describe,
    validate_declared,
    json_schema,
)
from ._grouping import (
    INTERSECTION_SEP,
    group_columns,
)
from ._importer import (
    ImportResult,
    sample_rows,
    import_file,
)
from ._manifest import (
    Source,
    DataFormat,
    ImageFeatures,
    ManifestFile,
    Manifest,
    data_roots,
    check_inside,
    read_yaml_mapping,
    load_manifest,
    write_dataset,
)
from ._schema import (
    TYPES,
    ColumnSpec,
    parse_schema,
    check_frame,
    infer_schema,
)
from ._suite import (
    SOURCE_FEATURE,
    SuiteFile,
    is_suite,
    load_suite_members,
    combine,
)
from ._synthetic import (
    make_biased_scores,
    write_synthetic_dataset,
    make_multiclass_scores,
    make_ranking_scores,
    make_corner_cases,
    make_corner_cases_like,
    write_like_dataset,
    make_spoof_scores,
    write_large_dataset,
)

__all__ = [
    "ColumnSpec",
    "DataFormat",
    "Dataset",
    "Declared",
    "INTERSECTION_SEP",
    "ImageFeatures",
    "ImportResult",
    "Manifest",
    "ManifestFile",
    "SOURCE_FEATURE",
    "Source",
    "SuiteFile",
    "TYPES",
    "balance_groups",
    "balancing_weights",
    "check_frame",
    "check_inside",
    "check_label_values",
    "check_manifests",
    "clean_loc",
    "combine",
    "composition",
    "data_roots",
    "describe",
    "downsample",
    "group_columns",
    "image_paths",
    "import_file",
    "infer_schema",
    "is_suite",
    "json_schema",
    "key_path",
    "keys",
    "load_dataset",
    "load_manifest",
    "load_suite",
    "load_suite_members",
    "make_biased_scores",
    "make_corner_cases",
    "make_corner_cases_like",
    "make_multiclass_scores",
    "make_ranking_scores",
    "make_spoof_scores",
    "manifest_files",
    "parse_schema",
    "read_yaml_mapping",
    "sample_rows",
    "validate_declared",
    "write_dataset",
    "write_large_dataset",
    "write_like_dataset",
    "write_synthetic_dataset",
]
