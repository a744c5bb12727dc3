"""Regimes: every regulatory clock that applies, the shorter deadline prevailing, re-decisions."""

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from atende_events.demand_types import demand_codes
from atende_events.sla import ClockKind, ClockType
from sla.domain.book import load_book
from sla.domain.policies import Facts, match_policies, redecided
from sla.service.facts import Happening, Redecision, add_facts, redecision_of

BOOK = load_book(yaml.safe_load((resources.files("sla") / "policies.yaml").read_text()))
RECEIVED = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday
RN623 = ("rn623", ClockKind.REGULATORY, ClockType.RESOLUTION)
RN323 = ("rn323", ClockKind.REGULATORY, ClockType.RESOLUTION)
RN566 = ("rn566", ClockKind.REGULATORY, ClockType.RESOLUTION)
NIP = ("nip", ClockKind.REGULATORY, ClockType.RESOLUTION)


def _regulatory(facts: Facts) -> dict[str, str]:
    matching = match_policies(facts, BOOK.policies)
    return {p.slot[0]: p.id for p in matching.policies if p.kind is ClockKind.REGULATORY}


@pytest.mark.parametrize(
    ("facts", "clocks"),
    [
        (  # an urgent ombudsman contact: immediate answer and the ombudsman's 7 days
            Facts(
                "ombudsman", "member", demand_type="ombudsman_second_instance", priority="urgent"
            ),
            {"rn623": "ans-rn623-urgency", "rn323": "ans-rn323-ombudsman"},
        ),
        (  # the ombudsman's contact is second instance: no RN 623 answer clock when not urgent
            Facts("ombudsman", "member", demand_type="authorization", priority="normal"),
            {"rn323": "ans-rn323-ombudsman"},
        ),
        (  # a second-instance complaint by phone gets RN 323, not RN 623
            Facts("phone", "member", demand_type="ombudsman_second_instance", priority="normal"),
            {"rn323": "ans-rn323-second-instance"},
        ),
        (
            Facts("app", "member", demand_type="ombudsman_second_instance", priority="normal"),
            {"rn323": "ans-rn323-second-instance"},
        ),
        (
            Facts("regulator", "member", demand_type="nip_assistencial", priority="normal"),
            {"nip": "ans-rn483-nip-assistencial"},
        ),
        (
            Facts("regulator", "member", demand_type="nip_nao_assistencial", priority="normal"),
            {"nip": "ans-rn483-nip-nao-assistencial"},
        ),
        (  # an urgent NIP: the regulator's deadline and the immediate answer
            Facts("regulator", "member", demand_type="nip_assistencial", priority="urgent"),
            {"nip": "ans-rn483-nip-assistencial", "rn623": "ans-rn623-urgency"},
        ),
        (  # access to care: RN 623's answer and RN 566's care, each its own clock
            Facts("app", "member", demand_type="access_specialty_consultation", priority="normal"),
            {"rn623": "ans-rn623-coverage", "rn566": "ans-rn566-specialty-consultation"},
        ),
        (  # RN 566's 3 days are shorter than RN 623's 5: they prevail for the answer too
            Facts("web", "member", demand_type="access_outpatient_lab", priority="normal"),
            {"rn623": "ans-rn623-outpatient-lab", "rn566": "ans-rn566-outpatient-lab"},
        ),
        (
            Facts("phone", "member", demand_type="access_elective_admission", priority="normal"),
            {"rn623": "ans-rn623-high-complexity", "rn566": "ans-rn566-elective-admission"},
        ),
        (
            Facts("phone", "member", demand_type="access_urgency", priority="urgent"),
            {"rn623": "ans-rn623-urgency", "rn566": "ans-rn566-urgency"},
        ),
        (  # a follow-up is the operator's own work, whatever its demand type
            Facts("outbound", "member", demand_type="ombudsman_second_instance", priority="urgent"),
            {},
        ),
        (
            Facts("outbound", "member", demand_type="nip_assistencial", priority="normal"),
            {},
        ),
        (
            Facts("email", "member", demand_type="billing", priority="normal"),
            {"rn623": "ans-rn623-other"},
        ),
    ],
)
def test_every_regime_that_applies_gives_its_own_clock(
    facts: Facts, clocks: dict[str, str]
) -> None:
    assert _regulatory(facts) == clocks


def test_no_rn566_care_deadline_ends_before_the_rn623_answer_for_the_same_demand() -> None:
    for demand in demand_codes():
        facts = Facts("phone", "member", demand_type=demand, priority="normal")
        matching = match_policies(facts, BOOK.policies)
        answer, care = matching.chosen_for(RN623), matching.chosen_for(RN566)
        if care is None:
            continue
        assert answer is not None, demand
        answer_due = answer.target.due_at(RECEIVED, answer.calendar)
        care_due = care.target.due_at(RECEIVED, care.calendar)
        assert answer_due <= care_due, (demand, answer.id, care.id)


