"""Register interactions: idempotency keys, protocol numbers, parties, events; never commits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import new_event
from atende_events.intake import SOURCE, InteractionReceived
from atende_events.outbox import add_events
from atende_events.pseudonym import party_ref
from intake import domain
from intake.config import Settings
from intake.domain import Status
from intake.models import (
    IdempotentRequest,
    ProtocolDay,
    protocol_numbers,
)
from intake.schemas import (
    InteractionCreated,
    InteractionIn,
)

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
            description, locale, related_interaction_id, external_reference, occurred_at,
            received_at, status, status_at, sla_breached
        )
        SELECT id, protocol, channel, party_kind, party_id, demand_type, priority, subject,
            description, locale, related_id, external_reference, occurred_at, received_at,
            'received', received_at, false
        FROM unnest(
            CAST(:ids AS uuid[]), CAST(:protocols AS text[]), CAST(:channels AS text[]),
            CAST(:interaction_party_kinds AS text[]), CAST(:interaction_party_ids AS text[]),
            CAST(:demand_types AS text[]), CAST(:priorities AS text[]),
            CAST(:subjects AS text[]), CAST(:descriptions AS text[]), CAST(:locales AS text[]),
            CAST(:related_ids AS uuid[]), CAST(:external_references AS text[]),
            CAST(:occurred AS timestamptz[]), CAST(:received AS timestamptz[])
        ) AS i(
            id, protocol, channel, party_kind, party_id, demand_type, priority, subject,
            description, locale, related_id, external_reference, occurred_at, received_at
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
        problem = domain.occurred_at_problem(
            occurred_at, registration.now, max_age=timedelta(days=settings.max_contact_age_days)
        )
        if problem is not None:
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
            "external_references": [r.external_reference for r in requests],
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
                    external_reference=r.request.external_reference,
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
