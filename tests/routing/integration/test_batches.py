"""Routing's batched handlers leave what handling the same events one by one leaves.

Each test runs the same events through the consumer's handlers on two fresh databases: once as
one run (a single call, as the consumer runner makes it for consecutive events) and once event by
event, each in a transaction of its own; the rows and the outgoing events must be the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from atende_events.consumer import Batched
from atende_events.envelope import Envelope, EventData, decode
from atende_events.intake import InteractionReceived
from atende_events.samples import sample_event
from atende_events.sla import SlaStarted
from routing.config import Settings
from routing.consumers import handlers
from routing.domain import BREACHED_RANK, NORMAL_RANK, URGENT_CLINICAL_RANK
from tests.infra import KAFKA_BOOTSTRAP, migrate, scratch_database
from tests.routing.integration.support import received

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
VOLATILE = {"occurred_at", "assignment_id", "expires_at"}
"""Event fields read from the clock or drawn at random: they differ between any two runs."""


@dataclass
class Routing:
    """A fresh routing database and the consumer's two batched handlers over it."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    received: Batched
    deadlines: Batched
    statements: list[str]

    async def together(self, handler: Batched, events: Sequence[Envelope[Any]]) -> int:
        """Handle the events as one run in one transaction; return the statements it ran."""
        async with self.sessionmaker.begin() as session:
            with self._counting() as statements:
                await handler.handle(events, session)
        return len(statements)

    async def one_by_one(self, handler: Batched, events: Sequence[Envelope[Any]]) -> None:
        """Handle each event alone, in a transaction of its own."""
        for one in events:
            async with self.sessionmaker.begin() as session:
                await handler.handle([one], session)

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        async with self.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql))]

    async def state(self) -> dict[str, Any]:
        """Everything the handlers write, without what the clock or chance decides."""
        outbox = await self.rows("SELECT key, payload FROM outbox ORDER BY id")
        events: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for key, payload in outbox:
            out = decode(payload)
            events[key].append((out.type, out.data.model_dump(mode="json", exclude=VOLATILE)))
        return {
            "interactions": await self.rows(
                "SELECT id, protocol, channel, party_kind, party_ref, priority, demand_type,"
                " demand_type_inferred, related_interaction_id, queue, matched_rule, status, rank,"
                " due_at, breached, received_at, escalated, correlation_id,"
                " escalate_at - queued_at FROM interactions ORDER BY id"
            ),
            "assignments": await self.rows(
                "SELECT interaction_id, agent_id, queue, channel, status,"
                " expires_at - offered_at FROM assignments ORDER BY interaction_id"
            ),
            # An offer sets its agent's idle-since to the time of the offer, after T0.
            "agents": await self.rows(
                f"SELECT id, status, idle_since > '{T0.isoformat()}' FROM agents ORDER BY id"
            ),
            "clocks": await self.rows("SELECT * FROM sla_clocks ORDER BY clock_id"),
            "events": dict(events),
        }

    @contextmanager
    def _counting(self) -> Iterator[list[str]]:
        del self.statements[:]
        counted: list[str] = []

        def count(*args: Any) -> None:
            counted.append(args[2])

        event.listen(self.engine.sync_engine, "before_cursor_execute", count)
        try:
            yield counted
        finally:
            event.remove(self.engine.sync_engine, "before_cursor_execute", count)
            self.statements += counted


@asynccontextmanager
async def routing_database() -> AsyncIterator[Routing]:
    async with scratch_database("routing") as url:
        await migrate("routing", url)
        settings = Settings(database_url=url, kafka_bootstrap=KAFKA_BOOTSTRAP)
        table = handlers(settings.rule_book(), settings)
        on_received, on_deadlines = table[InteractionReceived], table[SlaStarted]
        assert isinstance(on_received, Batched) and isinstance(on_deadlines, Batched)
        engine = create_async_engine(url)
        try:
            yield Routing(
                engine, async_sessionmaker(engine), on_received, on_deadlines, statements=[]
            )
        finally:
            await engine.dispose()


@asynccontextmanager
async def two_databases() -> AsyncIterator[tuple[Routing, Routing]]:
    async with routing_database() as batched, routing_database() as single:
        yield batched, single


