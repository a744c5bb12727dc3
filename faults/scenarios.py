"""The scenarios: one fault each, under load, measured the same way.

A scenario posts interactions at the chosen rate while the desk's agents work and respondents
answer, lets the load run for `warmup` seconds, injects its fault, heals it, keeps the load on
for `tail` seconds, stops posting and waits for the system to settle (every group's lag 0, the
agents idle, no new event for a few seconds). Then it counts, over the interactions it got
acknowledged: lost, duplicated effects, false breaches; and the client answers by status, the
deadlocks PostgreSQL reported and the recovery time (heal to every group's lag back to 0; under
load "0" means at most one second of traffic).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from atende_events.kafka import AIOKafkaConsumer, KafkaError, TopicPartition, make_producer
from atende_events.topics import AGENTS, ALL_TOPICS, ASSIGNMENTS, INTERACTIONS, SLA, SURVEYS
from faults.checks import Findings, examine
from faults.observe import EventLog, GroupLag, partitions_of
from faults.system import FaultSystem
from faults.workload import Answering, Answers, Desk, Posting
from tests.e2e.private_system import SERVICES


@dataclass
class Options:
    rate: float = 25.0
    """Interactions posted per second."""
    warmup: float = 10.0
    tail: float = 15.0
    settle: float = 180.0
    agents: int = 40
    handle_seconds: float = 1.0
    service_down: float = 10.0
    kafka_down: float = 45.0
    pg_down: float = 15.0
    relay_hold: float = 10.0
    broker_down: float = 20.0
    services: tuple[str, ...] = tuple(SERVICES)
    """Whose process scenarios 1 and 7 kill or stop, in turn."""
    reset_groups: tuple[str, ...] = tuple(SERVICES)
    relay_service: str = "routing"
    drain_limit: float = 10.0


@dataclass
class Row:
    scenario: str
    offered: int
    acknowledged: int
    lost: int
    duplicated: int
    false_breaches: int
    deadlocks: int
    bad_5xx: int
    recovery_s: float | None
    answers: dict[str, int]
    notes: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


Fault = Callable[["Harness"], Awaitable[dict[str, Any]]]


class Harness:
    """One private system, the load that drives it and what it has seen so far."""

    def __init__(self, system: FaultSystem, options: Options) -> None:
        self.system = system
        self.options = options
        self.answers = Answers()
        self.events = EventLog(system.bootstrap)
        self.lag = GroupLag({s: f"atende-{s}" for s in SERVICES}, system.bootstrap)
        self.desk = Desk(
            [system.url("routing")],
            self.events,
            self.answers,
            agents=options.agents,
            handle_seconds=options.handle_seconds,
        )
        self.answering = Answering(
            system.private.smtp_port, system.private.webhook_port, self.answers
        )
        self.findings = Findings()
        self.posting: Posting | None = None
        self.seed = 0

    async def open(self) -> None:
        await asyncio.to_thread(self.system.start)
        await self.events.start()
        await self.lag.start()
        await self.answering.start()
        await self.desk.open()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.desk.close()
        with contextlib.suppress(Exception):
            await self.answering.stop()
        await self.lag.stop()
        await self.events.stop()

    async def stop_posting(self) -> None:
        if self.posting is not None:
            await self.posting.stop()

    async def deadlocks(self) -> tuple[int, int | None]:
        logged = await asyncio.to_thread(self.system.deadlocks_logged)
        try:
            counted: int | None = await self.system.deadlocks_counted()
        except (OSError, asyncpg.PostgresError):
            counted = None
        return logged, counted

    async def settle(self, limit: float, acknowledged: set[str]) -> bool:
        """Wait until the pipeline is quiet: lag 0 twice, agents idle, every acknowledged
        interaction queued and clocked, no new event for 5 s. Tell whether it got there."""
        deadline = time.monotonic() + limit
        quiet_since = time.monotonic()
        seen = self.events.contract_events
        zero = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            if self.events.contract_events != seen:
                seen, quiet_since = self.events.contract_events, time.monotonic()
            lag = await self.lag.sample_if_known()
            zero = zero + 1 if lag is not None and not any(lag.values()) else 0
            queued = {e.subject for e in self.events.of("interaction.queued")}
            clocked = {e.subject for e in self.events.of("sla.started")}
            if (
                zero >= 2
                and not self.desk.tasks
                and acknowledged <= queued
                and acknowledged <= clocked
                and time.monotonic() - quiet_since >= 5
            ):
                return True
        return False

    async def recovery(self, healed: float, tolerance: int, done: asyncio.Event) -> float | None:
        """Seconds from `healed` until every group's lag is within `tolerance` records."""
        while not done.is_set():
            lag = await self.lag.sample_if_known()
            if lag is not None and all(n <= tolerance for n in lag.values()):
                return round(time.monotonic() - healed, 1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 1)
        lag = await self.lag.sample_if_known()
        if lag is not None and all(n <= tolerance for n in lag.values()):
            return round(time.monotonic() - healed, 1)
        return None

    async def run(self, name: str, fault: Fault) -> Row:
        """Run one scenario: load, fault, heal, tail, settle, count."""
        options = self.options
        began = time.monotonic()
        answers_before = Counter(self.answers.counts)
        deadlocks_before = await self.deadlocks()
        self.seed += 1
        self.posting = Posting(
            self.system.url("intake"), options.rate, self.answers, seed=self.seed
        )
        completed_before = {w.assignment_id for w in self.desk.work.values() if w.completed}
        self.posting.start()
        await asyncio.sleep(options.warmup)
        notes = await fault(self)
        healed = time.monotonic()
        done = asyncio.Event()
        tolerance = max(10, int(options.rate))
        recovering = asyncio.create_task(self.recovery(healed, tolerance, done))
        await asyncio.sleep(options.tail)
        await self.stop_posting()
        acknowledged = set(self.posting.acknowledged)
        settled = await self.settle(options.settle, acknowledged)
        done.set()
        recovery_s = await recovering
        deadlocks_after = await self.deadlocks()
        completed = {
            w.interaction_id
            for w in self.desk.work.values()
            if w.completed and w.assignment_id not in completed_before
        }
        everything = examine(self.events, acknowledged, completed)
        found = everything.since(self.findings)
        self.findings = everything
        logged = deadlocks_after[0] - deadlocks_before[0]
        counted = (
            deadlocks_after[1] - deadlocks_before[1]
            if deadlocks_after[1] is not None and deadlocks_before[1] is not None
            else 0
        )
        answers = self.answers.since(answers_before)
        bad_5xx = sum(
            n
            for key, n in answers.items()
            if key.split(" ", 1)[1].startswith("5") and key.split(" ", 1)[1] != "503+retry-after"
        )
        row = Row(
            scenario=name,
            offered=self.posting.offered,
            acknowledged=len(acknowledged),
            lost=found.lost_count,
            duplicated=found.duplicated_count,
            false_breaches=len(found.false_breaches),
            deadlocks=max(logged, counted),
            bad_5xx=bad_5xx,
            recovery_s=recovery_s,
            answers=answers,
            notes=notes
            | {
                "settled": settled,
                "breaches": len(found.breaches),
                "breaches_by_policy": found.breaches_by_policy,
                "lost_by_step": found.lost,
                "duplicated_by_kind": {k: sorted(v)[:5] for k, v in found.duplicated.items()},
                "false_breach_examples": list(found.false_breaches.values())[:5],
                "deadlocks_logged": logged,
                "deadlocks_pg_stat": counted,
            },
        )
        for what, value in (
            ("lost", row.lost),
            ("duplicated", row.duplicated),
            ("false breaches", row.false_breaches),
            ("deadlocks", row.deadlocks),
            ("5xx without Retry-After or other than 503", row.bad_5xx),
        ):
            if value:
                row.problems.append(f"{value} {what}")
        if recovery_s is None:
            row.problems.append("lag never came back to 0")
        row.problems += notes.pop("problems", [])
        row.seconds = round(time.monotonic() - began, 1)
        return row


