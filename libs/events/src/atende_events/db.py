"""The tables the messaging plumbing keeps in every service's database, and engine helpers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    event,
    func,
    text,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Explicit constraint names, so that Alembic migrations are reproducible across services.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("key", Text, nullable=True),
    Column("event_type", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    # The relay only ever scans unpublished rows: keep that scan small however long the table.
    Index("ix_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
)

# The relay wakes up on this channel instead of polling tightly.
OUTBOX_CHANNEL = "atende_outbox"


def make_engine(database_url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Create the service's async engine (asyncpg), discarding connections the server closed."""
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        # No overflow: connections opened past the pool size are closed again on return, and
        # under load that churn (a new backend per request) cost more than waiting for one.
        max_overflow=0,
        # Fail fast (503, retry) rather than hang a request or a shutdown on a dead database.
        pool_timeout=10,
        connect_args={"timeout": 5},
        echo=echo,
        # A failed statement's message must not carry its parameters (names, e-mails, the
        # person's words) into logs and dead-letter headers.
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "checkout", _discard_if_closed)
    return engine


def _discard_if_closed(_dbapi: Any, _record: Any, proxy: Any) -> None:
    """Hand out no connection the server has closed (a restart, a terminated backend).

    SQLAlchemy's pool_pre_ping would ask the server (begin, a query and a rollback: three round
    trips on every checkout, a third of a request's work in intake). A server that restarts or
    ends a backend closes its socket, and the event loop has already seen that end-of-file, so
    asking the driver is enough. The pool replaces a discarded connection at once; a connection
    that dies silently (a network partition) still fails its first statement, which the entry
    points answer as transient (503, or a retry).
    """
    if proxy.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Create the session factory the entry points open their transactions with."""
    return async_sessionmaker(engine, expire_on_commit=False)


# Failures of the infrastructure, not of the record: retried without limit, never dead-lettered.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    OSError,
    TimeoutError,
    PoolTimeoutError,
)


# SQLSTATEs that say "try again": connection exceptions, insufficient resources, the server
# starting or shutting down, serialization failures, deadlocks, a lock not available in time.
TRANSIENT_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03", "40001", "40P01", "55P03")


def is_transient(exc: BaseException) -> bool:
    """Tell whether a failure is the infrastructure's (retry without limit) or the record's."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(TRANSIENT_SQLSTATES):
            return True
    return isinstance(exc, TRANSIENT_ERRORS)


# SQLSTATEs of a transaction that lost a race to another (a deadlock, a serialization failure):
# the database is fine and running the transaction again is the remedy.
CONFLICT_SQLSTATES = ("40001", "40P01")

T = TypeVar("T")


def is_conflict(exc: BaseException) -> bool:
    """Tell whether a failure is a lost race between transactions, not an outage."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in CONFLICT_SQLSTATES


async def in_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """Run the work in a transaction; run it again when it lost a race to another transaction."""
    for attempt in range(1, attempts + 1):
        try:
            async with sessionmaker.begin() as session:
                return await work(session)
        except DBAPIError as exc:
            if attempt == attempts or not is_conflict(exc):
                raise
            # Both sides of a deadlock retrying in step would meet again: spread them out.
            await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")
