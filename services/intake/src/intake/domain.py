"""Pure rules of intake: protocol numbers, statuses from events, cursors and fingerprints."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from atende_events.envelope import EventData
from atende_events.routing import (
    InteractionAccepted,
    InteractionOfferDeclined,
    InteractionOffered,
    InteractionQueued,
    InteractionReclassified,
    InteractionReopened,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
    Outcome,
    Resolution,
)

PROTOCOL_PATTERN = re.compile(r"^(?P<registry>[0-9]{6})(?P<day>[0-9]{8})(?P<sequence>[0-9]{6})$")
MAX_DAILY_SEQUENCE = 999_999
CLOCK_SKEW = timedelta(minutes=5)
"""No contact reported to intake happened before this; older dates are typing mistakes."""


# --- Protocol numbers --------------------------------------------------------------------------


class ProtocolExhausted(Exception):
    """The day's six-digit sequence has run out."""


class OccurredAtRefused(Exception):
    """The reported contact time lies too far in the past or in the future."""


@dataclass(frozen=True)
class Protocol:
    """A protocol number in the regulator's format: registry, day and daily sequence."""

    registry: str
    day: date
    sequence: int

    def __str__(self) -> str:
        return format_protocol(self.registry, self.day, self.sequence)


def format_protocol(registry: str, day: date, sequence: int) -> str:
    """Write the 20-digit protocol number of a registry, a day and a daily sequence."""
    if not re.fullmatch(r"[0-9]{6}", registry):
        raise ValueError(f"the ANS registry number must have 6 digits, not {registry!r}")
    if not 1 <= sequence <= MAX_DAILY_SEQUENCE:
        raise ProtocolExhausted(f"daily sequence {sequence} is outside 1..{MAX_DAILY_SEQUENCE}")
    return f"{registry}{day:%Y%m%d}{sequence:06d}"


def parse_protocol(text: str) -> Protocol | None:
    """Read a protocol number; None when it is not 20 digits with a real date and sequence."""
    match = PROTOCOL_PATTERN.fullmatch(text)
    if match is None:
        return None
    try:
        day = datetime.strptime(match["day"], "%Y%m%d").date()
    except ValueError:
        return None
    sequence = int(match["sequence"])
    if sequence == 0:
        return None
    return Protocol(registry=match["registry"], day=day, sequence=sequence)


def operator_day(moment: datetime, time_zone: str) -> date:
    """Give the calendar day of a moment in the operator's time zone."""
    return moment.astimezone(ZoneInfo(time_zone)).date()


def daily_sequence(number: int, day_base: int) -> int:
    """Turn a database sequence value into the day's sequence; refuse past the sixth digit."""
    sequence = number - day_base
    if sequence < 1:
        raise ValueError(f"sequence value {number} is not above the day's base {day_base}")
    if sequence > MAX_DAILY_SEQUENCE:
        raise ProtocolExhausted(f"the day has used all {MAX_DAILY_SEQUENCE} protocol numbers")
    return sequence


# --- What a request may say ----------------------------------------------------------------------


def occurred_at_problem(
    occurred_at: datetime | None, now: datetime, *, max_age: timedelta
) -> str | None:
    """Explain why a reported contact time is unacceptable, or None when it is fine.

    The regulatory clocks start at the contact's own time when the channel gives one (a call
    queued before the agent registered it, a NIP notified days ago), so it is bounded: not in the
    future (beyond a server's clock skew) and not older than `max_age`.
    """
    if occurred_at is None:
        return None
    if occurred_at > now + CLOCK_SKEW:
        return "occurred_at lies in the future"
    if occurred_at < now - max_age:
        return f"occurred_at lies more than {max_age.days} days before now"
    return None


def content_of(subject: str | None, description: str | None) -> str | None:
    """Join what the person wrote into the one free-text field events carry."""
    parts = [part.strip() for part in (subject, description) if part and part.strip()]
    return "\n\n".join(parts) or None


