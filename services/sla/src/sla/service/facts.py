"""What each lifecycle event tells sla, and how facts of an interaction add up.

Facts are kept whatever order the events arrive in (a resolution may come before the receipt):
stop moments keep the earliest, the priority keeps the highest (triage may raise it, nothing
lowers it), the others take the latest, and an event that does not know a fact (None) never
erases it.
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
    InteractionReclassified,
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
_PRIORITY_RANK = {"normal": 0, "urgent": 1}
"""Priorities from low to high: an urgent interaction is never made normal again."""
DECIDING = ("channel", "party_kind", "queue", "demand_type", "priority")
"""The facts that choose an interaction's policies."""


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
    at: datetime | None = None
    """When it happened, for an event that may change the facts that choose policies."""
    reason: str | None = None
    """Why the facts changed, when the event says so (a reclassification)."""


@dataclass(frozen=True)
class Redecision:
    """Why the facts that choose an interaction's policies changed, and when."""

    reason: str
    at: datetime


def redecision_of(
    before: Mapping[str, Any], after: Mapping[str, Any], happening: Happening
) -> Redecision | None:
    """Tell whether an event changed a fact that chose the interaction's policies, and why.

    A fact learnt for the first time (None before) decides a clock for the first time: no
    re-decision. A raised priority says `priority_raised`, a changed demand type
    `demand_type_changed` (or the event's own reason, `reclassified`).
    """
    changed = {
        name
        for name in DECIDING
        if before.get(name) is not None and before.get(name) != after.get(name)
    }
    if not changed:
        return None
    if happening.reason is not None:
        reason = happening.reason
    elif "priority" in changed:
        reason = "priority_raised"
    elif "demand_type" in changed:
        reason = "demand_type_changed"
    else:
        reason = "facts_changed"
    at = happening.at or after.get("received_at")
    return None if at is None else Redecision(reason, at)


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
        elif name == "priority":
            known[name] = max(current, value, key=lambda p: _PRIORITY_RANK.get(p, 0))
        else:
            known[name] = value


def received(event: InteractionReceived, *, correlation_id: str | None) -> Happening:
    """Take the receipt: it starts the interaction's clocks as of the contact's own time.

    That is `occurred_at` when the channel gave one (intake bounds it: not in the future, not
    older than its limit; a NIP counts from its notification), else the registration.
    """
    return Happening(
        event.interaction_id,
        {
            "received_at": min(event.occurred_at, event.received_at),
            "channel": event.channel.value,
            "party_kind": event.party_kind.value,
            "priority": event.priority.value,
            "demand_type": event.demand_type,
            "correlation_id": correlation_id,
        },
    )


def queued(event: InteractionQueued) -> Happening:
    """Take the queue, the (possibly inferred) demand type and the triaged priority.

    They decide more clocks; a priority triage raised re-decides running ones.
    """
    return Happening(
        event.interaction_id,
        {"queue": event.queue, "demand_type": event.demand_type, "priority": event.priority.value},
        at=event.occurred_at,
    )


def reclassified(event: InteractionReclassified) -> Happening:
    """Take the corrected demand type and its queue: running clocks are re-decided."""
    return Happening(
        event.interaction_id,
        {"queue": event.queue, "demand_type": event.demand_type},
        at=event.occurred_at,
        reason="reclassified",
    )


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
    """Take the completion (and whether it answered conclusively); it stops clocks.

    Only a resolution with an outcome is a conclusive answer (routing refuses one without, and
    a holding note as its answer): it stops regulatory clocks as well as operational ones.
    """
    conclusive = event.resolution is Resolution.RESOLVED and event.outcome is not None
    answered = event.occurred_at if conclusive else None
    return Happening(
        event.interaction_id,
        {"completed_at": event.occurred_at, "answered_at": answered, "queue": event.queue},
    )
