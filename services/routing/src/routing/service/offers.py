"""Offering: offer queued work, fill agents, fire the offer-timeout and escalation timers."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, Integer, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.routing import (
    AgentStatus,
    DeclineReason,
    InteractionOffered,
)
from routing import domain
from routing.config import Settings
from routing.domain import OfferableWork
from routing.models import Agent, Assignment, Interaction
from routing.service.common import (
    Follow,
    change_status,
    decline_offer,
    emit,
    loads_of,
    lock_parts,
    state_of,
    utcnow,
)


async def offer_interaction(
    session: AsyncSession, *, interaction: Interaction, settings: Settings
) -> Assignment | None:
    """Offer work the caller holds to the best agent that can take it under its row lock."""
    overflow = settings.overflow()
    skilled: ColumnElement[bool] = Agent.skills.has_key(interaction.queue)
    if interaction.escalated:
        skilled = or_(
            skilled,
            Agent.skills[overflow.skill].astext.cast(Integer) >= overflow.min_proficiency,
        )
    # Candidates are read without locks; only the chosen one is locked (SKIP LOCKED) and checked
    # again under the lock, falling back to the next best. An agent whose state is changing (a
    # completion, a status change) fills itself after that commit, and the sweep catches the
    # rare race between the two; waiting here would serialise queueing behind agents' actions.
    candidates = (
        await session.scalars(
            select(Agent).where(skilled, Agent.status == AgentStatus.AVAILABLE).order_by(Agent.id)
        )
    ).all()
    if not candidates:
        return None
    loads = await loads_of(session, [agent.id for agent in candidates])
    declined = await session.scalars(
        select(Assignment.agent_id).where(
            Assignment.interaction_id == interaction.id, Assignment.status == "rejected"
        )
    )
    work = OfferableWork(
        queue=interaction.queue,
        channel=interaction.channel,
        escalated=interaction.escalated,
        declined_by=frozenset(declined),
    )
    states = [state_of(agent, loads[agent.id]) for agent in candidates]
    while True:
        chosen = domain.choose_agent(work, states, overflow)
        if chosen is None:
            return None
        agent = await session.scalar(
            select(Agent)
            .where(Agent.id == chosen.id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if agent is not None:
            fresh = state_of(agent, (await loads_of(session, [agent.id]))[agent.id])
            if domain.can_take(fresh, work, overflow):
                return await _offer(
                    session, interaction=interaction, agent=agent, settings=settings
                )
        states = [state for state in states if state.id != chosen.id]


async def _offer(
    session: AsyncSession, *, interaction: Interaction, agent: Agent, settings: Settings
) -> Assignment:
    now = utcnow()  # read after the locks were granted, so an offer never predates a release
    assignment = Assignment(
        id=uuid4(),
        interaction_id=interaction.id,
        agent_id=agent.id,
        queue=interaction.queue,
        channel=interaction.channel,
        status="offered",
        offered_at=now,
        expires_at=now + timedelta(seconds=settings.offer_timeout),
    )
    session.add(assignment)
    interaction.status = "offered"
    agent.idle_since = now
    await session.flush()
    await emit(
        session,
        InteractionOffered(
            occurred_at=now,
            interaction_id=interaction.id,
            assignment_id=assignment.id,
            agent_id=agent.id,
            queue=interaction.queue,
            expires_at=assignment.expires_at,
        ),
        correlation_id=interaction.correlation_id,
    )
    return assignment


async def offer_waiting(session: AsyncSession, *, interaction_id: UUID, settings: Settings) -> bool:
    """Offer one waiting interaction unless another transaction holds it."""
    interaction = await session.scalar(
        select(Interaction)
        .where(Interaction.id == interaction_id, Interaction.status == "queued")
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if interaction is None:
        return False
    return await offer_interaction(session, interaction=interaction, settings=settings) is not None


async def fill_agent(session: AsyncSession, *, agent_id: str, settings: Settings) -> int:
    """Offer an agent the most urgent eligible waiting work until its free capacity is used."""
    agent = await session.scalar(
        select(Agent)
        .where(Agent.id == agent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if agent is None or agent.status != AgentStatus.AVAILABLE:
        return 0
    overflow = settings.overflow()
    load = (await loads_of(session, [agent.id]))[agent.id]
    offered = 0
    while True:
        state = state_of(agent, load)
        channels = domain.free_channels(state)
        if not channels:
            return offered
        eligible: ColumnElement[bool] = Interaction.queue.in_(list(state.skills))
        if domain.overflow_allowed(state, overflow):
            eligible = or_(eligible, Interaction.escalated)
        declined = exists().where(
            Assignment.interaction_id == Interaction.id,
            Assignment.agent_id == agent.id,
            Assignment.status == "rejected",
        )
        work = await session.scalar(
            select(Interaction)
            .where(
                Interaction.status == "queued",
                Interaction.channel.in_(sorted(channels)),
                eligible,
                ~declined,
            )
            .order_by(
                Interaction.rank, Interaction.due_at.asc().nulls_last(), Interaction.received_at
            )
            .limit(1)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if work is None:
            return offered
        await _offer(session, interaction=work, agent=agent, settings=settings)
        load = {**load, work.channel: load.get(work.channel, 0) + 1}
        offered += 1


async def after_commit(
    sessionmaker: async_sessionmaker[AsyncSession], follow: Follow, *, settings: Settings
) -> None:
    """Offer freed work and fill freed agents, each in a transaction of its own."""
    for interaction_id in follow.interactions:
        async with sessionmaker.begin() as session:
            await offer_waiting(session, interaction_id=interaction_id, settings=settings)
    for agent_id in follow.agents:
        async with sessionmaker.begin() as session:
            await fill_agent(session, agent_id=agent_id, settings=settings)


async def expire_one_offer(session: AsyncSession, *, settings: Settings) -> Follow | None:
    """Time out the oldest expired offer: back to the queue, and its agent set away."""
    now = utcnow()
    assignment = await session.scalar(
        select(Assignment)
        .where(Assignment.status == "offered", Assignment.expires_at <= now)
        .order_by(Assignment.expires_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if assignment is None:
        return None
    interaction, agent = await lock_parts(session, assignment)
    await decline_offer(
        session, assignment, interaction, agent, reason=DeclineReason.TIMED_OUT, now=now
    )
    if agent.status == AgentStatus.AVAILABLE:
        await change_status(session, agent, AgentStatus.AWAY, now=now)
    return Follow(interactions=(interaction.id,))


async def escalate_one(session: AsyncSession, *, settings: Settings) -> bool:
    """Take the next work waiting past the escalation step and offer it to overflow agents too."""
    interaction = await session.scalar(
        select(Interaction)
        .where(
            Interaction.status == "queued",
            Interaction.escalated.is_(False),
            Interaction.escalate_at <= utcnow(),
        )
        .order_by(Interaction.escalate_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if interaction is None:
        return False
    interaction.escalated = True
    await offer_interaction(session, interaction=interaction, settings=settings)
    return True


async def agents_with_room(session: AsyncSession) -> list[str]:
    """List available agents, for the sweep that catches work a race left unoffered."""
    return list(
        await session.scalars(
            select(Agent.id).where(Agent.status == AgentStatus.AVAILABLE).order_by(Agent.id)
        )
    )
