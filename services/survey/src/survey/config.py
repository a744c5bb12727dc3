"""Configuration of the survey service, from environment variables prefixed SURVEY_.

Scopes of survey's API (SURVEY_API_KEYS maps each bearer key to its scopes):

- `followups:read`: list the follow-ups of detractors (`GET /v1/followups`).

The survey-taking endpoints (`/v1/surveys/{token}...`) need no key: the token is the credential.
Development key (refused when SURVEY_ENVIRONMENT is not development): `dev-survey-admin`.
"""

from datetime import timedelta
from importlib import resources
from typing import Any, Self

import yaml
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from atende_events.auth import DEV_KEY_PREFIX
from atende_events.intake import Channel
from atende_events.settings import RateLimit, ServiceSettings
from atende_events.survey import SurveyMedium
from survey.domain import DispatchPolicy, EligibilityRules, Messages, Themes


def _packaged(name: str) -> Any:
    return yaml.safe_load(resources.files("survey").joinpath(name).read_text(encoding="utf-8"))


def _read_yaml(path: str | None, packaged: str) -> Any:
    if path is None:
        return _packaged(packaged)
    with open(path, encoding="utf-8") as data:
        return yaml.safe_load(data)


class Settings(ServiceSettings):
    """Settings of the survey service."""

    model_config = SettingsConfigDict(env_prefix="SURVEY_", extra="ignore")
    secret_fields = ("intake_api_key", "smtp_password", "message_webhook_token")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/survey"
    port: int = 8004
    api_keys: dict[str, set[str]] = Field(
        default_factory=lambda: {"dev-survey-admin": {"followups:read"}},
        description="Bearer API keys and their scopes (followups:read), as JSON.",
    )
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=lambda: {"surveys": RateLimit(per_client=5, burst_seconds=20)},
        description="Rate limits (per instance) of the public survey routes (rule `surveys`), as "
        'JSON: {"surveys": {"per_client": <per second>, "burst_seconds": <s>}}; 0 is no limit.',
    )

    # Eligibility (seed 003: surveyed within at most 3 days; Cigna: not too often).
    surveyed_channels: frozenset[Channel] = Field(
        default=frozenset(Channel) - {Channel.OUTBOUND},
        description="Channels whose resolved interactions are surveyed (follow-ups are not).",
    )
    clinical_queues: frozenset[str] = Field(
        default=frozenset({"saude"}), description="Queues whose interactions are never surveyed."
    )
    fatigue_window: timedelta = Field(
        default=timedelta(days=30), description="At most one survey per party in this window."
    )
    dispatch_delay: timedelta = Field(
        default=timedelta(hours=1), description="How long after the resolution the link is sent."
    )
    dispatch_limit: timedelta = Field(
        default=timedelta(days=3),
        description="Never send later than this after the resolution; skipped past it.",
    )
    token_lifetime: timedelta = Field(
        default=timedelta(days=7), description="How long a link takes answers."
    )

    # Dispatch.
    public_base_url: str = Field(
        default="http://127.0.0.1:8004",
        description="Where people reach the survey; links are <base>/v1/surveys/<token>.",
    )
    phone_medium: SurveyMedium = Field(
        default=SurveyMedium.SMS,
        description="How a link goes to a phone when the contact was not over WhatsApp.",
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server that sends e-mails.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Its port.")
    smtp_sender: str = Field(
        default="pesquisa@atende.invalid", description="From address of survey e-mails."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if it wants one.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(
        default=True,
        description="Upgrade the SMTP connection to TLS (STARTTLS); only a local test sink may "
        "go without.",
    )
    smtp_timeout: float = Field(default=10, gt=0, description="Seconds an SMTP exchange may take.")
    message_webhook_url: str = Field(
        default="http://127.0.0.1:8090/messages",
        description="HTTP endpoint that delivers SMS and WhatsApp messages (JSON POST).",
    )
    message_webhook_token: str | None = Field(
        default=None, description="Bearer token sent to the message webhook, if it wants one."
    )
    send_attempts: int = Field(
        default=5, ge=1, le=50, description="Attempts to send a link before it is failed."
    )
    retry_first_backoff: timedelta = Field(
        default=timedelta(seconds=30), description="Wait before the second attempt to send a link."
    )
    retry_max_backoff: timedelta = Field(
        default=timedelta(minutes=30), description="Longest wait between two attempts (it doubles)."
    )

    # Intake (contact data and follow-ups).
    intake_base_url: str = Field(
        default="http://127.0.0.1:8001", description="Intake's API: contact data, follow-ups."
    )
    intake_api_key: str = Field(
        default="dev-intake-survey",
        description="Survey's key at intake (interactions:read, interactions:write, parties:read).",
    )
    intake_timeout: float = Field(
        default=5, gt=0, description="Seconds a call to intake or the webhook may take."
    )

    # Timers.
    timer_interval: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between two looks for due work."
    )
    timer_batch_size: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Most items of one kind the timer takes per pass; after a full pass it "
        "looks again at once.",
    )
    dispatch_concurrency: int = Field(
        default=8,
        ge=1,
        le=32,
        description="Links the timer sends at once, each in its own transaction (SKIP LOCKED).",
    )
    reception_retention: timedelta = Field(
        default=timedelta(days=90),
        description="How long the priority of an interaction not resolved yet is remembered.",
    )

    # Data.
    messages_path: str | None = Field(
        default=None, description="A YAML file replacing the packaged texts (survey/messages.yaml)."
    )
    themes_path: str | None = Field(
        default=None,
        description="A YAML file replacing the packaged driver keywords (survey/themes.yaml).",
    )

    @model_validator(mode="after")
    def _real_intake_key(self) -> Self:
        if self.environment != "development" and self.intake_api_key.startswith(DEV_KEY_PREFIX):
            raise ValueError("SURVEY_INTAKE_API_KEY is a development placeholder")
        return self

    def eligibility(self) -> EligibilityRules:
        """Gather the eligibility rules in force."""
        return EligibilityRules(
            surveyed_channels=frozenset(self.surveyed_channels),
            clinical_queues=frozenset(self.clinical_queues),
            fatigue_window=self.fatigue_window,
            dispatch_delay=self.dispatch_delay,
            dispatch_limit=self.dispatch_limit,
        )

    def dispatch_policy(self) -> DispatchPolicy:
        """Gather the rules of sending links and retrying."""
        return DispatchPolicy(
            phone_medium=self.phone_medium,
            attempts=self.send_attempts,
            first_backoff=self.retry_first_backoff,
            max_backoff=self.retry_max_backoff,
            token_lifetime=self.token_lifetime,
            dispatch_limit=self.dispatch_limit,
        )

    def messages(self) -> Messages:
        """Read and validate the texts per locale; raise when they are not valid."""
        return Messages.model_validate(_read_yaml(self.messages_path, "messages.yaml"))

    def themes(self) -> Themes:
        """Read and validate the driver keyword lists; raise when they are not valid."""
        return Themes.model_validate(_read_yaml(self.themes_path, "themes.yaml"))
