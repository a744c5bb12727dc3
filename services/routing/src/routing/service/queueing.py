"""Queueing from events, a batch at a time: received work is queued and offered, deadlines kept.

Each use case takes the run of events the consumer hands it and writes set-based (one statement
for many rows), leaving what handling the events one by one in that order would leave.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived, Priority
from atende_events.outbox import add_events
from atende_events.routing import InteractionOffered, InteractionQueued, InteractionTriaged
from atende_events.sla import SlaBreached, SlaClockEvent, SlaMet
from routing import domain
from routing.config import Settings
from routing.domain import AgentState, OfferableWork, QueueDecision, RuleBook
from routing.service.common import event_of, loads_of, utcnow

_DEADLINES = text(
    "SELECT interaction_id, min(due_at) FILTER (WHERE NOT stopped), bool_or(breached)"
    " FROM sla_clocks WHERE interaction_id = ANY(CAST(:ids AS uuid[])) GROUP BY interaction_id"
)

_QUEUE = text(
    "INSERT INTO interactions (id, protocol, channel, party_kind, party_ref, priority,"
    " demand_type, demand_type_inferred, related_interaction_id, queue, matched_rule, status,"
    " rank, due_at, breached, received_at, queued_at, escalate_at, escalated, correlation_id)"
    " SELECT id, protocol, channel, party_kind, party_ref, priority, demand_type,"
    " demand_type_inferred, related_interaction_id, queue, matched_rule, 'queued', rank, due_at,"
    " breached, received_at, CAST(:now AS timestamptz), CAST(:escalate_at AS timestamptz), false,"
    " correlation_id"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:protocols AS text[]), CAST(:channels AS text[]),"
    " CAST(:party_kinds AS text[]), CAST(:party_refs AS text[]), CAST(:priorities AS text[]),"
    " CAST(:demand_types AS text[]), CAST(:inferred AS boolean[]), CAST(:related AS uuid[]),"
    " CAST(:queues AS text[]), CAST(:rules AS text[]), CAST(:ranks AS smallint[]),"
    " CAST(:due AS timestamptz[]), CAST(:breached AS boolean[]),"
    " CAST(:received AS timestamptz[]), CAST(:correlation_ids AS text[]))"
    " AS r(id, protocol, channel, party_kind, party_ref, priority, demand_type,"
    " demand_type_inferred, related_interaction_id, queue, matched_rule, rank, due_at, breached,"
    " received_at, correlation_id)"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)

_AVAILABLE = text(
    "SELECT id, status, skills, capacity, idle_since FROM agents"
    " WHERE status = 'available' AND skills ?| CAST(:queues AS text[]) ORDER BY id"
).columns(skills=JSONB, capacity=JSONB)

# Candidates are read without locks; only the chosen one is locked (SKIP LOCKED) and its load
# counted again after the lock, in a statement of its own so that it sees every commit before.
_LOCK_AGENT = text(
    "SELECT id, status, skills, capacity, idle_since FROM agents WHERE id = :id"
    " FOR UPDATE SKIP LOCKED"
).columns(skills=JSONB, capacity=JSONB)

_ADD_OFFERS = text(
    "INSERT INTO assignments (id, interaction_id, agent_id, queue, channel, status, offered_at,"
    " expires_at)"
    " SELECT id, interaction_id, agent_id, queue, channel, 'offered', offered_at, expires_at"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:interaction_ids AS uuid[]),"
    " CAST(:agent_ids AS text[]), CAST(:queues AS text[]), CAST(:channels AS text[]),"
    " CAST(:offered_at AS timestamptz[]), CAST(:expires_at AS timestamptz[]))"
    " AS o(id, interaction_id, agent_id, queue, channel, offered_at, expires_at)"
)

_MARK_OFFERED = text(
    "UPDATE interactions SET status = 'offered' WHERE id = ANY(CAST(:ids AS uuid[]))"
)

_SET_IDLE_SINCE = text(
    "UPDATE agents AS a SET idle_since = v.idle_since"
    " FROM unnest(CAST(:ids AS text[]), CAST(:idle_since AS timestamptz[])) AS v(id, idle_since)"
    " WHERE a.id = v.id"
)

_KEEP_CLOCKS = text(
    "INSERT INTO sla_clocks (clock_id, interaction_id, due_at, as_of, breached, stopped)"
    " SELECT * FROM unnest(CAST(:clock_ids AS uuid[]), CAST(:interaction_ids AS uuid[]),"
    " CAST(:due AS timestamptz[]), CAST(:as_of AS timestamptz[]), CAST(:breached AS boolean[]),"
    " CAST(:stopped AS boolean[]))"
    " ON CONFLICT (clock_id) DO UPDATE SET"
    " due_at = CASE WHEN excluded.as_of >= sla_clocks.as_of"
    " THEN excluded.due_at ELSE sla_clocks.due_at END,"
    " as_of = greatest(sla_clocks.as_of, excluded.as_of),"
    " breached = sla_clocks.breached OR excluded.breached,"
    " stopped = sla_clocks.stopped OR excluded.stopped"
)

_LOCK_INTERACTIONS = text(
    "SELECT id, priority, channel, queue, demand_type, due_at, breached, rank FROM interactions"
    " WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR UPDATE"
)

_RERANK = text(
    "UPDATE interactions AS i SET due_at = v.due_at, breached = v.breached, rank = v.rank"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:due AS timestamptz[]),"
    " CAST(:breached AS boolean[]), CAST(:ranks AS smallint[])) AS v(id, due_at, breached, rank)"
    " WHERE i.id = v.id"
)


@dataclass(frozen=True)
class Queued:
    """Waiting work, as its offer needs it."""

    interaction_id: UUID
    queue: str
    channel: str
    correlation_id: str | None
    escalated: bool = False
    declined_by: frozenset[str] = frozenset()
    """Agents that rejected it: it is not offered to them again."""


@dataclass
class Offers:
    """Offers made in a batch, written together at its end; what they add to the agents."""

    made: list[InteractionOffered] = field(default_factory=list)
    correlation_ids: list[str | None] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    locked: dict[str, AgentState] = field(default_factory=dict)
    """Agents this transaction holds, as they stand with the batch's offers."""

    def events(self) -> list[Envelope[EventData]]:
        """The offers as outbox events, in the order they were made."""
        return [
            event_of(offer, correlation_id=correlation_id)
            for offer, correlation_id in zip(self.made, self.correlation_ids, strict=True)
        ]


