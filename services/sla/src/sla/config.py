"""Configuration of the sla service, from environment variables prefixed SLA_."""

from importlib import resources

import yaml
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from atende_events.settings import CalendarSettings, ServiceSettings
from sla.domain.book import PolicyBook, load_book


class Settings(ServiceSettings, CalendarSettings):
    """Settings of the sla service."""

    model_config = SettingsConfigDict(env_prefix="SLA_", extra="ignore")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/sla"
    port: int = 8003
    api_keys: dict[str, set[str]] = Field(
        default_factory=lambda: {"dev-sla-admin": {"sla:read", "sla:write"}},
        description="Bearer API keys and their scopes (sla:read, sla:write), as JSON.",
    )
    policies_path: str | None = Field(
        default=None,
        description="A YAML policy book replacing the packaged one (sla/policies.yaml).",
    )
    timer_interval: float = Field(
        default=0.5, gt=0, le=60, description="Seconds between two looks for due deadlines."
    )
    timer_batch_size: int = Field(
        default=200, ge=1, le=10_000, description="Due clocks the timer takes per transaction."
    )
    breach_grace: float = Field(
        default=2.0,
        ge=0,
        le=3600,
        description="Seconds past a deadline before the timer breaches a clock, so that a stop "
        "event in time still on its way through Kafka is applied first.",
    )
    breach_waits_for: list[str] = Field(
        default_factory=lambda: ["intake", "routing"],
        description="Services whose stop events a breach waits for: a clock is breached only "
        "once sla holds a low watermark past its deadline from each of them, on every "
        "partition (they must send watermarks: <SERVICE>_RELAY_WATERMARK_TOPICS). Empty: "
        "breach on the grace alone.",
    )
    timer_max_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Failures in a row after which the timer quarantines a clock and skips it.",
    )

    def policy_book(self) -> PolicyBook:
        """Read and validate the policy book in force; raise when it is not valid."""
        if self.policies_path is None:
            text = resources.files("sla").joinpath("policies.yaml").read_text(encoding="utf-8")
        else:
            with open(self.policies_path, encoding="utf-8") as book:
                text = book.read()
        return load_book(yaml.safe_load(text), operator=self.operator_holidays())
