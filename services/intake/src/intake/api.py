"""Intake's HTTP API; each route opens and commits the transaction of its request."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atende_events.auth import require_scope
from atende_events.demand_types import taxonomy
from atende_events.intake import PartyKind
from atende_events.limits import rate_limited
from atende_events.runtime import Runtime
from atende_events.web import ProblemError, correlation_id
from intake import domain, service
from intake.config import Settings
from intake.registrar import Registrar
from intake.schemas import (
    DemandTypes,
    InteractionCreated,
    InteractionIn,
    InteractionOut,
    PartyOut,
    Timeline,
    Tracking,
)

REPLAYED_HEADER = "Idempotent-Replayed"
_TOKEN = re.compile(r"^[!-~]{1,256}$")
_PARTY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

INTERACTIONS_REGISTERED = Counter(
    "atende_intake_interactions_registered_total",
    "Interactions registered (committed), by channel; replays are not counted.",
    ["channel"],
)

router = APIRouter(prefix="/v1")

CanWrite = Depends(require_scope("interactions:write"))
CanRead = Depends(require_scope("interactions:read"))
CanReadParties = Depends(require_scope("parties:read"))
CanTrack = Depends(require_scope("track:read"))
LimitInteractions = Depends(rate_limited("interactions"))
LimitTracking = Depends(rate_limited("track"))


async def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """Give the session factory of the running service."""
    runtime: Runtime = request.app.state.runtime
    return runtime.sessionmaker


async def settings_of(request: Request) -> Settings:
    """Give the settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


PartyIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(sessions)]
AppSettings = Annotated[Settings, Depends(settings_of)]


def _client_of(request: Request) -> str:
    """Name the caller by a hash of its API key, so idempotency keys are per caller."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    return hashlib.sha256(token.encode()).hexdigest()


def _correlation() -> str | None:
    cid = correlation_id.get()
    return cid if cid is not None and _TOKEN.fullmatch(cid) else None


@router.post(
    "/interactions",
    status_code=201,
    response_model=InteractionCreated,
    dependencies=[LimitInteractions, CanWrite],
    summary="Register an interaction from any channel and give it a protocol number.",
    responses={
        200: {
            "description": "A retry with the same Idempotency-Key and body: the first answer "
            "and its Location, marked Idempotent-Replayed: true."
        },
        409: {"description": "The Idempotency-Key was used with another body."},
        413: {"description": "The body is too large."},
        422: {"description": "Invalid fields, an unknown related_protocol, or unknown fields."},
        429: {"description": "Too many requests from this key or address; see Retry-After."},
        503: {"description": "The database is unreachable; nothing was recorded. Retry."},
    },
)
async def post_interaction(
    body: InteractionIn,
    request: Request,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    ] = None,
) -> JSONResponse:
    """Register an interaction; answer 201 only after it and its event are committed.

    With an `Idempotency-Key`, a retry of the same body answers 200 with the first answer, its
    `Location` and the header `Idempotent-Replayed: true`; the same key with another body
    answers 409.
    """
    try:
        return await _register(body, request, idempotency_key)
    except service.IdempotencyConflict:
        raise ProblemError(
            409,
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request body.",
        ) from None
    except domain.OccurredAtRefused as refused:
        raise _invalid_field("occurred_at", str(refused), "datetime_out_of_range") from None
    except service.UnknownRelatedProtocol:
        raise _invalid_field(
            "related_protocol", "No interaction has this protocol.", "unknown_protocol"
        ) from None
    except service.DailyProtocolsExhausted as exhausted:
        raise ProblemError(
            503, "Protocol numbers exhausted", str(exhausted), headers={"Retry-After": "60"}
        ) from None


async def _register(
    body: InteractionIn,
    request: Request,
    idempotency_key: str | None,
) -> JSONResponse:
    registrar: Registrar = request.app.state.registrar
    outcome = await registrar.register(
        service.Registration(
            request=body,
            client=_client_of(request),
            idempotency_key=idempotency_key,
            fingerprint=domain.fingerprint(body.model_dump(mode="json")),
            now=datetime.now(UTC),
            correlation_id=_correlation(),
        )
    )
    if isinstance(outcome, Exception):
        raise outcome
    if isinstance(outcome, service.Replay):
        return _replay(outcome.answer, outcome.status_code)
    answer = outcome.model_dump(mode="json")
    INTERACTIONS_REGISTERED.labels(body.channel.value).inc()
    return JSONResponse(answer, status_code=201, headers={"Location": _location_of(answer)})


def _replay(answer: dict[str, Any], status_code: int | None) -> JSONResponse:
    """Give the first answer again, with its Location, as 200 and marked as a replay.

    Only a 201 is ever kept (refusals roll the key back with everything else), so the status
    kept is used only to tell whether the first answer had a Location. The replay itself is 200
    as documented: clients tell "created now" from "created by an earlier try" by the status.
    """
    headers = {REPLAYED_HEADER: "true"}
    if status_code == 201:
        headers["Location"] = _location_of(answer)
    return JSONResponse(answer, status_code=200, headers=headers)


def _location_of(answer: dict[str, Any]) -> str:
    return f"/v1/interactions/{answer['id']}"


def _invalid_field(field: str, message: str, error_type: str) -> ProblemError:
    """Build the 422 problem that names one bad field, shaped like request validation errors."""
    return ProblemError(
        422,
        "Invalid request",
        f"Invalid fields: {field}.",
        errors=[{"field": field, "location": "body", "message": message, "type": error_type}],
    )


@router.get(
    "/interactions/{reference}",
    response_model=InteractionOut,
    dependencies=[CanRead],
    summary="An interaction by id or protocol, with its status, deadlines and history.",
    responses={404: {"description": "No interaction with this id or protocol."}},
)
async def get_interaction(reference: str, sessionmaker: Sessions) -> InteractionOut:
    """Show one interaction, found by its id or its protocol number."""
    async with sessionmaker.begin() as session:
        interaction = await service.find_interaction(session, reference)
        if interaction is None:
            raise ProblemError(404, "Not found", "No interaction has this id or protocol.")
        return await service.interaction_view(session, interaction)


@router.get(
    "/parties/{kind}/{party_id}/timeline",
    response_model=Timeline,
    dependencies=[CanRead],
    summary="Every interaction of a party across channels, newest first (cursor pagination).",
)
async def get_timeline(
    kind: PartyKind,
    party_id: PartyIdPath,
    sessionmaker: Sessions,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Timeline:
    """Page through a party's interactions, newest first."""
    after = None
    if cursor is not None:
        after = domain.decode_cursor(cursor)
        if after is None:
            raise ProblemError(
                422,
                "Invalid request",
                "Invalid fields: cursor.",
                errors=[
                    {
                        "field": "cursor",
                        "location": "query",
                        "message": "Not a cursor this service gave.",
                        "type": "invalid_cursor",
                    }
                ],
            )
    async with sessionmaker.begin() as session:
        return await service.party_timeline(
            session, kind=kind.value, party_id=party_id, cursor=after, limit=limit
        )


