"""The system under test: a private `make run` (its own Kafka, PostgreSQL and five services).

Everything is started and healed through the same scripts an operator uses: `make run` and
`make stop` (tests/e2e/private_system.py picks the ports and run dir), `deploy/local/services.sh
start` to bring back a service that died, `deploy/local/infra.sh kafka-up` / `pg-down` / `pg-up`.
Faults are plain signals to the processes those scripts recorded in the run dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from tests.e2e.private_system import SERVICES, PrivateSystem, free_ports, port_open

PG_DSN = "postgresql://atende:atende@127.0.0.1:{port}/{database}"


class SystemError_(RuntimeError):
    """The private system could not be started or healed; the message says where to look."""


def _cluster_ports(brokers: int) -> tuple[int, int]:
    """A broker port and a controller port whose node ports (+0, +2, +4 ...) are all free."""
    for _ in range(200):
        [base] = free_ports(1)
        base -= base % 2
        wanted = [base + i for i in range(2 * brokers)]
        if wanted[-1] < 65000 and not any(port_open(p) for p in wanted):
            with contextlib.ExitStack() as stack:
                try:
                    for p in wanted:
                        sock = stack.enter_context(socket.socket())
                        sock.bind(("127.0.0.1", p))
                except OSError:
                    continue
            return base, base + 1
    raise SystemError_("found no free run of ports for a Kafka cluster")


@dataclass
class Extra:
    """A further instance of a service, started beside the one services.sh runs."""

    service: str
    port: int
    process: subprocess.Popen[bytes]


@dataclass
class FaultSystem:
    """One private Atende, the handles to hurt it and the ways to heal it."""

    private: PrivateSystem
    brokers: int = 1
    extras: list[Extra] = field(default_factory=list)

    @classmethod
    def create(cls, *, brokers: int = 1, dispatch_delay: str = "PT5S") -> FaultSystem:
        extra_env = {"SIMULATE": "0", "SURVEY_DISPATCH_DELAY": dispatch_delay}
        if brokers > 1:
            extra_env |= {
                "KAFKA_BROKERS": str(brokers),
                "ATENDE_TOPIC_REPLICATION_FACTOR": str(min(3, brokers)),
                "ATENDE_TOPIC_MIN_INSYNC_REPLICAS": "2" if brokers >= 3 else "1",
            }
        private = PrivateSystem.create(extra_env)
        if brokers > 1:
            private.kafka_port, private.controller_port = _cluster_ports(brokers)
        return cls(private=private, brokers=brokers)

    # --- where things are ----------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.private.run_dir

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.broker_ports)

    @property
    def broker_ports(self) -> list[int]:
        return [self.private.kafka_port + 2 * n for n in range(self.brokers)]

    @property
    def pg_port(self) -> int:
        return self.private.pg_port

    def url(self, service: str) -> str:
        return self.private.url(service)

    def dsn(self, database: str) -> str:
        return PG_DSN.format(port=self.pg_port, database=database)

    def pid(self, service: str) -> int | None:
        return self.private.pid(service)

    def broker_pid(self, node: int) -> int | None:
        name = "kafka" if self.brokers == 1 else f"kafka-{node}"
        return self.private.pid(name)

    # --- start and stop ------------------------------------------------------------------------
    def start(self) -> None:
        """`make run` on the private ports, without the simulator (the suite drives the load)."""
        done = self.private.make("run", label="make-run", timeout=1200)
        if done.returncode != 0:
            raise SystemError_(f"make run failed:\n{self.private.log_tails()}")

    def stop(self, *, keep_logs: bool = True) -> None:
        """Stop every process of the private system and remove its data (logs kept)."""
        for extra in self.extras:
            self._end(extra.process)
        self.extras.clear()
        self.private.make("stop", label="make-stop", timeout=300, bare=True)
        self.private.remove(keep_logs=keep_logs)

    def _script(self, script: str, *args: str, label: str) -> subprocess.CompletedProcess[str]:
        return self.private.run(["bash", f"deploy/local/{script}", *args], label=label, timeout=900)

    # --- services ------------------------------------------------------------------------------
    def signal_service(self, service: str, signum: int) -> int:
        pid = self.pid(service)
        if pid is None:
            raise SystemError_(f"{service} has no pid file in {self.run_dir}")
        os.kill(pid, signum)
        return pid

    async def wait_exit(self, pid: int, within: float) -> float | None:
        """Seconds until the process is gone, or None when it outlived `within`."""
        began = time.monotonic()
        while time.monotonic() - began < within:
            if not _alive(pid):
                return time.monotonic() - began
            await asyncio.sleep(0.05)
        return None

    async def restart_services(self) -> None:
        """`services.sh start`: starts whatever of the five is not running and waits for it."""
        done = await asyncio.to_thread(
            self._script, "services.sh", "start", label=f"services-start-{time.time():.0f}"
        )
        if done.returncode != 0:
            raise SystemError_(f"services.sh start failed:\n{done.stdout[-3000:]}")

    async def add_instance(self, service: str) -> Extra:
        """Run one more instance of a service on its own port: the command line and environment
        of the instance services.sh started, with another port."""
        port, process = await asyncio.to_thread(self._spawn_like, service)
        extra = Extra(service, port, process)
        self.extras.append(extra)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemError_(f"the second {service} exited; see its log in {self.run_dir}")
            if await _answers(f"http://127.0.0.1:{port}/healthz"):
                return extra
            await asyncio.sleep(0.3)
        raise SystemError_(f"the second {service} did not answer /healthz within 90 s")

    def _spawn_like(self, service: str) -> tuple[int, subprocess.Popen[bytes]]:
        pid = self.pid(service)
        if pid is None:
            raise SystemError_(f"{service} is not running; nothing to copy a second instance from")
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        env = dict(item.split("=", 1) for item in environ.split("\0") if "=" in item)
        [port] = free_ports(1)
        command[command.index("--port") + 1] = str(port)
        env[f"{service.upper()}_PORT"] = str(port)
        log = (self.run_dir / "logs" / f"{service}-extra-{port}.log").open("ab")
        process = subprocess.Popen(
            command,
            cwd=Path(f"/proc/{pid}/cwd").resolve(),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return port, process

    async def remove_instance(self, extra: Extra) -> None:
        await asyncio.to_thread(self._end, extra.process)
        self.extras.remove(extra)

    @staticmethod
    def _end(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # --- Kafka and PostgreSQL -------------------------------------------------------------------
    def kill_broker(self, node: int = 1) -> None:
        pid = self.broker_pid(node)
        if pid is None:
            raise SystemError_(f"Kafka node {node} has no pid file in {self.run_dir}")
        os.kill(pid, signal.SIGKILL)

    async def start_kafka(self) -> None:
        """`infra.sh kafka-up`: starts every node that does not run and waits for it."""
        done = await asyncio.to_thread(
            self._script, "infra.sh", "kafka-up", label=f"kafka-up-{time.time():.0f}"
        )
        if done.returncode != 0:
            raise SystemError_(f"infra.sh kafka-up failed:\n{done.stdout[-3000:]}")

    def controller_leader(self) -> int | None:
        """The node the KRaft quorum follows now (from the live nodes' quorum-state files)."""
        best: tuple[int, int] | None = None
        for node in range(1, self.brokers + 1):
            pid = self.broker_pid(node)
            if pid is None or not _alive(pid):
                continue
            base = self.run_dir / "kafka" / (f"node-{node}" if self.brokers > 1 else "")
            state = base / "data" / "__cluster_metadata-0" / "quorum-state"
            with contextlib.suppress(OSError, ValueError, KeyError):
                document = json.loads(state.read_text())
                entry = (int(document["leaderEpoch"]), int(document["leaderId"]))
                if entry[1] > 0 and (best is None or entry > best):
                    best = entry
        return None if best is None else best[1]

    async def stop_postgres(self) -> None:
        done = await asyncio.to_thread(self._script, "infra.sh", "pg-down", label="pg-down")
        if done.returncode != 0:
            raise SystemError_(f"infra.sh pg-down failed:\n{done.stdout[-3000:]}")

    async def start_postgres(self) -> None:
        done = await asyncio.to_thread(self._script, "infra.sh", "pg-up", label="pg-up")
        if done.returncode != 0:
            raise SystemError_(f"infra.sh pg-up failed:\n{done.stdout[-3000:]}")

    # --- what PostgreSQL says -------------------------------------------------------------------
    def deadlocks_logged(self) -> int:
        """'deadlock detected' lines in the PostgreSQL log so far."""
        count = 0
        for path in (self.run_dir / "logs" / "pg").glob("postgresql-*.log"):
            with contextlib.suppress(OSError):
                count += path.read_text(errors="replace").count("deadlock detected")
        return count

    async def deadlocks_counted(self) -> int:
        """pg_stat_database.deadlocks summed over the five databases."""
        connection = await asyncpg.connect(self.dsn("postgres"))
        try:
            value = await connection.fetchval(
                "SELECT coalesce(sum(deadlocks), 0) FROM pg_stat_database"
                " WHERE datname = ANY($1::text[])",
                list(SERVICES),
            )
            return int(value)
        finally:
            await connection.close()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


async def _answers(url: str) -> bool:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False