# --- the faults --------------------------------------------------------------------------------


async def kill_each_service(h: Harness) -> dict[str, Any]:
    """1: kill -9 of each service in turn, restarted after `service_down` seconds."""
    for service in h.options.services:
        h.system.signal_service(service, signal.SIGKILL)
        await asyncio.sleep(h.options.service_down)
        await h.system.restart_services()
        await asyncio.sleep(3)
    return {"killed": list(h.options.services)}


async def two_instances(h: Harness) -> dict[str, Any]:
    """2: a second instance of routing, sla and survey; the first of each killed, later back."""
    extras = [await h.system.add_instance(s) for s in ("routing", "sla", "survey")]
    routing = next(e for e in extras if e.service == "routing")
    h.desk.urls.append(f"http://127.0.0.1:{routing.port}")
    await asyncio.sleep(10)
    for service in ("routing", "sla", "survey"):
        h.system.signal_service(service, signal.SIGKILL)
    await asyncio.sleep(max(h.options.service_down, 15))
    await h.system.restart_services()
    await asyncio.sleep(5)
    for extra in extras:
        await h.system.remove_instance(extra)
    h.desk.urls.remove(f"http://127.0.0.1:{routing.port}")
    return {"second_instances": [e.port for e in extras]}


async def kafka_outage(h: Harness) -> dict[str, Any]:
    """3: the Kafka broker killed (-9) for `kafka_down` seconds, then started again."""
    h.system.kill_broker(1)
    await asyncio.sleep(h.options.kafka_down)
    began = time.monotonic()
    await h.system.start_kafka()
    return {"kafka_down_s": h.options.kafka_down, "kafka_start_s": round(time.monotonic() - began)}


