"""Watch the private system from outside, as BI would: every event once, dead letters counted.

`EventLog` reads every partition of the contract's topics (and their dead-letter topics) with the
bench's `TopicReader` and keeps each event once by its CloudEvents id, so that a redelivered or
republished record never counts as a second effect. Group lag is the bench's `GroupLag`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atende_events.kafka import ConsumerRecord
from atende_events.topics import ALL_TOPICS, dlq_topic
from bench.observe import GroupLag, TopicReader, envelope, partitions_of

__all__ = ["Event", "EventLog", "GroupLag", "partitions_of"]

_CONTRACT_SUBJECTS = ("interaction", "agent", "sla", "survey", "followup")


@dataclass(frozen=True)
class Event:
    """One distinct event as fetched: its id, short type, subject, occurrence time and data."""

    id: str
    kind: str
    """`interaction.accepted` for `atende.interaction.accepted.v1`."""
    subject: str
    time: datetime | None
    data: dict[str, Any]
    fetched: float


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


Callback = Callable[[Event], None]


class EventLog(TopicReader):
    """Every distinct event of the contract's topics, by short type; dead letters counted."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__([*ALL_TOPICS, *(dlq_topic(topic) for topic in ALL_TOPICS)], bootstrap)
        self.events: dict[str, Event] = {}
        self.by_kind: dict[str, list[Event]] = {}
        self.dead_letters: dict[str, int] = {}
        self.contract_events = 0
        """Distinct events of the contract's types (not the relays' watermarks or heartbeats)."""
        self.callbacks: dict[str, list[Callback]] = {}

    def on(self, kind: str, callback: Callback) -> None:
        self.callbacks.setdefault(kind, []).append(callback)

    def of(self, kind: str) -> list[Event]:
        return self.by_kind.get(kind, [])

    def _note(self, now: float, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.topic.endswith(".dlq"):
            original = record.topic.removesuffix(".dlq")
            self.dead_letters[original] = self.dead_letters.get(original, 0) + 1
            return
        read = envelope(record.value)
        if read is None or "id" not in read[0]:
            return
        document, kind = read
        event_id = str(document["id"])
        if event_id in self.events:
            return
        data = document.get("data")
        event = Event(
            event_id,
            kind,
            str(document.get("subject")),
            parse_time(document.get("time")),
            data if isinstance(data, dict) else {},
            now,
        )
        self.events[event_id] = event
        self.by_kind.setdefault(kind, []).append(event)
        if kind.split(".")[0] in _CONTRACT_SUBJECTS:
            self.contract_events += 1
        for callback in self.callbacks.get(kind, ()):
            callback(event)