@router.get(
    "/parties/{kind}/{party_id}",
    response_model=PartyOut,
    dependencies=[CanReadParties],
    summary="A party's contact data (name, e-mail, phone).",
    responses={404: {"description": "No such party."}},
)
async def get_party(kind: PartyKind, party_id: PartyIdPath, sessionmaker: Sessions) -> PartyOut:
    """Give a party's contact data to a service allowed to contact them."""
    async with sessionmaker.begin() as session:
        party = await service.party_contact(session, kind=kind.value, party_id=party_id)
    if party is None:
        raise ProblemError(404, "Not found", "No party with this kind and id.")
    return party


@router.get(
    "/track/{protocol}",
    response_model=Tracking,
    dependencies=[LimitTracking, CanTrack],
    summary="A person follows their own request: status, queue, dates and deadlines only.",
    responses={
        404: {"description": "No such request for this party."},
        429: {"description": "Too many requests from this key or address."},
    },
)
async def track(
    protocol: str,
    party_id: Annotated[str, Query(min_length=1, max_length=64)],
    sessionmaker: Sessions,
    settings: AppSettings,
    party_kind: Annotated[PartyKind | None, Query()] = None,
) -> Tracking:
    """Show a request to its own party; anyone else learns nothing, not even that it exists.

    A party id is unique only within its kind, so a caller that knows the kind should pass it;
    a wrong kind, like a wrong or malformed party id, answers as an unknown protocol does.
    """
    found = None
    if domain.parse_protocol(protocol) is not None and _PARTY_ID.fullmatch(party_id):
        async with sessionmaker.begin() as session:
            found = await service.tracking(
                session,
                protocol=protocol,
                party_id=party_id,
                party_kind=party_kind.value if party_kind is not None else None,
                queue_labels=settings.queue_labels,
            )
    if found is None:
        raise ProblemError(404, "Not found", "No request with this protocol for this party.")
    return found


@router.get(
    "/track/{protocol}/answer.txt",
    response_class=PlainTextResponse,
    dependencies=[LimitTracking, CanTrack],
    summary="A person's plain-text copy of the answer to their request (same access as tracking).",
    responses={
        200: {"content": {"text/plain": {}}},
        404: {"description": "No such request for this party, or not answered yet."},
        429: {"description": "Too many requests from this key or address."},
    },
)
async def track_answer(
    protocol: str,
    party_id: Annotated[str, Query(min_length=1, max_length=64)],
    sessionmaker: Sessions,
    settings: AppSettings,
    party_kind: Annotated[PartyKind | None, Query()] = None,
) -> PlainTextResponse:
    """Give the latest answer as text to keep; anyone else learns nothing, as with tracking."""
    text = None
    if domain.parse_protocol(protocol) is not None and _PARTY_ID.fullmatch(party_id):
        async with sessionmaker.begin() as session:
            text = await service.tracked_answer_text(
                session,
                protocol=protocol,
                party_id=party_id,
                party_kind=party_kind.value if party_kind is not None else None,
                time_zone=settings.time_zone,
            )
    if text is None:
        raise ProblemError(
            404, "Not found", "No answer to a request with this protocol for this party."
        )
    return PlainTextResponse(
        text,
        headers={
            "Content-Disposition": f'inline; filename="{protocol}-answer.txt"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/demand-types",
    response_model=DemandTypes,
    summary="The demand taxonomy: the codes `demand_type` accepts, with labels and deadlines.",
)
async def get_demand_types() -> DemandTypes:
    """List the demand types, for channel front ends; public reference data, no key needed."""
    book = taxonomy()
    return DemandTypes.model_validate(
        {"version": book.version, "items": [d.model_dump() for d in book.demand_types]}
    )
