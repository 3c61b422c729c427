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
from typing import Any, Literal, get_args

import yaml

from ..exceptions import ManifestError
from ._schema import ColumnSpec, parse_schema

Source = Literal["production", "benchmark", "corner_case"]
DataFormat = Literal["csv", "parquet"]

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "source": str,
    "path": str,
    "sha256": str,
    "format": str,
    "id_column": str,
    "label_column": str,
    "positive_label": (str, int),
    "sensitive_features": list,
    "license": str,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "label_values": list,
    "feature_columns": list,
    "size_bytes": int,
    "citation": str,
    "schema": dict,
    "image_column": str,
    "image_features": dict,
    "attack_column": str,
    "kind": str,
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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


def _type_name(t: type | tuple[type, ...]) -> str:
    types = t if isinstance(t, tuple) else (t,)
    names = {"str": "string", "list": "list", "int": "integer", "dict": "mapping"}
    return " or ".join(names[x.__name__] for x in types)


def _check_types(path: Path, raw: dict[str, Any]) -> None:
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ManifestError(
            path,
            f"unknown key(s) {unknown}; allowed keys are {sorted({**_REQUIRED, **_OPTIONAL})}",
            key=unknown[0],
        )
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ManifestError(path, f"missing required key(s) {missing}", key=missing[0])
    for key, expected in {**_REQUIRED, **_OPTIONAL}.items():
        if key not in raw:
            continue
        value = raw[key]
        # bool is an int subclass; YAML turns yes/no/on/off into booleans, which is never meant here.
        if isinstance(value, bool) or not isinstance(value, expected):
            hint = " (quote the value so YAML keeps it as text)" if not isinstance(value, str) else ""
            raise ManifestError(
                path,
                f"expected a {_type_name(expected)}, found {type(value).__name__} {value!r}{hint}",
                key=key,
            )
    if "label_values" in raw and not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                         for v in raw["label_values"]):
        raise ManifestError(path, f"expected a list of labels (quoted text or integers), found {raw['label_values']!r}",
                            key="label_values")
    for key in ("sensitive_features", "feature_columns"):
        if key in raw and not all(isinstance(v, str) and v for v in raw[key]):
            raise ManifestError(path, f"expected a list of column names, found {raw[key]!r}", key=key)
    if not raw["sensitive_features"]:
        raise ManifestError(path, "expected at least one sensitive feature column", key="sensitive_features")


def _check_values(path: Path, raw: dict[str, Any]) -> None:
    if raw.get("kind", "dataset") != "dataset":
        raise ManifestError(path, f"expected 'dataset' (or 'suite' for a suite manifest), found {raw['kind']!r}",
                            key="kind")
    if not _NAME.match(raw["name"]):
        raise ManifestError(
            path, f"expected letters, digits, '_', '.' or '-', found {raw['name']!r}", key="name"
        )
    if raw["source"] not in get_args(Source):
        raise ManifestError(
            path, f"expected one of {list(get_args(Source))}, found {raw['source']!r}", key="source"
        )
    if raw["format"] not in get_args(DataFormat):
        raise ManifestError(
            path, f"expected one of {list(get_args(DataFormat))}, found {raw['format']!r}", key="format"
        )
    if not _SHA256.match(raw["sha256"]):
        raise ManifestError(
            path, f"expected 64 lowercase hex digits, found {raw['sha256']!r}", key="sha256"
        )
    data_path = Path(raw["path"])
    if data_path.is_absolute() or "://" in raw["path"]:
        raise ManifestError(
            path, f"expected a path relative to the manifest, found {raw['path']!r}", key="path"
        )
    _check_inside(path, raw["path"])
    if "label_values" in raw and str(raw["positive_label"]) not in {str(v) for v in raw["label_values"]}:
        raise ManifestError(path, f"positive_label {raw['positive_label']!r} is not one of label_values "
                                  f"{raw['label_values']}", key="positive_label")
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
    """``image_features: {size: [rows, cols], max_value: 16, invert: true}``: how the model's pixel columns
    (``feature_columns``, row-major) are computed from the image (block means of the grayscale image)."""
    spec = raw["image_features"]
    unknown = sorted(set(spec) - {"size", "max_value", "invert"})
    if unknown:
        raise ManifestError(path, f"unknown key(s) {unknown}; allowed: ['invert', 'max_value', 'size']",
                            key="image_features")
    size = spec.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ManifestError(path, f"size must be [rows, columns] of positive integers, found {size!r}",
                            key="image_features")
    max_value = spec.get("max_value", 255)
    if isinstance(max_value, bool) or not isinstance(max_value, (int, float)) or max_value <= 0:
        raise ManifestError(path, f"max_value must be a positive number, found {max_value!r}", key="image_features")
    if not isinstance(spec.get("invert", False), bool):
        raise ManifestError(path, f"invert must be true or false, found {spec['invert']!r}", key="image_features")
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


def _check_inside(path: Path, relative: str, key: str = "path") -> None:
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
