"""Items 2 and 7: the whole pipeline at fixed offered rates, its consumer lag, and memory.

All five services run (no agents sign in, so interactions stay queued). The open-loop generator
posts to intake at a fixed rate for a step; an observer outside the services notes when each
interaction's `interaction.queued` and first `sla.started` reach a Kafka consumer, and every
second the lag of each service's consumer group is sampled, plus the backlog of intake's outbox
(interactions accepted with 201 whose `interaction.received` is not on Kafka yet).

A rate is *sustained* (lag bounded) when the generator saw no error, no group's lag grew over
the second half of the step by more than 5% of what flowed into its topics (plus 1 event/s of
noise), and everything drained within `DRAIN_BOUND` seconds after the load stopped.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import Figure, intake_headers, latency_ms, loadgen, pct, poll_until, say
from bench.observe import GroupLag, LagSample, Observer
from bench.procstat import CpuMeter, peak_rss_mb, rss_mb
from bench.system import SERVICES, System, system

DRAIN_BOUND = 15.0
"""Seconds after the load within which a sustained rate has drained every backlog."""
DRAIN_LIMIT = 30.0
"""Seconds the bench waits for a backlog to drain before the next step."""
LADDER: list[float] = [
    10,
    15,
    20,
    30,
    40,
    50,
    75,
    100,
    150,
    200,
    250,
    300,
    400,
    500,
    650,
    800,
    1000,
    1250,
    1500,
    2000,
]
FIRST_RATE = 100.0
"""Where the search starts: the last full run sustained 300/s, so its steps go 100, 200, 300, 500.

