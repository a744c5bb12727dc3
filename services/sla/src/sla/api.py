"""HTTP API of sla; each route opens and commits its own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.auth import require_scope
from atende_events.web import ProblemError
from sla import service
from sla.domain.book import PolicyBook
from sla.schemas import (
    AtRiskOut,
    CalendarOut,
    ClockOut,
    ExtendIn,
    InteractionClocksOut,
    PoliciesOut,
)

router = APIRouter(prefix="/v1/sla", tags=["sla"])

READ = Depends(require_scope("sla:read"))
WRITE = Depends(require_scope("sla:write"))
MAX_WINDOW = timedelta(days=366)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "sla has no clocks for this interaction (not received yet)."}
}


def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.runtime.sessionmaker
    return sessionmaker


def _book(request: Request) -> PolicyBook:
    book: PolicyBook = request.app.state.book
    return book


def _out(reading: service.ClockReading) -> ClockOut:
    clock = reading.clock
    return ClockOut.model_validate(
        {
            "clock_id": clock.clock_id,
            "interaction_id": clock.interaction_id,
            "queue": reading.queue,
            "kind": clock.kind,
            "clock_type": clock.clock_type,
            "regime": clock.regime,
            "policy_id": clock.policy_id,
            "state": clock.state,
            "started_at": clock.started_at,
            "warn_at": clock.warn_at,
            "due_at": clock.due_at,
            "warned_at": clock.warned_at,
            "closed_at": clock.closed_at,
            "extended_at": clock.extended_at,
            "business_seconds_elapsed": reading.elapsed.total_seconds(),
            "business_seconds_left": reading.left.total_seconds(),
        }
    )


def _unknown(interaction_id: UUID) -> ProblemError:
    return ProblemError(
        404, "Not found", f"sla has no clocks for interaction {interaction_id} (not received yet)."
    )


@router.get("/interactions/{interaction_id}", dependencies=[READ], responses=NOT_FOUND)
async def get_interaction_clocks(request: Request, interaction_id: UUID) -> InteractionClocksOut:
    """Show every clock of an interaction: state, due time, business time elapsed and left."""
    async with _sessionmaker(request).begin() as session:
        try:
            interaction, readings = await service.clocks_of(
                session, book=_book(request), interaction_id=interaction_id, now=datetime.now(UTC)
            )
        except service.UnknownInteraction:
            raise _unknown(interaction_id) from None
    assert interaction.received_at is not None
    return InteractionClocksOut(
        interaction_id=interaction_id,
        received_at=interaction.received_at,
        queue=interaction.queue,
        clocks=[_out(reading) for reading in readings],
    )


@router.get("/at-risk", dependencies=[READ])
async def get_at_risk(
    request: Request,
    within: Annotated[
        timedelta, Query(description="An ISO 8601 duration such as PT2H.", examples=["PT2H"])
    ],
    queue: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AtRiskOut:
    """List running clocks due within the window, soonest first; what a supervisor watches."""
    if not timedelta(0) < within <= MAX_WINDOW:
        raise ProblemError(
            422,
            "Invalid request",
            "within must be a positive ISO 8601 duration of at most 366 days, e.g. PT2H.",
            errors=[{"field": "within", "location": "query", "message": "out of range"}],
        )
    async with _sessionmaker(request).begin() as session:
        readings = await service.at_risk(
            session,
            book=_book(request),
            now=datetime.now(UTC),
            within=within,
            queue=queue,
            limit=limit,
        )
    return AtRiskOut(
        within_seconds=within.total_seconds(),
        queue=queue,
        clocks=[_out(reading) for reading in readings],
    )


@router.get("/policies", dependencies=[READ])
async def get_policies(request: Request) -> PoliciesOut:
    """Show the policies in force, in order of precedence, and their calendars."""
    book = _book(request)
    today = datetime.now(UTC).date()
    horizon = today + timedelta(days=365)
    return PoliciesOut(
        policies=[policy.model_dump(mode="json") for policy in book.spec.policies],
        calendars=[
            CalendarOut(
                id=name,
                definition=book.spec.calendars[name].model_dump(mode="json"),
                closed_next_365_days=sorted(d for d in calendar.closed if today <= d <= horizon),
            )
            for name, calendar in book.calendars.items()
        ],
    )


@router.post(
    "/interactions/{interaction_id}/extend",
    dependencies=[WRITE],
    responses={
        **NOT_FOUND,
        409: {"description": "No clock to extend: extended once already, or closed."},
    },
)
async def extend_deadline(request: Request, interaction_id: UUID, body: ExtendIn) -> ClockOut:
    """Record the ombudsman's agreed extension of the deadline (once, at most 30 business days)."""
    book = _book(request)
    now = datetime.now(UTC)
    async with _sessionmaker(request).begin() as session:
        try:
            clock = await service.extend(
                session,
                book=book,
                interaction_id=interaction_id,
                due_at=body.due_at,
                reason_code=body.reason_code,
                now=now,
            )
        except service.UnknownInteraction:
            raise _unknown(interaction_id) from None
        except service.ExtensionRefused as refused:
            title = "Conflict" if refused.status == 409 else "Invalid request"
            raise ProblemError(refused.status, title, refused.detail) from None
        interaction, readings = await service.clocks_of(
            session, book=book, interaction_id=interaction_id, now=now
        )
    return _out(next(r for r in readings if r.clock.clock_id == clock.clock_id))
