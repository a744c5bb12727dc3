"""Configuration of the intake service, from environment variables prefixed INTAKE_.

Scopes of intake's API (INTAKE_API_KEYS maps each bearer key to its scopes):

- `interactions:write`: register interactions (`POST /v1/interactions`); channel front ends and the
  survey service (which opens follow-ups).
- `interactions:read`: read an interaction with its history and a party's timeline; agent desktops.
- `parties:read`: read a party's contact data (name, e-mail, phone); the survey service.
- `track:read`: follow one request by protocol and party id (`GET /v1/track/...`); the portal where
  people follow their own requests, which must see nothing else.

Development keys (refused when INTAKE_ENVIRONMENT is not development):

- `dev-intake-admin`: every scope.
- `dev-intake-survey`: interactions:write, interactions:read, parties:read.
- `dev-intake-reader`: interactions:read.
- `dev-intake-portal`: track:read.
"""

from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from atende_events.auth import DEV_KEY_PREFIX
from atende_events.settings import RateLimit, ServiceSettings
from atende_events.topics import INTERACTIONS

SCOPES = ("interactions:write", "interactions:read", "parties:read", "track:read")

DEV_API_KEYS: dict[str, set[str]] = {
    "dev-intake-admin": set(SCOPES),
    "dev-intake-survey": {"interactions:write", "interactions:read", "parties:read"},
    "dev-intake-reader": {"interactions:read"},
    "dev-intake-portal": {"track:read"},
}

# A channel front end posts for many people from one address; a person tracks a request now and
# then, and nobody needs to try thousands of protocols.
RATE_LIMITS = {
    "interactions": RateLimit(per_key=300, per_client=300, burst_seconds=10),
    "track": RateLimit(per_key=50, per_client=1, burst_seconds=20),
}

QUEUE_LABELS = {
    "adesoes": "Adesões",
    "dividas": "Negociação de dívidas",
    "prestadores": "Atendimento a prestadores",
    "autorizacoes": "Autorizações",
    "ouvidoria": "Ouvidoria",
    "saude": "Orientação em saúde",
    "sucesso_cliente": "Sucesso do cliente",
    "geral": "Atendimento geral",
}


class Settings(ServiceSettings):
    """Settings of the intake service."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")
    secret_fields = ("pseudonym_key",)

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/intake"
    max_contact_age_days: int = Field(
        default=30,
        ge=1,
        le=366,
        description="How old a contact's occurred_at may be: its regulatory clocks start then "
        "(a NIP counts from its notification), so an older one is refused (422).",
    )
    relay_watermark_topics: list[str] = Field(
        default_factory=lambda: [INTERACTIONS],
        description="Topics whose every partition gets this service's low watermark: sla "
        "declares a breach only once it knows no stop event of this service is on its way.",
    )
    port: int = 8001
    api_keys: dict[str, set[str]] = Field(
        default_factory=lambda: {key: set(scopes) for key, scopes in DEV_API_KEYS.items()},
        description=(
            'Bearer API keys and their scopes, as JSON: {"<key>": ["<scope>", ...]}. Scopes: '
            "interactions:write, interactions:read, parties:read, track:read. The defaults are "
            "development keys: dev-intake-admin (all), dev-intake-survey (interactions:write, "
            "interactions:read, parties:read), dev-intake-reader (interactions:read), "
            "dev-intake-portal (track:read)."
        ),
    )
    ans_registry: str = Field(
        default="345678",
        pattern=r"^[0-9]{6}$",
        description="The operator's ANS registry number: the first 6 digits of every protocol.",
    )
    time_zone: str = Field(
        default="America/Sao_Paulo",
        description="The operator's time zone: the date in a protocol number is the day there.",
    )
    pseudonym_key: str = Field(
        default="dev-intake-pseudonym-key-not-for-production",
        description=(
            "Secret (at least 32 bytes) keying the party_ref pseudonyms in events; "
            "the dev- default is refused outside development."
        ),
    )
    idempotency_ttl_hours: int = Field(
        default=48,
        ge=24,
        description="Hours an Idempotency-Key is honoured (at least 24); older keys are purged.",
    )
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=lambda: dict(RATE_LIMITS),
        description="Rate limits (per instance) of POST /v1/interactions (rule `interactions`) "
        "and GET /v1/track/{protocol} (rule `track`), as JSON: "
        '{"<rule>": {"per_key": <per second>, "per_client": <per second>, "burst_seconds": '
        "<s>}}; 0 or a missing rule is no limit.",
    )
    queue_labels: dict[str, str] = Field(
        default_factory=lambda: dict(QUEUE_LABELS),
        description="What a person following a request sees for each queue id, as JSON.",
    )
    registration_writers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Transactions writing new interactions at once; each takes every request "
        "waiting (group commit).",
    )
    registration_batch_size: int = Field(
        default=100, ge=1, le=1000, description="Most interactions written in one transaction."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _real_pseudonym_key(self) -> Self:
        if len(self.pseudonym_key.encode()) < 32:
            raise ValueError("INTAKE_PSEUDONYM_KEY must have at least 32 bytes")
        if self.environment != "development" and self.pseudonym_key.startswith(DEV_KEY_PREFIX):
            raise ValueError(
                "INTAKE_PSEUDONYM_KEY is a development placeholder; configure a real secret"
            )
        return self
