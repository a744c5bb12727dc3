"""Configuration of the analytics service, from environment variables prefixed ANALYTICS_.

Scopes of analytics' API (ANALYTICS_API_KEYS maps each bearer key to its scopes):

- `kpis:read`: read the KPIs (`GET /v1/kpis`, `GET /v1/kpis.csv`) and the wall board
  (`GET /v1/live`); supervisors, the dashboard and BI extractions.

Development key (refused when ANALYTICS_ENVIRONMENT is not development):

- `dev-analytics-reader`: kpis:read.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from atende_events.settings import CalendarSettings, ServiceSettings

SCOPES = ("kpis:read",)

DEV_API_KEYS: dict[str, set[str]] = {"dev-analytics-reader": {"kpis:read"}}

ANSWER_TARGETS = {"phone": 20.0, "chat": 60.0, "whatsapp": 60.0}


class Settings(ServiceSettings, CalendarSettings):
    """Settings of the analytics service."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/analytics"
    port: int = 8005
    # Every event adds to the same few rollup rows (a day, a channel, a queue): transactions at
    # once would wait on them and deadlock; measured slower with 4 than with 1.
    consumer_concurrency: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Transactions the consumer runs at once; 1, since every event updates the "
        "same rollup rows.",
    )
    api_keys: dict[str, set[str]] = Field(
        default_factory=lambda: {key: set(scopes) for key, scopes in DEV_API_KEYS.items()},
        description=(
            'Bearer API keys and their scopes, as JSON: {"<key>": ["<scope>", ...]}. Scope: '
            "kpis:read. The default is the development key dev-analytics-reader (kpis:read)."
        ),
    )
    orphan_after: float = Field(
        default=900.0,
        gt=0,
        le=7 * 86_400,
        description="Seconds an event about an interaction not received yet stays parked (not "
        "counted) before it goes to its topic's dead-letter topic as an orphan.",
    )
    orphan_check_every: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds between two looks for orphan events."
    )
    time_zone: str = Field(
        default="America/Sao_Paulo",
        description="The operator's time zone: days (from, to, group_by=day) are days there.",
    )
    max_range_days: int = Field(
        default=366, ge=1, le=3660, description="Longest from-to range a KPI request may ask for."
    )
    answer_targets: dict[str, float] = Field(
        default_factory=lambda: dict(ANSWER_TARGETS),
        description=(
            "Seconds within which an offer must be accepted, per channel, for the service level "
            "(JSON). Channels without a target do not count in the service level."
        ),
    )
    at_risk_within_seconds: float = Field(
        default=3600.0, gt=0, description="A running clock due within this many seconds is at risk."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value
