"""Declared column schemas: what each column of a dataset may hold, checked on every load.

A manifest's optional ``schema`` maps column names to a specification::

    schema:
      age: {type: integer, min: 17, max: 90}
      sex: {type: string, allowed: [Female, Male]}
      capital_gain: {type: float, min: 0, nullable: true}

``type`` is one of ``string``, ``integer``, ``float``, ``boolean``; ``nullable`` (default false)
allows empty values; ``allowed`` lists the permitted values; ``min``/``max`` bound numeric columns.
The data are validated with `pandera <https://pandera.readthedocs.io>`_ in lazy mode, so every
violation in every column is reported at once, each with a count and a few example row ids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import DataError, ManifestError

TYPES = ("string", "integer", "float", "boolean")
_KEYS = {"type", "nullable", "allowed", "min", "max", "description"}
_EXAMPLES = 5


@dataclass(frozen=True)
class ColumnSpec:
    """The declared type and constraints of one column."""

    name: str
    type: str
    nullable: bool = False
    allowed: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (only the keys that differ from the defaults)."""
        out: dict[str, Any] = {"type": self.type}
        if self.nullable:
            out["nullable"] = True
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def _number(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ManifestError(path, f"expected a finite number, found {value!r}", key=key)
    return value


def parse_schema(path: Path, raw: Any) -> tuple[ColumnSpec, ...]:
    """Validate a manifest's ``schema`` value; errors name the manifest and ``schema.<column>.<key>``.

    Raises
    ------
    ManifestError
    """
    if not isinstance(raw, dict) or not raw:
        raise ManifestError(path, f"expected a mapping of column name to its specification, found {raw!r}",
                            key="schema")
    specs = []
    for column, spec in raw.items():
        where = f"schema.{column}"
        if not isinstance(column, str) or not column:
            raise ManifestError(path, f"expected a column name, found {column!r}", key="schema")
        if not isinstance(spec, dict):
            raise ManifestError(path, f"expected a mapping with at least 'type', found {spec!r}", key=where)
        unknown = sorted(set(spec) - _KEYS)
        if unknown:
            raise ManifestError(path, f"unknown key(s) {unknown}; allowed keys are {sorted(_KEYS)}",
                                key=f"{where}.{unknown[0]}")
        if spec.get("type") not in TYPES:
            raise ManifestError(path, f"expected a type among {list(TYPES)}, found {spec.get('type')!r}",
                                key=f"{where}.type")
        nullable = spec.get("nullable", False)
        if not isinstance(nullable, bool):
            raise ManifestError(path, f"expected true or false, found {nullable!r}", key=f"{where}.nullable")
        allowed = spec.get("allowed")
        if allowed is not None and (not isinstance(allowed, list) or not allowed):
            raise ManifestError(path, f"expected a non-empty list of values, found {allowed!r}", key=f"{where}.allowed")
        bounds = {k: _number(path, f"{where}.{k}", spec[k]) for k in ("min", "max") if k in spec}
        if bounds and spec["type"] not in ("integer", "float"):
            raise ManifestError(path, f"min/max apply to integer or float columns, not {spec['type']}",
                                key=f"{where}.{next(iter(bounds))}")
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise ManifestError(path, f"min {bounds['min']} is above max {bounds['max']}", key=f"{where}.min")
        specs.append(ColumnSpec(column, spec["type"], nullable, tuple(allowed) if allowed is not None else None,
                                bounds.get("min"), bounds.get("max"), str(spec.get("description", ""))))
    return tuple(specs)


def _checks(spec: ColumnSpec) -> list[Any]:
    import pandera.pandas as pa

    def present(s: pd.Series) -> pd.Series:
        return s.notna() & (s.astype(str) != "")

    checks = []
    if spec.type in ("integer", "float"):
        def numeric(s: pd.Series) -> pd.Series:
            return ~present(s) | pd.to_numeric(s, errors="coerce").notna()

        checks.append(pa.Check(numeric, name=f"is a {spec.type}"))
        if spec.type == "integer":
            def whole(s: pd.Series) -> pd.Series:
                v = pd.to_numeric(s, errors="coerce")
                return v.isna() | (v == v.round())

            checks.append(pa.Check(whole, name="is a whole number"))
        if spec.min is not None:
            lo = spec.min
            checks.append(pa.Check(lambda s: pd.to_numeric(s, errors="coerce").fillna(lo) >= lo, name=f">= {lo}"))
        if spec.max is not None:
            hi = spec.max
            checks.append(pa.Check(lambda s: pd.to_numeric(s, errors="coerce").fillna(hi) <= hi, name=f"<= {hi}"))
    if spec.type == "boolean":
        ok = {"true", "false", "1", "0", "yes", "no"}
        checks.append(pa.Check(lambda s: ~present(s) | s.astype(str).str.lower().isin(ok), name="is a boolean"))
    if spec.allowed is not None:
        allowed = {str(v) for v in spec.allowed}
        checks.append(pa.Check(lambda s: ~present(s) | s.astype(str).isin(allowed),
                               name=f"in {sorted(allowed)}"))
    return checks


def check_frame(frame: pd.DataFrame, specs: tuple[ColumnSpec, ...], *, id_column: str, path: Path,
                manifest_name: str) -> None:
    """Validate ``frame`` against ``specs``; report every violation at once.

    Raises
    ------
    DataError
        Naming the file and, for each failing column and check, the number of rows and example ids.
    """
    import pandera.pandas as pa

    missing = [s.name for s in specs if s.name not in frame.columns]
    if missing:
        raise DataError(path, f"column(s) {missing} declared in the schema of {manifest_name} are missing; "
                              f"available columns: {list(frame.columns)}", column=missing[0])
    schema = pa.DataFrameSchema({s.name: pa.Column(None, checks=_checks(s), nullable=s.nullable) for s in specs})
    indexed = frame.set_index(id_column, drop=False)
    try:
        schema.validate(indexed, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        lines = []
        cases = cases.assign(check=cases["check"].replace({"not_nullable": "not empty (nullable: false)"}))
        for (column, check), part in cases.groupby(["column", "check"], sort=False):
            ids = [str(i) for i in part["index"].head(_EXAMPLES)]
            values = sorted({str(v) for v in part["failure_case"].head(50)})[:_EXAMPLES]
            lines.append(f"column '{column}': {len(part)} value(s) fail '{check}', e.g. ids {ids} "
                         f"(values {values})")
        raise DataError(path, f"{len(cases)} schema violation(s) against {manifest_name}:\n  " + "\n  ".join(lines),
                        column=str(cases["column"].iloc[0])) from None


def infer_schema(frame: pd.DataFrame, *, categorical: Mapping[str, int] | None = None,
                 max_categories: int = 30) -> dict[str, dict[str, Any]]:
    """A schema describing ``frame`` as it is (for ``evalkit data import``): numeric columns get their
    type and observed range, text columns with at most ``max_categories`` values their allowed values,
    and ``nullable`` where values are missing.
    """
    out: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        s = frame[column]
        text = s.astype(str)
        present = s.notna() & (text != "")
        numeric = pd.to_numeric(s[present], errors="coerce")
        spec: dict[str, Any]
        if present.any() and numeric.notna().all():
            whole = bool((numeric == numeric.round()).all())
            spec = {"type": "integer" if whole else "float", "min": _plain(numeric.min()),
                    "max": _plain(numeric.max())}
        else:
            spec = {"type": "string"}
            values = sorted(text[present].unique().tolist())
            if len(values) <= (categorical or {}).get(column, max_categories):
                spec["allowed"] = values
        if not present.all():
            spec["nullable"] = True
        out[str(column)] = spec
    return out


def _plain(v: Any) -> int | float:
    v = float(v)
    return int(v) if v.is_integer() else v
