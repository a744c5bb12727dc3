"""Two routing instances on one database, and a restart mid-stream: no double offer, no overload.

Agents are simulated through the HTTP API (accept every offer, then complete it); interactions
arrive as `interaction.received` events. The checks read both the database and the events.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from atende_events.envelope import Envelope, EventData, decode
from atende_events.samples import sample_event
from atende_events.topics import ASSIGNMENTS, INTERACTIONS
from tests.infra import eventually, fresh_namespace, migrate, read_topic, scratch_database
from tests.routing.integration.support import (
    ANSWERED,
    DESK,
    new_agent_id,
    offer_to,
    publish,
    put_agent,
    received,
)
from tests.service_checks import build_app, serving

DEMANDS = ("debt", "authorization", "enrolment", "billing")
CAPACITY = {"phone": 1, "chat": 2}


def interactions(count: int) -> list[Envelope[EventData]]:
    """Build received interactions over four queues and two channels, with fresh ids."""
    chooser = random.Random(4)
    return [
        received(
            demand_type=chooser.choice(DEMANDS),
            channel=chooser.choice(("phone", "chat")),
            content=None,
        )
        for _ in range(count)
    ]


class Desk:
    """Simulated agents: each accepts every offer it sees and completes what it accepted."""

    def __init__(self, agents: Sequence[str], clients: Sequence[httpx.AsyncClient]) -> None:
        self.agents = list(agents)
        self.clients = list(clients)
        self.conflicts = 0
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._stopping.clear()
        self._tasks = [asyncio.create_task(self._work(agent)) for agent in self.agents]

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    async def _work(self, agent: str) -> None:
        chooser = random.Random(agent)
        while not self._stopping.is_set():
            client = chooser.choice(self.clients)
            answer = await client.get(f"/v1/agents/{agent}/assignments", headers=DESK)
            assert answer.status_code == 200, answer.text
            items: list[dict[str, Any]] = answer.json()["assignments"]
            for item in items:
                client = chooser.choice(self.clients)
                if item["status"] == "offered":
                    body: dict[str, Any] = {"agent_id": agent}
                    action = "accept"
                else:
                    body = {"agent_id": agent, **ANSWERED}
                    action = "complete"
                done = await client.post(
                    f"/v1/assignments/{item['id']}/{action}", json=body, headers=DESK
                )
                if done.status_code == 409:
                    self.conflicts += 1  # an offer that timed out meanwhile
                else:
                    assert done.status_code == 200, done.text
            if not items:
                await asyncio.sleep(0.5)


@asynccontextmanager
async def database(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def assert_database_holds(engine: AsyncEngine, expected: int) -> None:
    """Every interaction resolved once; never two open offers; never over capacity."""
    assert await scalar(engine, "SELECT count(*) FROM interactions") == expected
    assert await scalar(engine, "SELECT count(*) FROM interactions WHERE status = 'resolved'") == (
        expected
    )
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM (SELECT interaction_id FROM assignments "
            "WHERE status = 'completed' GROUP BY interaction_id HAVING count(*) > 1) twice",
        )
        == 0
    )
    # Two offers of one interaction must never overlap in time.
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM assignments a JOIN assignments b "
            "ON a.interaction_id = b.interaction_id AND a.id <> b.id "
            "AND b.offered_at >= a.offered_at AND b.offered_at < coalesce(a.ended_at, 'infinity')",
        )
        == 0
    )
    # At the moment of each offer, the agent's open work on that channel is within capacity.
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM assignments a JOIN agents g ON g.id = a.agent_id "
            "WHERE (SELECT count(*) FROM assignments b WHERE b.agent_id = a.agent_id "
            "AND b.channel = a.channel AND b.offered_at <= a.offered_at "
            "AND coalesce(b.ended_at, 'infinity') > a.offered_at) "
            "> (g.capacity ->> a.channel)::int",
        )
        == 0
    )


async def assert_events_hold(namespace: str, sent: Sequence[Envelope[EventData]]) -> None:
    """From the emitted events alone: one queueing and one resolution each, no overlap, capacity."""
    expected = len(sent)
    channel_of = {str(e.data.interaction_id): e.data.channel.value for e in sent}  # type: ignore[attr-defined]
    records = await read_topic(namespace + INTERACTIONS, at_least=4 * expected, within=30)
    records += await read_topic(namespace + ASSIGNMENTS, at_least=expected, within=30)
    events = [decode(r.value) for r in records]
    events = sorted((e for e in events if e.source == "/atende/routing"), key=lambda e: e.time)
    by_kind = Counter(e.type.split(".")[2] for e in events)
    assert by_kind["queued"] == expected
    assert by_kind["resolved"] == expected
    assert by_kind["accepted"] == expected
    assert by_kind["offered"] == expected + by_kind["offer_declined"]
    assert len({e.id for e in events}) == len(events), "no event published twice"

    open_offer: dict[str, str] = {}
    load: dict[tuple[str, str], int] = defaultdict(int)
    peak: dict[tuple[str, str], int] = defaultdict(int)
    for event in events:
        data: Any = event.data
        kind = event.type.split(".")[2]
        interaction = str(data.interaction_id) if hasattr(data, "interaction_id") else ""
        if kind == "offered":
            assert interaction not in open_offer, f"{interaction} offered twice at once"
            open_offer[interaction] = data.agent_id
            slot = (data.agent_id, channel_of[interaction])
            load[slot] += 1
            peak[slot] = max(peak[slot], load[slot])
        elif kind in ("offer_declined", "resolved", "transferred"):
            agent = open_offer.pop(interaction)
            assert agent == data.agent_id
            load[(agent, channel_of[interaction])] -= 1
    assert not open_offer
    assert peak, "agents got work"
    assert all(count <= CAPACITY[channel] for (_, channel), count in peak.items()), peak


async def test_two_instances_never_offer_one_interaction_twice_nor_overload_an_agent() -> None:
    count = 500
    namespace = await fresh_namespace()
    settings = {
        "topic_namespace": namespace,
        "consumer_group": f"{namespace}atende-routing",
        "log_level": "WARNING",  # a log line per request would cost more than the routing
    }
    async with scratch_database("routing") as url, database(url) as engine:
        await migrate("routing", url)
        async with (
            serving(build_app("routing", url, **settings)) as one,
            serving(build_app("routing", url, **settings)) as two,
        ):
            agents = [new_agent_id() for _ in range(20)]
            for index, agent in enumerate(agents):
                skills = {"dividas": 1 + index % 5, "autorizacoes": 1 + (index + 2) % 5}
                skills["adesoes"] = 1 + (index + 4) % 5
                await put_agent(one if index % 2 else two, agent, skills, CAPACITY)
            desk = Desk(agents, [one, two])
            desk.start()
            sent = interactions(count)
            await publish(namespace, *sent)
            await eventually(
                lambda: _resolved(engine, count),
                within=120,
                interval=0.5,
                what=f"{count} interactions resolved",
            )
            await desk.stop()
        await assert_database_holds(engine, count)
    await assert_events_hold(namespace, sent)


async def _resolved(engine: AsyncEngine, count: int) -> bool:
    done = await scalar(engine, "SELECT count(*) FROM interactions WHERE status = 'resolved'")
    return bool(done == count)


async def test_a_restart_mid_stream_loses_no_interaction_and_duplicates_no_assignment() -> None:
    count = 200
    namespace = await fresh_namespace()
    settings = {
        "topic_namespace": namespace,
        "consumer_group": f"{namespace}atende-routing",
        "log_level": "WARNING",
    }
    sent = interactions(count)
    async with scratch_database("routing") as url, database(url) as engine:
        await migrate("routing", url)
        agents = [new_agent_id() for _ in range(20)]

        first_stopped = asyncio.Event()

        async def feed() -> None:
            for start in range(0, count, 20):
                if start >= count * 3 // 4:
                    # The last quarter only once the first instance is gone: it must stop with
                    # work still on Kafka, however fast it consumes.
                    await first_stopped.wait()
                await publish(namespace, *sent[start : start + 20])

        feeding = asyncio.create_task(feed())
        async with serving(build_app("routing", url, **settings)) as first:
            for agent in agents:
                await put_agent(
                    first, agent, {"dividas": 3, "autorizacoes": 3, "adesoes": 3}, CAPACITY
                )
            desk = Desk(agents, [first])
            desk.start()
            await eventually(
                lambda: _at_least(engine, "SELECT count(*) FROM interactions", count // 4),
                within=60,
                what="a quarter of the interactions queued",
            )
            await desk.stop()
        first_stopped.set()
        # stopped mid-stream: offers open, interactions still on Kafka
        queued_before = await scalar(engine, "SELECT count(*) FROM interactions")
        assert queued_before < count
        async with serving(build_app("routing", url, **settings)) as second:
            desk = Desk(agents, [second])
            desk.start()
            await eventually(
                lambda: _resolved(engine, count),
                within=120,
                interval=0.5,
                what=f"{count} interactions resolved after the restart",
            )
            await desk.stop()
        await feeding
        await assert_database_holds(engine, count)
    await assert_events_hold(namespace, sent)


async def _at_least(engine: AsyncEngine, sql: str, threshold: int) -> bool:
    return bool(await scalar(engine, sql) >= threshold)


async def test_offer_timeout_and_escalation_timers_survive_a_restart() -> None:
    namespace = await fresh_namespace()
    settings = {
        "topic_namespace": namespace,
        "consumer_group": f"{namespace}atende-routing",
        "offer_timeout": 2.0,
        "escalation_after": 2.0,
        "timer_interval": 0.1,
    }
    specialist, generalist = new_agent_id(), new_agent_id()
    event = received(demand_type="enrolment", content=None)
    async with scratch_database("routing") as url, database(url) as engine:
        await migrate("routing", url)
        async with serving(build_app("routing", url, **settings)) as first:
            await put_agent(first, specialist, {"adesoes": 5})
            await put_agent(first, generalist, {"geral": 4})
            await publish(namespace, event)
            await offer_to(first, specialist)
        # stopped with the offer open: its timeout is a row, not a task of the stopped process
        assert (
            await scalar(engine, "SELECT count(*) FROM assignments WHERE status = 'offered'") == 1
        )
        async with serving(build_app("routing", url, **settings)) as second:
            offer = await offer_to(second, generalist)
            assert offer["interaction_id"] == str(event.data.interaction_id)  # type: ignore[attr-defined]
            agent = (await second.get(f"/v1/agents/{specialist}", headers=DESK)).json()
            assert agent["status"] == "away"
        statuses = await scalar(
            engine, "SELECT string_agg(status, ',' ORDER BY offered_at) FROM assignments"
        )
        assert statuses == "timed_out,offered"


async def test_agent_calls_racing_batches_of_queueing_and_deadlines_never_deadlock() -> None:
    """Consumer batches that offer (agents locked) and then re-rank for clocks (interactions
    locked) run against agents accepting and completing: one lock order, so no deadlock."""
    rounds, per_round = 12, 25
    namespace = await fresh_namespace()
    settings = {
        "topic_namespace": namespace,
        "consumer_group": f"{namespace}atende-routing",
        "log_level": "WARNING",
        "consumer_linger_ms": 200,  # large batches that mix received and clock events
    }
    sent = interactions(rounds * per_round)
    async with scratch_database("routing") as url, database(url) as engine:
        await migrate("routing", url)
        deadlocks_before = await _deadlocks(engine)
        async with serving(build_app("routing", url, **settings)) as client:
            agents = [new_agent_id() for _ in range(12)]
            for agent in agents:
                await put_agent(
                    client, agent, {"dividas": 3, "autorizacoes": 3, "adesoes": 3}, CAPACITY
                )
            desk = Desk(agents, [client])
            desk.start()
            for start in range(0, len(sent), per_round):
                fresh = sent[start : start + per_round]
                # Clocks of work already offered or accepted ride in the same poll as new work,
                # after it: the batch locks agents for the new offers, then those interactions.
                clocks = [_clock_of(event) for event in sent[max(0, start - per_round) : start]]
                await publish(namespace, *fresh, *clocks)
                await asyncio.sleep(0.2)
            await eventually(
                lambda: _resolved(engine, len(sent)),
                within=120,
                interval=0.5,
                what=f"{len(sent)} interactions resolved",
            )
            await desk.stop()
        await assert_database_holds(engine, len(sent))
        await asyncio.sleep(1.0)  # the closed backends flush their statistics as they exit
        assert await _deadlocks(engine) == deadlocks_before


def _clock_of(event: Envelope[EventData]) -> Envelope[EventData]:
    data: Any = event.data
    return sample_event(
        "atende.sla.warning.v1",
        interaction_id=data.interaction_id,
        occurred_at=data.received_at,
        due_at=data.received_at + timedelta(days=5),
    )


async def _deadlocks(engine: AsyncEngine) -> int:
    return int(
        await scalar(
            engine, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
    )
