"""Verification data: a manifest of ``kind: verification`` naming a samples table and either scored comparisons
or templates, each file with its sha256, checked strictly before anything is computed.

::

    kind: verification
    name: demo_faces
    source: benchmark
    license: CC0-1.0
    system: synthetic-embedder         # the system that made the scores or templates
    samples: {path: samples.csv, sha256: ..., format: csv}
    sample_column: sample
    subject_column: subject
    sensitive_features: [group, sex]
    image_column: image                # optional: image paths, relative to the samples file
    comparisons: {path: comparisons.parquet, sha256: ..., format: parquet}   # columns probe, reference, score
    score_range: [0.0, 1.0]            # with comparisons (default [-1, 1])
    # or, instead of comparisons:
    templates: {path: templates.npy, sha256: ..., format: npy}   # one row per sample, in the samples' order

Errors name the file, row and column: a comparison naming an unknown sample, a subject with conflicting
demographics, a sample compared with itself, the same pair compared twice, missing or non-finite values, a
score outside the range, a templates file with another number of rows, a group with fewer than two subjects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from .._io import sha256_file
from ..data import Declared, check_inside, read_yaml_mapping, validate_declared
from ..exceptions import DataError, ManifestError
from ..settings import VerificationSettings
from ._counts import VerificationCounts, counts_from_comparisons, counts_from_templates

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class FileRef(Declared):
    """A data file named by a verification manifest."""

    path: str = Field(description="the file, relative to the manifest and inside the data folders")
    sha256: str = Field(description="64 lowercase hex digits", pattern=r"^[0-9a-f]{64}$")
    format: Literal["csv", "parquet", "npy"]


class VerificationFile(Declared):
    """A verification data manifest (``kind: verification``)."""

    kind: Literal["verification"]
    name: str = Field(description="letters, digits, '_', '.' or '-'", pattern=_NAME)
    source: Literal["production", "benchmark", "corner_case"]
    license: str
    description: str = ""
    citation: str = ""
    system: str = Field("", description="the system that made the scores or templates")
    samples: FileRef
    sample_column: str = "sample"
    subject_column: str = "subject"
    sensitive_features: list[str] = Field(description="at least one demographic column", min_length=1)
    image_column: str | None = None
    comparisons: FileRef | None = None
    templates: FileRef | None = None
    score_range: list[float] = Field([-1.0, 1.0], description="[low, high]: the scores' range", min_length=2,
                                     max_length=2)


@dataclass(frozen=True)
class VerificationData:
    """A loaded, checked verification set: the samples and the statistics of its comparisons."""

    manifest: VerificationFile
    manifest_path: Path
    samples: pd.DataFrame
    counts: VerificationCounts
    sha256: dict[str, str]

    @property
    def name(self) -> str:
        return self.manifest.name

    def image_path(self, sample: str) -> Path | None:
        """The image of a sample, if the samples name images."""
        col = self.manifest.image_column
        if col is None:
            return None
        value = self.samples.set_index(self.manifest.sample_column).at[sample, col]
        return (self.file(self.manifest.samples).parent / str(value)).resolve()

    def file(self, ref: FileRef) -> Path:
        return (self.manifest_path.parent / ref.path).resolve()


def is_verification(path: str | Path) -> bool:
    """Whether the YAML file at ``path`` is a verification manifest."""
    path = Path(path)
    return path.is_file() and read_yaml_mapping(path, ManifestError, what="manifest").get("kind") == "verification"


def _checked_file(manifest_path: Path, ref: FileRef, key: str) -> Path:
    check_inside(manifest_path, ref.path, key=f"{key}.path")
    path = (manifest_path.parent / ref.path).resolve()
    if not path.is_file():
        raise DataError(path, f"data file not found (named by {manifest_path}, key '{key}')")
    digest = sha256_file(path)
    if digest != ref.sha256:
        raise DataError(path, f"sha256 mismatch: the manifest {manifest_path.name} expects {ref.sha256}, the file "
                              f"has {digest}")
    return path


def _read_table(path: Path, fmt: str) -> pd.DataFrame:
    try:
        if fmt == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return pd.read_parquet(path)
    except Exception as err:  # unreadable or truncated file
        raise DataError(path, f"cannot read as {fmt}: {err}") from err


def _check_samples(path: Path, frame: pd.DataFrame, m: VerificationFile) -> pd.DataFrame:
    needed = [m.sample_column, m.subject_column, *m.sensitive_features] + ([m.image_column] if m.image_column else [])
    for col in needed:
        if col not in frame.columns:
            raise DataError(path, f"column missing; available columns: {list(frame.columns)}", column=col)
        missing = frame[col].isna()
        if missing.any():
            row = int(np.argmax(missing.to_numpy()))
            raise DataError(path, f"missing value in row {row + 2} (and {int(missing.sum()) - 1} more)", column=col)
    frame = frame.copy()
    for col in needed:
        frame[col] = frame[col].astype(str)
    dup = frame[m.sample_column].duplicated()
    if dup.any():
        raise DataError(path, f"sample {frame[m.sample_column][dup].iloc[0]!r} appears twice", column=m.sample_column)
    per_subject = frame.groupby(m.subject_column)[m.sensitive_features].nunique()
    conflict = per_subject[(per_subject > 1).any(axis=1)]
    if not conflict.empty:
        subject = conflict.index[0]
        col = conflict.columns[(conflict.iloc[0] > 1).to_numpy()][0]
        values = sorted(frame.loc[frame[m.subject_column] == subject, col].unique())
        raise DataError(path, f"subject {subject!r} has conflicting values {values}: a subject's demographics must "
                              "be the same in all its samples", column=col)
    subjects = frame.drop_duplicates(m.subject_column)
    for col in m.sensitive_features:
        n = subjects[col].value_counts()
        few = n[n < 2]
        if not few.empty:
            raise DataError(path, f"group {few.index[0]!r} has {int(few.iloc[0])} subject: at least 2 subjects per "
                                  "group are needed for impostor comparisons within it", column=col)
    return frame.reset_index(drop=True)


def _comparisons(path: Path, frame: pd.DataFrame, samples: pd.DataFrame, m: VerificationFile
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for col in ("probe", "reference", "score"):
        if col not in frame.columns:
            raise DataError(path, f"column missing; a comparisons file has probe, reference and score; available "
                                  f"columns: {list(frame.columns)}", column=col)
    index = pd.Index(samples[m.sample_column])
    codes = {}
    for col in ("probe", "reference"):
        values = frame[col].astype(str) if frame[col].notna().all() else frame[col]
        code = index.get_indexer(values)
        if (code < 0).any():
            row = int(np.argmax(code < 0))
            raise DataError(path, f"row {row + 2} names sample {frame[col].iloc[row]!r}, which is not in the samples "
                                  "table", column=col)
        codes[col] = code
    raw = frame["score"]
    # text (CSV) is parsed; anything that is not a plain number becomes NaN and is refused just below
    score = raw.to_numpy(dtype=float) if pd.api.types.is_numeric_dtype(raw) else \
        pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(score)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(path, f"row {row + 2}: score {raw.iloc[row]!r} is not a finite number", column="score")
    low, high = m.score_range
    out = (score < low) | (score > high)
    if out.any():
        row = int(np.argmax(out))
        raise DataError(path, f"row {row + 2}: score {score[row]!r} is outside score_range [{low:g}, {high:g}]",
                        column="score")
    same = codes["probe"] == codes["reference"]
    if same.any():
        row = int(np.argmax(same))
        raise DataError(path, f"row {row + 2} compares sample {frame['probe'].iloc[row]!r} with itself",
                        column="reference")
    key = pd.Series(codes["probe"].astype(np.int64) * len(index) + codes["reference"])
    dup = key.duplicated()
    if dup.any():
        row = int(np.argmax(dup.to_numpy()))
        raise DataError(path, f"row {row + 2} repeats the comparison {frame['probe'].iloc[row]!r} → "
                              f"{frame['reference'].iloc[row]!r}", column="probe")
    return codes["probe"], codes["reference"], score


def load_verification(path: str | Path, *, settings: VerificationSettings | None = None) -> VerificationData:
    """Read, check and reduce a verification set.

    Raises
    ------
    ManifestError
        A bad manifest (names the file and key).
    DataError
        A file that is missing, changed (sha256) or holds a bad value (names the file, row and column).
    """
    st = settings or VerificationSettings()
    path = Path(path)
    raw = read_yaml_mapping(path, ManifestError, what="manifest")
    m = validate_declared(VerificationFile, raw, path, ManifestError)
    if (m.comparisons is None) == (m.templates is None):
        raise ManifestError(path, "expected exactly one of 'comparisons' (scored pairs) or 'templates' (one "
                                  "embedding per sample)", key="comparisons")
    if m.score_range[0] >= m.score_range[1]:
        raise ManifestError(path, f"expected [low, high] with low < high, found {m.score_range}", key="score_range")
    sample_file = _checked_file(path, m.samples, "samples")
    if m.samples.format == "npy":
        raise ManifestError(path, "the samples table is csv or parquet", key="samples.format")
    samples = _check_samples(sample_file, _read_table(sample_file, m.samples.format), m)
    sha = {"samples": m.samples.sha256}
    features = list(m.sensitive_features)
    if m.comparisons is not None:
        cfile = _checked_file(path, m.comparisons, "comparisons")
        probe, reference, score = _comparisons(cfile, _read_table(cfile, m.comparisons.format), samples, m)
        counts = counts_from_comparisons(samples, probe, reference, score, subject_column=m.subject_column,
                                         features=features, score_range=(m.score_range[0], m.score_range[1]))
        sha["comparisons"] = m.comparisons.sha256
    else:
        tfile = _checked_file(path, m.templates, "templates")
        counts = _template_counts(tfile, m, samples, st)
        sha["templates"] = m.templates.sha256
    if counts.n_genuine == 0:
        raise DataError(sample_file, "no genuine comparison: every subject has one sample (or no pair of the same "
                                     "subject was compared)", column=m.subject_column)
    return VerificationData(manifest=m, manifest_path=path.resolve(), samples=samples, counts=counts, sha256=sha)


def _template_counts(tfile: Path, m: VerificationFile, samples: pd.DataFrame, st: VerificationSettings) -> Any:
    if m.templates.format != "npy":
        raise DataError(tfile, "templates are read from a .npy file (float32 or float64, one row per sample)")
    try:
        templates = np.load(tfile, allow_pickle=False, mmap_mode="r")
    except Exception as err:
        raise DataError(tfile, f"cannot read as .npy: {err}") from err
    if templates.ndim != 2 or templates.shape[0] != len(samples) or templates.dtype.kind != "f":
        raise DataError(tfile, f"expected a float array of {len(samples)} rows (one per sample, in the samples' "
                               f"order), found {templates.dtype} of shape {templates.shape}")
    bad = ~np.isfinite(templates).all(axis=1)
    if bad.any():
        raise DataError(tfile, f"row {int(np.argmax(bad))} (sample {samples[m.sample_column].iloc[int(np.argmax(bad))]!r})"
                               " holds a value that is not finite")
    if st.impostor_pairs is not None:
        return _sampled_counts(np.asarray(templates), samples, m, st)
    # keep the tail deep enough for the largest target FMR asked for
    tail = min(1.0, max(st.tail_fmr, 2 * max(st.fmr_targets)))
    return counts_from_templates(samples, np.asarray(templates), subject_column=m.subject_column,
                                 features=list(m.sensitive_features), tail_fmr=tail, seed=st.seed)


def _sampled_counts(templates: np.ndarray, samples: pd.DataFrame, m: VerificationFile,
                    st: VerificationSettings) -> VerificationCounts:
    """Every genuine pair and a seeded random sample of ``impostor_pairs`` impostor pairs, scored exactly."""
    rng = np.random.default_rng(st.seed)
    subject = pd.factorize(samples[m.subject_column])[0]
    n = len(samples)
    available = n * (n - 1) // 2 - int((np.bincount(subject) * (np.bincount(subject) - 1) // 2).sum())
    if st.impostor_pairs > available:
        raise ValueError(f"impostor_pairs = {st.impostor_pairs:,} but the data have only {available:,} impostor "
                         "pairs: leave impostor_pairs unset to compare them all")
    pairs = np.empty((0, 2), dtype=np.int64)
    while len(pairs) < st.impostor_pairs:  # draw, keep distinct impostor pairs, until there are enough
        i, j = rng.integers(0, n, (2, 2 * st.impostor_pairs))
        keep = (subject[i] != subject[j]) & (i < j)
        pairs = np.unique(np.concatenate([pairs, np.stack([i[keep], j[keep]], axis=1)]), axis=0)
    pairs = pairs[rng.permutation(len(pairs))[: st.impostor_pairs]]
    order = np.argsort(subject, kind="stable")
    gi, gj = [], []
    starts = np.r_[0, np.cumsum(np.bincount(subject))]
    for s in range(len(starts) - 1):
        members = order[starts[s]:starts[s + 1]]
        a, b = np.triu_indices(members.size, 1)
        gi.append(members[a])
        gj.append(members[b])
    probe = np.r_[np.concatenate(gi), pairs[:, 0]]
    reference = np.r_[np.concatenate(gj), pairs[:, 1]]
    x = templates / np.linalg.norm(templates, axis=1, keepdims=True)
    score = np.einsum("ij,ij->i", x[probe], x[reference]).astype(np.float64)
    counts = counts_from_comparisons(samples, probe, reference, score, subject_column=m.subject_column,
                                     features=list(m.sensitive_features), score_range=(-1.0, 1.0))
    counts.ordered = False
    counts.similarity = f"cosine, {len(pairs):,} sampled impostor pairs (seed {st.seed})"
    return counts


def check_verification(path: Path) -> VerificationFile:
    """Check a verification manifest and its files without reducing any comparison: the manifest's keys, every
    file's sha256, and the samples table (before a run starts)."""
    m = validate_declared(VerificationFile, read_yaml_mapping(path, ManifestError, what="manifest"), path,
                          ManifestError)
    samples = _checked_file(path, m.samples, "samples")
    _check_samples(samples, _read_table(samples, m.samples.format), m)
    ref = m.comparisons or m.templates
    if (m.comparisons is None) == (m.templates is None):
        raise ManifestError(path, "expected exactly one of 'comparisons' (scored pairs) or 'templates' (one "
                                  "embedding per sample)", key="comparisons")
    _checked_file(path, ref, "comparisons" if m.comparisons else "templates")
    return m


def describe_verification(path: Path) -> str:
    """Check a verification manifest with its files (``make data-check``) and describe it in one line."""
    m = check_verification(path)
    ref = m.comparisons or m.templates
    return f"verification {m.name}, {'comparisons' if m.comparisons else 'templates'}, sha256 {ref.sha256[:12]}…"
