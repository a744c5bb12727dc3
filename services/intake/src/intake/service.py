"""Use cases of intake: register an interaction, read it, follow its lifecycle; never commits."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import and_, bindparam, delete, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from atende_events.envelope import new_event
from atende_events.intake import SOURCE, InteractionReceived
from atende_events.outbox import add_event
from atende_events.pseudonym import party_ref
from atende_events.sla import ClockKind, SlaClockEvent
from intake import domain
from intake.config import Settings
from intake.domain import ClockState, Cursor, Status
from intake.models import (
    Deadline,
    HistoryEntry,
    IdempotentRequest,
    Interaction,
    Party,
    ProtocolDay,
    protocol_numbers,
)
from intake.schemas import (
    DeadlineOut,
    HistoryItem,
    InteractionCreated,
    InteractionIn,
    InteractionOut,
    PartyOut,
    PartyRefOut,
    Timeline,
    TimelineItem,
    TrackDeadline,
    Tracking,
)

log = logging.getLogger(__name__)

RECEIVED_EVENT = InteractionReceived.event_type


class IdempotencyConflict(Exception):
    """An Idempotency-Key comes back with a different request body."""


class UnknownRelatedProtocol(Exception):
    """The request cites a protocol no interaction has."""


class DailyProtocolsExhausted(Exception):
    """Every protocol number of the operator's day is taken."""

    def __init__(self, day: date) -> None:
        super().__init__(f"All {domain.MAX_DAILY_SEQUENCE} protocol numbers of {day} are taken.")
        self.day = day


# --- Registering -------------------------------------------------------------------------------


# Registering is the hot path of the whole system: every contact of every channel comes through
# it. Its statements are built once as SQL text (no per-request statement construction or ORM
# flush) and it takes five round trips: the key, the number, the rows, the event, the answer.

_CLAIM_KEY = text(
    """
    INSERT INTO idempotent_requests AS kept (client, key, fingerprint, created_at)
    VALUES (:client, :key, :fingerprint, :now)
    ON CONFLICT (client, key) DO UPDATE
        SET fingerprint = excluded.fingerprint, created_at = excluded.created_at,
            status_code = NULL, answer = NULL
        WHERE kept.created_at < :expired_before
    RETURNING 1
    """
)

_REMEMBER_ANSWER = text(
    """
    UPDATE idempotent_requests SET status_code = :status_code, answer = :answer
    WHERE client = :client AND key = :key
    """
).bindparams(bindparam("answer", type_=JSONB))

# Takes a number only when the day has its base already, so no number is ever wasted.
_NEXT_NUMBER = text("SELECT base, nextval('protocol_numbers') FROM protocol_days WHERE day = :day")

# The party's latest contact data (a contact that leaves a field out keeps the old one), the
# interaction and its first history entry, in one statement.
_REGISTER = text(
    """
    WITH party AS (
        INSERT INTO parties AS known (kind, party_id, name, email, phone, updated_at)
        VALUES (:party_kind, :party_id, :name, :email, :phone, :now)
        ON CONFLICT (kind, party_id) DO UPDATE
            SET name = coalesce(excluded.name, known.name),
                email = coalesce(excluded.email, known.email),
                phone = coalesce(excluded.phone, known.phone),
                updated_at = excluded.updated_at
            WHERE num_nonnulls(excluded.name, excluded.email, excluded.phone) > 0
    ), interaction AS (
        INSERT INTO interactions (
            id, protocol, channel, party_kind, party_id, demand_type, priority, subject,
            description, locale, related_interaction_id, occurred_at, received_at, status,
            status_at, sla_breached
        )
        VALUES (
            :id, :protocol, :channel, :party_kind, :party_id, :demand_type, :priority, :subject,
            :description, :locale, :related_id, :occurred_at, :now, :status, :now, false
        )
        RETURNING id
    )
    INSERT INTO interaction_history (interaction_id, event_type, occurred_at, status, applied)
    SELECT id, :event_type, :now, :status, true FROM interaction
    """
)


