"""Deadline figures per policy and month, as a regulator asks for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from atende_events import samples
from atende_events.envelope import EventData
from tests.analytics.integration.support import at, kpis, processed, publish
from tests.service_checks import running_service

POLICY = "ans-rn623-coverage"


def clock(started: datetime, due: datetime, end: str | None) -> list[EventData]:
    """A received interaction with one clock, started and, when `end` says so, met or breached."""
    receipt = samples.make_interaction_received(occurred_at=started, received_at=started)
    ids = {"interaction_id": receipt.interaction_id, "clock_id": uuid4(), "policy_id": POLICY}
    events: list[EventData] = [
        receipt,
        samples.make_sla_started(occurred_at=started, due_at=due, **ids),
    ]
    if end == "met":
        events.append(samples.make_sla_met(occurred_at=due - timedelta(hours=1), due_at=due, **ids))
    elif end == "breached":
        events.append(samples.make_sla_breached(occurred_at=due, due_at=due, **ids))
    return events


async def test_open_clocks_past_their_deadline_count_against_the_rate_before_they_close() -> None:
    far = datetime.now(UTC) + timedelta(days=30)
    week = [
        *clock(at(10, 9), at(14, 9), "met"),
        *clock(at(10, 10), at(14, 10), "breached"),
        *clock(at(11, 9), at(15, 9), None),  # open, and its deadline has passed
        *clock(at(12, 9), far, None),  # open, still in time
    ]
    async with running_service("analytics") as svc:
        await publish(svc.namespace, week)
        await processed(svc, len(week))
        report = await kpis(svc)

    [figures] = report["deadlines"]
    assert figures == {
        "policy_id": POLICY,
        "kind": "regulatory",
        "month": "2025-03",
        "started": 4,
        "met": 1,
        "breached": 1,
        "open": 2,
        "past_due": 1,
        "within_deadline_rate": 1 / 3,
    }


async def test_conclusive_answers_are_counted_per_month_and_outcome() -> None:
    events: list[EventData] = []
    for day, outcome in [(10, "authorised"), (11, "authorised"), (12, "denied"), (13, None)]:
        receipt = samples.make_interaction_received(occurred_at=at(day, 9), received_at=at(day, 9))
        answer: dict[str, object] = {"outcome": outcome}
        if outcome == "denied":
            answer |= {"denial_reason": "not_covered", "legal_basis": "Contrato, cláusula 12.3"}
        events += [
            receipt,
            samples.make_interaction_resolved(
                interaction_id=receipt.interaction_id, occurred_at=at(day, 15), **answer
            ),
        ]
    async with running_service("analytics") as svc:
        await publish(svc.namespace, events)
        await processed(svc, len(events))
        report = await kpis(svc)

    assert report["answer_outcomes"] == [
        {"month": "2025-03", "outcome": "authorised", "answers": 2},
        {"month": "2025-03", "outcome": "denied", "answers": 1},
    ]


async def test_a_redecided_clock_counts_under_its_new_policy_and_deadline() -> None:
    started, due, later = at(10, 9), at(17, 9), at(24, 9)
    receipt = samples.make_interaction_received(occurred_at=started, received_at=started)
    ids = {"interaction_id": receipt.interaction_id, "clock_id": uuid4()}
    events: list[EventData] = [
        receipt,
        samples.make_sla_started(occurred_at=started, due_at=due, policy_id=POLICY, **ids),
        samples.make_sla_redecided(
            occurred_at=started + timedelta(hours=1),
            policy_id="ans-rn623-high-complexity",
            due_at=later,
            previous_policy_id=POLICY,
            previous_due_at=due,
            reason="reclassified",
            **ids,
        ),
        samples.make_sla_met(
            occurred_at=at(20, 9), policy_id="ans-rn623-high-complexity", due_at=later, **ids
        ),
    ]
    async with running_service("analytics") as svc:
        await publish(svc.namespace, events)
        await processed(svc, len(events))
        report = await kpis(svc)

    [figures] = report["deadlines"]
    assert (figures["policy_id"], figures["started"], figures["met"]) == (
        "ans-rn623-high-complexity",
        1,
        1,
    )


async def test_a_reclassification_keeps_the_original_and_the_corrected_demand_type() -> None:
    events: list[EventData] = []
    for day, original, corrected in [
        (10, "information", "authorization"),
        (11, "information", "authorization"),
        (12, "billing", "debt"),
        (13, "billing", None),  # never corrected
    ]:
        receipt = samples.make_interaction_received(
            occurred_at=at(day, 9), received_at=at(day, 9), demand_type=original
        )
        events.append(receipt)
        if corrected is not None:
            events.append(
                samples.make_interaction_reclassified(
                    interaction_id=receipt.interaction_id,
                    occurred_at=at(day, 10),
                    previous_demand_type=original,
                    demand_type=corrected,
                )
            )
    async with running_service("analytics") as svc:
        await publish(svc.namespace, events)
        await processed(svc, len(events))
        report = await kpis(svc)

    assert report["reclassifications"] == [
        {"original_demand_type": "billing", "demand_type": "debt", "interactions": 1},
        {"original_demand_type": "information", "demand_type": "authorization", "interactions": 2},
    ]
