"""Declared schemas for evalkit's YAML files, and the one translation of their errors.

Each file kind (data manifest, suite manifest, metrics configuration, gate policy) declares its keys once, as
a strict pydantic model (:class:`Declared`: extra keys forbidden, no coercion: ``yes`` is not text, ``0777``
is not a string, a date is not a string). Its owner validates a parsed YAML mapping with
:func:`validate_declared`, which turns pydantic's first error into evalkit's own: the file, the key as
``requirements[2].metric``, what was expected and what arrived. The same models give the JSON Schemas in
``schemas/`` (:func:`json_schema`), so editors validate and complete these files.

Checks that span several keys (a positive label among the label values, a path that stays inside the data
folders, a requirement that needs a setting) stay with each file's owner, after this structural check.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from ..exceptions import EvalkitError

_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "true or false", list: "list",
               tuple: "list", dict: "mapping"}
_QUOTE_HINT = " (quote the value so YAML keeps it as text)"


class Declared(BaseModel):
    """Base of every declared file schema: strict types, unknown keys refused, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def keys(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by the key a file spells them with (the alias, where one is set)."""
    return {(info.alias or name): info for name, info in model.model_fields.items()}


def key_path(loc: tuple[Any, ...]) -> str:
    """``("requirements", 2, "metric")`` as ``requirements[2].metric``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The member types of an annotation (``X | None`` gives ``[X]``; ``None`` is never "expected")."""
    if get_origin(annotation) is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in get_args(annotation) for m in _unwrap(a)]
    return [] if annotation is type(None) else [annotation]


def _tagged(members: list[Any], part: Any) -> Any:
    """The member of a union of models whose ``Literal`` tag field equals ``part`` (a discriminated union's
    member, which pydantic names in an error's location), or None."""
    for m in members:
        if isinstance(m, type) and issubclass(m, BaseModel) and isinstance(part, str):
            for info in m.model_fields.values():
                if get_origin(info.annotation) is Literal and get_args(info.annotation) == (part,):
                    return m
    return None


def clean_loc(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """An error location without the union tags pydantic adds (``requirements.0.metric.min`` for the
    ``metric`` member of a discriminated union is the key ``requirements[0].min``)."""
    current: Any = model
    out: list[Any] = []
    for part in loc:
        members = _unwrap(current)
        if len(members) > 1 and (member := _tagged(members, part)) is not None:
            current = member
            continue
        out.append(part)
        current = _field_annotation(current, (part,)) if current is not None else None
    return tuple(out)


def _field_annotation(model: Any, loc: tuple[Any, ...]) -> Any:
    """The annotation at ``loc`` (field names and list indices) inside ``model``, or None."""
    current: Any = model
    for part in loc:
        members = _unwrap(current)
        nxt = None
        for m in members:
            if isinstance(m, type) and issubclass(m, BaseModel) and isinstance(part, str) and part in keys(m):
                nxt = keys(m)[part].annotation
            elif isinstance(part, int) and get_origin(m) in (list, tuple):
                nxt = get_args(m)[0]
            elif isinstance(part, str) and get_origin(m) in (dict, Mapping):
                nxt = get_args(m)[1]
            if nxt is not None:
                break
        if nxt is None:
            return None
        current = nxt
    return current


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    ann = model if not loc else _field_annotation(model, loc)
    for m in _unwrap(ann):
        if isinstance(m, type) and issubclass(m, BaseModel):
            return m
    return None


def _field_info(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The pydantic field at ``loc`` (the member of a union that has it), or None."""
    if not loc or not isinstance(loc[-1], str):
        return None
    parent = model if len(loc) == 1 else _field_annotation(model, loc[:-1])
    for m in _unwrap(parent):
        if isinstance(m, type) and issubclass(m, BaseModel) and loc[-1] in keys(m):
            return keys(m)[loc[-1]]
    return None


def describe(annotation: Any) -> str:
    """An annotation in words: ``str | int`` as "string or integer", a ``Literal`` as its values."""
    words = []
    for m in _unwrap(annotation):
        origin = get_origin(m)
        if origin is Literal:
            words.append(f"one of {list(get_args(m))}")
        elif isinstance(m, type) and issubclass(m, BaseModel):
            words.append("mapping")
        else:
            words.append(_TYPE_NAMES.get(origin or m, getattr(m, "__name__", str(m))))
    return " or ".join(dict.fromkeys(words))


def _message(model: type[BaseModel], errors: list[dict[str, Any]]) -> tuple[str, str]:
    """The key and message of the first problem (unknown keys first, then missing keys, then values)."""
    def field_loc(e: dict[str, Any]) -> tuple[Any, ...]:
        # pydantic appends the union member or the literal to the location: keep the field path only
        loc = tuple(e["loc"])
        while loc and _field_annotation(model, loc) is None:
            loc = loc[:-1]
        return loc

    for e in errors:
        e["loc"] = clean_loc(model, tuple(e["loc"]))
    tags = [e for e in errors if e["type"] in ("union_tag_invalid", "union_tag_not_found")]
    if tags:
        e = tags[0]
        name = e["ctx"]["discriminator"].strip("'")
        key = key_path((*e["loc"], name))
        if e["type"] == "union_tag_not_found":
            return key, f"missing required key(s) ['{name}']"
        expected = [t.strip().strip("'") for t in e["ctx"]["expected_tags"].split(",")]
        return key, f"unknown {name} {e['ctx']['tag']!r}; expected one of {expected}"
    for kind in ("extra_forbidden", "missing"):
        found = [e for e in errors if e["type"] == kind]
        if found:
            parent = tuple(found[0]["loc"][:-1])
            names = [str(e["loc"][-1]) for e in found if tuple(e["loc"][:-1]) == parent]
            key = key_path((*parent, names[0]))
            if kind == "missing":
                return key, f"missing required key(s) {names}"
            sub = _model_at(model, parent)
            allowed = sorted(keys(sub)) if sub is not None else []
            return key, f"unknown key(s) {names}; allowed keys are {allowed}"
    e = errors[0]
    loc = field_loc(e)
    value = e.get("input")
    annotation = _field_annotation(model, loc)
    members = _unwrap(annotation)
    if e["type"] in ("string_pattern_mismatch", "value_error", "too_short", "too_long", "greater_than",
                     "greater_than_equal", "less_than", "less_than_equal", "finite_number"):
        info = _field_info(model, loc)
        wanted = info.description if info is not None and info.description else e["msg"]
        return key_path(loc), f"expected {wanted}, found {value!r}"
    if any(get_origin(m) is Literal for m in members) and isinstance(value, (str, int, float)) \
            and not isinstance(value, bool):
        return key_path(loc), f"expected {describe(annotation)}, found {value!r}"
    hint = _QUOTE_HINT if str in members and not isinstance(value, str) else ""
    info = _field_info(model, loc)
    wanted = info.description if info is not None and (info.description or "").startswith(("a ", "an ")) else None
    if wanted is None:
        wanted = ("an " if describe(annotation)[:1] in "aeiou" else "a ") + describe(annotation)
    return key_path(loc), f"expected {wanted}, found {type(value).__name__} {value!r}{hint}"


def validate_declared(model: type[Declared], raw: Mapping[str, Any], path: Path,
                      error: type[EvalkitError]) -> Declared:
    """Validate ``raw`` (a parsed YAML mapping) against ``model``.

    Raises
    ------
    EvalkitError (the subclass ``error``)
        Naming ``path``, the key (``requirements[2].metric``), what was expected and what arrived.
    """
    try:
        return model.model_validate(dict(raw))
    except ValidationError as err:
        key, message = _message(model, err.errors(include_url=False))
        raise error(path, message, key=key) from None


def json_schema(model: type[Declared], *, title: str, description: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a declared file kind, for editors."""
    schema = model.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title,
            "description": description, **{k: v for k, v in schema.items() if k not in ("title", "description")}}
