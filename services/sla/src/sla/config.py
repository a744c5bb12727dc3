"""Configuration of the sla service, from environment variables prefixed SLA_."""

from pydantic_settings import SettingsConfigDict

from atende_events.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the sla service."""

    model_config = SettingsConfigDict(env_prefix="SLA_", extra="ignore")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/sla"
    port: int = 8003
