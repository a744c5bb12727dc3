"""Run the benchmark suites, print one table and write the figures as JSON under bench/results/.

python -m bench.run            # make bench: every suite, three runs each
python -m bench.run --quick    # make bench-quick: the 5-minute subset
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import ceiling
from bench.stats import Spread
from bench.system import KAFKA_BOOTSTRAP, ROOT, free_port, recreate_database, system

RESULTS = ROOT / "bench" / "results"


@dataclass
class Figure:
    """One line of the table: a measured figure, its runs, and its ceiling when it has one."""

    name: str
    unit: str
    runs: list[float]
    ceiling: float | None = None
    ceiling_name: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def spread(self) -> Spread:
        return Spread.of(self.runs)

    def ratio(self) -> str:
        if self.ceiling is None or not self.ceiling or self.spread.median != self.spread.median:
            return ""
        return f"{self.spread.median / self.ceiling:.2f} of {self.ceiling_name}"


def say(message: str) -> None:
    """Report progress on stderr; the table alone goes to stdout."""
    sys.stderr.write(message + "\n")


def service_key(service: str, scope: str) -> str:
    """A development API key of the service holding the scope (from its own Settings)."""
    settings = importlib.import_module(f"{service}.config").Settings()
    for key, scopes in settings.api_keys.items():
        if scope in scopes:
            return str(key)
    raise SystemExit(f"{service} has no development key with scope {scope}")


async def loadgen(
    url: str, *, rate: float, duration: float, headers: dict[str, str]
) -> dict[str, Any]:
    """Run the open-loop generator in its own process and return its figures."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--rate",
        str(rate),
        "--duration",
        str(duration),
        *[arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")],
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError("the load generator failed")
    figures: dict[str, Any] = json.loads(out)
    return figures


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb(pid: int) -> float:
    """Resident memory of a process now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def intake_suite(runs: int, step_seconds: float, rates: Sequence[float]) -> list[Figure]:
    """Item 1: highest rate sustained with p99 < 100 ms and no error; p50/p95/p99 at 200/s."""
    headers = {"Authorization": f"Bearer {service_key('intake', 'interactions:write')}"}
    sustained: list[float] = []
    at_200: list[dict[str, Any]] = []
    rss_idle: list[float] = []
    rss_peak: list[float] = []
    generator_cpu: list[float] = []
    for _ in range(runs):
        async with system(["intake"]) as services:
            intake = services["intake"]
            rss_idle.append(current_rss_mb(intake.pid))
            url = f"{intake.url}/v1/interactions"
            at_200.append(await loadgen(url, rate=200, duration=step_seconds, headers=headers))
            best = 0.0
            for rate in rates:
                figures = await loadgen(url, rate=rate, duration=step_seconds, headers=headers)
                generator_cpu.append(figures["generator_cpu_s"] / figures["generator_wall_s"])
                p99, errors = figures["p99_ms"], figures["errors"]
                say(f"  intake at {rate:.0f}/s: p99 {p99:.1f} ms, errors {errors}")
                if figures["errors"] or figures["p99_ms"] >= 100:
                    break
                best = rate
            sustained.append(best)
            rss_peak.append(peak_rss_mb(intake.pid))
    return [
        Figure("intake sustained (p99 < 100 ms, no error)", "/s", sustained),
        Figure("intake p50 at 200/s", " ms", [f["p50_ms"] for f in at_200]),
        Figure("intake p95 at 200/s", " ms", [f["p95_ms"] for f in at_200]),
        Figure("intake p99 at 200/s", " ms", [f["p99_ms"] for f in at_200]),
        Figure("intake RSS idle", " MB", rss_idle),
        Figure("intake RSS peak under load", " MB", rss_peak),
        Figure("load generator CPU (cores busy)", "", generator_cpu),
    ]


async def bare_endpoint_suite(
    runs: int, step_seconds: float, rates: Sequence[float]
) -> list[Figure]:
    """Item 8 (part): the same ramp against a bare FastAPI endpoint that only validates."""
    sustained: list[float] = []
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
            best = 0.0
            for rate in rates:
                figures = await loadgen(
                    f"{url}/v1/interactions", rate=rate, duration=step_seconds, headers={}
                )
                if figures["errors"] or figures["p99_ms"] >= 100:
                    break
                best = rate
            sustained.append(best)
        finally:
            process.terminate()
            await process.wait()
    return [Figure("ceiling: bare FastAPI validation (p99 < 100 ms)", "/s", sustained)]


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


def table(figures: list[Figure]) -> str:
    """Render the figures as a fixed-width table."""
    width = max(len(f.name) for f in figures) + 2
    lines = [f"{'figure':<{width}}median [min-max, runs]        vs ceiling", "-" * (width + 50)]
    for figure in figures:
        lines.append(f"{figure.name:<{width}}{figure.spread.show(figure.unit):<30}{figure.ratio()}")
    return "\n".join(lines)


async def main(quick: bool) -> None:
    started = time.time()
    runs = 1 if quick else 3
    ramp = [300, 500, 800, 1000, 1500] if quick else [300, 500, 800, 1000, 1250, 1500, 2000]
    step = 15 if quick else 60
    suites: list[tuple[str, Callable[[], Awaitable[list[Figure]]]]] = [
        ("ceiling", lambda: ceiling_suite(runs, seconds=5 if quick else 10)),
        ("bare endpoint", lambda: bare_endpoint_suite(runs, step_seconds=step, rates=ramp)),
        (
            "intake",
            lambda: intake_suite(runs, step_seconds=step, rates=ramp),
        ),
    ]
    figures: list[Figure] = []
    for name, suite in suites:
        say(f"[bench] {name}")
        figures += await suite()
    by_name = {f.name: f for f in figures}
    bare = by_name.get("ceiling: bare FastAPI validation (p99 < 100 ms)")
    if bare and "intake sustained (p99 < 100 ms, no error)" in by_name:
        intake = by_name["intake sustained (p99 < 100 ms, no error)"]
        intake.ceiling, intake.ceiling_name = bare.spread.median, "bare FastAPI"
    output = table(figures)
    sys.stdout.write(output + "\n")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "when": stamp,
        "quick": quick,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "seconds": time.time() - started,
        "figures": [
            {**asdict(f), "median": f.spread.median, "min": f.spread.low, "max": f.spread.high}
            for f in figures
        ],
    }
    (RESULTS / f"{'quick' if quick else 'full'}-{stamp}.json").write_text(
        json.dumps(report, indent=2)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
