"""Configuration of the survey service, from environment variables prefixed SURVEY_."""

from pydantic_settings import SettingsConfigDict

from atende_events.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the survey service."""

    model_config = SettingsConfigDict(env_prefix="SURVEY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://atende:atende@127.0.0.1:15432/survey"
    port: int = 8004