def fingerprint(body: dict[str, Any]) -> str:
    """Hash a request body canonically, so a retry of the same request matches its first try."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- Status ------------------------------------------------------------------------------------


class Status(StrEnum):
    """Where an interaction stands in its life."""

    RECEIVED = "received"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"


TERMINAL = frozenset({Status.RESOLVED, Status.UNRESOLVED})

# Breaks ties between events stamped with the same moment: the later stage wins.
_RANK = {
    Status.RECEIVED: 0,
    Status.QUEUED: 1,
    Status.ASSIGNED: 2,
    Status.IN_PROGRESS: 3,
    Status.WAITING: 3,
    Status.RESOLVED: 4,
    Status.UNRESOLVED: 4,
}


@dataclass(frozen=True)
class GivenAnswer:
    """The conclusive answer a resolution gave the person."""

    outcome: Outcome
    body: str | None
    denial_reason: str | None = None
    legal_basis: str | None = None


@dataclass(frozen=True)
class Step:
    """The status (and queue, when the event names one) a lifecycle event leads to."""

    status: Status | None
    """None for an event that moves no status (a correction of the demand type)."""
    queue: str | None
    demand_type: str | None = None
    """The demand type routing gave or inferred, for interactions that came without one; the
    corrected one for a reclassification, which replaces it."""
    answer: GivenAnswer | None = None
    """The answer a conclusive resolution gave."""
    reopens: bool = False
    """True when the event reopens a completed interaction (a contested answer)."""


def step_of(event: EventData) -> Step | None:
    """Tell the status a routing event leads to; None for events that do not move the status."""
    match event:
        case InteractionQueued(queue=queue, demand_type=demand_type):
            return Step(Status.QUEUED, queue, demand_type)
        case InteractionOffered(queue=queue):
            return Step(Status.ASSIGNED, queue)
        case InteractionOfferDeclined():
            return Step(Status.QUEUED, None)
        case InteractionAccepted(queue=queue):
            return Step(Status.IN_PROGRESS, queue)
        case InteractionWaiting():
            return Step(Status.WAITING, None)
        case InteractionResumed():
            return Step(Status.IN_PROGRESS, None)
        case InteractionTransferred(to_queue=queue):
            return Step(Status.QUEUED, queue)
        case InteractionResolved(resolution=resolution, queue=queue, demand_type=demand_type):
            status = Status.RESOLVED if resolution is Resolution.RESOLVED else Status.UNRESOLVED
            answer = None
            if status is Status.RESOLVED and event.outcome is not None:
                answer = GivenAnswer(
                    outcome=event.outcome,
                    body=event.content,
                    denial_reason=event.denial_reason,
                    legal_basis=event.legal_basis,
                )
            return Step(status, queue, demand_type, answer=answer)
        case InteractionReclassified(queue=queue, demand_type=demand_type):
            return Step(None, queue, demand_type)
        case InteractionReopened(queue=queue):
            return Step(Status.QUEUED, queue, reopens=True)
    return None


def supersedes(
    new: Status,
    new_at: datetime,
    current: Status,
    current_at: datetime | None,
    *,
    reopens: bool = False,
) -> bool:
    """Tell whether a status reported at new_at replaces the current one, in any arrival order.

    A completed interaction stays completed: a late queued or accepted event cannot reopen it;
    only a reopening after the completion does. Any lifecycle event moves a received interaction
    on, even if another host's clock stamped it a little before intake's. Otherwise the later
    event wins, and the later stage on a tie.
    """
    if current in TERMINAL and new not in TERMINAL:
        return reopens and (current_at is None or new_at > current_at)
    if current is Status.RECEIVED or current_at is None:
        return True
    if new_at != current_at:
        return new_at > current_at
    return _RANK[new] >= _RANK[current]


# --- Timeline cursors --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page of the timeline ended: the last item's receipt time and id."""

    received_at: datetime
    interaction_id: UUID


