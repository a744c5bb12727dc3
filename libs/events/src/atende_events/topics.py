"""Kafka topics of the event contract and how they are created."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

INTERACTIONS = "atende.interactions.v1"
ASSIGNMENTS = "atende.assignments.v1"
AGENTS = "atende.agents.v1"
SLA = "atende.sla.v1"
SURVEYS = "atende.surveys.v1"

ALL_TOPICS: tuple[str, ...] = (INTERACTIONS, ASSIGNMENTS, AGENTS, SLA, SURVEYS)

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """Name the dead-letter topic of a topic."""
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    """The topic's `min.insync.replicas`; None keeps the broker's default."""

    def configs(self) -> dict[str, str]:
        """The topic-level configuration to create the topic with."""
        if self.min_insync_replicas is None:
            return {}
        return {"min.insync.replicas": str(self.min_insync_replicas)}


@dataclass(frozen=True)
class TopicSettings:
    """How the contract's topics are created: partitions, replication and in-sync replicas.

    The defaults fit one local broker. A cluster of three brokers takes replication factor 3 and
    `min.insync.replicas` 2: with the producers' `acks=all`, an acknowledged event is then on at
    least two brokers, and one broker may be lost (or restarted) without stopping production.
    The partition count caps how many instances of one service consume in parallel.
    """

    partitions: int = 6
    replication_factor: int = 1
    min_insync_replicas: int = 1
    dlq_partitions: int = 1

    def __post_init__(self) -> None:
        for name in ("partitions", "replication_factor", "min_insync_replicas", "dlq_partitions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) cannot exceed the"
                f" replication factor ({self.replication_factor}): no write would ever succeed"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TopicSettings:
        """Read ATENDE_TOPIC_{PARTITIONS,REPLICATION_FACTOR,MIN_INSYNC_REPLICAS,DLQ_PARTITIONS}."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(name: str, default: int) -> int:
            raw = env.get(f"ATENDE_TOPIC_{name}", "").strip()
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                message = f"ATENDE_TOPIC_{name} must be a whole number, not {raw!r}"
                raise ValueError(message) from None

        return cls(
            partitions=number("PARTITIONS", defaults.partitions),
            replication_factor=number("REPLICATION_FACTOR", defaults.replication_factor),
            min_insync_replicas=number("MIN_INSYNC_REPLICAS", defaults.min_insync_replicas),
            dlq_partitions=number("DLQ_PARTITIONS", defaults.dlq_partitions),
        )


def topic_specs(
    partitions: int,
    dlq_partitions: int = 1,
    *,
    namespace: str = "",
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
) -> list[TopicSpec]:
    """List every topic of the contract, with its dead-letter topic, under a namespace prefix.

    The namespace is empty in production; tests give each run its own, so that parallel test
    runs and a running `make run` never read each other's events. Dead-letter topics are
    replicated like the topics they serve: a dead letter is an acknowledged event too.
    """
    if min_insync_replicas is not None:
        TopicSettings(1, replication_factor, min_insync_replicas)  # validates the pair
    specs = [
        TopicSpec(namespace + name, partitions, replication_factor, min_insync_replicas)
        for name in ALL_TOPICS
    ]
    specs += [
        TopicSpec(
            dlq_topic(namespace + name), dlq_partitions, replication_factor, min_insync_replicas
        )
        for name in ALL_TOPICS
    ]
    return specs


def specs_for(settings: TopicSettings, *, namespace: str = "") -> list[TopicSpec]:
    """List the contract's topics as `settings` say to create them."""
    return topic_specs(
        settings.partitions,
        settings.dlq_partitions,
        namespace=namespace,
        replication_factor=settings.replication_factor,
        min_insync_replicas=settings.min_insync_replicas,
    )
