"""Run the benchmark suites, print one table and write the figures as JSON under bench/results/.

python -m bench.run                      # make bench: every item, three runs each (< 40 min)
python -m bench.run --quick              # make bench-quick: items 1, 2 at 100/s, 4 and 8 (5 min)
python -m bench.run --only pipeline --runs 1 --pipeline-seconds 20   # one item, small

Items (issue 9): 1 `intake`, 2 and 7 `pipeline` (memory rides along), 3 `lifecycle`,
4 `routing`, 5 `sla`, 6 `analytics` (bench/analytics.py), 8 `ceiling` and `bare`.
Each figure is the median of the runs, with their min and max. Every service is the same build
`make test` tests, started as its own uvicorn process on fresh `bench_<service>` databases and a
fresh `bench<hex>.` topic namespace that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bench import ceiling
from bench.deadlines import deadlines_suite
from bench.harness import Figure, intake_headers, loadgen, say
from bench.lifecycle import lifecycle_suite
from bench.offers import offers_suite
from bench.pipeline import pipeline_suite
from bench.procstat import peak_rss_mb, rss_mb
from bench.system import KAFKA_BOOTSTRAP, ROOT, free_port, recreate_database, system

RESULTS = ROOT / "bench" / "results"
ITEMS = ["ceiling", "bare", "intake", "pipeline", "lifecycle", "routing", "sla", "analytics"]
QUICK_ITEMS = ["ceiling", "bare", "intake", "pipeline", "routing"]


def _ladder_for_run(ladder: Sequence[float], first_best: float | None) -> list[float]:
    """Runs after the first start at the first run's best rung instead of climbing again."""
    if first_best is None or first_best not in ladder:
        return list(ladder)
    return [r for r in ladder if r >= first_best]


async def _ramp(
    url: str | Sequence[str],
    ladder: Sequence[float],
    *,
    seconds: float,
    headers: dict[str, str],
    label: str,
    done: dict[float, dict[str, Any]] | None = None,
) -> tuple[float, list[float]]:
    """Climb the ladder until p99 >= 100 ms or an error; return the best rate and generator CPU.

    Rungs already measured (`done`) are judged on those figures instead of being run again.
    """
    done = done or {}
    cores: list[float] = []
    best = 0.0
    for rate in ladder:
        figures = done.get(rate)
        if figures is None:
            load = await loadgen(url, rate=rate, duration=seconds, headers=headers, seed=int(rate))
            figures = load.figures
            cores.append(load.cores)
        ok = not figures["errors"] and figures["p99_ms"] < 100
        say(
            f"  {label} at {rate:.0f}/s: p99 {figures['p99_ms']:.1f} ms, errors {figures['errors']}"
        )
        if not ok:
            break
        best = rate
    return best, cores


async def intake_suite(
    runs: int, step_seconds: float, ladder: Sequence[float], instances: int = 1
) -> list[Figure]:
    """Item 1: highest rate sustained with p99 < 100 ms and no error; p50/p95/p99 at 200/s.

    The 200/s measure is the first rung of the ladder; runs after the first skip to the first
    run's best rung, and step down a rung when that one fails. With `instances` above 1, that
    many intake processes share the load in turn, as behind a round-robin load balancer.
    """
    scaled = f", {instances} instances" if instances > 1 else ""
    headers = intake_headers()
    sustained: list[float] = []
    at_200: list[dict[str, Any]] = []
    rss_idle: list[float] = []
    rss_peak: list[float] = []
    generator_cpu: list[float] = []
    first_best: float | None = None
    for _ in range(runs):
        async with system(["intake"], instances={"intake": instances}) as services:
            every = services.instances["intake"]
            await asyncio.sleep(2)
            rss_idle.append(max(rss_mb(each.pid) for each in every))
            url = [f"{each.url}/v1/interactions" for each in every]
            load = await loadgen(url, rate=200, duration=step_seconds, headers=headers, seed=200)
            at_200.append(load.figures)
            generator_cpu.append(load.cores)
            rungs = _ladder_for_run(ladder, first_best)
            best, cores = await _ramp(
                url,
                rungs,
                seconds=step_seconds,
                headers=headers,
                label="intake",
                done={200: load.figures},
            )
            generator_cpu += cores
            if first_best is not None and best == 0 and rungs[0] != ladder[0]:
                below = [r for r in ladder if r < rungs[0] and r != 200][::-1]
                for rate in below:
                    best, cores = await _ramp(
                        url, [rate], seconds=step_seconds, headers=headers, label="intake"
                    )
                    generator_cpu += cores
                    if best:
                        break
                else:
                    ok_200 = not load.figures["errors"] and load.figures["p99_ms"] < 100
                    best = 200.0 if ok_200 else 0.0
            if first_best is None:
                first_best = best
            sustained.append(best)
            rss_peak.append(max(peak_rss_mb(each.pid) for each in every))
    return [
        Figure(
            f"intake sustained (p99 < 100 ms, no error{scaled})",
            "/s",
            sustained,
            target=">= 500/s, goal 1,500/s",
            notes={"step_seconds": step_seconds, "ladder": list(ladder), "instances": instances},
        ),
        Figure(f"intake p50 at 200/s{scaled}", " ms", [f["p50_ms"] for f in at_200]),
        Figure(f"intake p95 at 200/s{scaled}", " ms", [f["p95_ms"] for f in at_200]),
        Figure(f"intake p99 at 200/s{scaled}", " ms", [f["p99_ms"] for f in at_200]),
        Figure("intake alone RSS idle", " MB", rss_idle),
        Figure("intake alone RSS peak (VmHWM)", " MB", rss_peak, target="< 250 MB, goal 120 MB"),
        Figure("load generator CPU during intake (cores)", "", generator_cpu, digits=2),
    ]


