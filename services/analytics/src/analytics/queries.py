"""Read use cases: the KPIs aggregated in PostgreSQL, and the wall board.

The KPIs come from the daily rollups the consumer keeps (rollups.py): one GROUP BY over at most a
few rows per day and group, plus the detractors' themes and follow-up times kept row by row. The
same figures can be computed from the read models themselves (kpi_facts_from_read_models, used
when the rollups were counted with other settings, and by the tests as the reference): each KPI
family is one GROUP BY query over the rows whose own moment falls in the period (an interaction
counts in volume by its receipt, in AHT by its completion, a survey in NPS by its answer...); the
families are then joined by group key. The agent of an interaction is the one who
handled it last (who resolved it, once resolved); of an acceptance, the agent who accepted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from analytics import domain, rollups
from analytics.models import KPI_AGENT_DAYS, KPI_DAYS, KPI_DETAILS
from analytics.service import AGENTS, ASSIGNMENTS, CLOCKS, FOLLOWUPS, INTERACTIONS, STATUS_CHANGES
from analytics.service import SURVEYS as SURVEY_TABLE
from atende_events.calendar import Calendar, business_day_seconds

Key = tuple[Any, ...]
Facts = dict[str, Any]

REPEAT_WINDOW = timedelta(days=7)
NOT_CONTACTS = ("outbound",)
"""Channels where the operator reaches out: never a party's new contact, never a repeat."""
SECOND_INSTANCE = ("ombudsman", "regulator")


@dataclass(frozen=True)
class Period:
    """What every KPI query filters and groups by."""

    groups: Sequence[str]
    zone: ZoneInfo
    start: datetime
    end: datetime


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


async def _grouped(
    session: AsyncSession,
    source: Any,
    aggregates: Sequence[ColumnElement[Any]],
    period: Period,
    *,
    extra: Sequence[str] = (),
) -> list[tuple[Key, Mapping[str, Any]]]:
    """Aggregate a source subquery (channel, queue, party_kind, agent, at, ...) by the groups."""
    groups, zone, start, end = period.groups, period.zone, period.start, period.end
    dims: list[ColumnElement[Any]] = []
    for group in groups:
        if group == "day":
            dims.append(func.date(func.timezone(zone.key, source.c.at)).label("day"))
        else:
            dims.append(source.c[group].label(group))
    dims += [source.c[name].label(name) for name in extra]
    statement = (
        select(*dims, *aggregates)
        .where(source.c.at >= start, source.c.at < end)
        .group_by(*[dim.element for dim in dims])
    )
    rows = (await session.execute(statement)).mappings().all()
    return [(tuple(row[group] for group in groups), dict(row)) for row in rows]


def _interaction_dims(i: Any, *, agent: ColumnElement[Any] | None = None) -> list[Any]:
    return [
        i.c.channel.label("channel"),
        i.c.queue.label("queue"),
        i.c.party_kind.label("party_kind"),
        (agent if agent is not None else i.c.agent_id).label("agent"),
    ]


def _contact_within(
    i: Any, other: Any, *, after: ColumnElement[Any], until: ColumnElement[Any]
) -> Any:
    """A contact of the same party about the same demand type received in (after, until]."""
    return exists().where(
        other.c.party_ref == i.c.party_ref,
        other.c.demand_type == i.c.demand_type,
        other.c.interaction_id != i.c.interaction_id,
        other.c.channel.notin_(NOT_CONTACTS),
        other.c.received_at > after,
        other.c.received_at <= until,
    )


async def kpi_facts(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    groups: Sequence[str],
    zone: ZoneInfo,
    answer_targets: Mapping[str, float],
    calendar: Calendar,
    now: datetime,
) -> dict[Key, Facts]:
    """Gather the raw counts and means of every KPI family, per group key.

    From the daily rollups when they were counted with these settings (a day in this zone, these
    answer targets); from the read models otherwise, which gives the same figures, slower.
    """
    counted = await rollups.counted_with(session)
    limit = domain.BUSINESS_DAYS_TO_RESOLVE * business_day_seconds(calendar)
    if counted is not None and (
        counted["time_zone"] == zone.key
        and counted["resolve_within_seconds"] == limit
        and {ch: float(s) for ch, s in counted["answer_targets"].items()}
        == {ch: float(s) for ch, s in answer_targets.items()}
    ):
        return await kpi_facts_from_rollups(
            session, start=start, end=end, groups=groups, zone=zone, now=now
        )
    return await kpi_facts_from_read_models(
        session,
        start=start,
        end=end,
        groups=groups,
        zone=zone,
        answer_targets=answer_targets,
        calendar=calendar,
        now=now,
    )


