"""The producers' low watermarks: kept as they come, read by the due-timer before a breach."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import Envelope
from atende_events.watermarks import OutboxWatermark
from sla.domain.watermarks import Mark, known_until
from sla.models import Watermark

_KEEP = text(
    "INSERT INTO sla_watermarks (producer, topic, partition, partitions, low_watermark)"
    " SELECT * FROM unnest(CAST(:producers AS text[]), CAST(:topics AS text[]),"
    " CAST(:partition_ids AS int[]), CAST(:partition_counts AS int[]),"
    " CAST(:lows AS timestamptz[]))"
    " ON CONFLICT (producer, topic, partition) DO UPDATE SET"
    " partitions = excluded.partitions,"
    " low_watermark = greatest(sla_watermarks.low_watermark, excluded.low_watermark)"
)


async def note_watermarks(session: AsyncSession, *, events: Sequence[Envelope[Any]]) -> None:
    """Keep the highest watermark per producer and partition; an older one changes nothing."""
    highest: dict[tuple[str, str, int], OutboxWatermark] = {}
    for event in events:
        mark: OutboxWatermark = event.data
        key = (mark.producer, mark.marked_topic, mark.partition)
        if key not in highest or mark.low_watermark > highest[key].low_watermark:
            highest[key] = mark
    if not highest:
        return
    marks = [highest[key] for key in sorted(highest)]
    await session.execute(
        _KEEP,
        {
            "producers": [mark.producer for mark in marks],
            "topics": [mark.marked_topic for mark in marks],
            "partition_ids": [mark.partition for mark in marks],
            "partition_counts": [mark.partitions for mark in marks],
            "lows": [mark.low_watermark for mark in marks],
        },
    )


async def stop_events_known_until(
    session: AsyncSession, *, producers: Sequence[str]
) -> datetime | None:
    """Give the moment before which every stop event of the producers has been handled."""
    rows = await session.scalars(select(Watermark).where(Watermark.producer.in_(producers)))
    return known_until(
        (
            Mark(row.producer, row.topic, row.partition, row.partitions, row.low_watermark)
            for row in rows
        ),
        producers=producers,
    )
