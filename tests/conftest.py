"""Session-wide checks: integration tests need the real Kafka and PostgreSQL, never a fake."""

from __future__ import annotations

import pytest

from tests.infra import KAFKA_BOOTSTRAP, PG_HOST, PG_PORT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under an integration or e2e folder, so `-m "not integration"` is fast."""
    for item in items:
        parts = item.path.parts
        if "integration" in parts or "e2e" in parts:
            item.add_marker(pytest.mark.integration)


def pytest_report_header() -> list[str]:
    return [f"kafka: {KAFKA_BOOTSTRAP}  postgresql: {PG_HOST}:{PG_PORT}"]
