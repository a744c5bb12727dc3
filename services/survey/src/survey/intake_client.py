"""Intake's HTTP API as survey uses it: who a surveyed party is, how to reach them, follow-ups.

Events carry only `party_ref`, a pseudonym, so survey finds the party through the interaction:
`GET /v1/interactions/{id}` (scope interactions:read) gives the party's kind and id, the protocol
and the locale; `GET /v1/parties/{kind}/{id}` (scope parties:read) gives the contact data, fetched
at dispatch time and never stored. `POST /v1/interactions` (scope interactions:write) opens the
follow-up. Nothing of this is kept beyond the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from atende_events.intake import Channel

FOLLOWUP_DEMAND_TYPE = "followup"


class IntakeUnavailable(Exception):
    """Intake did not answer usefully; the caller retries later."""


@dataclass(frozen=True)
class SurveyedInteraction:
    """What survey needs of an interaction intake holds."""

    protocol: str
    party_kind: str
    party_id: str
    locale: str | None


@dataclass(frozen=True)
class Contact:
    """How to reach a party; held in memory only while sending."""

    email: str | None
    phone: str | None


def make_client(base_url: str, api_key: str, timeout: float) -> httpx.AsyncClient:
    """Build the HTTP client survey talks to intake with."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=timeout,
    )


async def _get(client: httpx.AsyncClient, path: str, *, shown: str) -> dict[str, Any] | None:
    """GET a document; errors name the route as `shown`, since a path may hold a party's CPF."""
    try:
        answer = await client.get(path)
    except httpx.HTTPError as exc:
        raise IntakeUnavailable(f"GET {shown}: {type(exc).__name__}") from exc
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise IntakeUnavailable(f"GET {shown}: {answer.status_code}")
    document: dict[str, Any] = answer.json()
    return document


async def interaction(
    client: httpx.AsyncClient, interaction_id: UUID
) -> SurveyedInteraction | None:
    """Look up an interaction's protocol, party and locale; None when intake does not know it."""
    path = f"/v1/interactions/{interaction_id}"
    document = await _get(client, path, shown=path)
    if document is None:
        return None
    return SurveyedInteraction(
        protocol=document["protocol"],
        party_kind=document["party"]["kind"],
        party_id=document["party"]["id"],
        locale=document.get("locale"),
    )


async def contact(client: httpx.AsyncClient, *, kind: str, party_id: str) -> Contact | None:
    """Look up a party's e-mail and phone; None when intake does not know the party."""
    document = await _get(client, f"/v1/parties/{kind}/{party_id}", shown=f"/v1/parties/{kind}/…")
    if document is None:
        return None
    return Contact(email=document.get("email"), phone=document.get("phone"))


async def open_followup(
    client: httpx.AsyncClient,
    *,
    followup_id: UUID,
    original: SurveyedInteraction,
    subject: str,
    description: str | None,
) -> UUID:
    """Open the outbound follow-up interaction; the follow-up id makes a retry harmless."""
    body: dict[str, Any] = {
        "channel": Channel.OUTBOUND.value,
        "party": {"kind": original.party_kind, "id": original.party_id},
        "demand_type": FOLLOWUP_DEMAND_TYPE,
        "related_protocol": original.protocol,
        "subject": subject,
    }
    if description:
        body["description"] = description
    if original.locale:
        body["locale"] = original.locale
    try:
        answer = await client.post(
            "/v1/interactions", json=body, headers={"Idempotency-Key": f"followup-{followup_id}"}
        )
    except httpx.HTTPError as exc:
        raise IntakeUnavailable(f"POST /v1/interactions: {exc!r}") from exc
    if answer.status_code not in (200, 201):
        raise IntakeUnavailable(f"POST /v1/interactions: {answer.status_code} {answer.text[:150]}")
    return UUID(answer.json()["id"])
