"""Hypothesis strategies for Kafka record values: anything a topic could hold, hostile or not."""

from __future__ import annotations

import copy
import json
from typing import Any

import hypothesis.strategies as st

from atende_events.envelope import encode
from atende_events.registry import EVENT_TYPES
from atende_events.samples import sample_event

Document = dict[str, Any]

SAMPLES: list[Document] = [json.loads(encode(sample_event(name))) for name in sorted(EVENT_TYPES)]
"""One valid event of every type, as JSON documents to mangle."""


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: json.dumps writes them, json.loads reads them
    | st.text(max_size=30)
    # Values that are valid somewhere in some event: a date where a uuid goes, and so on.
    | st.sampled_from(sorted({json.dumps(leaf) for s in SAMPLES for leaf in _leaves(s)})).map(
        json.loads
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
"""Any JSON value."""

hostile_json: st.SearchStrategy[bytes] = st.one_of(
    # Nesting deeper than a recursive parser goes.
    st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]).flatmap(
        lambda brackets: st.integers(min_value=900, max_value=5_000).map(
            lambda depth: brackets[0] * depth + brackets[1] * depth
        )
    ),
    # Integers longer than Python converts (4,300 digits), alone or where an event has one.
    st.integers(min_value=4_301, max_value=6_000).map(lambda digits: b"9" * digits),
    st.integers(min_value=4_301, max_value=6_000).map(
        lambda digits: (
            b'{"specversion": "1.0", "type": "atende.interaction.received.v1", '
            b'"data": {"occurred_at": ' + b"1" * digits + b"}}"
        )
    ),
)
"""JSON that is valid, or nearly, but breaks naive readers."""


@st.composite
def mangled_events(draw: st.DrawFn) -> bytes:
    """A valid event with a few attributes or data fields removed, replaced or added."""
    document: Document = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        data = document.get("data")
        targets = [document, data] if isinstance(data, dict) else [document]
        target = draw(st.sampled_from(targets))
        action = draw(st.sampled_from(["replace", "remove", "add", "retype"]))
        if action == "retype":
            # Another type's name over this type's data, or the right name on a mangled copy.
            document["type"] = draw(st.sampled_from(sorted(EVENT_TYPES)))
        elif action == "remove" and target:
            target.pop(draw(st.sampled_from(sorted(target))))
        elif action == "add":
            target[draw(st.text(max_size=12))] = draw(json_values)
        elif target:
            target[draw(st.sampled_from(sorted(target)))] = draw(json_values)
    return json.dumps(document).encode()


record_values: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    hostile_json,
    mangled_events(),
)
"""Any record value: bytes, any JSON, hostile JSON, or an event gone wrong."""