async def postgres_outage(h: Harness) -> dict[str, Any]:
    """4: PostgreSQL stopped for `pg_down` seconds, then started again."""
    await h.system.stop_postgres()
    await asyncio.sleep(h.options.pg_down)
    await h.system.start_postgres()
    return {"pg_down_s": h.options.pg_down}


POISON_TYPES = {
    INTERACTIONS: "atende.interaction.received.v1",
    ASSIGNMENTS: "atende.interaction.offered.v1",
    AGENTS: "atende.agent.status_changed.v1",
    SLA: "atende.sla.started.v1",
    SURVEYS: "atende.survey.answered.v1",
}


def poison_records(topic: str) -> list[tuple[str, bytes, str | None]]:
    """(kind, value, ce_type header) of the four poison records sent to a topic."""
    subject = str(uuid.uuid4())

    def envelope(event_type: str, data: dict[str, Any]) -> bytes:
        return json.dumps(
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "/atende/faults",
                "type": event_type,
                "time": datetime.now(UTC).isoformat(),
                "subject": subject,
                "datacontenttype": "application/json",
                "data": data,
            }
        ).encode()

    known = POISON_TYPES[topic]
    return [
        ("not JSON", b"\x00\xffnot json {", known),
        ("not a CloudEvent", json.dumps({"hello": "world", "type": known}).encode(), known),
        ("schema-invalid", envelope(known, {"interaction_id": "not-a-uuid", "bogus": 1}), known),
        ("unknown type", envelope("atende.interaction.teleported.v1", {}), None),
    ]


async def poison(h: Harness) -> dict[str, Any]:
    """5: the four kinds of poison record on every topic."""
    dead_before = dict(h.events.dead_letters)
    producer = make_producer(h.system.bootstrap, client_id="faults-poison")
    await producer.start()
    sent = 0
    try:
        for topic in ALL_TOPICS:
            for _kind, value, ce_type in poison_records(topic):
                headers = [("content-type", b"application/cloudevents+json")]
                headers.append(
                    ("ce_type", (ce_type or "atende.interaction.teleported.v1").encode())
                )
                await producer.send_and_wait(
                    topic, value=value, key=str(uuid.uuid4()).encode(), headers=headers
                )
                sent += 1
    finally:
        await producer.stop()
    await asyncio.sleep(10)
    dead = {
        topic: h.events.dead_letters.get(topic, 0) - dead_before.get(topic, 0)
        for topic in ALL_TOPICS
    }
    return {"poison_sent": sent, "dead_letters_within_10s": dead}


