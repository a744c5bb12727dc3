"""Policy matching on the shipped policy book, the book's validation, and clock verdicts."""

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from atende_events.sla import ClockKind, ClockType
from sla.domain.book import load_book
from sla.domain.policies import (
    ClockState,
    Facts,
    budget_of,
    latest_extension,
    match_policies,
    outcome,
    schedule,
    stops,
)

BOOK = load_book(yaml.safe_load((resources.files("sla") / "policies.yaml").read_text()))
WAITING_FOR_DEMAND = {"rn323", "nip", "rn566"}
"""Regimes whose clocks wait for the demand type (unless a channel already decided them)."""


@pytest.mark.parametrize(
    ("facts", "policies", "undecided"),
    [
        (
            Facts(channel="phone", party_kind="member", priority="urgent"),
            {"ans-rn623-urgency", "op-phone-first-response", "op-resolution-2-business-days"},
            WAITING_FOR_DEMAND,
        ),
        (
            Facts(channel="ombudsman", party_kind="member", priority="normal"),
            {"ans-rn323-ombudsman", "op-resolution-2-business-days"},
            {"rn623", "nip", "rn566"},
        ),
        (
            Facts(
                channel="phone", party_kind="member", priority="normal", demand_type="authorization"
            ),
            {"ans-rn623-coverage", "op-phone-first-response", "op-resolution-2-business-days"},
            set(),
        ),
        (
            Facts(
                channel="chat",
                party_kind="member",
                priority="normal",
                demand_type="high_complexity",
            ),
            {
                "ans-rn623-high-complexity",
                "op-chat-first-response",
                "op-resolution-2-business-days",
            },
            set(),
        ),
        (
            Facts(
                channel="whatsapp", party_kind="member", priority="normal", demand_type="billing"
            ),
            {"ans-rn623-other", "op-chat-first-response", "op-resolution-2-business-days"},
            set(),
        ),
        (
            Facts(channel="email", party_kind="provider", priority="normal", demand_type="debt"),
            {"op-resolution-2-business-days"},
            set(),
        ),
        (  # a provider's authorisation is still the member's coverage request
            Facts(
                channel="web", party_kind="provider", priority="normal", demand_type="authorization"
            ),
            {"ans-rn623-coverage", "op-resolution-2-business-days"},
            set(),
        ),
        (  # no demand type yet: the regulatory clock waits for routing's interaction.queued
            Facts(channel="phone", party_kind="member", priority="normal"),
            {"op-phone-first-response", "op-resolution-2-business-days"},
            {"rn623", *WAITING_FOR_DEMAND},
        ),
        (  # urgent ombudsman: the urgency clock AND the ombudsman's 7 days
            Facts(channel="ombudsman", party_kind="member", priority="urgent"),
            {"ans-rn623-urgency", "ans-rn323-ombudsman", "op-resolution-2-business-days"},
            {"nip", "rn566"},
        ),
        (  # a survey follow-up is the operator's own work: operational clocks only
            Facts(
                channel="outbound", party_kind="member", priority="normal", demand_type="followup"
            ),
            {"op-resolution-2-business-days"},
            set(),
        ),
        (  # even an urgent one, or one about coverage
            Facts(
                channel="outbound",
                party_kind="member",
                priority="urgent",
                demand_type="authorization",
            ),
            {"op-resolution-2-business-days"},
            set(),
        ),
    ],
)
def test_policy_matching(facts: Facts, policies: set[str], undecided: set[str]) -> None:
    matching = match_policies(facts, BOOK.policies)
    assert {policy.id for policy in matching.policies} == policies
    assert {regime for regime, _, _ in matching.undecided} == undecided


def test_every_shipped_policy_cites_its_source_and_regulatory_clocks_never_pause() -> None:
    for policy in BOOK.policies:
        assert policy.source
        assert not (policy.kind is ClockKind.REGULATORY and policy.pauses), policy.id


