"""What production refuses at start-up: weak or placeholder secrets and default database passwords.

The errors name the variable and the reason, never the value: a start-up log must not become the
place where a secret leaks.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Set

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 96.0
"""Least Shannon estimate of a secret (characters x bits per observed character)."""
MIN_DISTINCT_CHARACTERS = 10

PLACEHOLDER_PREFIXES = ("dev-", "dev_", "test-", "test_")
PLACEHOLDER_WORDS = (
    "change-me",
    "changeme",
    "change_me",
    "placeholder",
    "secret",
    "example",
    "password",
    "replace",
    "not-for-production",
)
DEFAULT_DATABASE_PASSWORDS = frozenset({"", "atende", "postgres", "password", "admin", "root"})

GENERATE_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class InsecureSettings(Exception):  # noqa: N818 - reads as "the settings are insecure"
    """Production settings that must not start: weak secrets, placeholders, default passwords.

    Deliberately not a ValueError, so pydantic does not wrap it with the offending input.
    """


def secret_weakness(value: str) -> str | None:
    """Tell why a secret is weak (never repeating it), or None when it is strong enough."""
    lowered = value.lower()
    if lowered.startswith(PLACEHOLDER_PREFIXES):
        return "is a development placeholder"
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return "is a placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    counts = Counter(value)
    if len(counts) < MIN_DISTINCT_CHARACTERS or _entropy_bits(value, counts) < MIN_SECRET_BITS:
        return "is not random enough"
    return None


def _entropy_bits(value: str, counts: Counter[str]) -> float:
    length = len(value)
    per_character = -sum(n / length * math.log2(n / length) for n in counts.values())
    return per_character * length


def database_url_weakness(url: str) -> str | None:
    """Tell why a database URL's credentials are unfit for production, or None when they are fit."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "is not a database URL"
    password = parsed.password or ""
    if password.lower() in DEFAULT_DATABASE_PASSWORDS:
        return "has an empty or default password"
    weakness = secret_weakness(password)
    return f"has a password that {weakness}" if weakness else None


def refuse_weak_secrets(
    *,
    api_keys: Mapping[str, Set[str]],
    database_url: str,
    secrets: Mapping[str, str | None],
    prefix: str,
) -> None:
    """Raise InsecureSettings naming every weak secret; the values never appear in the message."""
    problems: list[str] = []
    for number, (key, scopes) in enumerate(api_keys.items(), start=1):
        weakness = secret_weakness(key)
        if weakness:
            granted = ", ".join(sorted(scopes)) or "no scope"
            problems.append(f"{prefix}API_KEYS: key {number} ({granted}) {weakness}")
    weakness = database_url_weakness(database_url)
    if weakness:
        problems.append(f"{prefix}DATABASE_URL {weakness}")
    for name, value in secrets.items():
        weakness = secret_weakness(value) if value is not None else None
        if weakness:
            problems.append(f"{name} {weakness}")
    if problems:
        raise InsecureSettings(
            "refusing to start in production: "
            + "; ".join(problems)
            + f" ({GENERATE_HINT}; ENVIRONMENT=development accepts the dev- defaults)"
        )
