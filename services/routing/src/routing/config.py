"""Configuration of the routing service, from environment variables prefixed ROUTING_."""

from pydantic_settings import SettingsConfigDict

from atende_events.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the routing service."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/routing"
    port: int = 8002
