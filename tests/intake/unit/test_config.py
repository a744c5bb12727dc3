"""Intake refuses to start with placeholder secrets or a malformed registry outside development."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from intake.config import DEV_API_KEYS, SCOPES, Settings
from intake.main import create_app

REAL_KEY = "k8Jq2v0Zr7Wm4Ht1Nc9Xb6Ls3Pd5Fg0Ye2Ua8Ti"  # 40 bytes, no dev- prefix
REAL_API_KEYS = {"a-long-random-production-key": {"interactions:write"}}


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"environment": "production", "pseudonym_key": REAL_KEY},
        {"ans_registry": "000001", "time_zone": "America/Manaus"},
    ],
)
def test_valid_settings(overrides: dict[str, Any]) -> None:
    Settings(**overrides)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"environment": "production"}, "INTAKE_PSEUDONYM_KEY"),
        ({"pseudonym_key": "too-short"}, "INTAKE_PSEUDONYM_KEY"),
        ({"ans_registry": "12345"}, "ans_registry"),
        ({"ans_registry": "1234567"}, "ans_registry"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**overrides)


@pytest.mark.parametrize(
    ("api_keys", "starts"),
    [(None, False), (REAL_API_KEYS, True)],
)
def test_production_refuses_the_development_api_keys(
    api_keys: dict[str, set[str]] | None, starts: bool
) -> None:
    overrides: dict[str, Any] = {"environment": "production", "pseudonym_key": REAL_KEY}
    if api_keys is not None:
        overrides["api_keys"] = api_keys
    settings = Settings(**overrides)
    if starts:
        assert create_app(settings).state.settings is settings
    else:
        with pytest.raises(ValueError, match="development placeholders"):
            create_app(settings)


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
