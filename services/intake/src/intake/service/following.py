"""Follow routing's and sla's events: status, history and deadlines of each interaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.sla import SlaClockEvent
from intake import domain
from intake.domain import ClockState, Status

log = logging.getLogger(__name__)

# The consumer hands over every event of a poll at once. Each batch loads the rows of all its
# interactions (and clocks) in one statement, applies the domain event by event in memory, in
# the order the events came, and writes the outcome back in one statement per table: the same
# rows as following the events one by one. Rows are locked in id order, so two transactions
# following the same interactions never wait on each other in a cycle. FOR NO KEY UPDATE (the
# handlers change only non-key columns) still serialises the handlers, but unlike FOR UPDATE it
# does not block the FOR KEY SHARE lock a new interaction takes on the one it cites.

_LOCK_INTERACTIONS = text(
    """
    SELECT id, status, status_at, queue, completed_at, demand_type, sla_breached
    FROM interactions WHERE id = ANY(CAST(:ids AS uuid[]))
    ORDER BY id FOR NO KEY UPDATE
    """
)

_MOVE_INTERACTIONS = text(
    """
    UPDATE interactions AS i
    SET status = m.status, status_at = m.status_at, queue = m.queue,
        completed_at = m.completed_at, demand_type = m.demand_type
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:status_at AS timestamptz[]),
        CAST(:queues AS text[]), CAST(:completed AS timestamptz[]),
        CAST(:demand_types AS text[])
    ) AS m(id, status, status_at, queue, completed_at, demand_type)
    WHERE i.id = m.id
    """
)

_KEEP_ANSWERS = text(
    """
    INSERT INTO answers (
        event_id, interaction_id, outcome, denial_reason, legal_basis, body, answered_at
    )
    SELECT * FROM unnest(
        CAST(:event_ids AS uuid[]), CAST(:interaction_ids AS uuid[]), CAST(:outcomes AS text[]),
        CAST(:denial_reasons AS text[]), CAST(:legal_bases AS text[]), CAST(:bodies AS text[]),
        CAST(:answered AS timestamptz[])
    )
    ON CONFLICT (event_id) DO NOTHING
    """
)

_FLAG_BREACHES = text(
    "UPDATE interactions SET sla_breached = true WHERE id = ANY(CAST(:ids AS uuid[]))"
)

# In the order given, so entries of events stamped with the same moment keep their arrival order.
_ADD_HISTORY = text(
    """
    INSERT INTO interaction_history (
        interaction_id, event_id, event_type, occurred_at, status, queue, applied
    )
    SELECT interaction_id, event_id, event_type, occurred_at, status, queue, applied
    FROM unnest(
        CAST(:interaction_ids AS uuid[]), CAST(:event_ids AS uuid[]),
        CAST(:event_types AS text[]), CAST(:occurred AS timestamptz[]),
        CAST(:statuses AS text[]), CAST(:queues AS text[]), CAST(:applied AS boolean[])
    ) WITH ORDINALITY AS h(
        interaction_id, event_id, event_type, occurred_at, status, queue, applied, n
    )
    ORDER BY n
    """
)

_LOCK_CLOCKS = text(
    """
    SELECT clock_id, interaction_id, kind, clock_type, due_at, due_at_as_of, state
    FROM deadlines WHERE clock_id = ANY(CAST(:clock_ids AS uuid[]))
    ORDER BY clock_id FOR NO KEY UPDATE
    """
)

# A clock keeps the interaction, kind and type of its first event.
_KEEP_CLOCKS = text(
    """
    INSERT INTO deadlines AS kept (
        clock_id, interaction_id, kind, clock_type, due_at, due_at_as_of, state
    )
    SELECT * FROM unnest(
        CAST(:clock_ids AS uuid[]), CAST(:interaction_ids AS uuid[]), CAST(:kinds AS text[]),
        CAST(:clock_types AS text[]), CAST(:due AS timestamptz[]),
        CAST(:due_as_of AS timestamptz[]), CAST(:states AS text[])
    ) AS c(clock_id, interaction_id, kind, clock_type, due_at, due_at_as_of, state)
    ORDER BY clock_id
    ON CONFLICT (clock_id) DO UPDATE
        SET due_at = excluded.due_at, due_at_as_of = excluded.due_at_as_of,
            state = excluded.state
    """
)


@dataclass(frozen=True)
class LifecycleStep:
    """A routing event as intake follows it: the status it leads to for an interaction."""

    event_id: UUID
    event_type: str
    interaction_id: UUID
    step: domain.Step
    at: datetime


@dataclass(frozen=True)
class ClockReport:
    """An sla event about one deadline clock."""

    event_id: UUID
    event_type: str
    clock: SlaClockEvent


@dataclass
class _Followed:
    """An interaction's lifecycle columns, as the batch has left them so far."""

    status: Status
    status_at: datetime
    queue: str | None
    completed_at: datetime | None
    demand_type: str | None
    sla_breached: bool
    changed: bool = False


