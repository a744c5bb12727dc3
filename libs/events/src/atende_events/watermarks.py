"""Low watermarks: a relay's word that nothing older of its service is still on its way.

A timer that judges by the absence of an event (a deadline breached because no resolution came)
cannot tell an event that never happened from one still waiting in the producer's outbox, or in
a transaction not yet committed. Each service's outbox relay therefore sends, about once a
second, one `OutboxWatermark` to every partition of the topics it is asked to mark: "every event
of mine that happened before `low_watermark` and goes to this partition lies before this
record". A consumer that has handled the watermark of every partition has seen every such event.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from atende_events.envelope import EventData, UtcDatetime, source_of
from atende_events.topics import INTERACTIONS

SOURCE = source_of("relay")
"""Nominal: each service's relay sends its watermarks with its own service as the source."""


class OutboxWatermark(EventData):
    """A relay's low watermark for one partition; no business event, BI may skip it."""

    event_type = "atende.outbox.watermark.v1"
    topic = INTERACTIONS
    subject_field = "producer"

    producer: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    """The service whose outbox the watermark speaks for."""
    low_watermark: UtcDatetime
    """Every event of the producer that happened before this moment and goes to this partition
    lies before this record."""
    marked_topic: Annotated[str, Field(pattern=r"^atende\.[a-z_.]+\.v[0-9]+$")]
    """The contract topic (without any namespace) the record was sent to."""
    partition: Annotated[int, Field(ge=0)]
    """The partition this record was sent to."""
    partitions: Annotated[int, Field(ge=1)]
    """How many partitions the topic had: a consumer knows the whole topic once it holds one
    watermark for each."""


EVENTS = (OutboxWatermark,)
