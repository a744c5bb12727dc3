"""A consumer fed whatever hypothesis makes of a record dead-letters the bad ones and goes on."""

from __future__ import annotations

import logging
import uuid
from collections import Counter

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.envelope import DecodeError, UnknownEventType, decode
from atende_events.kafka import Publisher
from atende_events.registry import EVENT_TYPES
from atende_events.topics import dlq_topic
from tests.events.integration.test_consumer import (
    FlakyHandler,
    consuming,
    effect_counts,
    publish,
    received_event,
)
from tests.fuzz.records import record_values
from tests.infra import eventually, random_topic, read_topic

# A type header that names no known type: the consumer decodes the record to judge it.
_TYPE_HEADERS = st.none() | st.binary(max_size=40).filter(
    lambda value: value.decode(errors="replace") not in EVENT_TYPES
)
records = st.tuples(record_values, st.none() | st.binary(max_size=16), _TYPE_HEADERS)


def dead_on_arrival(value: bytes) -> bool:
    """Tell whether a consumer must dead-letter the value: not an event (a newer type is not)."""
    try:
        decode(value)
    except UnknownEventType:
        return False
    except DecodeError:
        return True
    return False


@settings(
    max_examples=4,
    derandomize=True,
    database=None,
    deadline=None,
    # Each example is a real topic and consumer group; shrinking would take minutes.
    phases=[Phase.explicit, Phase.generate],
    # The database and the producer serve every example; each gets its own topic and group.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(records, min_size=8, max_size=12))
async def test_a_consumer_dead_letters_what_it_cannot_read_and_handles_the_next_event(
    batch: list[tuple[bytes, bytes | None, bytes | None]],
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = await random_topic(partitions=1)
    good = received_event()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="atende_events.consumer"):
        async with consuming(topic, FlakyHandler(), sessionmaker, publisher) as runner:
            for value, key, type_header in batch:
                headers = [] if type_header is None else [("ce_type", type_header)]
                await publisher.send_and_wait(topic, value, key=key, headers=headers)
            await publish(publisher, topic, good)
            await eventually(
                lambda: _handled(sessionmaker, good.id), within=30, what="the good event after"
            )
            assert runner.running
    crashes = [r for r in caplog.records if "restarting" in r.getMessage()]
    assert not crashes, "the consumer crashed on a record and restarted"
    expected = [value for value, _, _ in batch if dead_on_arrival(value)]
    dead = await read_topic(dlq_topic(topic), at_least=len(expected), within=10)
    assert Counter(record.value for record in dead) == Counter(expected)
    assert {dict(record.headers)["dlq.attempts"] for record in dead} <= {b"1"}


async def _handled(sessionmaker: async_sessionmaker[AsyncSession], event_id: uuid.UUID) -> bool:
    return event_id in await effect_counts(sessionmaker)
