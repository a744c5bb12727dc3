"""Configuration of the intake service, from environment variables prefixed INTAKE_."""

from pydantic_settings import SettingsConfigDict

from atende_events.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the intake service."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/intake"
    port: int = 8001
