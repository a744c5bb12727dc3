"""How far sla knows every stop event, from the producers' watermarks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sla.domain.watermarks import Mark, known_until

T = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TOPIC = "atende.interactions.v1"


def marks(producer: str, *lows: int, partitions: int | None = None) -> list[Mark]:
    """One mark per partition, `lows` seconds after T."""
    count = partitions if partitions is not None else len(lows)
    return [Mark(producer, TOPIC, p, count, T + timedelta(seconds=s)) for p, s in enumerate(lows)]


@pytest.mark.parametrize(
    ("held", "producers", "expected"),
    [
        # Every partition of both producers: the lowest of all.
        (marks("intake", 5, 7, 9) + marks("routing", 8, 3, 6), ["intake", "routing"], 3),
        # A producer with no watermark at all: nothing is known.
        (marks("intake", 5, 7, 9), ["intake", "routing"], None),
        # A partition without a watermark yet: its stop events may be anywhere.
        (marks("routing", 5, 7, partitions=3), ["routing"], None),
        # Watermarks of producers not waited for do not count.
        (marks("routing", 5, 6) + marks("survey", 1, 1), ["routing"], 5),
        # A producer that marks two topics is known up to the lower.
        (
            marks("routing", 9, 9) + [Mark("routing", "atende.other.v1", 0, 1, T)],
            ["routing"],
            0,
        ),
    ],
)
def test_stop_events_are_known_up_to_the_lowest_watermark_of_complete_topics(
    held: list[Mark], producers: list[str], expected: int | None
) -> None:
    moment = known_until(held, producers=producers)

    assert moment == (None if expected is None else T + timedelta(seconds=expected))
