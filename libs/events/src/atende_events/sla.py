"""Events the sla service produces: the life of each deadline clock."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from atende_events.envelope import Code, EventData, Seconds, UtcDatetime, source_of
from atende_events.topics import SLA

SOURCE = source_of("sla")


class ClockKind(StrEnum):
    """Whose deadline a clock keeps: the regulator's or the operation's own target."""

    REGULATORY = "regulatory"
    OPERATIONAL = "operational"


class ClockType(StrEnum):
    """What stops a clock: the first response or the resolution."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class SlaClockEvent(EventData):
    """What every event about a deadline clock says about the clock."""

    topic = SLA

    interaction_id: UUID
    clock_id: UUID
    kind: ClockKind
    clock_type: ClockType
    policy_id: Code
    """The SLA policy whose deadline and calendar the clock follows."""
    due_at: UtcDatetime
    """The deadline in force once this event happened."""


class SlaStarted(SlaClockEvent):
    """A deadline clock started for an interaction."""

    event_type = "atende.sla.started.v1"


class SlaWarning(SlaClockEvent):
    """A running clock is close to its deadline."""

    event_type = "atende.sla.warning.v1"

    business_seconds_elapsed: Seconds


class SlaBreached(SlaClockEvent):
    """A clock passed its deadline; this happens at most once per clock."""

    event_type = "atende.sla.breached.v1"

    business_seconds_elapsed: Seconds


class SlaMet(SlaClockEvent):
    """A clock stopped in time; this happens at most once per clock."""

    event_type = "atende.sla.met.v1"

    business_seconds_elapsed: Seconds


class SlaPaused(SlaClockEvent):
    """An operational clock paused while the interaction waits for the customer."""

    event_type = "atende.sla.paused.v1"

    business_seconds_elapsed: Seconds
    """Business time counted before the pause; due_at moves when the clock resumes."""


class SlaResumed(SlaClockEvent):
    """A paused clock runs again, with a later deadline."""

    event_type = "atende.sla.resumed.v1"


class SlaExtended(SlaClockEvent):
    """The ombudsman agreed a later deadline with the person."""

    event_type = "atende.sla.extended.v1"

    previous_due_at: UtcDatetime
    reason_code: Code | None = None


class SlaRedecided(SlaClockEvent):
    """A running clock follows another policy: the facts that chose its policy changed.

    Triage raised the priority, or an agent corrected the demand type. The new deadline is
    counted from the clock's original start (the receipt), never from the re-decision.
    """

    event_type = "atende.sla.redecided.v1"

    previous_policy_id: Code
    previous_due_at: UtcDatetime
    reason: Code
    """What changed: `priority_raised`, `demand_type_changed` or `reclassified`."""


EVENTS: tuple[type[EventData], ...] = (
    SlaStarted,
    SlaWarning,
    SlaBreached,
    SlaMet,
    SlaPaused,
    SlaResumed,
    SlaExtended,
    SlaRedecided,
)
