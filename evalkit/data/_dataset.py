"""Loading an evaluation dataset described by a manifest, with its integrity checked."""

from __future__ import annotations

import functools

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import release_free_memory, sha256_file
from ..exceptions import DataError
from ._manifest import Manifest, load_manifest
from ._schema import check_frame

_EXAMPLES = 5


@dataclass(frozen=True)
class Dataset:
    """A loaded, verified evaluation dataset.

    Attributes
    ----------
    manifest : Manifest
        The manifest it was loaded from.
    frame : pandas.DataFrame
        All columns of the file. The id, label and sensitive-feature columns are strings, exactly as
        written (a group called ``"NA"`` stays a group), NFC-normalised and whitespace-trimmed.
    """

    manifest: Manifest
    frame: pd.DataFrame

    @property
    def name(self) -> str:
        """The manifest's dataset name."""
        return self.manifest.name

    @property
    def ids(self) -> pd.Series:
        """Sample ids (strings)."""
        return self.frame[self.manifest.id_column]

    @functools.cached_property
    def y_true(self) -> np.ndarray:
        """True labels as 0/1 integers, 1 for the manifest's ``positive_label`` (worked out once; read-only)."""
        labels = self.frame[self.manifest.label_column]
        y = (labels == str(self.manifest.positive_label)).to_numpy(dtype=np.int8)
        y.flags.writeable = False
        return y

    @property
    def sensitive(self) -> pd.DataFrame:
        """The sensitive-feature columns (strings)."""
        return self.frame[list(self.manifest.sensitive_features)]

    @property
    def features(self) -> pd.DataFrame:
        """Model inputs: ``feature_columns`` from the manifest, else all but the id and label."""
        m = self.manifest
        if m.feature_columns is not None:
            return self.frame[list(m.feature_columns)]
        return self.frame.drop(columns=[m.id_column, m.label_column])

    @property
    def members(self) -> list[Manifest]:
        """The dataset manifests this data comes from: the suite's members, or the manifest itself."""
        return list(self.manifest.extra.get("members", [self.manifest]))

    @property
    def sources(self) -> pd.Series:
        """The source of every row (``production``, ``benchmark`` or ``corner_case``)."""
        if "source" in self.frame.columns and "members" in self.manifest.extra:
            return self.frame["source"]
        return pd.Series(self.manifest.source, index=self.frame.index)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The same dataset restricted to ``rows`` (positions), e.g. after balancing."""
        return Dataset(manifest=self.manifest, frame=self.frame.iloc[np.sort(rows)].reset_index(drop=True))

    def __len__(self) -> int:
        return len(self.frame)


def _read_frame(manifest: Manifest) -> pd.DataFrame:
    path = manifest.data_path
    protected = [manifest.id_column, manifest.label_column, *manifest.sensitive_features]
    try:
        if manifest.format == "csv":
            header = pd.read_csv(path, nrows=0).columns
            # Protected columns keep every value as text ("NA", "None" are valid groups);
            # other columns treat only an empty field as missing.
            return pd.read_csv(
                path,
                dtype={c: str for c in protected if c in header},
                keep_default_na=False,
                na_values={c: [""] for c in header if c not in protected},
            )
        # Arrow's buffers freed column by column as they are converted (not the whole table held beside the frame
        # until the end): measured at 10^6 rows, 38 MB off the read's peak.
        frame = pd.read_parquet(path, to_pandas_kwargs={"self_destruct": True, "split_blocks": True})
        for col in protected:
            if col in frame.columns:
                frame[col] = frame[col].astype(str)
        return frame
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as err:
        raise DataError(path, f"cannot be read as {manifest.format}: {err}") from err


def _normalise(values: pd.Series) -> pd.Series:
    """NFC-normalised and trimmed values, worked out once per distinct value (a column of 10^6 rows holds a
    handful), not once per row."""
    uniques = pd.unique(values)
    if not all(isinstance(v, str) for v in uniques):
        return values.map(lambda v: unicodedata.normalize("NFC", v).strip())  # row by row, failing as always
    mapping = {v: unicodedata.normalize("NFC", v).strip() for v in uniques}
    return values if all(k == v for k, v in mapping.items()) else values.map(mapping)


def _examples(frame: pd.DataFrame, mask: pd.Series | np.ndarray, id_column: str) -> list[str]:
    return frame.loc[np.asarray(mask), id_column].head(_EXAMPLES).tolist()


def _check_columns(manifest: Manifest, frame: pd.DataFrame) -> None:
    needed = [manifest.id_column, manifest.label_column, *manifest.sensitive_features]
    needed += list(manifest.feature_columns or ())
    needed += [manifest.attack_column] if manifest.attack_column else []
    for col in needed:
        if col not in frame.columns:
            raise DataError(
                manifest.data_path,
                f"column missing (named in {manifest.manifest_path.name}); "
                f"available columns: {list(frame.columns)}",
                column=col,
            )


def check_label_values(found: Any, manifest: Any, where: Callable[[str], Any]) -> None:
    """Refuse label values a binary evaluation would otherwise count as negatives silently.

    ``found`` holds the distinct label values seen; ``manifest`` is a :class:`Manifest` (or anything with its
    ``positive_label``, ``negative_labels``, ``label_values``, ``label_column`` and ``data_path``, like the
    out-of-core engines' spec).

    Every value other than ``positive_label`` must be declared as a negative (``negative_labels``), or be
    allowed by ``label_values``, or be the only other value. ``where(value)`` names the rows (ids or a row
    number) of an offending value in the error.

    Raises
    ------
    DataError
        Naming the label column, the values found and how to declare them.
    """
    positive = str(manifest.positive_label)
    others = sorted({str(v) for v in found} - {positive})
    if manifest.negative_labels is not None:
        undeclared = [v for v in others if v not in manifest.negative_labels]
        if undeclared:
            raise DataError(manifest.data_path, f"label {undeclared[0]!r} is neither the positive_label {positive!r} "
                            f"nor one of negative_labels {list(manifest.negative_labels)}; e.g. {where(undeclared[0])}",
                            column=manifest.label_column)
        return
    if manifest.label_values is None and len(others) > 1:
        raise DataError(manifest.data_path, f"{len(others) + 1} label values found ({', '.join(map(repr, [positive, *others][:6]))}"
                        f"{' …' if len(others) > 5 else ''}); a binary label column holds the positive_label "
                        f"{positive!r} and one other value, and evalkit will not count several values as negative "
                        f"silently: declare them with negative_labels: {others[:6]} (or label_values), or fix the "
                        f"data; e.g. {others[1]!r} at {where(others[1])}", column=manifest.label_column)


def _check_values(manifest: Manifest, frame: pd.DataFrame) -> None:
    path, id_col = manifest.data_path, manifest.id_column
    if len(frame) == 0:
        raise DataError(path, "the file has a header but zero rows")
    # is_unique first: its hash table alone (measured at 10^6 string ids: 67 MB at its peak against 114 MB for
    # duplicated(keep=False), and faster); the rows are found only when an id repeats
    if not frame[id_col].is_unique:
        dup = frame[id_col].duplicated(keep=False)
        raise DataError(
            path,
            f"{int(dup.sum())} rows share an id; ids must be unique, e.g. "
            f"{frame.loc[dup, id_col].unique()[:_EXAMPLES].tolist()}",
            column=id_col,
        )
    for col in (manifest.label_column, *manifest.sensitive_features):
        empty = frame[col] == ""
        if empty.any():
            raise DataError(
                path,
                f"{int(empty.sum())} missing values, expected none; e.g. ids "
                f"{_examples(frame, empty, id_col)}",
                column=col,
            )
    labels = frame[manifest.label_column]
    if manifest.label_values is not None:
        outside = ~labels.isin(manifest.label_values)
        if outside.any():
            raise DataError(
                path,
                f"{int(outside.sum())} labels outside the declared label_values {list(manifest.label_values)}: "
                f"found {sorted(labels[outside].unique().tolist())[:5]}, e.g. ids {_examples(frame, outside, id_col)}",
                column=manifest.label_column,
            )
    for col in manifest.sensitive_features:
        groups = frame[col].unique()
        if len(groups) < 2:
            raise DataError(
                path,
                f"only one group ({groups[0]!r}) in {len(frame)} rows; a sensitive feature needs at least two "
                "groups to compare (remove it from sensitive_features, or add data)",
                column=col,
            )
    positive = str(manifest.positive_label)
    if not (labels == positive).any():
        raise DataError(
            path,
            f"no row has the positive_label {positive!r}; labels found: "
            f"{sorted(labels.unique().tolist())[:10]}",
            column=manifest.label_column,
        )
    check_label_values(labels.unique(), manifest, lambda value: f"ids {_examples(frame, labels == value, id_col)}")


def load_dataset(manifest: Manifest | str | Path) -> Dataset:
    """Load the data file a manifest describes, after verifying its sha256.

    Parameters
    ----------
    manifest : Manifest or path-like
        A loaded manifest, or the path of a dataset or suite manifest (see :mod:`evalkit.suite`).

    Returns
    -------
    Dataset
        The verified data.

    Raises
    ------
    ManifestError
        If the manifest itself is invalid.
    DataError
        If the data file is missing, its sha256 (or size) differs from the manifest, a named column is
        missing, ids repeat, or labels or sensitive values are missing. The message names the file and
        column.

    Examples
    --------
    >>> ds = load_dataset("data_manifests/adult_test.yaml")  # doctest: +SKIP
    >>> len(ds), ds.y_true.mean().round(3)  # doctest: +SKIP
    (16281, 0.236)
    """
    if not isinstance(manifest, Manifest):
        from ._suite import is_suite

        if is_suite(manifest):
            return load_suite(manifest)
        manifest = load_manifest(manifest)
    path = manifest.data_path
    if not path.is_file():
        raise DataError(path, f"data file not found (path {manifest.path!r} in {manifest.manifest_path})")
    if manifest.size_bytes is not None and path.stat().st_size != manifest.size_bytes:
        raise DataError(
            path, f"size is {path.stat().st_size} bytes, the manifest says {manifest.size_bytes}"
        )
    actual = sha256_file(path)
    if actual != manifest.sha256:
        raise DataError(
            path,
            f"sha256 mismatch: the manifest {manifest.manifest_path.name} expects {manifest.sha256}, "
            f"the file has {actual}. The file changed or the manifest is stale.",
        )
    frame = _read_frame(manifest)
    if manifest.format == "parquet":
        release_free_memory()  # the Arrow table's pages (not held by the frame), before the checks allocate
    _check_columns(manifest, frame)
    # Labels and group values are trimmed and NFC-normalised on purpose (one group is one group however it was
    # typed); ids are not: they are matched exactly against predictions files.
    for col in (manifest.label_column, *manifest.sensitive_features):
        frame[col] = _normalise(frame[col])
    _check_values(manifest, frame)
    if manifest.schema:
        check_frame(frame, manifest.schema, id_column=manifest.id_column, path=path,
                    manifest_name=manifest.manifest_path.name)
    if manifest.image_column:
        _check_images(manifest, frame)
    if manifest.format == "parquet":
        release_free_memory()  # the Arrow table read is freed: its pages would stay in the resident memory
    return Dataset(manifest=manifest, frame=frame.reset_index(drop=True))


def _check_images(manifest: Manifest, frame: pd.DataFrame) -> None:
    """Every image path is relative, stays inside the data folders, and exists."""
    from ._manifest import data_roots

    column = manifest.image_column
    if column not in frame.columns:
        raise DataError(manifest.data_path, f"image column missing; available columns: {list(frame.columns)}",
                        column=column)
    base = manifest.data_path.parent
    roots = data_roots(manifest.manifest_path)
    bad, missing = [], []
    for rid, rel in zip(frame[manifest.id_column], frame[column].astype(str), strict=True):
        target = (base / rel).resolve()
        if Path(rel).is_absolute() or "://" in rel or not any(target.is_relative_to(r) for r in roots):
            bad.append(rid)
        elif not target.is_file():
            missing.append(rid)
    if bad:
        raise DataError(manifest.data_path, f"{len(bad)} image path(s) are absolute, URLs, or leave the data folders, "
                                            f"e.g. ids {bad[:5]}", column=column)
    if missing:
        raise DataError(manifest.data_path, f"{len(missing)} image file(s) do not exist (paths are relative to "
                                            f"{base}), e.g. ids {missing[:5]}", column=column)


def image_paths(dataset: Dataset) -> pd.Series:
    """Absolute paths of a dataset's images (indexed like its rows).

    Raises
    ------
    ValueError
        If the manifest declares no ``image_column``.
    """
    column = dataset.manifest.image_column
    if column is None:
        raise ValueError(f"dataset {dataset.name!r} has no image_column in its manifest")
    base = dataset.manifest.data_path.parent
    return dataset.frame[column].map(lambda rel: str((base / rel).resolve()))


def load_suite(path: str | Path) -> Dataset:
    """Load every member of a suite manifest (each verified as on its own) and combine them.

    See :mod:`evalkit.suite` for the layout of the combined data.
    """
    from ._suite import combine, load_suite_members

    path = Path(path)
    raw, members = load_suite_members(path)
    frames = [load_dataset(m).frame for m in members]
    manifest, frame = combine(path, raw, members, frames)
    return Dataset(manifest=manifest, frame=frame)
