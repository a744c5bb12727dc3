"""Offering: offer queued work, fill agents, fire the offer-timeout and escalation timers."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.outbox import add_events
from atende_events.routing import (
    AgentStatus,
    DeclineReason,
)
from routing import domain
from routing.config import Settings
from routing.models import Agent, Assignment, Interaction
from routing.service.common import (
    Follow,
    change_status,
    decline_offer,
    loads_of,
    lock_parts,
    utcnow,
)
from routing.service.queueing import (
    Offers,
    Queued,
    agent_state,
    note_offer,
    offer_work,
    write_offers,
)


async def offer_interaction(
    session: AsyncSession, *, interaction: Interaction, settings: Settings
) -> bool:
    """Offer work the caller holds to the best agent that can take it; tell whether it was."""
    declined = await session.scalars(
        select(Assignment.agent_id).where(
            Assignment.interaction_id == interaction.id, Assignment.status == "rejected"
        )
    )
    work = Queued(
        interaction.id,
        interaction.queue,
        interaction.channel,
        interaction.correlation_id,
        escalated=interaction.escalated,
        declined_by=frozenset(declined),
    )
    offers = await offer_work(session, [work], settings=settings)
    await add_events(session, offers.events())
    return bool(offers.made)


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
    return await offer_interaction(session, interaction=interaction, settings=settings)


# Each channel with room gives its best waiting work, up to the room, in one statement: capacity
# is per channel, so these are the picks of taking the best work with room one at a time.
_WORK_FOR = text(
    "SELECT w.id, w.queue, w.channel, w.correlation_id"
    " FROM unnest(CAST(:channels AS text[]), CAST(:rooms AS int[])) AS c(channel, room)"
    " CROSS JOIN LATERAL ("
    " SELECT i.id, i.queue, i.channel, i.correlation_id, i.rank, i.due_at, i.received_at"
    " FROM interactions AS i"
    " WHERE i.status = 'queued' AND i.channel = c.channel"
    " AND (i.queue = ANY(CAST(:queues AS text[])) OR (CAST(:overflow AS boolean) AND i.escalated))"
    " AND NOT EXISTS (SELECT 1 FROM assignments AS a WHERE a.interaction_id = i.id"
    " AND a.agent_id = :agent_id AND a.status = 'rejected')"
    " ORDER BY i.rank, i.due_at NULLS LAST, i.received_at"
    " LIMIT c.room FOR UPDATE OF i SKIP LOCKED) AS w"
    " ORDER BY w.rank, w.due_at NULLS LAST, w.received_at, w.id"
)

_LOCK_AGENT = text(
    "SELECT id, status, skills, capacity, idle_since FROM agents WHERE id = :id FOR UPDATE"
).columns(skills=JSONB, capacity=JSONB)


async def fill_agent(session: AsyncSession, *, agent_id: str, settings: Settings) -> int:
    """Offer an agent the most urgent eligible waiting work until its free capacity is used."""
    row = (await session.execute(_LOCK_AGENT, {"id": agent_id})).one_or_none()
    if row is None or row.status != AgentStatus.AVAILABLE:
        return 0
    agent = agent_state(row, (await loads_of(session, [agent_id]))[agent_id])
    rooms = {
        channel: capacity - agent.load.get(channel, 0)
        for channel, capacity in sorted(agent.capacity.items())
        if channel in domain.free_channels(agent)
    }
    if not rooms:
        return 0
    work = (
        await session.execute(
            _WORK_FOR,
            {
                "channels": list(rooms),
                "rooms": list(rooms.values()),
                "queues": sorted(agent.skills),
                "overflow": domain.overflow_allowed(agent, settings.overflow()),
                "agent_id": agent_id,
            },
        )
    ).all()
    if not work:
        return 0
    offers = Offers()
    for item in work:
        agent = note_offer(
            Queued(item.id, item.queue, item.channel, item.correlation_id),
            agent,
            offers,
            settings=settings,
        )
    await write_offers(session, offers)
    await add_events(session, offers.events())
    return len(offers.made)


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
