"""Routing's HTTP API; each route opens and commits the transaction of its request.

Work an action frees (a rejected offer, a transfer, a completed assignment, an agent who became
available) is offered right after the commit, so no agent waits for a polling tick.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.auth import require_scope
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
    OptionalActorIn,
    Queues,
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
    async with sessionmaker.begin() as session:
        agent, created, follow = await service.put_agent(
            session, agent_id=agent_id, profile=body, book=book
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
    async with sessionmaker.begin() as session:
        agent, follow = await service.set_status(session, agent_id=agent_id, status=body.status)
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
    async with sessionmaker.begin() as session:
        return await service.accept(session, assignment_id=assignment_id, agent_id=body.agent_id)


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
    async with sessionmaker.begin() as session:
        assignment, follow = await service.reject(
            session, assignment_id=assignment_id, agent_id=body.agent_id
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
    async with sessionmaker.begin() as session:
        return await service.wait(
            session, assignment_id=assignment_id, agent_id=body.agent_id if body else None
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
    async with sessionmaker.begin() as session:
        return await service.resume(
            session, assignment_id=assignment_id, agent_id=body.agent_id if body else None
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
    async with sessionmaker.begin() as session:
        assignment, follow = await service.transfer(
            session, assignment_id=assignment_id, request=body, book=book, settings=settings
        )
    await service.after_commit(sessionmaker, follow, settings=settings)
    return assignment


@router.post(
    "/assignments/{assignment_id}/complete",
    response_model=AssignmentOut,
    dependencies=[CanWriteAssignments],
    summary="Complete with a resolution; emits interaction.resolved.",
    responses={**CONFLICT, 422: {"description": "Missing or unknown reason_code."}},
)
async def post_complete(
    assignment_id: UUID, body: CompleteIn, sessionmaker: Sessions, settings: AppSettings, book: Book
) -> AssignmentOut:
    """Complete the interaction."""
    async with sessionmaker.begin() as session:
        assignment, follow = await service.complete(
            session, assignment_id=assignment_id, request=body, book=book
        )
    await service.after_commit(sessionmaker, follow, settings=settings)
    return assignment


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