# Progress markers, not state a record changes: the relays send fresh watermarks every second,
# so sla's table moves on whether or not anything is redelivered (and an old watermark
# redelivered changes nothing: it keeps the highest).
_MOVING_TABLES = ("inbox", "outbox", "alembic_version", "sla_watermarks")


async def fingerprint(h: Harness) -> dict[str, tuple[int, str]]:
    """Per table of every service's database (inbox, outbox, watermarks aside): rows, digest."""
    prints: dict[str, tuple[int, str]] = {}
    for service in SERVICES:
        connection = await asyncpg.connect(h.system.dsn(service))
        try:
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND NOT tablename = ANY($1::text[])",
                list(_MOVING_TABLES),
            )
            for record in tables:
                table = record["tablename"]
                rows, digest = await connection.fetchrow(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                    f' FROM "{table}" t'
                )
                prints[f"{service}.{table}"] = (int(rows), str(digest))
            outbox = await connection.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
            prints[f"{service}.outbox (last id)"] = (int(outbox), "")
        finally:
            await connection.close()
    return prints


async def reset_offsets(h: Harness, service: str) -> int:
    """Stop the service, move its group's committed offsets back to the beginning, start it."""
    topics = h.lag.subscriptions.get(service)
    if not topics:
        raise RuntimeError(f"the subscriptions of {service}'s group are not known yet")
    pid = h.system.signal_service(service, signal.SIGTERM)
    if await h.system.wait_exit(pid, 30) is None:
        h.system.signal_service(service, signal.SIGKILL)
        await h.system.wait_exit(pid, 10)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=h.system.bootstrap,
        group_id=f"atende-{service}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(await partitions_of(consumer, topic))
        ]
        consumer.assign(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for _ in range(30):  # the group may still hold its stopped member for a moment
            try:
                await consumer.commit(dict(beginnings))
                break
            except KafkaError:
                await asyncio.sleep(1)
    finally:
        await consumer.stop()
    await h.system.restart_services()
    return sum(ends[tp] - beginnings[tp] for tp in partitions)


_RESET_TAKES = 120.0
"""Seconds the resets of every group take at most, stops and restarts included."""


async def _no_deadline_due(h: Harness, *, ahead: float, within: float) -> bool:
    """Wait until no running clock warns or falls due in the next `ahead` seconds.

    Warnings and breaches the due-timer fires during the resets would change the state for a
    reason of their own (a call nobody answered in 20 s), not because records were redelivered.
    """
    deadline = asyncio.get_running_loop().time() + within
    connection = await asyncpg.connect(h.system.dsn("sla"))
    try:
        while True:
            due = await connection.fetchval(
                "SELECT count(*) FROM sla_clocks WHERE state = 'running' AND"
                " (due_at < now() + make_interval(secs => $1)"
                " OR (warned_at IS NULL AND warn_at < now() + make_interval(secs => $1)))",
                ahead,
            )
            if due == 0:
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(2)
    finally:
        await connection.close()


async def offsets_reset(h: Harness) -> dict[str, Any]:
    """6: each group's offsets reset to the beginning (full redelivery): no state changes.

    The load stops first and the system settles, so that the state compared before and after
    the redelivery can only have changed through it.
    """
    await h.stop_posting()
    assert h.posting is not None
    settled = await h.settle(h.options.settle, set(h.posting.acknowledged))
    quiet = await _no_deadline_due(h, ahead=_RESET_TAKES, within=h.options.settle + _RESET_TAKES)
    before = await fingerprint(h)
    redelivered = {}
    for service in h.options.reset_groups:
        redelivered[service] = await reset_offsets(h, service)
    await h.settle(h.options.settle, set(h.posting.acknowledged))
    after = await fingerprint(h)
    changed = {
        table: {"before": before.get(table), "after": after.get(table)}
        for table in sorted(set(before) | set(after))
        if before.get(table) != after.get(table)
    }
    problems = [f"{len(changed)} tables changed by the redelivery"] if changed else []
    return {
        "settled_before_reset": settled,
        "no_deadline_due_before_reset": quiet,
        "redelivered_records": redelivered,
        "state_changes": changed,
        "problems": problems,
    }


async def sigterm_each_service(h: Harness) -> dict[str, Any]:
    """7: SIGTERM of each service under load: it drains and exits within `drain_limit` s."""
    exits: dict[str, float | None] = {}
    problems = []
    for service in h.options.services:
        pid = h.system.signal_service(service, signal.SIGTERM)
        exits[service] = await h.system.wait_exit(pid, 30)
        if exits[service] is None:
            h.system.signal_service(service, signal.SIGKILL)
            problems.append(f"{service} still ran 30 s after SIGTERM")
        elif (exits[service] or 0) > h.options.drain_limit:
            problems.append(f"{service} took {exits[service]:.1f} s to exit")
        await h.system.restart_services()
        await asyncio.sleep(3)
    return {
        "exit_s": {k: None if v is None else round(v, 2) for k, v in exits.items()},
        "problems": problems,
    }


async def slow_relay(h: Harness) -> dict[str, Any]:
    """8: one service's outbox held back `relay_hold` s (its oldest pending row locked, so the
    relay's ordered batch waits behind it): no false breach may follow."""
    service = h.options.relay_service
    connection = await asyncpg.connect(h.system.dsn(service))
    held_row = None
    held = 0.0
    try:
        deadline = time.monotonic() + 30
        while held_row is None and time.monotonic() < deadline:
            transaction = connection.transaction()
            await transaction.start()
            try:
                held_row = await connection.fetchval(
                    "SELECT id FROM outbox WHERE published_at IS NULL"
                    " ORDER BY id LIMIT 1 FOR UPDATE NOWAIT"
                )
            except asyncpg.LockNotAvailableError:
                held_row = None
            if held_row is None:
                await transaction.rollback()
                await asyncio.sleep(0.01)
                continue
            began = time.monotonic()
            await asyncio.sleep(h.options.relay_hold)
            await transaction.rollback()
            held = time.monotonic() - began
    finally:
        await connection.close()
    if held_row is None:
        return {"problems": [f"found no pending outbox row of {service} to hold in 30 s"]}
    return {"relay_held": service, "held_s": round(held, 1)}


async def kafka_cluster(h: Harness) -> dict[str, Any]:
    """9: three brokers, RF 3, min ISR 2: a follower killed and restarted, then the leader of
    the controller quorum killed and restarted, under load."""
    leader = h.system.controller_leader()
    follower = next(n for n in (2, 3, 1) if n != leader)
    h.system.kill_broker(follower)
    await asyncio.sleep(h.options.broker_down)
    await h.system.start_kafka()
    await asyncio.sleep(10)
    second = h.system.controller_leader()
    if second is None:
        return {"problems": ["could not tell the controller leader"]}
    h.system.kill_broker(second)
    await asyncio.sleep(h.options.broker_down)
    await h.system.start_kafka()
    return {"killed_first": follower, "killed_controller_leader": second}


SCENARIOS: dict[str, tuple[str, Fault]] = {
    "kill": ("1 kill -9 each service, back after 10 s", kill_each_service),
    "instances": ("2 two instances, one of each killed", two_instances),
    "kafka": ("3 Kafka broker killed, restarted", kafka_outage),
    "postgres": ("4 PostgreSQL stopped, started", postgres_outage),
    "poison": ("5 poison records on every topic", poison),
    "reset": ("6 offsets reset to the beginning", offsets_reset),
    "sigterm": ("7 SIGTERM each service under load", sigterm_each_service),
    "relay": ("8 slow relay (outbox held 10 s)", slow_relay),
    "cluster": ("9 3 brokers: follower, then controller killed", kafka_cluster),
}
