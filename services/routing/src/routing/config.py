"""Configuration of the routing service, from environment variables prefixed ROUTING_.

Scopes of routing's API (ROUTING_API_KEYS maps each bearer key to its scopes):

- `agents:write`: create or update agents and set their status; supervisors and the agent desktop.
- `agents:read`: read agents and their assignments.
- `assignments:write`: accept, reject, wait, resume, transfer and complete assignments.
- `queues:read`: read the queues' figures.

Development keys (refused when ROUTING_ENVIRONMENT is not development):

- `dev-routing-admin`: every scope.
- `dev-routing-desk`: agents:read, assignments:write, queues:read (an agent desktop).
"""

from dataclasses import replace
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from atende_events.settings import ServiceSettings
from atende_events.topics import INTERACTIONS
from routing.classifier import packaged_classifier
from routing.domain import InvalidRules, Overflow, RuleBook, load_rules
from routing.triage import packaged_red_flags

SCOPES = ("agents:write", "agents:read", "assignments:write", "queues:read")

DEV_API_KEYS: dict[str, set[str]] = {
    "dev-routing-admin": set(SCOPES),
    "dev-routing-desk": {"agents:read", "assignments:write", "queues:read"},
}


class Settings(ServiceSettings):
    """Settings of the routing service."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/routing"
    relay_watermark_topics: list[str] = Field(
        default_factory=lambda: [INTERACTIONS],
        description="Topics whose every partition gets this service's low watermark: sla "
        "declares a breach only once it knows no stop event of this service is on its way.",
    )
    port: int = 8002
    api_keys: dict[str, set[str]] = Field(
        default_factory=lambda: {key: set(scopes) for key, scopes in DEV_API_KEYS.items()},
        description=(
            'Bearer API keys and their scopes, as JSON: {"<key>": ["<scope>", ...]}. Scopes: '
            "agents:write, agents:read, assignments:write, queues:read. The defaults are "
            "development keys: dev-routing-admin (all), dev-routing-desk (agents:read, "
            "assignments:write, queues:read)."
        ),
    )
    rules_path: str | None = Field(
        default=None,
        description="A YAML rules file replacing the packaged one (routing/rules.yaml).",
    )
    offer_timeout: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds an agent has to accept an offer."
    )
    escalation_after: float = Field(
        default=120.0,
        gt=0,
        description="Seconds in a queue after which work may go to the overflow skill too.",
    )
    overflow_skill: str = Field(default="geral", description="The skill of the escalation step.")
    overflow_min_proficiency: int = Field(
        default=3,
        ge=1,
        le=5,
        description="Least proficiency (1-5) in the overflow skill that takes escalated work.",
    )
    timer_interval: float = Field(
        default=0.25, gt=0, le=60, description="Seconds between two looks for due timers."
    )
    sweep_interval: float = Field(
        default=2.0,
        gt=0,
        le=600,
        description="Seconds between two safety sweeps offering work to agents with free room.",
    )
    time_zone: str = Field(
        default="America/Sao_Paulo", description="The zone whose midnight starts 'today'."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def overflow(self) -> Overflow:
        """The escalation step in force."""
        return Overflow(skill=self.overflow_skill, min_proficiency=self.overflow_min_proficiency)

    def rule_book(self) -> RuleBook:
        """Read and validate the rules in force; raise InvalidRules naming the bad rule."""
        if self.rules_path is None:
            text = resources.files("routing").joinpath("rules.yaml").read_text(encoding="utf-8")
        else:
            with open(self.rules_path, encoding="utf-8") as rules:
                text = rules.read()
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InvalidRules(f"routing rules file is not YAML: {error}") from None
        # The classifier is trained here, once per process (about a second on two cores).
        return replace(
            load_rules(document),
            classifier=packaged_classifier(),
            red_flags=packaged_red_flags(),
        )
