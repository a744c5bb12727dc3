"""Clocks re-decided when the facts that chose their policy change, counted from the receipt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from atende_events.envelope import Envelope
from sla.domain.book import PolicyBook
from tests.infra import eventually
from tests.service_checks import RunningService, running_service
from tests.sla.integration.support import (
    ADMIN,
    kinds,
    lifecycle,
    of,
    publish,
    received,
    sla_events,
)


async def _events_until(
    svc: RunningService, iid: UUID, wanted: list[str], *, within: float = 30
) -> list[Envelope[Any]]:
    async def probe() -> list[Envelope[Any]] | None:
        mine = of(await sla_events(svc.namespace, within=0.5), iid)
        regulatory = [e for e in mine if e.data.kind.value == "regulatory"]
        return regulatory if kinds(regulatory) == wanted else None

    found: list[Envelope[Any]] = await eventually(
        probe, within=within, interval=0.3, what=f"regulatory events {wanted}"
    )
    return found


async def _clocks(svc: RunningService, iid: UUID) -> dict[str, dict[str, Any]]:
    answer = await svc.client.get(f"/v1/sla/interactions/{iid}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return {c["policy_id"]: c for c in answer.json()["clocks"] if c["kind"] == "regulatory"}


def _due(svc: RunningService, policy_id: str, start: datetime) -> datetime:
    book: PolicyBook = svc.app.state.book
    policy = book.policy(policy_id)
    return policy.target.due_at(start, policy.calendar)


async def test_triage_raising_urgency_redecides_the_clock_from_the_receipt() -> None:
    async with running_service("sla") as svc:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        call = received(channel="phone", demand_type="authorization", at=start)
        iid = call.data.interaction_id
        await publish(svc.namespace, call)
        [started] = await _events_until(svc, iid, ["started"])
        assert started.data.policy_id == "ans-rn623-coverage"

        triaged = start + timedelta(minutes=1)
        queued = {"queue": "saude", "demand_type": "authorization", "demand_type_inferred": False}
        await publish(
            svc.namespace,
            lifecycle("queued", iid, triaged, priority="urgent", **queued),
            # A late, lower priority never downgrades the interaction.
            lifecycle("queued", iid, triaged + timedelta(seconds=1), priority="normal", **queued),
        )
        _, redecided = await _events_until(svc, iid, ["started", "redecided"])
        data = redecided.data
        assert data.clock_id == started.data.clock_id
        assert (data.policy_id, data.previous_policy_id, data.reason) == (
            "ans-rn623-urgency",
            "ans-rn623-coverage",
            "priority_raised",
        )
        assert data.due_at == start + timedelta(hours=2)  # from the receipt, not the triage
        assert data.previous_due_at == started.data.due_at
        assert data.occurred_at == triaged
        clocks = await _clocks(svc, iid)
        assert set(clocks) == {"ans-rn623-urgency"}
        assert clocks["ans-rn623-urgency"]["state"] == "running"


async def test_reclassifying_redecides_from_the_receipt_and_spares_met_clocks() -> None:
    async with running_service("sla") as svc:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        open_call = received(channel="app", demand_type="authorization", at=start)
        answered = received(channel="app", demand_type="authorization", at=start)
        open_id, answered_id = open_call.data.interaction_id, answered.data.interaction_id
        await publish(svc.namespace, open_call, answered)
        await _events_until(svc, open_id, ["started"])
        await _events_until(svc, answered_id, ["started"])
        await publish(
            svc.namespace,
            lifecycle("resolved", answered_id, start + timedelta(hours=3)),
        )
        await _events_until(svc, answered_id, ["started", "met"])

        later = datetime.now(UTC).replace(microsecond=0)
        for iid in (open_id, answered_id):
            await publish(
                svc.namespace,
                lifecycle(
                    "reclassified",
                    iid,
                    later,
                    previous_demand_type="authorization",
                    demand_type="access_elective_admission",
                    previous_queue="autorizacoes",
                ),
            )
        events = await _events_until(svc, open_id, ["started", "redecided", "started"])
        redecided, care = events[1].data, events[2].data
        assert (redecided.policy_id, redecided.reason) == (
            "ans-rn623-high-complexity",
            "reclassified",
        )
        assert redecided.due_at == _due(svc, "ans-rn623-high-complexity", start)
        assert care.policy_id == "ans-rn566-elective-admission"
        assert care.due_at == _due(svc, "ans-rn566-elective-admission", start)
        clocks = await _clocks(svc, open_id)
        assert {c["regime"] for c in clocks.values()} == {"rn623", "rn566"}
        assert {datetime.fromisoformat(c["started_at"]) for c in clocks.values()} == {start}

        # The answered one: its met clock is final, never re-decided; the new regime's clock
        # starts from the receipt and the answer already given stops it.
        events = await _events_until(svc, answered_id, ["started", "met", "started", "met"])
        assert [e.data.policy_id for e in events[2:]] == ["ans-rn566-elective-admission"] * 2
        answered_clocks = await _clocks(svc, answered_id)
        assert answered_clocks["ans-rn623-coverage"]["state"] == "met"
