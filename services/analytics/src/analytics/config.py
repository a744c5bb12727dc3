"""Configuration of the analytics service, from environment variables prefixed ANALYTICS_."""

from pydantic_settings import SettingsConfigDict

from atende_events.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the analytics service."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/analytics"
    port: int = 8005
