"""Data manifests: the YAML files in ``data_manifests/`` that describe one evaluation dataset.

A manifest names a data file (relative to the manifest), its sha256, and which columns hold the
sample id, the true label and the demographic (sensitive) attributes. It is parsed with a safe YAML
loader that also refuses duplicate keys, and checked strictly: unknown keys, missing keys and wrong
types are errors that name the manifest and the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field

from ..exceptions import ManifestError
from ._declared import Declared, validate_declared
from ._schema import ColumnSpec, parse_schema

Source = Literal["production", "benchmark", "corner_case"]
DataFormat = Literal["csv", "parquet"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ImageFeatures(Declared):
    """How a model's pixel columns are computed from an image (block means of the grayscale image)."""

    size: list[int] = Field(description="[rows, columns] of positive integers", min_length=2, max_length=2)
    max_value: int | float = Field(255, description="the largest pixel value after scaling (a positive number)")
    invert: bool = Field(False, description="whether dark pixels become large values")


class ManifestFile(Declared):
    """A data manifest: one evaluation dataset (``data_manifests/*.yaml`` with ``kind: dataset``)."""

    kind: str = Field("dataset", description="'dataset' ('suite' for a suite manifest)")
    name: str = Field(description="letters, digits, '_', '.' or '-'", pattern=_NAME.pattern)
    source: Source = Field(description="where the samples come from")
    path: str = Field(description="the data file, relative to the manifest and inside the data folders")
    sha256: str = Field(description="64 lowercase hex digits", pattern=r"^[0-9a-f]{64}$")
    format: DataFormat
    id_column: str = Field(description="the column of unique sample ids")
    label_column: str = Field(description="the column of true labels")
    positive_label: str | int = Field(description="the label value that is the positive class")
    sensitive_features: list[str] = Field(description="at least one sensitive feature column", min_length=1)
    license: str = Field(description="the data's licence")
    description: str = ""
    label_values: list[str | int] | None = Field(None, description="every label value the data may hold")
    negative_labels: list[str | int] | None = Field(
        None, description="the label values counted as the negative class (default: the one value other than "
                          "positive_label; a third value is refused unless declared here or in label_values)")
    feature_columns: list[str] | None = Field(None, description="the columns a model reads")
    size_bytes: int | None = None
    citation: str = ""
    schema_: dict[str, Any] | None = Field(None, alias="schema",
                                           description="column types and allowed values (see the README)")
    image_column: str | None = Field(None, description="a column of image paths, relative to the manifest")
    image_features: ImageFeatures | None = None
    attack_column: str | None = Field(None, description="a column naming the presentation-attack species "
                                                        "('' or 'bona_fide' for bona fide samples)")


@dataclass(frozen=True)
class Manifest:
    """A validated data manifest.

    Attributes mirror the YAML keys; ``manifest_path`` is the file it was read from and
    :attr:`data_path` the data file it points to, resolved against the manifest's folder.
    """

    name: str
    source: Source
    path: str
    sha256: str
    format: DataFormat
    id_column: str
    label_column: str
    positive_label: str | int
    sensitive_features: tuple[str, ...]
    license: str
    manifest_path: Path
    description: str = ""
    feature_columns: tuple[str, ...] | None = None
    label_values: tuple[str, ...] | None = None
    negative_labels: tuple[str, ...] | None = None
    size_bytes: int | None = None
    citation: str = ""
    schema: tuple[ColumnSpec, ...] = ()
    image_column: str | None = None
    image_features: dict[str, Any] | None = None
    attack_column: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def data_path(self) -> Path:
        """The data file, resolved against the manifest's folder."""
        return (self.manifest_path.parent / self.path).resolve()


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _check_types(path: Path, raw: dict[str, Any]) -> None:
    validate_declared(ManifestFile, raw, path, ManifestError)
    for key in ("sensitive_features", "feature_columns"):
        if key in raw and not all(v for v in raw[key]):
            raise ManifestError(path, f"expected a list of column names, found {raw[key]!r}", key=key)


