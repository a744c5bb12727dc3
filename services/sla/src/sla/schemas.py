"""Request and response bodies of the sla HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from atende_events.envelope import Code
from atende_events.sla import ClockKind, ClockType


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ClockOut(_Body):
    """One deadline clock."""

    clock_id: UUID
    interaction_id: UUID
    queue: str | None
    kind: ClockKind
    clock_type: ClockType
    regime: str
    """The rule family of its policy: rn623, rn323, rn566, nip, operational."""
    policy_id: str
    state: str
    """running, paused, met or breached."""
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    """The deadline in force (a paused clock's deadline moves when it resumes)."""
    warned_at: datetime | None
    closed_at: datetime | None
    extended_at: datetime | None
    business_seconds_elapsed: float
    business_seconds_left: float


class InteractionClocksOut(_Body):
    """The clocks of one interaction."""

    interaction_id: UUID
    received_at: datetime
    queue: str | None
    clocks: list[ClockOut]


class AtRiskOut(_Body):
    """Running clocks due within the window, soonest first."""

    within_seconds: float
    queue: str | None
    clocks: list[ClockOut]


class ExtendIn(_Body):
    """The deadline the ombudsman agreed with the person."""

    due_at: AwareDatetime
    """At most 30 business days after the receipt."""
    reason_code: Code | None = None


class CalendarOut(_Body):
    """A calendar in force and the dates it is closed in the coming year."""

    id: str
    definition: dict[str, Any]
    closed_next_365_days: list[date]


class PoliciesOut(_Body):
    """The policies in force, in order of precedence, and their calendars."""

    policies: list[dict[str, Any]]
    calendars: list[CalendarOut]
