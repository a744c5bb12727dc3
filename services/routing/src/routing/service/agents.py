"""Agents and queues: profiles, status, open work, and the queues' figures."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.routing import (
    AgentStatus,
    AgentStatusChanged,
)
from atende_events.web import ProblemError
from routing.config import Settings
from routing.domain import RuleBook
from routing.models import Agent, Assignment, Interaction
from routing.schemas import (
    AgentAssignments,
    AgentIn,
    AgentOut,
    QueueOut,
    Queues,
)
from routing.service.common import (
    OPEN,
    Follow,
    assignment_out,
    change_status,
    emit,
    loads_of,
    locked_agent,
    skills_of,
    utcnow,
)


async def _agent_out(session: AsyncSession, agent: Agent) -> AgentOut:
    load = (await loads_of(session, [agent.id]))[agent.id]
    return AgentOut(
        id=agent.id,
        name=agent.name,
        status=AgentStatus(agent.status),
        skills={skill: int(level) for skill, level in agent.skills.items()},
        capacity={channel: int(n) for channel, n in agent.capacity.items()},
        load=load,
        idle_since=agent.idle_since,
    )


async def put_agent(
    session: AsyncSession, *, agent_id: str, profile: AgentIn, book: RuleBook
) -> tuple[AgentOut, bool, Follow]:
    """Create or update an agent's skills and capacity; a new agent starts offline."""
    unknown = sorted(set(profile.skills) - set(book.queues))
    if unknown:
        raise ProblemError(
            422,
            "Invalid request",
            f"Invalid fields: skills. Unknown queues: {', '.join(unknown)}.",
            errors=[
                {
                    "field": f"skills.{queue}",
                    "location": "body",
                    "message": f"{queue!r} is not a queue; queues: {', '.join(book.queues)}",
                    "type": "unknown_queue",
                }
                for queue in unknown
            ],
        )
    now = utcnow()
    capacity = {channel.value: n for channel, n in profile.capacity.items()}
    # Insert-or-nothing first: of two first PUTs racing, the second waits for the first to
    # commit and then updates the row, instead of failing on the primary key.
    created = (
        await session.scalar(
            insert(Agent)
            .values(
                id=agent_id,
                name=profile.name,
                status=AgentStatus.OFFLINE.value,
                skills=dict(profile.skills),
                capacity=capacity,
                idle_since=None,
                status_changed_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[Agent.id])
            .returning(Agent.id)
        )
        is not None
    )
    agent = await locked_agent(session, agent_id)
    assert agent is not None, "inserted, or there before and never deleted"
    if created:
        await emit(
            session,
            AgentStatusChanged(
                occurred_at=now,
                agent_id=agent_id,
                status=AgentStatus.OFFLINE,
                previous_status=None,
                skills=skills_of(agent),
            ),
            correlation_id=None,
        )
    else:
        skills_changed = agent.skills != dict(profile.skills)
        agent.name = profile.name
        agent.skills = dict(profile.skills)
        agent.capacity = capacity
        agent.updated_at = now
        if skills_changed:
            # The event carries the skills: BI sees a change of skills as a status event.
            status = AgentStatus(agent.status)
            await emit(
                session,
                AgentStatusChanged(
                    occurred_at=now,
                    agent_id=agent_id,
                    status=status,
                    previous_status=status,
                    skills=skills_of(agent),
                ),
                correlation_id=None,
            )
    follow = Follow(agents=(agent_id,)) if agent.status == AgentStatus.AVAILABLE else Follow()
    return await _agent_out(session, agent), created, follow


async def set_status(
    session: AsyncSession, *, agent_id: str, status: AgentStatus
) -> tuple[AgentOut, Follow]:
    """Set an agent available, away or offline; an available agent is offered work next."""
    agent = await locked_agent(session, agent_id)
    if agent is None:
        raise ProblemError(404, "Not found", f"No agent {agent_id!r}.")
    if agent.status != status:
        await change_status(session, agent, status, now=utcnow())
    follow = Follow(agents=(agent_id,)) if status == AgentStatus.AVAILABLE else Follow()
    return await _agent_out(session, agent), follow


async def get_agent(session: AsyncSession, *, agent_id: str) -> AgentOut:
    """Show an agent."""
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise ProblemError(404, "Not found", f"No agent {agent_id!r}.")
    return await _agent_out(session, agent)


async def agent_assignments(session: AsyncSession, *, agent_id: str) -> AgentAssignments:
    """List an agent's open offers and assignments, oldest first."""
    if await session.get(Agent, agent_id) is None:
        raise ProblemError(404, "Not found", f"No agent {agent_id!r}.")
    rows = await session.scalars(
        select(Assignment)
        .where(Assignment.agent_id == agent_id, Assignment.status.in_(OPEN))
        .order_by(Assignment.offered_at)
    )
    return AgentAssignments(agent_id=agent_id, assignments=[assignment_out(a) for a in rows])


def _start_of_day(now: datetime, zone: str) -> datetime:
    local = now.astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), time.min, tzinfo=local.tzinfo).astimezone(UTC)


async def queue_figures(session: AsyncSession, *, book: RuleBook, settings: Settings) -> Queues:
    """Count per queue: waiting, oldest wait, available agents, assigned and resolved today."""
    now = utcnow()
    today = _start_of_day(now, settings.time_zone)
    waiting: dict[str, tuple[int, datetime | None]] = {
        queue: (count, oldest)
        for queue, count, oldest in (
            await session.execute(
                select(Interaction.queue, func.count(), func.min(Interaction.queued_at))
                .where(Interaction.status.in_(("queued", "offered")))
                .group_by(Interaction.queue)
            )
        ).all()
    }
    today_counts: dict[str, tuple[int, int]] = {
        queue: (int(assigned or 0), int(resolved or 0))
        for queue, assigned, resolved in (
            await session.execute(
                select(
                    Assignment.queue,
                    func.count().filter(Assignment.accepted_at >= today),
                    func.count().filter(
                        and_(Assignment.status == "completed", Assignment.ended_at >= today)
                    ),
                )
                .where(or_(Assignment.accepted_at >= today, Assignment.ended_at >= today))
                .group_by(Assignment.queue)
            )
        ).all()
    }
    available = list(
        await session.scalars(select(Agent.skills).where(Agent.status == AgentStatus.AVAILABLE))
    )
    figures: list[QueueOut] = []
    for queue in book.queues:
        count, oldest = waiting.get(queue, (0, None))
        assigned, resolved = today_counts.get(queue, (0, 0))
        figures.append(
            QueueOut(
                queue=queue,
                waiting=count,
                oldest_wait_seconds=(now - oldest).total_seconds() if oldest else None,
                agents_available=sum(1 for skills in available if queue in skills),
                assigned_today=assigned,
                resolved_today=resolved,
            )
        )
    return Queues(queues=figures)
