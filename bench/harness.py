"""What every benchmark item shares: a figure of the table, progress lines, keys, the generator."""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import Spread, percentile
from bench.system import ROOT


@dataclass
class Figure:
    """One line of the table: a measured figure, its runs, its target and its ceiling."""

    name: str
    unit: str
    runs: list[float]
    ceiling: float | None = None
    ceiling_name: str = ""
    target: str = ""
    """The issue's bar and goal, as text ("< 250 ms, goal 50 ms")."""
    digits: int = 1
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def spread(self) -> Spread:
        return Spread.of(self.runs)

    def ratio(self) -> str:
        if self.ceiling is None or not self.ceiling or math.isnan(self.spread.median):
            return ""
        return f"{self.spread.median / self.ceiling:.2f} of {self.ceiling_name}"


def say(message: str) -> None:
    """Report progress on stderr; the table alone goes to stdout."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def service_key(service: str, scope: str) -> str:
    """A development API key of the service holding the scope (from its own Settings)."""
    settings = importlib.import_module(f"{service}.config").Settings(environment="development")
    for key, scopes in settings.api_keys.items():
        if scope in scopes:
            return str(key)
    raise SystemExit(f"{service} has no development key with scope {scope}")


def intake_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {service_key('intake', 'interactions:write')}"}


@dataclass
class Load:
    """What the open-loop generator measured, and each request it got accepted."""

    figures: dict[str, Any]
    accepted: list[tuple[str, float, float]]
    """(interaction id, scheduled departure, answer), wall-clock seconds."""

    @property
    def cores(self) -> float:
        """CPU the generator itself used, as cores kept busy over its run."""
        wall = self.figures["generator_wall_s"]
        return float(self.figures["generator_cpu_s"] / wall) if wall else math.nan


async def loadgen(
    url: str | Sequence[str],
    *,
    rate: float,
    duration: float,
    headers: dict[str, str],
    seed: int = 1,
    record: bool = False,
) -> Load:
    """Run the open-loop generator in its own process and return its figures.

    Several urls are instances of one service, taking the requests in turn.
    """
    urls = [url] if isinstance(url, str) else list(url)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        path = Path(scratch) / "accepted.jsonl"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            *[arg for each in urls for arg in ("--url", each)],
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            "--seed",
            str(seed),
            *(["--record", str(path)] if record else []),
            *[arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")],
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError("the load generator failed")
        figures: dict[str, Any] = json.loads(out)
        accepted: list[tuple[str, float, float]] = []
        if record:
            for line in path.read_text().splitlines():
                row = json.loads(line)
                accepted.append((row["id"], row["scheduled"], row["answered"]))
    return Load(figures, accepted)


def latency_ms(starts: dict[str, float], ends: dict[str, float]) -> list[float]:
    """Sorted latencies in ms of every start; one that never ended counts as infinite."""
    return sorted(
        (ends[key] - start) * 1000 if key in ends else math.inf for key, start in starts.items()
    )


def pct(sorted_ms: list[float], fraction: float) -> float:
    """A percentile of sorted values; nan when there are none."""
    return percentile(sorted_ms, fraction) if sorted_ms else math.nan


async def poll_until(check: Any, *, within: float, every: float = 0.25) -> bool:
    """Await `check()` until it is true or `within` seconds pass; tell whether it came true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return bool(await check())
