"""Item 4: time from an agent becoming available to its offer, with many agents and a long queue.

Routing runs alone on a fresh database. `agents` agents sign in (offline), then `waiting`
`interaction.received` events are published straight to its topic (what intake would publish)
and routing queues them all; nobody is available, so they wait. Then, open loop at `rate` per
second, an agent that is away becomes available (`PUT /v1/agents/{id}/status`), and the time to
its first `interaction.offered` as fetched by a Kafka consumer is measured; the offer's own
time stamp (written in routing's transaction) and the HTTP answer are kept too. The agent then
goes away again and rejects what it was offered, so the queue stays as long as it was.

Half the agents are voice agents (one phone call at a time), half digital (chat 2, WhatsApp,
e-mail, web and app 1 each). Escalation is set to an hour: every seeded interaction arrives at
once, and their synchronised escalation step would be an artefact of the seeding.

The queue is seeded into a database created seconds before, so its tables have no planner
statistics until autovacuum's next round (up to a minute later, in the middle of the trials).
Without them PostgreSQL sorts all the waiting work for every offer (10 ms instead of 0.5 ms
with 5,000 waiting, measured) instead of walking the queue's index; a live routing database
has its statistics, so the benchmark analyses the tables once the queue is seeded.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from atende_events.envelope import encode, new_event
from atende_events.intake import SOURCE as INTAKE_SOURCE
from atende_events.intake import Channel, InteractionReceived, PartyKind, Priority
from atende_events.kafka import make_producer
from atende_events.pseudonym import party_ref
from atende_events.topics import INTERACTIONS
from bench.harness import Figure, pct, poll_until, say, service_key
from bench.loadgen import CHANNELS, SUBJECTS
from bench.observe import Observer, Seen
from bench.system import KAFKA_BOOTSTRAP, PG_ASYNCPG, system

SPECIALTIES = ["adesoes", "dividas", "prestadores", "autorizacoes", "geral"]
VOICE = {"phone": 1}
DIGITAL = {"chat": 2, "whatsapp": 1, "email": 1, "web": 1, "app": 1}
PSEUDONYM_KEY = b"bench pseudonym key, 32 bytes at least"


def received_event(n: int, rng: random.Random) -> bytes:
    """An interaction as intake would publish it, with the generator's channel and text mix."""
    now = datetime.now(UTC)
    subject, description = rng.choice(SUBJECTS)
    kind = "member" if rng.random() < 0.7 else "provider"
    data = InteractionReceived(
        occurred_at=now,
        interaction_id=uuid.uuid4(),
        protocol=f"345678{now:%Y%m%d}{n % 1_000_000:06d}",
        received_at=now,
        channel=Channel(rng.choice(CHANNELS)),
        party_kind=PartyKind(kind),
        party_ref=party_ref(PSEUDONYM_KEY, kind=kind, party_id=f"{rng.randrange(10**11):011d}"),
        priority=Priority.NORMAL,
        locale="pt-BR",
        content=f"{subject}\n{description}",
    )
    return encode(new_event(data, source=INTAKE_SOURCE, time=now))


@dataclass
class Trial:
    offer_ms: float
    """Status change sent -> first offer fetched from Kafka."""
    written_ms: float
    """Status change sent -> the offer's own time (committed in routing's transaction)."""
    http_ms: float
    """Status change sent -> routing answered (it fills the agent before it answers)."""