async def _deadlines(
    session: AsyncSession, interaction_ids: Sequence[UUID]
) -> dict[UUID, tuple[datetime | None, bool]]:
    rows = await session.execute(_DEADLINES, {"ids": list(interaction_ids)})
    return {row[0]: (row[1], bool(row[2])) for row in rows}


def _contact(received: InteractionReceived) -> domain.Contact:
    return domain.Contact(
        channel=received.channel.value,
        party_kind=received.party_kind.value,
        priority=received.priority.value,
        demand_type=received.demand_type,
        related=received.related_interaction_id is not None,
        text=received.content or "",
    )


def _columns(
    events: Sequence[Envelope[InteractionReceived]],
    decisions: Mapping[UUID, QueueDecision],
    deadlines: Mapping[UUID, tuple[datetime | None, bool]],
) -> dict[str, list[Any]]:
    """The interactions' rows as the arrays `_QUEUE` takes, one per column."""
    columns: dict[str, list[Any]] = defaultdict(list)
    for event in events:
        received, decision = event.data, decisions[event.data.interaction_id]
        due_at, breached = deadlines.get(received.interaction_id, (None, False))
        rank = domain.rank_of(
            priority=decision.priority,
            channel=received.channel.value,
            queue=decision.queue,
            demand_type=decision.demand_type,
            breached=breached,
        )
        for name, value in (
            ("ids", received.interaction_id),
            ("protocols", received.protocol),
            ("channels", received.channel.value),
            ("party_kinds", received.party_kind.value),
            ("party_refs", received.party_ref),
            ("priorities", decision.priority),
            ("demand_types", decision.demand_type),
            ("inferred", decision.demand_type_inferred),
            ("related", received.related_interaction_id),
            ("queues", decision.queue),
            ("rules", decision.matched_rule),
            ("ranks", rank),
            ("due", due_at),
            ("breached", breached),
            ("received", received.received_at),
            ("correlation_ids", event.correlationid),
        ):
            columns[name].append(value)
    return columns


