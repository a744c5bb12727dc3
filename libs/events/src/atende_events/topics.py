"""Kafka topics of the event contract and how they are created."""

from __future__ import annotations

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


def topic_specs(
    partitions: int, dlq_partitions: int = 1, *, namespace: str = ""
) -> list[TopicSpec]:
    """List every topic of the contract, with its dead-letter topic, under a namespace prefix.

    The namespace is empty in production; tests give each run its own, so that parallel test
    runs and a running `make run` never read each other's events.
    """
    specs = [TopicSpec(namespace + name, partitions) for name in ALL_TOPICS]
    specs += [TopicSpec(dlq_topic(namespace + name), dlq_partitions) for name in ALL_TOPICS]
    return specs
