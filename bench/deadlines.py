"""Item 5: how late `sla.breached` comes after the deadline with 100,000 running clocks, and
what the idle due-timer costs.

The sla service runs alone on a fresh database. Its idle CPU (the process and the PostgreSQL
backends serving its database) is measured first with no clock, then the clocks are written
straight into its `sla_clocks` table, as its consumer would have written them, and analysed (a
long-running table has planner statistics): `due` operational first-response clocks (the
phone's 20 s and the chat's 60 s policies) whose deadlines fall over the coming `window`
seconds, and regulatory and operational resolution clocks due in days for the rest. The idle
CPU is measured again with every clock running and none due; then each breach is timed as the
moment an outside Kafka consumer fetches `sla.breached` minus the clock's `due_at`. The service
waits `SLA_BREACH_GRACE` (2 s by default) past a deadline on purpose, and until the watermarks
of intake and routing (sent every second, 2 s behind) pass the deadline; both waits are included.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from atende_events.topics import SLA
from bench.harness import Figure, pct, poll_until, say
from bench.observe import Observer
from bench.procstat import CpuMeter, backend_pids
from bench.system import PG_ASYNCPG, system

COLUMNS = [
    "clock_id",
    "interaction_id",
    "kind",
    "clock_type",
    "regime",
    "policy_id",
    "started_at",
    "budget_seconds",
    "warn_at",
    "due_at",
    "state",
    "warned_at",
]
STARTED, WARNS, DUE = (COLUMNS.index(name) for name in ("started_at", "warn_at", "due_at"))
"""Where a seeded row holds its start, warning and deadline."""
FIRST_RESPONSE = [("op-phone-first-response", 20.0), ("op-chat-first-response", 60.0)]
WARN_AT = 0.8  # the packaged policies warn at 80% of the budget


def _row(
    interaction: uuid.UUID, kind: str, clock_type: str, policy: str, start: datetime, due: datetime
) -> tuple[Any, ...]:
    budget = (due - start).total_seconds()
    warn = start + timedelta(seconds=budget * WARN_AT)
    warned = warn if warn <= datetime.now(UTC) else None  # already warned, as the timer would
    return (
        uuid.uuid4(),
        interaction,
        kind,
        clock_type,
        "operational" if kind == "operational" else "rn623",  # the policies seeded are RN 623's
        policy,
        start,
        budget,
        warn,
        due,
        "running",
        warned,
    )


def clock_rows(
    *, clocks: int, due: int, first_due: datetime, window: float, seed: int
) -> tuple[list[tuple[Any, ...]], dict[str, datetime]]:
    """The rows to seed, and the deadline of each clock that comes due in the window."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows: list[tuple[Any, ...]] = []
    coming: dict[str, datetime] = {}
    for n in range(due):
        policy, budget = FIRST_RESPONSE[n % 2]
        deadline = first_due + timedelta(seconds=window * n / max(1, due))
        row = _row(
            uuid.uuid4(),
            "operational",
            "first_response",
            policy,
            deadline - timedelta(seconds=budget),
            deadline,
        )
        rows.append(row)
        coming[str(row[0])] = deadline
    while len(rows) < clocks:
        interaction = uuid.uuid4()
        start = now - timedelta(hours=rng.uniform(0, 48))
        rows.append(
            _row(
                interaction,
                "regulatory",
                "resolution",
                "ans-rn623-other",
                start,
                start + timedelta(days=rng.uniform(7, 11)),
            )
        )
        if len(rows) < clocks:
            rows.append(
                _row(
                    interaction,
                    "operational",
                    "resolution",
                    "op-resolution-2-business-days",
                    start,
                    start + timedelta(days=rng.uniform(2, 4)),
                )
            )
    return rows, coming


@dataclass
class DeadlineRun:
    breach_late_ms: list[float]
    warn_late_ms: list[float]
    unwarned: int
    idle_empty: dict[str, float]
    idle_loaded: dict[str, float]
    seed_s: float


async def _idle_cpu(sla_pid: int, dsn: str, database: str, seconds: float) -> dict[str, float]:
    service = CpuMeter([sla_pid])
    database_side = CpuMeter(await backend_pids(dsn, database))
    loop = asyncio.get_running_loop()
    service.start(loop.time())
    database_side.start(loop.time())
    await asyncio.sleep(seconds)
    return {"service": service.stop(loop.time()), "database": database_side.stop(loop.time())}


