"""Item 3: the full lifecycle with simulated agents and respondents, end to end per second.

All five services run. The open-loop generator posts interactions at `rate` per second; a team
of agents takes every offer as soon as Kafka shows it (accept, handle for `handle` seconds,
complete as resolved); survey sends each link at once (`SURVEY_DISPATCH_DELAY=PT0S`) to the
simulator's SMTP and SMS/WhatsApp sinks, and the simulator's respondents answer every link a
second after it arrives. An interaction is complete when its `survey.answered` is on Kafka and
the analytics consumer group has committed past that record: its KPIs are updated.

Not every interaction ends with an answer: survey skips the clinical queue, and so on. The
figure counts interactions completed per second over the second half of the load, when the
pipeline is full; the shares that were resolved and answered are in the notes.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from atende_events.kafka import TopicPartition
from bench.harness import Figure, intake_headers, loadgen, pct, say, service_key
from bench.observe import GroupLag, Observer, Seen
from bench.system import SERVICES, free_port, system
from simulator.agents import CAPACITY, REASONS, conclusive_answer, make_team
from simulator.respondents import Respondents, serve_webhook, start_mail_sink


class Team:
    """Agents driven by the offers on Kafka instead of polling routing."""

    def __init__(self, client: httpx.AsyncClient, url: str, key: str, handle: float) -> None:
        self.client = client
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.handle = handle
        self.rng = random.Random(3)
        self.tasks: set[asyncio.Task[None]] = set()
        self.completed = 0
        self.failed = 0

    def offered(self, seen: Seen) -> None:
        task = asyncio.create_task(self.work(seen.data))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def work(self, offer: dict[str, Any]) -> None:
        path = f"{self.url}/v1/assignments/{offer['assignment_id']}"
        actor = {"agent_id": offer["agent_id"]}
        try:
            accepted = await self.client.post(f"{path}/accept", json=actor, headers=self.headers)
            if accepted.status_code >= 400:
                self.failed += 1
                return
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.handle)
            reasons = REASONS.get(offer.get("queue", ""), REASONS["default"])
            body = {
                **actor,
                "resolution": "resolved",
                "reason_code": self.rng.choice(reasons),
                "notes": "Atendimento concluído pelo benchmark.",
                **conclusive_answer(self.rng),
            }
            done = await self.client.post(f"{path}/complete", json=body, headers=self.headers)
            if done.status_code >= 400:
                self.failed += 1
            else:
                self.completed += 1
        except httpx.HTTPError:
            self.failed += 1


@dataclass
class LifecycleRun:
    per_s: float
    end_to_end_ms: list[float]
    posted: int
    resolved: int
    dispatched: int
    answered: int
    complete: int
    generator_cores: float
    agent_failures: int


async def lifecycle_run(
    *, rate: float, seconds: float, agents: int, handle: float, drain: float = 30
) -> LifecycleRun:
    """One run of item 3 on fresh databases."""
    smtp, webhook = free_port(), free_port()
    settings = {
        "SURVEY_DISPATCH_DELAY": "PT0S",
        "SURVEY_SMTP_PORT": str(smtp),
        "SURVEY_MESSAGE_WEBHOOK_URL": f"http://127.0.0.1:{webhook}/messages",
        "SURVEY_INTAKE_BASE_URL": "{intake_url}",
        "SURVEY_PUBLIC_BASE_URL": "{survey_url}",
    }
    respondents = Respondents(random.Random(5), response_rate=1.0, max_delay_seconds=1.0)
    stop = asyncio.Event()
    mail = start_mail_sink(respondents, smtp)
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    try:
        async with (
            system(SERVICES, settings=settings) as running,
            httpx.AsyncClient(timeout=30, limits=limits) as client,
        ):
            hooks = asyncio.create_task(serve_webhook(respondents, webhook, stop))
            answering = asyncio.create_task(respondents.run(client, stop))
            observer = Observer(running.namespace)
            await observer.start()
            probe = GroupLag({"analytics": running.group("analytics")})
            await probe.start()
            await probe.discover()
            team = Team(
                client, running["routing"].url, service_key("routing", "agents:write"), handle
            )
            try:
                for agent in make_team(agents, random.Random(2), handle):
                    name = f"bench-{agent.agent_id}"
                    body = {"skills": agent.skills, "capacity": CAPACITY}
                    await team.client.put(
                        f"{team.url}/v1/agents/{name}", json=body, headers=team.headers
                    )
                    await team.client.put(
                        f"{team.url}/v1/agents/{name}/status",
                        json={"status": "available"},
                        headers=team.headers,
                    )
                observer.on("interaction.offered", team.offered)
                complete: dict[str, float] = {}
                tracking = asyncio.Event()

                async def track() -> None:
                    # An answer is in the KPIs once analytics committed past its record.
                    while not tracking.is_set():
                        committed = await probe.committed("analytics")
                        now = time.time()
                        for seen in observer.seen.get("survey.answered", []):
                            if seen.subject in complete:
                                continue
                            tp = TopicPartition(seen.topic, seen.partition)
                            if committed.get(tp, -1) > seen.offset:
                                complete[seen.subject] = now
                        await asyncio.sleep(0.5)

                tracker = asyncio.create_task(track())
                load = await loadgen(
                    f"{running['intake'].url}/v1/interactions",
                    rate=rate,
                    duration=seconds,
                    headers=intake_headers(),
                    seed=11,
                    record=True,
                )
                ended = time.time()
                posted = {key: at for key, at, _ in load.accepted}
                # Drain until nothing moves for 10 s, or the limit.
                progress: tuple[int, ...] = ()
                last_change = time.time()
                while time.time() - ended < drain and time.time() - last_change < 10:
                    now = (
                        len(complete),
                        *(observer.count(t) for t in ("interaction.resolved", "survey.answered")),
                    )
                    if now != progress:
                        progress, last_change = now, time.time()
                    await asyncio.sleep(1)
                tracking.set()
                await tracker
            finally:
                await probe.stop()
                await observer.stop()
                stop.set()
                await asyncio.gather(hooks, answering, return_exceptions=True)
                for task in list(team.tasks):
                    task.cancel()
    finally:
        mail.stop()
    began = min(posted.values(), default=ended)
    half = began + seconds / 2
    mine = {key: at for key, at in complete.items() if key in posted}
    in_window = sum(1 for at in mine.values() if half <= at <= began + seconds)
    resolved = sum(1 for key in observer.first_seen("interaction.resolved") if key in posted)
    dispatched = sum(1 for key in observer.first_seen("survey.dispatched") if key in posted)
    answered = sum(1 for key in observer.first_seen("survey.answered") if key in posted)
    run = LifecycleRun(
        per_s=in_window / (seconds / 2),
        end_to_end_ms=sorted((at - posted[key]) * 1000 for key, at in mine.items()),
        posted=len(posted),
        resolved=resolved,
        dispatched=dispatched,
        answered=answered,
        complete=len(mine),
        generator_cores=load.cores,
        agent_failures=team.failed,
    )
    say(
        f"  lifecycle at {rate:.0f}/s: {run.per_s:.1f} completed/s; posted {run.posted},"
        f" resolved {resolved}, dispatched {dispatched}, answered {answered},"
        f" in KPIs {run.complete}; end to end p50 {pct(run.end_to_end_ms, 0.5):.0f} ms"
    )
    return run


async def lifecycle_suite(
    runs: int, *, rate: float, seconds: float, agents: int, handle: float
) -> list[Figure]:
    """Item 3 over `runs` runs."""
    results = []
    for n in range(runs):
        say(f"  lifecycle run {n + 1} of {runs}: {rate:.0f}/s offered for {seconds:.0f} s")
        results.append(
            await lifecycle_run(rate=rate, seconds=seconds, agents=agents, handle=handle)
        )
    notes = {
        "offered_per_s": rate,
        "seconds": seconds,
        "agents": agents,
        "handle_s": handle,
        "runs": [
            {
                "posted": r.posted,
                "resolved": r.resolved,
                "dispatched": r.dispatched,
                "answered": r.answered,
                "in_kpis": r.complete,
                "agent_failures": r.agent_failures,
            }
            for r in results
        ],
    }
    return [
        Figure(
            f"lifecycle completed end to end at {rate:.0f}/s offered",
            "/s",
            [r.per_s for r in results],
            notes=notes,
        ),
        Figure(
            "lifecycle share of posted that completed",
            "",
            [r.complete / r.posted if r.posted else math.nan for r in results],
            digits=2,
        ),
        Figure("lifecycle POST->KPIs p50", " ms", [pct(r.end_to_end_ms, 0.5) for r in results]),
        Figure("lifecycle POST->KPIs p99", " ms", [pct(r.end_to_end_ms, 0.99) for r in results]),
        Figure(
            "load generator CPU during the lifecycle (cores)",
            "",
            [r.generator_cores for r in results],
            digits=2,
        ),
    ]