def _check_values(path: Path, raw: dict[str, Any]) -> None:
    if raw.get("kind", "dataset") != "dataset":
        raise ManifestError(path, f"expected 'dataset' (or 'suite' for a suite manifest), found {raw['kind']!r}",
                            key="kind")
    data_path = Path(raw["path"])
    if data_path.is_absolute() or "://" in raw["path"]:
        raise ManifestError(
            path, f"expected a path relative to the manifest, found {raw['path']!r}", key="path"
        )
    check_inside(path, raw["path"])
    if "label_values" in raw and str(raw["positive_label"]) not in {str(v) for v in raw["label_values"]}:
        raise ManifestError(path, f"positive_label {raw['positive_label']!r} is not one of label_values "
                                  f"{raw['label_values']}", key="positive_label")
    if raw.get("negative_labels") is not None:
        negatives = {str(v) for v in raw["negative_labels"]}
        if str(raw["positive_label"]) in negatives or not negatives:
            raise ManifestError(path, f"negative_labels {raw['negative_labels']} must be a non-empty list without "
                                      f"the positive_label {raw['positive_label']!r}", key="negative_labels")
        if "label_values" in raw and not negatives <= {str(v) for v in raw["label_values"]}:
            raise ManifestError(path, f"negative_labels {raw['negative_labels']} must be among label_values "
                                      f"{raw['label_values']}", key="negative_labels")
    used = [raw["id_column"], raw["label_column"]]
    clash = [c for c in raw["sensitive_features"] if c in used]
    if clash:
        raise ManifestError(
            path, f"sensitive feature(s) {clash} are also the id or label column", key="sensitive_features"
        )
    if "image_column" in raw and raw["image_column"] in used:
        raise ManifestError(path, f"image_column {raw['image_column']!r} is also the id or label column",
                            key="image_column")
    if "attack_column" in raw and raw["attack_column"] in [*used, *raw["sensitive_features"]]:
        raise ManifestError(path, f"attack_column {raw['attack_column']!r} is also the id, label or a sensitive "
                                  "column", key="attack_column")
    if "image_features" in raw:
        _check_image_features(path, raw)
    if len(set(raw["sensitive_features"])) != len(raw["sensitive_features"]):
        raise ManifestError(path, "sensitive features are listed twice", key="sensitive_features")


def _check_image_features(path: Path, raw: dict[str, Any]) -> None:
    """``image_features: {size: [rows, cols], max_value: 16, invert: true}`` (types checked by
    :class:`ImageFeatures`): positive sizes, and one feature column per pixel."""
    spec = raw["image_features"]
    size, max_value = spec["size"], spec.get("max_value", 255)
    if not all(v > 0 for v in size):
        raise ManifestError(path, f"size must be [rows, columns] of positive integers, found {size!r}",
                            key="image_features.size")
    if max_value <= 0:
        raise ManifestError(path, f"max_value must be a positive number, found {max_value!r}",
                            key="image_features.max_value")
    if "image_column" not in raw or len(raw.get("feature_columns", [])) != size[0] * size[1]:
        raise ManifestError(path, f"image_features needs image_column and {size[0] * size[1]} feature_columns "
                                  "(one per pixel, row-major)", key="image_features")


def data_roots(manifest_path: Path) -> list[Path]:
    """Folders a manifest's data may live in: the manifest's own folder, the project's ``data/``, and
    ``EVALKIT_DATA_ROOT`` (``os.pathsep``-separated) if set."""
    from ..tracking import project_root

    roots = [manifest_path.resolve().parent, project_root() / "data"]
    roots += [Path(p) for p in os.environ.get("EVALKIT_DATA_ROOT", "").split(os.pathsep) if p]
    return [r.resolve() for r in roots]


def check_inside(path: Path, relative: str, key: str = "path") -> None:
    """Refuse a data path that leaves the allowed folders, also through ``..`` or a symlink."""
    target = (path.resolve().parent / relative).resolve()  # follows symlinks
    roots = data_roots(path)
    if not any(target == r or target.is_relative_to(r) for r in roots):
        raise ManifestError(
            path,
            f"path {relative!r} resolves to {target}, outside the data folders {[str(r) for r in roots]} "
            "(set EVALKIT_DATA_ROOT to allow another folder)",
            key=key,
        )


