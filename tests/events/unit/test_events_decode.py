"""Decoding refuses, with a clear message, every record that is not an Atende event."""

import json
from collections.abc import Callable
from typing import Any

import pytest

from atende_events.envelope import DecodeError, UnknownEventType, decode, encode
from atende_events.samples import sample_event

Document = dict[str, Any]


def received() -> Document:
    document: Document = json.loads(encode(sample_event("atende.interaction.received.v1")))
    return document


def answered() -> Document:
    document: Document = json.loads(encode(sample_event("atende.survey.answered.v1")))
    return document


def without(name: str) -> Callable[[Document], None]:
    return lambda document: document.pop(name)


def setting(name: str, value: object) -> Callable[[Document], None]:
    return lambda document: document.update({name: value})


def setting_data(name: str, value: object) -> Callable[[Document], None]:
    return lambda document: document["data"].update({name: value})


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "not JSON"),
        (b"{'specversion': '1.0'}", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'[{"specversion": "1.0"}]', "not a JSON object but an array"),
        (b'"atende.interaction.received.v1"', "not a JSON object but a string"),
        (b"null", "not a JSON object but null"),
    ],
)
def test_a_record_that_is_no_json_object_is_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        decode(raw)


@pytest.mark.parametrize(
    ("build", "change", "problem"),
    [
        (
            received,
            without("id"),
            r"event <no id> \(atende.interaction.received.v1\): id: Field required",
        ),
        (received, setting("id", "42"), "id: Input should be a valid UUID"),
        (received, without("specversion"), "missing attribute 'specversion'"),
        (received, setting("specversion", "0.3"), "specversion '0.3' is not '1.0'"),
        (received, without("type"), "attribute 'type' is missing"),
        (received, without("source"), "source: Field required"),
        (received, setting("source", "intake"), "source: String should match pattern"),
        (received, setting("time", "2025-03-14T13:00:00"), "time: Input should have timezone info"),
        (received, setting("datacontenttype", "text/plain"), "datacontenttype: Input should be"),
        (
            received,
            setting("dataschema", "urn:atende:schema:x"),
            "dataschema 'urn:atende:schema:x'",
        ),
        (received, setting("partitionkey", "x"), "partitionkey: Extra inputs are not permitted"),
        (received, without("data"), "data: Field required"),
        (received, setting("data", [1]), "data: Input should be an object"),
        (received, setting_data("colour", "blue"), "data.colour: Extra inputs are not permitted"),
        (received, setting_data("channel", "fax"), "data.channel: Input should be 'phone'"),
        (
            received,
            setting_data("priority", 1),
            "data.priority: Input should be 'normal' or 'urgent'",
        ),
        (received, setting_data("interaction_id", None), "data.interaction_id: UUID input"),
        (
            received,
            setting_data("occurred_at", "2025-03-14T13:00:00"),
            "data.occurred_at: Input should have timezone info",
        ),
        (
            received,
            setting_data("protocol", "2025-0001"),
            "data.protocol: String should match pattern",
        ),
        (
            received,
            setting_data("party_ref", "123.456.789-09"),
            "data.party_ref: String should match pattern",
        ),
        (answered, setting_data("nps", 11), "data.nps: Input should be less than or equal to 10"),
        (answered, setting_data("nps", "9"), "data.nps: Input should be a valid integer"),
        (answered, setting_data("nps", 9), "an NPS of 9 is a promoter"),
        (
            answered,
            setting_data("csat", 0),
            "data.csat: Input should be greater than or equal to 1",
        ),
    ],
)
def test_a_record_with_bad_attributes_or_data_is_refused(
    build: Callable[[], Document], change: Callable[[Document], None], problem: str
) -> None:
    document = build()
    change(document)

    with pytest.raises(DecodeError, match=problem):
        decode(json.dumps(document).encode())


def test_the_message_names_the_event_id_and_type() -> None:
    document = answered()
    document["data"]["nps"] = 11

    with pytest.raises(DecodeError) as refused:
        decode(json.dumps(document).encode())

    assert str(refused.value).startswith(f"event {document['id']} (atende.survey.answered.v1): ")


def test_an_unknown_type_is_refused_as_such() -> None:
    document = received()
    document["type"] = "atende.interaction.teleported.v1"

    with pytest.raises(
        UnknownEventType, match=r"\(atende.interaction.teleported.v1\): unknown event type"
    ):
        decode(json.dumps(document).encode())


def test_a_decode_error_is_a_value_error() -> None:
    assert issubclass(UnknownEventType, DecodeError)
    assert issubclass(DecodeError, ValueError)