async def bare_endpoint_suite(
    runs: int, step_seconds: float, ladder: Sequence[float]
) -> list[Figure]:
    """Item 8 (part): the same ramp against a bare FastAPI endpoint that only validates."""
    sustained: list[float] = []
    cores: list[float] = []
    first_best: float | None = None
    for _ in range(runs):
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            cwd=ROOT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            async with asyncio.timeout(30):
                while not await _answers(url):  # noqa: ASYNC110 - polling another process
                    await asyncio.sleep(0.2)
            rungs = _ladder_for_run(ladder, first_best)
            best, used = await _ramp(
                f"{url}/v1/interactions", rungs, seconds=step_seconds, headers={}, label="bare"
            )
            if best == 0 and rungs[0] != ladder[0]:
                below = [r for r in ladder if r < rungs[0]][::-1]
                for rate in below:
                    best, more = await _ramp(
                        f"{url}/v1/interactions",
                        [rate],
                        seconds=step_seconds,
                        headers={},
                        label="bare",
                    )
                    used += more
                    if best:
                        break
            if first_best is None:
                first_best = best
            sustained.append(best)
            cores += used
        finally:
            process.terminate()
            await process.wait()
    return [
        Figure(
            "ceiling: bare FastAPI validation (p99 < 100 ms)",
            "/s",
            sustained,
            notes={"step_seconds": step_seconds, "ladder": list(ladder)},
        ),
        Figure("load generator CPU during the bare ramp (cores)", "", cores, digits=2),
    ]


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            await client.get(f"{url}/docs", timeout=2)
    except httpx.HTTPError:
        return False
    return True


async def ceiling_suite(runs: int, seconds: float) -> list[Figure]:
    """Item 8 (part): raw asyncpg inserts and raw aiokafka produce+consume of the same data."""
    dsn = (await recreate_database("bench_ceiling")).replace(
        "postgresql+asyncpg://", "postgresql://"
    )
    inserts = [await ceiling.asyncpg_inserts(dsn, seconds=seconds) for _ in range(runs)]
    kafka = [
        await ceiling.kafka_round_trip(KAFKA_BOOTSTRAP, count=int(5000 * seconds / 5))
        for _ in range(runs)
    ]
    return [
        Figure("ceiling: asyncpg inserts, 8 connections", "/s", [r["rows_per_s"] for r in inserts]),
        Figure("ceiling: aiokafka produce+consume", "/s", [r["round_trip_per_s"] for r in kafka]),
        Figure("ceiling: aiokafka produce->consume p99", " ms", [r["p99_ms"] for r in kafka]),
    ]


async def analytics_suite(runs: int, interactions: int) -> list[Figure]:
    """Item 6, measured by bench/analytics.py when it is there."""
    try:
        module = importlib.import_module("bench.analytics")
    except ModuleNotFoundError as missing:
        if missing.name != "bench.analytics":
            raise
        say("  item 6 not available: bench/analytics.py is missing")
        return [Figure("analytics: not available (no bench/analytics.py)", "", [])]
    measure: Callable[..., Awaitable[dict[str, Any]]] = module.measure_analytics
    result = await measure(interactions=interactions, runs=runs)

    def runs_of(key: str) -> list[float]:
        values = result.get(f"{key}_runs")
        if values is None:
            values = [result[key]] if key in result else []
        return [float(v) for v in values]

    count = int(result.get("interactions", interactions))
    return [
        Figure(
            f"GET /v1/kpis by day and channel p95 ({count:,} interactions)",
            " ms",
            runs_of("kpis_p95_ms"),
            target="< 1 s, goal 200 ms",
            notes={k: v for k, v in result.items() if not isinstance(v, list | dict) or k},
        ),
        Figure("GET /v1/kpis by day and channel p50", " ms", runs_of("kpis_p50_ms")),
        Figure(
            "analytics replay into an empty database", " events/s", runs_of("replay_events_per_s")
        ),
    ]


