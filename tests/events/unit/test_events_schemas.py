"""The committed contract matches the code, and a breaking change cannot slip into it."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from atende_events.compat import incompatibilities
from atende_events.schemas import SCHEMA_DIRECTORY, check, export, generate, main

Schema = dict[str, Any]
GENERATED = generate()
RECEIVED = "atende.interaction.received.v1"
ANSWERED = "atende.survey.answered.v1"


@pytest.mark.parametrize("relative", sorted(GENERATED))
def test_the_committed_file_is_what_the_code_generates(relative: str) -> None:
    assert (SCHEMA_DIRECTORY / relative).read_text(encoding="utf-8") == GENERATED[relative]


def test_generation_is_deterministic() -> None:
    assert generate() == GENERATED


def test_the_committed_contract_passes_the_check() -> None:
    assert check() == []
    assert main(["check"]) == 0


def test_the_asyncapi_document_lists_every_topic_and_type() -> None:
    document = json.loads(GENERATED["asyncapi.json"])

    addresses = {channel["address"] for channel in document["channels"].values()}
    sent = [
        message["$ref"].rsplit("/", 1)[-1]
        for operation in document["operations"].values()
        for message in operation["messages"]
    ]
    assert document["asyncapi"] == "3.0.0"
    assert addresses == {
        "atende.interactions.v1",
        "atende.assignments.v1",
        "atende.agents.v1",
        "atende.sla.v1",
        "atende.surveys.v1",
    }
    assert (
        sorted(sent)
        == sorted(document["components"]["messages"])
        == sorted(
            relative.removeprefix("json/").removesuffix(".json")
            for relative in GENERATED
            if relative.startswith("json/")
        )
    )


def test_a_schema_is_the_whole_record_its_events_name() -> None:
    schema = json.loads(GENERATED[f"json/{RECEIVED}.json"])

    assert schema["$id"] == f"urn:atende:schema:{RECEIVED}"
    assert schema["properties"]["type"]["const"] == RECEIVED
    assert schema["properties"]["dataschema"]["const"] == schema["$id"]
    assert schema["properties"]["data"] == {"$ref": "#/$defs/InteractionReceived"}
    assert schema["x-topic"] == "atende.interactions.v1"


# Each change below edits the committed (old) copy, so the code's schema differs from it as a
# code change would: a field the old one had and the new one lacks was removed, and so on.


def data_of(schema: Schema) -> Schema:
    definition: Schema = schema["$defs"][schema["properties"]["data"]["$ref"].rsplit("/", 1)[-1]]
    return definition


def had_field(schema: Schema) -> None:
    data_of(schema)["properties"]["legacy_code"] = {"type": "string"}


def had_other_type(schema: Schema) -> None:
    data_of(schema)["properties"]["nps"]["type"] = "string"


def lacked_required_field(schema: Schema) -> None:
    del data_of(schema)["properties"]["protocol"]
    data_of(schema)["required"].remove("protocol")


def had_optional_field_required(schema: Schema) -> None:
    data_of(schema)["required"].remove("party_ref")


def had_enum_value(schema: Schema) -> None:
    schema["$defs"]["Channel"]["enum"].append("fax")


def had_wider_bound(schema: Schema) -> None:
    data_of(schema)["properties"]["nps"]["maximum"] = 12


def lacked_optional_field(schema: Schema) -> None:
    del data_of(schema)["properties"]["locale"]


def lacked_enum_value(schema: Schema) -> None:
    schema["$defs"]["Channel"]["enum"].remove("outbound")


def had_narrower_bound(schema: Schema) -> None:
    data_of(schema)["properties"]["nps"]["maximum"] = 9


def copy_of_committed(tmp_path: Path) -> Path:
    directory = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIRECTORY, directory)
    return directory


def change_committed(directory: Path, event_type: str, change: Callable[[Schema], None]) -> None:
    path = directory / "json" / f"{event_type}.json"
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema))


@pytest.mark.parametrize(
    ("event_type", "change", "problem"),
    [
        (RECEIVED, had_field, f"{RECEIVED}: data.legacy_code: field removed"),
        (ANSWERED, had_other_type, f"{ANSWERED}: data.nps: type changed from string to integer"),
        (RECEIVED, lacked_required_field, f"{RECEIVED}: data.protocol: new required field"),
        (
            RECEIVED,
            had_optional_field_required,
            f"{RECEIVED}: data.party_ref: field became required",
        ),
        (RECEIVED, had_enum_value, f'{RECEIVED}: data.channel: enum value removed: "fax"'),
        (ANSWERED, had_wider_bound, f"{ANSWERED}: data.nps: maximum narrowed from 12 to 10"),
    ],
)
def test_the_check_reports_a_breaking_change(
    tmp_path: Path, event_type: str, change: Callable[[Schema], None], problem: str
) -> None:
    directory = copy_of_committed(tmp_path)
    change_committed(directory, event_type, change)

    assert check(directory) == [
        f"json/{event_type}.json: differs from what the code generates",
        problem,
    ]


@pytest.mark.parametrize(
    ("event_type", "change"),
    [
        (RECEIVED, lacked_optional_field),
        (RECEIVED, lacked_enum_value),
        (ANSWERED, had_narrower_bound),
    ],
)
def test_the_check_lets_a_compatible_change_through(
    tmp_path: Path, event_type: str, change: Callable[[Schema], None]
) -> None:
    directory = copy_of_committed(tmp_path)
    change_committed(directory, event_type, change)

    assert check(directory) == [f"json/{event_type}.json: differs from what the code generates"]


def test_the_check_reports_a_type_gone_from_the_code(tmp_path: Path) -> None:
    directory = copy_of_committed(tmp_path)
    shutil.copy(
        directory / "json" / f"{RECEIVED}.json",
        directory / "json" / "atende.interaction.teleported.v1.json",
    )

    assert check(directory) == [
        "atende.interaction.teleported.v1: committed, but no model has this type any more"
    ]


def test_the_check_reports_missing_and_stale_files(tmp_path: Path) -> None:
    directory = copy_of_committed(tmp_path)
    (directory / "asyncapi.json").unlink()
    (directory / "json" / f"{ANSWERED}.json").write_text("{")

    assert check(directory) == [
        f"json/{ANSWERED}.json: differs from what the code generates",
        "asyncapi.json: missing",
        f"{ANSWERED}: the committed schema is not JSON (Expecting property name enclosed in "
        "double quotes: line 1 column 2 (char 1))",
    ]


def test_export_writes_a_contract_the_check_accepts(tmp_path: Path) -> None:
    directory = tmp_path / "schemas"

    assert export(directory) == []
    assert check(directory) == []


def test_export_refuses_to_overwrite_with_a_breaking_change(tmp_path: Path) -> None:
    directory = copy_of_committed(tmp_path)
    change_committed(directory, RECEIVED, had_field)
    committed = (directory / "json" / f"{RECEIVED}.json").read_text()

    assert export(directory) == [f"{RECEIVED}: data.legacy_code: field removed"]
    assert (directory / "json" / f"{RECEIVED}.json").read_text() == committed
    assert export(directory, force=True) == []
    assert check(directory) == []


def test_the_command_line_fails_listing_each_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = copy_of_committed(tmp_path)
    change_committed(directory, ANSWERED, had_other_type)

    status = main(["check", "--directory", str(directory)])

    errors = capsys.readouterr().err
    assert status == 1
    assert f"- {ANSWERED}: data.nps: type changed from string to integer" in errors
    assert "python -m atende_events.schemas export" in errors
    assert main(["export", "--directory", str(directory)]) == 1


def obj(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"anyOf": [{"type": "string"}, {"type": "null"}]}


@pytest.mark.parametrize(
    ("old", "new", "problems"),
    [
        (obj({"a": STRING}), obj({"a": STRING}), []),
        (obj({"a": STRING}), obj({}), ["a: field removed"]),
        (obj({}), obj({"a": STRING}), []),
        (obj({}), obj({"a": STRING}, ("a",)), ["a: new required field"]),
        (obj({"a": STRING}), obj({"a": STRING}, ("a",)), ["a: field became required"]),
        (obj({"a": STRING}, ("a",)), obj({"a": STRING}), []),
        (
            obj({"a": STRING}),
            obj({"a": NULLABLE_STRING}),
            ["a: type changed from string to string or null"],
        ),
        (
            obj({"a": NULLABLE_STRING}),
            obj({"a": STRING}),
            ["a: type changed from string or null to string"],
        ),
        (
            obj({"a": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 5}]}}),
            obj({"a": {"anyOf": [{"type": "string", "maxLength": 4}, {"type": "null"}]}}),
            ["a: maxLength narrowed from 5 to 4"],
        ),
        (
            obj({"a": STRING}),
            obj({"a": {"type": "string", "format": "uuid"}}),
            ["a: type changed from string to string (uuid)"],
        ),
        (
            obj({"a": {"const": "x"}}),
            obj({"a": {"const": "y"}}),
            ['a: type changed from "x" to "y"'],
        ),
        (
            obj({"a": STRING}),
            obj({"a": {"type": "string", "enum": ["x"]}}),
            ['a: now restricted to "x"'],
        ),
        (obj({"a": {"type": "string", "enum": ["x"]}}), obj({"a": STRING}), []),
        (
            obj({"a": {"type": "array", "items": obj({"b": STRING})}}),
            obj({"a": {"type": "array", "items": obj({})}}),
            ["a[].b: field removed"],
        ),
        (
            {**obj({"a": {"$ref": "#/$defs/A"}}), "$defs": {"A": obj({"b": STRING})}},
            {**obj({"a": {"$ref": "#/$defs/B"}}), "$defs": {"B": obj({"b": {"type": "integer"}})}},
            ["a.b: type changed from string to integer"],
        ),
        ({"type": "string"}, {"type": "integer"}, ["<event>: type changed from string to integer"]),
    ],
)
def test_incompatibilities_between_two_schemas(
    old: Schema, new: Schema, problems: list[str]
) -> None:
    assert incompatibilities(old, new) == problems


def test_a_recursive_schema_is_refused() -> None:
    schema = {
        **obj({"a": {"$ref": "#/$defs/A"}}),
        "$defs": {"A": obj({"a": {"$ref": "#/$defs/A"}})},
    }

    with pytest.raises(ValueError, match="refers to itself"):
        incompatibilities(schema, schema)
