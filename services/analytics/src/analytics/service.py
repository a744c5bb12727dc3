"""Use cases that keep the read models: one idempotent, order-independent merge per event.

Every event becomes `INSERT ... ON CONFLICT DO UPDATE` on the row of its entity. The merge rules
make the result independent of the order events arrive in (they come from five topics):

- first facts keep the earliest moment (received, offered, accepted, started, dispatched...);
- changing facts (queue, deadline, agent status) keep the value of the latest event;
- the state of an interaction follows its latest event, except that a resolution is final;
- a clock's outcome (met or breached) is the earliest terminal event and nothing overwrites it.

Two events of one entity at the very same moment are settled without regard to arrival: the
greater value for "latest" facts, the lesser for "earliest" ones, the higher rank for states.
Derived facts that need two events (business time from receipt to resolution) are computed by
whichever of them arrives second.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from analytics import domain
from analytics.models import (
    Agent,
    AgentStatusChange,
    Assignment,
    Clock,
    Followup,
    Interaction,
    Survey,
)

INTERACTIONS: Table = Interaction.__table__  # type: ignore[assignment]
ASSIGNMENTS: Table = Assignment.__table__  # type: ignore[assignment]
CLOCKS: Table = Clock.__table__  # type: ignore[assignment]
SURVEYS: Table = Survey.__table__  # type: ignore[assignment]
FOLLOWUPS: Table = Followup.__table__  # type: ignore[assignment]
AGENTS: Table = Agent.__table__  # type: ignore[assignment]
STATUS_CHANGES: Table = AgentStatusChange.__table__  # type: ignore[assignment]

STATE_RANKS = {"queued": 1, "assigned": 2, "waiting": 3, "closed": 9}
"""Ties between two state events at the same moment go to the higher rank; closed is final."""

Rule = str
FIRST: Rule = "first"
"""Keep the value already there; take the new one only where there was none."""
EARLIEST: Rule = "earliest"
"""Keep the earliest moment."""


def _merge_statement(
    table: Table,
    key: str,
    values: Mapping[str, Any],
    rules: Mapping[str, Rule | ColumnElement[Any]],
    statement: Any = None,
) -> Any:
    """Build the upsert of one row with a merge rule (or a ready expression) per column."""
    statement = statement if statement is not None else insert(table).values(**values)
    excluded = statement.excluded
    assignments: dict[str, Any] = {}
    for column, rule in rules.items():
        if rule == FIRST:
            assignments[column] = func.coalesce(table.c[column], excluded[column])
        elif rule == EARLIEST:
            assignments[column] = func.least(table.c[column], excluded[column])
        else:
            assignments[column] = rule
    return statement.on_conflict_do_update(index_elements=[key], set_=assignments)


def _later(table: Table, excluded: Any, column: str, as_of: str) -> ColumnElement[Any]:
    """Take the new value when its event is later (ties: the greater value, so order is moot)."""
    return case(
        (or_(table.c[as_of].is_(None), excluded[as_of] > table.c[as_of]), excluded[column]),
        (excluded[as_of] == table.c[as_of], func.greatest(table.c[column], excluded[column])),
        else_=table.c[column],
    )


def _earlier(table: Table, excluded: Any, column: str, as_of: str) -> ColumnElement[Any]:
    """Take the new value when its event is earlier (ties: the lesser value, so order is moot)."""
    return case(
        (or_(table.c[as_of].is_(None), excluded[as_of] < table.c[as_of]), excluded[column]),
        (excluded[as_of] == table.c[as_of], func.least(table.c[column], excluded[column])),
        else_=table.c[column],
    )


async def merge_interaction(
    session: AsyncSession,
    *,
    interaction_id: Any,
    at: datetime,
    facts: Mapping[str, Any],
    state: str | None = None,
    queue: str | None = None,
    agent_id: str | None = None,
    routed_demand_type: str | None = None,
    resolution: Mapping[str, Any] | None = None,
    calendar: domain.BusinessCalendar,
) -> None:
    """Merge what one event says about an interaction into its row."""
    values: dict[str, Any] = {"interaction_id": interaction_id, **facts}
    rules: dict[str, Rule | ColumnElement[Any]] = dict.fromkeys(facts, FIRST)
    if "received_at" in facts:
        rules["received_at"] = EARLIEST
    if queue is not None:
        values |= {"queue": queue, "queue_at": at}
    if agent_id is not None:
        values |= {"agent_id": agent_id, "agent_at": at}
    if routed_demand_type is not None:
        values |= {"routed_demand_type": routed_demand_type, "routed_demand_at": at}
    if state is not None:
        values |= {
            "state": state,
            "state_rank": STATE_RANKS[state],
            "state_at": at,
            "queued_since": at if state == "queued" else None,
        }
    if resolution is not None:
        values |= {"resolved_at": at, **resolution}

    statement = insert(INTERACTIONS).values(**values)
    excluded = statement.excluded
    t = INTERACTIONS
    for column, as_of in (
        ("queue", "queue_at"),
        ("agent_id", "agent_at"),
        ("routed_demand_type", "routed_demand_at"),
    ):
        if column in values:
            rules[column] = _later(t, excluded, column, as_of)
            rules[as_of] = func.greatest(t.c[as_of], excluded[as_of])
    if state is not None:
        new_state_wins = or_(
            t.c.state_at.is_(None),
            and_(
                t.c.state_rank < STATE_RANKS["closed"],
                or_(
                    excluded.state_rank == STATE_RANKS["closed"],
                    excluded.state_at > t.c.state_at,
                    and_(excluded.state_at == t.c.state_at, excluded.state_rank > t.c.state_rank),
                ),
            ),
        )
        for column in ("state", "state_rank", "state_at", "queued_since"):
            rules[column] = case((new_state_wins, excluded[column]), else_=t.c[column])
    if resolution is not None:
        for column in resolution:
            rules[column] = _earlier(t, excluded, column, "resolved_at")
        rules["resolved_at"] = EARLIEST
    upsert = _merge_statement(INTERACTIONS, "interaction_id", values, rules, statement).returning(
        t.c.received_at, t.c.resolved_at, t.c.business_seconds_to_resolve
    )
    row = (await session.execute(upsert)).one()
    if row.received_at is not None and row.resolved_at is not None:
        seconds = domain.business_seconds(row.received_at, row.resolved_at, calendar)
        if seconds != row.business_seconds_to_resolve:
            await session.execute(
                update(t)
                .where(t.c.interaction_id == interaction_id)
                .values(business_seconds_to_resolve=seconds)
            )


async def merge_assignment(
    session: AsyncSession,
    *,
    assignment_id: Any,
    interaction_id: Any,
    facts: Mapping[str, Any],
) -> None:
    """Merge what one event says about an offer or assignment into its row."""
    rules: dict[str, Rule | ColumnElement[Any]] = {
        column: EARLIEST if column.endswith("_at") else FIRST for column in facts
    }
    values = {"assignment_id": assignment_id, "interaction_id": interaction_id, **facts}
    await session.execute(_merge_statement(ASSIGNMENTS, "assignment_id", values, rules))


async def merge_clock(
    session: AsyncSession,
    *,
    clock: Mapping[str, Any],
    at: datetime,
    started: bool = False,
    warned: bool = False,
    outcome: str | None = None,
    paused: bool | None = None,
) -> None:
    """Merge what one sla event says about a clock into its row."""
    values: dict[str, Any] = {**clock, "due_at_as_of": at}
    if started:
        values["started_at"] = at
    if warned:
        values["warned_at"] = at
    if outcome is not None:
        values |= {"outcome": outcome, "closed_at": at}
    if paused is not None:
        values |= {"paused": paused, "paused_as_of": at}
    statement = insert(CLOCKS).values(**values)
    excluded = statement.excluded
    t = CLOCKS
    rules: dict[str, Rule | ColumnElement[Any]] = {
        "due_at": _later(t, excluded, "due_at", "due_at_as_of"),
        "due_at_as_of": func.greatest(t.c.due_at_as_of, excluded.due_at_as_of),
    }
    if started:
        rules["started_at"] = EARLIEST
    if warned:
        rules["warned_at"] = EARLIEST
    if outcome is not None:
        rules["outcome"] = _earlier(t, excluded, "outcome", "closed_at")
        rules["closed_at"] = EARLIEST
    if paused is not None:
        rules["paused"] = _later(t, excluded, "paused", "paused_as_of")
        rules["paused_as_of"] = func.greatest(t.c.paused_as_of, excluded.paused_as_of)
    await session.execute(_merge_statement(CLOCKS, "clock_id", values, rules, statement))


async def merge_survey(
    session: AsyncSession, *, survey_id: Any, interaction_id: Any, facts: Mapping[str, Any]
) -> None:
    """Merge what one survey event says into the survey's row; each fact is set once."""
    rules: dict[str, Rule | ColumnElement[Any]] = {
        column: EARLIEST if column.endswith("_at") else FIRST for column in facts
    }
    values = {"survey_id": survey_id, "interaction_id": interaction_id, **facts}
    await session.execute(_merge_statement(SURVEYS, "survey_id", values, rules))


