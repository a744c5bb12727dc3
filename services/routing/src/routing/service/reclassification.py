"""Reclassification: an agent or supervisor corrects an interaction's demand type."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.intake import Priority
from atende_events.routing import InteractionReclassified, InteractionTriaged
from atende_events.web import ProblemError
from routing import domain
from routing.domain import RuleBook
from routing.models import Assignment, Interaction, Note
from routing.schemas import InteractionContext, ReclassifyIn
from routing.service.assignments import _context
from routing.service.common import Follow, emit, interaction_rank, utcnow


async def reclassify(
    session: AsyncSession, *, interaction_id: UUID, request: ReclassifyIn, book: RuleBook
) -> tuple[InteractionContext, Follow]:
    """Correct the demand type; the rules choose the queue again and waiting work moves to it.

    Emits `interaction.reclassified` (sla re-decides the running clocks from the original
    receipt), after `interaction.triaged` when the corrected type is a request for urgent care.
    The same demand type again changes nothing, so a retried request is harmless.
    """
    interaction = await session.scalar(
        select(Interaction)
        .where(Interaction.id == interaction_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if interaction is None:
        raise ProblemError(404, "Not found", f"No interaction {interaction_id}.")
    if request.demand_type == interaction.demand_type:
        return await _context(session, interaction), Follow()
    decision = domain.classify(
        domain.Contact(
            channel=interaction.channel,
            party_kind=interaction.party_kind,
            priority=interaction.priority,
            demand_type=request.demand_type,
            related=interaction.related_interaction_id is not None,
        ),
        book,
    )
    now = utcnow()
    previous_demand_type, previous_queue = interaction.demand_type, interaction.queue
    if decision.priority_raised:
        await emit(
            session,
            InteractionTriaged(
                occurred_at=now,
                interaction_id=interaction.id,
                flags=decision.flags,
                priority_before=Priority(interaction.priority),
                priority_after=Priority(decision.priority),
                demand_type=decision.demand_type,
            ),
            correlation_id=interaction.correlation_id,
        )
        interaction.priority = decision.priority
    interaction.demand_type = request.demand_type
    interaction.demand_type_inferred = False
    interaction.queue = decision.queue
    interaction.matched_rule = decision.matched_rule
    interaction.rank = interaction_rank(interaction)
    if request.notes is not None:
        last = await session.scalar(
            select(Assignment)
            .where(Assignment.interaction_id == interaction.id)
            .order_by(Assignment.offered_at.desc())
            .limit(1)
        )
        if last is not None:
            session.add(
                Note(
                    interaction_id=interaction.id,
                    assignment_id=last.id,
                    agent_id=request.agent_id,
                    kind="reclassify",
                    body=request.notes,
                )
            )
    await emit(
        session,
        InteractionReclassified(
            occurred_at=now,
            interaction_id=interaction.id,
            previous_demand_type=previous_demand_type,
            demand_type=request.demand_type,
            reason_code=request.reason_code,
            agent_id=request.agent_id,
            queue=interaction.queue,
            previous_queue=previous_queue,
            content=request.notes,
        ),
        correlation_id=interaction.correlation_id,
    )
    view = await _context(session, interaction)
    moved = interaction.status == "queued" and interaction.queue != previous_queue
    return view, Follow(interactions=(interaction.id,) if moved else ())
