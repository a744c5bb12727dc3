"""A batch of routing's and sla's events leaves the rows that following them one by one leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from atende_events import samples
from atende_events.consumer import Batched, Handler
from atende_events.envelope import Envelope, EventData, new_event
from atende_events.registry import SOURCES
from atende_events.routing import Resolution
from atende_events.sla import ClockKind, ClockType
from intake.consumers import handlers
from tests.intake.integration.conftest import ADMIN, make_interaction
from tests.service_checks import RunningService


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def engine(intake: RunningService) -> AsyncIterator[AsyncEngine]:
    """An engine of the test's own on intake's database, so only its statements are counted."""
    engine = create_async_engine(intake.database_url)
    yield engine
    await engine.dispose()


async def register(intake: RunningService, body: dict[str, Any]) -> UUID:
    created = await intake.client.post("/v1/interactions", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    return UUID(created.json()["id"])


def envelope(data: EventData) -> Envelope[Any]:
    return new_event(data, source=SOURCES[data.event_type], time=data.occurred_at)


def runs(events: Sequence[Envelope[Any]]) -> list[tuple[Batched, list[Envelope[Any]]]]:
    """Split events into runs of one handler, as the consumer runner does."""
    mapping: dict[type[EventData], Handler | Batched] = handlers()
    split: list[tuple[Batched, list[Envelope[Any]]]] = []
    for item in events:
        handler = mapping[type(item.data)]
        assert isinstance(handler, Batched)
        if split and split[-1][0] is handler:
            split[-1][1].append(item)
        else:
            split.append((handler, [item]))
    return split


async def follow(engine: AsyncEngine, events: Sequence[Envelope[Any]], *, size: int) -> None:
    """Follow the events in transactions of `size` events, each run in one handler call."""
    for start in range(0, len(events), size):
        async with AsyncSession(engine) as session, session.begin():
            for handler, run in runs(events[start : start + size]):
                await handler.handle(run, session)


@dataclass(frozen=True)
class Cast:
    """The interactions and clocks of one copy of the scenario."""

    known: UUID
    """Registered with a demand type; resolved early, then old events arrive."""
    inferred: UUID
    """Registered without a demand type: routing's inference fills it in."""
    busy: UUID
    """Goes back and forth between agent and customer; events stamped with the same moment."""
    stranger: UUID
    """Not registered here: its events are ignored."""
    regulatory: UUID = UUID(int=0)
    operational: UUID = UUID(int=0)
    first_response: UUID = UUID(int=0)

    @classmethod
    async def register(cls, intake: RunningService) -> Cast:
        inferred = make_interaction(channel="whatsapp", subject="Boleto atrasado")
        del inferred["demand_type"]
        return cls(
            known=await register(intake, make_interaction()),
            inferred=await register(intake, inferred),
            busy=await register(intake, make_interaction(channel="chat")),
            stranger=uuid4(),
            regulatory=uuid4(),
            operational=uuid4(),
            first_response=uuid4(),
        )