def test_every_access_to_care_demand_type_has_an_rn566_policy() -> None:
    for demand in demand_codes():
        care = match_policies(
            Facts("phone", "member", demand_type=demand, priority="normal"), BOOK.policies
        ).chosen_for(RN566)
        assert (care is not None) == demand.startswith("access_"), demand


@pytest.mark.parametrize(
    ("current", "slot", "facts", "expected"),
    [
        (  # triage raised the priority: the answer is due immediately
            "ans-rn623-coverage",
            RN623,
            Facts("phone", "member", demand_type="authorization", priority="urgent"),
            "ans-rn623-urgency",
        ),
        (  # corrected demand type: 10 days instead of 5
            "ans-rn623-coverage",
            RN623,
            Facts("phone", "member", demand_type="high_complexity", priority="normal"),
            "ans-rn623-high-complexity",
        ),
        (  # corrected to a non-coverage request: 7 days
            "ans-rn623-coverage",
            RN623,
            Facts("phone", "member", demand_type="billing", priority="normal"),
            "ans-rn623-other",
        ),
        (  # same policy: nothing to re-decide
            "ans-rn623-coverage",
            RN623,
            Facts("phone", "member", demand_type="authorization", priority="normal"),
            None,
        ),
        (  # the regime no longer applies (now second instance): the clock keeps its policy
            "ans-rn623-coverage",
            RN623,
            Facts("phone", "member", demand_type="ombudsman_second_instance", priority="normal"),
            None,
        ),
        (  # undecided (demand type unknown): kept
            "ans-rn623-other",
            RN623,
            Facts("phone", "member", demand_type=None, priority="normal"),
            None,
        ),
        (  # the care clock follows the corrected access type
            "ans-rn566-basic-consultation",
            RN566,
            Facts("app", "member", demand_type="access_specialty_consultation", priority="normal"),
            "ans-rn566-specialty-consultation",
        ),
        (
            "ans-rn483-nip-nao-assistencial",
            NIP,
            Facts("regulator", "member", demand_type="nip_assistencial", priority="normal"),
            "ans-rn483-nip-assistencial",
        ),
        (  # operational clocks keep the policy they started with
            "op-phone-first-response",
            ("operational", ClockKind.OPERATIONAL, ClockType.FIRST_RESPONSE),
            Facts("chat", "member", demand_type="authorization", priority="normal"),
            None,
        ),
    ],
)
def test_redecided(
    current: str,
    slot: tuple[str, ClockKind, ClockType],
    facts: Facts,
    expected: str | None,
) -> None:
    policy = redecided(current, slot, match_policies(facts, BOOK.policies))
    assert (policy.id if policy is not None else None) == expected


def test_a_redecided_deadline_counts_from_the_original_receipt() -> None:
    before = BOOK.policy("ans-rn623-coverage")
    after = BOOK.policy("ans-rn623-high-complexity")
    # Monday 09:00: 5 business days end Monday 14th at 24:00, 10 end Monday 21st at 24:00.
    assert before.target.due_at(RECEIVED, before.calendar) == datetime(
        2026, 12, 15, 3, 0, tzinfo=UTC
    )
    assert after.target.due_at(RECEIVED, after.calendar) == datetime(2026, 12, 22, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("known", "incoming", "priority"),
    [
        ("normal", "urgent", "urgent"),
        ("urgent", "normal", "urgent"),  # never downgraded, whatever the order
        ("normal", "normal", "normal"),
        (None, "urgent", "urgent"),
        ("urgent", None, "urgent"),
    ],
)
def test_urgent_wins_over_normal_whatever_the_order(
    known: str | None, incoming: str | None, priority: str
) -> None:
    facts: dict[str, object] = {"priority": known}
    add_facts(facts, {"priority": incoming})
    assert facts["priority"] == priority


AT = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "after", "reason", "expected"),
    [
        ({"priority": "normal"}, {"priority": "urgent"}, None, "priority_raised"),
        ({"demand_type": "information"}, {"demand_type": "billing"}, None, "demand_type_changed"),
        (
            {"demand_type": "information"},
            {"demand_type": "billing"},
            "reclassified",
            "reclassified",
        ),
        ({"demand_type": None}, {"demand_type": "billing"}, None, None),  # first decided
        ({"demand_type": "billing"}, {"demand_type": "billing"}, None, None),
        ({"queue": "geral"}, {"queue": "dividas"}, None, "facts_changed"),
    ],
)
def test_redecision_of(
    before: dict[str, object], after: dict[str, object], reason: str | None, expected: str | None
) -> None:
    happening = Happening(uuid4(), at=AT, reason=reason)
    got = redecision_of(before, {"received_at": RECEIVED, **after}, happening)
    assert got == (None if expected is None else Redecision(expected, AT))


def test_the_readme_lists_every_policy_of_the_book() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    missing = [p.id for p in BOOK.policies if f"| `{p.id}` |" not in readme]
    assert not missing
