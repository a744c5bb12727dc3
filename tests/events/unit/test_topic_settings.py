"""Replication factor, min.insync.replicas and partitions are settings of topic creation."""

from __future__ import annotations

import pytest

from atende_events.admin import main
from atende_events.topics import ALL_TOPICS, TopicSettings, TopicSpec, specs_for, topic_specs


def test_defaults_fit_one_local_broker() -> None:
    settings = TopicSettings.from_env({})
    assert settings == TopicSettings(
        partitions=6, replication_factor=1, min_insync_replicas=1, dlq_partitions=1
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ATENDE_TOPIC_PARTITIONS": "12"}, TopicSettings(partitions=12)),
        (
            {"ATENDE_TOPIC_REPLICATION_FACTOR": "3", "ATENDE_TOPIC_MIN_INSYNC_REPLICAS": "2"},
            TopicSettings(replication_factor=3, min_insync_replicas=2),
        ),
        ({"ATENDE_TOPIC_DLQ_PARTITIONS": "3"}, TopicSettings(dlq_partitions=3)),
        ({"ATENDE_TOPIC_PARTITIONS": " "}, TopicSettings()),
    ],
)
def test_settings_come_from_the_environment(
    environ: dict[str, str], expected: TopicSettings
) -> None:
    assert TopicSettings.from_env(environ) == expected


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"ATENDE_TOPIC_MIN_INSYNC_REPLICAS": "2"}, "cannot exceed the replication factor"),
        ({"ATENDE_TOPIC_PARTITIONS": "0"}, "partitions must be at least 1"),
        ({"ATENDE_TOPIC_REPLICATION_FACTOR": "three"}, "must be a whole number"),
    ],
)
def test_impossible_settings_are_refused(environ: dict[str, str], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        TopicSettings.from_env(environ)


def test_a_cluster_gets_every_topic_and_dead_letter_topic_replicated() -> None:
    specs = specs_for(TopicSettings(partitions=12, replication_factor=3, min_insync_replicas=2))
    assert len(specs) == 2 * len(ALL_TOPICS)
    assert {(s.replication_factor, s.min_insync_replicas) for s in specs} == {(3, 2)}
    assert {s.partitions for s in specs if not s.name.endswith(".dlq")} == {12}
    assert {s.partitions for s in specs if s.name.endswith(".dlq")} == {1}
    assert specs[0].configs() == {"min.insync.replicas": "2"}


def test_a_spec_without_min_insync_replicas_keeps_the_brokers_default() -> None:
    assert TopicSpec("t", 1).configs() == {}
    assert all(spec.configs() == {} for spec in topic_specs(3, namespace="x."))


def test_the_command_refuses_more_in_sync_replicas_than_copies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["create-topics", "--replication-factor", "1", "--min-insync-replicas", "2"])
    assert exited.value.code == 2
    assert "cannot exceed the replication factor" in capsys.readouterr().err
