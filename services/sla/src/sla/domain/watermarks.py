"""How far sla knows every stop event: the producers' low watermarks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Mark:
    """The highest low watermark sla handled from a producer on one partition of a topic."""

    producer: str
    topic: str
    partition: int
    partitions: int
    low_watermark: datetime


def known_until(marks: Iterable[Mark], *, producers: Sequence[str]) -> datetime | None:
    """Give the moment before which every event of the producers has been handled, if any.

    A producer is known up to the lowest of its watermarks over every partition of every topic
    it marks; the answer is the earliest over the producers, or None while one of them is not
    known (no watermark yet, or not from every partition of a topic).
    """
    lowest: dict[tuple[str, str], datetime] = {}
    seen: dict[tuple[str, str], set[int]] = {}
    expected: dict[tuple[str, str], int] = {}
    for mark in marks:
        key = (mark.producer, mark.topic)
        lowest[key] = min(lowest.get(key, mark.low_watermark), mark.low_watermark)
        seen.setdefault(key, set()).add(mark.partition)
        expected[key] = max(expected.get(key, 0), mark.partitions)
    moments: list[datetime] = []
    for producer in producers:
        topics = [key for key in lowest if key[0] == producer]
        if not topics or any(seen[key] < set(range(expected[key])) for key in topics):
            return None
        moments.extend(lowest[key] for key in topics)
    return min(moments) if moments else None
