"""The short form of `make faults`: three cheap scenarios at a small load, on a private system.

One private Atende (its own Kafka, PostgreSQL and services, started by `make run` on free ports
and its own run dir) takes a kill -9 of routing and of sla, poison records on every topic and a
full redelivery of two consumer groups, each under load with agents and respondents working.
Every row must meet the suite's goal: nothing lost, nothing duplicated, no false breach, no
deadlock, no 5xx but 503 with Retry-After, and the consumers back to lag 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from faults.run import run_on
from faults.scenarios import SCENARIOS, Options, Row
from faults.system import FaultSystem

pytestmark = pytest.mark.integration

SHORT = ["kill", "poison", "reset"]
OPTIONS = Options(
    rate=10,
    agents=20,
    warmup=5,
    tail=8,
    settle=120,
    service_down=10,
    services=("routing", "sla"),
    reset_groups=("sla", "analytics"),
)


@pytest.fixture(scope="module")
async def rows() -> AsyncIterator[dict[str, Row]]:
    system = FaultSystem.create()
    try:
        done = await run_on(system, SHORT, OPTIONS)
        yield {row.scenario: row for row in done}
    finally:
        system.private.remove()


@pytest.mark.parametrize("scenario", SHORT)
def test_the_goal_holds_under_the_fault(rows: dict[str, Row], scenario: str) -> None:
    row = rows[scenario]
    summary = f"{SCENARIOS[scenario][0]}: {row.as_dict()}"
    assert row.acknowledged > 0, summary
    assert row.lost == 0, summary
    assert row.duplicated == 0, summary
    assert row.false_breaches == 0, summary
    assert row.bad_5xx == 0, summary
    assert row.deadlocks == 0, summary
    assert row.recovery_s is not None, summary
    assert row.ok, summary