def read_yaml_mapping(path: Path, error: type[ManifestError], *, what: str) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping, with the safe loader that refuses duplicate keys.

    Raises
    ------
    ManifestError (or the subclass ``error``)
        If the file is missing, not UTF-8, not YAML, or not a mapping; the message names the file.
    """
    if not path.is_file():
        raise error(path, f"{what} file not found" + _nearby(path))
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except yaml.YAMLError as err:
        raise error(path, f"not valid YAML: {err}") from err
    except UnicodeDecodeError as err:
        raise error(path, f"not UTF-8 text: {err}") from err
    if not isinstance(raw, dict):
        raise error(path, f"expected a mapping of keys, found {type(raw).__name__}")
    return raw


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a data manifest.

    Parameters
    ----------
    path : path-like
        A YAML manifest, e.g. ``data_manifests/adult_test.yaml``.

    Returns
    -------
    Manifest
        The validated manifest. The data file is not read here; see :func:`evalkit.load_dataset`.

    Raises
    ------
    ManifestError
        If the file is missing, is not YAML, has duplicate, unknown or missing keys, or a value of
        the wrong type. The message names the file and the key.

    Examples
    --------
    >>> m = load_manifest("data_manifests/adult_test.yaml")  # doctest: +SKIP
    >>> m.label_column, m.sensitive_features  # doctest: +SKIP
    ('income', ('sex', 'race', 'age_band'))
    """
    path = Path(path)
    raw = read_yaml_mapping(path, ManifestError, what="manifest")
    _check_types(path, raw)
    _check_values(path, raw)
    return Manifest(
        name=raw["name"],
        source=raw["source"],
        path=raw["path"],
        sha256=raw["sha256"],
        format=raw["format"],
        id_column=raw["id_column"],
        label_column=raw["label_column"],
        positive_label=raw["positive_label"],
        sensitive_features=tuple(raw["sensitive_features"]),
        license=raw["license"],
        manifest_path=path.resolve(),
        description=raw.get("description", ""),
        feature_columns=tuple(raw["feature_columns"]) if "feature_columns" in raw else None,
        label_values=tuple(str(v) for v in raw["label_values"]) if "label_values" in raw else None,
        negative_labels=(tuple(str(v) for v in raw["negative_labels"]) if raw.get("negative_labels") is not None
                         else None),
        size_bytes=raw.get("size_bytes"),
        citation=raw.get("citation", ""),
        schema=parse_schema(path, raw["schema"]) if "schema" in raw else (),
        image_column=raw.get("image_column"),
        image_features=raw.get("image_features"),
        attack_column=raw.get("attack_column"),
    )


def _nearby(path: Path) -> str:
    folder = path.parent if path.parent.is_dir() else None
    if folder is None:
        return ""
    found = sorted(p.name for p in folder.glob("*.yaml"))
    return f"; manifests in {folder}: {found}" if found else ""


def write_dataset(frame: Any, data_path: str | Path, manifest_path: str | Path, *, fields: dict[str, Any],
                  max_categories: int = 30) -> Path:
    """Write ``frame`` to ``data_path`` (CSV; gzip with mtime 0 for ``.gz``, so the same rows give the same
    sha256) and a manifest describing it to ``manifest_path``, both atomically.

    ``fields`` are the manifest's keys in order (``name``, ``source``, ``description``, ``id_column`` ...);
    ``path`` (relative to the manifest), ``sha256``, ``size_bytes``, ``format`` and an inferred ``schema``
    are added here. The one writer behind ``evalkit data import``, generated corner cases and
    :mod:`evalkit.mlflow_plugin`.

    Returns
    -------
    Path
        The manifest.
    """
    import gzip
    import io
    import os

    import pandas as pd

    from .._io import atomic_write_bytes, atomic_write_text, sha256_file
    from ._schema import infer_schema

    data_path, manifest_path = Path(data_path), Path(manifest_path)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    text = frame.to_csv(index=False).encode()
    if data_path.name.endswith(".gz"):
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(text)
        text = buf.getvalue()
    atomic_write_bytes(data_path, text)
    as_written = pd.read_csv(data_path, dtype=str, keep_default_na=False)
    doc = {k: v for k, v in fields.items() if k not in ("schema",)}
    doc = {**{k: doc.pop(k) for k in ("name", "source", "description") if k in doc},
           "path": os.path.relpath(data_path, manifest_path.parent), "sha256": sha256_file(data_path),
           "size_bytes": data_path.stat().st_size, "format": "csv", **doc,
           "schema": infer_schema(as_written, max_categories=max_categories)}
    atomic_write_text(manifest_path, yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120))
    return manifest_path
