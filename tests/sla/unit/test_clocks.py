"""What an open clock does next, given what is known of its interaction."""

from datetime import UTC, datetime, timedelta

import pytest

from sla.domain.book import load_book
from sla.domain.clocks import Paused, Progress, Running, Step, Stopped, next_step, time_used
from sla.domain.policies import ClockState, Schedule

BOOK = load_book(
    {
        "calendars": {"24x7": {"always_open": True}},
        "policies": [
            {
                "id": "regulatory",
                "source": "test",
                "kind": "regulatory",
                "clock": "resolution",
                "target": {"hours": 2},
                "calendar": "24x7",
            },
            {
                "id": "operational",
                "source": "test",
                "kind": "operational",
                "clock": "resolution",
                "target": {"hours": 2},
                "calendar": "24x7",
                "pauses": True,
            },
            {
                "id": "first-response",
                "source": "test",
                "kind": "operational",
                "clock": "first_response",
                "target": {"seconds": 20},
                "calendar": "24x7",
            },
        ],
    }
)
T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
HOURS_2 = timedelta(hours=2)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def running(due_minutes: float, warn_minutes: float, resumed: float | None = None) -> Running:
    return Running(
        schedule=Schedule(warn_at=at(warn_minutes), due_at=at(due_minutes)),
        resumed_at=None if resumed is None else at(resumed),
    )


@pytest.mark.parametrize(
    ("policy", "state", "progress", "expected"),
    [
        # answered within the 2 hours: met, with the business time it took
        (
            "regulatory",
            ClockState.RUNNING,
            Progress(completed_at=at(30), answered_at=at(30)),
            Stopped(ClockState.MET, timedelta(minutes=30), at(30)),
        ),
        # answered late: breached
        (
            "regulatory",
            ClockState.RUNNING,
            Progress(completed_at=at(150), answered_at=at(150)),
            Stopped(ClockState.BREACHED, timedelta(minutes=150), at(150)),
        ),
        # completed without a conclusive answer, and a wait: the regulatory clock goes on
        (
            "regulatory",
            ClockState.RUNNING,
            Progress(completed_at=at(30), pauses=[(at(10), None)]),
            None,
        ),
        # the operational clock pauses while the customer is awaited
        (
            "operational",
            ClockState.RUNNING,
            Progress(pauses=[(at(10), None)]),
            Paused(timedelta(minutes=10), at(10)),
        ),
        ("operational", ClockState.PAUSED, Progress(pauses=[(at(10), None)]), None),
        # and resumes with both moments pushed by the 50 minutes of waiting
        (
            "operational",
            ClockState.PAUSED,
            Progress(pauses=[(at(10), at(60))]),
            running(due_minutes=170, warn_minutes=146, resumed=60),
        ),
        # a pause that ended before the clock was seen still pushes its schedule
        (
            "operational",
            ClockState.RUNNING,
            Progress(pauses=[(at(10), at(60))]),
            running(due_minutes=170, warn_minutes=146),
        ),
        # completed while waiting: the wait does not count against it
        (
            "operational",
            ClockState.PAUSED,
            Progress(completed_at=at(150), pauses=[(at(10), None)]),
            Stopped(ClockState.MET, timedelta(minutes=10), at(150)),
        ),
        (
            "operational",
            ClockState.RUNNING,
            Progress(completed_at=at(150), pauses=[(at(10), at(20))]),
            Stopped(ClockState.BREACHED, timedelta(minutes=140), at(150)),
        ),
        # the first accept stops the first-response clock, a completion alone does not
        (
            "first-response",
            ClockState.RUNNING,
            Progress(first_accepted_at=T0 + timedelta(seconds=15), completed_at=at(1)),
            Stopped(ClockState.MET, timedelta(seconds=15), T0 + timedelta(seconds=15)),
        ),
        ("first-response", ClockState.RUNNING, Progress(completed_at=at(1)), None),
    ],
)
def test_next_step(
    policy: str, state: ClockState, progress: Progress, expected: Step | None
) -> None:
    budget = timedelta(seconds=20) if policy == "first-response" else HOURS_2
    step = next_step(
        BOOK.policy(policy), state=state, started_at=T0, budget=budget, progress=progress
    )
    assert step == expected


@pytest.mark.parametrize(
    ("policy", "state", "pauses", "expected_minutes"),
    [
        ("operational", ClockState.RUNNING, [], 90),
        ("operational", ClockState.RUNNING, [(at(10), at(40))], 60),
        ("operational", ClockState.RUNNING, [(at(80), None)], 80),  # paused until now
        ("regulatory", ClockState.RUNNING, [(at(10), at(40))], 90),  # never pauses
        ("operational", ClockState.MET, [], 7),  # a closed clock keeps what was recorded
    ],
)
def test_time_used(
    policy: str,
    state: ClockState,
    pauses: list[tuple[datetime, datetime | None]],
    expected_minutes: int,
) -> None:
    used = time_used(
        BOOK.policy(policy),
        state=state,
        started_at=T0,
        recorded=timedelta(minutes=7),
        pauses=pauses,
        now=at(90),
    )
    assert used == timedelta(minutes=expected_minutes)
