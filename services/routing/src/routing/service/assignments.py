"""What agents do with offers and assignments: accept, reject, wait, resume, transfer, complete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.intake import Channel, PartyKind
from atende_events.routing import (
    DeclineReason,
    InteractionAccepted,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
)
from atende_events.web import ProblemError
from routing import domain
from routing.config import Settings
from routing.domain import RuleBook
from routing.models import Agent, Assignment, Interaction, Note
from routing.schemas import (
    AssignmentOut,
    AssignmentView,
    CompleteIn,
    InteractionContext,
    NoteOut,
    TransferIn,
)
from routing.service.common import (
    ACTIVE,
    Follow,
    assignment_out,
    decline_offer,
    emit,
    interaction_rank,
    lock_parts,
    utcnow,
)


async def _locked_assignment(
    session: AsyncSession, assignment_id: UUID, *, acting: str | None, allowed: Sequence[str]
) -> tuple[Assignment, Interaction, Agent]:
    assignment = await session.scalar(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if assignment is None:
        raise ProblemError(404, "Not found", f"No assignment {assignment_id}.")
    if acting is not None and acting != assignment.agent_id:
        raise ProblemError(
            409,
            "Not your assignment",
            f"Assignment {assignment_id} belongs to another agent, not {acting!r}.",
            assignment_status=assignment.status,
        )
    if assignment.status not in allowed:
        raise ProblemError(
            409,
            "Assignment in another state",
            f"Assignment {assignment_id} is {assignment.status}; this needs it "
            f"{' or '.join(allowed)}.",
            assignment_status=assignment.status,
        )
    interaction, agent = await lock_parts(session, assignment)
    return assignment, interaction, agent


async def accept(session: AsyncSession, *, assignment_id: UUID, agent_id: str) -> AssignmentOut:
    """Accept an offer: the agent now handles the interaction."""
    assignment, interaction, agent = await _locked_assignment(
        session, assignment_id, acting=agent_id, allowed=("offered",)
    )
    now = utcnow()
    if assignment.expires_at <= now:
        raise ProblemError(
            409, "Offer expired", f"The offer expired at {assignment.expires_at.isoformat()}."
        )
    assignment.status = "accepted"
    assignment.accepted_at = now
    interaction.status = "assigned"
    await emit(
        session,
        InteractionAccepted(
            occurred_at=now,
            interaction_id=interaction.id,
            assignment_id=assignment.id,
            agent_id=agent.id,
            queue=assignment.queue,
            wait_seconds=max(0.0, (now - interaction.queued_at).total_seconds()),
        ),
        correlation_id=interaction.correlation_id,
    )
    return assignment_out(assignment)


async def reject(
    session: AsyncSession, *, assignment_id: UUID, agent_id: str
) -> tuple[AssignmentOut, Follow]:
    """Reject an offer: the work goes back to the queue for another agent."""
    assignment, interaction, agent = await _locked_assignment(
        session, assignment_id, acting=agent_id, allowed=("offered",)
    )
    await decline_offer(
        session, assignment, interaction, agent, reason=DeclineReason.REJECTED, now=utcnow()
    )
    return assignment_out(assignment), Follow(interactions=(interaction.id,), agents=(agent.id,))


async def wait(
    session: AsyncSession, *, assignment_id: UUID, agent_id: str | None
) -> AssignmentOut:
    """Wait for the customer: operational clocks pause."""
    return await _switch(
        session, assignment_id, agent_id, "accepted", "waiting", InteractionWaiting
    )


async def resume(
    session: AsyncSession, *, assignment_id: UUID, agent_id: str | None
) -> AssignmentOut:
    """Resume after the customer came back."""
    return await _switch(
        session, assignment_id, agent_id, "waiting", "accepted", InteractionResumed
    )


async def _switch(
    session: AsyncSession,
    assignment_id: UUID,
    agent_id: str | None,
    before: str,
    after: str,
    event: type[InteractionWaiting | InteractionResumed],
) -> AssignmentOut:
    assignment, interaction, agent = await _locked_assignment(
        session, assignment_id, acting=agent_id, allowed=(before,)
    )
    assignment.status = after
    await emit(
        session,
        event(
            occurred_at=utcnow(),
            interaction_id=interaction.id,
            assignment_id=assignment.id,
            agent_id=agent.id,
        ),
        correlation_id=interaction.correlation_id,
    )
    return assignment_out(assignment)


async def transfer(
    session: AsyncSession,
    *,
    assignment_id: UUID,
    request: TransferIn,
    book: RuleBook,
    settings: Settings,
) -> tuple[AssignmentOut, Follow]:
    """Hand the interaction to another queue; its notes and assignments go with it."""
    if request.to_queue not in book.queues:
        raise ProblemError(
            422,
            "Unknown queue",
            f"Queue {request.to_queue!r} does not exist; queues: {', '.join(book.queues)}.",
            errors=[
                {
                    "field": "to_queue",
                    "location": "body",
                    "message": "not a queue",
                    "type": "unknown_queue",
                }
            ],
        )
    assignment, interaction, agent = await _locked_assignment(
        session, assignment_id, acting=request.agent_id, allowed=ACTIVE
    )
    if request.to_queue == interaction.queue:
        raise ProblemError(
            409, "Same queue", f"The interaction is already in queue {request.to_queue!r}."
        )
    now = utcnow()
    from_queue = interaction.queue
    if request.notes is not None:
        session.add(
            Note(
                interaction_id=interaction.id,
                assignment_id=assignment.id,
                agent_id=agent.id,
                kind="transfer",
                body=request.notes,
            )
        )
    assignment.status = "transferred"
    assignment.ended_at = now
    agent.idle_since = now
    interaction.queue = request.to_queue
    interaction.status = "queued"
    interaction.queued_at = now
    interaction.escalated = False
    interaction.escalate_at = now + timedelta(seconds=settings.escalation_after)
    interaction.rank = interaction_rank(interaction)
    await emit(
        session,
        InteractionTransferred(
            occurred_at=now,
            interaction_id=interaction.id,
            assignment_id=assignment.id,
            agent_id=agent.id,
            from_queue=from_queue,
            to_queue=request.to_queue,
            reason_code=request.reason_code,
            content=request.notes,
        ),
        correlation_id=interaction.correlation_id,
    )
    return assignment_out(assignment), Follow(interactions=(interaction.id,), agents=(agent.id,))


async def complete(
    session: AsyncSession, *, assignment_id: UUID, request: CompleteIn, book: RuleBook
) -> tuple[AssignmentOut, Follow]:
    """Complete the interaction with a resolution; the agent's slot is free again."""
    assignment, interaction, agent = await _locked_assignment(
        session, assignment_id, acting=request.agent_id, allowed=ACTIVE
    )
    problem = domain.reason_code_problem(
        queue=interaction.queue, reason_code=request.reason_code, book=book
    )
    if problem is not None:
        raise ProblemError(
            422,
            "Invalid reason code",
            problem,
            errors=[
                {
                    "field": "reason_code",
                    "location": "body",
                    "message": problem,
                    "type": "reason_code",
                }
            ],
        )
    now = utcnow()
    accepted_before = await session.scalar(
        select(func.count()).where(
            Assignment.interaction_id == interaction.id,
            Assignment.accepted_at.is_not(None),
            Assignment.id != assignment.id,
        )
    )
    if request.notes is not None:
        session.add(
            Note(
                interaction_id=interaction.id,
                assignment_id=assignment.id,
                agent_id=agent.id,
                kind="completion",
                body=request.notes,
            )
        )
    assignment.status = "completed"
    assignment.ended_at = now
    assignment.resolution = request.resolution.value
    assignment.sensitive = request.sensitive
    assignment.reason_code = request.reason_code
    agent.idle_since = now
    interaction.status = "resolved"
    interaction.resolved_at = now
    accepted_at = assignment.accepted_at or now
    await emit(
        session,
        InteractionResolved(
            occurred_at=now,
            interaction_id=interaction.id,
            assignment_id=assignment.id,
            agent_id=agent.id,
            queue=interaction.queue,
            channel=Channel(interaction.channel),
            party_kind=PartyKind(interaction.party_kind),
            party_ref=interaction.party_ref,
            demand_type=interaction.demand_type,
            resolution=request.resolution,
            handle_seconds=max(0.0, (now - accepted_at).total_seconds()),
            first_assignment=accepted_before == 0,
            sensitive=request.sensitive,
            reason_code=request.reason_code,
            content=request.notes,
        ),
        correlation_id=interaction.correlation_id,
    )
    return assignment_out(assignment), Follow(agents=(agent.id,))


