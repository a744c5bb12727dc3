"""The CloudEvents envelope every Atende event travels in, and its JSON encoding.

A Kafka record value is one CloudEvents 1.0 event in structured JSON mode. Its `dataschema` is
`urn:atende:schema:<type>`, the `$id` of the schema committed as
`libs/events/schemas/json/<type>.json`.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    model_validator,
)

if TYPE_CHECKING:
    from atende_events.registry import Registry

SPECVERSION: Literal["1.0"] = "1.0"
SCHEMA_URI_PREFIX = "urn:atende:schema:"
EVENT_TYPE_PATTERN = r"^atende\.[a-z][a-z_]*\.[a-z][a-z_]*\.v[1-9][0-9]*$"


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware moment, held and written in UTC."""

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A non-negative duration in seconds."""

Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
"""A queue, demand type, rule, policy, reason, skill or agent id: never prose."""

Content = Annotated[str, Field(min_length=1, max_length=20_000)]
"""Free text a person wrote: the one field consumers may be kept from reading."""

Source = Annotated[str, Field(pattern=r"^/atende/[a-z][a-z0-9-]*$")]
TraceParent = Annotated[
    str, Field(pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[!-~]*)?$")
]
Token = Annotated[str, Field(pattern=r"^[!-~]{1,256}$")]
"""Printable ASCII without spaces: an id, never prose."""


def source_of(service: str) -> str:
    """Name the CloudEvents source of a service."""
    return f"/atende/{service}"


def schema_uri(event_type: str) -> str:
    """Name the committed JSON schema of an event type."""
    return SCHEMA_URI_PREFIX + event_type


def family_and_version(event_type: str) -> tuple[str, int]:
    """Split `atende.<entity>.<action>.v<N>` into its unversioned name and N."""
    if not re.fullmatch(EVENT_TYPE_PATTERN, event_type):
        raise ValueError(
            f"{event_type!r} is not an event type like 'atende.interaction.received.v1'"
        )
    family, _, version = event_type.rpartition(".v")
    return family, int(version)


class EventData(BaseModel):
    """The payload of an event: the facts about one thing that happened."""

    # The docstrings under the fields become the schema's descriptions, which is what BI reads.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]
    subject_field: ClassVar[str] = "interaction_id"
    """The field naming what the event is about: the envelope's subject and the record key."""

    occurred_at: UtcDatetime
    """When it happened."""


DataT = TypeVar("DataT", bound=EventData)


class Envelope(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event in structured JSON mode, as one Kafka record value carries it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    specversion: Literal["1.0"]
    id: UUID
    source: Source
    """The producing service: /atende/<service>."""
    type: Annotated[str, Field(pattern=EVENT_TYPE_PATTERN)]
    """atende.<entity>.<action>.v<N>."""
    time: UtcDatetime
    """When it happened; normally the data's occurred_at (received_at for intake's event)."""
    subject: Token | None = None
    """What the event is about: the interaction id, or the agent id for agent events."""
    datacontenttype: Literal["application/json"]
    dataschema: Annotated[str, Field(pattern=r"^urn:atende:schema:")]
    """urn:atende:schema:<type>, committed as libs/events/schemas/json/<type>.json."""
    correlationid: Token | None = None
    """Joins the events and logs that one request or one interaction's journey caused."""
    traceparent: TraceParent | None = None
    """W3C trace context of the operation that produced the event."""
    data: SerializeAsAny[DataT]

    @model_validator(mode="after")
    def _type_matches_data(self) -> Self:
        expected = type(self.data).event_type
        if self.type != expected:
            raise ValueError(f"type {self.type!r} does not match its data, a {expected!r}")
        if self.dataschema != schema_uri(expected):
            raise ValueError(f"dataschema {self.dataschema!r} is not {schema_uri(expected)!r}")
        return self


class DecodeError(ValueError):
    """A record value is not an Atende event this code can read."""


class UnknownEventType(DecodeError):
    """A record value names an event type no registered model describes."""


@functools.cache
def envelope_type(model: type[DataT]) -> type[Envelope[DataT]]:
    """Return the envelope class whose data is the given model."""
    # Cached: subscripting a generic pydantic model costs more than reading a small event.
    return Envelope[model]  # type: ignore[valid-type]  # mypy cannot subscript with a variable


def new_event(
    data: DataT,
    *,
    source: str,
    time: datetime,
    subject: str | None = None,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    event_id: UUID | None = None,
) -> Envelope[DataT]:
    """Wrap a payload in a new envelope about its interaction (or agent)."""
    return Envelope(
        specversion=SPECVERSION,
        id=event_id or uuid4(),
        source=source,
        type=data.event_type,
        time=time,
        subject=subject if subject is not None else _subject_of(data),
        datacontenttype="application/json",
        dataschema=schema_uri(data.event_type),
        correlationid=correlation_id,
        traceparent=traceparent,
        data=data,
    )


def encode(event: Envelope[Any]) -> bytes:
    """Write an event as compact UTF-8 JSON, leaving out the optional attributes it lacks."""
    document = event.model_dump(mode="json")
    attributes = {name: value for name, value in document.items() if value is not None}
    return json.dumps(attributes, ensure_ascii=False, separators=(",", ":")).encode()


def decode(raw: bytes, *, registry: Registry | None = None) -> Envelope[EventData]:
    """Read one record value into an event, upcast to the newest version of its type."""
    registry = registry or _default_registry()
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DecodeError(f"not JSON: {error}") from None
    except ValueError:
        # An integer of more digits than Python converts (4,300): a record may hold anything.
        raise DecodeError("not JSON: a number too long to read") from None
    except RecursionError:
        # Arrays or objects nested deeper than the parser's recursion allows.
        raise DecodeError("not JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise DecodeError(f"not a JSON object but {_json_kind(document)}")

    label = _label(document)
    if "specversion" not in document:
        raise DecodeError(f"{label}: missing attribute 'specversion'")
    if document["specversion"] != SPECVERSION:
        raise DecodeError(
            f"{label}: specversion {document['specversion']!r} is not {SPECVERSION!r}"
        )
    event_type = document.get("type")
    if not isinstance(event_type, str):
        raise DecodeError(f"{label}: attribute 'type' is missing or not a string")
    try:
        model = registry.model_for(event_type)
    except UnknownEventType:
        raise UnknownEventType(f"{label}: unknown event type") from None

    try:
        event: Envelope[EventData] = envelope_type(model).model_validate_json(raw, strict=True)
    except ValidationError as error:
        raise DecodeError(f"{label}: {_problems(error)}") from None
    return registry.upcast(event)


def topic_of(event: Envelope[Any]) -> str:
    """Name the topic an event is published on."""
    data: EventData = event.data
    return data.topic


def key_of(event: Envelope[Any]) -> str:
    """Give the record key: the interaction id (the agent id for agent events)."""
    return _subject_of(event.data)


def _subject_of(data: EventData) -> str:
    return str(getattr(data, data.subject_field))


def _default_registry() -> Registry:
    # Imported late: the registry imports every event module, and they import this one.
    from atende_events.registry import REGISTRY

    return REGISTRY


def _json_kind(value: object) -> str:
    match value:
        case list():
            return "an array"
        case str():
            return "a string"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case _:
            return "null"


def _label(document: dict[str, Any]) -> str:
    return f"event {document.get('id', '<no id>')} ({document.get('type', '<no type>')})"


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or '<event>'}: {problem['msg']}"
        for problem in error.errors(include_url=False)
    )
