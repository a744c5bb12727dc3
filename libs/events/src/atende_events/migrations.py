"""Alembic support shared by the services: the library's own tables and the async env runner.

A service includes the library's tables by calling the numbered functions below from one of its
own revisions, so every service keeps a single, linear history.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.runtime.environment import EnvironmentContext
from pydantic_settings import BaseSettings
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config


def upgrade_messaging_0001() -> None:
    """Create the outbox and inbox tables."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index(
        "ix_outbox_pending", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL")
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )


def downgrade_messaging_0001() -> None:
    """Drop the outbox and inbox tables."""
    op.drop_table("inbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")


def database_url_of(settings_class: type[BaseSettings]) -> str:
    """Read only the service's database URL, so migrating needs none of its other secrets.

    The migration job gets the database URL and nothing else: building the whole Settings
    would ask it for API keys and the pseudonym key in production.
    """
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    default = settings_class.model_fields["database_url"].default
    url = os.environ.get(f"{prefix}DATABASE_URL", default)
    if not isinstance(url, str):
        raise RuntimeError(f"set {prefix}DATABASE_URL")
    return url


def run_migrations(
    context: EnvironmentContext, target_metadata: Sequence[MetaData], *, default_url: str
) -> None:
    """Run a service's migrations online over asyncpg (or emit SQL offline)."""
    config = context.config
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or default_url
    options: dict[str, Any] = {
        "target_metadata": list(target_metadata),
        "compare_type": True,
        "transaction_per_migration": True,
    }
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            {"sqlalchemy.url": url},
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
            hide_parameters=True,
        )
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    connection = config.attributes.get("connection")
    if connection is not None:
        migrate(connection)
    else:
        asyncio.run(run_async())
