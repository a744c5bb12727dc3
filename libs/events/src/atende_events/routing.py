"""Events the routing service produces: queueing, offers, assignments, resolutions and agents."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from atende_events.envelope import (
    Code,
    Content,
    EventData,
    Seconds,
    UtcDatetime,
    source_of,
)
from atende_events.intake import Channel, PartyKind, PartyRef, Priority
from atende_events.topics import AGENTS, ASSIGNMENTS, INTERACTIONS

SOURCE = source_of("routing")


class DeclineReason(StrEnum):
    """Why an offer did not become an assignment."""

    REJECTED = "rejected"
    TIMED_OUT = "timed_out"


class Resolution(StrEnum):
    """How the agent completed the interaction."""

    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"


class Outcome(StrEnum):
    """What a conclusive answer decided (ANS RN 623/2024: conclusive, reasoned, in writing)."""

    AUTHORISED = "authorised"
    PARTIALLY_AUTHORISED = "partially_authorised"
    DENIED = "denied"
    INFORMED = "informed"
    WITHDRAWN = "withdrawn"


LegalBasis = Annotated[
    str,
    Field(
        min_length=3,
        max_length=200,
        pattern=r"^[\w][\w .,;:/()§º°ª'–\-]*$",
        examples=["Contrato, cláusula 12.3", "Lei 9.656/1998, art. 12, II"],
    ),
]
"""The contract clause or legal provision behind a denial: a citation on one line, not prose."""


class AgentStatus(StrEnum):
    """Whether an agent takes offers."""

    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


class AgentSkill(BaseModel):
    """A skill of an agent and how well the agent masters it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    skill: Code
    proficiency: Annotated[int, Field(ge=1, le=5)]
    """1 (learning) to 5 (expert)."""


class InteractionQueued(EventData):
    """Routing classified the interaction and put it in a queue."""

    event_type = "atende.interaction.queued.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    queue: Code
    priority: Priority
    demand_type: Code
    demand_type_inferred: bool
    """True when routing inferred the demand type from the text, false when it was given."""
    matched_rule: Code | None = None
    """The classification rule that chose the queue; none when the default queue took it."""


class InteractionTriaged(EventData):
    """Triage found clinical red flags (or a request for urgent care) and raised the priority."""

    event_type = "atende.interaction.triaged.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    flags: tuple[Code, ...] = Field(min_length=1)
    """The red flags found (codes of routing's red flag list), or `urgent_care_request`."""
    priority_before: Priority
    """The priority the channel sent."""
    priority_after: Priority
    demand_type: Code
    """The demand type routing queued the interaction with."""


class InteractionOffered(EventData):
    """Routing offered the interaction to an agent."""

    event_type = "atende.interaction.offered.v1"
    topic = ASSIGNMENTS

    interaction_id: UUID
    assignment_id: UUID
    agent_id: Code
    queue: Code
    expires_at: UtcDatetime
    """The offer times out at this moment unless the agent accepts or rejects it first."""


class InteractionOfferDeclined(EventData):
    """An offer ended without an assignment: the agent rejected it or let it time out."""

    event_type = "atende.interaction.offer_declined.v1"
    topic = ASSIGNMENTS

    interaction_id: UUID
    assignment_id: UUID
    agent_id: Code
    reason: DeclineReason


class InteractionAccepted(EventData):
    """An agent accepted the offer and now handles the interaction."""

    event_type = "atende.interaction.accepted.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    assignment_id: UUID
    agent_id: Code
    queue: Code
    wait_seconds: Seconds
    """From queued to accepted (the ASA sample)."""


class InteractionTransferred(EventData):
    """The agent handed the interaction over to a queue, with context.

    The queue is another one, or the same one again when the agent completed the interaction
    unresolved (`reason_code` then says why, `unresolved` by default): the work waits for another
    agent and its clocks keep running.
    """

    event_type = "atende.interaction.transferred.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    assignment_id: UUID
    """The assignment the transfer ended."""
    agent_id: Code
    from_queue: Code
    to_queue: Code
    reason_code: Code | None = None
    content: Content | None = None
    """The context the agent wrote for the next one, so the person need not repeat it."""


class InteractionWaiting(EventData):
    """The agent is waiting for the customer; operational clocks pause."""

    event_type = "atende.interaction.waiting.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    assignment_id: UUID
    agent_id: Code


class InteractionResumed(EventData):
    """The customer came back and the agent resumed the interaction."""

    event_type = "atende.interaction.resumed.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    assignment_id: UUID
    agent_id: Code


class InteractionResolved(EventData):
    """The agent completed the interaction with a conclusive answer or without one."""

    event_type = "atende.interaction.resolved.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    assignment_id: UUID
    agent_id: Code
    queue: Code
    channel: Channel
    """Carried over from the interaction so the survey needs no other event."""
    party_kind: PartyKind
    party_ref: PartyRef
    demand_type: Code
    resolution: Resolution
    handle_seconds: Seconds
    """From accepted to completed (the AHT sample)."""
    first_assignment: bool
    """True when the first agent it was assigned to completed it (an FCR input)."""
    sensitive: bool
    """True when the case is too delicate to survey."""
    reason_code: Code | None = None
    content: Content | None = None
    """The written answer the person receives, when there is an outcome (before answers were
    recorded: the agent's notes)."""
    outcome: Outcome | None = None
    """What the conclusive answer decided; only a resolution with an outcome stops a regulatory
    clock. None on resolutions recorded before answers were (and on unresolved ones)."""
    denial_reason: Code | None = None
    """Why the request was denied (or partially authorised), as a code."""
    legal_basis: LegalBasis | None = None
    """The contract clause or legal provision behind the denial."""


class InteractionReopened(EventData):
    """An answered interaction was contested and goes back to a queue for a new answer."""

    event_type = "atende.interaction.reopened.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    queue: Code
    """The queue it waits in again."""
    agent_id: Code
    """The agent or supervisor who reopened it."""
    reason_code: Code
    content: Content | None = None
    """Why it was reopened, in the words of whoever reopened it."""


class InteractionReclassified(EventData):
    """An agent or supervisor corrected the demand type; the queue may change with it."""

    event_type = "atende.interaction.reclassified.v1"
    topic = INTERACTIONS

    interaction_id: UUID
    previous_demand_type: Code
    demand_type: Code
    """The corrected demand type (of the taxonomy)."""
    reason_code: Code
    agent_id: Code
    """The agent or supervisor who corrected it."""
    queue: Code
    """The queue the interaction belongs to after the correction."""
    previous_queue: Code | None = None
    content: Content | None = None
    """Why it was corrected, in the words of whoever corrected it."""


class AgentStatusChanged(EventData):
    """An agent became available, went away or went offline."""

    event_type = "atende.agent.status_changed.v1"
    topic = AGENTS
    subject_field = "agent_id"

    agent_id: Code
    status: AgentStatus
    previous_status: AgentStatus | None = None
    """None the first time routing sees the agent."""
    skills: tuple[AgentSkill, ...]


EVENTS: tuple[type[EventData], ...] = (
    InteractionQueued,
    InteractionTriaged,
    InteractionOffered,
    InteractionOfferDeclined,
    InteractionAccepted,
    InteractionTransferred,
    InteractionWaiting,
    InteractionResumed,
    InteractionResolved,
    InteractionReopened,
    InteractionReclassified,
    AgentStatusChanged,
)
