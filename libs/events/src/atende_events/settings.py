"""Settings every service shares; each service subclasses them with its own env prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Connection and runtime settings common to the five services."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(description="SQLAlchemy URL of the service's own database (asyncpg).")
    kafka_bootstrap: str = Field(
        default="127.0.0.1:19092", description="Kafka bootstrap servers, comma separated."
    )
    consumer_group: str = Field(
        default="", description="Kafka consumer group; defaults to atende-<service>."
    )
    db_pool_size: int = Field(default=10, ge=1, le=100)
    log_level: str = Field(default="INFO")
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
