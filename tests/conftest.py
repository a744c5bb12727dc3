"""Session-wide checks: integration tests need the real Kafka and PostgreSQL, never a fake."""

from __future__ import annotations

import asyncio
import os

import pytest

from atende_events.kafka import KafkaError, delete_topics
from tests.infra import KAFKA_BOOTSTRAP, PG_HOST, PG_PORT, SCRATCH_PREFIXES

# The services default to production; the tests run them as a developer does, with the dev-
# keys and the local cluster's password. A test of production passes environment="production".
# Processes the tests start inherit this; `make run` under test sets its own (services.sh).
for _service in ("INTAKE", "ROUTING", "SLA", "SURVEY", "ANALYTICS"):
    os.environ.setdefault(f"{_service}_ENVIRONMENT", "development")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under an integration or e2e folder, so `-m "not integration"` is fast."""
    for item in items:
        parts = item.path.parts
        if "integration" in parts or "e2e" in parts:
            item.add_marker(pytest.mark.integration)


def pytest_report_header() -> list[str]:
    return [f"kafka: {KAFKA_BOOTSTRAP}  postgresql: {PG_HOST}:{PG_PORT}"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Delete the topics this session created: thousands of them would slow every broker start."""
    if not SCRATCH_PREFIXES:
        return
    prefixes = tuple(SCRATCH_PREFIXES)
    try:
        asyncio.run(delete_topics(KAFKA_BOOTSTRAP, lambda name: name.startswith(prefixes)))
    except (KafkaError, OSError, TimeoutError) as exc:
        session.config.get_terminal_writer().line(
            f"could not delete this session's scratch topics ({exc!r}); "
            "'make sweep-topics' removes them later"
        )
