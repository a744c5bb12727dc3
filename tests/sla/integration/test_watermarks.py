"""No false breach: a deadline is breached only once sla knows every stop event before it.

The stop event of a clock can wait in routing's outbox (Kafka down, a slow relay) or in a
transaction not yet committed. Routing's relay says how far it has published with watermarks;
here they are published by the test, as routing's relay would, one per partition.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from atende_events.envelope import encode, new_event, source_of
from atende_events.kafka import Publisher
from atende_events.topics import INTERACTIONS
from atende_events.watermarks import OutboxWatermark
from tests.infra import KAFKA_BOOTSTRAP, eventually
from tests.service_checks import RunningService, running_service
from tests.sla.integration.support import (
    ADMIN,
    kinds,
    lifecycle,
    of,
    publish,
    received,
    settings_for,
    sla_events,
)

PARTITIONS = 3  # fresh_namespace() creates every topic with 3


async def watermark(svc: RunningService, name: str, low: datetime) -> None:
    """Publish the producer's low watermark to every partition, as its relay would."""
    publisher = Publisher(KAFKA_BOOTSTRAP, client_id="sla-tests")
    try:
        producer = await publisher.producer()
        for partition in range(PARTITIONS):
            now = datetime.now(UTC)
            mark = OutboxWatermark(
                occurred_at=now,
                producer=name,
                low_watermark=low,
                marked_topic=INTERACTIONS,
                partition=partition,
                partitions=PARTITIONS,
            )
            event = new_event(mark, source=source_of(name), time=now)
            await producer.send_and_wait(
                svc.namespace + INTERACTIONS,
                encode(event),
                key=name.encode(),
                partition=partition,
            )
    finally:
        await publisher.close()


async def state_of(svc: RunningService, interaction_id: Any) -> str:
    reply = await svc.client.get(f"/v1/sla/interactions/{interaction_id}", headers=ADMIN)
    clocks = {c["policy_id"]: c["state"] for c in reply.json()["clocks"]}
    return str(clocks["test-urgent-3s"])


async def test_a_stop_in_time_held_in_routings_outbox_past_the_deadline_is_met_not_breached(
    tmp_path: Path,
) -> None:
    settings = {**settings_for(tmp_path), "breach_waits_for": ["routing"], "breach_grace": 0.5}
    async with running_service("sla", **settings) as svc:
        t0 = datetime.now(UTC)
        call = received(channel="web", priority="urgent", at=t0)  # a 3 s clock
        iid = call.data.interaction_id
        await publish(svc.namespace, call)
        # Routing's relay is stuck (Kafka unreachable for it): its watermark stays before the
        # resolution it has in its outbox, which happened 1 s before the deadline.
        await watermark(svc, "routing", t0 - timedelta(seconds=1))
        await eventually(
            lambda: _kinds_include(svc, iid, "warning"), what="the warning at half time"
        )
        deadline_and_grace = t0 + timedelta(seconds=3.5)
        await eventually(
            lambda: _after(deadline_and_grace + timedelta(seconds=1.5)),
            within=10,
            what="the deadline, its grace and a few timer looks",
        )
        assert await state_of(svc, iid) == "running"  # held, not breached

        # The relay gets through: the resolution, then a watermark past it.
        await publish(svc.namespace, lifecycle("resolved", iid, t0 + timedelta(seconds=2)))
        await watermark(svc, "routing", datetime.now(UTC))
        await eventually(lambda: _state_is(svc, iid, "met"), what="the clock met")
        events = of(await sla_events(svc.namespace), iid)
        assert "breached" not in kinds(events)


async def test_a_deadline_no_stop_event_reached_is_breached_once_the_watermarks_pass_it(
    tmp_path: Path,
) -> None:
    settings = {**settings_for(tmp_path), "breach_waits_for": ["routing"], "breach_grace": 0.5}
    async with running_service("sla", **settings) as svc:
        t0 = datetime.now(UTC)
        call = received(channel="web", priority="urgent", at=t0)
        iid = call.data.interaction_id
        await publish(svc.namespace, call)
        await eventually(
            lambda: _after(t0 + timedelta(seconds=4)), within=10, what="the deadline and grace"
        )
        assert await state_of(svc, iid) == "running"  # no watermark from routing yet
        await watermark(svc, "routing", datetime.now(UTC))
        await eventually(lambda: _state_is(svc, iid, "breached"), what="the clock breached")
        breached = [e for e in of(await sla_events(svc.namespace), iid) if "breached" in e.type]
        assert len(breached) == 1
        assert breached[0].data.due_at == t0 + timedelta(seconds=3)


async def _kinds_include(svc: RunningService, interaction_id: Any, kind: str) -> bool:
    return kind in kinds(of(await sla_events(svc.namespace), interaction_id))


async def _state_is(svc: RunningService, interaction_id: Any, state: str) -> bool:
    return await state_of(svc, interaction_id) == state


async def _after(moment: datetime) -> bool:
    return datetime.now(UTC) >= moment
