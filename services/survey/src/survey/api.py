"""Survey's HTTP API: taking a survey by its token, opting out, and the follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.auth import require_scope
from atende_events.limits import rate_limited
from atende_events.web import ProblemError
from survey import service
from survey.domain import Messages, Themes
from survey.schemas import Answered, Followups, ResponseIn, SurveyOut

router = APIRouter(prefix="/v1")

TokenPath = Annotated[str, Path(min_length=1, max_length=200)]
# The public routes take no key: the token is the credential, so guessing is limited per address.
Limited = [Depends(rate_limited("surveys"))]


async def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.runtime.sessionmaker
    return sessionmaker


async def _messages(request: Request) -> Messages:
    messages: Messages = request.app.state.messages
    return messages


async def _themes(request: Request) -> Themes:
    themes: Themes = request.app.state.themes
    return themes


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
Texts = Annotated[Messages, Depends(_messages)]
DriverThemes = Annotated[Themes, Depends(_themes)]

UNKNOWN = ProblemError(404, "Not found", "No survey has this link.")
GONE = ProblemError(410, "Gone", "This survey has expired or was already answered.")


@router.get(
    "/surveys/{token}",
    response_model=SurveyOut,
    dependencies=Limited,
    summary="The questions of a survey, in the person's language.",
    responses={
        404: {"description": "Unknown link."},
        410: {"description": "Expired or answered."},
        429: {"description": "Too many requests from this address; see Retry-After."},
    },
)
async def get_survey(token: TokenPath, sessionmaker: Sessions, messages: Texts) -> SurveyOut:
    """Show the questions of an open survey."""
    async with sessionmaker.begin() as session:
        try:
            return await service.questions(
                session, token=token, messages=messages, now=datetime.now(UTC)
            )
        except service.NotFound:
            raise UNKNOWN from None
        except service.Gone:
            raise GONE from None


@router.post(
    "/surveys/{token}/responses",
    status_code=201,
    dependencies=Limited,
    response_model=Answered,
    summary="Answer a survey: NPS 0-10, optional CSAT 1-5, comment and permission to call back.",
    responses={
        404: {"description": "Unknown link."},
        409: {"description": "Already answered."},
        410: {"description": "Expired."},
        422: {"description": "A score out of range or a comment too long."},
    },
)
async def post_response(
    token: TokenPath, body: ResponseIn, sessionmaker: Sessions, themes: DriverThemes
) -> Answered:
    """Record the one answer a survey takes."""
    async with sessionmaker.begin() as session:
        try:
            return await service.answer(
                session, token=token, response=body, themes=themes, now=datetime.now(UTC)
            )
        except service.NotFound:
            raise UNKNOWN from None
        except service.AlreadyAnswered:
            raise ProblemError(409, "Conflict", "This survey was already answered.") from None
        except service.Gone:
            raise GONE from None


@router.post(
    "/surveys/{token}/opt-out",
    status_code=204,
    dependencies=Limited,
    summary="No more surveys for the person this survey went to.",
    responses={404: {"description": "Unknown link."}},
)
async def post_opt_out(token: TokenPath, sessionmaker: Sessions) -> Response:
    """Stop all future surveys to this party."""
    async with sessionmaker.begin() as session:
        try:
            await service.opt_out(session, token=token, now=datetime.now(UTC))
        except service.NotFound:
            raise UNKNOWN from None
    return Response(status_code=204)


@router.get(
    "/followups",
    response_model=Followups,
    dependencies=[Depends(require_scope("followups:read"))],
    summary="Follow-ups of detractors, newest first, with age and closing reason.",
)
async def get_followups(
    sessionmaker: Sessions,
    status: Literal["open", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Followups:
    """List follow-ups; `open` includes those intake has not opened yet."""
    async with sessionmaker.begin() as session:
        items = await service.list_followups(
            session, status=status, now=datetime.now(UTC), limit=limit
        )
    return Followups(items=items)