@dataclass
class _Clock:
    """A deadline clock, as the batch has left it so far."""

    interaction_id: UUID
    kind: str
    clock_type: str
    due_at: datetime
    due_at_as_of: datetime
    state: ClockState
    changed: bool = False


@dataclass
class _History:
    """The history entries a batch adds, in order."""

    interaction_ids: list[UUID] = field(default_factory=list)
    event_ids: list[UUID] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    occurred: list[datetime] = field(default_factory=list)
    statuses: list[str | None] = field(default_factory=list)
    queues: list[str | None] = field(default_factory=list)
    applied: list[bool] = field(default_factory=list)

    def add(
        self,
        *,
        interaction_id: UUID,
        event_id: UUID,
        event_type: str,
        at: datetime,
        status: str | None = None,
        queue: str | None = None,
        applied: bool = True,
    ) -> None:
        self.interaction_ids.append(interaction_id)
        self.event_ids.append(event_id)
        self.event_types.append(event_type)
        self.occurred.append(at)
        self.statuses.append(status)
        self.queues.append(queue)
        self.applied.append(applied)

    async def write(self, session: AsyncSession) -> None:
        if not self.event_ids:
            return
        await session.execute(
            _ADD_HISTORY,
            {
                "interaction_ids": self.interaction_ids,
                "event_ids": self.event_ids,
                "event_types": self.event_types,
                "occurred": self.occurred,
                "statuses": self.statuses,
                "queues": self.queues,
                "applied": self.applied,
            },
        )


async def _lock_interactions(session: AsyncSession, ids: set[UUID]) -> dict[UUID, _Followed]:
    """Load and lock the interactions registered here among `ids`, in id order."""
    if not ids:
        return {}
    rows = await session.execute(_LOCK_INTERACTIONS, {"ids": sorted(ids)})
    return {
        row.id: _Followed(
            status=Status(row.status),
            status_at=row.status_at,
            queue=row.queue,
            completed_at=row.completed_at,
            demand_type=row.demand_type,
            sla_breached=row.sla_breached,
        )
        for row in rows
    }


async def follow_lifecycle(session: AsyncSession, steps: Sequence[LifecycleStep]) -> None:
    """Move each interaction to its events' status, in order, unless a later event moved it further.

    Every event of an interaction registered here gets a history entry, applied or not.
    """
    interactions = await _lock_interactions(session, {s.interaction_id for s in steps})
    history = _History()
    answered: list[LifecycleStep] = []
    for s in steps:
        interaction = interactions.get(s.interaction_id)
        if interaction is None:
            log.info(
                "ignoring %s for interaction %s, not registered here",
                s.event_type,
                s.interaction_id,
            )
            continue
        step = s.step
        if step.status is None:  # an agent corrected the demand type: the record shows it
            interaction.demand_type = step.demand_type
            interaction.changed = True
            history.add(
                interaction_id=s.interaction_id,
                event_id=s.event_id,
                event_type=s.event_type,
                at=s.at,
                status=interaction.status.value,
                queue=step.queue,
                applied=True,
            )
            continue
        applied = domain.supersedes(
            step.status, s.at, interaction.status, interaction.status_at, reopens=step.reopens
        )
        if applied:
            interaction.status = step.status
            interaction.status_at = s.at
            if step.queue is not None:
                interaction.queue = step.queue
            if step.status in domain.TERMINAL:
                interaction.completed_at = s.at
            elif step.reopens:
                interaction.completed_at = None
            interaction.changed = True
        if step.answer is not None:
            answered.append(s)
        if interaction.demand_type is None and step.demand_type is not None:
            interaction.demand_type = step.demand_type
            interaction.changed = True
        history.add(
            interaction_id=s.interaction_id,
            event_id=s.event_id,
            event_type=s.event_type,
            at=s.at,
            status=step.status.value,
            queue=step.queue,
            applied=applied,
        )
    moved = {i: row for i, row in interactions.items() if row.changed}
    if moved:
        await session.execute(
            _MOVE_INTERACTIONS,
            {
                "ids": list(moved),
                "statuses": [row.status.value for row in moved.values()],
                "status_at": [row.status_at for row in moved.values()],
                "queues": [row.queue for row in moved.values()],
                "completed": [row.completed_at for row in moved.values()],
                "demand_types": [row.demand_type for row in moved.values()],
            },
        )
    if answered:
        await _keep_answers(session, answered)
    await history.write(session)


