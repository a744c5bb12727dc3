"""What each lifecycle event tells sla, and how facts of an interaction add up.

Facts are kept whatever order the events arrive in (a resolution may come before the receipt):
stop moments keep the earliest, the priority keeps the first, the others take the latest, and
an event that does not know a fact (None) never erases it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from atende_events.intake import InteractionReceived
from atende_events.routing import (
    InteractionAccepted,
    InteractionQueued,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
    Resolution,
)

FACTS = (
    "received_at",
    "channel",
    "party_kind",
    "priority",
    "demand_type",
    "queue",
    "first_accepted_at",
    "completed_at",
    "answered_at",
    "correlation_id",
)
"""The columns of `sla_interactions` that hold facts, in the order the batch writes them."""

_EARLIEST = frozenset({"first_accepted_at", "completed_at", "answered_at"})
_FIRST = frozenset({"priority"})


@dataclass(frozen=True)
class Happening:
    """One lifecycle event as sla keeps it: the facts it brings and what it does to pauses.

    `reconciles` is False for an event that cannot move a clock (a transfer).
    """

    interaction_id: UUID
    facts: Mapping[str, Any] = field(default_factory=dict)
    waiting_at: datetime | None = None
    resumed_at: datetime | None = None
    reconciles: bool = True


def add_facts(known: dict[str, Any], facts: Mapping[str, Any]) -> None:
    """Add an event's facts to what is known of its interaction, in place."""
    for name, value in facts.items():
        if value is None:
            continue
        current = known.get(name)
        if current is None:
            known[name] = value
        elif name in _EARLIEST:
            known[name] = min(current, value)
        elif name not in _FIRST:
            known[name] = value


def received(event: InteractionReceived, *, correlation_id: str | None) -> Happening:
    """Take the receipt: it starts the interaction's clocks as of its received time."""
    return Happening(
        event.interaction_id,
        {
            "received_at": event.received_at,
            "channel": event.channel.value,
            "party_kind": event.party_kind.value,
            "priority": event.priority.value,
            "demand_type": event.demand_type,
            "correlation_id": correlation_id,
        },
    )


def queued(event: InteractionQueued) -> Happening:
    """Take the queue and the (possibly inferred) demand type: they decide more clocks."""
    return Happening(event.interaction_id, {"queue": event.queue, "demand_type": event.demand_type})


def transferred(event: InteractionTransferred) -> Happening:
    """Take the new queue; transfers neither stop nor pause a clock."""
    return Happening(event.interaction_id, {"queue": event.to_queue}, reconciles=False)


def accepted(event: InteractionAccepted) -> Happening:
    """Take the first accept, which stops the first-response clock."""
    return Happening(event.interaction_id, {"first_accepted_at": event.occurred_at})


def waiting(event: InteractionWaiting) -> Happening:
    """Open a pause: operational clocks that pause stop counting."""
    return Happening(event.interaction_id, waiting_at=event.occurred_at)


def resumed(event: InteractionResumed) -> Happening:
    """Close the open pause; paused clocks run again with a later deadline."""
    return Happening(event.interaction_id, resumed_at=event.occurred_at)


def resolved(event: InteractionResolved) -> Happening:
    """Take the completion (and whether it answered conclusively); it stops clocks."""
    answered = event.occurred_at if event.resolution is Resolution.RESOLVED else None
    return Happening(
        event.interaction_id,
        {"completed_at": event.occurred_at, "answered_at": answered, "queue": event.queue},
    )
