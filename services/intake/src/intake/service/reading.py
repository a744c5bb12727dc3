"""Read interactions, a party's timeline and contact, and what a tracking link shows."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import and_, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from atende_events.routing import Outcome
from atende_events.sla import ClockKind
from intake import domain
from intake.domain import Cursor
from intake.models import (
    Answer,
    Deadline,
    HistoryEntry,
    Interaction,
    Party,
)
from intake.schemas import (
    DeadlineOut,
    HistoryItem,
    InteractionOut,
    PartyOut,
    PartyRefOut,
    Timeline,
    TimelineItem,
    TrackAnswer,
    TrackDeadline,
    Tracking,
)


async def find_interaction(session: AsyncSession, reference: str) -> Interaction | None:
    """Find an interaction by its id or its protocol number."""
    try:
        interaction_id = UUID(reference)
    except ValueError:
        interaction_id = None
    if interaction_id is not None:
        return await session.get(Interaction, interaction_id)
    if domain.parse_protocol(reference) is None:
        return None
    found: Interaction | None = await session.scalar(
        select(Interaction).where(Interaction.protocol == reference)
    )
    return found


async def interaction_view(session: AsyncSession, interaction: Interaction) -> InteractionOut:
    """Show an interaction with its deadlines and its history in the order things happened."""
    history = (
        await session.scalars(
            select(HistoryEntry)
            .where(HistoryEntry.interaction_id == interaction.id)
            .order_by(HistoryEntry.occurred_at, HistoryEntry.id)
        )
    ).all()
    deadlines = await _deadlines(session, interaction.id)
    related = await _protocol_of(session, interaction.related_interaction_id)
    return InteractionOut(
        id=interaction.id,
        protocol=interaction.protocol,
        channel=interaction.channel,
        party=PartyRefOut(kind=interaction.party_kind, id=interaction.party_id),
        demand_type=interaction.demand_type,
        priority=interaction.priority,
        subject=interaction.subject,
        description=interaction.description,
        locale=interaction.locale,
        related_protocol=related,
        external_reference=interaction.external_reference,
        occurred_at=interaction.occurred_at,
        received_at=interaction.received_at,
        status=interaction.status,
        queue=interaction.queue,
        completed_at=interaction.completed_at,
        sla_breached=interaction.sla_breached,
        deadlines=[
            DeadlineOut(kind=d.kind, clock_type=d.clock_type, due_at=d.due_at, state=d.state)
            for d in deadlines
        ],
        history=[
            HistoryItem(
                event_type=entry.event_type,
                occurred_at=entry.occurred_at,
                status=entry.status,
                queue=entry.queue,
            )
            for entry in history
        ],
    )


async def _deadlines(session: AsyncSession, interaction_id: UUID) -> list[Deadline]:
    return list(
        (
            await session.scalars(
                select(Deadline)
                .where(Deadline.interaction_id == interaction_id)
                .order_by(Deadline.due_at, Deadline.clock_id)
            )
        ).all()
    )


async def _protocol_of(session: AsyncSession, interaction_id: UUID | None) -> str | None:
    if interaction_id is None:
        return None
    protocol: str | None = await session.scalar(
        select(Interaction.protocol).where(Interaction.id == interaction_id)
    )
    return protocol


async def party_timeline(
    session: AsyncSession, *, kind: str, party_id: str, cursor: Cursor | None, limit: int
) -> Timeline:
    """List a party's interactions across every channel, newest first, one page at a time."""
    related = aliased(Interaction)
    query = (
        select(Interaction, related.protocol)
        .outerjoin(related, related.id == Interaction.related_interaction_id)
        .where(Interaction.party_kind == kind, Interaction.party_id == party_id)
        .order_by(Interaction.received_at.desc(), Interaction.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(
            tuple_(Interaction.received_at, Interaction.id)
            < tuple_(literal(cursor.received_at), literal(cursor.interaction_id))
        )
    rows = (await session.execute(query)).all()
    page = rows[:limit]
    items = [
        TimelineItem(
            id=row.id,
            protocol=row.protocol,
            channel=row.channel,
            demand_type=row.demand_type,
            subject=row.subject,
            status=row.status,
            queue=row.queue,
            related_protocol=related_protocol,
            received_at=row.received_at,
            completed_at=row.completed_at,
        )
        for row, related_protocol in page
    ]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1][0]
        next_cursor = domain.encode_cursor(Cursor(last.received_at, last.id))
    return Timeline(items=items, next_cursor=next_cursor)


async def party_contact(session: AsyncSession, *, kind: str, party_id: str) -> PartyOut | None:
    """Give a party's contact data."""
    party = await session.get(Party, (kind, party_id))
    if party is None:
        return None
    return PartyOut(
        kind=party.kind,
        id=party.party_id,
        name=party.name,
        email=party.email,
        phone=party.phone,
        updated_at=party.updated_at,
    )


async def _tracked(
    session: AsyncSession, *, protocol: str, party_id: str, party_kind: str | None
) -> Interaction | None:
    """Find a request of its own party: protocol, party id and kind (if given) must match."""
    matches = and_(Interaction.protocol == protocol, Interaction.party_id == party_id)
    if party_kind is not None:
        matches = and_(matches, Interaction.party_kind == party_kind)
    found: Interaction | None = await session.scalar(select(Interaction).where(matches))
    return found


async def _latest_answer(session: AsyncSession, interaction_id: UUID) -> Answer | None:
    latest: Answer | None = await session.scalar(
        select(Answer)
        .where(Answer.interaction_id == interaction_id)
        .order_by(Answer.answered_at.desc(), Answer.event_id)
        .limit(1)
    )
    return latest


async def tracking(
    session: AsyncSession,
    *,
    protocol: str,
    party_id: str,
    party_kind: str | None,
    queue_labels: dict[str, str],
) -> Tracking | None:
    """Show a person their own request; None unless protocol, party id and kind (if given) match."""
    interaction = await _tracked(
        session, protocol=protocol, party_id=party_id, party_kind=party_kind
    )
    if interaction is None:
        return None
    deadlines = await _deadlines(session, interaction.id)
    answer = await _latest_answer(session, interaction.id)
    return Tracking(
        protocol=interaction.protocol,
        status=interaction.status,
        queue_label=(
            queue_labels.get(interaction.queue, interaction.queue) if interaction.queue else None
        ),
        received_at=interaction.received_at,
        updated_at=max(interaction.status_at, interaction.received_at),
        completed_at=interaction.completed_at,
        deadlines=[
            TrackDeadline(clock_type=d.clock_type, due_at=d.due_at, state=d.state)
            for d in deadlines
            if d.kind == ClockKind.REGULATORY.value
        ],
        answer=(
            None
            if answer is None
            else TrackAnswer(
                outcome=answer.outcome,
                outcome_label=domain.outcome_label(Outcome(answer.outcome), interaction.locale),
                answer=answer.body,
                denial_reason=answer.denial_reason,
                legal_basis=answer.legal_basis,
                answered_at=answer.answered_at,
            )
        ),
    )


async def tracked_answer_text(
    session: AsyncSession,
    *,
    protocol: str,
    party_id: str,
    party_kind: str | None,
    time_zone: str,
) -> str | None:
    """Give the plain-text copy of a request's latest answer, to its own party; None if none."""
    interaction = await _tracked(
        session, protocol=protocol, party_id=party_id, party_kind=party_kind
    )
    if interaction is None:
        return None
    answer = await _latest_answer(session, interaction.id)
    if answer is None:
        return None
    return domain.answer_text(
        protocol=interaction.protocol,
        outcome=Outcome(answer.outcome),
        body=answer.body,
        denial_reason=answer.denial_reason,
        legal_basis=answer.legal_basis,
        answered_at=answer.answered_at,
        locale=interaction.locale,
        time_zone=time_zone,
    )