async def add_agent(
    routing: Routing,
    agent_id: str,
    skills: dict[str, int],
    capacity: dict[str, int],
    *,
    status: str = "available",
    idle_for: timedelta = timedelta(0),
) -> None:
    async with routing.sessionmaker.begin() as session:
        await session.execute(
            text(
                "INSERT INTO agents (id, name, status, skills, capacity, idle_since,"
                " status_changed_at, updated_at) VALUES (:id, :id, :status, CAST(:skills AS jsonb),"
                " CAST(:capacity AS jsonb), :idle_since, :idle_since, :idle_since)"
            ),
            {
                "id": agent_id,
                "status": status,
                "skills": _json(skills),
                "capacity": _json(capacity),
                "idle_since": T0 - idle_for,
            },
        )


def _json(mapping: dict[str, int]) -> str:
    return "{" + ", ".join(f'"{key}": {value}' for key, value in mapping.items()) + "}"


def again(event: Envelope[Any]) -> Envelope[EventData]:
    """The same interaction received again under another event id (a producer's retry)."""
    return sample_event(event.type, **event.data.model_dump())


def clock(kind: str, interaction_id: UUID, clock_id: UUID, **fields: Any) -> Envelope[EventData]:
    return sample_event(
        f"atende.sla.{kind}.v1", interaction_id=interaction_id, clock_id=clock_id, **fields
    )


def work(demand_type: str, channel: str = "phone", **fields: Any) -> Envelope[EventData]:
    return received(demand_type=demand_type, channel=channel, content=None, **fields)


async def test_a_run_of_received_work_is_queued_and_offered_as_one_by_one() -> None:
    earlier = work("debt")
    arriving = [
        work("debt"),
        work("debt"),
        work("debt", "chat"),
        work("authorization"),
        work("enrolment"),
        work("debt"),
        work("clinical", priority="urgent"),
        work("debt", "chat"),
        work("debt"),
        work("debt"),
        work("enrolment", "chat"),
        work("debt"),
        work("authorization"),
    ]
    arriving.insert(5, again(arriving[0]))
    arriving.append(again(earlier))
    known = arriving[4].data.interaction_id  # type: ignore[attr-defined]
    # A deadline that came before its interaction, already breached.
    missed = clock("breached", known, uuid4(), due_at=T0)
    async with two_databases() as (batched, single):
        for routing in (batched, single):
            # Tied proficiency: the longest idle goes first, then whoever an offer left idle.
            await add_agent(routing, "ag-expert", {"dividas": 5}, {"phone": 1, "chat": 1})
            await add_agent(
                routing,
                "ag-both",
                {"dividas": 4, "autorizacoes": 2},
                {"phone": 2},
                idle_for=timedelta(minutes=1),
            )
            await add_agent(
                routing, "ag-debt", {"dividas": 4}, {"phone": 2}, idle_for=timedelta(minutes=2)
            )
            await add_agent(routing, "ag-away", {"adesoes": 5}, {"phone": 3}, status="away")
            await add_agent(routing, "ag-overflow", {"geral": 5}, {"phone": 3, "chat": 3})
            await routing.one_by_one(routing.received, [earlier])
            await routing.one_by_one(routing.deadlines, [missed])
        await batched.together(batched.received, arriving)
        await single.one_by_one(single.received, arriving)

        state = await batched.state()
        assert state == await single.state()
        statuses = {row[0]: row[11] for row in state["interactions"]}
        assert len(statuses) == 14, "each interaction queued once, the repeated ones too"
        assert sum(status == "offered" for status in statuses.values()) == 6
        offered_to = {row[0]: row[1] for row in state["assignments"]}
        # Equally skilled: the longest idle first, then the other, now idle longer.
        first, second = (offered_to[e.data.interaction_id] for e in arriving[:2])  # type: ignore[attr-defined]
        assert (first, second) == ("ag-debt", "ag-both")
        assert list(offered_to.values()).count("ag-both") == 2
        # The phone capacity ran out before the last debt calls; enrolment has no agent here.
        for event in arriving[-5:-1]:
            assert statuses[event.data.interaction_id] == "queued"  # type: ignore[attr-defined]
        ranks = {row[0]: row[12] for row in state["interactions"]}
        assert ranks[known] == BREACHED_RANK
        assert ranks[arriving[7].data.interaction_id] == URGENT_CLINICAL_RANK  # type: ignore[attr-defined]
        events = state["events"]
        assert sum(len(kinds) for kinds in events.values()) == 14 + 6
        for kinds in events.values():
            assert [kind for kind, _ in kinds][:1] == ["atende.interaction.queued.v1"]

        # Redelivered under new event ids: nothing more is queued, offered or emitted.
        await batched.together(batched.received, [again(e) for e in arriving])
        assert await batched.state() == state