def _link_ceilings(figures: list[Figure]) -> None:
    """Set each Atende figure's ceiling from the machine's own figures of the same run."""
    by_name = {f.name: f for f in figures}

    def median(name: str) -> float | None:
        figure = by_name.get(name)
        if figure is None or math.isnan(figure.spread.median):
            return None
        return figure.spread.median

    links = [
        ("intake sustained", "ceiling: bare FastAPI validation (p99 < 100 ms)", "bare FastAPI"),
        ("pipeline sustained", "ceiling: asyncpg inserts, 8 connections", "raw inserts/s"),
        ("lifecycle completed", "ceiling: asyncpg inserts, 8 connections", "raw inserts/s"),
        ("POST->queued p99", "ceiling: aiokafka produce->consume p99", "Kafka hop p99"),
        ("POST->sla.started p99", "ceiling: aiokafka produce->consume p99", "Kafka hop p99"),
        ("agent available->offer p99", "ceiling: aiokafka produce->consume p99", "Kafka hop p99"),
        ("analytics replay", "ceiling: aiokafka produce+consume", "Kafka round trips/s"),
    ]
    for prefix, ceiling_name, label in links:
        value = median(ceiling_name)
        if value is None:
            continue
        for figure in figures:
            if figure.name.startswith(prefix):
                figure.ceiling, figure.ceiling_name = value, label


def table(figures: list[Figure]) -> str:
    """Render the figures as a fixed-width table."""
    width = max(len(f.name) for f in figures) + 2
    head = f"{'figure':<{width}}{'median [min-max, runs]':<36}{'target':<26}vs ceiling"
    lines = [head, "-" * (width + 90)]
    for figure in figures:
        shown = figure.spread.show(figure.unit, figure.digits)
        lines.append(f"{figure.name:<{width}}{shown:<36}{figure.target:<26}{figure.ratio()}")
    return "\n".join(lines)


@dataclass
class Plan:
    """What to run and how big: the full suite, the quick subset, or the flags' choice."""

    items: list[str]
    runs: int
    ceiling_seconds: float
    bare_ladder: list[float]
    bare_seconds: float
    intake_ladder: list[float]
    intake_seconds: float
    intake_instances: int
    pipeline_rates: list[float]
    pipeline_search: int
    pipeline_seconds: float
    lifecycle_rate: float
    lifecycle_seconds: float
    lifecycle_agents: int
    lifecycle_handle: float
    routing_agents: int
    routing_waiting: int
    routing_trials: int
    routing_rate: float
    sla_clocks: int
    sla_due: int
    sla_window: float
    sla_idle: float
    kpi_interactions: int


def plan_of(args: argparse.Namespace) -> Plan:
    quick = bool(args.quick)
    plan = Plan(
        items=QUICK_ITEMS if quick else ITEMS,
        runs=1 if quick else 3,
        ceiling_seconds=5 if quick else 10,
        bare_ladder=[500, 1000, 1500, 2000, 2500, 3000],
        bare_seconds=10,
        intake_ladder=[200, 300, 500, 800, 1000, 1250, 1500, 2000],
        intake_seconds=15 if quick else 60,
        intake_instances=1,
        pipeline_rates=[100] if quick else [100, 300],
        pipeline_search=0 if quick else 4,
        pipeline_seconds=20 if quick else 30,
        lifecycle_rate=30,
        lifecycle_seconds=45,
        lifecycle_agents=200,
        lifecycle_handle=2.0,
        routing_agents=200,
        routing_waiting=5000,
        routing_trials=100 if quick else 200,
        routing_rate=5,
        sla_clocks=100_000,
        sla_due=1500,
        sla_window=30,
        sla_idle=10,
        kpi_interactions=1_000_000,
    )
    for name, value in vars(args).items():
        if value is not None and hasattr(plan, name) and name not in ("items",):
            setattr(plan, name, value)
    if args.only:
        unknown = sorted(set(args.only) - set(ITEMS))
        if unknown:
            raise SystemExit(f"unknown items {unknown}; choose from {ITEMS}")
        plan.items = [item for item in ITEMS if item in args.only]
    return plan