async def deadlines_run(
    *, clocks: int, due: int, window: float, idle_seconds: float
) -> DeadlineRun:
    """One run of item 5 on a fresh sla, with the idle intake and routing whose watermarks
    tell sla that no stop event is on its way (a breach waits for them, as in production)."""
    async with system(["intake", "routing", "sla"]) as running:
        observer = Observer(running.namespace, topics=[SLA])
        await observer.start()
        try:
            database = running.databases["sla"]
            dsn = f"{PG_ASYNCPG}/{database}"
            pid = running["sla"].pid
            await asyncio.sleep(3)  # let start-up settle
            idle_empty = await _idle_cpu(pid, dsn, database, idle_seconds)
            began = time.time()
            # The clocks that will come due are written due in a month, and only moved into
            # the window after the idle measure, so seeding time never eats into the window.
            parked = datetime.now(UTC) + timedelta(days=30)
            rows, _ = clock_rows(
                clocks=clocks, due=due, first_due=parked, window=window, seed=clocks
            )
            conn = await asyncpg.connect(dsn)
            try:
                await conn.copy_records_to_table("sla_clocks", records=rows, columns=COLUMNS)
                await conn.execute("ANALYZE sla_clocks")
                seed_s = time.time() - began
                say(f"  sla: {clocks} running clocks written in {seed_s:.1f} s")
                await asyncio.sleep(2)
                idle_loaded = await _idle_cpu(pid, dsn, database, idle_seconds)
                # Warnings come 4 s (phone) and 12 s (chat) before a deadline: start after them.
                first_due = datetime.now(UTC) + timedelta(seconds=15)
                moved, coming = clock_rows(
                    clocks=due, due=due, first_due=first_due, window=window, seed=clocks
                )
                await conn.execute(
                    "UPDATE sla_clocks SET started_at = v.started_at, warn_at = v.warn_at,"
                    " due_at = v.due_at FROM unnest($1::uuid[], $2::timestamptz[],"
                    " $3::timestamptz[], $4::timestamptz[]) AS v(clock_id, started_at, warn_at,"
                    " due_at) WHERE sla_clocks.clock_id = v.clock_id",
                    [r[0] for r in rows[:due]],
                    [r[STARTED] for r in moved],
                    [r[WARNS] for r in moved],
                    [r[DUE] for r in moved],
                )
            finally:
                await conn.close()
            # The moved rows keep their parked ids: rename the deadlines to them.
            coming = {str(r[0]): m[DUE] for r, m in zip(rows[:due], moved, strict=True)}
            warn_due = {str(r[0]): m[WARNS] for r, m in zip(rows[:due], moved, strict=True)}
            last = max(coming.values())

            async def all_breached() -> bool:
                return observer.count("sla.breached") >= len(coming)

            wait = (last - datetime.now(UTC)).total_seconds() + 60
            await poll_until(all_breached, within=max(wait, 1), every=0.5)
            by_clock = {
                str(s.data.get("clock_id")): s.at for s in observer.seen.get("sla.breached", [])
            }
            warned = {
                str(s.data.get("clock_id")): s.at for s in observer.seen.get("sla.warning", [])
            }
            late = sorted(
                (by_clock[c] - d.timestamp()) * 1000 if c in by_clock else math.inf
                for c, d in coming.items()
            )
            # A clock found past its deadline is breached without a warning first: only the
            # warnings emitted are timed, and how many were folded into a breach is noted.
            warn_late = sorted(
                (warned[c] - w.timestamp()) * 1000 for c, w in warn_due.items() if c in warned
            )
            unwarned = sum(1 for c in warn_due if c not in warned)
        finally:
            await observer.stop()
    return DeadlineRun(late, warn_late, unwarned, idle_empty, idle_loaded, seed_s)


async def deadlines_suite(
    runs: int, *, clocks: int, due: int, window: float, idle_seconds: float
) -> list[Figure]:
    """Item 5 over `runs` runs."""
    results = []
    for n in range(runs):
        say(f"  sla run {n + 1} of {runs}: {clocks} clocks, {due} due over {window:.0f} s")
        result = await deadlines_run(
            clocks=clocks, due=due, window=window, idle_seconds=idle_seconds
        )
        say(
            f"  sla: breach late p99 {pct(result.breach_late_ms, 0.99):.0f} ms, idle cores"
            f" {result.idle_loaded}"
        )
        results.append(result)
    notes = {"clocks": clocks, "due_in_window": due, "window_s": window, "breach_grace_s": 2.0}
    return [
        Figure(
            f"sla.breached after deadline p99 ({clocks:,} clocks)",
            " ms",
            [pct(r.breach_late_ms, 0.99) for r in results],
            target="< 5 s, goal 1 s",
            notes=notes,
        ),
        Figure(
            "sla.breached after deadline p50",
            " ms",
            [pct(r.breach_late_ms, 0.50) for r in results],
        ),
        Figure(
            "sla.warning after warn time p99",
            " ms",
            [pct(r.warn_late_ms, 0.99) for r in results],
            notes={"breached_without_warning": [r.unwarned for r in results]},
        ),
        Figure(
            f"sla idle CPU, {clocks:,} clocks: service (cores)",
            "",
            [r.idle_loaded["service"] for r in results],
            digits=3,
        ),
        Figure(
            f"sla idle CPU, {clocks:,} clocks: its PostgreSQL (cores)",
            "",
            [r.idle_loaded["database"] for r in results],
            digits=3,
        ),
        Figure(
            "sla idle CPU, no clock: service (cores)",
            "",
            [r.idle_empty["service"] for r in results],
            digits=3,
        ),
        Figure(
            "sla idle CPU, no clock: its PostgreSQL (cores)",
            "",
            [r.idle_empty["database"] for r in results],
            digits=3,
        ),
    ]
