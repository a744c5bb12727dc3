"""Batched handlers: a run of events merged in one statement leaves what one by one leaves.

The batches are applied as the consumer runner applies a poll: one transaction, one inbox claim
for all, each run of consecutive events with the same `Batched` handler in one call, then the
rollups settled. The same events one by one (one transaction each) must give the same rows.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics import rollups
from analytics.service import ASSIGNMENTS, CLOCKS, INTERACTIONS
from atende_events import samples
from atende_events.consumer import Batched, claim_many
from atende_events.envelope import Envelope, EventData, new_event
from atende_events.registry import SOURCES
from tests.analytics.integration.support import at, party
from tests.analytics.integration.test_rollups import (
    HANDLERS,
    apply,
    assert_rollups_match_read_models,
    database,
    everything,
    rollup_rows,
)

CONSUMER = "analytics-tests"


def envelopes(events: Sequence[EventData]) -> list[Envelope[Any]]:
    return [new_event(e, source=SOURCES[e.event_type], time=e.occurred_at) for e in events]


async def apply_batch(
    maker: async_sessionmaker[AsyncSession], batch: Sequence[Envelope[Any]]
) -> None:
    """Handle a poll's events as the runner does: one claim, runs of one handler, one settle."""
    async with maker.begin() as session:
        claimed = await claim_many(session, consumer=CONSUMER, events=batch)
        runs: list[tuple[Any, list[Envelope[Any]]]] = []
        for envelope in batch:
            handler = HANDLERS[envelope.type]
            if not runs or runs[-1][0] is not handler:
                runs.append((handler, []))
            if envelope.id in claimed:  # an id twice in a poll is handled once
                claimed.discard(envelope.id)
                runs[-1][1].append(envelope)
        for handler, fresh in runs:
            if isinstance(handler, Batched):
                if fresh:
                    await handler.handle(fresh, session)
            else:
                for envelope in fresh:
                    await handler(envelope, session)
        await rollups.settle(session)


async def read_models(maker: async_sessionmaker[AsyncSession]) -> dict[str, list[Any]]:
    """Every row of the tables the batched handlers write, in a comparable order."""
    async with maker.begin() as session:
        return {
            table.name: sorted(
                (tuple(row) for row in await session.execute(select(table))), key=str
            )
            for table in (INTERACTIONS, ASSIGNMENTS, CLOCKS)
        }


def disagreements() -> list[EventData]:
    """Events that disagree at the very same moments: every tie rule of the merge is needed."""
    events: list[EventData] = []
    for n in range(3):
        iid, ref, t = uuid.uuid4(), party(f"tie{n}"), at(17, 12) + timedelta(hours=n)
        first, second = uuid.uuid4(), uuid.uuid4()
        step = {"interaction_id": iid, "assignment_id": second}
        minute = timedelta(minutes=1)
        events += [
            samples.make_interaction_received(
                interaction_id=iid, occurred_at=t, received_at=t, party_ref=ref, channel="phone"
            ),
            samples.make_interaction_received(  # a second receipt that says otherwise
                interaction_id=iid,
                occurred_at=t - minute,
                received_at=t - minute,
                party_ref=ref,
                channel="chat",
                demand_type=None,
            ),
            samples.make_interaction_queued(interaction_id=iid, occurred_at=t, queue="geral"),
            samples.make_interaction_queued(
                interaction_id=iid, occurred_at=t, queue="saude", demand_type="clinical"
            ),
            samples.make_interaction_queued(
                interaction_id=iid, occurred_at=t, queue="sucesso_cliente", demand_type="followup"
            ),
            samples.make_interaction_offered(
                interaction_id=iid, assignment_id=first, agent_id="ana", occurred_at=t + minute
            ),
            samples.make_interaction_offer_declined(
                interaction_id=iid, assignment_id=first, agent_id="ana", occurred_at=t + minute
            ),
            samples.make_interaction_offered(
                **step, agent_id="bruno", queue="geral", occurred_at=t + 2 * minute
            ),
            samples.make_interaction_accepted(
                **step, agent_id="bruno", queue="geral", occurred_at=t + 3 * minute
            ),
            samples.make_interaction_accepted(
                **step, agent_id="bruno-2", queue="saude", occurred_at=t + 3 * minute
            ),
            samples.make_interaction_waiting(**step, occurred_at=t + 4 * minute),
            samples.make_interaction_resumed(**step, occurred_at=t + 4 * minute),
            samples.make_interaction_transferred(
                **step, from_queue="geral", to_queue="adesoes", occurred_at=t + 5 * minute
            ),
        ]
        for resolution, reason, seconds, first_time, later in (
            ("resolved", "authorized", 300.0, True, 0),
            ("unresolved", None, 120.5, False, 0),
            ("resolved", "zz", 10.0, True, 30),
        ):
            events.append(
                samples.make_interaction_resolved(
                    **step,
                    agent_id="bruno",
                    queue="adesoes",
                    channel="phone",
                    party_ref=ref,
                    resolution=resolution,
                    reason_code=reason,
                    handle_seconds=seconds,
                    first_assignment=first_time,
                    sensitive=not first_time,
                    occurred_at=t + (10 + later) * minute,
                )  # fmt: skip
            )
        events.append(  # after the resolution: closed is final
            samples.make_interaction_queued(interaction_id=iid, occurred_at=t + 60 * minute)
        )
        clock = {"interaction_id": iid, "clock_id": uuid.uuid4(), "policy_id": "p"}
        due = t + timedelta(days=5)
        events += [
            samples.make_sla_started(**clock, occurred_at=t, due_at=due),
            samples.make_sla_started(**clock, occurred_at=t, due_at=due - minute),
            samples.make_sla_extended(**clock, occurred_at=t + minute, due_at=due + 9 * minute),
            samples.make_sla_extended(**clock, occurred_at=t + minute, due_at=due + 7 * minute),
            samples.make_sla_warning(**clock, occurred_at=t + 2 * minute, due_at=due),
            samples.make_sla_warning(**clock, occurred_at=t + minute, due_at=due),
            samples.make_sla_paused(**clock, occurred_at=t + 3 * minute, due_at=due),
            samples.make_sla_resumed(**clock, occurred_at=t + 3 * minute, due_at=due),
            samples.make_sla_resumed(**clock, occurred_at=t + 2 * minute, due_at=due),
            samples.make_sla_met(**clock, occurred_at=t + 10 * minute, due_at=due),
            samples.make_sla_breached(**clock, occurred_at=t + 10 * minute, due_at=due),
            samples.make_sla_met(**clock, occurred_at=t + 12 * minute, due_at=due),
        ]
    return events


