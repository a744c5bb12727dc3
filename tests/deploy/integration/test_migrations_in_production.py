"""The migration Jobs run in production mode, with a database URL and nothing else."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from tests.infra import ROOT, scratch_database

SERVICES = ("intake", "routing", "sla", "survey", "analytics")


@pytest.mark.parametrize("service", SERVICES)
async def test_a_migration_job_needs_no_api_keys_in_production(service: str) -> None:
    prefix = service.upper()
    # What a Job's pod gets: the URL from the Secret, production by default, no API keys.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(f"{prefix}_") and not name.startswith("ATENDE_")
    }
    async with scratch_database(f"{service}_prod_migrate") as url:
        env[f"{prefix}_DATABASE_URL"] = url
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alembic",
            "upgrade",
            "head",
            cwd=ROOT / "services" / service,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()[-2000:]
