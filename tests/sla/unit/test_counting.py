"""How the shipped book counts regulatory business days, around weekends, holidays and year ends.

The rule (policies.yaml, Lei 13.105/2015 art. 219 and 224): the day of registration is left out,
only business days count, and the deadline runs to the end of the Nth business day in the
operator's zone. Business days close on national holidays; the operator's state, municipality
and Carnaval only when configured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
import yaml

from atende_events.calendar import OperatorHolidays
from sla.domain.book import PolicyBook, load_book

SP = ZoneInfo("America/Sao_Paulo")
DOCUMENT = yaml.safe_load(resources.files("sla").joinpath("policies.yaml").read_text("utf-8"))
NATIONAL = load_book(DOCUMENT)


def due(book: PolicyBook, policy_id: str, registered: datetime) -> datetime:
    policy = book.policy(policy_id)
    return policy.target.due_at(registered, policy.calendar).astimezone(SP)


def end_of(day: str) -> datetime:
    """24:00 of a local day, as the next day's 00:00."""
    return datetime.fromisoformat(day).replace(tzinfo=SP) + timedelta(days=1)


@pytest.mark.parametrize(
    ("registered", "policy_id", "last_day"),
    [
        # 5 business days (coverage): a Friday morning or a Saturday end on the next Friday.
        ("2026-12-04T09:00", "ans-rn623-coverage", "2026-12-11"),
        ("2026-12-05T15:00", "ans-rn623-coverage", "2026-12-11"),
        # A registration at 23:59 still leaves its own day out, like one at 00:01.
        ("2026-12-07T23:59", "ans-rn623-coverage", "2026-12-14"),
        ("2026-12-07T00:01", "ans-rn623-coverage", "2026-12-14"),
        # Christmas (a Friday) and New Year's Day (a Friday) are skipped; the year turns.
        ("2026-12-21T10:00", "ans-rn623-coverage", "2026-12-29"),
        ("2026-12-31T10:00", "ans-rn623-coverage", "2027-01-08"),
        # 7 business days (not about coverage) across Tiradentes (Wednesday 2027-04-21).
        ("2027-04-19T10:00", "ans-rn623-other", "2027-04-29"),
        # 10 business days (high complexity) across Good Friday (2027-03-26).
        ("2027-03-22T10:00", "ans-rn623-high-complexity", "2027-04-06"),
        # Black Awareness Day is national since Lei 14.759/2023 (Friday 2026-11-20).
        ("2026-11-16T10:00", "ans-rn623-coverage", "2026-11-24"),
        # Carnaval (2027-02-08 and 09) is a business day by default.
        ("2027-02-05T10:00", "ans-rn623-coverage", "2027-02-12"),
    ],
)
def test_regulatory_deadlines_run_to_the_end_of_the_nth_business_day(
    registered: str, policy_id: str, last_day: str
) -> None:
    moment = datetime.fromisoformat(registered).replace(tzinfo=SP)

    assert due(NATIONAL, policy_id, moment) == end_of(last_day)


@pytest.mark.parametrize(
    ("operator", "registered", "last_day"),
    [
        # The operator closes on Carnaval: Monday and Tuesday 2027-02-08/09 do not count.
        (OperatorHolidays(closes_carnival=True), "2027-02-05T10:00", "2027-02-16"),
        # Sao Paulo state: 9 July (Friday 2027-07-09) is closed there, not elsewhere.
        (OperatorHolidays(subdivision="SP"), "2027-07-05T10:00", "2027-07-13"),
        (OperatorHolidays(), "2027-07-05T10:00", "2027-07-12"),
        # The city of Sao Paulo's anniversary, 25 January (Monday 2027-01-25), as a yearly
        # closed date, a one-off closed date, or the holidays library's municipality.
        (OperatorHolidays(), "2027-01-22T10:00", "2027-01-29"),
        (OperatorHolidays(closed_dates=("01-25",)), "2027-01-22T10:00", "2027-02-01"),
        (OperatorHolidays(closed_dates=("2027-01-27",)), "2027-01-22T10:00", "2027-02-01"),
        (OperatorHolidays(subdivision="São Paulo Capital"), "2027-01-22T10:00", "2027-02-01"),
    ],
)
def test_the_operators_state_municipality_and_carnaval_close_days_only_when_configured(
    operator: OperatorHolidays, registered: str, last_day: str
) -> None:
    book = load_book(DOCUMENT, operator=operator)
    moment = datetime.fromisoformat(registered).replace(tzinfo=SP)

    assert due(book, "ans-rn623-coverage", moment) == end_of(last_day)
