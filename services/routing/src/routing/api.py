"""Routing's HTTP API; each route opens and commits the transaction of its request.

A write that loses a race to a concurrent transaction (a deadlock, a serialization failure) is
run again by `in_transaction`; what the client then sees is its outcome, never a false outage.

Work an action frees (a rejected offer, a transfer, a completed assignment, an agent who became
available) is offered right after the commit, so no agent waits for a polling tick.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.auth import require_scope
from atende_events.db import in_transaction
from atende_events.runtime import Runtime
from routing import service
from routing.config import Settings
from routing.domain import RuleBook
from routing.schemas import (
    ActorIn,
    AgentAssignments,
    AgentIn,
    AgentOut,
    AssignmentOut,
    AssignmentView,
    CompleteIn,
    InteractionContext,
    OptionalActorIn,
    Queues,
    ReclassifyIn,
    ReopenIn,
    StatusIn,
    TransferIn,
)

router = APIRouter(prefix="/v1")

CanWriteAgents = Depends(require_scope("agents:write"))
CanReadAgents = Depends(require_scope("agents:read"))
CanWriteAssignments = Depends(require_scope("assignments:write"))
CanReadQueues = Depends(require_scope("queues:read"))

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown agent or assignment."}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown assignment."},
    409: {"description": "Another agent's assignment, or not in a state that allows this."},
}


async def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """Give the session factory of the running service."""
    runtime: Runtime = request.app.state.runtime
    return runtime.sessionmaker


async def settings_of(request: Request) -> Settings:
    """Give the settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def book_of(request: Request) -> RuleBook:
    """Give the routing rules loaded at start."""
    book: RuleBook = request.app.state.rule_book
    return book


AgentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(sessions)]
AppSettings = Annotated[Settings, Depends(settings_of)]
Book = Annotated[RuleBook, Depends(book_of)]


@router.put(
    "/agents/{agent_id}",
    response_model=AgentOut,
    dependencies=[CanWriteAgents],
    summary="Create or update an agent: skills (queue -> proficiency 1-5), capacity per channel.",
    responses={422: {"description": "Unknown queue, proficiency or capacity out of range."}},
)
async def put_agent(
    agent_id: AgentId,
    body: AgentIn,
    response: Response,
    sessionmaker: Sessions,
    settings: AppSettings,
    book: Book,
) -> AgentOut:
    """Create (201, offline) or update (200) an agent."""
    agent, created, follow = await in_transaction(
        sessionmaker,
        lambda session: service.put_agent(session, agent_id=agent_id, profile=body, book=book),
    )
    await service.after_commit(sessionmaker, follow, settings=settings)
    response.status_code = 201 if created else 200
    return agent


@router.get(
    "/agents/{agent_id}",
    response_model=AgentOut,
    dependencies=[CanReadAgents],
    summary="An agent with its status and load per channel.",
    responses=NOT_FOUND,
)
async def get_agent(agent_id: AgentId, sessionmaker: Sessions) -> AgentOut:
    """Show an agent."""
    async with sessionmaker.begin() as session:
        return await service.get_agent(session, agent_id=agent_id)


@router.put(
    "/agents/{agent_id}/status",
    response_model=AgentOut,
    dependencies=[CanWriteAgents],
    summary="Set an agent available, away or offline.",
    responses=NOT_FOUND,
)
async def put_status(
    agent_id: AgentId, body: StatusIn, sessionmaker: Sessions, settings: AppSettings
) -> AgentOut:
    """Change an agent's status; an available agent is offered waiting work at once."""
    agent, follow = await in_transaction(
        sessionmaker,
        lambda session: service.set_status(session, agent_id=agent_id, status=body.status),
    )
    await service.after_commit(sessionmaker, follow, settings=settings)
    return agent


@router.get(
    "/agents/{agent_id}/assignments",
    response_model=AgentAssignments,
    dependencies=[CanReadAgents],
    summary="An agent's open offers and assignments.",
    responses=NOT_FOUND,
)
async def get_agent_assignments(agent_id: AgentId, sessionmaker: Sessions) -> AgentAssignments:
    """List what the agent is offered or handles now."""
    async with sessionmaker.begin() as session:
        return await service.agent_assignments(session, agent_id=agent_id)


@router.get(
    "/assignments/{assignment_id}",
    response_model=AssignmentView,
    dependencies=[CanReadAgents],
    summary="An assignment with its interaction's context: notes and earlier assignments.",
    responses=NOT_FOUND,
)
async def get_assignment(assignment_id: UUID, sessionmaker: Sessions) -> AssignmentView:
    """Show an assignment and everything the agent needs to know."""
    async with sessionmaker.begin() as session:
        return await service.assignment_view(session, assignment_id=assignment_id)


@router.post(
    "/assignments/{assignment_id}/accept",
    response_model=AssignmentOut,
    dependencies=[CanWriteAssignments],
    summary="The offered agent accepts.",
    responses=CONFLICT,
)
async def post_accept(assignment_id: UUID, body: ActorIn, sessionmaker: Sessions) -> AssignmentOut:
    """Accept an offer."""
    return await in_transaction(
        sessionmaker,
        lambda session: service.accept(
            session, assignment_id=assignment_id, agent_id=body.agent_id
        ),
    )


