"""The committed event contract: a JSON Schema per event type and an AsyncAPI document.

    python -m atende_events.schemas export   # write libs/events/schemas/ from the models
    python -m atende_events.schemas check    # fail when those files are stale or a change breaks

Each `json/<type>.json` describes the whole Kafka record value of that type (the CloudEvents
envelope with its data); its `$id` is what those events name in `dataschema`:
`urn:atende:schema:<type>`.
`asyncapi.json` lists the topics, the types on each, who sends them and how records are keyed.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from atende_events import topics
from atende_events.compat import incompatibilities
from atende_events.envelope import EventData, envelope_type, schema_uri
from atende_events.registry import EVENT_TYPES, SOURCES

SCHEMA_DIRECTORY = Path(__file__).resolve().parents[2] / "schemas"
"""libs/events/schemas in the source tree, where the contract is committed."""

ASYNCAPI_FILE = "asyncapi.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING_VERSION = "0.5.0"
EXPORT_COMMAND = "python -m atende_events.schemas export"

_TOPIC_DESCRIPTIONS = {
    topics.INTERACTIONS: "The life of every interaction: received, queued, handled, resolved.",
    topics.ASSIGNMENTS: "Offers of interactions to agents and how they ended.",
    topics.AGENTS: "Agents' availability and skills.",
    topics.SLA: "Deadline clocks: started, paused, resumed, extended, warned, met or breached.",
    topics.SURVEYS: "Satisfaction surveys, their answers and the follow-ups they open.",
}

_CONTRACT_DESCRIPTION = """\
Every Kafka record value is one CloudEvents 1.0 event in structured JSON mode; its
`dataschema` (`urn:atende:schema:<type>`) is the `$id` of the JSON Schema in `json/<type>.json`.
The record key is the interaction id (the agent id on the agents topic), so one interaction's
events stay in order.
A record that cannot be processed goes to `<topic>.dlq`, with the error in its headers.
Events carry no name, e-mail, phone, CPF/CNPJ or card number: a party is a `party_ref` pseudonym,
and free text a person wrote is only ever in a field named `content`.
"""


def event_schema(model: type[EventData]) -> dict[str, Any]:
    """Describe the whole record value of one event type as a JSON Schema."""
    schema = envelope_type(model).model_json_schema()
    properties = schema["properties"]
    properties["type"] = {"const": model.event_type, "type": "string"}
    properties["dataschema"] = {"const": schema_uri(model.event_type), "type": "string"}
    schema.update(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_uri(model.event_type),
            "title": model.event_type,
            "description": inspect.cleandoc(model.__doc__ or ""),
            "x-topic": model.topic,
            "x-key": f"data.{model.subject_field}",
        }
    )
    return schema


def asyncapi_document() -> dict[str, Any]:
    """Describe the topics, the event types on each and who sends them, in AsyncAPI 3.0."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics.ALL_TOPICS:
        channel = _channel_id(topic)
        types = [event_type for event_type, model in EVENT_TYPES.items() if model.topic == topic]
        channels[channel] = {
            "address": topic,
            "description": _TOPIC_DESCRIPTIONS[topic],
            "messages": {
                event_type: {"$ref": f"#/components/messages/{event_type}"} for event_type in types
            },
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        for service in sorted({_service(event_type) for event_type in types}):
            operations[f"{service}.{channel}"] = {
                "action": "send",
                "summary": f"{service} publishes to {topic}.",
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [
                    {"$ref": f"#/channels/{channel}/messages/{event_type}"}
                    for event_type in types
                    if _service(event_type) == service
                ],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Atende events",
            "version": "1.0.0",
            "description": _CONTRACT_DESCRIPTION,
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {event_type: _message(model) for event_type, model in EVENT_TYPES.items()}
        },
    }


def generate() -> dict[str, str]:
    """Render every file of the contract, by path relative to the schema directory."""
    files = {
        _schema_file(event_type): _render(event_schema(model))
        for event_type, model in EVENT_TYPES.items()
    }
    files[ASYNCAPI_FILE] = _render(asyncapi_document())
    return files


def breaking_changes(directory: Path, generated: Mapping[str, str]) -> list[str]:
    """List how the generated schemas break the ones committed under a directory."""
    problems = []
    for path in sorted((directory / "json").glob("*.json")):
        event_type = path.stem
        try:
            committed = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            problems.append(f"{event_type}: the committed schema is not JSON ({error})")
            continue
        current = generated.get(_schema_file(event_type))
        if current is None:
            problems.append(f"{event_type}: committed, but no model has this type any more")
            continue
        problems += [
            f"{event_type}: {problem}"
            for problem in incompatibilities(committed, json.loads(current))
        ]
    return problems


def check(directory: Path = SCHEMA_DIRECTORY) -> list[str]:
    """List every way the committed contract differs from or is broken by the code."""
    generated = generate()
    problems = []
    for relative, text in generated.items():
        path = directory / relative
        if not path.exists():
            problems.append(f"{relative}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{relative}: differs from what the code generates")
    return problems + breaking_changes(directory, generated)


def export(directory: Path = SCHEMA_DIRECTORY, *, force: bool = False) -> list[str]:
    """Write the contract unless it would break the committed one; return what would break."""
    generated = generate()
    problems = breaking_changes(directory, generated)
    if problems and not force:
        return problems
    for relative, text in generated.items():
        path = directory / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export or check command; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m atende_events.schemas",
        description="Export or check the committed event contract (libs/events/schemas).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export_command = commands.add_parser("export", help="write the schemas from the models")
    export_command.add_argument(
        "--force", action="store_true", help="write even changes that break the committed schemas"
    )
    commands.add_parser("check", help="fail when the committed schemas are stale or broken")
    for command in commands.choices.values():
        command.add_argument("--directory", type=Path, default=SCHEMA_DIRECTORY)
    arguments = parser.parse_args(argv)

    if arguments.command == "export":
        problems = export(arguments.directory, force=arguments.force)
        if problems:
            return _fail("Not exported: these changes break the committed event schemas.", problems)
        sys.stdout.write(f"Exported {len(EVENT_TYPES)} event schemas to {arguments.directory}\n")
        return 0

    problems = check(arguments.directory)
    if problems:
        return _fail("The committed event schemas do not match the code:", problems)
    sys.stdout.write(f"{len(EVENT_TYPES)} event schemas are up to date and compatible.\n")
    return 0


def _fail(headline: str, problems: list[str]) -> int:
    lines = [headline, *(f"- {problem}" for problem in problems)]
    lines.append(
        f"Stale files: run `{EXPORT_COMMAND}`. A breaking change needs a new version of its type "
        "(.v2 beside .v1, with an upcast); a type must stay while old records may be read."
    )
    sys.stderr.write("\n".join(lines) + "\n")
    return 1


def _message(model: type[EventData]) -> dict[str, Any]:
    key = dict(model.model_json_schema()["properties"][model.subject_field])
    key.pop("title", None)
    key["description"] = f"The record key: data.{model.subject_field}, as text."
    return {
        "name": model.event_type,
        "title": model.__name__,
        "summary": inspect.cleandoc(model.__doc__ or ""),
        "payload": {"$ref": f"./{_schema_file(model.event_type)}"},
        "correlationId": {"location": "$message.payload#/correlationid"},
        "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _channel_id(topic: str) -> str:
    return topic.split(".")[1]


def _service(event_type: str) -> str:
    return SOURCES[event_type].rsplit("/", 1)[-1]


def _schema_file(event_type: str) -> str:
    return f"json/{event_type}.json"


def _render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.exit(main())