def _book(**policy: Any) -> dict[str, Any]:
    return {
        "calendars": {"24x7": {"always_open": True}},
        "policies": [
            {
                "id": "p",
                "source": "test",
                "kind": "operational",
                "clock": "resolution",
                "target": {"seconds": 5},
                "calendar": "24x7",
                **policy,
            }
        ],
    }


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        (_book(kind="regulatory", pauses=True), "never pauses"),
        (_book(calendar="nowhere"), "unknown calendar"),
        (_book(target={"seconds": 5, "business_days": 2}), "exactly one"),
        (_book(target={}), "exactly one"),
        (_book(warn_at=1.5), "less than 1"),
        (_book(source=""), "at least 1 character"),
        (
            {**_book(), "calendars": {"24x7": {"hours": {"mon": ["18:00-08:00"]}}}},
            "forwards",
        ),
        ({"calendars": {"c": {}}, "policies": [_book()["policies"][0]]}, "always_open"),
        ({**_book(), "policies": _book()["policies"] * 2}, "unique"),
        ({**_book(), "calendars": {"24x7": {"always_open": True, "zone": "Mars/Olympus"}}}, "zone"),
        (
            {
                **_book(),
                "calendars": {"24x7": {"hours": {"mon": ["08:00-18:00"]}, "country": "XX"}},
            },
            "XX",
        ),
        (
            {
                **_book(),
                "calendars": {"24x7": {"hours": {"mon": ["08:00-18:00"]}, "subdivision": "ZZ"}},
            },
            "ZZ",
        ),
    ],
)
def test_an_invalid_book_is_refused(document: dict[str, Any], complaint: str) -> None:
    with pytest.raises((ValidationError, ValueError), match=complaint):
        load_book(document)


AT = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "clock_type", "facts", "stopped"),
    [
        (ClockKind.OPERATIONAL, ClockType.FIRST_RESPONSE, {"first_accepted_at": AT}, AT),
        (ClockKind.OPERATIONAL, ClockType.FIRST_RESPONSE, {"completed_at": AT}, None),
        (ClockKind.OPERATIONAL, ClockType.RESOLUTION, {"completed_at": AT}, AT),
        (ClockKind.OPERATIONAL, ClockType.RESOLUTION, {"first_accepted_at": AT}, None),
        (ClockKind.REGULATORY, ClockType.RESOLUTION, {"answered_at": AT, "completed_at": AT}, AT),
        # completed without a conclusive answer: the regulator's clock keeps running
        (ClockKind.REGULATORY, ClockType.RESOLUTION, {"completed_at": AT}, None),
    ],
)
def test_what_stops_a_clock(
    kind: ClockKind, clock_type: ClockType, facts: dict[str, datetime], stopped: datetime | None
) -> None:
    known = {"first_accepted_at": None, "completed_at": None, "answered_at": None, **facts}
    assert stops(kind, clock_type, **known) == stopped


@pytest.mark.parametrize(
    ("elapsed", "budget", "verdict"),
    [(59, 60, ClockState.MET), (60, 60, ClockState.MET), (61, 60, ClockState.BREACHED)],
)
def test_a_stopped_clock_is_met_within_its_budget(
    elapsed: int, budget: int, verdict: ClockState
) -> None:
    assert outcome(timedelta(seconds=elapsed), timedelta(seconds=budget)) == verdict


def test_a_clock_warns_at_80_percent_and_pauses_push_both_moments() -> None:
    policy = BOOK.policy("op-resolution-2-business-days")
    received = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # Monday 10:00 in Sao Paulo
    budget = budget_of(policy, received)
    assert budget == timedelta(hours=28)  # 8 h on Monday, 10 h on Tuesday and Wednesday
    plain = schedule(
        started_at=received, budget=budget, warn_at_fraction=0.8, calendar=policy.calendar
    )
    assert plain.due_at == datetime(2026, 11, 25, 21, 0, tzinfo=UTC)  # Wednesday 18:00
    assert plain.warn_at == datetime(2026, 11, 25, 15, 24, tzinfo=UTC)  # 22.4 h in
    waited = (received + timedelta(hours=1), received + timedelta(hours=3))
    paused = schedule(
        started_at=received,
        budget=budget,
        warn_at_fraction=0.8,
        calendar=policy.calendar,
        paused=[waited],
    )
    assert paused.due_at == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)  # Thursday 10:00
    assert paused.warn_at == plain.warn_at + timedelta(hours=2)


@pytest.mark.parametrize(
    ("requested", "refusal"),
    [
        (datetime(2026, 12, 15, 12, 0, tzinfo=UTC), None),
        (datetime(2026, 11, 30, 12, 0, tzinfo=UTC), "later than the current one"),
        (datetime(2027, 1, 20, 12, 0, tzinfo=UTC), "at most 30 business days"),
    ],
)
def test_the_ombudsman_extension_is_bounded_by_30_business_days(
    requested: datetime, refusal: str | None
) -> None:
    policy = BOOK.policy("ans-rn323-ombudsman")
    received = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    due = policy.target.due_at(received, policy.calendar)
    assert due == datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # end of Wednesday 2 December
    verdict = latest_extension(policy, received, due, requested)
    if refusal is None:
        assert verdict is None
    else:
        assert verdict is not None and refusal in verdict


def test_only_the_ombudsman_clock_extends() -> None:
    policy = BOOK.policy("ans-rn623-coverage")
    verdict = latest_extension(policy, AT, AT + timedelta(days=7), AT + timedelta(days=9))
    assert verdict is not None and "cannot be extended" in verdict