async def queue_received(
    session: AsyncSession,
    *,
    events: Sequence[Envelope[InteractionReceived]],
    book: RuleBook,
    settings: Settings,
) -> None:
    """Classify received interactions, queue them, and offer each to the best agent at once."""
    first: dict[UUID, Envelope[InteractionReceived]] = {}
    for event in events:
        # The same interaction again under another event id is queued once, by the first.
        first.setdefault(event.data.interaction_id, event)
    if not first:
        return
    # One model call for the whole run (a tenth of the cost per contact of one call each).
    classified = domain.classify_all([_contact(e.data) for e in first.values()], book)
    decisions = dict(zip(first, classified, strict=True))
    deadlines = await _deadlines(session, list(first))
    now = utcnow()
    # Rows in key order, so that two transactions inserting the same ones never deadlock.
    rows = _columns([first[key] for key in sorted(first)], decisions, deadlines)
    inserted = set(
        await session.scalars(
            _QUEUE,
            {
                "now": now,
                "escalate_at": now + timedelta(seconds=settings.escalation_after),
                **rows,
            },
        )
    )
    queued: list[Queued] = []
    outgoing: list[Envelope[EventData]] = []
    for interaction_id, event in first.items():  # in the order they came
        if interaction_id not in inserted:
            continue  # queued by an earlier batch
        received, decision = event.data, decisions[interaction_id]
        if decision.priority_raised:
            # Why it is urgent, before the queueing that carries the raised priority.
            outgoing.append(
                event_of(
                    InteractionTriaged(
                        occurred_at=now,
                        interaction_id=interaction_id,
                        flags=decision.flags,
                        priority_before=received.priority,
                        priority_after=Priority(decision.priority),
                        demand_type=decision.demand_type,
                    ),
                    correlation_id=event.correlationid,
                )
            )
        outgoing.append(
            event_of(
                InteractionQueued(
                    occurred_at=now,
                    interaction_id=interaction_id,
                    queue=decision.queue,
                    priority=Priority(decision.priority),
                    demand_type=decision.demand_type,
                    demand_type_inferred=decision.demand_type_inferred,
                    matched_rule=decision.matched_rule,
                ),
                correlation_id=event.correlationid,
            )
        )
        queued.append(
            Queued(interaction_id, decision.queue, received.channel.value, event.correlationid)
        )
    offers = await offer_work(session, queued, settings=settings)
    await add_events(session, [*outgoing, *offers.events()])


def agent_state(row: Any, load: dict[str, int]) -> AgentState:
    return AgentState(
        id=row.id,
        status=row.status,
        skills={skill: int(level) for skill, level in row.skills.items()},
        capacity={channel: int(n) for channel, n in row.capacity.items()},
        load=load,
        idle_since=row.idle_since,
    )


async def offer_work(
    session: AsyncSession, queued: Sequence[Queued], *, settings: Settings
) -> Offers:
    """Offer work the caller holds, in order, each to the best agent that can take it.

    Candidates are read without locks; only the chosen one is locked (SKIP LOCKED) and checked
    again under the lock, falling back to the next best. An agent whose state is changing (a
    completion, a status change) fills itself after that commit, and the sweep catches the rare
    race between the two; waiting here would serialise queueing behind agents' actions. Later
    work sees the agents as the earlier offers left them. The offers' rows are written here;
    their events (`Offers.events`) are the caller's to add.
    """
    offers = Offers()
    if not queued:
        return offers
    overflow = settings.overflow()
    skills = {work.queue for work in queued}
    if any(work.escalated for work in queued):
        skills.add(overflow.skill)  # escalated work may go to the overflow skill's agents too
    available = (await session.execute(_AVAILABLE, {"queues": sorted(skills)})).all()
    if not available:
        return offers  # no agent may take any of this work: it waits for an agent to fill
    loads = await loads_of(session, [row.id for row in available])
    agents = {row.id: agent_state(row, loads[row.id]) for row in available}
    for item in queued:
        work = OfferableWork(
            queue=item.queue,
            channel=item.channel,
            escalated=item.escalated,
            declined_by=item.declined_by,
        )
        candidates = list(agents.values())
        while (chosen := domain.choose_agent(work, candidates, overflow)) is not None:
            fresh = await _lock_agent(session, chosen.id, offers)
            if fresh is not None:
                agents[fresh.id] = fresh
                if domain.can_take(fresh, work, overflow):
                    agents[fresh.id] = note_offer(item, fresh, offers, settings=settings)
                    break
            candidates = [agent for agent in candidates if agent.id != chosen.id]
    if offers.made:
        await write_offers(session, offers)
    return offers


async def _lock_agent(session: AsyncSession, agent_id: str, offers: Offers) -> AgentState | None:
    """Lock the agent (unless another transaction holds it) and count its open work anew."""
    if agent_id in offers.locked:
        # Held since an earlier offer of this batch: nobody else changed it since.
        return offers.locked[agent_id]
    row = (await session.execute(_LOCK_AGENT, {"id": agent_id})).one_or_none()
    if row is None:
        return None
    state = agent_state(row, (await loads_of(session, [agent_id]))[agent_id])
    offers.locked[agent_id] = state
    return state