async def _keep_answers(session: AsyncSession, steps: Sequence[LifecycleStep]) -> None:
    """Keep the answers resolutions gave, each once, whatever order they came in."""
    answers = [(s, s.step.answer) for s in steps if s.step.answer is not None]
    await session.execute(
        _KEEP_ANSWERS,
        {
            "event_ids": [s.event_id for s, _ in answers],
            "interaction_ids": [s.interaction_id for s, _ in answers],
            "outcomes": [a.outcome.value for _, a in answers],
            "denial_reasons": [a.denial_reason for _, a in answers],
            "legal_bases": [a.legal_basis for _, a in answers],
            "bodies": [a.body for _, a in answers],
            "answered": [s.at for s, _ in answers],
        },
    )


async def follow_deadlines(session: AsyncSession, reports: Sequence[ClockReport]) -> None:
    """Keep each clock's deadline and state as its latest event says; flag breaches.

    Every event of an interaction registered here gets a history entry.
    """
    interactions = await _lock_interactions(session, {r.clock.interaction_id for r in reports})
    known = [r for r in reports if r.clock.interaction_id in interactions]
    clocks = await _lock_clocks(session, {r.clock.clock_id for r in known})
    history = _History()
    breached: set[UUID] = set()
    for report in reports:
        clock = report.clock
        interaction = interactions.get(clock.interaction_id)
        if interaction is None:
            log.info(
                "ignoring %s for interaction %s, not registered here",
                report.event_type,
                clock.interaction_id,
            )
            continue
        at = clock.occurred_at
        state = domain.clock_state_of(report.event_type)
        kept = clocks.get(clock.clock_id)
        if kept is None:
            clocks[clock.clock_id] = _Clock(
                interaction_id=clock.interaction_id,
                kind=clock.kind.value,
                clock_type=clock.clock_type.value,
                due_at=clock.due_at,
                due_at_as_of=at,
                state=state,
                changed=True,
            )
        else:
            if domain.clock_supersedes(state, at, kept.state, kept.due_at_as_of):
                kept.state = state
                kept.changed = True
            if at >= kept.due_at_as_of:
                kept.due_at = clock.due_at
                kept.due_at_as_of = at
                kept.changed = True
        if state is ClockState.BREACHED and not interaction.sla_breached:
            interaction.sla_breached = True
            breached.add(clock.interaction_id)
        history.add(
            interaction_id=clock.interaction_id,
            event_id=report.event_id,
            event_type=report.event_type,
            at=at,
        )
    changed = sorted(((i, c) for i, c in clocks.items() if c.changed), key=lambda item: item[0])
    if changed:
        await session.execute(
            _KEEP_CLOCKS,
            {
                "clock_ids": [clock_id for clock_id, _ in changed],
                "interaction_ids": [c.interaction_id for _, c in changed],
                "kinds": [c.kind for _, c in changed],
                "clock_types": [c.clock_type for _, c in changed],
                "due": [c.due_at for _, c in changed],
                "due_as_of": [c.due_at_as_of for _, c in changed],
                "states": [c.state.value for _, c in changed],
            },
        )
    if breached:
        await session.execute(_FLAG_BREACHES, {"ids": sorted(breached)})
    await history.write(session)


async def _lock_clocks(session: AsyncSession, clock_ids: set[UUID]) -> dict[UUID, _Clock]:
    """Load and lock the clocks kept here among `clock_ids`, in id order."""
    if not clock_ids:
        return {}
    rows = await session.execute(_LOCK_CLOCKS, {"clock_ids": sorted(clock_ids)})
    return {
        row.clock_id: _Clock(
            interaction_id=row.interaction_id,
            kind=row.kind,
            clock_type=row.clock_type,
            due_at=row.due_at,
            due_at_as_of=row.due_at_as_of,
            state=ClockState(row.state),
        )
        for row in rows
    }
