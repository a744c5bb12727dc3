"""Logs in an outage: one line per cause per interval, with the count of those held back."""

from __future__ import annotations

import logging

from atende_events.web import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str, *args: object, level: int = logging.ERROR, name: str = "relay"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_repeated_cause_passes_once_per_interval_and_then_says_how_often_it_came() -> None:
    clock = Clock()
    repeats = RepeatFilter(10.0, clock=clock)
    template = "cannot publish yet: %r"

    passed = [repeats.filter(record(template, ConnectionError(f"try {n}"))) for n in range(500)]
    clock.now = 10.5
    later = record(template, ConnectionError("again"))

    assert passed == [True] + [False] * 499
    assert repeats.filter(later)
    assert later.repeated == 499  # type: ignore[attr-defined]


def test_other_causes_and_lower_levels_are_not_held() -> None:
    repeats = RepeatFilter(10.0, clock=Clock())
    assert repeats.filter(record("cannot publish yet: %r", ConnectionError()))
    # Another exception type, another template, another logger: other causes.
    assert repeats.filter(record("cannot publish yet: %r", TimeoutError()))
    assert repeats.filter(record("consumer failed: %r", ConnectionError()))
    assert repeats.filter(record("cannot publish yet: %r", ConnectionError(), name="consumer"))
    # Information is never held.
    assert all(repeats.filter(record("handled %d", n, level=logging.INFO)) for n in range(5))
