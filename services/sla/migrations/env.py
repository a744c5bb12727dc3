"""Alembic environment of the sla service."""

from alembic import context

from atende_events import db
from atende_events.migrations import database_url_of, run_migrations
from sla.config import Settings
from sla.models import Base

run_migrations(
    context,
    [Base.metadata, db.metadata],
    default_url=database_url_of(Settings),
)
