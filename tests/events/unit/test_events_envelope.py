"""The envelope: building, encoding, decoding, topics and keys."""

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from pydantic import ValidationError

from atende_events.envelope import Envelope, decode, encode, key_of, new_event, topic_of
from atende_events.intake import SOURCE as INTAKE
from atende_events.registry import EVENT_TYPES
from atende_events.samples import (
    SAMPLE_TIME,
    make_agent_status_changed,
    make_interaction_received,
    sample_event,
)
from atende_events.topics import AGENTS, ASSIGNMENTS, INTERACTIONS, SLA, SURVEYS

# DESIGN.md section 2, the catalogue: every type and its topic.
CATALOGUE = {
    "atende.interaction.received.v1": INTERACTIONS,
    "atende.interaction.queued.v1": INTERACTIONS,
    "atende.interaction.triaged.v1": INTERACTIONS,
    "atende.interaction.offered.v1": ASSIGNMENTS,
    "atende.interaction.offer_declined.v1": ASSIGNMENTS,
    "atende.interaction.accepted.v1": INTERACTIONS,
    "atende.interaction.transferred.v1": INTERACTIONS,
    "atende.interaction.waiting.v1": INTERACTIONS,
    "atende.interaction.resumed.v1": INTERACTIONS,
    "atende.interaction.resolved.v1": INTERACTIONS,
    "atende.interaction.reopened.v1": INTERACTIONS,
    "atende.interaction.reclassified.v1": INTERACTIONS,
    "atende.agent.status_changed.v1": AGENTS,
    "atende.sla.started.v1": SLA,
    "atende.sla.warning.v1": SLA,
    "atende.sla.breached.v1": SLA,
    "atende.sla.met.v1": SLA,
    "atende.sla.paused.v1": SLA,
    "atende.sla.resumed.v1": SLA,
    "atende.sla.extended.v1": SLA,
    "atende.sla.redecided.v1": SLA,
    "atende.survey.scheduled.v1": SURVEYS,
    "atende.survey.skipped.v1": SURVEYS,
    "atende.survey.dispatched.v1": SURVEYS,
    "atende.survey.failed.v1": SURVEYS,
    "atende.survey.answered.v1": SURVEYS,
    "atende.survey.expired.v1": SURVEYS,
    "atende.followup.opened.v1": SURVEYS,
    "atende.followup.closed.v1": SURVEYS,
    "atende.outbox.watermark.v1": INTERACTIONS,  # each relay's, to every partition it marks
}


def test_the_registry_holds_exactly_the_catalogue() -> None:
    assert set(EVENT_TYPES) == set(CATALOGUE)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_type_survives_a_round_trip(event_type: str) -> None:
    event = sample_event(event_type)

    decoded = decode(encode(event))

    assert decoded == event
    assert type(decoded.data) is EVENT_TYPES[event_type]


@pytest.mark.parametrize(("event_type", "topic"), sorted(CATALOGUE.items()))
def test_every_type_goes_to_its_topic(event_type: str, topic: str) -> None:
    assert topic_of(sample_event(event_type)) == topic


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_type_is_keyed_and_subjected_by_what_it_is_about(event_type: str) -> None:
    event = sample_event(event_type)
    about = {"atende.agent.": "agent_id", "atende.outbox.": "producer"}.get(
        ".".join(event_type.split(".")[:2]) + ".", "interaction_id"
    )

    assert key_of(event) == event.subject == str(getattr(event.data, about))


def test_a_new_event_gets_a_fresh_id_and_the_schema_of_its_type() -> None:
    data = make_interaction_received()

    first = new_event(data, source=INTAKE, time=SAMPLE_TIME)
    second = new_event(data, source=INTAKE, time=SAMPLE_TIME)

    assert first.id != second.id
    assert first.id.version == 4
    assert first.specversion == "1.0"
    assert first.type == "atende.interaction.received.v1"
    assert first.dataschema == "urn:atende:schema:atende.interaction.received.v1"
    assert first.datacontenttype == "application/json"
    assert first.subject == str(data.interaction_id)
    assert (first.correlationid, first.traceparent) == (None, None)


def test_a_new_event_keeps_what_it_is_given() -> None:
    event_id = UUID("5f0c4f2e-8f44-4e36-9a58-0f7f0b2f6d11")

    event = new_event(
        make_agent_status_changed(agent_id="agent-042"),
        source="/atende/routing",
        time=SAMPLE_TIME,
        subject="shift-7",
        correlation_id="req-123",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        event_id=event_id,
    )

    assert (event.id, event.subject, event.correlationid) == (event_id, "shift-7", "req-123")


def test_an_agent_event_is_about_its_agent() -> None:
    event = new_event(
        make_agent_status_changed(agent_id="agent-042"), source="/atende/routing", time=SAMPLE_TIME
    )

    assert event.subject == key_of(event) == "agent-042"


def test_encoding_is_compact_utf8_json_in_utc_without_absent_attributes() -> None:
    brasilia = timezone(timedelta(hours=-3))
    data = make_interaction_received(
        occurred_at=datetime(2025, 3, 14, 10, 0, tzinfo=brasilia), content="Olá, não recebi"
    )
    event = new_event(data, source=INTAKE, time=datetime(2025, 3, 14, 10, 0, 1, tzinfo=brasilia))

    raw = encode(event)

    document = json.loads(raw)
    assert raw == json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    assert "Olá, não recebi".encode() in raw
    assert document["time"] == "2025-03-14T13:00:01Z"
    assert document["data"]["occurred_at"] == "2025-03-14T13:00:00Z"
    assert "correlationid" not in document and "traceparent" not in document
    assert document["data"]["related_interaction_id"] is None


def test_times_are_held_in_utc() -> None:
    event = sample_event("atende.sla.started.v1")

    assert event.time.tzinfo is UTC
    assert event.data.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"type": "atende.interaction.queued.v1"}, "does not match its data"),
        ({"dataschema": "urn:atende:schema:atende.interaction.queued.v1"}, "dataschema"),
        ({"source": "intake"}, "source"),
        ({"traceparent": "not-a-trace"}, "traceparent"),
        ({"time": datetime(2025, 3, 14, 13, 0)}, "timezone"),
        ({"subject": "two words"}, "subject"),
        ({"specversion": "0.3"}, "specversion"),
    ],
)
def test_an_envelope_refuses_inconsistent_attributes(
    change: dict[str, object], problem: str
) -> None:
    attributes = {**dict(sample_event("atende.interaction.received.v1")), **change}

    with pytest.raises(ValidationError, match=problem):
        Envelope.model_validate(attributes)


def test_an_envelope_is_frozen() -> None:
    event = sample_event("atende.interaction.received.v1")

    with pytest.raises(ValidationError):
        event.subject = "other"  # type: ignore[misc]
