"""Use cases of intake: register an interaction, read it, follow its lifecycle; never commits."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import and_, delete, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from atende_events.envelope import new_event
from atende_events.intake import SOURCE, InteractionReceived
from atende_events.outbox import add_events
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
# it. The registrar (intake.registrar) hands it every request waiting at that moment, so a busy
# intake writes many in one transaction. Its statements are built once as SQL text over arrays
# (one prepared statement whatever the number of rows), and rows that can conflict are written
# in key order, so two transactions writing the same keys never wait on each other in a cycle.


@dataclass(frozen=True)
class Registration:
    """A request to register an interaction, as the API took it."""

    request: InteractionIn
    client: str
    """Who asked: a hash of the API key, so idempotency keys are per caller."""
    idempotency_key: str | None
    fingerprint: str
    now: datetime
    correlation_id: str | None


@dataclass(frozen=True)
class Replay:
    """The answer an earlier request with the same Idempotency-Key and body got."""

    answer: dict[str, Any]
    status_code: int | None


Outcome = InteractionCreated | Replay | Exception
"""What became of a registration: created, a replay, or why it was refused."""


_RELATED = text("SELECT protocol, id FROM interactions WHERE protocol = ANY(:protocols)")

_CLAIM_KEYS = text(
    """
    INSERT INTO idempotent_requests AS kept (client, key, fingerprint, created_at)
    SELECT * FROM unnest(
        CAST(:clients AS text[]), CAST(:keys AS text[]), CAST(:fingerprints AS text[]),
        CAST(:created AS timestamptz[])
    ) AS k(client, key, fingerprint, created_at)
    ORDER BY client, key
    ON CONFLICT (client, key) DO UPDATE
        SET fingerprint = excluded.fingerprint, created_at = excluded.created_at,
            status_code = NULL, answer = NULL
        WHERE kept.created_at < excluded.created_at - CAST(:ttl AS interval)
    RETURNING client, key
    """
)

_EARLIER = text(
    """
    SELECT client, key, fingerprint, status_code, answer FROM idempotent_requests
    WHERE (client, key) IN (
        SELECT * FROM unnest(CAST(:clients AS text[]), CAST(:keys AS text[]))
    )
    """
)

_REMEMBER_ANSWERS = text(
    """
    UPDATE idempotent_requests AS kept SET status_code = 201, answer = given.answer
    FROM unnest(CAST(:clients AS text[]), CAST(:keys AS text[]), CAST(:answers AS jsonb[]))
        AS given(client, key, answer)
    WHERE kept.client = given.client AND kept.key = given.key
    """
)

# Numbers only when the day has its base already, so no number is ever wasted.
_NEXT_NUMBERS = text(
    """
    SELECT base, nextval('protocol_numbers') FROM protocol_days, generate_series(1, :count)
    WHERE day = :day
    """
)

# The parties' latest contact data (a contact that leaves a field out keeps the old one), the
# interactions and their first history entries, in one statement.
_REGISTER = text(
    """
    WITH party AS (
        INSERT INTO parties AS known (kind, party_id, name, email, phone, updated_at)
        SELECT * FROM unnest(
            CAST(:party_kinds AS text[]), CAST(:party_ids AS text[]), CAST(:names AS text[]),
            CAST(:emails AS text[]), CAST(:phones AS text[]), CAST(:updated AS timestamptz[])
        ) AS p(kind, party_id, name, email, phone, updated_at)
        ORDER BY kind, party_id
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
        SELECT id, protocol, channel, party_kind, party_id, demand_type, priority, subject,
            description, locale, related_id, occurred_at, received_at, 'received', received_at,
            false
        FROM unnest(
            CAST(:ids AS uuid[]), CAST(:protocols AS text[]), CAST(:channels AS text[]),
            CAST(:interaction_party_kinds AS text[]), CAST(:interaction_party_ids AS text[]),
            CAST(:demand_types AS text[]), CAST(:priorities AS text[]),
            CAST(:subjects AS text[]), CAST(:descriptions AS text[]), CAST(:locales AS text[]),
            CAST(:related_ids AS uuid[]), CAST(:occurred AS timestamptz[]),
            CAST(:received AS timestamptz[])
        ) AS i(
            id, protocol, channel, party_kind, party_id, demand_type, priority, subject,
            description, locale, related_id, occurred_at, received_at
        )
        RETURNING id, received_at
    )
    INSERT INTO interaction_history (interaction_id, event_type, occurred_at, status, applied)
    SELECT id, :event_type, received_at, 'received', true FROM interaction
    """
)


async def register_interactions(
    session: AsyncSession, registrations: Sequence[Registration], *, settings: Settings
) -> list[Outcome]:
    """Register interactions in the caller's transaction; one outcome per registration, in order.

    Each gets its protocol, its party's contact data and its event, or the reason it cannot:
    OccurredAtRefused, UnknownRelatedProtocol or IdempotencyConflict; a Replay when its
    Idempotency-Key was used with the same body. The idempotency keys must differ from one
    registration to another. DailyProtocolsExhausted refuses all of them.
    """
    outcomes: list[Outcome | None] = [None] * len(registrations)
    for n, registration in enumerate(registrations):
        occurred_at = registration.request.occurred_at
        if (problem := domain.occurred_at_problem(occurred_at, registration.now)) is not None:
            outcomes[n] = domain.OccurredAtRefused(problem)
    related = await _related_ids(session, registrations, outcomes)
    await _claim_keys(session, registrations, outcomes, settings=settings)
    todo = [n for n, outcome in enumerate(outcomes) if outcome is None]
    if todo:
        created = await _write(
            session, [registrations[n] for n in todo], related=related, settings=settings
        )
        for n, answer in zip(todo, created, strict=True):
            outcomes[n] = answer
        keyed = [n for n in todo if registrations[n].idempotency_key is not None]
        if keyed:
            await session.execute(
                _REMEMBER_ANSWERS,
                {
                    "clients": [registrations[n].client for n in keyed],
                    "keys": [registrations[n].idempotency_key for n in keyed],
                    "answers": [
                        json.dumps(_created(outcomes[n]).model_dump(mode="json")) for n in keyed
                    ],
                },
            )
    assert all(outcome is not None for outcome in outcomes), "every registration has one"
    return [outcome for outcome in outcomes if outcome is not None]


async def _related_ids(
    session: AsyncSession, registrations: Sequence[Registration], outcomes: list[Outcome | None]
) -> dict[str, UUID]:
    """Find the interactions the registrations cite; refuse those citing an unknown protocol."""
    cited = {
        r.request.related_protocol
        for r, outcome in zip(registrations, outcomes, strict=True)
        if outcome is None and r.request.related_protocol is not None
    }
    if not cited:
        return {}
    rows = await session.execute(_RELATED, {"protocols": sorted(cited)})
    found: dict[str, UUID] = dict(rows.all())
    for n, registration in enumerate(registrations):
        protocol = registration.request.related_protocol
        if outcomes[n] is None and protocol is not None and protocol not in found:
            outcomes[n] = UnknownRelatedProtocol(protocol)
    return found


async def _claim_keys(
    session: AsyncSession,
    registrations: Sequence[Registration],
    outcomes: list[Outcome | None],
    *,
    settings: Settings,
) -> None:
    """Claim the Idempotency-Keys; a key used before answers with a Replay or a conflict.

    A key another transaction holds makes this one wait until it commits (then its answer is
    replayed) or rolls back (then the key is claimed here). A key older than the ttl is claimed
    afresh.
    """
    keyed = [
        n
        for n, r in enumerate(registrations)
        if outcomes[n] is None and r.idempotency_key is not None
    ]
    if not keyed:
        return
    result = await session.execute(
        _CLAIM_KEYS,
        {
            "clients": [registrations[n].client for n in keyed],
            "keys": [registrations[n].idempotency_key for n in keyed],
            "fingerprints": [registrations[n].fingerprint for n in keyed],
            "created": [registrations[n].now for n in keyed],
            "ttl": timedelta(hours=settings.idempotency_ttl_hours),
        },
    )
    claimed = {(client, key) for client, key in result}
    used = [
        n
        for n in keyed
        if (registrations[n].client, registrations[n].idempotency_key) not in claimed
    ]
    if not used:
        return
    earlier = {
        (row.client, row.key): row
        for row in await session.execute(
            _EARLIER,
            {
                "clients": [registrations[n].client for n in used],
                "keys": [registrations[n].idempotency_key for n in used],
            },
        )
    }
    for n in used:
        registration = registrations[n]
        row = earlier[(registration.client, registration.idempotency_key)]
        if row.fingerprint != registration.fingerprint:
            outcomes[n] = IdempotencyConflict(registration.idempotency_key)
        else:
            assert row.answer is not None, "a claimed key commits with its answer"
            outcomes[n] = Replay(row.answer, row.status_code)


async def _write(
    session: AsyncSession,
    registrations: Sequence[Registration],
    *,
    related: dict[str, UUID],
    settings: Settings,
) -> list[InteractionCreated]:
    """Give each its protocol and write its party, interaction, history entry and event."""
    protocols = await _protocols(session, registrations, settings=settings)
    ids = [uuid4() for _ in registrations]
    parties = _latest_contacts(registrations)
    requests = [r.request for r in registrations]
    await session.execute(
        _REGISTER,
        {
            "party_kinds": [kind for kind, _ in parties],
            "party_ids": [party_id for _, party_id in parties],
            "names": [p.name for p in parties.values()],
            "emails": [p.email for p in parties.values()],
            "phones": [p.phone for p in parties.values()],
            "updated": [p.updated_at for p in parties.values()],
            "ids": ids,
            "protocols": protocols,
            "channels": [r.channel.value for r in requests],
            "interaction_party_kinds": [r.party.kind.value for r in requests],
            "interaction_party_ids": [r.party.id for r in requests],
            "demand_types": [r.demand_type for r in requests],
            "priorities": [r.priority.value for r in requests],
            "subjects": [r.subject for r in requests],
            "descriptions": [r.description for r in requests],
            "locales": [r.locale for r in requests],
            "related_ids": [_related_of(r, related) for r in requests],
            "occurred": [r.request.occurred_at or r.now for r in registrations],
            "received": [r.now for r in registrations],
            "event_type": RECEIVED_EVENT,
        },
    )
    key = settings.pseudonym_key.encode()
    await add_events(
        session,
        [
            new_event(
                InteractionReceived(
                    occurred_at=r.request.occurred_at or r.now,
                    interaction_id=interaction_id,
                    protocol=protocol,
                    received_at=r.now,
                    channel=r.request.channel,
                    party_kind=r.request.party.kind,
                    party_ref=party_ref(
                        key, kind=r.request.party.kind.value, party_id=r.request.party.id
                    ),
                    demand_type=r.request.demand_type,
                    priority=r.request.priority,
                    related_interaction_id=_related_of(r.request, related),
                    locale=r.request.locale,
                    content=domain.content_of(r.request.subject, r.request.description),
                ),
                source=SOURCE,
                time=r.now,
                correlation_id=r.correlation_id,
            )
            for r, interaction_id, protocol in zip(registrations, ids, protocols, strict=True)
        ],
    )
    return [
        InteractionCreated(
            id=interaction_id, protocol=protocol, status=Status.RECEIVED.value, created_at=r.now
        )
        for r, interaction_id, protocol in zip(registrations, ids, protocols, strict=True)
    ]


async def _protocols(
    session: AsyncSession, registrations: Sequence[Registration], *, settings: Settings
) -> list[str]:
    """Give each registration the next protocol number of its operator's day, in order."""
    days = [domain.operator_day(r.now, settings.time_zone) for r in registrations]
    protocols: dict[int, str] = {}
    for day in sorted(set(days)):
        wanted = [n for n, d in enumerate(days) if d == day]
        numbers = await next_numbers(session, day=day, count=len(wanted))
        for n, (base, number) in zip(wanted, numbers, strict=True):
            try:
                sequence = domain.daily_sequence(number, base)
            except domain.ProtocolExhausted:
                raise DailyProtocolsExhausted(day) from None
            protocols[n] = domain.format_protocol(settings.ans_registry, day, sequence)
    return [protocols[n] for n in range(len(registrations))]