def scenario(cast: Cast, t0: datetime) -> list[EventData]:
    """Every awkward order one poll may bring, for the interactions of a cast."""
    s = timedelta(seconds=1)
    known, inferred, busy = cast.known, cast.inferred, cast.busy
    regulatory = {
        "interaction_id": known,
        "clock_id": cast.regulatory,
        "kind": ClockKind.REGULATORY,
        "clock_type": ClockType.RESOLUTION,
    }
    operational = {
        "interaction_id": known,
        "clock_id": cast.operational,
        "kind": ClockKind.OPERATIONAL,
        "clock_type": ClockType.FIRST_RESPONSE,
    }
    first_response = {
        "interaction_id": busy,
        "clock_id": cast.first_response,
        "kind": ClockKind.OPERATIONAL,
        "clock_type": ClockType.FIRST_RESPONSE,
    }
    return [
        samples.make_interaction_queued(interaction_id=known, queue="autorizacoes", occurred_at=t0),
        samples.make_interaction_queued(
            interaction_id=inferred,
            queue="dividas",
            demand_type="debt",
            demand_type_inferred=True,
            occurred_at=t0 + s,
        ),
        samples.make_interaction_queued(interaction_id=cast.stranger, occurred_at=t0),
        samples.make_sla_started(**regulatory, due_at=t0 + timedelta(days=5), occurred_at=t0),
        samples.make_sla_started(**operational, due_at=t0 + 20 * s, occurred_at=t0),
        samples.make_sla_started(interaction_id=cast.stranger, occurred_at=t0),
        # The breach arrives before the clock's start.
        samples.make_sla_breached(**first_response, due_at=t0 + 20 * s, occurred_at=t0 + 21 * s),
        samples.make_sla_started(**first_response, due_at=t0 + 20 * s, occurred_at=t0),
        samples.make_interaction_resolved(
            interaction_id=known,
            queue="autorizacoes",
            resolution=Resolution.RESOLVED,
            occurred_at=t0 + timedelta(minutes=9),
        ),
        # Older than the resolution: recorded, never applied.
        samples.make_interaction_offered(
            interaction_id=known, queue="autorizacoes", occurred_at=t0 + 5 * s
        ),
        samples.make_interaction_accepted(
            interaction_id=known, queue="autorizacoes", occurred_at=t0 + 9 * s
        ),
        samples.make_sla_breached(**operational, due_at=t0 + 20 * s, occurred_at=t0 + 21 * s),
        samples.make_sla_started(**operational, due_at=t0 + 20 * s, occurred_at=t0),
        samples.make_sla_extended(
            **regulatory,
            previous_due_at=t0 + timedelta(days=5),
            due_at=t0 + timedelta(days=15),
            occurred_at=t0 + timedelta(hours=1),
        ),
        # Older than the extension: neither its state nor its deadline wins.
        samples.make_sla_paused(
            **regulatory, due_at=t0 + timedelta(days=6), occurred_at=t0 + timedelta(minutes=30)
        ),
        # Same moment as the queueing: the later stage wins the tie, the earlier one loses it.
        samples.make_interaction_offered(
            interaction_id=inferred, queue="dividas", occurred_at=t0 + s
        ),
        samples.make_interaction_offer_declined(interaction_id=inferred, occurred_at=t0 + s),
        # Stamped before intake received it: still moves it on.
        samples.make_interaction_queued(interaction_id=busy, queue="geral", occurred_at=t0 - s),
        samples.make_interaction_accepted(
            interaction_id=busy, queue="geral", occurred_at=t0 + 10 * s
        ),
        samples.make_interaction_waiting(interaction_id=busy, occurred_at=t0 + 20 * s),
        samples.make_interaction_resumed(interaction_id=busy, occurred_at=t0 + 20 * s),
        samples.make_sla_met(**regulatory, due_at=t0 + timedelta(days=15), occurred_at=t0 + 2 * s),
        samples.make_interaction_waiting(interaction_id=busy, occurred_at=t0 + 30 * s),
    ]


async def rows_of(engine: AsyncEngine, cast: Cast) -> dict[str, Any]:
    """What intake keeps of a cast, with the cast's own ids replaced by their roles."""
    roles = {
        cast.known: "known",
        cast.inferred: "inferred",
        cast.busy: "busy",
        cast.stranger: "stranger",
        cast.regulatory: "regulatory",
        cast.operational: "operational",
        cast.first_response: "first_response",
    }
    ids = {"ids": [cast.known, cast.inferred, cast.busy, cast.stranger]}
    async with engine.connect() as conn:
        interactions = await conn.execute(
            text(
                "SELECT id, status, status_at, queue, completed_at, demand_type, sla_breached"
                " FROM interactions WHERE id = ANY(:ids) ORDER BY id"
            ),
            ids,
        )
        history = await conn.execute(
            text(
                "SELECT interaction_id, event_type, occurred_at, status, queue, applied"
                " FROM interaction_history WHERE interaction_id = ANY(:ids)"
                " AND event_id IS NOT NULL ORDER BY id"
            ),
            ids,
        )
        deadlines = await conn.execute(
            text(
                "SELECT clock_id, interaction_id, kind, clock_type, due_at, due_at_as_of, state"
                " FROM deadlines WHERE interaction_id = ANY(:ids)"
            ),
            ids,
        )
        return {
            "interactions": {roles[row[0]]: tuple(row[1:]) for row in interactions},
            "history": [(roles[row[0]], *row[1:]) for row in history],
            "deadlines": {roles[row[0]]: (roles[row[1]], *row[2:]) for row in deadlines},
        }


