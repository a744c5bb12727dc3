"""Start Atende's services as real uvicorn processes on their own bench databases and topics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from atende_events.kafka import delete_topics, ensure_topics
from atende_events.topics import topic_specs

ROOT = Path(__file__).resolve().parent.parent
KAFKA_BOOTSTRAP = os.environ.get("ATENDE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
PG = os.environ.get("ATENDE_PG_DSN_BASE", "postgresql+asyncpg://atende:atende@127.0.0.1:15432")
PG_ASYNCPG = PG.replace("postgresql+asyncpg://", "postgresql://")
# Databases are named <prefix><service>; another prefix keeps two benchmarks on one server apart.
DB_PREFIX = os.environ.get("ATENDE_BENCH_DB_PREFIX", "bench_")
SERVICES = ["intake", "routing", "sla", "survey", "analytics"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServiceProcess:
    """One service running under uvicorn for the benchmark."""

    name: str
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


async def recreate_database(name: str) -> str:
    """Drop and create a database for the benchmark; return its SQLAlchemy URL."""
    admin = await asyncpg.connect(f"{PG_ASYNCPG}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{PG}/{name}"


async def migrate(service: str, url: str) -> None:
    """Upgrade a service's database to its newest migration."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alembic",
        "upgrade",
        "head",
        cwd=ROOT / "services" / service,
        env={**os.environ, f"{service.upper()}_DATABASE_URL": url},
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await process.wait() != 0:
        raise RuntimeError(f"migrating {service} failed")


class System(dict[str, ServiceProcess]):
    """The running services by name, with the topic namespace and databases they use."""

    def __init__(self, namespace: str) -> None:
        super().__init__()
        self.namespace = namespace
        self.databases: dict[str, str] = {}
        self.instances: dict[str, list[ServiceProcess]] = {}
        """Every instance of each service; `self[service]` is the first."""

    def group(self, service: str) -> str:
        """Name the consumer group of a service in this namespace."""
        return f"{self.namespace}atende-{service}"


async def is_ready(url: str) -> bool:
    """Tell whether a service answers its readiness probe."""
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{url}/readyz", timeout=5)).status_code == 200
    except httpx.HTTPError:
        return False


@asynccontextmanager
async def system(
    services: list[str],
    *,
    settings: Mapping[str, str] | None = None,
    partitions: int = 6,
    instances: Mapping[str, int] | None = None,
) -> AsyncIterator[System]:
    """Run the services on fresh bench databases and a fresh topic namespace; stop them after.

    `instances` runs more than one process of a service (one database, one consumer group,
    one standby relay each), as an operator scales it out.

    A setting's value may name another service's address as `{<service>_url}` (for example
    `SURVEY_INTAKE_BASE_URL={intake_url}`): every port is chosen before any service starts.
    """
    namespace = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(KAFKA_BOOTSTRAP, topic_specs(partitions, namespace=namespace))
    running = System(namespace)
    counts = {service: (instances or {}).get(service, 1) for service in services}
    ports = {service: [free_port() for _ in range(counts[service])] for service in services}
    urls = {f"{service}_url": f"http://127.0.0.1:{port[0]}" for service, port in ports.items()}
    async with AsyncExitStack() as stack:
        # Registered first, so it runs last: the topics go once every service has stopped.
        stack.push_async_callback(delete_topics, KAFKA_BOOTSTRAP, lambda n: n.startswith(namespace))
        for service in services:
            url = await recreate_database(f"{DB_PREFIX}{service}")
            running.databases[service] = f"{DB_PREFIX}{service}"
            await migrate(service, url)
            prefix = service.upper()
            env = {
                **os.environ,
                f"{prefix}_DATABASE_URL": url,
                f"{prefix}_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
                f"{prefix}_TOPIC_NAMESPACE": namespace,
                f"{prefix}_CONSUMER_GROUP": running.group(service),
                f"{prefix}_LOG_LEVEL": "WARNING",
                # Development keys and password; no rate limit, since the bench measures capacity.
                f"{prefix}_ENVIRONMENT": "development",
                f"{prefix}_RATE_LIMITS": "{}",
                **{
                    k: v.format(**urls)
                    for k, v in (settings or {}).items()
                    if k.startswith(prefix + "_")
                },
            }
            log = open(ROOT / "bench" / "results" / f"{service}.log", "ab")  # noqa: ASYNC230
            stack.callback(log.close)
            for port in ports[service]:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "uvicorn",
                    f"{service}.main:create_app",
                    "--factory",
                    "--port",
                    str(port),
                    "--no-access-log",
                    env=env,
                    stdout=log,
                    stderr=log,
                )
                instance = ServiceProcess(service, port, process)
                running.instances.setdefault(service, []).append(instance)
                running.setdefault(service, instance)
                stack.push_async_callback(stop_process, process)
        for started in [each for every in running.instances.values() for each in every]:
            async with asyncio.timeout(60):
                while not await is_ready(started.url):  # noqa: ASYNC110 - polling a process
                    if started.process.returncode is not None:
                        raise RuntimeError(
                            f"{started.name} exited with {started.process.returncode};"
                            f" see bench/results/{started.name}.log"
                        )
                    await asyncio.sleep(0.2)
        yield running


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """Stop a service process: SIGTERM, then SIGKILL after 30 s."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