async def kpi_facts_from_rollups(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    groups: Sequence[str],
    zone: ZoneInfo,
    now: datetime,
) -> dict[Key, Facts]:
    """Sum the daily rollups over the period's local days; add drivers and follow-up medians."""

    facts: dict[Key, Facts] = defaultdict(dict)
    rollup = KPI_AGENT_DAYS if "agent" in groups else KPI_DAYS
    first = start.astimezone(zone).date()
    last = end.astimezone(zone).date() - timedelta(days=1)
    dims = [rollup.c[group] for group in groups]
    statement = (
        select(
            *[dim.label(group) for dim, group in zip(dims, groups, strict=True)],
            *[_total(rollup.c[name]).label(name) for name in domain.MEASURES],
        )
        .where(rollup.c.day >= first, rollup.c.day <= last)
        .group_by(*dims)
        .having(or_(*[func.sum(rollup.c[name]) != 0 for name in domain.PRESENCE]))
    )
    for row in (await session.execute(statement)).mappings():
        facts[tuple(row[group] for group in groups)].update(domain.rollup_facts(row))
    details = KPI_DETAILS
    in_period = [details.c.day >= first, details.c.day <= last]
    dims = [details.c[group] for group in groups]
    themes = (
        select(*dims, details.c.theme, func.count().label("count"))
        .where(details.c.kind == "theme", *in_period)
        .group_by(*dims, details.c.theme)
    )
    for row in (await session.execute(themes)).mappings():
        key = tuple(row[group] for group in groups)
        facts[key].setdefault("drivers", {})[row["theme"]] = row["count"]
    medians = (
        select(
            *dims,
            func.percentile_cont(0.5).within_group(details.c.seconds).label("followup_median"),
        )
        .where(details.c.kind == "followup_closed", *in_period)
        .group_by(*dims)
    )
    for row in (await session.execute(medians)).mappings():
        facts[tuple(row[group] for group in groups)]["followup_median"] = row["followup_median"]
    if "agent" in groups:
        await _add_staffed_time(
            session, facts, groups=groups, zone=zone, start=start, end=end, now=now
        )
    return facts


def _total(measure: Any) -> ColumnElement[Any]:
    """Sum a rollup measure: counts as bigint (ints, not Decimals), seconds as exact numeric."""
    total = func.sum(measure)
    return total if measure.name.endswith("_sum") else cast(total, BigInteger)