def topic_order(batch: Sequence[Envelope[Any]]) -> list[Envelope[Any]]:
    """Group a poll by handler, keeping order within each, as the runner's partitions do."""
    groups: dict[int, list[Envelope[Any]]] = {}
    for envelope in batch:
        groups.setdefault(id(HANDLERS[envelope.type]), []).append(envelope)
    return [envelope for group in groups.values() for envelope in group]


@pytest.mark.parametrize("seed", [3, 4])
async def test_batches_leave_what_one_by_one_leaves(seed: int) -> None:
    rng = random.Random(seed)
    events = envelopes(everything() + disagreements())
    rng.shuffle(events)
    events += rng.sample(events, len(events) // 5)  # redeliveries, some within one poll
    polls: list[list[Envelope[Any]]] = []
    while events:
        size = rng.choice([1, 7, 50, 200])
        polls.append(topic_order(events[:size]))
        events = events[size:]
    in_sequence = [envelope for poll in polls for envelope in poll]

    async with database() as one_by_one, database() as batched:
        await apply(one_by_one, [e.data for e in in_sequence], ids=[e.id for e in in_sequence])
        for poll in polls:
            await apply_batch(batched, poll)

        assert await read_models(batched) == await read_models(one_by_one)
        assert await rollup_rows(batched) == await rollup_rows(one_by_one)
        await assert_rollups_match_read_models(batched)


async def test_one_interaction_many_times_in_one_batch() -> None:
    events = disagreements()
    iid = events[0].interaction_id  # type: ignore[attr-defined]
    mine = envelopes([e for e in events if e.interaction_id == iid])  # type: ignore[attr-defined]
    async with database() as one_by_one, database() as batched:
        await apply(one_by_one, [e.data for e in mine], ids=[e.id for e in mine])
        await apply_batch(batched, topic_order(mine))
        await apply_batch(batched, topic_order(mine))  # all again: the inbox stops them

        assert await read_models(batched) == await read_models(one_by_one)
        assert await rollup_rows(batched) == await rollup_rows(one_by_one)


async def test_a_batch_writes_each_table_in_one_statement() -> None:
    """50 interactions: received and queued, two clocks started: one upsert per table."""
    events: list[EventData] = []
    clocks: list[EventData] = []
    for n in range(50):
        iid, t = uuid.uuid4(), at(18, 12) + timedelta(seconds=n)
        events += [
            samples.make_interaction_received(interaction_id=iid, occurred_at=t, received_at=t),
            samples.make_interaction_queued(interaction_id=iid, occurred_at=t, queue="geral"),
        ]
        for kind in ("regulatory", "operational"):
            clocks.append(
                samples.make_sla_started(
                    interaction_id=iid, kind=kind, occurred_at=t, due_at=t + timedelta(days=1)
                )
            )
    async with database() as maker:
        statements: list[str] = []

        def note(*args: Any) -> None:
            statements.append(args[2])

        engine = maker.kw["bind"]
        event.listen(engine.sync_engine, "before_cursor_execute", note)
        try:
            await apply_batch(maker, envelopes(events + clocks))
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", note)

        writes = [s.split("(")[0].strip() for s in statements if s.startswith("INSERT")]
        assert writes.count("INSERT INTO interactions") == 1
        assert writes.count("INSERT INTO clocks") == 1
        async with maker.begin() as session:
            rows = (await session.execute(select(INTERACTIONS.c.queue))).scalars().all()
            started = (await session.execute(select(CLOCKS.c.started_at))).scalars().all()
        assert rows == ["geral"] * 50 and len(started) == 100 and None not in started