async def claim_idempotency_key(
    session: AsyncSession, *, client: str, key: str, fingerprint: str, now: datetime, ttl: timedelta
) -> IdempotentRequest | None:
    """Claim a key for this request; return the earlier request when the key was used before.

    Raise IdempotencyConflict when the key was used before with another body. A concurrent
    request with the same key waits here on the key's unique index until the first one commits
    (then it sees the first one's answer) or rolls back (then it proceeds). A key older than the
    ttl is expired and claimed afresh.
    """
    claimed = await session.scalar(
        _CLAIM_KEY,
        {
            "client": client,
            "key": key,
            "fingerprint": fingerprint,
            "now": now,
            "expired_before": now - ttl,
        },
    )
    if claimed is not None:
        return None
    earlier = await session.get(IdempotentRequest, (client, key))
    assert earlier is not None, "a key that conflicts exists"
    if earlier.fingerprint != fingerprint:
        raise IdempotencyConflict(key)
    return earlier


async def purge_idempotency_keys(session: AsyncSession, *, before: datetime) -> int:
    """Forget the idempotency keys used before a moment; return how many."""
    result = await session.execute(
        delete(IdempotentRequest).where(IdempotentRequest.created_at < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def remember_answer(
    session: AsyncSession, *, client: str, key: str, status_code: int, answer: dict[str, Any]
) -> None:
    """Keep the answer given to a request made with an Idempotency-Key."""
    await session.execute(
        _REMEMBER_ANSWER,
        {"client": client, "key": key, "status_code": status_code, "answer": answer},
    )


async def next_protocol(session: AsyncSession, *, registry: str, day: date) -> str:
    """Give the next protocol number of the day from the database sequence; never reused."""
    row = (await session.execute(_NEXT_NUMBER, {"day": day})).first()
    if row is None:
        # Once per day; a concurrent first request waits here only until the other one commits.
        await session.execute(
            insert(ProtocolDay)
            .values(day=day, base=protocol_numbers.next_value())
            .on_conflict_do_nothing()
        )
        row = (await session.execute(_NEXT_NUMBER, {"day": day})).one()
    base, number = row
    try:
        sequence = domain.daily_sequence(number, base)
    except domain.ProtocolExhausted:
        raise DailyProtocolsExhausted(day) from None
    return domain.format_protocol(registry, day, sequence)


async def register_interaction(
    session: AsyncSession,
    *,
    request: InteractionIn,
    settings: Settings,
    now: datetime,
    correlation_id: str | None,
) -> InteractionCreated:
    """Give the interaction its protocol, keep the party's contact data, and emit its event.

    Raise OccurredAtRefused, UnknownRelatedProtocol or DailyProtocolsExhausted when it cannot.
    """
    if (problem := domain.occurred_at_problem(request.occurred_at, now)) is not None:
        raise domain.OccurredAtRefused(problem)
    related_id: UUID | None = None
    if request.related_protocol is not None:
        related_id = await session.scalar(
            select(Interaction.id).where(Interaction.protocol == request.related_protocol)
        )
        if related_id is None:
            raise UnknownRelatedProtocol(request.related_protocol)

    party = request.party
    protocol = await next_protocol(
        session,
        registry=settings.ans_registry,
        day=domain.operator_day(now, settings.time_zone),
    )
    interaction_id = uuid4()
    occurred_at = request.occurred_at or now
    await session.execute(
        _REGISTER,
        {
            "party_kind": party.kind.value,
            "party_id": party.id,
            "name": party.name,
            "email": party.email,
            "phone": party.phone,
            "id": interaction_id,
            "protocol": protocol,
            "channel": request.channel.value,
            "demand_type": request.demand_type,
            "priority": request.priority.value,
            "subject": request.subject,
            "description": request.description,
            "locale": request.locale,
            "related_id": related_id,
            "occurred_at": occurred_at,
            "now": now,
            "status": Status.RECEIVED.value,
            "event_type": RECEIVED_EVENT,
        },
    )
    received = InteractionReceived(
        occurred_at=occurred_at,
        interaction_id=interaction_id,
        protocol=protocol,
        received_at=now,
        channel=request.channel,
        party_kind=party.kind,
        party_ref=party_ref(
            settings.pseudonym_key.encode(), kind=party.kind.value, party_id=party.id
        ),
        demand_type=request.demand_type,
        priority=request.priority,
        related_interaction_id=related_id,
        locale=request.locale,
        content=domain.content_of(request.subject, request.description),
    )
    await add_event(
        session, new_event(received, source=SOURCE, time=now, correlation_id=correlation_id)
    )
    return InteractionCreated(
        id=interaction_id, protocol=protocol, status=Status.RECEIVED.value, created_at=now
    )


# --- Reading -----------------------------------------------------------------------------------


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


async def tracking(
    session: AsyncSession,
    *,
    protocol: str,
    party_id: str,
    party_kind: str | None,
    queue_labels: dict[str, str],
) -> Tracking | None:
    """Show a person their own request; None unless protocol, party id and kind (if given) match."""
    matches = and_(Interaction.protocol == protocol, Interaction.party_id == party_id)
    if party_kind is not None:
        matches = and_(matches, Interaction.party_kind == party_kind)
    interaction = await session.scalar(select(Interaction).where(matches))
    if interaction is None:
        return None
    deadlines = await _deadlines(session, interaction.id)
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
    )


# --- Following the lifecycle -------------------------------------------------------------------

# The handlers change only non-key columns. FOR NO KEY UPDATE still serialises them, but unlike
# FOR UPDATE it does not block the FOR KEY SHARE lock a new interaction takes on the one it cites.
NO_KEY_UPDATE: dict[str, bool] = {"key_share": True}


async def follow_lifecycle(
    session: AsyncSession,
    *,
    event_id: UUID,
    event_type: str,
    step: domain.Step,
    at: datetime,
    interaction_id: UUID,
) -> None:
    """Move the interaction to the event's status unless a later event already moved it further."""
    interaction = await session.get(Interaction, interaction_id, with_for_update=NO_KEY_UPDATE)
    if interaction is None:
        log.info("ignoring %s for interaction %s, not registered here", event_type, interaction_id)
        return
    applied = domain.supersedes(step.status, at, Status(interaction.status), interaction.status_at)
    if applied:
        interaction.status = step.status.value
        interaction.status_at = at
        if step.queue is not None:
            interaction.queue = step.queue
        if step.status in domain.TERMINAL:
            interaction.completed_at = at
    if interaction.demand_type is None and step.demand_type is not None:
        interaction.demand_type = step.demand_type
    session.add(
        HistoryEntry(
            interaction_id=interaction.id,
            event_id=event_id,
            event_type=event_type,
            occurred_at=at,
            status=step.status.value,
            queue=step.queue,
            applied=applied,
        )
    )


async def follow_deadline(
    session: AsyncSession, *, event_id: UUID, event_type: str, clock: SlaClockEvent
) -> None:
    """Keep the clock's deadline and state as its latest event says; flag a breach."""
    interaction = await session.get(
        Interaction, clock.interaction_id, with_for_update=NO_KEY_UPDATE
    )
    if interaction is None:
        log.info(
            "ignoring %s for interaction %s, not registered here", event_type, clock.interaction_id
        )
        return
    at = clock.occurred_at
    state = domain.clock_state_of(event_type)
    deadline = await session.get(Deadline, clock.clock_id, with_for_update=NO_KEY_UPDATE)
    if deadline is None:
        session.add(
            Deadline(
                clock_id=clock.clock_id,
                interaction_id=interaction.id,
                kind=clock.kind.value,
                clock_type=clock.clock_type.value,
                due_at=clock.due_at,
                due_at_as_of=at,
                state=state.value,
            )
        )
    else:
        if domain.clock_supersedes(state, at, ClockState(deadline.state), deadline.due_at_as_of):
            deadline.state = state.value
        if at >= deadline.due_at_as_of:
            deadline.due_at = clock.due_at
            deadline.due_at_as_of = at
    if state is ClockState.BREACHED:
        interaction.sla_breached = True
    session.add(
        HistoryEntry(
            interaction_id=interaction.id,
            event_id=event_id,
            event_type=event_type,
            occurred_at=at,
            applied=True,
        )
    )