Climbing two rungs at a time it measures the fixed rates (100/s and 300/s) on the way up.
"""
OUTBOX = "intake outbox"


@dataclass
class Step:
    """One offered rate held for a while, and what the pipeline did with it."""

    rate: float
    seconds: float
    post_errors: int
    post_p99_ms: float
    received_ms: list[float]
    """POST to `interaction.received` on Kafka: intake's own hop, its relay included."""
    queued_ms: list[float]
    started_ms: list[float]
    max_lag: dict[str, int]
    lag_growth: dict[str, float]
    """Lag slope over the second half of the step, events/s."""
    inflow: dict[str, float]
    """Events/s flowing into each group's topics over the same half."""
    drain_s: float
    generator_cores: float
    rss_max: dict[str, float] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU each process used per interaction accepted, from the load's start until drained (or
    the drain limit), idle use included; PostgreSQL is every server process, Kafka the broker."""

    @property
    def bounded(self) -> bool:
        growing = [
            group
            for group, slope in self.lag_growth.items()
            if slope > 0.05 * self.inflow.get(group, self.rate) + 1
        ]
        return not self.post_errors and not growing and self.drain_s <= DRAIN_BOUND

    def summary(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "bounded": self.bounded,
            "post_errors": self.post_errors,
            "post_p99_ms": self.post_p99_ms,
            "received_p50_ms": pct(self.received_ms, 0.50),
            "received_p99_ms": pct(self.received_ms, 0.99),
            "queued_p50_ms": pct(self.queued_ms, 0.50),
            "queued_p95_ms": pct(self.queued_ms, 0.95),
            "queued_p99_ms": pct(self.queued_ms, 0.99),
            "started_p50_ms": pct(self.started_ms, 0.50),
            "started_p95_ms": pct(self.started_ms, 0.95),
            "started_p99_ms": pct(self.started_ms, 0.99),
            "max_lag": self.max_lag,
            "lag_growth_per_s": self.lag_growth,
            "inflow_per_s": self.inflow,
            "drain_s": self.drain_s,
            "cpu_ms_per_interaction": self.cpu_ms,
            "generator_cores": self.generator_cores,
            "rss_max_mb": self.rss_max,
        }


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) points; 0 with fewer than three."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var


async def run_step(
    running: System,
    observer: Observer,
    probe: GroupLag,
    *,
    rate: float,
    seconds: float,
    seed: int,
) -> Step:
    """Offer `rate` interactions/s for `seconds`, then wait for the backlog to drain."""
    samples: list[LagSample] = []
    rss: dict[str, float] = {}
    sampling = asyncio.Event()

    async def sample_forever() -> None:
        while not sampling.is_set():
            samples.append(await probe.sample())
            for name, service in running.items():
                rss[name] = max(rss.get(name, 0.0), rss_mb(service.pid))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_forever())
    meters = _cpu_meters(running)
    for meter in meters.values():
        meter.start(time.time())
    began = time.time()
    load = await loadgen(
        f"{running['intake'].url}/v1/interactions",
        rate=rate,
        duration=seconds,
        headers=intake_headers(),
        seed=seed,
        record=True,
    )
    ended = time.time()
    scheduled = {key: at for key, at, _ in load.accepted}
    queued = observer.first_seen("interaction.queued")
    started = observer.first_seen("sla.started")
    received = observer.first_seen("interaction.received")

    def drained() -> bool:
        last = samples[-1] if samples else None
        return (
            last is not None
            and last.at > ended
            and not any(last.lag.values())
            and all(key in queued and key in started for key in scheduled)
        )

    async def is_drained() -> bool:
        return drained()

    await poll_until(is_drained, within=DRAIN_LIMIT)
    drain_s = time.time() - ended if drained() else math.inf
    cpu_s = {
        name: meter.stop(time.time()) * (time.time() - began) for name, meter in meters.items()
    }
    sampling.set()
    await sampler

    # The outbox backlog at each sample, from when each answer came and its event was fetched.
    answers = sorted(answered for _, _, answered in load.accepted)
    on_kafka = sorted(received[key] for key, _, _ in load.accepted if key in received)
    series: dict[str, list[tuple[float, float]]] = {}
    for sample in samples:
        for group, lag in sample.lag.items():
            series.setdefault(group, []).append((sample.at, float(lag)))
        backlog = _count_upto(answers, sample.at) - _count_upto(on_kafka, sample.at)
        series.setdefault(OUTBOX, []).append((sample.at, float(max(0, backlog))))
    half = began + seconds / 2
    second_half = [s for s in samples if half <= s.at <= ended]
    inflow: dict[str, float] = {OUTBOX: rate}
    if len(second_half) >= 2:
        span = second_half[-1].at - second_half[0].at
        for group in second_half[-1].produced:
            grew = second_half[-1].produced[group] - second_half[0].produced.get(group, 0)
            inflow[group] = grew / span if span else 0.0
    growth = {
        group: _slope([(t, y) for t, y in points if half <= t <= ended])
        for group, points in series.items()
    }
    step = Step(
        rate=rate,
        seconds=seconds,
        post_errors=int(load.figures["errors"]),
        post_p99_ms=float(load.figures["p99_ms"]),
        received_ms=latency_ms(scheduled, received),
        queued_ms=latency_ms(scheduled, queued),
        started_ms=latency_ms(scheduled, started),
        max_lag={group: int(max(y for _, y in points)) for group, points in series.items()},
        lag_growth=growth,
        inflow=inflow,
        drain_s=drain_s,
        generator_cores=load.cores,
        rss_max=rss,
        cpu_ms={name: 1000 * used / max(1, len(load.accepted)) for name, used in cpu_s.items()},
    )
    verdict = "bounded" if step.bounded else "NOT bounded"
    say(
        f"  pipeline at {rate:.0f}/s: POST->received p50/p99 {pct(step.received_ms, 0.5):.0f}/"
        f"{pct(step.received_ms, 0.99):.0f} ms, POST->queued p50/p99 "
        f"{pct(step.queued_ms, 0.5):.0f}/{pct(step.queued_ms, 0.99):.0f} ms, "
        f"->sla.started p99 {pct(step.started_ms, 0.99):.0f} ms, max lag {step.max_lag}, "
        f"drain {drain_s:.1f} s, {verdict}"
    )
    return step


def _cpu_meters(running: System) -> dict[str, CpuMeter]:
    """A meter per service, one for every PostgreSQL server process and one for the broker."""
    meters = {name: CpuMeter([service.pid]) for name, service in running.items()}
    meters["postgres"] = CpuMeter(_pids_named("postgres"))
    meters["kafka"] = CpuMeter(_pids_named("java"))
    return meters


def _pids_named(command: str) -> list[int]:
    """Pids of the processes whose command name is `command` (new ones later are missed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _count_upto(sorted_times: list[float], moment: float) -> int:
    low, high = 0, len(sorted_times)
    while low < high:
        mid = (low + high) // 2
        if sorted_times[mid] <= moment:
            low = mid + 1
        else:
            high = mid
    return low


def _next_rate(steps: dict[float, Step], ladder: list[float]) -> float | None:
    """The next rate to try in the search for the highest bounded one (None: found)."""
    good = max((r for r, s in steps.items() if s.bounded), default=None)
    bad = min((r for r, s in steps.items() if not s.bounded), default=None)
    between = [r for r in ladder if (good is None or r > good) and (bad is None or r < bad)]
    between = [r for r in between if r not in steps]
    if not between:
        return None
    if not steps and FIRST_RATE in between:
        return FIRST_RATE
    if bad is None:
        return between[min(1, len(between) - 1)]  # climb two rungs at a time
    if good is None:
        return between[0] if len(between) <= 2 else between[len(between) // 2]
    return between[len(between) // 2]


@dataclass
class PipelineRun:
    steps: dict[float, Step]
    sustained: float
    rss_idle: dict[str, float]
    rss_loaded: dict[str, float]
    """Highest RSS sampled during the sustained steps."""
    rss_hwm: dict[str, float]
    """VmHWM at the end: the peak over every step, overloaded ones too."""


async def pipeline_run(
    *, fixed: list[float], search_steps: int, seconds: float, settle: float = 5.0
) -> PipelineRun:
    """Start the five services, measure idle memory, run the fixed rates and the search."""
    async with system(SERVICES) as running:
        observer = Observer(running.namespace)
        await observer.start()
        probe = GroupLag({s: running.group(s) for s in SERVICES})
        await probe.start()
        await probe.discover()
        try:
            await asyncio.sleep(settle)
            rss_idle = {name: rss_mb(service.pid) for name, service in running.items()}
            steps: dict[float, Step] = {}
            seed = 1
            # The search climbs from FIRST_RATE before the fixed rates run: a step the pipeline
            # cannot keep up with leaves a backlog that spoils the steps after it.
            for _ in range(search_steps):
                following = _next_rate(steps, LADDER)
                if following is None:
                    break
                seed += 1
                steps[following] = await run_step(
                    running, observer, probe, rate=following, seconds=seconds, seed=seed
                )
            for rate in sorted(r for r in fixed if r not in steps):
                if any(not s.bounded for r, s in steps.items() if r < rate and r in fixed):
                    # A lower fixed rate already left a backlog: this one can only be worse,
                    # and its minutes are better spent inside the 40-minute budget.
                    say(f"  pipeline at {rate:.0f}/s: not run, a lower fixed rate was unbounded")
                    continue
                seed += 1
                steps[rate] = await run_step(
                    running, observer, probe, rate=rate, seconds=seconds, seed=seed
                )
            sustained = max((r for r, s in steps.items() if s.bounded), default=0.0)
            loaded: dict[str, float] = {}
            for step in steps.values():
                if step.bounded:
                    for name, mb in step.rss_max.items():
                        loaded[name] = max(loaded.get(name, 0.0), mb)
            hwm = {name: peak_rss_mb(service.pid) for name, service in running.items()}
        finally:
            await probe.stop()
            await observer.stop()
    return PipelineRun(steps, sustained, rss_idle, loaded, hwm)


async def pipeline_suite(
    runs: int, *, fixed: list[float], search_steps: int, seconds: float
) -> list[Figure]:
    """Items 2 and 7 over `runs` runs: one table line per figure, median of the runs."""
    results: list[PipelineRun] = []
    for n in range(runs):
        say(f"  pipeline run {n + 1} of {runs}")
        results.append(await pipeline_run(fixed=fixed, search_steps=search_steps, seconds=seconds))
    figures: list[Figure] = []
    if search_steps:
        figures.append(
            Figure(
                "pipeline sustained (lag bounded)",
                "/s",
                [r.sustained for r in results],
                target=">= 300/s, goal 1,000/s",
                notes={"step_seconds": seconds, "ladder": LADDER},
            )
        )
        # What one interaction costs the machine, process by process, where the pipeline keeps
        # up: the budget that decides the sustainable rate on these 2 cores.
        budgets = [r.steps[r.sustained or min(r.steps)].cpu_ms for r in results if r.steps]
        figures.append(
            Figure(
                "CPU per interaction, all processes, at the sustained rate",
                " ms",
                [sum(budget.values()) for budget in budgets],
                notes={"per_process_per_run": budgets},
            )
        )
        for name in budgets[0] if budgets else ():
            figures.append(
                Figure(
                    f"  of which {name}",
                    " ms",
                    [budget.get(name, math.nan) for budget in budgets],
                )
            )
    for rate in fixed:
        at = [r.steps[rate] for r in results if rate in r.steps]
        for label, values, target in (
            ("POST->received (intake's hop)", [s.received_ms for s in at], ""),
            ("POST->queued", [s.queued_ms for s in at], "p99 < 250 ms, goal 50 ms"),
            ("POST->sla.started", [s.started_ms for s in at], ""),
        ):
            for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
                figures.append(
                    Figure(
                        f"{label} {name} at {rate:.0f}/s",
                        " ms",
                        [pct(v, fraction) for v in values],
                        target=target if (name == "p99" and rate == 100) else "",
                    )
                )
        figures.append(
            Figure(
                f"consumer lag at {rate:.0f}/s, worst group max",
                " events",
                [float(max(s.max_lag.values(), default=0)) for s in at],
                notes={"per_run": [s.max_lag for s in at]},
            )
        )
        figures.append(
            Figure(
                f"backlog drained after {rate:.0f}/s in",
                " s",
                [s.drain_s for s in at],
            )
        )
    if search_steps:
        at_best = [r.steps[r.sustained] for r in results if r.sustained in r.steps]
        figures += [
            Figure(
                "POST->queued p99 at the sustained rate",
                " ms",
                [pct(s.queued_ms, 0.99) for s in at_best],
            ),
            Figure(
                "POST->sla.started p99 at the sustained rate",
                " ms",
                [pct(s.started_ms, 0.99) for s in at_best],
            ),
            Figure(
                "consumer lag at the sustained rate, worst group max",
                " events",
                [float(max(s.max_lag.values(), default=0)) for s in at_best],
                notes={"per_run": [s.max_lag for s in at_best]},
            ),
        ]
    figures.append(
        Figure(
            "load generator CPU during the pipeline (cores)",
            "",
            [s.generator_cores for r in results for s in r.steps.values()],
        )
    )
    figures[0].notes["steps"] = [
        {str(rate): step.summary() for rate, step in r.steps.items()} for r in results
    ]
    for service in SERVICES:
        figures.append(
            Figure(f"RSS idle: {service}", " MB", [r.rss_idle[service] for r in results])
        )
    for service in SERVICES:
        figures.append(
            Figure(
                f"RSS peak under sustained load: {service}",
                " MB",
                [r.rss_loaded.get(service, math.nan) for r in results],
                target="< 250 MB, goal 120 MB",
                notes={"vmhwm_every_step_mb": [r.rss_hwm[service] for r in results]},
            )
        )
    return figures
