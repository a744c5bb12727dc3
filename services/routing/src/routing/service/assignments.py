"""What agents do with offers and assignments: accept, reject, wait, resume, transfer, complete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.intake import Channel, PartyKind
from atende_events.routing import (
    DeclineReason,
    InteractionAccepted,
    InteractionReopened,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
    Resolution,
)
from atende_events.web import ProblemError
from routing import answers, domain
from routing.config import Settings
from routing.domain import RuleBook
from routing.models import Agent, Assignment, Interaction, Note
from routing.schemas import (
    AssignmentOut,
    AssignmentView,
    CompleteIn,
    InteractionContext,
    NoteOut,
    ReopenIn,
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

UNRESOLVED_REASON = "unresolved"
"""The reason code of unresolved work handed back to a queue when the agent gave none."""


def _note(
    session: AsyncSession,
    interaction_id: UUID,
    assignment_id: UUID,
    agent_id: str,
    *,
    kind: str,
    body: str,
) -> None:
    """Keep what the agent wrote about the interaction, beside the assignment it wrote it in."""
    session.add(
        Note(
            interaction_id=interaction_id,
            assignment_id=assignment_id,
            agent_id=agent_id,
            kind=kind,
            body=body,
        )
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
        _note(session, interaction.id, assignment.id, agent.id, kind="transfer", body=request.notes)
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


def _unknown_queue(queue: str, book: RuleBook) -> ProblemError:
    return ProblemError(
        422,
        "Unknown queue",
        f"Queue {queue!r} does not exist; queues: {', '.join(book.queues)}.",
        errors=[
            {
                "field": "to_queue",
                "location": "body",
                "message": "not a queue",
                "type": "unknown_queue",
            }
        ],
    )


def _check_completion(request: CompleteIn, *, queue: str, book: RuleBook) -> None:
    """Refuse a completion without what it must record (422 naming every missing field)."""
    errors = [
        {"field": p.field, "location": "body", "message": p.message, "type": p.type}
        for p in answers.completion_problems(
            answers.Completion(
                resolution=request.resolution,
                outcome=request.outcome,
                answer=request.answer,
                denial_reason=request.denial_reason,
                legal_basis=request.legal_basis,
            )
        )
    ]
    if request.to_queue is not None and request.resolution is Resolution.RESOLVED:
        errors.append(
            {
                "field": "to_queue",
                "location": "body",
                "message": "only unresolved work goes back to a queue",
                "type": "queue_without_requeue",
            }
        )
    problem = domain.reason_code_problem(queue=queue, reason_code=request.reason_code, book=book)
    if problem is not None:
        errors.append(
            {"field": "reason_code", "location": "body", "message": problem, "type": "reason_code"}
        )
    if errors:
        fields = ", ".join(dict.fromkeys(str(e["field"]) for e in errors))
        raise ProblemError(
            422,
            "Incomplete answer"
            if request.resolution is Resolution.RESOLVED
            else "Invalid completion",
            f"The completion cannot be recorded: {fields}. "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            + ".",
            errors=errors,
        )
    if request.to_queue is not None and request.to_queue not in book.queues:
        raise _unknown_queue(request.to_queue, book)


async def complete(
    session: AsyncSession,
    *,
    assignment_id: UUID,
    request: CompleteIn,
    book: RuleBook,
    settings: Settings,
) -> tuple[AssignmentOut, Follow]:
    """Complete the assignment: answer the interaction, or give it back to a queue unanswered."""
    assignment, interaction, agent = await _locked_assignment(
        session, assignment_id, acting=request.agent_id, allowed=ACTIVE
    )
    _check_completion(request, queue=interaction.queue, book=book)
    now = utcnow()
    if request.resolution is Resolution.UNRESOLVED:
        return await _requeue(
            session, assignment, interaction, agent, request=request, settings=settings, now=now
        )
    accepted_before = await session.scalar(
        select(func.count()).where(
            Assignment.interaction_id == interaction.id,
            Assignment.accepted_at.is_not(None),
            Assignment.id != assignment.id,
        )
    )
    for kind, body in (("completion", request.notes), ("answer", request.answer)):
        if body is not None:
            _note(session, interaction.id, assignment.id, agent.id, kind=kind, body=body)
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
            # The answer is what the person reads: the event's one free-text field. The notes
            # are for colleagues and stay with routing.
            content=request.answer,
            outcome=request.outcome,
            denial_reason=request.denial_reason,
            legal_basis=request.legal_basis,
        ),
        correlation_id=interaction.correlation_id,
    )
    return assignment_out(assignment), Follow(agents=(agent.id,))


async def _requeue(
    session: AsyncSession,
    assignment: Assignment,
    interaction: Interaction,
    agent: Agent,
    *,
    request: CompleteIn,
    settings: Settings,
    now: datetime,
) -> tuple[AssignmentOut, Follow]:
    """End an assignment without an answer: the work waits again, its clocks running."""
    if request.notes is not None:
        _note(
            session, interaction.id, assignment.id, agent.id, kind="unresolved", body=request.notes
        )
    from_queue = interaction.queue
    to_queue = request.to_queue or from_queue
    assignment.status = "completed"
    assignment.ended_at = now
    assignment.resolution = Resolution.UNRESOLVED.value
    assignment.sensitive = request.sensitive
    assignment.reason_code = request.reason_code
    agent.idle_since = now
    _back_in_queue(interaction, to_queue, settings=settings, now=now)
    await emit(
        session,
        InteractionTransferred(
            occurred_at=now,
            interaction_id=interaction.id,
            assignment_id=assignment.id,
            agent_id=agent.id,
            from_queue=from_queue,
            to_queue=to_queue,
            reason_code=request.reason_code or UNRESOLVED_REASON,
            content=request.notes,
        ),
        correlation_id=interaction.correlation_id,
    )
    return assignment_out(assignment), Follow(interactions=(interaction.id,), agents=(agent.id,))


def _back_in_queue(
    interaction: Interaction, queue: str, *, settings: Settings, now: datetime
) -> None:
    interaction.queue = queue
    interaction.status = "queued"
    interaction.queued_at = now
    interaction.escalated = False
    interaction.escalate_at = now + timedelta(seconds=settings.escalation_after)
    interaction.rank = interaction_rank(interaction)


async def reopen(
    session: AsyncSession,
    *,
    interaction_id: UUID,
    request: ReopenIn,
    book: RuleBook,
    settings: Settings,
) -> tuple[InteractionContext, Follow]:
    """Reopen an answered interaction whose answer was contested: it waits for a new answer."""
    if request.to_queue is not None and request.to_queue not in book.queues:
        raise _unknown_queue(request.to_queue, book)
    interaction = await session.scalar(
        select(Interaction)
        .where(Interaction.id == interaction_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if interaction is None:
        raise ProblemError(404, "Not found", f"No interaction {interaction_id}.")
    if interaction.status != "resolved":
        raise ProblemError(
            409,
            "Not answered",
            f"Interaction {interaction_id} is {interaction.status}; only an answered one reopens.",
            interaction_status=interaction.status,
        )
    now = utcnow()
    last = await session.scalar(
        select(Assignment)
        .where(Assignment.interaction_id == interaction.id)
        .order_by(Assignment.offered_at.desc())
        .limit(1)
    )
    if request.notes is not None and last is not None:
        _note(session, interaction.id, last.id, request.agent_id, kind="reopen", body=request.notes)
    _back_in_queue(interaction, request.to_queue or interaction.queue, settings=settings, now=now)
    interaction.resolved_at = None
    await emit(
        session,
        InteractionReopened(
            occurred_at=now,
            interaction_id=interaction.id,
            queue=interaction.queue,
            agent_id=request.agent_id,
            reason_code=request.reason_code,
            content=request.notes,
        ),
        correlation_id=interaction.correlation_id,
    )
    view = await _context(session, interaction)
    return view, Follow(interactions=(interaction.id,))


async def assignment_view(session: AsyncSession, *, assignment_id: UUID) -> AssignmentView:
    """Show an assignment with its interaction's whole context."""
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None:
        raise ProblemError(404, "Not found", f"No assignment {assignment_id}.")
    interaction = await session.get(Interaction, assignment.interaction_id)
    assert interaction is not None
    context = await _context(session, interaction)
    return AssignmentView(**assignment_out(assignment).model_dump(), interaction=context)


async def _context(session: AsyncSession, interaction: Interaction) -> InteractionContext:
    """Show an interaction with its notes and every offer and assignment so far."""
    notes = await session.scalars(
        select(Note)
        .where(Note.interaction_id == interaction.id)
        .order_by(Note.id)
        .execution_options(populate_existing=True)
    )
    history = await session.scalars(
        select(Assignment)
        .where(Assignment.interaction_id == interaction.id)
        .order_by(Assignment.offered_at)
    )
    return InteractionContext(
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