async def test_one_batch_leaves_the_rows_that_one_event_at_a_time_leaves(
    intake: RunningService, engine: AsyncEngine
) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0)
    whole, chunked, single = [await Cast.register(intake) for _ in range(3)]

    for cast, size in [(whole, 1000), (chunked, 4), (single, 1)]:
        await follow(engine, [envelope(data) for data in scenario(cast, t0)], size=size)

    kept = await rows_of(engine, whole)
    assert await rows_of(engine, chunked) == kept
    assert await rows_of(engine, single) == kept
    s = timedelta(seconds=1)
    assert kept["interactions"] == {
        "known": (
            "resolved",
            t0 + 9 * 60 * s,
            "autorizacoes",
            t0 + 9 * 60 * s,
            "authorization",
            True,
        ),
        "inferred": ("assigned", t0 + s, "dividas", None, "debt", False),
        "busy": ("waiting", t0 + 30 * s, "geral", None, "authorization", True),
    }
    assert [(role, status, applied) for role, _, _, status, _, applied in kept["history"]] == [
        ("known", "queued", True),
        ("inferred", "queued", True),
        ("known", None, True),
        ("known", None, True),
        ("busy", None, True),
        ("busy", None, True),
        ("known", "resolved", True),
        ("known", "assigned", False),
        ("known", "in_progress", False),
        ("known", None, True),
        ("known", None, True),
        ("known", None, True),
        ("known", None, True),
        ("inferred", "assigned", True),
        ("inferred", "queued", False),
        ("busy", "queued", True),
        ("busy", "in_progress", True),
        ("busy", "waiting", True),
        ("busy", "in_progress", True),
        ("known", None, True),
        ("busy", "waiting", True),
    ]
    day = timedelta(days=1)
    assert kept["deadlines"] == {
        "regulatory": (
            "known",
            "regulatory",
            "resolution",
            t0 + 15 * day,
            t0 + 3600 * s,
            "met",
        ),
        "operational": (
            "known",
            "operational",
            "first_response",
            t0 + 20 * s,
            t0 + 21 * s,
            "breached",
        ),
        "first_response": (
            "busy",
            "operational",
            "first_response",
            t0 + 20 * s,
            t0 + 21 * s,
            "breached",
        ),
    }


async def test_the_api_shows_a_batch_as_it_shows_events_one_at_a_time(
    intake: RunningService, engine: AsyncEngine
) -> None:
    t0 = datetime.now(UTC)
    whole, single = [await Cast.register(intake) for _ in range(2)]
    await follow(engine, [envelope(data) for data in scenario(whole, t0)], size=1000)
    await follow(engine, [envelope(data) for data in scenario(single, t0)], size=1)

    for role in ("known", "inferred", "busy"):
        shown = []
        for cast in (whole, single):
            answer = await intake.client.get(
                f"/v1/interactions/{getattr(cast, role)}", headers=ADMIN
            )
            assert answer.status_code == 200
            record = answer.json()
            shown.append(
                {
                    key: record[key]
                    for key in ("status", "queue", "completed_at", "sla_breached", "demand_type")
                }
                | {
                    "deadlines": record["deadlines"],
                    # The registration's entry carries each copy's own moment of receipt.
                    "history": [
                        entry
                        for entry in record["history"]
                        if entry["event_type"] != "atende.interaction.received.v1"
                    ],
                }
            )
        assert shown[0] == shown[1], role


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    """Collect the statements the engine sends while the block runs."""
    sent: list[str] = []

    def note(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def statements_per_run(
    intake: RunningService, engine: AsyncEngine, interactions: int
) -> list[int]:
    """Count the statements each run of a poll with that many interactions sends."""
    t0 = datetime.now(UTC)
    ids = [await register(intake, make_interaction(channel="app")) for _ in range(interactions)]
    lifecycle: list[EventData] = []
    clocks: list[EventData] = []
    for interaction_id in ids:
        lifecycle += [
            samples.make_interaction_queued(interaction_id=interaction_id, occurred_at=t0),
            samples.make_interaction_offered(interaction_id=interaction_id, occurred_at=t0),
            samples.make_interaction_accepted(interaction_id=interaction_id, occurred_at=t0),
        ]
        clock = {"interaction_id": interaction_id, "clock_id": uuid4()}
        clocks += [
            samples.make_sla_started(**clock, occurred_at=t0),
            samples.make_sla_started(interaction_id=interaction_id, occurred_at=t0),
            samples.make_sla_breached(**clock, occurred_at=t0 + timedelta(seconds=1)),
        ]
    lifecycle.append(samples.make_interaction_queued(occurred_at=t0))  # not registered here
    counts = []
    async with AsyncSession(engine) as session, session.begin():
        for handler, run in runs([envelope(data) for data in lifecycle + clocks]):
            with counting(engine) as sent:
                await handler.handle(run, session)
            counts.append(len(sent))
    return counts


async def test_a_batch_writes_with_as_many_statements_whatever_its_size(
    intake: RunningService, engine: AsyncEngine
) -> None:
    one = await statements_per_run(intake, engine, 1)
    many = await statements_per_run(intake, engine, 25)

    # Lifecycle: lock, move, history. Deadlines: lock interactions, lock clocks, keep clocks,
    # flag breaches, history.
    assert one == many == [3, 5]