async def test_deadlines_in_an_awkward_order_leave_what_one_by_one_leaves() -> None:
    breached, met, early = work("debt"), work("debt"), work("debt", "chat")
    late = work("debt")  # its clocks come before it does
    x1, x2, y1, z1 = uuid4(), uuid4(), uuid4(), uuid4()
    x, y, z = (e.data.interaction_id for e in (breached, met, late))  # type: ignore[attr-defined]
    w = early.data.interaction_id  # type: ignore[attr-defined]
    w1 = uuid4()
    day = timedelta(days=1)
    clocks = [
        clock("started", x, x1, occurred_at=T0, due_at=T0 + 3 * day),
        clock("started", z, z1, occurred_at=T0, due_at=T0 + 2 * day),
        clock("started", x, x2, occurred_at=T0, due_at=T0 + day),
        clock("warning", x, x1, occurred_at=T0 + timedelta(hours=1), due_at=T0 + 3 * day),
        clock("extended", x, x2, occurred_at=T0 + timedelta(hours=3), due_at=T0 + 5 * day),
        clock("started", y, y1, occurred_at=T0, due_at=T0 + day),
        clock("breached", x, x1, occurred_at=T0 + 3 * day, due_at=T0 + 3 * day),
        # An older extension after a newer one: the newer deadline stays.
        clock("extended", x, x2, occurred_at=T0 + timedelta(hours=2), due_at=T0 + 9 * day),
        clock("met", y, y1, occurred_at=T0 + timedelta(hours=5), due_at=T0 + day),
        clock("resumed", w, w1, occurred_at=T0 + timedelta(hours=1), due_at=T0 + 4 * day),
        # The same event twice (a producer's retry under another id) changes nothing more.
        clock("warning", x, x1, occurred_at=T0 + timedelta(hours=1), due_at=T0 + 3 * day),
        clock("resumed", w, w1, occurred_at=T0, due_at=T0 + 6 * day),
    ]
    async with two_databases() as (batched, single):
        for routing in (batched, single):
            await routing.one_by_one(routing.received, [breached, met, early])
        statements = await batched.together(batched.deadlines, clocks)
        await single.one_by_one(single.deadlines, clocks)
        assert statements <= 4, batched.statements
        for routing in (batched, single):
            await routing.one_by_one(routing.received, [late])

        state = await batched.state()
        assert state == await single.state()
        rows = {row[0]: (row[12], row[13], row[14]) for row in state["interactions"]}
        assert rows[x] == (BREACHED_RANK, T0 + 3 * day, True)
        assert rows[y] == (NORMAL_RANK, None, False)
        assert rows[z] == (NORMAL_RANK, T0 + 2 * day, False)
        assert rows[w] == (NORMAL_RANK, T0 + 4 * day, False)
        clocks_by_id = {row[0]: row for row in state["clocks"]}
        assert clocks_by_id[x2][2:4] == (T0 + 5 * day, T0 + timedelta(hours=3))


async def test_a_run_writes_with_a_bounded_number_of_statements() -> None:
    arriving = [work(demand) for demand in ("debt", "authorization", "enrolment") * 20]
    clocks = [
        clock(kind, e.data.interaction_id, clock_id, occurred_at=T0 + timedelta(hours=hours))  # type: ignore[attr-defined]
        for e in arriving
        for clock_id in (uuid4(), uuid4())
        for kind, hours in (("started", 0), ("warning", 1))
    ]
    async with routing_database() as routing:
        # No agent can take any of it: one query tells, whatever the size of the run.
        assert await routing.together(routing.received, arriving) <= 4, routing.statements
        assert await routing.together(routing.deadlines, clocks) <= 4, routing.statements

        # With agents: the agents and their loads, two statements for each agent locked, and the
        # offers written together (assignments, interactions, agents, events).
        for index in range(5):
            await add_agent(routing, f"ag-{index}", {"dividas": 1 + index}, {"phone": 3})
        more = [work("debt") for _ in range(40)]
        written = await routing.together(routing.received, more)
        assert written <= 4 + 2 * 5 + 4, routing.statements
        offered = await routing.rows("SELECT count(*) FROM assignments")
        assert offered == [(15,)]
