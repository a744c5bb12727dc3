"""The registry: every type by name, and old versions upcast to the newest."""

import inspect
from typing import Any
from uuid import UUID

import pytest

from atende_events import intake, routing, sla, survey, watermarks
from atende_events.envelope import (
    EventData,
    UnknownEventType,
    decode,
    encode,
    new_event,
    schema_uri,
)
from atende_events.intake import SOURCE as INTAKE
from atende_events.intake import Channel, InteractionReceived
from atende_events.registry import EVENT_TYPES, SOURCES, Registry, UpcastStep, model_for
from atende_events.samples import SAMPLE_TIME, make_interaction_received
from atende_events.topics import INTERACTIONS


class InteractionReceivedV2(EventData):
    """A test-only v2: demand_type became demand and the channel became a list of channels."""

    event_type = "atende.interaction.received.v2"
    topic = INTERACTIONS

    interaction_id: UUID
    protocol: str
    channels: tuple[Channel, ...]
    demand: str | None


class InteractionReceivedV3(EventData):
    """A test-only v3: the demand is required."""

    event_type = "atende.interaction.received.v3"
    topic = INTERACTIONS

    interaction_id: UUID
    protocol: str
    channels: tuple[Channel, ...]
    demand: str


def upcast_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "occurred_at": data["occurred_at"],
        "interaction_id": data["interaction_id"],
        "protocol": data["protocol"],
        "channels": [data["channel"]],
        "demand": data["demand_type"],
    }


def upcast_v2_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "demand": data["demand"] or "other"}


STEPS = (
    UpcastStep(InteractionReceived, InteractionReceivedV2, upcast_v1_v2),
    UpcastStep(InteractionReceivedV2, InteractionReceivedV3, upcast_v2_v3),
)
VERSIONS = (InteractionReceived, InteractionReceivedV2, InteractionReceivedV3)


def test_every_event_model_of_every_producer_is_registered() -> None:
    defined = {
        model
        for producer in (intake, routing, sla, survey, watermarks)
        for _, model in inspect.getmembers(producer, inspect.isclass)
        if issubclass(model, EventData) and "event_type" in vars(model)
    }

    assert defined == set(EVENT_TYPES.values())


@pytest.mark.parametrize(
    ("event_type", "source"),
    [
        ("atende.interaction.received.v1", "/atende/intake"),
        ("atende.interaction.resolved.v1", "/atende/routing"),
        ("atende.agent.status_changed.v1", "/atende/routing"),
        ("atende.sla.breached.v1", "/atende/sla"),
        ("atende.followup.closed.v1", "/atende/survey"),
    ],
)
def test_each_type_is_sourced_from_its_producer(event_type: str, source: str) -> None:
    assert SOURCES[event_type] == source


def test_a_model_is_found_by_its_type() -> None:
    assert model_for("atende.interaction.received.v1") is InteractionReceived


def test_an_unknown_type_has_no_model() -> None:
    with pytest.raises(UnknownEventType, match="atende.interaction.teleported.v1"):
        model_for("atende.interaction.teleported.v1")


def written_as(model: type[EventData], original: InteractionReceived) -> EventData:
    """Give what a producer of that version would have written about the same interaction."""
    if model is InteractionReceived:
        return original
    fields = {
        "occurred_at": original.occurred_at,
        "interaction_id": original.interaction_id,
        "protocol": original.protocol,
        "channels": [original.channel],
    }
    return model.model_validate(
        {**fields, "demand": None if model is InteractionReceivedV2 else "other"}
    )


@pytest.mark.parametrize("stored", VERSIONS)
def test_any_registered_version_reads_as_the_newest(stored: type[EventData]) -> None:
    registry = Registry(VERSIONS, upcasts=STEPS)
    original = make_interaction_received(demand_type=None)
    event = new_event(
        written_as(stored, original), source=INTAKE, time=SAMPLE_TIME, correlation_id="req-1"
    )

    decoded = decode(encode(event), registry=registry)

    assert decoded.type == "atende.interaction.received.v3"
    assert decoded.dataschema == schema_uri("atende.interaction.received.v3")
    assert (decoded.id, decoded.time, decoded.correlationid) == (event.id, SAMPLE_TIME, "req-1")
    assert decoded.subject == str(original.interaction_id)
    assert decoded.data == InteractionReceivedV3(
        occurred_at=original.occurred_at,
        interaction_id=original.interaction_id,
        protocol=original.protocol,
        channels=(Channel.PHONE,),
        demand="other",
    )


def test_the_newest_version_of_a_type_is_found_from_any_version() -> None:
    registry = Registry(VERSIONS, upcasts=STEPS)

    assert registry.newest("atende.interaction.received.v1") is InteractionReceivedV3
    assert registry.newest("atende.interaction.received.v3") is InteractionReceivedV3


def test_the_default_registry_reads_only_what_it_registered() -> None:
    original = make_interaction_received()
    event = new_event(written_as(InteractionReceivedV2, original), source=INTAKE, time=SAMPLE_TIME)

    with pytest.raises(UnknownEventType):
        decode(encode(event))


@pytest.mark.parametrize(
    ("models", "steps", "problem"),
    [
        ((InteractionReceived, InteractionReceived), (), "registered twice"),
        (VERSIONS[:2], (), "older than v2 but never upcasts"),
        (
            (InteractionReceived, InteractionReceivedV3),
            (UpcastStep(InteractionReceived, InteractionReceivedV3, upcast_v1_v2),),
            "must upcast to the next version",
        ),
        (VERSIONS[1:], STEPS[:1], "upcasts but is not registered"),
        ((EventData,), (), "has no event_type"),
    ],
)
def test_a_registry_refuses_an_inconsistent_history(
    models: tuple[type[EventData], ...], steps: tuple[UpcastStep, ...], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Registry(models, upcasts=steps)
