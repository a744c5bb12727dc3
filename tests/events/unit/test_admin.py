"""The sweep deletes exactly the scratch topics of tests and benchmarks, never the contract's."""

from __future__ import annotations

import uuid

import pytest

from atende_events.admin import SCRATCH_TOPIC
from atende_events.topics import topic_specs


def test_every_scratch_name_tests_and_benchmarks_make_is_swept() -> None:
    namespaces = [f"t{uuid.uuid4().hex[:10]}.", f"bench{uuid.uuid4().hex[:6]}."]
    names = [spec.name for ns in namespaces for spec in topic_specs(3, namespace=ns)]
    names += [f"test.{uuid.uuid4().hex[:12]}", f"bench.ceiling.{uuid.uuid4().hex[:8]}"]
    assert all(SCRATCH_TOPIC.match(name) for name in names)


@pytest.mark.parametrize(
    "name",
    [
        *(spec.name for spec in topic_specs(6)),
        "__consumer_offsets",
        "tenant.atende.interactions.v1",
        "bi.exports",
    ],
)
def test_contract_internal_and_foreign_topics_are_kept(name: str) -> None:
    assert SCRATCH_TOPIC.match(name) is None
