"""Production refuses weak secrets without echoing them; correlation ids and rates are bounded."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from atende_events.guard import InsecureSettings, database_url_weakness, secret_weakness
from atende_events.limits import TokenBuckets
from atende_events.settings import ServiceSettings
from atende_events.web import configure_logging, safe_correlation_id

STRONG = "Qm7xV2pL9rT4wZ8kN3sB6yH1cF5jD0gAeU"
STRONG_URL = "postgresql+asyncpg://svc:Xr8vK2mQ7tL4pW9zB3nH6jC1fS5dG0yAe@db:5432/svc"


class _Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="THING_", extra="ignore")
    secret_fields = ("token",)

    database_url: str = STRONG_URL
    token: str | None = None


@pytest.mark.parametrize(
    "secret",
    [
        "x",
        "dev-intake-admin",
        "DEV-" + STRONG,
        "Dev_" + STRONG,
        "CHANGE-ME-intake-key-and-some-more-characters",
        "changeme" + STRONG,
        "placeholder" + STRONG,
        "my-SECRET-" + STRONG,
        "example" + STRONG,
        "a" * 64,
        "abababababababababababababababababab",
        STRONG[:31],
    ],
)
def test_weak_secrets_are_named_weak(secret: str) -> None:
    assert secret_weakness(secret) is not None


@pytest.mark.parametrize(
    "secret", [STRONG, secrets.token_urlsafe(32), secrets.token_hex(16), secrets.token_hex(32)]
)
def test_random_secrets_are_strong(secret: str) -> None:
    assert secret_weakness(secret) is None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://atende:atende@127.0.0.1:15432/intake",
        "postgresql+asyncpg://postgres:postgres@db/intake",
        "postgresql+asyncpg://app:password@db/intake",
        "postgresql+asyncpg://app:@db/intake",
        "postgresql+asyncpg://app@db/intake",
        "postgresql+asyncpg://atende:CHANGE-ME@postgres.db.svc:5432/intake",
        "postgresql+asyncpg://app:short1@db/intake",
    ],
)
def test_default_or_weak_database_passwords_are_refused(url: str) -> None:
    assert database_url_weakness(url) is not None


def test_a_strong_database_password_passes() -> None:
    assert database_url_weakness(STRONG_URL) is None


def test_production_is_the_default_environment() -> None:
    assert ServiceSettings.model_fields["environment"].default == "production"
    with pytest.raises(InsecureSettings):
        _Settings(api_keys={"dev-thing-admin": {"a"}})


@pytest.mark.parametrize(
    "overrides",
    [
        {"api_keys": {"DEV-thing-admin-0123456789abcdefghijk": {"a"}}},
        {"api_keys": {"Zq9": {"a"}}},
        {"database_url": "postgresql+asyncpg://app:atende@db/thing"},
        {"token": "change-me-Zr7Wm4Ht1Nc9Xb6Ls3Pd5Fg0Ye2Ua8Ti"},
    ],
)
def test_production_refuses_without_echoing_the_secret(overrides: dict[str, Any]) -> None:
    with pytest.raises(InsecureSettings) as refused:
        _Settings(environment="production", **overrides)
    message = str(refused.value)
    assert "THING_" in message
    for value in overrides.values():
        for secret in value if isinstance(value, dict) else [value]:
            assert secret not in message
    assert "atende@" not in message and "change-me-Zr7" not in message


def test_a_malformed_setting_is_not_echoed_either() -> None:
    with pytest.raises(ValidationError) as refused:
        _Settings(environment="development", relay_batch_size="s3cr3t-value")  # type: ignore[arg-type]
    assert "s3cr3t-value" not in str(refused.value)


def test_development_accepts_the_dev_defaults() -> None:
    settings = _Settings(
        environment="development",
        api_keys={"dev-thing-admin": {"a"}},
        database_url="postgresql+asyncpg://atende:atende@127.0.0.1:15432/thing",
    )
    assert settings.environment == "development"


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("req-2f1c9a", True),
        ("3fa85f64-5717-4562-b3fc-2c963f66afa6", True),
        ("trace:abc.DEF_1-2", True),
        ("ana@example.com", False),
        ("123.456.789-09", False),
        ("12345678909", False),
        ("12.345.678/0001-95", False),
        ("12345678000195", False),
        ("5511987654321", False),
        ("a" * 65, False),
        ("has space", False),
        ("line\nbreak", False),
        ("", False),
        (None, False),
    ],
)
def test_only_safe_correlation_ids_are_kept(incoming: str | None, kept: bool) -> None:
    result = safe_correlation_id(incoming)
    assert (result == incoming) is kept
    assert len(result) <= 64


def test_a_token_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    buckets = TokenBuckets(rate=1, burst_seconds=3)
    assert [buckets.take("10.0.0.1", now=100.0) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("10.0.0.1", now=100.0) == pytest.approx(1.0)
    assert buckets.take("10.0.0.2", now=100.0) == 0, "another caller has its own bucket"
    assert buckets.take("10.0.0.1", now=101.0) == 0, "one token refilled after a second"


def test_buckets_forget_the_least_recently_used_beyond_their_bound() -> None:
    buckets = TokenBuckets(rate=1, burst_seconds=1, max_buckets=2)
    buckets.take("a", now=0)
    buckets.take("b", now=0)
    buckets.take("c", now=0)
    assert buckets.take("a", now=0) == 0, "a was forgotten, so it starts full again"


def test_httpx_does_not_log_request_urls_at_info() -> None:
    configure_logging("survey", "INFO")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)


def test_an_error_is_described_without_the_values_it_was_about() -> None:
    from pydantic import BaseModel, Field
    from sqlalchemy.exc import DBAPIError

    from atende_events.redact import describe_error

    class Body(BaseModel):
        locale: str = Field(max_length=3)

    with pytest.raises(ValidationError) as invalid:
        Body(locale="Maria da Silva, CPF 123.456.789-09")
    described = describe_error(invalid.value)
    assert "locale" in described and "Maria" not in described

    class Orig(Exception):
        sqlstate = "22001"

    database = DBAPIError("INSERT INTO t VALUES ($1)", {"v": "ana@example.com"}, Orig("x"))
    assert "ana@example.com" not in describe_error(database)
    assert "22001" in describe_error(database)

    try:
        try:
            Body(locale="ana@example.com")
        except ValidationError as exc:
            raise RuntimeError("decode failed: ana@example.com") from exc
    except RuntimeError as wrapped:
        assert "ana@example.com" not in describe_error(wrapped)
