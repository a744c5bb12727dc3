"""A run of lifecycle events handled as a set leaves what its events one by one leave."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
import yaml
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from atende_events.consumer import Batched
from atende_events.envelope import Envelope, decode
from atende_events.intake import InteractionReceived
from sla.consumers import handlers
from sla.domain.book import PolicyBook, load_book
from tests.infra import migrate, scratch_database
from tests.sla.integration.support import TEST_BOOK, lifecycle, received

BOOK: PolicyBook = load_book(yaml.safe_load(TEST_BOOK))
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)

Scenario = Callable[[Sequence[UUID]], list[Envelope[Any]]]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def several_interactions(ids: Sequence[UUID]) -> list[Envelope[Any]]:
    """The hot path: receipts, then queues that decide more clocks."""
    web, phone, urgent, ombudsman = ids
    return [
        received(interaction_id=web, channel="web", demand_type=None, at=at(0)),
        received(interaction_id=phone, channel="phone", at=at(1)),
        received(interaction_id=urgent, channel="web", priority="urgent", at=at(2)),
        received(interaction_id=ombudsman, channel="ombudsman", at=at(3)),
        lifecycle("queued", web, at(4), queue="geral", demand_type="high_complexity"),
        lifecycle("queued", phone, at(4), queue="geral", demand_type="information"),
        lifecycle("queued", urgent, at(5), queue="geral", demand_type="information"),
        lifecycle("queued", ombudsman, at(6), queue="ouvidoria", demand_type="complaint"),
        lifecycle("accepted", phone, at(7)),
        lifecycle("resolved", urgent, at(8), resolution="resolved"),
    ]


def one_interaction_in_an_awkward_order(ids: Sequence[UUID]) -> list[Envelope[Any]]:
    """Events of one interaction before its receipt, twice over, and pauses in the run."""
    (iid,) = ids
    return [
        lifecycle("accepted", iid, at(12)),
        lifecycle("resumed", iid, at(13)),  # no wait before it: nothing to close
        received(interaction_id=iid, channel="phone", at=at(10)),
        lifecycle("queued", iid, at(11), queue="geral", demand_type="information"),
        lifecycle("waiting", iid, at(20)),
        lifecycle("resumed", iid, at(25)),
        lifecycle("waiting", iid, at(30)),
        lifecycle("transferred", iid, at(31), to_queue="dividas"),
        lifecycle("accepted", iid, at(11)),  # an earlier accept wins
        lifecycle("resumed", iid, at(40)),
        lifecycle("resolved", iid, at(50), resolution="unresolved", queue="dividas"),
        lifecycle("resolved", iid, at(55), resolution="resolved", queue="dividas"),
    ]


def resolutions_before_receipts(ids: Sequence[UUID]) -> list[Envelope[Any]]:
    """Stop events first, interleaved across interactions; the receipts come last."""
    first, second = ids
    return [
        lifecycle("resolved", first, at(30), resolution="resolved"),
        lifecycle("waiting", second, at(5)),
        lifecycle("resolved", second, at(200), resolution="resolved"),
        lifecycle("resumed", second, at(15)),
        received(interaction_id=second, channel="web", at=at(0)),
        received(interaction_id=first, channel="web", priority="urgent", at=at(29.99)),
    ]


SCENARIOS: dict[str, tuple[int, Scenario]] = {
    "several interactions": (4, several_interactions),
    "one interaction in an awkward order": (1, one_interaction_in_an_awkward_order),
    "resolutions before receipts": (2, resolutions_before_receipts),
}


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[AsyncEngine]:
    async with scratch_database("sla_batch") as url:
        await migrate("sla", url)
        engine = create_async_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


def handler() -> Batched:
    lifecycle_handler = handlers(BOOK)[InteractionReceived]
    assert isinstance(lifecycle_handler, Batched)
    return lifecycle_handler


async def handle(engine: AsyncEngine, runs: Sequence[Sequence[Envelope[Any]]]) -> None:
    """Handle each run in a transaction of its own, as the consumer runner does."""
    sessionmaker = async_sessionmaker(engine)
    for run in runs:
        async with sessionmaker.begin() as session:
            await handler().handle(run, session)


async def state_of(engine: AsyncEngine, ids: Sequence[UUID]) -> dict[str, Any]:
    """Read the rows and the outbox events of these interactions, ids replaced by positions."""
    position = {iid: n for n, iid in enumerate(ids)}
    given = {"ids": list(ids)}
    async with engine.connect() as conn:
        facts = await conn.execute(
            text(
                "SELECT interaction_id, received_at, channel, party_kind, priority, demand_type,"
                " queue, first_accepted_at, completed_at, answered_at, correlation_id"
                " FROM sla_interactions WHERE interaction_id = ANY(:ids)"
            ),
            given,
        )
        pauses = await conn.execute(
            text(
                "SELECT interaction_id, waiting_at, resumed_at FROM sla_pauses"
                " WHERE interaction_id = ANY(:ids) ORDER BY waiting_at, id"
            ),
            given,
        )
        clocks = await conn.execute(
            text(
                "SELECT clock_id, interaction_id, kind, clock_type, policy_id, started_at,"
                " budget_seconds, warn_at, due_at, state, warned_at, closed_at,"
                " business_seconds_elapsed FROM sla_clocks WHERE interaction_id = ANY(:ids)"
            ),
            given,
        )
        outbox = await conn.execute(
            text(
                "SELECT key, topic, payload FROM outbox"
                " WHERE key = ANY(CAST(:keys AS text[])) ORDER BY id"
            ),
            {"keys": [str(iid) for iid in ids]},
        )
    slots: dict[UUID, tuple[Any, ...]] = {}
    clock_rows = set()
    for clock_id, iid, *rest in clocks.all():
        slots[clock_id] = (position[iid], rest[0], rest[1])
        clock_rows.add((position[iid], *rest))
    events = []
    for key, topic, payload in outbox.all():
        envelope = decode(payload)
        data = envelope.data.model_dump()
        data["interaction_id"] = position[data["interaction_id"]]
        data["clock_id"] = slots[data["clock_id"]]
        events.append(
            (position[UUID(key)], topic, envelope.type, envelope.correlationid, envelope.time, data)
        )
    return {
        "facts": {(position[iid], *rest) for iid, *rest in facts.all()},
        "pauses": [(position[iid], *rest) for iid, *rest in pauses.all()],
        "clocks": clock_rows,
        "events": events,
    }


def kind_of(event: tuple[Any, ...]) -> str:
    """Name an event of `state_of` as the sla topic does: started, paused, met..."""
    return str(event[2]).removeprefix("atende.sla.").removesuffix(".v1")


def renamed(scenario: Scenario, count: int) -> tuple[list[UUID], list[Envelope[Any]]]:
    """Build the scenario for fresh interactions, its correlation ids named by position."""
    ids = [uuid4() for _ in range(count)]
    position = {iid: n for n, iid in enumerate(ids)}
    events = [
        e.model_copy(update={"correlationid": f"interaction-{position[e.data.interaction_id]}"})
        for e in scenario(ids)
    ]
    return ids, events


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_run_leaves_the_rows_and_events_its_events_one_by_one_leave(
    engine: AsyncEngine, name: str
) -> None:
    count, scenario = SCENARIOS[name]
    one_ids, one_by_one = renamed(scenario, count)
    await handle(engine, [[e] for e in one_by_one])
    expected = await state_of(engine, one_ids)
    assert expected["events"], "the scenario moves some clock"

    run_ids, run = renamed(scenario, count)
    await handle(engine, [run])
    assert await state_of(engine, run_ids) == expected

    split_ids, split = renamed(scenario, count)
    await handle(engine, [split[:3], split[3:4], split[4:]])
    assert await state_of(engine, split_ids) == expected


async def test_a_clock_paused_and_resumed_within_a_run_says_so_in_order(
    engine: AsyncEngine,
) -> None:
    (iid,), run = renamed(one_interaction_in_an_awkward_order, 1)
    await handle(engine, [run])
    state = await state_of(engine, [iid])
    by_policy: dict[str, list[Any]] = {}
    for event in state["events"]:
        data = event[5]
        by_policy.setdefault(data["policy_id"], []).append((kind_of(event), data))
    resolution = by_policy["test-resolution-1h"]
    assert [kind for kind, _ in resolution] == [
        "started",
        "paused",
        "resumed",
        "paused",
        "resumed",
        "met",
    ]
    assert [data["occurred_at"] for _, data in resolution] == [
        at(10),
        at(20),
        at(25),
        at(30),
        at(40),
        at(50),
    ]
    assert resolution[-1][1]["business_seconds_elapsed"] == 25 * 60  # 40 minutes, 15 waiting
    first_response = by_policy["test-first-response"]
    assert [kind for kind, _ in first_response] == ["started", "met"]
    # Met at the accept known when it started; an earlier accept that came later is only a fact.
    assert first_response[-1][1]["occurred_at"] == at(12)
    assert state["pauses"] == [(0, at(20), at(25)), (0, at(30), at(40))]
    facts = state["facts"].pop()
    assert facts[6:10] == ("dividas", at(11), at(50), at(55))  # queue and the stop moments


async def test_a_receipt_and_its_resolution_in_one_run_start_then_meet_the_clock(
    engine: AsyncEngine,
) -> None:
    call = received(channel="web", at=at(0))
    iid = call.data.interaction_id
    await handle(engine, [[call, lifecycle("resolved", iid, at(15), resolution="resolved")]])
    events = (await state_of(engine, [iid]))["events"]
    assert [kind_of(event) for event in events] == ["started", "met"]
    assert events[-1][5]["business_seconds_elapsed"] == 15 * 60


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    """Collect the statements the engine sends while the block runs."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sqlalchemy_event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sqlalchemy_event.remove(engine.sync_engine, "before_cursor_execute", count)


async def statements_for(engine: AsyncEngine, size: int) -> tuple[int, int]:
    """Count the statements of a run of `size` receipts, then of a run of their queues."""
    ids = [uuid4() for _ in range(size)]
    receipts = [
        received(interaction_id=iid, channel="phone", at=at(n / 10)) for n, iid in enumerate(ids)
    ]
    queues = [
        lifecycle("queued", iid, at(1), queue="geral", demand_type="high_complexity") for iid in ids
    ]
    sessionmaker = async_sessionmaker(engine)
    counts = []
    for run in (receipts, queues):
        async with sessionmaker.begin() as session:
            await session.connection()  # the BEGIN is not the handler's
            with counting(engine) as statements:
                await handler().handle(run, session)
        counts.append(len(statements))
    return counts[0], counts[1]


async def test_a_run_writes_with_as_many_statements_whatever_its_size(
    engine: AsyncEngine,
) -> None:
    small = await statements_for(engine, 2)
    large = await statements_for(engine, 40)
    assert small == large
    # Lock and read the interactions, pauses and clocks; write facts, clocks, outbox.
    receipts, queues = large
    assert receipts == 6
    assert queues == 6
