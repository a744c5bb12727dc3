"""Routing's and sla's events keep an interaction's status, history and deadlines current."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest_asyncio

from atende_events import samples
from atende_events.envelope import EventData, encode, key_of, new_event
from atende_events.kafka import Publisher
from atende_events.registry import SOURCES
from atende_events.routing import Resolution
from atende_events.sla import ClockKind, ClockType
from tests.infra import KAFKA_BOOTSTRAP, eventually
from tests.intake.integration.conftest import ADMIN, PORTAL, make_interaction
from tests.service_checks import RunningService


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def publisher() -> AsyncIterator[Publisher]:
    publisher = Publisher(KAFKA_BOOTSTRAP, client_id="intake-lifecycle-tests")
    yield publisher
    await publisher.close()


async def publish(
    intake: RunningService, publisher: Publisher, data: EventData, *, key: str | None = None
) -> None:
    """Put an event on the namespace's topic, as its producing service would."""
    event = new_event(data, source=SOURCES[data.event_type], time=data.occurred_at)
    await publisher.send_and_wait(
        intake.namespace + data.topic, encode(event), key=(key or key_of(event)).encode()
    )


async def register(intake: RunningService) -> tuple[dict[str, Any], dict[str, Any]]:
    body = make_interaction()
    created = await intake.client.post("/v1/interactions", json=body, headers=ADMIN)
    assert created.status_code == 201
    return body, created.json()


async def record_of(intake: RunningService, interaction_id: UUID) -> dict[str, Any]:
    answer = await intake.client.get(f"/v1/interactions/{interaction_id}", headers=ADMIN)
    assert answer.status_code == 200
    record: dict[str, Any] = answer.json()
    return record


async def test_status_follows_the_lifecycle_from_queue_to_resolution(
    intake: RunningService, publisher: Publisher
) -> None:
    body, created = await register(intake)
    interaction_id = UUID(created["id"])
    t0 = datetime.now(UTC)
    assignment = uuid4()
    ids = {"interaction_id": interaction_id}
    steps: list[tuple[EventData, str, str | None]] = [
        (
            samples.make_interaction_queued(**ids, queue="autorizacoes", occurred_at=t0),
            "queued",
            "autorizacoes",
        ),
        (
            samples.make_interaction_offered(
                **ids,
                assignment_id=assignment,
                queue="autorizacoes",
                occurred_at=t0 + timedelta(seconds=5),
            ),
            "assigned",
            "autorizacoes",
        ),
        (
            samples.make_interaction_accepted(
                **ids,
                assignment_id=assignment,
                queue="autorizacoes",
                occurred_at=t0 + timedelta(seconds=9),
            ),
            "in_progress",
            "autorizacoes",
        ),
        (
            samples.make_interaction_waiting(
                **ids, assignment_id=assignment, occurred_at=t0 + timedelta(minutes=2)
            ),
            "waiting",
            "autorizacoes",
        ),
        (
            samples.make_interaction_resumed(
                **ids, assignment_id=assignment, occurred_at=t0 + timedelta(minutes=3)
            ),
            "in_progress",
            "autorizacoes",
        ),
        (
            samples.make_interaction_transferred(
                **ids,
                assignment_id=assignment,
                from_queue="autorizacoes",
                to_queue="saude",
                occurred_at=t0 + timedelta(minutes=4),
            ),
            "queued",
            "saude",
        ),
        (
            samples.make_interaction_resolved(
                **ids,
                queue="saude",
                resolution=Resolution.UNRESOLVED,
                occurred_at=t0 + timedelta(minutes=9),
            ),
            "unresolved",
            "saude",
        ),
    ]
    for event, status, queue in steps:
        await publish(intake, publisher, event)

        async def reached(status: str = status, queue: str | None = queue) -> dict[str, Any] | None:
            record = await record_of(intake, interaction_id)
            return record if (record["status"], record["queue"]) == (status, queue) else None

        await eventually(reached, within=20, what=f"status {status} in {queue}")

    record = await record_of(intake, interaction_id)
    assert [entry["status"] for entry in record["history"]] == [
        "received",
        "queued",
        "assigned",
        "in_progress",
        "waiting",
        "in_progress",
        "queued",
        "unresolved",
    ]
    assert record["completed_at"] is not None

    timeline = await intake.client.get(
        f"/v1/parties/member/{body['party']['id']}/timeline", headers=ADMIN
    )
    assert [(i["status"], i["queue"]) for i in timeline.json()["items"]] == [
        ("unresolved", "saude")
    ]


async def test_a_late_event_never_reopens_a_resolved_interaction(
    intake: RunningService, publisher: Publisher
) -> None:
    _, created = await register(intake)
    interaction_id = UUID(created["id"])
    t0 = datetime.now(UTC)
    await publish(
        intake,
        publisher,
        samples.make_interaction_resolved(
            interaction_id=interaction_id,
            queue="geral",
            resolution=Resolution.RESOLVED,
            occurred_at=t0 + timedelta(minutes=5),
        ),
    )
    # Arrives after the resolution, from another topic, though it happened before it.
    await publish(
        intake,
        publisher,
        samples.make_interaction_queued(
            interaction_id=interaction_id, queue="geral", occurred_at=t0
        ),
    )
    await publish(
        intake,
        publisher,
        samples.make_interaction_offered(
            interaction_id=interaction_id, queue="geral", occurred_at=t0 + timedelta(seconds=3)
        ),
    )

    async def all_three_seen() -> dict[str, Any] | None:
        record = await record_of(intake, interaction_id)
        return record if len(record["history"]) == 4 else None

    record = await eventually(all_three_seen, within=20, what="three lifecycle events")
    assert (record["status"], record["queue"]) == ("resolved", "geral")
    # The history is told in the order things happened, whatever order they arrived in.
    assert [entry["status"] for entry in record["history"]] == [
        "received",
        "queued",
        "assigned",
        "resolved",
    ]


