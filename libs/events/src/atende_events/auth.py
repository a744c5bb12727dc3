"""Bearer API keys with scopes, shared by every service's HTTP API."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping, Set
from dataclasses import dataclass

from fastapi import Request

from atende_events.web import ProblemError

DEV_KEY_PREFIX = "dev-"


@dataclass(frozen=True)
class Principal:
    """Who is calling: what the audit log records and what limits their reads.

    ``subject`` names the caller without revealing its secret (``key:<digest prefix>`` for an
    API key); ``agent_id`` is set only for a caller that acts as one agent.
    """

    subject: str
    scopes: frozenset[str]
    role: str = "service"
    agent_id: str | None = None


class ApiKeys:
    """The keys a service accepts and the scopes each grants."""

    def __init__(self, keys: Mapping[str, Set[str]]) -> None:
        self._keys = [(_digest(key), frozenset(scopes)) for key, scopes in keys.items()]

    def scopes_of(self, presented: str) -> frozenset[str] | None:
        """Return the scopes of a key, or None when unknown; compares every key in constant time."""
        # Digests have one length, so not even a key's length shows in the time taken.
        candidate = _digest(presented)
        found: frozenset[str] | None = None
        for key, scopes in self._keys:
            # No early exit: the time taken must not tell how much of a key was right.
            if hmac.compare_digest(key, candidate):
                found = scopes
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def refuse_dev_keys(keys: Mapping[str, Set[str]], *, environment: str) -> None:
    """Refuse to start outside development with the placeholder keys the defaults carry."""
    if environment != "development" and any(k.startswith(DEV_KEY_PREFIX) for k in keys):
        raise ValueError(
            f"API keys starting with {DEV_KEY_PREFIX!r} are development placeholders; "
            "configure real keys or set ENVIRONMENT=development"
        )


def require_scope(scope: str) -> Callable[[Request], Awaitable[str]]:
    """A FastAPI dependency: 401 without a known bearer key, 403 when it lacks the scope."""

    async def dependency(request: Request) -> str:
        keys: ApiKeys = request.app.state.api_keys
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        scopes = keys.scopes_of(presented.strip()) if scheme.lower() == "bearer" else None
        if scopes is None:
            raise ProblemError(
                401,
                "Unauthorized",
                "Send a valid API key as 'Authorization: Bearer <key>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope not in scopes:
            raise ProblemError(403, "Forbidden", f"This API key lacks the scope {scope!r}.")
        request.state.principal = Principal(
            subject=f"key:{_digest(presented.strip()).hex()[:12]}", scopes=scopes
        )
        return scope

    return dependency
