"""What a process costs, read from /proc (no psutil in the constraints): CPU seconds and memory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used, in seconds (nan when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _status_mb(pid: int, key: str) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return float("nan")
    for line in lines:
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of a process now (VmRSS), in MB."""
    return _status_mb(pid, "VmRSS:")


def peak_rss_mb(pid: int) -> float:
    """Highest resident memory of a process since it started (VmHWM), in MB."""
    return _status_mb(pid, "VmHWM:")


async def backend_pids(dsn: str, database: str) -> list[int]:
    """The PostgreSQL server processes serving connections to a database now."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return [int(row["pid"]) for row in rows]


@dataclass
class CpuMeter:
    """CPU used by a set of processes between `start` and `stop`, as cores kept busy."""

    pids: list[int]
    _cpu: dict[int, float] | None = None
    _wall: float = 0.0

    def start(self, now: float) -> None:
        self._cpu = {pid: cpu_seconds(pid) for pid in self.pids}
        self._wall = now

    def stop(self, now: float) -> float:
        """Cores busy on average since start (processes that ended meanwhile are left out)."""
        assert self._cpu is not None, "start the meter first"
        used = 0.0
        for pid, before in self._cpu.items():
            after = cpu_seconds(pid)
            if after == after and before == before:  # both known (not nan)
                used += after - before
        elapsed = now - self._wall
        return used / elapsed if elapsed > 0 else float("nan")
