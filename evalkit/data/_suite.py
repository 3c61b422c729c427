"""Suites: one evaluation assembled from several datasets (production samples, benchmarks, corner
cases), each verified by its own manifest.

A suite manifest::

    kind: suite
    name: adult_suite
    description: the benchmark plus a production sample and generated corner cases
    datasets:                      # dataset manifests, relative to this file
      - adult_test.yaml
      - adult_production_sample.yaml

Every member is loaded and verified as on its own (sha256, size, schema, labels, groups). The
members must share their sensitive features; the model's feature columns are those of the first
member and must exist in all. The combined data has one row per member row, with

- ``id``: ``<dataset>:<id>`` (a predictions file for a suite uses these ids),
- ``label``: ``"1"``/``"0"`` from each member's own ``label_column`` and ``positive_label``,
- the sensitive features, the feature columns, and
- ``source`` (the member's ``production``/``benchmark``/``corner_case``) and ``dataset`` (its name).

When the members come from two or more sources, ``source`` is also a sensitive feature, so every
metric is reported per source, and per source and group, as well as combined.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field

from ..exceptions import DataError, ManifestError
from ._declared import Declared, validate_declared
from ._manifest import Manifest, check_inside, load_manifest, read_yaml_mapping

SOURCE_FEATURE = "source"


class SuiteFile(Declared):
    """A suite manifest: one evaluation assembled from several dataset manifests (``kind: suite``)."""

    kind: Literal["suite"]
    name: str = Field(description="a name", min_length=1)
    description: str = ""
    datasets: list[str] = Field(description="a non-empty list of manifest paths, relative to the suite",
                                min_length=1)


def is_suite(path: str | Path) -> bool:
    """Whether the YAML file at ``path`` is a suite manifest (``kind: suite``)."""
    path = Path(path)
    if not path.is_file():
        return False
    raw = read_yaml_mapping(path, ManifestError, what="manifest")
    return raw.get("kind") == "suite"


def load_suite_members(path: str | Path) -> tuple[dict[str, Any], list[Manifest]]:
    """Validate a suite manifest and load its members' manifests (not their data).

    Raises
    ------
    ManifestError
        Naming the suite file and key: unknown or missing keys, an empty or malformed ``datasets``
        list, a member path that is absolute, a URL, or leaves the data folders, a member listed twice,
        members with different sensitive features.
    """
    path = Path(path)
    raw = read_yaml_mapping(path, ManifestError, what="suite manifest")
    validate_declared(SuiteFile, raw, path, ManifestError)
    items = raw["datasets"]
    if not all(items):
        raise ManifestError(path, f"expected a non-empty list of manifest paths, found {items!r}", key="datasets")
    if len(set(items)) != len(items):
        raise ManifestError(path, "a dataset is listed twice", key="datasets")
    members = []
    for item in items:
        if Path(item).is_absolute() or "://" in item:
            raise ManifestError(path, f"expected a path relative to the suite, found {item!r}", key="datasets")
        check_inside(path, item, key="datasets")
        member = path.parent / item
        if is_suite(member):
            raise ManifestError(path, f"{item!r} is a suite; suites cannot be nested", key="datasets")
        members.append(load_manifest(member))
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ManifestError(path, f"two members share a dataset name: {names}", key="datasets")
    first = members[0]
    for m in members[1:]:
        if set(m.sensitive_features) != set(first.sensitive_features):
            raise ManifestError(path, f"members have different sensitive features: {first.name} has "
                                      f"{list(first.sensitive_features)}, {m.name} has {list(m.sensitive_features)}",
                                key="datasets")
    return raw, members


def combine(path: Path, raw: dict[str, Any], members: list[Manifest], frames: list[pd.DataFrame]) -> tuple[Manifest, pd.DataFrame]:
    """The suite's combined frame and the manifest describing it (see the module docstring)."""
    first = members[0]
    features = list(first.feature_columns) if first.feature_columns is not None else None
    parts = []
    for m, frame in zip(members, frames, strict=True):
        if features is not None:
            missing = [c for c in features if c not in frame.columns]
            if missing:
                raise DataError(m.data_path, f"column(s) {missing} missing: suite {path.name} takes its feature "
                                             f"columns from {first.name}, and every member must have them",
                                column=missing[0])
        part = pd.DataFrame({
            "id": m.name + ":" + frame[m.id_column].astype(str),
            "label": (frame[m.label_column] == str(m.positive_label)).map({True: "1", False: "0"}),
        })
        for c in first.sensitive_features:
            part[c] = frame[c].to_numpy()
        for c in features or [c for c in frame.columns if c not in (m.id_column, m.label_column)]:
            if c not in part.columns:
                part[c] = frame[c].to_numpy()
        if m.image_column:
            base = m.data_path.parent
            part["image"] = frame[m.image_column].map(lambda rel, b=base: str((b / rel).resolve()))
        part[SOURCE_FEATURE] = m.source
        part["dataset"] = m.name
        parts.append(part)
    combined = pd.concat(parts, ignore_index=True)
    sources = combined[SOURCE_FEATURE].unique()
    sensitive = tuple(first.sensitive_features) + ((SOURCE_FEATURE,) if len(sources) > 1 else ())
    digest = hashlib.sha256("\n".join(f"{m.name}:{m.sha256}" for m in members).encode()).hexdigest()
    manifest = Manifest(
        name=raw["name"], source="suite",  # type: ignore[arg-type]
        path="", sha256=digest, format="csv", id_column="id", label_column="label", positive_label="1",
        sensitive_features=sensitive, license="; ".join(dict.fromkeys(m.license for m in members)),
        manifest_path=path.resolve(), description=str(raw.get("description", "")),
        feature_columns=tuple(features) if features is not None else None, label_values=("1", "0"),
        image_column="image" if "image" in combined.columns else None,
        extra={"members": members},
    )
    return manifest, combined
