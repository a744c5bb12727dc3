"""Helpers of the sla integration tests: a test policy book, publishing events, reading sla's.

The service runs with a test policy book (short targets on a 24x7 calendar), fed with sample
lifecycle events published onto its topic namespace; what it emits is read back from Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from atende_events.envelope import Envelope, EventData, decode, encode, key_of, topic_of
from atende_events.kafka import Publisher
from atende_events.samples import sample_event
from atende_events.topics import SLA
from tests.infra import KAFKA_BOOTSTRAP, read_topic

ADMIN = {"Authorization": "Bearer dev-sla-admin"}
READER = {"Authorization": "Bearer dev-sla-reader"}
KEYS = {"dev-sla-admin": ["sla:read", "sla:write"], "dev-sla-reader": ["sla:read"]}

TEST_BOOK = """
calendars:
  24x7: {always_open: true}
  dias-uteis: {hours: {mon: ["00:00-24:00"], tue: ["00:00-24:00"], wed: ["00:00-24:00"],
               thu: ["00:00-24:00"], fri: ["00:00-24:00"]}, subdivision: SP}
policies:
  - {id: test-urgent-3s, source: test, kind: regulatory, clock: resolution,
     match: {priorities: [urgent]}, target: {seconds: 3}, warn_at: 0.5, calendar: 24x7}
  - {id: test-ombudsman, source: test, kind: regulatory, clock: resolution,
     match: {channels: [ombudsman]}, target: {business_days: 7}, calendar: dias-uteis,
     extendable_to_business_days: 30}
  - {id: test-high-complexity, source: test, kind: regulatory, clock: resolution,
     match: {demand_types: [high_complexity]}, target: {business_days: 10}, calendar: dias-uteis}
  - {id: test-first-response, source: test, kind: operational, clock: first_response,
     match: {channels: [phone]}, target: {minutes: 30}, calendar: 24x7}
  - {id: test-resolution-1h, source: test, kind: operational, clock: resolution,
     target: {hours: 1}, calendar: 24x7, pauses: true}
"""


def book_file(tmp_path: Path) -> str:
    path = tmp_path / "book.yaml"
    path.write_text(TEST_BOOK, encoding="utf-8")
    return str(path)


def settings_for(tmp_path: Path) -> dict[str, Any]:
    # The tests publish the lifecycle events themselves: no intake or routing relay sends
    # watermarks, so breaches go by the grace alone (test_watermarks.py covers the rest).
    return {
        "policies_path": book_file(tmp_path),
        "timer_interval": 0.2,
        "api_keys": KEYS,
        "breach_waits_for": [],
    }


async def publish(namespace: str, *events: Envelope[Any]) -> None:
    """Put events on the namespace's topics, keyed by interaction like the producers do."""
    publisher = Publisher(KAFKA_BOOTSTRAP, client_id="sla-tests")
    try:
        for event in events:
            await publisher.send_and_wait(
                namespace + topic_of(event), encode(event), key=key_of(event).encode()
            )
    finally:
        await publisher.close()


async def sla_events(namespace: str, *, within: float = 2) -> list[Envelope[EventData]]:
    """Read back everything sla emitted on the namespace."""
    records = await read_topic(namespace + SLA, at_least=1, within=within)
    return [decode(record.value) for record in records]


def of(events: Iterable[Envelope[EventData]], interaction_id: UUID) -> list[Envelope[Any]]:
    return [e for e in events if str(e.data.interaction_id) == str(interaction_id)]  # type: ignore[attr-defined]


def kinds(events: Iterable[Envelope[Any]]) -> list[str]:
    return [e.type.removeprefix("atende.sla.").removesuffix(".v1") for e in events]


def received(**overrides: Any) -> Envelope[Any]:
    moment = overrides.pop("at", datetime.now(UTC))
    return sample_event(
        "atende.interaction.received.v1", occurred_at=moment, received_at=moment, **overrides
    )


def lifecycle(event_type: str, interaction_id: UUID, at: datetime, **fields: Any) -> Envelope[Any]:
    return sample_event(
        f"atende.interaction.{event_type}.v1",
        interaction_id=interaction_id,
        occurred_at=at,
        **fields,
    )
