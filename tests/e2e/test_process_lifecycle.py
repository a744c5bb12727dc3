"""Each service runs as a real uvicorn process, becomes ready, and drains and exits on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import httpx
import pytest

from tests.infra import KAFKA_BOOTSTRAP, eventually, fresh_namespace, migrate, scratch_database

SERVICES = ["intake", "routing", "sla", "survey", "analytics"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    except httpx.TransportError:
        return False
    return response.status_code == 200


@pytest.mark.parametrize("service", SERVICES)
async def test_the_service_starts_ready_and_stops_cleanly_on_sigterm(service: str) -> None:
    namespace = await fresh_namespace(partitions=1)
    async with scratch_database(f"{service}_proc") as url:
        await migrate(service, url)
        port = free_port()
        prefix = service.upper()
        env = {
            **os.environ,
            f"{prefix}_DATABASE_URL": url,
            f"{prefix}_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
            f"{prefix}_TOPIC_NAMESPACE": namespace,
            f"{prefix}_CONSUMER_GROUP": f"{namespace}atende-{service}",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            f"{service}.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await eventually(lambda: ready(port), within=60, what=f"{service} to be ready")
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                output, _ = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    log = output.decode()
    # uvicorn finishes its shutdown, then re-raises the signal so the exit status tells why.
    assert process.returncode in (0, -signal.SIGTERM), log
    assert f'"message": "{service} stopped"' in log, log
    assert "Application shutdown complete" in log, log
