"""What the use cases of routing share: events, agents' load, locks and views."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import Envelope, EventData, new_event
from atende_events.outbox import add_event
from atende_events.routing import (
    SOURCE,
    AgentSkill,
    AgentStatus,
    AgentStatusChanged,
    DeclineReason,
    InteractionOfferDeclined,
)
from routing import domain
from routing.models import Agent, Assignment, Interaction
from routing.schemas import AssignmentOut

OPEN = ("offered", "accepted", "waiting")
ACTIVE = ("accepted", "waiting")


@dataclass(frozen=True)
class Follow:
    """What to offer once the caller's transaction committed: freed work and freed agents."""

    interactions: tuple[UUID, ...] = ()
    agents: tuple[str, ...] = ()


def utcnow() -> datetime:
    return datetime.now(UTC)


def event_of(data: EventData, *, correlation_id: str | None) -> Envelope[EventData]:
    return new_event(data, source=SOURCE, time=data.occurred_at, correlation_id=correlation_id)


async def emit(session: AsyncSession, data: EventData, *, correlation_id: str | None) -> None:
    await add_event(session, event_of(data, correlation_id=correlation_id))


def skills_of(agent: Agent) -> tuple[AgentSkill, ...]:
    return tuple(
        AgentSkill(skill=skill, proficiency=int(level))
        for skill, level in sorted(agent.skills.items())
    )


# The statuses are written out, not bound, so that the planner can use the index of open work.
_OPEN_LIST = ", ".join(f"'{status}'" for status in OPEN)
_LOADS = text(
    "SELECT agent_id, channel, count(*) FROM assignments"
    f" WHERE agent_id = ANY(CAST(:agent_ids AS text[])) AND status IN ({_OPEN_LIST})"
    " GROUP BY agent_id, channel"
)


async def loads_of(session: AsyncSession, agent_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    rows = await session.execute(_LOADS, {"agent_ids": list(agent_ids)})
    loads: dict[str, dict[str, int]] = {agent_id: {} for agent_id in agent_ids}
    for agent_id, channel, count in rows.all():
        loads[agent_id][channel] = count
    return loads


def interaction_rank(interaction: Interaction) -> int:
    return domain.rank_of(
        priority=interaction.priority,
        channel=interaction.channel,
        queue=interaction.queue,
        demand_type=interaction.demand_type,
        breached=interaction.breached,
    )


async def change_status(
    session: AsyncSession, agent: Agent, status: AgentStatus, *, now: datetime
) -> None:
    previous = AgentStatus(agent.status)
    agent.status = status.value
    agent.status_changed_at = now
    if status == AgentStatus.AVAILABLE:
        agent.idle_since = now
    await emit(
        session,
        AgentStatusChanged(
            occurred_at=now,
            agent_id=agent.id,
            status=status,
            previous_status=previous,
            skills=skills_of(agent),
        ),
        correlation_id=None,
    )


async def locked_agent(session: AsyncSession, agent_id: str) -> Agent | None:
    agent: Agent | None = await session.scalar(
        select(Agent)
        .where(Agent.id == agent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return agent


async def lock_parts(session: AsyncSession, assignment: Assignment) -> tuple[Interaction, Agent]:
    """Lock an assignment's agent, then its interaction: the order every blocking lock keeps.

    The consumer holds the agents of its offers while it waits for interactions to re-rank, so
    whoever waits for an agent must not hold an interaction meanwhile.
    """
    agent = await locked_agent(session, assignment.agent_id)
    interaction = await session.scalar(
        select(Interaction)
        .where(Interaction.id == assignment.interaction_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert interaction is not None and agent is not None, "foreign keys hold"
    return interaction, agent


def assignment_out(assignment: Assignment) -> AssignmentOut:
    return AssignmentOut(
        id=assignment.id,
        interaction_id=assignment.interaction_id,
        agent_id=assignment.agent_id,
        queue=assignment.queue,
        channel=assignment.channel,
        status=assignment.status,
        offered_at=assignment.offered_at,
        expires_at=assignment.expires_at,
        accepted_at=assignment.accepted_at,
        ended_at=assignment.ended_at,
        resolution=assignment.resolution,
    )


async def decline_offer(
    session: AsyncSession,
    assignment: Assignment,
    interaction: Interaction,
    agent: Agent,
    *,
    reason: DeclineReason,
    now: datetime,
) -> None:
    """End an offer without an assignment (rejected or timed out): the work queues again."""
    assignment.status = "rejected" if reason is DeclineReason.REJECTED else "timed_out"
    assignment.ended_at = now
    interaction.status = "queued"
    await emit(
        session,
        InteractionOfferDeclined(
            occurred_at=now,
            interaction_id=interaction.id,
            assignment_id=assignment.id,
            agent_id=agent.id,
            reason=reason,
        ),
        correlation_id=interaction.correlation_id,
    )