def note_offer(
    item: Queued, agent: AgentState, offers: Offers, *, settings: Settings
) -> AgentState:
    """Note an offer of the work to the agent; give the agent as it stands with it."""
    now = utcnow()  # read after the locks were granted, so an offer never predates a release
    offers.made.append(
        InteractionOffered(
            occurred_at=now,
            interaction_id=item.interaction_id,
            assignment_id=uuid4(),
            agent_id=agent.id,
            queue=item.queue,
            expires_at=now + timedelta(seconds=settings.offer_timeout),
        )
    )
    offers.correlation_ids.append(item.correlation_id)
    offers.channels.append(item.channel)
    taken = replace(
        agent,
        load={**agent.load, item.channel: agent.load.get(item.channel, 0) + 1},
        idle_since=now,
    )
    offers.locked[agent.id] = taken
    return taken


async def write_offers(session: AsyncSession, offers: Offers) -> None:
    made = offers.made
    await session.execute(
        _ADD_OFFERS,
        {
            "ids": [offer.assignment_id for offer in made],
            "interaction_ids": [offer.interaction_id for offer in made],
            "agent_ids": [offer.agent_id for offer in made],
            "queues": [offer.queue for offer in made],
            "channels": offers.channels,
            "offered_at": [offer.occurred_at for offer in made],
            "expires_at": [offer.expires_at for offer in made],
        },
    )
    await session.execute(_MARK_OFFERED, {"ids": [offer.interaction_id for offer in made]})
    idle_since = {offer.agent_id: offer.occurred_at for offer in made}  # each agent's last offer
    await session.execute(
        _SET_IDLE_SINCE,
        {"ids": sorted(idle_since), "idle_since": [idle_since[a] for a in sorted(idle_since)]},
    )


@dataclass(frozen=True)
class _Clock:
    """A clock's row as a run of its events leaves it."""

    clock_id: UUID
    interaction_id: UUID
    due_at: datetime
    as_of: datetime
    breached: bool
    stopped: bool

    def then(self, later: _Clock) -> _Clock:
        """The row after a later event: the newest deadline wins; breached and met stay."""
        return replace(
            self,
            due_at=later.due_at if later.as_of >= self.as_of else self.due_at,
            as_of=max(self.as_of, later.as_of),
            breached=self.breached or later.breached,
            stopped=self.stopped or later.stopped,
        )


async def note_deadlines(session: AsyncSession, *, clocks: Sequence[SlaClockEvent]) -> None:
    """Keep clocks' latest deadlines and re-rank their interactions, whichever arrived first."""
    merged: dict[UUID, _Clock] = {}
    for clock in clocks:
        noted = _Clock(
            clock_id=clock.clock_id,
            interaction_id=clock.interaction_id,
            due_at=clock.due_at,
            as_of=clock.occurred_at,
            breached=isinstance(clock, SlaBreached),
            stopped=isinstance(clock, SlaMet),
        )
        earlier = merged.get(clock.clock_id)
        # One statement cannot update a row twice: a clock's events are folded into one row.
        merged[clock.clock_id] = noted if earlier is None else earlier.then(noted)
    if not merged:
        return
    rows = [merged[clock_id] for clock_id in sorted(merged)]
    await session.execute(
        _KEEP_CLOCKS,
        {
            "clock_ids": [row.clock_id for row in rows],
            "interaction_ids": [row.interaction_id for row in rows],
            "due": [row.due_at for row in rows],
            "as_of": [row.as_of for row in rows],
            "breached": [row.breached for row in rows],
            "stopped": [row.stopped for row in rows],
        },
    )
    ids = sorted({clock.interaction_id for clock in clocks})
    # Clocks of interactions not here yet are kept, and applied when the interaction arrives.
    known = (await session.execute(_LOCK_INTERACTIONS, {"ids": ids})).all()
    if not known:
        return
    deadlines = await _deadlines(session, [row.id for row in known])
    changed: list[tuple[UUID, datetime | None, bool, int]] = []
    for row in known:
        due_at, breached = deadlines.get(row.id, (None, False))
        rank = domain.rank_of(
            priority=row.priority,
            channel=row.channel,
            queue=row.queue,
            demand_type=row.demand_type,
            breached=breached,
        )
        if (due_at, breached, rank) != (row.due_at, row.breached, row.rank):
            changed.append((row.id, due_at, breached, rank))
    if changed:
        await session.execute(
            _RERANK,
            {
                "ids": [c[0] for c in changed],
                "due": [c[1] for c in changed],
                "breached": [c[2] for c in changed],
                "ranks": [c[3] for c in changed],
            },
        )
