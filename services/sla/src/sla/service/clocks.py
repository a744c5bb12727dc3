"""Remember what happened to interactions, then start, pause, resume or stop their clocks.

A run of lifecycle events is handled as a set. The rows of all its interactions are locked and
read in three statements; each event is then replayed in memory, in order: its facts added,
its pause opened or closed, its interaction's clocks reconciled with the domain's rules. What
changed is written back with one statement per kind of change (facts, new pauses, closed
pauses, new clocks, moved clocks) and one for the outbox, so a run leaves the same rows and
the same events, in the same order, as its events handled one by one.

Facts are kept whatever order the events arrive in (a resolution may come before the receipt);
`reconcile` derives the clocks from the facts, so the end state does not depend on the order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import Envelope
from atende_events.intake import InteractionReceived
from atende_events.outbox import add_events
from atende_events.routing import (
    InteractionResolved,
)
from sla.domain.book import PolicyBook
from sla.models import Clock, Pause, TrackedInteraction
from sla.service import facts as happened
from sla.service.facts import DECIDING, FACTS, Happening, add_facts, redecision_of
from sla.service.replay import MOVING, ClockRow, InteractionState, PauseRow, reconcile

_INTERACTIONS = TrackedInteraction.__tablename__
_PAUSES = Pause.__tablename__
_CLOCKS = Clock.__tablename__

_FACT_TYPES = {
    "received_at": "timestamptz",
    "channel": "text",
    "party_kind": "text",
    "priority": "text",
    "demand_type": "text",
    "queue": "text",
    "first_accepted_at": "timestamptz",
    "completed_at": "timestamptz",
    "answered_at": "timestamptz",
    "correlation_id": "text",
}
_CLOCK_TYPES = {
    "clock_id": "uuid",
    "interaction_id": "uuid",
    "kind": "text",
    "clock_type": "text",
    "regime": "text",
    "policy_id": "text",
    "started_at": "timestamptz",
    "budget_seconds": "float8",
    "warn_at": "timestamptz",
    "due_at": "timestamptz",
    "state": "text",
    "business_seconds_elapsed": "float8",
    "closed_at": "timestamptz",
    "warned_at": "timestamptz",
}


def _unnest(types: dict[str, str], names: Iterable[str]) -> str:
    arrays = ", ".join(f"CAST(:{name} AS {types[name]}[])" for name in names)
    return f"unnest({arrays})"


# A row for every interaction of the run, new or not, locked in id order (two lanes or two
# instances never deadlock) and read back as it is: the facts the replay starts from.
_LOCK_INTERACTIONS = text(
    f"INSERT INTO {_INTERACTIONS} AS t (interaction_id)"
    " SELECT id FROM unnest(CAST(:ids AS uuid[])) AS i(id) ORDER BY id"
    " ON CONFLICT (interaction_id) DO UPDATE SET updated_at = now()"
    f" RETURNING t.interaction_id, {', '.join(f't.{name}' for name in FACTS)}"
)
_WRITE_FACTS = text(
    f"UPDATE {_INTERACTIONS} AS t"
    f" SET {', '.join(f'{name} = f.{name}' for name in FACTS)}, updated_at = now()"
    f" FROM {_unnest(_FACT_TYPES | {'interaction_id': 'uuid'}, ('interaction_id', *FACTS))}"
    f" AS f(interaction_id, {', '.join(FACTS)})"
    " WHERE t.interaction_id = f.interaction_id"
)
_READ_PAUSES = text(
    f"SELECT id, interaction_id, waiting_at, resumed_at FROM {_PAUSES}"
    " WHERE interaction_id = ANY(CAST(:ids AS uuid[]))"
    " ORDER BY interaction_id, waiting_at, id"
)
_OPEN_PAUSES = text(
    f"INSERT INTO {_PAUSES} (interaction_id, waiting_at, resumed_at)"
    " SELECT * FROM unnest("
    "CAST(:interaction_id AS uuid[]),"
    " CAST(:waiting_at AS timestamptz[]),"
    " CAST(:resumed_at AS timestamptz[]))"
)
_CLOSE_PAUSES = text(
    f"UPDATE {_PAUSES} AS p SET resumed_at = r.resumed_at"
    " FROM unnest(CAST(:id AS bigint[]), CAST(:resumed_at AS timestamptz[])) AS r(id, resumed_at)"
    " WHERE p.id = r.id"
)
# Ordered as the replay goes through them, and locked in that order.
_READ_CLOCKS = text(
    f"SELECT {', '.join(_CLOCK_TYPES)} FROM {_CLOCKS}"
    " WHERE interaction_id = ANY(CAST(:ids AS uuid[]))"
    " ORDER BY interaction_id, kind, clock_type, regime FOR UPDATE"
)
_START_CLOCKS = text(
    f"INSERT INTO {_CLOCKS} ({', '.join(_CLOCK_TYPES)})"
    f" SELECT * FROM {_unnest(_CLOCK_TYPES, _CLOCK_TYPES)}"
)
_MOVE_CLOCKS = text(
    f"UPDATE {_CLOCKS} AS c SET {', '.join(f'{name} = m.{name}' for name in MOVING)}"
    f" FROM {_unnest(_CLOCK_TYPES, ('clock_id', *MOVING))}"
    f" AS m(clock_id, {', '.join(MOVING)})"
    " WHERE c.clock_id = m.clock_id"
)


async def record(
    session: AsyncSession, *, book: PolicyBook, happenings: Sequence[Happening]
) -> None:
    """Remember a run of lifecycle events, in order, and bring their clocks up to date."""
    if not happenings:
        return
    interactions = await _lock(session, {h.interaction_id for h in happenings})
    await _read_pauses_and_clocks(session, interactions, happenings)
    events: list[Envelope[Any]] = []
    for happening in happenings:
        interaction = interactions[happening.interaction_id]
        before = {name: interaction.facts[name] for name in DECIDING}
        add_facts(interaction.facts, happening.facts)
        if happening.waiting_at is not None:
            interaction.open_pause(happening.waiting_at)
        if happening.resumed_at is not None:
            interaction.close_pause(happening.resumed_at)
        if happening.reconciles:
            redecision = redecision_of(before, interaction.facts, happening)
            reconcile(book, interaction, events, redecision=redecision)
    await _write(session, interactions.values(), events)


async def record_received(
    session: AsyncSession,
    *,
    book: PolicyBook,
    event: InteractionReceived,
    correlation_id: str | None,
) -> None:
    """Remember a receipt and start the interaction's clocks as of its received time."""
    await record(
        session, book=book, happenings=[happened.received(event, correlation_id=correlation_id)]
    )


