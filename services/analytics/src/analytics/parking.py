"""Events about an interaction analytics has not seen received: parked, not counted.

Every event about an interaction lies behind its `interaction.received` on its own topic, but
the topics are consumed independently, so an sla or assignment event may come first; and an
event about an interaction nobody registered (a bug, a bad replay, a forged record) must never
count: it once made the accepted figure exceed the volume. Such an event is parked with its
record; the receipt, when it comes, replays what was parked for it in the same transaction.
What is still parked after `orphan_after` goes to its topic's dead-letter topic, counted, so an
operator sees it instead of a silently wrong KPI.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from prometheus_client import Counter
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics.models import PARKED_EVENTS
from atende_events.consumer import Batched, Handler
from atende_events.envelope import Envelope, EventData, decode, encode
from atende_events.intake import InteractionReceived
from atende_events.kafka import Publisher
from atende_events.topics import dlq_topic

log = logging.getLogger(__name__)

PARKED = Counter(
    "atende_analytics_events_parked_total",
    "Events about an interaction not received yet, parked until its receipt comes.",
)
ORPHANS = Counter(
    "atende_analytics_orphan_events_total",
    "Parked events whose interaction never came, sent to the dead-letter topic.",
)

_KNOWN = text(
    "SELECT interaction_id FROM interactions"
    " WHERE interaction_id = ANY(CAST(:ids AS uuid[])) AND received_at IS NOT NULL"
)


def parking(
    handlers: Mapping[type[EventData], Handler | Batched],
) -> dict[type[EventData], Handler | Batched]:
    """Wrap the handlers of events about interactions so that unknown ones are parked.

    Types that share a handler share its wrapper, so the consumer still hands them over as
    one run. The receipt's handler replays, after it, what was parked for those interactions.
    """
    wrappers: dict[int, Handler | Batched] = {}
    wrapped: dict[type[EventData], Handler | Batched] = {}
    for model, handler in handlers.items():
        if "interaction_id" not in model.model_fields:
            wrapped[model] = handler  # about an agent, not an interaction
            continue
        if id(handler) not in wrappers:
            wrappers[id(handler)] = _wrap(handler, handlers)
        wrapped[model] = wrappers[id(handler)]
    return wrapped


def _wrap(
    handler: Handler | Batched, handlers: Mapping[type[EventData], Handler | Batched]
) -> Handler | Batched:
    async def handle_run(events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
        received = {
            e.data.interaction_id for e in events if isinstance(e.data, InteractionReceived)
        }
        asked = {e.data.interaction_id for e in events} - received
        known = received | await _known(session, asked)
        ready = [e for e in events if e.data.interaction_id in known]
        if ready:
            await _apply(handler, ready, session)
        await _park(session, [e for e in events if e.data.interaction_id not in known])
        if received:
            await _replay(session, received, handlers)

    if isinstance(handler, Batched):
        return Batched(handle_run, claims=handler.claims)

    async def handle_one(event: Envelope[Any], session: AsyncSession) -> None:
        await handle_run([event], session)

    return handle_one


async def _apply(
    handler: Handler | Batched, events: Sequence[Envelope[Any]], session: AsyncSession
) -> None:
    if isinstance(handler, Batched):
        await handler.handle(events, session)
        return
    for event in events:
        await handler(event, session)


async def _known(session: AsyncSession, ids: set[UUID]) -> set[UUID]:
    if not ids:
        return set()
    return set(await session.scalars(_KNOWN, {"ids": sorted(ids)}))


async def _park(session: AsyncSession, events: Sequence[Envelope[Any]]) -> None:
    if not events:
        return
    await session.execute(
        insert(PARKED_EVENTS)
        .values(
            [
                {
                    "event_id": event.id,
                    "interaction_id": event.data.interaction_id,
                    "topic": event.data.topic,
                    "event_type": event.type,
                    "payload": encode(event),
                }
                for event in events
            ]
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    PARKED.inc(len(events))


async def _replay(
    session: AsyncSession,
    interaction_ids: set[UUID],
    handlers: Mapping[type[EventData], Handler | Batched],
) -> None:
    """Apply, in the order they were parked, the events waiting for these receipts."""
    parked = (
        await session.execute(
            delete(PARKED_EVENTS)
            .where(PARKED_EVENTS.c.interaction_id.in_(sorted(interaction_ids)))
            .returning(PARKED_EVENTS.c.payload, PARKED_EVENTS.c.parked_at)
        )
    ).all()
    events = [decode(row.payload) for row in sorted(parked, key=lambda row: row.parked_at)]
    run: list[Envelope[Any]] = []
    for event in events:
        if run and handlers[type(event.data)] is not handlers[type(run[0].data)]:
            await _apply(handlers[type(run[0].data)], run, session)
            run = []
        run.append(event)
    if run:
        await _apply(handlers[type(run[0].data)], run, session)


async def dead_letter_orphans(
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    *,
    namespace: str,
    orphan_after: timedelta,
    limit: int = 100,
) -> int:
    """Send the events parked longer than `orphan_after` to their dead-letter topic; count them.

    Rows are taken with SKIP LOCKED and deleted in the transaction that waited for Kafka's
    acknowledgement, so two instances never send one twice and an outage sends it later.
    """
    async with sessionmaker.begin() as session:
        rows = (
            await session.execute(
                select(PARKED_EVENTS)
                .where(PARKED_EVENTS.c.parked_at < func.now() - orphan_after)
                .order_by(PARKED_EVENTS.c.parked_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            reason = (
                f"no interaction.received for interaction {row.interaction_id} "
                f"within {int(orphan_after.total_seconds())} s"
            )
            await publisher.send_and_wait(
                dlq_topic(namespace + row.topic),
                value=row.payload,
                key=str(row.interaction_id).encode(),
                headers=[
                    ("ce_type", row.event_type.encode()),
                    ("dlq.error", reason.encode()),
                    ("dlq.error_type", b"UnknownInteraction"),
                    ("dlq.original_topic", (namespace + row.topic).encode()),
                    ("dlq.consumer", b"analytics"),
                ],
            )
            log.warning("analytics dead-lettered %s %s: %s", row.event_type, row.event_id, reason)
        if rows:
            await session.execute(
                delete(PARKED_EVENTS).where(
                    PARKED_EVENTS.c.event_id.in_([row.event_id for row in rows])
                )
            )
    ORPHANS.inc(len(rows))
    return len(rows)
