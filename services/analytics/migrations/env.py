"""Alembic environment of the analytics service."""

from alembic import context

from analytics.config import Settings
from analytics.models import Base
from atende_events import db
from atende_events.migrations import database_url_of, run_migrations

run_migrations(
    context,
    [Base.metadata, db.metadata],
    default_url=database_url_of(Settings),
)