async def kpi_facts_from_read_models(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    groups: Sequence[str],
    zone: ZoneInfo,
    answer_targets: Mapping[str, float],
    calendar: Calendar,
    now: datetime,
) -> dict[Key, Facts]:
    """Gather the raw counts and means of every KPI family, per group key."""
    facts: dict[Key, Facts] = defaultdict(dict)
    period = Period(groups=groups, zone=zone, start=start, end=end)

    i = INTERACTIONS.alias("i")
    other = INTERACTIONS.alias("other")

    # Arrivals: volume, repeat contacts, escalations.
    earlier_contact = _contact_within(
        i, other, after=i.c.received_at - REPEAT_WINDOW, until=i.c.received_at
    ).where(other.c.received_at < i.c.received_at)
    arrivals = select(
        *_interaction_dims(i),
        i.c.received_at.label("at"),
        i.c.channel.label("ch"),
        i.c.related_interaction_id.label("related"),
        earlier_contact.label("repeat"),
    ).subquery()
    for key, row in await _grouped(
        session,
        arrivals,
        [
            func.count().label("volume"),
            _count_if(arrivals.c.ch.notin_(NOT_CONTACTS)).label("inbound"),
            _count_if(and_(arrivals.c.ch.notin_(NOT_CONTACTS), arrivals.c.repeat)).label(
                "repeat_contacts"
            ),
            _count_if(and_(arrivals.c.ch == "ombudsman", arrivals.c.related.is_not(None))).label(
                "escalations"
            ),
        ],
        period,
    ):
        facts[key].update(row)

    # Completions: resolved, FCR, AHT, resolved within 2 business days, first-instance resolved.
    came_back = _contact_within(
        i, other, after=i.c.received_at, until=i.c.resolved_at + REPEAT_WINDOW
    )
    completions = select(
        *_interaction_dims(i, agent=i.c.resolved_by),
        i.c.resolved_at.label("at"),
        i.c.channel.label("ch"),
        (i.c.resolution == "resolved").label("ok"),
        and_(i.c.first_assignment.is_(True), ~came_back).label("first_contact"),
        i.c.handle_seconds.label("handle"),
        i.c.business_seconds_to_resolve.label("business"),
    ).subquery()
    c = completions.c
    limit = domain.BUSINESS_DAYS_TO_RESOLVE * business_day_seconds(calendar)
    for key, row in await _grouped(
        session,
        completions,
        [
            func.count().label("completed"),
            _count_if(c.ok).label("resolved"),
            _count_if(and_(c.ok, c.first_contact)).label("fcr_count"),
            func.avg(c.handle).label("aht_seconds"),
            _count_if(and_(c.ok, c.business.is_not(None))).label("resolved_timed"),
            _count_if(and_(c.ok, c.business <= limit)).label("within_2bd"),
            _count_if(and_(c.ok, c.ch.notin_(SECOND_INSTANCE))).label("first_instance_resolved"),
        ],
        period,
    ):
        facts[key].update(row)

    # Acceptances: ASA and service level.
    a = ASSIGNMENTS
    target: ColumnElement[Any] = (
        case(*[(i.c.channel == ch, seconds) for ch, seconds in answer_targets.items()])
        if answer_targets
        else cast(null(), Float)
    )
    accepts = (
        select(
            i.c.channel.label("channel"),
            a.c.queue.label("queue"),
            i.c.party_kind.label("party_kind"),
            a.c.agent_id.label("agent"),
            a.c.accepted_at.label("at"),
            a.c.wait_seconds.label("wait"),
            target.label("target"),
        )
        .select_from(a.outerjoin(i, i.c.interaction_id == a.c.interaction_id))
        .where(a.c.accepted_at.is_not(None))
        .subquery()
    )
    for key, row in await _grouped(
        session,
        accepts,
        [
            func.count().label("accepted"),
            func.avg(accepts.c.wait).label("asa_seconds"),
            _count_if(accepts.c.target.is_not(None)).label("sl_eligible"),
            _count_if(accepts.c.wait <= accepts.c.target).label("sl_met"),
        ],
        period,
    ):
        facts[key].update(row)

    # Clocks: met / closed per kind.
    k = CLOCKS
    clocks = (
        select(
            *_interaction_dims(i),
            k.c.closed_at.label("at"),
            k.c.kind.label("kind"),
            k.c.outcome.label("outcome"),
        )
        .select_from(k.outerjoin(i, i.c.interaction_id == k.c.interaction_id))
        .where(k.c.outcome.is_not(None))
        .subquery()
    )
    for key, row in await _grouped(
        session,
        clocks,
        [func.count().label("closed"), _count_if(clocks.c.outcome == "met").label("met")],
        period,
        extra=["kind"],
    ):
        facts[key].setdefault("sla", {})[row["kind"]] = (row["closed"], row["met"])

    # Answers: NPS and CSAT.
    s = SURVEY_TABLE
    surveyed = s.outerjoin(i, i.c.interaction_id == s.c.interaction_id)
    answers = (
        select(
            *_interaction_dims(i),
            s.c.answered_at.label("at"),
            s.c.category.label("category"),
            s.c.csat.label("csat"),
        )
        .select_from(surveyed)
        .where(s.c.answered_at.is_not(None))
        .subquery()
    )
    n = answers.c
    for key, row in await _grouped(
        session,
        answers,
        [
            _count_if(n.category == "promoter").label("promoters"),
            _count_if(n.category == "passive").label("passives"),
            _count_if(n.category == "detractor").label("detractors"),
            func.count(n.csat).label("csat_answers"),
            func.avg(n.csat).label("csat_mean"),
            _count_if(n.csat >= 4).label("csat_satisfied"),
        ],
        period,
    ):
        facts[key].update(row)

    dispatches = (
        select(*_interaction_dims(i), s.c.dispatched_at.label("at"))
        .select_from(surveyed)
        .where(s.c.dispatched_at.is_not(None))
        .subquery()
    )
    for key, row in await _grouped(session, dispatches, [func.count().label("dispatched")], period):
        facts[key].update(row)

    await _add_drivers(session, facts, i, period)

    # Follow-ups.
    f = FOLLOWUPS
    followed = f.outerjoin(i, i.c.interaction_id == f.c.interaction_id)
    opened = (
        select(*_interaction_dims(i), f.c.opened_at.label("at"))
        .select_from(followed)
        .where(f.c.opened_at.is_not(None))
        .subquery()
    )
    for key, row in await _grouped(
        session, opened, [func.count().label("followups_opened")], period
    ):
        facts[key].update(row)
    await _add_followup_medians(session, facts, i, period)

    if "agent" in groups:
        await _add_staffed_time(
            session, facts, groups=groups, zone=zone, start=start, end=end, now=now
        )
    return facts


