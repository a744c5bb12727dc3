"""Priority order of waiting work and the choice of the best agent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from routing.config import Settings
from routing.domain import (
    AgentState,
    OfferableWork,
    Overflow,
    WaitingWork,
    choose_agent,
    free_channels,
    in_priority_order,
    rank_of,
    reason_code_problem,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OVERFLOW = Overflow(skill="geral", min_proficiency=3)
BOOK = Settings().rule_book()


def rank(**overrides: Any) -> int:
    fields: dict[str, Any] = {
        "priority": "normal",
        "channel": "phone",
        "queue": "autorizacoes",
        "demand_type": "authorization",
        "breached": False,
        **overrides,
    }
    return rank_of(**fields)


@pytest.mark.parametrize(
    ("higher", "lower"),
    [
        (
            {"priority": "urgent", "queue": "saude", "demand_type": "clinical"},
            {"channel": "regulator", "queue": "ouvidoria"},
        ),
        ({"channel": "regulator", "queue": "ouvidoria"}, {"breached": True}),
        ({"channel": "ombudsman", "queue": "ouvidoria"}, {"breached": True}),
        ({"breached": True}, {}),
        ({"priority": "urgent", "demand_type": "clinical", "queue": "geral"}, {"breached": True}),
    ],
)
def test_rank_puts_urgent_clinical_then_second_instance_then_breached_first(
    higher: dict[str, Any], lower: dict[str, Any]
) -> None:
    assert rank(**higher) < rank(**lower)


@pytest.mark.parametrize(
    "same",
    [
        {"priority": "urgent"},  # urgent but not clinical: no jump
        {"channel": "chat"},
        {"queue": "dividas", "demand_type": "debt"},
    ],
)
def test_rank_does_not_change_for_ordinary_differences(same: dict[str, Any]) -> None:
    assert rank(**same) == rank()


def work(name: str, rank: int, due_in: float | None, arrived: float) -> WaitingWork:
    return WaitingWork(
        id=name,
        rank=rank,
        due_at=None if due_in is None else T0 + timedelta(minutes=due_in),
        received_at=T0 + timedelta(seconds=arrived),
    )


@pytest.mark.parametrize(
    ("works", "expected"),
    [
        # arrival breaks ties
        ([work("b", 3, None, 2), work("a", 3, None, 1)], ["a", "b"]),
        # the earliest deadline goes first, whatever the arrival; none last
        (
            [work("late", 3, 60, 1), work("soon", 3, 5, 9), work("none", 3, None, 0)],
            ["soon", "late", "none"],
        ),
        # rank beats the deadline
        (
            [work("normal", 3, 1, 0), work("ombudsman", 1, 900, 5), work("urgent", 0, None, 9)],
            ["urgent", "ombudsman", "normal"],
        ),
        # a breach raises work above the ordinary ones with earlier deadlines
        ([work("ordinary", 3, -5, 0), work("breached", 2, -1, 5)], ["breached", "ordinary"]),
    ],
)
def test_waiting_work_is_offered_in_priority_order(
    works: list[WaitingWork], expected: list[str]
) -> None:
    assert [item.id for item in in_priority_order(works)] == expected


def agent(name: str, **overrides: Any) -> AgentState:
    fields: dict[str, Any] = {
        "id": name,
        "status": "available",
        "skills": {"autorizacoes": 3},
        "capacity": {"phone": 1, "chat": 3},
        "load": {},
        "idle_since": T0,
        **overrides,
    }
    return AgentState(**fields)


PHONE_WORK = OfferableWork(queue="autorizacoes", channel="phone")
CHAT_WORK = OfferableWork(queue="autorizacoes", channel="chat")


@pytest.mark.parametrize(
    ("offered", "agents", "chosen"),
    [
        (
            "higher proficiency wins",
            [agent("a", skills={"autorizacoes": 2}), agent("b", skills={"autorizacoes": 5})],
            "b",
        ),
        (
            "longest idle wins among equals",
            [agent("a", idle_since=T0 + timedelta(minutes=5)), agent("b")],
            "b",
        ),
        ("never busy counts as longest idle", [agent("a"), agent("b", idle_since=None)], "b"),
        (
            "proficiency beats idle time",
            [
                agent("a", idle_since=T0 - timedelta(hours=1)),
                agent("b", skills={"autorizacoes": 4}),
            ],
            "b",
        ),
        ("away agents are not offered", [agent("a", status="away"), agent("b")], "b"),
        ("offline agents are not offered", [agent("a", status="offline")], None),
        ("no skill, no offer", [agent("a", skills={"dividas": 5})], None),
        (
            "a full phone slot blocks phone work",
            [agent("a", load={"phone": 1}, skills={"autorizacoes": 5}), agent("b")],
            "b",
        ),
        ("no phone capacity at all", [agent("a", capacity={"chat": 3})], None),
        (
            "an agent who rejected it is not offered it again",
            [agent("a", skills={"autorizacoes": 5}), agent("b")],
            "b",
        ),
        ("nobody at all", [], None),
    ],
)
def test_choose_agent_for_phone_work(
    offered: str, agents: list[AgentState], chosen: str | None
) -> None:
    work = PHONE_WORK
    if "rejected" in offered:
        work = OfferableWork(queue="autorizacoes", channel="phone", declined_by=frozenset({"a"}))
    best = choose_agent(work, agents, OVERFLOW)
    assert (best.id if best else None) == chosen, offered


def test_chat_capacity_counts_chats_separately_from_phone() -> None:
    busy_on_phone = agent("a", load={"phone": 1, "chat": 2})
    assert free_channels(busy_on_phone) == {"chat"}
    assert choose_agent(CHAT_WORK, [busy_on_phone], OVERFLOW) == busy_on_phone
    full = agent("a", load={"phone": 1, "chat": 3})
    assert choose_agent(CHAT_WORK, [full], OVERFLOW) is None


@pytest.mark.parametrize(
    ("escalated", "generalist", "chosen"),
    [
        (False, {"geral": 5}, None),  # before the escalation step only the queue's skill counts
        (True, {"geral": 3}, "g"),
        (True, {"geral": 2}, None),  # below the overflow proficiency
    ],
)
def test_escalated_work_also_goes_to_the_overflow_skill(
    escalated: bool, generalist: dict[str, int], chosen: str | None
) -> None:
    work = OfferableWork(queue="autorizacoes", channel="phone", escalated=escalated)
    best = choose_agent(work, [agent("g", skills=generalist)], OVERFLOW)
    assert (best.id if best else None) == chosen


def test_specialists_go_before_overflow_agents() -> None:
    work = OfferableWork(queue="autorizacoes", channel="phone", escalated=True)
    agents = [agent("g", skills={"geral": 5}), agent("s", skills={"autorizacoes": 1})]
    best = choose_agent(work, agents, OVERFLOW)
    assert best is not None and best.id == "s"


@pytest.mark.parametrize(
    ("queue", "reason_code", "problem"),
    [
        ("sucesso_cliente", None, "needs a reason_code"),
        ("sucesso_cliente", "made_up", "not in the configured taxonomy"),
        ("sucesso_cliente", "callback_done", None),
        ("geral", None, None),
        ("geral", "nonsense", "not in the configured taxonomy"),
    ],
)
def test_reason_codes_come_from_the_taxonomy(
    queue: str, reason_code: str | None, problem: str | None
) -> None:
    found = reason_code_problem(queue=queue, reason_code=reason_code, book=BOOK)
    assert (found is None) if problem is None else (found is not None and problem in found)
