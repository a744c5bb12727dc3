"""Settings every service shares; each service subclasses them with its own env prefix."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from atende_events.calendar import OperatorHolidays, parse_closed_date
from atende_events.guard import refuse_weak_secrets


class RateLimit(BaseModel):
    """How fast one API key and one client address may call the routes of a rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_key: float = Field(default=0, ge=0, description="Requests per second per API key.")
    per_client: float = Field(default=0, ge=0, description="Requests per second per address.")
    burst_seconds: float = Field(
        default=10, gt=0, le=3600, description="A bucket holds this many seconds of its rate."
    )


class ServiceSettings(BaseSettings):
    """Connection and runtime settings common to the five services."""

    # A value refused at start-up must never be printed back (the error would echo a secret).
    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

    secret_fields: ClassVar[tuple[str, ...]] = ()
    """Fields holding a secret a subclass adds; in production each must be strong when set."""

    environment: Literal["development", "production"] = Field(
        default="production",
        description="production (the default) refuses weak or placeholder secrets and default "
        "database passwords, hides /docs and guards /metrics; development (make run, the "
        "tests) accepts the dev- keys.",
    )
    api_keys: dict[str, set[str]] = Field(
        default_factory=dict,
        description='Bearer API keys and their scopes, as JSON: {"<key>": ["<scope>", ...]}.',
    )
    database_url: str = Field(description="SQLAlchemy URL of the service's own database (asyncpg).")
    kafka_bootstrap: str = Field(
        default="127.0.0.1:19092", description="Kafka bootstrap servers, comma separated."
    )
    consumer_group: str = Field(
        default="", description="Kafka consumer group; defaults to atende-<service>."
    )
    topic_namespace: str = Field(
        default="",
        pattern=r"^[a-z0-9._-]*$",
        description="Prefix of every topic name; empty in production, random per test run.",
    )
    # 1 measured best on 2 cores now that batches are large: at 100/s POST -> queued p99 went
    # from 260-365 ms with 4 lanes to 170-190 ms (bench pipeline, 2026-12-04).
    consumer_concurrency: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Transactions the consumer runs at once, one per partition number; 1 "
        "handles a batch in one. More helps only where database latency, not CPU, bounds it.",
    )
    consumer_batch_size: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Records the consumer takes from Kafka at most per batch (one transaction "
        "per lane).",
    )
    consumer_transaction_size: int = Field(
        default=250,
        ge=1,
        le=10_000,
        description="Records handled in one transaction at most: a catch-up's large polls are "
        "split, so that no transaction holds its row locks long enough to stall requests.",
    )
    consumer_linger_ms: int = Field(
        default=25,
        ge=0,
        le=1000,
        description="How long the consumer waits after a poll that brought records for more to "
        "handle in the same transaction; 0 handles each poll at once.",
    )
    db_pool_size: int = Field(
        default=20,
        ge=1,
        le=100,
        description="Database connections per instance, kept open; a request waits for a free one.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    relay_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Outbox rows the relay publishes per batch."
    )
    relay_linger_ms: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="How long the relay waits after the first new event for more to publish "
        "with it; 0 publishes each commit's events at once.",
    )
    relay_watermark_topics: list[str] = Field(
        default_factory=list,
        description="Contract topics (without namespace) to whose every partition the relay "
        "sends its low watermark (atende.outbox.watermark.v1), so that a consumer can tell no "
        "older event of this service is still on its way; sla waits for them before a breach.",
    )
    relay_watermark_every_ms: int = Field(
        default=1000, ge=100, le=60_000, description="How often the relay sends watermarks."
    )
    relay_watermark_margin_ms: int = Field(
        default=2000,
        ge=0,
        le=60_000,
        description="How far behind the oldest open transaction and unpublished event the "
        "watermark stays: room for a clock read before a transaction began and for skew "
        "between the hosts' clocks.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body accepted (413 beyond), checked before authentication.",
    )
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=dict,
        description="Rate limits of the limited routes, by rule name, as JSON: "
        '{"<rule>": {"per_key": <per second>, "per_client": <per second>, "burst_seconds": '
        "<s>}} (0: no limit). Counted in each instance's memory: N instances allow N times.",
    )
    http_limit_concurrency: int = Field(
        default=1000,
        ge=1,
        description="Connections and requests at once before uvicorn answers 503 (atende-serve).",
    )
    http_timeout_keep_alive: int = Field(
        default=5, ge=1, le=300, description="Seconds an idle keep-alive connection is kept open."
    )
    http_max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest total of request headers (431 beyond), checked by the app.",
    )
    metrics_scope: str = Field(
        default="metrics:read",
        description="In production /metrics needs a key with this scope; open in development.",
    )

    @model_validator(mode="after")
    def _strong_secrets_in_production(self) -> Self:
        if self.environment == "production":
            prefix = str(self.model_config.get("env_prefix", "")).upper()
            secrets = {
                f"{prefix}{field.upper()}": getattr(self, field) for field in self.secret_fields
            }
            refuse_weak_secrets(
                api_keys=self.api_keys,
                database_url=self.database_url,
                secrets=secrets,
                prefix=prefix,
            )
        return self


class CalendarSettings(BaseSettings):
    """Where the operator is, for the business calendars of sla and analytics alike.

    Both services build their calendars from these with one implementation
    (`atende_events.calendar`); give both the same values.
    """

    calendar_subdivision: str | None = Field(
        default=None,
        description="The operator's state (UF, e.g. SP): its holidays close business days too. "
        "Empty: national holidays only.",
    )
    calendar_closed_dates: list[str] = Field(
        default_factory=list,
        description='Municipal holidays and other closed days: "MM-DD" every year or '
        '"YYYY-MM-DD" once, as JSON, e.g. ["01-25"] for the city of Sao Paulo.',
    )
    calendar_closes_carnival: bool = Field(
        default=False,
        description="Close business days on Carnaval Monday and Tuesday (not a holiday in "
        "federal law, so a business day for regulatory counting by default).",
    )

    @field_validator("calendar_subdivision")
    @classmethod
    def _known_state(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        states = holidays.country_holidays("BR").subdivisions
        if value not in states:
            raise ValueError(f"{value!r} is no Brazilian state; states: {', '.join(states)}")
        return value

    @field_validator("calendar_closed_dates")
    @classmethod
    def _dates(cls, values: list[str]) -> list[str]:
        return [parse_closed_date(value) for value in values]

    def operator_holidays(self) -> OperatorHolidays:
        """Give the operator's holidays as the calendars take them."""
        return OperatorHolidays(
            subdivision=self.calendar_subdivision,
            closed_dates=tuple(self.calendar_closed_dates),
            closes_carnival=self.calendar_closes_carnival,
        )
