"""Helpers of routing's integration tests: agents, received interactions, reading routing's events.

Interactions reach routing the way they do in production: `interaction.received` events (and
sla's clock events) published onto the service's topic namespace. What routing emits is read back
from Kafka.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from atende_events.envelope import Envelope, EventData, decode, encode, key_of, topic_of
from atende_events.kafka import Publisher
from atende_events.samples import sample_event
from atende_events.topics import AGENTS, ASSIGNMENTS, INTERACTIONS
from tests.infra import KAFKA_BOOTSTRAP, eventually, read_topic

ADMIN = {"Authorization": "Bearer dev-routing-admin"}
DESK = {"Authorization": "Bearer dev-routing-desk"}
RECEIVED = "atende.interaction.received.v1"


def new_agent_id() -> str:
    """Give an agent id no other test uses."""
    return f"ag-{uuid.uuid4().hex[:10]}"


def received(**overrides: Any) -> Envelope[EventData]:
    """Build an interaction.received event with fresh ids (a member's call for an authorisation)."""
    return sample_event(RECEIVED, **overrides)


async def publish(namespace: str, *events: Envelope[Any]) -> None:
    """Put events on the namespace's topics, keyed by interaction like the producers do."""
    publisher = Publisher(KAFKA_BOOTSTRAP, client_id="routing-tests")
    try:
        producer = await publisher.producer()
        acks = [
            await producer.send(
                namespace + topic_of(event), encode(event), key=key_of(event).encode()
            )
            for event in events
        ]
        await asyncio.gather(*acks)
    finally:
        await publisher.close()


async def put_agent(
    client: httpx.AsyncClient,
    agent_id: str,
    skills: dict[str, int],
    capacity: dict[str, int] | None = None,
    *,
    status: str = "available",
) -> None:
    """Create an agent and set its status."""
    answer = await client.put(
        f"/v1/agents/{agent_id}",
        json={"name": agent_id, "skills": skills, "capacity": capacity or {"phone": 1}},
        headers=ADMIN,
    )
    assert answer.status_code in (200, 201), answer.text
    if status != "offline":
        answer = await client.put(
            f"/v1/agents/{agent_id}/status", json={"status": status}, headers=ADMIN
        )
        assert answer.status_code == 200, answer.text


async def open_assignments(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]]:
    """List an agent's open offers and assignments."""
    answer = await client.get(f"/v1/agents/{agent_id}/assignments", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["assignments"]
    return items


async def offer_to(
    client: httpx.AsyncClient, agent_id: str, *, within: float = 20
) -> dict[str, Any]:
    """Wait until the agent has an open offer; return it."""

    async def probe() -> dict[str, Any] | None:
        offered = [a for a in await open_assignments(client, agent_id) if a["status"] == "offered"]
        return offered[0] if offered else None

    found: dict[str, Any] = await eventually(probe, within=within, what=f"an offer to {agent_id}")
    return found


ANSWERED: dict[str, Any] = {
    "resolution": "resolved",
    "outcome": "informed",
    "answer": "Informamos que o seu pedido foi atendido; nada mais é necessário.",
}
"""A conclusive completion: what `complete` needs to record an answer."""


async def act(
    client: httpx.AsyncClient, assignment_id: str, action: str, **body: Any
) -> httpx.Response:
    """Post an action on an assignment as the desk."""
    return await client.post(f"/v1/assignments/{assignment_id}/{action}", json=body, headers=DESK)


async def routing_events(
    namespace: str, *, at_least: int = 1, within: float = 10
) -> list[Envelope[Any]]:
    """Read back everything routing emitted on the namespace, in time order."""
    events: list[Envelope[Any]] = []
    for topic in (INTERACTIONS, ASSIGNMENTS, AGENTS):
        records = await read_topic(namespace + topic, at_least=0, within=0.5)
        events += [decode(record.value) for record in records]
    events = [event for event in events if event.source == "/atende/routing"]
    if len(events) < at_least:
        raise AssertionError(f"routing emitted {len(events)} events, expected {at_least}")
    return sorted(events, key=lambda event: event.time)


async def events_until(
    namespace: str, predicate: Any, *, within: float = 20, what: str = "events"
) -> list[Envelope[Any]]:
    """Poll routing's events until the predicate holds over them."""

    async def probe() -> list[Envelope[Any]] | None:
        events = await routing_events(namespace, at_least=0)
        return events if predicate(events) else None

    found: list[Envelope[Any]] = await eventually(probe, within=within, interval=0.3, what=what)
    return found


def about(events: Iterable[Envelope[Any]], interaction_id: Any) -> list[Envelope[Any]]:
    """The events of one interaction."""
    return [e for e in events if str(getattr(e.data, "interaction_id", "")) == str(interaction_id)]


def kinds(events: Iterable[Envelope[Any]]) -> list[str]:
    """Short names of events: queued, offered, accepted, ..."""
    return [e.type.removeprefix("atende.").removesuffix(".v1").split(".")[-1] for e in events]
