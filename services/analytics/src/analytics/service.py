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

Interactions, assignments and clocks are merged a batch at a time (`merge_interactions`...): the
batch's changes are first merged per row in Python with the very rules of the statement, since
ON CONFLICT DO UPDATE cannot touch a row twice, then written by one statement for all rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
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
from atende_events.calendar import Calendar

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


def _ordered(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """Compare text by code point, as Python does, so both merges agree whatever the locale."""
    return column.collate("C") if isinstance(column.type, String) else column


def _later(table: Table, excluded: Any, column: str, as_of: str) -> ColumnElement[Any]:
    """Take the new value when its event is later (ties: the greater value, so order is moot)."""
    return case(
        (excluded[as_of].is_(None), table.c[column]),  # the events say nothing of it
        (or_(table.c[as_of].is_(None), excluded[as_of] > table.c[as_of]), excluded[column]),
        (
            excluded[as_of] == table.c[as_of],
            func.greatest(table.c[column], _ordered(excluded[column])),
        ),
        else_=table.c[column],
    )


def _earlier(table: Table, excluded: Any, column: str, as_of: str) -> ColumnElement[Any]:
    """Take the new value when its event is earlier (ties: the lesser value, so order is moot)."""
    return case(
        (excluded[as_of].is_(None), table.c[column]),  # the events say nothing of it
        (or_(table.c[as_of].is_(None), excluded[as_of] < table.c[as_of]), excluded[column]),
        (
            excluded[as_of] == table.c[as_of],
            func.least(table.c[column], _ordered(excluded[column])),
        ),
        else_=table.c[column],
    )


# The same rules in Python, to merge a batch's events per row before the one statement that
# writes them all: ON CONFLICT DO UPDATE cannot touch a row twice. Each rule is a minimum or a
# maximum in some order, so merging the events first and the result into the row gives the row
# one-by-one handling gives. NULL means "the event says nothing", as least/greatest read it.


def _least(old: Any, new: Any) -> Any:
    return new if old is None else old if new is None else min(old, new)


def _greatest(old: Any, new: Any) -> Any:
    return new if old is None else old if new is None else max(old, new)


def _later_value(old: Mapping[str, Any], new: Mapping[str, Any], column: str, as_of: str) -> Any:
    if new[as_of] is None:
        return old[column]
    if old[as_of] is None or new[as_of] > old[as_of]:
        return new[column]
    if new[as_of] == old[as_of]:
        return _greatest(old[column], new[column])
    return old[column]


def _earlier_value(old: Mapping[str, Any], new: Mapping[str, Any], column: str, as_of: str) -> Any:
    if new[as_of] is None:
        return old[column]
    if old[as_of] is None or new[as_of] < old[as_of]:
        return new[column]
    if new[as_of] == old[as_of]:
        return _least(old[column], new[column])
    return old[column]


def _rows(
    changes: Iterable[Mapping[str, Any]],
    key: str,
    merge: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Merge the changes per key in their order; the rows in key order, the order locks go in."""
    rows: dict[Any, dict[str, Any]] = {}
    for change in changes:
        old = rows.get(change[key])
        rows[change[key]] = dict(change) if old is None else merge(old, change)
    return [rows[identifier] for identifier in sorted(rows)]


def _arrays(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    return {column: [row[column] for row in rows] for column in columns}


def _upsert_from_arrays(table: Table, columns: Sequence[str]) -> Any:
    """`INSERT INTO table (columns) SELECT FROM unnest(:column arrays)`: one text for any rows."""
    arrays = (
        # asyncpg's dialect casts each parameter to its array type ($1::UUID[]).
        func.unnest(*[bindparam(name, type_=ARRAY(table.c[name].type)) for name in columns])
        .table_valued(*columns)
        .render_derived()
    )
    return insert(table).from_select(list(columns), select(*[arrays.c[name] for name in columns]))


FIRST_FACTS = (
    "protocol",
    "channel",
    "party_kind",
    "party_ref",
    "given_demand_type",
    "original_demand_type",
    "priority",
    "related_interaction_id",
)
LATEST_FACTS = {
    "queue": "queue_at",
    "agent_id": "agent_at",
    "routed_demand_type": "routed_demand_at",
}
STATE = ("state", "state_rank", "state_at", "queued_since")
RESOLUTION = (
    "resolution",
    "resolved_by",
    "handle_seconds",
    "first_assignment",
    "sensitive",
    "reason_code",
    "outcome",
)
INTERACTION_COLUMNS = (
    "interaction_id",
    *FIRST_FACTS,
    "received_at",
    *[name for pair in LATEST_FACTS.items() for name in pair],
    *STATE,
    "resolved_at",
    *RESOLUTION,
)


def interaction_change(
    *,
    interaction_id: Any,
    at: datetime,
    facts: Mapping[str, Any],
    state: str | None = None,
    queue: str | None = None,
    agent_id: str | None = None,
    routed_demand_type: str | None = None,
    resolution: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Say what one event says about an interaction, for `merge_interactions`.

    `facts` are first facts (the first value stays) and `received_at` (the earliest stays).
    """
    unknown = set(facts) - {*FIRST_FACTS, "received_at"} | set(resolution or ()) - set(RESOLUTION)
    if unknown:
        raise ValueError(f"no merge rule for {sorted(unknown)}")
    change: dict[str, Any] = dict.fromkeys(INTERACTION_COLUMNS)
    change |= {"interaction_id": interaction_id, **facts}
    if queue is not None:
        change |= {"queue": queue, "queue_at": at}
    if agent_id is not None:
        change |= {"agent_id": agent_id, "agent_at": at}
    if routed_demand_type is not None:
        change |= {"routed_demand_type": routed_demand_type, "routed_demand_at": at}
    if state is not None:
        change |= {
            "state": state,
            "state_rank": STATE_RANKS[state],
            "state_at": at,
            "queued_since": at if state == "queued" else None,
        }
    if resolution is not None:
        change |= {"resolved_at": at, **resolution}
    return change


def _new_state_wins(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    if old["state_at"] is None:
        return True
    if not old["state_rank"] < STATE_RANKS["closed"]:
        return False
    later = (new["state_at"], new["state_rank"]) > (old["state_at"], old["state_rank"])
    return bool(new["state_rank"] == STATE_RANKS["closed"] or later)


def _merged_interaction(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What `MERGE_INTERACTIONS` makes of the row `old` and a change `new`."""
    row = dict(old)
    for column in FIRST_FACTS:
        row[column] = new[column] if old[column] is None else old[column]
    row["received_at"] = _least(old["received_at"], new["received_at"])
    for column, as_of in LATEST_FACTS.items():
        row[column] = _later_value(old, new, column, as_of)
        row[as_of] = _greatest(old[as_of], new[as_of])
    if new["state_at"] is not None and _new_state_wins(old, new):
        row |= {column: new[column] for column in STATE}
    for column in RESOLUTION:
        row[column] = _earlier_value(old, new, column, "resolved_at")
    row["resolved_at"] = _least(old["resolved_at"], new["resolved_at"])
    return row


def _merge_interactions() -> Any:
    statement = _upsert_from_arrays(INTERACTIONS, INTERACTION_COLUMNS)
    excluded = statement.excluded
    t = INTERACTIONS
    rules: dict[str, Any] = {name: func.coalesce(t.c[name], excluded[name]) for name in FIRST_FACTS}
    rules["received_at"] = func.least(t.c.received_at, excluded.received_at)
    for column, as_of in LATEST_FACTS.items():
        rules[column] = _later(t, excluded, column, as_of)
        rules[as_of] = func.greatest(t.c[as_of], excluded[as_of])
    new_state_wins = and_(
        excluded.state_at.is_not(None),
        or_(
            t.c.state_at.is_(None),
            and_(
                t.c.state_rank < STATE_RANKS["closed"],
                or_(
                    excluded.state_rank == STATE_RANKS["closed"],
                    excluded.state_at > t.c.state_at,
                    and_(excluded.state_at == t.c.state_at, excluded.state_rank > t.c.state_rank),
                ),
            ),
        ),
    )
    for column in STATE:
        rules[column] = case((new_state_wins, excluded[column]), else_=t.c[column])
    for column in RESOLUTION:
        rules[column] = _earlier(t, excluded, column, "resolved_at")
    rules["resolved_at"] = func.least(t.c.resolved_at, excluded.resolved_at)
    return statement.on_conflict_do_update(index_elements=["interaction_id"], set_=rules).returning(
        t.c.interaction_id, t.c.received_at, t.c.resolved_at, t.c.business_seconds_to_resolve
    )


MERGE_INTERACTIONS = _merge_interactions()
SET_BUSINESS_SECONDS = text(
    "UPDATE interactions SET business_seconds_to_resolve = s.seconds"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:seconds AS float8[])) AS s(id, seconds)"
    " WHERE interactions.interaction_id = s.id"
)


async def merge_interactions(
    session: AsyncSession,
    changes: Sequence[Mapping[str, Any]],
    *,
    calendar: Calendar,
) -> None:
    """Merge what many events say about interactions into their rows, in one statement."""
    rows = _rows(changes, "interaction_id", _merged_interaction)
    if not rows:
        return
    merged = await session.execute(MERGE_INTERACTIONS, _arrays(rows, INTERACTION_COLUMNS))
    ids: list[Any] = []
    seconds: list[float] = []
    for row in merged:
        if row.received_at is not None and row.resolved_at is not None:
            worked = domain.business_seconds(row.received_at, row.resolved_at, calendar)
            if worked != row.business_seconds_to_resolve:
                ids.append(row.interaction_id)
                seconds.append(worked)
    if ids:
        await session.execute(SET_BUSINESS_SECONDS, {"ids": ids, "seconds": seconds})


ASSIGNMENT_COLUMNS = (
    "assignment_id",
    "interaction_id",
    "agent_id",
    "queue",
    "offered_at",
    "declined_at",
    "decline_reason",
    "accepted_at",
    "wait_seconds",
    "ended_at",
)


def assignment_change(
    *, assignment_id: Any, interaction_id: Any, facts: Mapping[str, Any]
) -> dict[str, Any]:
    """Say what one event says about an offer or assignment, for `merge_assignments`."""
    unknown = set(facts) - set(ASSIGNMENT_COLUMNS[2:])
    if unknown:
        raise ValueError(f"no merge rule for {sorted(unknown)}")
    change: dict[str, Any] = dict.fromkeys(ASSIGNMENT_COLUMNS)
    return change | {"assignment_id": assignment_id, "interaction_id": interaction_id, **facts}


def _merged_assignment(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What `MERGE_ASSIGNMENTS` makes of the row `old` and a change `new`: each fact set once."""
    row = dict(old)
    for column in ASSIGNMENT_COLUMNS[2:]:
        if column.endswith("_at"):
            row[column] = _least(old[column], new[column])
        elif old[column] is None:
            row[column] = new[column]
    return row


def _merge_assignments() -> Any:
    statement = _upsert_from_arrays(ASSIGNMENTS, ASSIGNMENT_COLUMNS)
    excluded = statement.excluded
    t = ASSIGNMENTS
    rules = {
        column: (func.least if column.endswith("_at") else func.coalesce)(
            t.c[column], excluded[column]
        )
        for column in ASSIGNMENT_COLUMNS[2:]
    }
    return statement.on_conflict_do_update(index_elements=["assignment_id"], set_=rules)


MERGE_ASSIGNMENTS = _merge_assignments()


async def merge_assignments(session: AsyncSession, changes: Sequence[Mapping[str, Any]]) -> None:
    """Merge what many events say about offers and assignments into their rows, in one statement."""
    rows = _rows(changes, "assignment_id", _merged_assignment)
    if rows:
        await session.execute(MERGE_ASSIGNMENTS, _arrays(rows, ASSIGNMENT_COLUMNS))


CLOCK_COLUMNS = (
    "clock_id",
    "interaction_id",
    "kind",
    "clock_type",
    "policy_id",
    "due_at",
    "due_at_as_of",
    "started_at",
    "warned_at",
    "outcome",
    "closed_at",
    "paused",
    "paused_as_of",
)
CLOCK_IDENTITY = ("clock_id", "interaction_id", "kind", "clock_type", "policy_id", "due_at")


def clock_change(
    *,
    clock: Mapping[str, Any],
    at: datetime,
    started: bool = False,
    warned: bool = False,
    outcome: str | None = None,
    paused: bool | None = None,
) -> dict[str, Any]:
    """Say what one sla event says about a clock, for `merge_clocks`.

    `clock` gives its id, interaction, kind and type (the first stay), and its policy and due_at
    (the latest stay: a re-decision changes both).
    """
    if set(clock) != set(CLOCK_IDENTITY):
        raise ValueError(f"a clock is {CLOCK_IDENTITY}, not {sorted(clock)}")
    change: dict[str, Any] = dict.fromkeys(CLOCK_COLUMNS)
    change |= {**clock, "due_at_as_of": at}
    if started:
        change["started_at"] = at
    if warned:
        change["warned_at"] = at
    if outcome is not None:
        change |= {"outcome": outcome, "closed_at": at}
    if paused is not None:
        change |= {"paused": paused, "paused_as_of": at}
    return change


def _merged_clock(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What `MERGE_CLOCKS` makes of the row `old` and a change `new`."""
    row = dict(old)
    row["due_at"] = _later_value(old, new, "due_at", "due_at_as_of")
    row["policy_id"] = _later_value(old, new, "policy_id", "due_at_as_of")
    row["due_at_as_of"] = _greatest(old["due_at_as_of"], new["due_at_as_of"])
    row["started_at"] = _least(old["started_at"], new["started_at"])
    row["warned_at"] = _least(old["warned_at"], new["warned_at"])
    row["outcome"] = _earlier_value(old, new, "outcome", "closed_at")
    row["closed_at"] = _least(old["closed_at"], new["closed_at"])
    row["paused"] = _later_value(old, new, "paused", "paused_as_of")
    row["paused_as_of"] = _greatest(old["paused_as_of"], new["paused_as_of"])
    return row


def _merge_clocks() -> Any:
    statement = _upsert_from_arrays(CLOCKS, CLOCK_COLUMNS)
    excluded = statement.excluded
    t = CLOCKS
    rules = {
        "due_at": _later(t, excluded, "due_at", "due_at_as_of"),
        # A re-decided clock follows its new policy (sla.redecided), as its deadline does.
        "policy_id": _later(t, excluded, "policy_id", "due_at_as_of"),
        "due_at_as_of": func.greatest(t.c.due_at_as_of, excluded.due_at_as_of),
        "started_at": func.least(t.c.started_at, excluded.started_at),
        "warned_at": func.least(t.c.warned_at, excluded.warned_at),
        "outcome": _earlier(t, excluded, "outcome", "closed_at"),
        "closed_at": func.least(t.c.closed_at, excluded.closed_at),
        "paused": _later(t, excluded, "paused", "paused_as_of"),
        "paused_as_of": func.greatest(t.c.paused_as_of, excluded.paused_as_of),
    }
    return statement.on_conflict_do_update(index_elements=["clock_id"], set_=rules)


MERGE_CLOCKS = _merge_clocks()


async def merge_clocks(session: AsyncSession, changes: Sequence[Mapping[str, Any]]) -> None:
    """Merge what many sla events say about clocks into their rows, in one statement."""
    rows = _rows(changes, "clock_id", _merged_clock)
    if rows:
        await session.execute(MERGE_CLOCKS, _arrays(rows, CLOCK_COLUMNS))


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