def encode_cursor(cursor: Cursor) -> str:
    """Write a cursor as an opaque URL-safe token."""
    raw = json.dumps([cursor.received_at.isoformat(), str(cursor.interaction_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor | None:
    """Read a cursor token; None for anything that is not one this service wrote."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # binascii, JSON and UTF-8 errors are ValueErrors
        return None
    match parsed:
        case [str(moment), str(interaction_id)]:
            pass
        case _:
            return None
    try:
        received_at = datetime.fromisoformat(moment)
        if received_at.tzinfo is None:
            return None
        # Years 1 and 9999 with an offset overflow when moved to UTC.
        return Cursor(received_at.astimezone(UTC), UUID(interaction_id))
    except (ValueError, OverflowError):
        return None


# --- Deadlines ---------------------------------------------------------------------------------


class ClockState(StrEnum):
    """Where a deadline clock stands."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


_CLOCK_STATES = {
    "atende.sla.started.v1": ClockState.RUNNING,
    "atende.sla.warning.v1": ClockState.RUNNING,
    "atende.sla.resumed.v1": ClockState.RUNNING,
    "atende.sla.extended.v1": ClockState.RUNNING,
    "atende.sla.redecided.v1": ClockState.RUNNING,
    "atende.sla.paused.v1": ClockState.PAUSED,
    "atende.sla.met.v1": ClockState.MET,
    "atende.sla.breached.v1": ClockState.BREACHED,
}


def clock_state_of(event_type: str) -> ClockState:
    """Tell the state a deadline event leaves its clock in."""
    return _CLOCK_STATES[event_type]


def clock_supersedes(
    new: ClockState, new_at: datetime, current: ClockState, current_at: datetime
) -> bool:
    """Tell whether a clock state reported at new_at replaces the current one.

    Met and breached are final and happen once per clock, so they win over any other state,
    whatever order the events arrive in.
    """
    if current in _FINAL_CLOCK_STATES:
        return False
    if new in _FINAL_CLOCK_STATES:
        return True
    return new_at >= current_at


_FINAL_CLOCK_STATES = frozenset({ClockState.MET, ClockState.BREACHED})


# --- Answers -----------------------------------------------------------------------------------

OUTCOME_LABELS: dict[str, dict[Outcome, str]] = {
    "pt": {
        Outcome.AUTHORISED: "Autorizado",
        Outcome.PARTIALLY_AUTHORISED: "Autorizado parcialmente",
        Outcome.DENIED: "Negado",
        Outcome.INFORMED: "Informação prestada",
        Outcome.WITHDRAWN: "Pedido encerrado a pedido do solicitante",
    },
    "es": {
        Outcome.AUTHORISED: "Autorizado",
        Outcome.PARTIALLY_AUTHORISED: "Autorizado parcialmente",
        Outcome.DENIED: "Denegado",
        Outcome.INFORMED: "Información brindada",
        Outcome.WITHDRAWN: "Solicitud retirada por el solicitante",
    },
    "en": {
        Outcome.AUTHORISED: "Authorised",
        Outcome.PARTIALLY_AUTHORISED: "Partially authorised",
        Outcome.DENIED: "Denied",
        Outcome.INFORMED: "Information given",
        Outcome.WITHDRAWN: "Withdrawn by the requester",
    },
    "de": {
        Outcome.AUTHORISED: "Genehmigt",
        Outcome.PARTIALLY_AUTHORISED: "Teilweise genehmigt",
        Outcome.DENIED: "Abgelehnt",
        Outcome.INFORMED: "Auskunft erteilt",
        Outcome.WITHDRAWN: "Vom Antragsteller zurückgezogen",
    },
}
"""The outcome in the words of the request's language; Portuguese when the language is another."""

_ANSWER_HEADINGS: dict[str, tuple[str, str, str, str, str, str]] = {
    "pt": ("Protocolo", "Data da resposta", "Resultado", "Motivo", "Fundamento", "Resposta"),
    "es": ("Protocolo", "Fecha de la respuesta", "Resultado", "Motivo", "Fundamento", "Respuesta"),
    "en": ("Protocol", "Answered on", "Outcome", "Reason", "Basis", "Answer"),
    "de": ("Protokoll", "Antwort vom", "Ergebnis", "Grund", "Grundlage", "Antwort"),
}


def language_of(locale: str | None) -> str:
    """Give the language answers are labelled in: the locale's own when known, else Portuguese."""
    language = (locale or "").split("-")[0].split("_")[0].lower()
    return language if language in OUTCOME_LABELS else "pt"


def outcome_label(outcome: Outcome, locale: str | None) -> str:
    """Name an outcome in the request's language."""
    return OUTCOME_LABELS[language_of(locale)][outcome]


def answer_text(
    *,
    protocol: str,
    outcome: Outcome,
    body: str | None,
    denial_reason: str | None,
    legal_basis: str | None,
    answered_at: datetime,
    locale: str | None,
    time_zone: str,
) -> str:
    """Write the answer as the plain-text copy a person keeps: protocol, date, outcome, grounds."""
    language = language_of(locale)
    protocol_h, date_h, outcome_h, reason_h, basis_h, answer_h = _ANSWER_HEADINGS[language]
    lines = [
        f"{protocol_h}: {protocol}",
        f"{date_h}: {answered_at.astimezone(ZoneInfo(time_zone)).strftime('%Y-%m-%d %H:%M %Z')}",
        f"{outcome_h}: {OUTCOME_LABELS[language][outcome]}",
    ]
    if denial_reason is not None:
        lines.append(f"{reason_h}: {denial_reason}")
    if legal_basis is not None:
        lines.append(f"{basis_h}: {legal_basis}")
    if body is not None:
        lines += ["", f"{answer_h}:", body]
    return "\n".join(lines) + "\n"
