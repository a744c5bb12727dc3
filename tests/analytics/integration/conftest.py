"""The week of events published once per test module, and the analytics service that consumed it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.analytics.integration.support import Week, processed, publish, seed_split, week
from tests.service_checks import running_service


@pytest_asyncio.fixture(scope="module")
async def live() -> AsyncIterator[Week]:
    events, agents = week()
    events += seed_split()
    async with running_service("analytics") as service:
        await publish(service.namespace, events)
        await processed(service, len(events))
        yield Week(service, events, agents)