def suites(plan: Plan) -> dict[str, Callable[[], Awaitable[list[Figure]]]]:
    runs = plan.runs
    return {
        "ceiling": lambda: ceiling_suite(runs, seconds=plan.ceiling_seconds),
        "bare": lambda: bare_endpoint_suite(runs, plan.bare_seconds, plan.bare_ladder),
        "intake": lambda: intake_suite(
            runs, plan.intake_seconds, plan.intake_ladder, plan.intake_instances
        ),
        "pipeline": lambda: pipeline_suite(
            runs,
            fixed=plan.pipeline_rates,
            search_steps=plan.pipeline_search,
            seconds=plan.pipeline_seconds,
        ),
        "lifecycle": lambda: lifecycle_suite(
            runs,
            rate=plan.lifecycle_rate,
            seconds=plan.lifecycle_seconds,
            agents=plan.lifecycle_agents,
            handle=plan.lifecycle_handle,
        ),
        "routing": lambda: offers_suite(
            runs,
            agents=plan.routing_agents,
            waiting=plan.routing_waiting,
            trials=plan.routing_trials,
            rate=plan.routing_rate,
        ),
        "sla": lambda: deadlines_suite(
            runs,
            clocks=plan.sla_clocks,
            due=plan.sla_due,
            window=plan.sla_window,
            idle_seconds=plan.sla_idle,
        ),
        "analytics": lambda: analytics_suite(runs, plan.kpi_interactions),
    }


async def main(args: argparse.Namespace) -> int:
    started = time.time()
    plan = plan_of(args)
    RESULTS.mkdir(exist_ok=True)
    figures: list[Figure] = []
    timings: dict[str, float] = {}
    failures: dict[str, str] = {}
    cpu_before = os.times()
    available = suites(plan)
    for name in plan.items:
        say(f"[bench] {name}")
        began = time.time()
        try:
            figures += await available[name]()
        except Exception as exc:  # noqa: BLE001 - one broken item must not lose the others
            traceback.print_exc()
            failures[name] = f"{type(exc).__name__}: {exc}"
            figures.append(Figure(f"{name}: FAILED ({type(exc).__name__})", "", []))
        timings[name] = time.time() - began
        say(f"[bench] {name} took {timings[name]:.0f} s")
    cpu_after = os.times()
    harness_cores = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / max(
        1e-9, time.time() - started
    )
    figures.append(
        Figure("bench harness process CPU (observer, agents; cores)", "", [harness_cores], digits=2)
    )
    _link_ceilings(figures)
    output = table(figures)
    sys.stdout.write(output + "\n")
    kind = "quick" if args.quick else ("full" if plan.items == ITEMS else "partial")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    load = os.getloadavg()
    report = {
        "when": stamp,
        "kind": kind,
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": load,
        },
        "seconds": time.time() - started,
        "item_seconds": timings,
        "failures": failures,
        "plan": asdict(plan),
        "table": output.splitlines(),
        "figures": [
            {**asdict(f), "median": f.spread.median, "min": f.spread.low, "max": f.spread.high}
            for f in figures
        ],
    }
    text = json.dumps(report, indent=2, default=str)
    (RESULTS / f"{kind}-{stamp}.json").write_text(text)
    if kind == "full" and not failures:
        (RESULTS / "latest.json").write_text(text)
    say(f"[bench] {time.time() - started:.0f} s; figures in bench/results/{kind}-{stamp}.json")
    return 1 if failures else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 5-minute subset, one run each")
    parser.add_argument(
        "--only", type=lambda v: v.split(","), help=f"comma-separated items of {ITEMS}"
    )
    parser.add_argument("--runs", type=int, help="runs per figure (3 by default, 1 with --quick)")
    floats = lambda v: [float(x) for x in v.split(",")]  # noqa: E731
    sizes = parser.add_argument_group("sizes (defaults: the full suite's, or --quick's)")
    sizes.add_argument("--ceiling-seconds", type=float)
    sizes.add_argument("--bare-ladder", type=floats, help="rates, comma-separated")
    sizes.add_argument("--bare-seconds", type=float)
    sizes.add_argument("--intake-ladder", type=floats, help="rates; the first should be 200")
    sizes.add_argument("--intake-seconds", type=float, help="seconds per rung (60 in full)")
    sizes.add_argument("--intake-instances", type=int, help="intake processes sharing the load")
    sizes.add_argument("--pipeline-rates", type=floats, help="fixed offered rates")
    sizes.add_argument("--pipeline-search", type=int, help="extra steps to find the highest")
    sizes.add_argument("--pipeline-seconds", type=float)
    sizes.add_argument("--lifecycle-rate", type=float)
    sizes.add_argument("--lifecycle-seconds", type=float)
    sizes.add_argument("--lifecycle-agents", type=int)
    sizes.add_argument("--lifecycle-handle", type=float, help="mean handling seconds")
    sizes.add_argument("--routing-agents", type=int)
    sizes.add_argument("--routing-waiting", type=int)
    sizes.add_argument("--routing-trials", type=int)
    sizes.add_argument("--routing-rate", type=float, help="agents becoming available per second")
    sizes.add_argument("--sla-clocks", type=int)
    sizes.add_argument("--sla-due", type=int, help="clocks coming due during the window")
    sizes.add_argument("--sla-window", type=float)
    sizes.add_argument("--sla-idle", type=float, help="seconds of each idle CPU measure")
    sizes.add_argument("--kpi-interactions", type=int)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
