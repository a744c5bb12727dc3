"""Request and response bodies of routing's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from atende_events.demand_types import demand_codes
from atende_events.intake import Channel
from atende_events.routing import AgentStatus, LegalBasis, Outcome, Resolution

Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Proficiency = Annotated[int, Field(ge=1, le=5, description="1 (learning) to 5 (expert).")]
Capacity = Annotated[int, Field(ge=0, le=50, description="Interactions at once on the channel.")]
Notes = Annotated[str, Field(min_length=1, max_length=20_000)]
Answer = Annotated[str, Field(min_length=2, max_length=20_000)]


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgentIn(_In):
    """An agent's profile: skills per queue and capacity per channel."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    skills: dict[Code, Proficiency] = Field(
        min_length=1, examples=[{"autorizacoes": 5, "geral": 3}]
    )
    capacity: dict[Channel, Capacity] = Field(min_length=1, examples=[{"phone": 1, "chat": 3}])


class StatusIn(_In):
    """The agent's new status."""

    status: AgentStatus


class ActorIn(_In):
    """The agent acting on an assignment."""

    agent_id: Code


class OptionalActorIn(_In):
    """Optionally the agent acting; when given it must be the assignment's agent."""

    agent_id: Code | None = None


class TransferIn(OptionalActorIn):
    """Hand the interaction to another queue, with context for the next agent."""

    to_queue: Code
    reason_code: Code | None = None
    notes: Notes | None = None


class CompleteIn(OptionalActorIn):
    """Finish the work: answer the request (resolved), or give it back to a queue (unresolved).

    `resolved` records the conclusive answer: `outcome` and the written `answer` the person
    receives, and for a denial or a partial authorisation `denial_reason` and `legal_basis`.
    `unresolved` records no answer: the interaction waits again in its queue (or `to_queue`),
    its deadlines running.
    """

    resolution: Resolution
    sensitive: bool = False
    reason_code: Code | None = None
    notes: Notes | None = None
    """Context for colleagues; never shown to the person."""
    outcome: Outcome | None = None
    answer: Answer | None = None
    """The written answer, in plain language, as the person receives it."""
    denial_reason: Code | None = None
    legal_basis: LegalBasis | None = None
    """The contract clause or legal provision behind a denial."""
    to_queue: Code | None = None
    """Where unresolved work waits again (a supervisor's queue, say); its own queue if absent."""


class ReopenIn(_In):
    """Reopen an answered interaction whose answer was contested."""

    agent_id: Code
    """The agent or supervisor who reopens it."""
    reason_code: Code
    notes: Notes | None = None
    to_queue: Code | None = None
    """The queue that answers again; the queue that answered if absent."""


class ReclassifyIn(_In):
    """Correct the demand type of an interaction: its queue and deadlines follow."""

    demand_type: Code
    """A code of the demand taxonomy (`GET /v1/demand-types` at intake)."""
    reason_code: Code
    """Why it is corrected (e.g. `misclassified`, `new_information`)."""
    agent_id: Code
    """The agent or supervisor who corrects it."""
    notes: Notes | None = None

    @field_validator("demand_type")
    @classmethod
    def _known_demand_type(cls, value: str) -> str:
        """Refuse a demand type the taxonomy does not list, naming the ones it does."""
        if value not in demand_codes():
            raise ValueError(f"unknown demand type {value!r}; allowed: {', '.join(demand_codes())}")
        return value


class AgentOut(BaseModel):
    """An agent as routing knows it."""

    id: str
    name: str | None
    status: AgentStatus
    skills: dict[str, int]
    capacity: dict[str, int]
    load: dict[str, int]
    """Open offers and assignments per channel."""
    idle_since: datetime | None


class NoteOut(BaseModel):
    """Context an agent left."""

    assignment_id: UUID
    agent_id: str
    kind: str
    notes: str
    created_at: datetime


class AssignmentOut(BaseModel):
    """An offer or assignment."""

    id: UUID
    interaction_id: UUID
    agent_id: str
    queue: str
    channel: str
    status: str
    offered_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    resolution: str | None


class InteractionContext(BaseModel):
    """What the agent sees of the interaction: classification, notes and earlier assignments."""

    id: UUID
    protocol: str
    channel: str
    party_kind: str
    party_ref: str
    priority: str
    demand_type: str
    queue: str
    matched_rule: str | None
    status: str
    received_at: datetime
    queued_at: datetime
    due_at: datetime | None
    breached: bool
    notes: list[NoteOut]
    assignments: list[AssignmentOut]
    """Every offer and assignment so far, oldest first."""


class AssignmentView(AssignmentOut):
    """An assignment with the whole context of its interaction."""

    interaction: InteractionContext


class AgentAssignments(BaseModel):
    """An agent's open offers and assignments."""

    agent_id: str
    assignments: list[AssignmentOut]


class QueueOut(BaseModel):
    """The figures of one queue now."""

    queue: str
    waiting: int
    """Interactions queued or offered, not yet accepted."""
    oldest_wait_seconds: float | None
    agents_available: int
    """Available agents with the queue's skill."""
    assigned_today: int
    resolved_today: int


class Queues(BaseModel):
    """Every queue's figures."""

    queues: list[QueueOut]