async def next_numbers(session: AsyncSession, *, day: date, count: int) -> list[tuple[int, int]]:
    """Take `count` numbers of the database sequence for a day, each with the day's base."""
    rows = await _numbers(session, day=day, count=count)
    if not rows:
        # Once per day; a concurrent first request waits here only until the other one commits.
        await session.execute(
            insert(ProtocolDay)
            .values(day=day, base=protocol_numbers.next_value())
            .on_conflict_do_nothing()
        )
        rows = await _numbers(session, day=day, count=count)
    return sorted(rows, key=lambda row: row[1])


async def _numbers(session: AsyncSession, *, day: date, count: int) -> list[tuple[int, int]]:
    result = await session.execute(_NEXT_NUMBERS, {"day": day, "count": count})
    return [(base, number) for base, number in result]


@dataclass
class _Contact:
    name: str | None
    email: str | None
    phone: str | None
    updated_at: datetime


def _latest_contacts(registrations: Sequence[Registration]) -> dict[tuple[str, str], _Contact]:
    """One row per party, in key order: each field as the latest registration that gave it."""
    parties: dict[tuple[str, str], _Contact] = {}
    for r in registrations:
        party = r.request.party
        key = (party.kind.value, party.id)
        known = parties.get(key)
        if known is None:
            parties[key] = _Contact(party.name, party.email, party.phone, r.now)
            continue
        if party.name is not None or party.email is not None or party.phone is not None:
            known.updated_at = r.now
        known.name = party.name if party.name is not None else known.name
        known.email = party.email if party.email is not None else known.email
        known.phone = party.phone if party.phone is not None else known.phone
    return dict(sorted(parties.items()))


def _related_of(request: InteractionIn, related: dict[str, UUID]) -> UUID | None:
    return related[request.related_protocol] if request.related_protocol is not None else None


def _created(outcome: Outcome | None) -> InteractionCreated:
    assert isinstance(outcome, InteractionCreated)
    return outcome


async def purge_idempotency_keys(session: AsyncSession, *, before: datetime) -> int:
    """Forget the idempotency keys used before a moment; return how many."""
    result = await session.execute(
        delete(IdempotentRequest).where(IdempotentRequest.created_at < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


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