async def record_resolved(
    session: AsyncSession, *, book: PolicyBook, event: InteractionResolved
) -> None:
    """Remember the completion (and whether it answered conclusively); stop the clocks it stops."""
    await record(session, book=book, happenings=[happened.resolved(event)])


async def _lock(session: AsyncSession, ids: set[UUID]) -> dict[UUID, InteractionState]:
    rows = await session.execute(_LOCK_INTERACTIONS, {"ids": sorted(ids)})
    interactions: dict[UUID, InteractionState] = {}
    for row in rows.mappings():
        read = {name: row[name] for name in FACTS}
        interactions[row["interaction_id"]] = InteractionState(
            row["interaction_id"], facts=dict(read), read=read
        )
    return interactions


async def _read_pauses_and_clocks(
    session: AsyncSession,
    interactions: dict[UUID, InteractionState],
    happenings: Sequence[Happening],
) -> None:
    """Read the pauses and clocks the replay needs: of interactions whose clocks it may move."""
    received = {i for i, known in interactions.items() if known.facts["received_at"] is not None}
    received |= {h.interaction_id for h in happenings if h.facts.get("received_at") is not None}
    reconciled = received & {h.interaction_id for h in happenings if h.reconciles}
    pausing = {
        h.interaction_id for h in happenings if h.waiting_at is not None or h.resumed_at is not None
    }
    with_pauses = reconciled | pausing
    if with_pauses:
        rows = await session.execute(_READ_PAUSES, {"ids": sorted(with_pauses)})
        for pause_id, interaction_id, waiting_at, resumed_at in rows.all():
            interactions[interaction_id].pauses.append(
                PauseRow(pause_id, waiting_at, resumed_at, read_resumed_at=resumed_at)
            )
    if reconciled:
        rows = await session.execute(_READ_CLOCKS, {"ids": sorted(reconciled)})
        for row in rows.mappings():
            clock = ClockRow(**row)
            clock.read = clock.moving()
            interactions[clock.interaction_id].clocks.append(clock)


async def _write(
    session: AsyncSession, interactions: Iterable[InteractionState], events: Sequence[Envelope[Any]]
) -> None:
    """Write back what the replay changed: a statement per table, one for the outbox."""
    changed: list[InteractionState] = []
    opened: list[tuple[UUID, PauseRow]] = []
    closed: list[PauseRow] = []
    started: list[ClockRow] = []
    moved: list[ClockRow] = []
    for interaction in interactions:
        if interaction.facts != interaction.read:
            changed.append(interaction)
        for pause in interaction.pauses:
            if pause.id is None:
                opened.append((interaction.interaction_id, pause))
            elif pause.resumed_at != pause.read_resumed_at:
                closed.append(pause)
        for clock in interaction.clocks:
            if clock.read is None:
                started.append(clock)
            elif clock.moving() != clock.read:
                moved.append(clock)
    if changed:
        columns: dict[str, list[Any]] = {"interaction_id": [i.interaction_id for i in changed]}
        columns |= {name: [i.facts[name] for i in changed] for name in FACTS}
        await session.execute(_WRITE_FACTS, columns)
    if opened:
        await session.execute(
            _OPEN_PAUSES,
            {
                "interaction_id": [interaction_id for interaction_id, _ in opened],
                "waiting_at": [pause.waiting_at for _, pause in opened],
                "resumed_at": [pause.resumed_at for _, pause in opened],
            },
        )
    if closed:
        await session.execute(
            _CLOSE_PAUSES,
            {
                "id": [pause.id for pause in closed],
                "resumed_at": [pause.resumed_at for pause in closed],
            },
        )
    if started:
        await session.execute(
            _START_CLOCKS,
            {name: [getattr(clock, name) for clock in started] for name in _CLOCK_TYPES},
        )
    if moved:
        await session.execute(
            _MOVE_CLOCKS,
            {name: [getattr(clock, name) for clock in moved] for name in ("clock_id", *MOVING)},
        )
    await add_events(session, events)
