"""No event can carry who a person is, and free text lives only in `content` (LGPD)."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atende_events.registry import EVENT_TYPES
from atende_events.schemas import SCHEMA_DIRECTORY

SCHEMA_FILES = sorted((SCHEMA_DIRECTORY / "json").glob("*.json"))
IDENTIFYING = ("name", "mail", "phone", "cpf", "cnpj", "card", "address", "birth")
FREE_TEXT_FIELD = "content"


def fields(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every property of every object schema in a document, nested ones included."""
    if isinstance(schema, list):
        for item in schema:
            yield from fields(item)
    elif isinstance(schema, dict):
        yield from schema.get("properties", {}).items()
        for value in schema.values():
            yield from fields(value)


def free_text(schema: dict[str, Any]) -> bool:
    """Tell whether a field takes any string at all, rather than an id, a code or a time."""
    options = [*schema.get("anyOf", [schema]), *([schema["items"]] if "items" in schema else [])]
    constraints = ("pattern", "format", "enum", "const", "$ref")
    return any(
        option.get("type") == "string" and not any(key in option for key in constraints)
        for option in options
    )


def test_every_type_has_a_committed_schema() -> None:
    assert {path.stem for path in SCHEMA_FILES} == set(EVENT_TYPES)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.stem)
def test_no_field_is_named_like_personal_data(path: Path) -> None:
    names = {name for name, _ in fields(json.loads(path.read_text()))}

    assert [name for name in names if any(word in name.lower() for word in IDENTIFYING)] == []


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.stem)
def test_only_content_takes_free_text(path: Path) -> None:
    schema = json.loads(path.read_text())

    free = {name for name, field in fields(schema) if free_text(field)}

    assert free <= {FREE_TEXT_FIELD}


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"type": "string"}, True),
        ({"anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}]}, True),
        ({"type": "array", "items": {"type": "string"}}, True),
        ({"type": "string", "pattern": "^[a-z]+$"}, False),
        ({"type": "string", "format": "uuid"}, False),
        ({"$ref": "#/$defs/Channel"}, False),
        ({"type": "integer"}, False),
    ],
)
def test_free_text_is_told_from_constrained_strings(field: dict[str, Any], expected: bool) -> None:
    assert free_text(field) is expected
