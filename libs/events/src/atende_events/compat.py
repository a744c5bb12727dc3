"""Whether a new JSON schema of an event type still reads what its committed schema described."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

Schema = Mapping[str, Any]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


def incompatibilities(old_schema: Schema, new_schema: Schema) -> list[str]:
    """List the changes from the old schema to the new one that need a new event version.

    A field removed, retyped, newly required or narrowed, and an enum value removed are breaking;
    a new optional field, a new enum value and a looser bound are not.
    """
    old = _inline(old_schema, old_schema, ())
    new = _inline(new_schema, new_schema, ())
    return list(_differences(old, new, where=""))


def _differences(old: Schema, new: Schema, where: str) -> Iterator[str]:
    label = where or "<event>"
    if _shape(old) != _shape(new):
        yield f"{label}: type changed from {_describe(old)} to {_describe(new)}"
        return
    yield from _enum_differences(old, new, label)
    yield from _bound_differences(old, new, label)
    for old_option, new_option in _paired_options(old, new):
        yield from _differences(old_option, new_option, where)
    if "items" in old and "items" in new:
        yield from _differences(old["items"], new["items"], f"{where}[]")
    yield from _property_differences(old, new, where)


def _property_differences(old: Schema, new: Schema, where: str) -> Iterator[str]:
    old_fields: Schema = old.get("properties", {})
    new_fields: Schema = new.get("properties", {})
    old_required = set(old.get("required", ()))
    new_required = set(new.get("required", ()))
    for name in sorted(old_fields.keys() | new_fields.keys()):
        path = f"{where}.{name}" if where else name
        if name not in new_fields:
            yield f"{path}: field removed"
        elif name not in old_fields:
            if name in new_required:
                yield f"{path}: new required field"
        else:
            if name in new_required and name not in old_required:
                yield f"{path}: field became required"
            yield from _differences(old_fields[name], new_fields[name], path)


def _enum_differences(old: Schema, new: Schema, label: str) -> Iterator[str]:
    if "enum" not in new:
        return
    if "enum" not in old:
        yield f"{label}: now restricted to {_values(new['enum'])}"
        return
    removed = [value for value in old["enum"] if value not in new["enum"]]
    if removed:
        yield f"{label}: enum value removed: {_values(removed)}"


def _bound_differences(old: Schema, new: Schema, label: str) -> Iterator[str]:
    for keyword in _LOWER_BOUNDS + _UPPER_BOUNDS:
        if keyword not in new:
            continue
        narrower = keyword not in old or (
            new[keyword] > old[keyword] if keyword in _LOWER_BOUNDS else new[keyword] < old[keyword]
        )
        if narrower:
            yield f"{label}: {keyword} narrowed from {old.get(keyword, 'none')} to {new[keyword]}"


def _paired_options(old: Schema, new: Schema) -> Iterator[tuple[Schema, Schema]]:
    # Same shape means the same options in some order: pair each with its namesake.
    new_options = {_shape(option): option for option in new.get("anyOf", ())}
    for option in old.get("anyOf", ()):
        yield option, new_options[_shape(option)]


def _shape(schema: Schema) -> tuple[Any, ...]:
    """Say what kind of JSON value a schema takes, leaving out enums, bounds and fields."""
    if "anyOf" in schema:
        return ("anyOf", tuple(sorted(repr(_shape(option)) for option in schema["anyOf"])))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = tuple(sorted(kind))
    const = json.dumps(schema["const"]) if "const" in schema else None
    return (kind, schema.get("format"), const)


def _describe(schema: Schema) -> str:
    if "anyOf" in schema:
        return " or ".join(_describe(option) for option in schema["anyOf"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "anything")
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _values(values: list[Any]) -> str:
    return ", ".join(json.dumps(value) for value in values)


def _inline(schema: Any, root: Schema, expanding: tuple[str, ...]) -> Any:
    """Replace every local $ref by what it points to, so schemas compare as plain trees."""
    if isinstance(schema, list):
        return [_inline(item, root, expanding) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    if "$ref" in schema:
        pointer = schema["$ref"]
        if pointer in expanding:
            raise ValueError(f"{pointer} refers to itself; recursive schemas are not supported")
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        target = {**_resolve(pointer, root), **siblings}
        return _inline(target, root, (*expanding, pointer))
    return {key: _inline(value, root, expanding) for key, value in schema.items()}


def _resolve(pointer: str, root: Schema) -> Schema:
    if not pointer.startswith("#/"):
        raise ValueError(f"only local references are supported, not {pointer}")
    node: Any = root
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, Mapping):
        raise ValueError(f"{pointer} points to no schema")
    return node