async def test_deadlines_and_breaches_reach_the_record_and_the_tracking_page(
    intake: RunningService, publisher: Publisher
) -> None:
    body, created = await register(intake)
    interaction_id = UUID(created["id"])
    t0 = datetime.now(UTC)
    regulatory, operational = uuid4(), uuid4()
    due = t0 + timedelta(days=5)
    await publish(
        intake,
        publisher,
        samples.make_sla_started(
            interaction_id=interaction_id,
            clock_id=regulatory,
            kind=ClockKind.REGULATORY,
            clock_type=ClockType.RESOLUTION,
            due_at=due,
            occurred_at=t0,
        ),
    )
    await publish(
        intake,
        publisher,
        samples.make_sla_started(
            interaction_id=interaction_id,
            clock_id=operational,
            kind=ClockKind.OPERATIONAL,
            clock_type=ClockType.FIRST_RESPONSE,
            due_at=t0 + timedelta(seconds=20),
            occurred_at=t0,
        ),
    )
    await publish(
        intake,
        publisher,
        samples.make_sla_breached(
            interaction_id=interaction_id,
            clock_id=operational,
            kind=ClockKind.OPERATIONAL,
            clock_type=ClockType.FIRST_RESPONSE,
            due_at=t0 + timedelta(seconds=20),
            occurred_at=t0 + timedelta(seconds=21),
        ),
    )
    extended = due + timedelta(days=10)
    await publish(
        intake,
        publisher,
        samples.make_sla_extended(
            interaction_id=interaction_id,
            clock_id=regulatory,
            kind=ClockKind.REGULATORY,
            clock_type=ClockType.RESOLUTION,
            previous_due_at=due,
            due_at=extended,
            occurred_at=t0 + timedelta(hours=1),
        ),
    )

    async def breached_and_extended() -> dict[str, Any] | None:
        record = await record_of(intake, interaction_id)
        states = {(d["kind"], d["state"]) for d in record["deadlines"]}
        done = record["sla_breached"] and len(record["history"]) == 5
        return record if done and ("operational", "breached") in states else None

    record = await eventually(breached_and_extended, within=20, what="deadlines")
    dues = {d["kind"]: datetime.fromisoformat(d["due_at"]) for d in record["deadlines"]}
    assert dues["regulatory"] == extended

    tracked = await intake.client.get(
        f"/v1/track/{created['protocol']}", params={"party_id": body["party"]["id"]}, headers=PORTAL
    )
    assert tracked.status_code == 200
    assert [
        (d["clock_type"], datetime.fromisoformat(d["due_at"]), d["state"])
        for d in tracked.json()["deadlines"]
    ] == [("resolution", extended, "running")]


async def test_events_about_interactions_of_elsewhere_are_ignored(
    intake: RunningService, publisher: Publisher
) -> None:
    stranger = samples.make_interaction_queued(occurred_at=datetime.now(UTC))
    _, created = await register(intake)
    # Same partition as the next event, so the consumer handles it first.
    await publish(intake, publisher, stranger, key=created["id"])
    mine = samples.make_interaction_queued(
        interaction_id=UUID(created["id"]), occurred_at=datetime.now(UTC)
    )
    await publish(intake, publisher, mine)

    async def queued() -> bool:
        record = await record_of(intake, UUID(created["id"]))
        return bool(record["status"] == "queued")

    await eventually(queued, within=20, what="the consumer to go past the stranger's event")
    missing = await intake.client.get(f"/v1/interactions/{stranger.interaction_id}", headers=ADMIN)
    assert missing.status_code == 404


async def test_the_inferred_demand_type_and_the_queue_label_reach_the_person(
    intake: RunningService, publisher: Publisher
) -> None:
    body = make_interaction(channel="whatsapp", subject="Boleto atrasado")
    del body["demand_type"]
    created = (await intake.client.post("/v1/interactions", json=body, headers=ADMIN)).json()
    await publish(
        intake,
        publisher,
        samples.make_interaction_queued(
            interaction_id=UUID(created["id"]),
            queue="dividas",
            demand_type="debt",
            demand_type_inferred=True,
            occurred_at=datetime.now(UTC),
        ),
    )

    async def queued() -> dict[str, Any] | None:
        record = await record_of(intake, UUID(created["id"]))
        return record if record["status"] == "queued" else None

    record = await eventually(queued, within=20, what="the queued event")
    assert record["demand_type"] == "debt"
    tracked = await intake.client.get(
        f"/v1/track/{created['protocol']}", params={"party_id": body["party"]["id"]}, headers=PORTAL
    )
    assert (tracked.json()["status"], tracked.json()["queue_label"]) == (
        "queued",
        "Negociação de dívidas",
    )