async def merge_followup(
    session: AsyncSession, *, followup_id: Any, ids: Mapping[str, Any], facts: Mapping[str, Any]
) -> None:
    """Merge what one follow-up event says into the follow-up's row."""
    rules: dict[str, Rule | ColumnElement[Any]] = {
        column: EARLIEST if column.endswith("_at") else FIRST for column in facts
    }
    values = {"followup_id": followup_id, **ids, **facts}
    await session.execute(_merge_statement(FOLLOWUPS, "followup_id", values, rules))


async def merge_agent_status(
    session: AsyncSession,
    *,
    event_id: Any,
    agent_id: str,
    status: str,
    skills: list[str],
    at: datetime,
) -> None:
    """Record an agent's status change and keep the latest status on the agent's row."""
    await session.execute(
        insert(STATUS_CHANGES)
        .values(event_id=event_id, agent_id=agent_id, status=status, occurred_at=at)
        .on_conflict_do_nothing()
    )
    values = {"agent_id": agent_id, "status": status, "status_at": at, "skills": skills}
    statement = insert(AGENTS).values(**values)
    excluded = statement.excluded
    t = AGENTS
    newer = or_(
        excluded.status_at > t.c.status_at,
        and_(excluded.status_at == t.c.status_at, excluded.status > t.c.status),
    )
    rules: dict[str, Rule | ColumnElement[Any]] = {
        "status": case((newer, excluded.status), else_=t.c.status),
        "skills": case((newer, excluded.skills), else_=t.c.skills),
        "status_at": func.greatest(t.c.status_at, excluded.status_at),
    }
    await session.execute(_merge_statement(AGENTS, "agent_id", values, rules, statement))
