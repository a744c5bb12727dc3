"""Intake refuses to start with placeholder secrets or a malformed registry outside development."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from atende_events.guard import InsecureSettings
from intake.config import DEV_API_KEYS, SCOPES, Settings
from intake.main import create_app

REAL_KEY = "k8Jq2v0Zr7Wm4Ht1Nc9Xb6Ls3Pd5Fg0Ye2Ua8Ti"  # 40 bytes, no dev- prefix
REAL_API_KEYS = {"Qm7xV2pL9rT4wZ8kN3sB6yH1cF5jD0gAeU": {"interactions:write"}}
REAL_DATABASE_URL = "postgresql+asyncpg://intake:Xr8vK2mQ7tL4pW9zB3nH6jC1fS5dG0yAe@db/intake"
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "pseudonym_key": REAL_KEY,
    "api_keys": REAL_API_KEYS,
    "database_url": REAL_DATABASE_URL,
}


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        PRODUCTION,
        {"ans_registry": "000001", "time_zone": "America/Manaus"},
    ],
)
def test_valid_settings(overrides: dict[str, Any]) -> None:
    Settings(**overrides)


def test_production_is_the_default() -> None:
    assert Settings.model_fields["environment"].default == "production"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {**PRODUCTION, "pseudonym_key": "dev-intake-pseudonym-key-not-for-production"},
            "PSEUDONYM",
        ),
        ({"pseudonym_key": "too-short"}, "INTAKE_PSEUDONYM_KEY"),
        ({"ans_registry": "12345"}, "ans_registry"),
        ({"ans_registry": "1234567"}, "ans_registry"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises((ValidationError, InsecureSettings), match=field):
        Settings(**overrides)


def test_production_starts_with_real_secrets() -> None:
    settings = Settings(**PRODUCTION)
    assert create_app(settings).state.settings is settings


@pytest.mark.parametrize(
    "overrides",
    [
        {"api_keys": None},  # the development keys
        {"pseudonym_key": None},  # the development pseudonym key
        {"database_url": None},  # the local cluster's atende:atende
    ],
)
def test_production_refuses_every_development_default(overrides: dict[str, Any]) -> None:
    settings = {**PRODUCTION, **overrides}
    for name, value in overrides.items():
        if value is None:
            del settings[name]
    with pytest.raises((InsecureSettings, ValidationError)):
        Settings(**settings)


@pytest.mark.parametrize(
    ("key", "scopes"),
    [
        ("dev-intake-admin", set(SCOPES)),
        ("dev-intake-survey", {"interactions:write", "interactions:read", "parties:read"}),
        ("dev-intake-reader", {"interactions:read"}),
        ("dev-intake-portal", {"track:read"}),
    ],
)
def test_development_keys_grant_what_the_docs_say(key: str, scopes: set[str]) -> None:
    assert Settings().api_keys[key] == scopes == DEV_API_KEYS[key]