@router.post(
    "/assignments/{assignment_id}/reject",
    response_model=AssignmentOut,
    dependencies=[CanWriteAssignments],
    summary="The offered agent rejects; the work goes to another agent.",
    responses=CONFLICT,
)
async def post_reject(
    assignment_id: UUID, body: ActorIn, sessionmaker: Sessions, settings: AppSettings
) -> AssignmentOut:
    """Reject an offer."""
    assignment, follow = await in_transaction(
        sessionmaker,
        lambda session: service.reject(
            session, assignment_id=assignment_id, agent_id=body.agent_id
        ),
    )
    await service.after_commit(sessionmaker, follow, settings=settings)
    return assignment


@router.post(
    "/assignments/{assignment_id}/wait",
    response_model=AssignmentOut,
    dependencies=[CanWriteAssignments],
    summary="Wait for the customer (operational clocks pause).",
    responses=CONFLICT,
)
async def post_wait(
    assignment_id: UUID, sessionmaker: Sessions, body: OptionalActorIn | None = None
) -> AssignmentOut:
    """Wait for the customer."""
    agent_id = body.agent_id if body else None
    return await in_transaction(
        sessionmaker,
        lambda session: service.wait(session, assignment_id=assignment_id, agent_id=agent_id),
    )


@router.post(
    "/assignments/{assignment_id}/resume",
    response_model=AssignmentOut,
    dependencies=[CanWriteAssignments],
    summary="The customer came back; the agent resumes.",
    responses=CONFLICT,
)
async def post_resume(
    assignment_id: UUID, sessionmaker: Sessions, body: OptionalActorIn | None = None
) -> AssignmentOut:
    """Resume a waiting assignment."""
    agent_id = body.agent_id if body else None
    return await in_transaction(
        sessionmaker,
        lambda session: service.resume(session, assignment_id=assignment_id, agent_id=agent_id),
    )


@router.post(
    "/assignments/{assignment_id}/transfer",
    response_model=AssignmentOut,
    dependencies=[CanWriteAssignments],
    summary="Transfer to another queue with the whole context.",
    responses={**CONFLICT, 422: {"description": "Unknown queue."}},
)
async def post_transfer(
    assignment_id: UUID, body: TransferIn, sessionmaker: Sessions, settings: AppSettings, book: Book
) -> AssignmentOut:
    """Transfer the interaction to another queue."""
    assignment, follow = await in_transaction(
        sessionmaker,
        lambda session: service.transfer(
            session, assignment_id=assignment_id, request=body, book=book, settings=settings
        ),
    )
    await service.after_commit(sessionmaker, follow, settings=settings)
    return assignment


@router.post(
    "/assignments/{assignment_id}/complete",
    response_model=AssignmentOut,
    dependencies=[CanWriteAssignments],
    summary="Answer (resolved: emits interaction.resolved) or hand back to a queue (unresolved: "
    "emits interaction.transferred).",
    responses={
        **CONFLICT,
        422: {
            "description": "A resolved completion without outcome or answer, a holding note as "
            "the answer, a denial without reason or legal basis, or a bad reason_code or queue."
        },
    },
)
async def post_complete(
    assignment_id: UUID, body: CompleteIn, sessionmaker: Sessions, settings: AppSettings, book: Book
) -> AssignmentOut:
    """Complete the interaction."""
    assignment, follow = await in_transaction(
        sessionmaker,
        lambda session: service.complete(
            session, assignment_id=assignment_id, request=body, book=book, settings=settings
        ),
    )
    await service.after_commit(sessionmaker, follow, settings=settings)
    return assignment


@router.post(
    "/interactions/{interaction_id}/reopen",
    response_model=InteractionContext,
    dependencies=[CanWriteAssignments],
    summary="Reopen an answered interaction whose answer was contested; emits "
    "interaction.reopened.",
    responses={
        404: {"description": "Unknown interaction."},
        409: {"description": "The interaction is not answered."},
        422: {"description": "Unknown queue."},
    },
)
async def post_reopen(
    interaction_id: UUID, body: ReopenIn, sessionmaker: Sessions, settings: AppSettings, book: Book
) -> InteractionContext:
    """Put an answered interaction back in a queue for a new answer."""
    context, follow = await in_transaction(
        sessionmaker,
        lambda session: service.reopen(
            session, interaction_id=interaction_id, request=body, book=book, settings=settings
        ),
    )
    await service.after_commit(sessionmaker, follow, settings=settings)
    return context


@router.post(
    "/interactions/{interaction_id}/reclassify",
    response_model=InteractionContext,
    dependencies=[CanWriteAssignments],
    summary="Correct the demand type; the queue follows the rules and sla re-decides the "
    "deadlines from the original receipt. Emits interaction.reclassified.",
    responses={
        404: {"description": "Unknown interaction."},
        422: {"description": "Unknown demand type (the allowed ones are named) or no reason."},
    },
)
async def post_reclassify(
    interaction_id: UUID,
    body: ReclassifyIn,
    sessionmaker: Sessions,
    settings: AppSettings,
    book: Book,
) -> InteractionContext:
    """Correct an interaction's demand type."""
    context, follow = await in_transaction(
        sessionmaker,
        lambda session: service.reclassify(
            session, interaction_id=interaction_id, request=body, book=book
        ),
    )
    await service.after_commit(sessionmaker, follow, settings=settings)
    return context


@router.get(
    "/queues",
    response_model=Queues,
    dependencies=[CanReadQueues],
    summary="Per queue: waiting, oldest wait, agents available, assigned and resolved today.",
)
async def get_queues(sessionmaker: Sessions, settings: AppSettings, book: Book) -> Queues:
    """Show every queue's figures now."""
    async with sessionmaker.begin() as session:
        return await service.queue_figures(session, book=book, settings=settings)