class Desk:
    """Agents that become available, collect their offers from Kafka, go away and reject them."""

    def __init__(self, client: httpx.AsyncClient, url: str, key: str) -> None:
        self.client = client
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.offers: dict[str, list[Seen]] = {}
        self.arrived: dict[str, asyncio.Event] = {}

    def offered(self, seen: Seen) -> None:
        agent = str(seen.data.get("agent_id"))
        self.offers.setdefault(agent, []).append(seen)
        if agent in self.arrived:
            self.arrived[agent].set()

    async def call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        response = await self.client.request(
            method, f"{self.url}{path}", json=body, headers=self.headers
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def trial(self, agent: str, *, within: float = 30) -> Trial | None:
        """Make the agent available, time its first offer, then send it away and reject all."""
        await self.reject_all(agent)  # offers that arrived after the last trial's rejections
        self.arrived[agent] = event = asyncio.Event()
        sent = time.time()
        await self.call("PUT", f"/v1/agents/{agent}/status", {"status": "available"})
        answered = time.time()
        # Routing fills the agent before it answers, but the answer's load predates the fill.
        profile = await self.call("GET", f"/v1/agents/{agent}", None)
        expected = sum(profile["load"].values())
        trial: Trial | None = None
        try:
            async with asyncio.timeout(within if expected else 1.0):
                await event.wait()
                first = self.offers[agent][0]
                written = datetime.fromisoformat(first.data["occurred_at"]).timestamp()
                trial = Trial(
                    (first.at - sent) * 1000, (written - sent) * 1000, (answered - sent) * 1000
                )
                while len(self.offers[agent]) < expected:  # the rest of the fill
                    event.clear()
                    await event.wait()
        except TimeoutError:
            say(f"  no offer reached {agent} in time ({expected} expected)")
        del self.arrived[agent]
        await self.call("PUT", f"/v1/agents/{agent}/status", {"status": "away"})
        await asyncio.sleep(0.2)  # offers committed before the agent went away, still in flight
        await self.reject_all(agent)
        return trial

    async def reject_all(self, agent: str) -> None:
        """Reject every offer the agent has had and not rejected yet."""
        offers, self.offers[agent] = self.offers.get(agent, []), []
        for seen in offers:
            await self.client.post(
                f"{self.url}/v1/assignments/{seen.data['assignment_id']}/reject",
                json={"agent_id": agent},
                headers=self.headers,
            )


async def seed_waiting(namespace: str, count: int, seed: int) -> None:
    """Publish `count` received interactions to routing's topic."""
    rng = random.Random(seed)
    producer = make_producer(KAFKA_BOOTSTRAP, client_id="bench-seed", linger_ms=20)
    await producer.start()
    try:
        pending = []
        for n in range(count):
            value = received_event(n, rng)
            pending.append(
                await producer.send(namespace + INTERACTIONS, value=value, key=str(n).encode())
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def analyse(database: str) -> None:
    """Give a freshly seeded database its planner statistics, as a live one has them."""
    conn = await asyncpg.connect(f"{PG_ASYNCPG}/{database}")
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def offers_run(*, agents: int, waiting: int, trials: int, rate: float) -> dict[str, Any]:
    """One run of item 4 on a fresh routing; return the trials and the seeding figures."""
    settings = {"ROUTING_ESCALATION_AFTER": "3600"}
    async with system(["routing"], settings=settings) as running:
        observer = Observer(running.namespace)
        await observer.start()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        try:
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                url = running["routing"].url
                desk = Desk(client, url, service_key("routing", "agents:write"))
                observer.on("interaction.offered", desk.offered)
                names = [f"bench-agent-{n:03d}" for n in range(agents)]
                for n, name in enumerate(names):
                    skills = {SPECIALTIES[n % len(SPECIALTIES)]: 4, "geral": 3}
                    capacity = VOICE if n % 2 == 0 else DIGITAL
                    await desk.call(
                        "PUT", f"/v1/agents/{name}", {"skills": skills, "capacity": capacity}
                    )
                began = time.time()
                await seed_waiting(running.namespace, waiting, seed=agents)

                async def all_queued() -> bool:
                    return observer.count("interaction.queued") >= waiting

                if not await poll_until(all_queued, within=600, every=0.5):
                    raise RuntimeError("routing did not queue the seeded interactions in time")
                queue_rate = waiting / (time.time() - began)
                say(f"  routing queued {waiting} interactions at {queue_rate:.0f}/s")
                await analyse(running.databases["routing"])

                idle: asyncio.Queue[str] = asyncio.Queue()
                for name in names:
                    idle.put_nowait(name)
                results: list[Trial] = []
                missed = 0

                async def one(name: str) -> None:
                    nonlocal missed
                    trial = await desk.trial(name)
                    if trial is None:
                        missed += 1
                    else:
                        results.append(trial)
                    idle.put_nowait(name)

                tasks: set[asyncio.Task[None]] = set()
                loop = asyncio.get_running_loop()
                start = loop.time()
                for n in range(trials):
                    delay = start + n / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    name = await idle.get()
                    task = asyncio.create_task(one(name))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.gather(*tasks)
        finally:
            await observer.stop()
    return {
        "trials": results,
        "missed": missed,
        "queue_rate": queue_rate,
    }


async def offers_suite(
    runs: int, *, agents: int, waiting: int, trials: int, rate: float
) -> list[Figure]:
    """Item 4 over `runs` runs."""
    results = []
    for n in range(runs):
        say(f"  routing run {n + 1} of {runs}: {agents} agents, {waiting} waiting")
        results.append(await offers_run(agents=agents, waiting=waiting, trials=trials, rate=rate))

    def spread(attr: str, fraction: float) -> list[float]:
        return [pct(sorted(getattr(t, attr) for t in r["trials"]), fraction) for r in results]

    notes = {
        "agents": agents,
        "waiting": waiting,
        "trials_per_run": trials,
        "availabilities_per_s": rate,
        "missed_per_run": [r["missed"] for r in results],
    }
    return [
        Figure(
            "agent available->offer p99 (Kafka consumer)",
            " ms",
            spread("offer_ms", 0.99),
            target="< 100 ms, goal 20 ms",
            notes=notes,
        ),
        Figure("agent available->offer p50 (Kafka consumer)", " ms", spread("offer_ms", 0.50)),
        Figure(
            "agent available->offer written p99 (event time)", " ms", spread("written_ms", 0.99)
        ),
        Figure("agent status PUT answered p99", " ms", spread("http_ms", 0.99)),
        Figure(
            "routing queueing rate (received->queued, seeding)",
            "/s",
            [r["queue_rate"] for r in results],
        ),
    ]
