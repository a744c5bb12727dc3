"""Alembic environment of the intake service."""

from alembic import context

from atende_events import db
from atende_events.migrations import database_url_of, run_migrations
from intake.config import Settings
from intake.models import Base

run_migrations(
    context,
    [Base.metadata, db.metadata],
    default_url=database_url_of(Settings),
)