async def assignment_view(session: AsyncSession, *, assignment_id: UUID) -> AssignmentView:
    """Show an assignment with its interaction's whole context."""
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None:
        raise ProblemError(404, "Not found", f"No assignment {assignment_id}.")
    interaction = await session.get(Interaction, assignment.interaction_id)
    assert interaction is not None
    notes = await session.scalars(
        select(Note).where(Note.interaction_id == interaction.id).order_by(Note.id)
    )
    history = await session.scalars(
        select(Assignment)
        .where(Assignment.interaction_id == interaction.id)
        .order_by(Assignment.offered_at)
    )
    context = InteractionContext(
        id=interaction.id,
        protocol=interaction.protocol,
        channel=interaction.channel,
        party_kind=interaction.party_kind,
        party_ref=interaction.party_ref,
        priority=interaction.priority,
        demand_type=interaction.demand_type,
        queue=interaction.queue,
        matched_rule=interaction.matched_rule,
        status=interaction.status,
        received_at=interaction.received_at,
        queued_at=interaction.queued_at,
        due_at=interaction.due_at,
        breached=interaction.breached,
        notes=[
            NoteOut(
                assignment_id=note.assignment_id,
                agent_id=note.agent_id,
                kind=note.kind,
                notes=note.body,
                created_at=note.created_at,
            )
            for note in notes
        ],
        assignments=[assignment_out(item) for item in history],
    )
    return AssignmentView(**assignment_out(assignment).model_dump(), interaction=context)
