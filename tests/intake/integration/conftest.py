"""Fixtures of intake's integration tests: one intake running on real Kafka and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.service_checks import RunningService, running_service

ADMIN = {"Authorization": "Bearer dev-intake-admin"}
READER = {"Authorization": "Bearer dev-intake-reader"}
SURVEY = {"Authorization": "Bearer dev-intake-survey"}
PORTAL = {"Authorization": "Bearer dev-intake-portal"}


def new_party_id() -> str:
    """Give a party id no other test uses."""
    return f"card-{uuid.uuid4().hex[:12]}"


def make_interaction(**overrides: Any) -> dict[str, Any]:
    """Build a member's phone call with contact data; overrides replace any field."""
    body: dict[str, Any] = {
        "channel": "phone",
        "party": {
            "kind": "member",
            "id": new_party_id(),
            "name": "Maria Aparecida da Silva",
            "email": "maria.silva@example.com.br",
            "phone": "+55 11 98765-4321",
        },
        "demand_type": "authorization",
        "subject": "Autorização de ressonância",
        "description": "Preciso da autorização para uma ressonância magnética do joelho.",
        "priority": "normal",
        "locale": "pt-BR",
    }
    body.update(overrides)
    return body


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def intake() -> AsyncIterator[RunningService]:
    """Run one intake for the tests of a module; each test uses parties of its own."""
    async with running_service("intake") as service:
        yield service
