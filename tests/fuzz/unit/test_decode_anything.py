"""Whatever a topic holds, decoding gives a valid event or refuses it with a DecodeError."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings

from atende_events.envelope import DecodeError, decode, encode
from tests.fuzz.records import SAMPLES, hostile_json, json_values, mangled_events, record_values


def decodes_or_refuses(raw: bytes) -> None:
    """Decode; an event that is read must write back to the same event."""
    try:
        event = decode(raw)
    except DecodeError:  # UnknownEventType is one too
        return
    assert decode(encode(event)) == event


@settings(max_examples=400, deadline=None, derandomize=True)
@given(raw=record_values)
@example(raw=b"[" * 100_000)
@example(raw=b"9" * 5_000)
def test_any_record_value_decodes_or_is_refused(raw: bytes) -> None:
    decodes_or_refuses(raw)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=json_values)
def test_any_json_value_decodes_or_is_refused(value: object) -> None:
    decodes_or_refuses(json.dumps(value).encode())


@settings(max_examples=500, deadline=None, derandomize=True)
@given(raw=mangled_events())
def test_an_event_gone_wrong_decodes_or_is_refused(raw: bytes) -> None:
    decodes_or_refuses(raw)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"[" * 100_000, "nested too deeply"),
        (b'{"a":' * 10_000, "nested too deeply"),
        (b"9" * 5_000, "a number too long"),
        (b'{"specversion": "1.0", "id": ' + b"1" * 5_000 + b"}", "a number too long"),
    ],
    ids=["deep-array", "deep-object", "long-number", "long-number-inside"],
)
def test_json_that_python_cannot_read_is_refused_as_a_decode_error(
    raw: bytes, problem: str
) -> None:
    # Before: RecursionError and ValueError escaped decode, so a consumer met the record,
    # crashed, restarted from the uncommitted offset and met it again, forever.
    with pytest.raises(DecodeError, match=problem):
        decode(raw)


@given(raw=hostile_json)
@settings(max_examples=30, deadline=None, derandomize=True)
def test_hostile_json_is_refused(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(raw)


def test_every_sample_decodes() -> None:
    """The mangling starts from valid events: without them it would test nothing."""
    for document in SAMPLES:
        assert decode(json.dumps(document).encode()).type == document["type"]
