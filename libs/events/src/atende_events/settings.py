"""Settings every service shares; each service subclasses them with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Connection and runtime settings common to the five services."""

    model_config = SettingsConfigDict(extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="Outside development the service refuses placeholder secrets.",
    )
    api_keys: dict[str, set[str]] = Field(
        default_factory=dict,
        description='Bearer API keys and their scopes, as JSON: {"<key>": ["<scope>", ...]}.',
    )
    database_url: str = Field(description="SQLAlchemy URL of the service's own database (asyncpg).")
    kafka_bootstrap: str = Field(
        default="127.0.0.1:19092", description="Kafka bootstrap servers, comma separated."
    )
    consumer_group: str = Field(
        default="", description="Kafka consumer group; defaults to atende-<service>."
    )
    topic_namespace: str = Field(
        default="",
        pattern=r"^[a-z0-9._-]*$",
        description="Prefix of every topic name; empty in production, random per test run.",
    )
    # 1 measured best on 2 cores now that batches are large: at 100/s POST -> queued p99 went
    # from 260-365 ms with 4 lanes to 170-190 ms (bench pipeline, 2026-12-04).
    consumer_concurrency: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Transactions the consumer runs at once, one per partition number; 1 "
        "handles a batch in one. More helps only where database latency, not CPU, bounds it.",
    )
    consumer_batch_size: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Records the consumer takes from Kafka at most per batch (one transaction "
        "per lane).",
    )
    consumer_linger_ms: int = Field(
        default=25,
        ge=0,
        le=1000,
        description="How long the consumer waits after a poll that brought records for more to "
        "handle in the same transaction; 0 handles each poll at once.",
    )
    db_pool_size: int = Field(
        default=20,
        ge=1,
        le=100,
        description="Database connections per instance, kept open; a request waits for a free one.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    relay_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Outbox rows the relay publishes per batch."
    )
    relay_linger_ms: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="How long the relay waits after the first new event for more to publish "
        "with it; 0 publishes each commit's events at once.",
    )