async def _add_drivers(
    session: AsyncSession, facts: dict[Key, Facts], i: Any, period: Period
) -> None:
    """Count the themes detractors named, per group."""
    s = SURVEY_TABLE
    surveyed = s.outerjoin(i, i.c.interaction_id == s.c.interaction_id)
    themes = (
        select(
            *_interaction_dims(i),
            s.c.answered_at.label("at"),
            func.unnest(s.c.themes).label("theme"),
        )
        .select_from(surveyed)
        .where(s.c.category == "detractor")
        .subquery()
    )
    for key, row in await _grouped(
        session, themes, [func.count().label("count")], period, extra=["theme"]
    ):
        facts[key].setdefault("drivers", {})[row["theme"]] = row["count"]


async def _add_followup_medians(
    session: AsyncSession, facts: dict[Key, Facts], i: Any, period: Period
) -> None:
    """Count the follow-ups closed, and the median time they took, per group."""
    f = FOLLOWUPS
    followed = f.outerjoin(i, i.c.interaction_id == f.c.interaction_id)
    closed = (
        select(
            *_interaction_dims(i),
            f.c.closed_at.label("at"),
            func.extract("epoch", f.c.closed_at - f.c.opened_at).label("took"),
        )
        .select_from(followed)
        .where(f.c.closed_at.is_not(None))
        .subquery()
    )
    for key, row in await _grouped(
        session,
        closed,
        [
            func.count().label("followups_closed"),
            func.percentile_cont(0.5).within_group(closed.c.took).label("followup_median"),
        ],
        period,
    ):
        facts[key].update(row)


async def _add_staffed_time(
    session: AsyncSession,
    facts: dict[Key, Facts],
    *,
    groups: Sequence[str],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    now: datetime,
) -> None:
    """Give every agent group the agent's logged-in seconds (that day's, when grouped by day)."""
    t = STATUS_CHANGES
    # The status in force at start: each agent's last change before it, one index probe per
    # agent (every agent with a change has a row in agents: both are written together).
    before = (
        select(t.c.status, t.c.occurred_at)
        .where(t.c.agent_id == AGENTS.c.agent_id, t.c.occurred_at < start)
        .order_by(t.c.occurred_at.desc())
        .limit(1)
        .lateral()
    )
    in_force = select(AGENTS.c.agent_id, before.c.status, before.c.occurred_at).select_from(
        AGENTS.join(before, true())
    )
    during = select(t.c.agent_id, t.c.status, t.c.occurred_at).where(
        t.c.occurred_at >= start, t.c.occurred_at < end
    )
    changes: dict[str, list[domain.StatusChange]] = defaultdict(list)
    for row in await session.execute(union_all(in_force, during)):
        changes[row.agent_id].append(domain.StatusChange(at=row.occurred_at, status=row.status))
    by_day = "day" in groups
    staffed = {
        agent: domain.staffed_seconds(
            agent_changes, start=start, end=end, now=now, zone=zone, by_day=by_day
        )
        for agent, agent_changes in changes.items()
    }
    agent_at = groups.index("agent")
    day_at = groups.index("day") if by_day else None
    for key, values in facts.items():
        seconds = staffed.get(key[agent_at], {})
        day: date | None = key[day_at] if day_at is not None else None
        values["staffed_seconds"] = seconds.get(day, 0.0)


_DEADLINES = text(
    "SELECT policy_id, kind,"
    " to_char(started_at AT TIME ZONE CAST(:zone AS text), 'YYYY-MM') AS month,"
    " count(*) AS started,"
    " count(*) FILTER (WHERE outcome = 'met') AS met,"
    " count(*) FILTER (WHERE outcome = 'breached') AS breached,"
    " count(*) FILTER (WHERE outcome IS NULL) AS open,"
    " count(*) FILTER (WHERE outcome IS NULL AND due_at < :now) AS past_due"
    " FROM clocks WHERE started_at >= :start AND started_at < :end"
    " GROUP BY policy_id, kind, month ORDER BY month, kind DESC, policy_id"
)


