"""Least privilege in PostgreSQL: each service's user reads and writes its own rows, no more.

The roles SQL (deploy/docker/postgres-init.sql, from deploy/local/db_roles.py) is applied to the
test cluster with fresh names; the migration user migrates, and intake then serves as its own
runtime user: it registers an interaction (sequences, outbox, NOTIFY, the relay's advisory lock
and watermark query), but may not change the schema nor open another service's database.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

import asyncpg
import pytest

from tests.infra import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, ROOT, eventually, migrate
from tests.intake.integration.conftest import ADMIN, make_interaction
from tests.service_checks import build_app, serving


def _roles() -> ModuleType:
    spec = importlib.util.spec_from_file_location("db_roles", ROOT / "deploy/local/db_roles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dsn(user: str, password: str, database: str) -> str:
    return f"postgresql://{user}:{password}@{PG_HOST}:{PG_PORT}/{database}"


@asynccontextmanager
async def roles_applied() -> AsyncIterator[dict[str, str]]:
    """Apply the roles SQL for intake and sla under fresh names; drop it all afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "migrator": f"migrator_{suffix}",
        "intake_db": f"test_roles_intake_{suffix}",
        "sla_db": f"test_roles_sla_{suffix}",
        "intake_user": f"intake_app_{suffix}",
        "sla_user": f"sla_app_{suffix}",
    }
    sql = _roles().role_sql(
        databases={"intake": names["intake_db"], "sla": names["sla_db"]},
        migrator=names["migrator"],
        users={"intake": names["intake_user"], "sla": names["sla_user"]},
        passwords={user: f"pw-{user}" for user in names.values()},
    )
    connection = await asyncpg.connect(dsn(PG_USER, PG_PASSWORD, "postgres"))
    try:
        for line in sql.splitlines():
            if not line or line.startswith("--"):
                continue
            if line.startswith("\\connect "):  # psql's, as the container's entrypoint runs it
                await connection.close()
                database = line.split()[1]
                connection = await asyncpg.connect(dsn(PG_USER, PG_PASSWORD, database))
                continue
            await connection.execute(line)
        yield names
    finally:
        await connection.close()
        admin = await asyncpg.connect(dsn(PG_USER, PG_PASSWORD, "postgres"))
        try:
            for database in (names["intake_db"], names["sla_db"]):
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            for role in (names["intake_user"], names["sla_user"], names["migrator"]):
                await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


def url(names: dict[str, str], user_key: str, database_key: str) -> str:
    user = names[user_key]
    return f"postgresql+asyncpg://{user}:pw-{user}@{PG_HOST}:{PG_PORT}/{names[database_key]}"


async def test_a_service_runs_as_its_own_user_which_can_touch_nothing_but_its_rows() -> None:
    async with roles_applied() as names:
        await migrate("intake", url(names, "migrator", "intake_db"))
        own = f"pw-{names['intake_user']}"

        # Intake serves as its runtime user: a registration goes through, event and all.
        app = build_app("intake", url(names, "intake_user", "intake_db"))
        async with serving(app) as client:
            created = await client.post("/v1/interactions", json=make_interaction(), headers=ADMIN)
            assert created.status_code == 201, created.text

            async def published() -> bool:
                connection = await asyncpg.connect(dsn(PG_USER, PG_PASSWORD, names["intake_db"]))
                try:
                    left = await connection.fetchval(
                        "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                    )
                finally:
                    await connection.close()
                return bool(left == 0)

            await eventually(published, what="the relay, as the runtime user, to publish")

        connection = await asyncpg.connect(dsn(names["intake_user"], own, names["intake_db"]))
        try:
            assert await connection.fetchval("SELECT count(*) FROM interactions") == 1
            for ddl in (
                "CREATE TABLE sneaky (id int)",
                "DROP TABLE inbox",
                "ALTER TABLE interactions ADD COLUMN sneaky int",
                "TRUNCATE outbox",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await connection.execute(ddl)
        finally:
            await connection.close()

        # Another service's database is closed to it.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await asyncpg.connect(dsn(names["intake_user"], own, names["sla_db"]))