async def deadlines_by_policy(
    session: AsyncSession, *, start: datetime, end: datetime, zone: ZoneInfo, now: datetime
) -> list[dict[str, Any]]:
    """Count the clocks started in the period per policy and month, as a regulator asks.

    An open clock already past its deadline counts against the rate at once, not only when it
    closes (or when sla, waiting for every stop event, declares the breach).
    """
    rows = await session.execute(
        _DEADLINES, {"zone": zone.key, "start": start, "end": end, "now": now}
    )
    return [
        {
            **row._mapping,
            "within_deadline_rate": domain.share(row.met, row.met + row.breached + row.past_due),
        }
        for row in rows
    ]


_OUTCOMES = text(
    "SELECT to_char(resolved_at AT TIME ZONE CAST(:zone AS text), 'YYYY-MM') AS month, outcome,"
    " count(*) AS answers FROM interactions"
    " WHERE resolved_at >= :start AND resolved_at < :end AND outcome IS NOT NULL"
    " AND received_at IS NOT NULL GROUP BY month, outcome ORDER BY month, outcome"
)


async def answer_outcomes(
    session: AsyncSession, *, start: datetime, end: datetime, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Count the conclusive answers given in the period per month and outcome."""
    rows = await session.execute(_OUTCOMES, {"zone": zone.key, "start": start, "end": end})
    return [dict(row._mapping) for row in rows]


_RECLASSIFIED = text(
    "SELECT original_demand_type, demand_type, count(*) AS interactions FROM interactions"
    " WHERE received_at >= :start AND received_at < :end AND original_demand_type IS NOT NULL"
    " GROUP BY original_demand_type, demand_type ORDER BY original_demand_type, demand_type"
)


async def reclassifications(
    session: AsyncSession, *, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Count the interactions received in the period whose demand type an agent corrected."""
    rows = await session.execute(_RECLASSIFIED, {"start": start, "end": end})
    return [dict(row._mapping) for row in rows]


async def live_board(
    session: AsyncSession, *, now: datetime, at_risk_within: timedelta, limit: int = 50
) -> dict[str, Any]:
    """Read the wall board: queues, agents by status, clocks close to or past their deadline."""
    i = INTERACTIONS
    queues = await session.execute(
        select(i.c.queue, func.count().label("depth"), func.min(i.c.queued_since).label("since"))
        .where(i.c.state == "queued")
        .group_by(i.c.queue)
        .order_by(i.c.queue)
    )
    agents = await session.execute(
        select(AGENTS.c.status, func.count().label("agents"))
        .group_by(AGENTS.c.status)
        .order_by(AGENTS.c.status)
    )
    k = CLOCKS
    at_risk = and_(
        k.c.outcome.is_(None), k.c.paused.is_not(True), k.c.due_at <= now + at_risk_within
    )
    total = await session.scalar(select(func.count()).select_from(k).where(at_risk))
    past_due = await session.scalar(
        select(func.count()).select_from(k).where(at_risk, k.c.due_at < now)
    )
    clocks = await session.execute(
        select(
            k.c.clock_id,
            k.c.interaction_id,
            i.c.protocol,
            i.c.queue,
            k.c.kind,
            k.c.clock_type,
            k.c.policy_id,
            k.c.due_at,
            k.c.warned_at,
        )
        .select_from(k.outerjoin(i, i.c.interaction_id == k.c.interaction_id))
        .where(at_risk)
        .order_by(k.c.due_at, k.c.clock_id)
        .limit(limit)
    )
    return {
        "queues": [
            {
                "queue": row.queue,
                "depth": row.depth,
                "oldest_wait_seconds": max((now - row.since).total_seconds(), 0.0)
                if row.since is not None
                else None,
            }
            for row in queues
        ],
        "agents": {row.status: row.agents for row in agents},
        "clocks_at_risk": total or 0,
        "clocks_past_due": past_due or 0,
        "clocks": [
            {
                **{name: value for name, value in row._mapping.items() if name != "warned_at"},
                "seconds_left": (row.due_at - now).total_seconds(),
                "warned": row.warned_at is not None,
            }
            for row in clocks
        ],
    }


__all__ = ["Select", "kpi_facts", "literal", "live_board"]
