"""Every regulatory clock that applies, re-decided on correction, through intake, routing and sla.

An urgent ombudsman contact carries the RN 623 urgency clock and the RN 323 clock; a request an
agent reclassifies gets its new deadline counted from the original receipt; a NIP carries the
ANS demand number and its deadline counts from the notification date given.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from atende_events.calendar import Calendar
from sla.domain.book import PolicyBook
from tests.infra import eventually
from tests.routing.integration.support import (
    ADMIN,
    about,
    events_until,
    kinds,
    new_agent_id,
    offer_to,
    put_agent,
)
from tests.routing.integration.test_answers import INTAKE, SLA, Stack, stack


async def _register(s: Stack, **body: Any) -> dict[str, Any]:
    payload = {"party": {"kind": "member", "id": uuid4().hex[:12]}, "locale": "pt-BR", **body}
    created = await s.intake.client.post("/v1/interactions", json=payload, headers=INTAKE)
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    return answer


async def _regulatory(s: Stack, interaction_id: str, want: set[str]) -> dict[str, dict[str, Any]]:
    """Wait until the interaction's regulatory clocks follow exactly the policies wanted."""

    async def probe() -> dict[str, dict[str, Any]] | None:
        answer = await s.sla.client.get(f"/v1/sla/interactions/{interaction_id}", headers=SLA)
        if answer.status_code != 200:
            return None
        clocks = {c["policy_id"]: c for c in answer.json()["clocks"] if c["kind"] == "regulatory"}
        return clocks if set(clocks) == want else None

    found: dict[str, dict[str, Any]] = await eventually(
        probe, within=30, what=f"regulatory clocks {want}"
    )
    return found


def _book(s: Stack) -> PolicyBook:
    book: PolicyBook = s.sla.app.state.book
    return book


def _due(book: PolicyBook, policy_id: str, start: datetime) -> datetime:
    policy = book.policy(policy_id)
    return policy.target.due_at(start, policy.calendar)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_an_urgent_ombudsman_contact_carries_both_regulatory_clocks() -> None:
    async with stack() as s:
        created = await _register(
            s,
            channel="ombudsman",
            priority="urgent",
            demand_type="ombudsman_second_instance",
            subject="A operadora negou a internação do meu pai e o SAC não resolveu",
        )
        clocks = await _regulatory(s, created["id"], {"ans-rn623-urgency", "ans-rn323-ombudsman"})
        assert clocks["ans-rn623-urgency"]["regime"] == "rn623"
        assert clocks["ans-rn323-ombudsman"]["regime"] == "rn323"
        started = _at(clocks["ans-rn323-ombudsman"]["started_at"])
        assert _at(clocks["ans-rn623-urgency"]["due_at"]) == started + timedelta(hours=2)
        assert _at(clocks["ans-rn323-ombudsman"]["due_at"]) == _due(
            _book(s), "ans-rn323-ombudsman", started
        )


async def test_a_reclassified_request_gets_its_new_deadline_from_the_original_receipt() -> None:
    async with stack() as s:
        occurred = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
        created = await _register(
            s,
            channel="app",
            demand_type="authorization",
            subject="Autorização de cirurgia de joelho",
            occurred_at=occurred.isoformat(),
        )
        before = await _regulatory(s, created["id"], {"ans-rn623-coverage"})
        clock = before["ans-rn623-coverage"]
        assert _at(clock["started_at"]) == occurred

        path = f"/v1/interactions/{created['id']}/reclassify"
        unknown = await s.routing.client.post(
            path,
            json={"demand_type": "cirurgia", "reason_code": "misclassified", "agent_id": "sup-1"},
            headers=ADMIN,
        )
        assert unknown.status_code == 422, unknown.text
        assert "high_complexity" in unknown.text  # the allowed codes are named

        body = {
            "demand_type": "high_complexity",
            "reason_code": "misclassified",
            "agent_id": "sup-1",
            "notes": "Artroplastia total de joelho: procedimento de alta complexidade.",
        }

        async def reclassify() -> httpx.Response | None:
            answer = await s.routing.client.post(path, json=body, headers=ADMIN)
            return None if answer.status_code == 404 else answer  # not routed yet

        corrected = await eventually(reclassify, within=30, what="routing knows the interaction")
        assert corrected.status_code == 200, corrected.text
        assert (corrected.json()["demand_type"], corrected.json()["queue"]) == (
            "high_complexity",
            "autorizacoes",
        )

        after = await _regulatory(s, created["id"], {"ans-rn623-high-complexity"})
        redecided = after["ans-rn623-high-complexity"]
        assert redecided["clock_id"] == clock["clock_id"]  # the same clock, re-decided
        assert redecided["state"] == "running"
        assert _at(redecided["started_at"]) == occurred
        assert _at(redecided["due_at"]) == _due(_book(s), "ans-rn623-high-complexity", occurred)
        assert _at(redecided["due_at"]) > _at(clock["due_at"])

        events = await events_until(
            s.routing.namespace,
            lambda found: "reclassified" in kinds(about(found, created["id"])),
            what="interaction.reclassified",
        )
        [event] = [e for e in about(events, created["id"]) if e.type.endswith("reclassified.v1")]
        assert (event.data.previous_demand_type, event.data.demand_type) == (
            "authorization",
            "high_complexity",
        )

        async def shown() -> dict[str, Any] | None:
            answer = await s.intake.client.get(f"/v1/interactions/{created['id']}", headers=INTAKE)
            record: dict[str, Any] = answer.json()
            return record if record["demand_type"] == "high_complexity" else None

        await eventually(shown, within=30, what="intake shows the corrected demand type")

        engine = create_async_engine(s.routing.database_url)
        try:

            async def followed() -> bool:
                # Routing keeps every clock's latest deadline to order its queues.
                async with engine.connect() as connection:
                    due: datetime | None = await connection.scalar(
                        text("SELECT due_at FROM sla_clocks WHERE clock_id = :id"),
                        {"id": UUID(clock["clock_id"])},
                    )
                return due == _at(redecided["due_at"])

            await eventually(followed, within=30, what="routing follows the re-decided deadline")
        finally:
            await engine.dispose()

        again = await s.routing.client.post(path, json=body, headers=ADMIN)
        assert again.status_code == 200, again.text  # a retry changes nothing


def _business_days_back(calendar: Calendar, today: date, days: int) -> date:
    day = today
    while days:
        day -= timedelta(days=1)
        if calendar.is_business_day(day):
            days -= 1
    return day


def _business_days_on(calendar: Calendar, start: date, days: int) -> date:
    day = start
    while days:
        day += timedelta(days=1)
        if calendar.is_business_day(day):
            days -= 1
    return day


async def test_a_nip_counts_from_its_notification_date_and_keeps_the_ans_demand_number() -> None:
    async with stack() as s:
        calendar = _book(s).calendars["dias-uteis"]
        today = datetime.now(calendar.zone).date()
        notified_on = _business_days_back(calendar, today, 3)
        notified = datetime.combine(notified_on, time(10, 0), tzinfo=calendar.zone)
        created = await _register(
            s,
            channel="regulator",
            demand_type="nip_assistencial",
            external_reference="2026.0012345",
            subject="NIP: negativa de cobertura de ressonância magnética",
            occurred_at=notified.isoformat(),
        )
        clocks = await _regulatory(s, created["id"], {"ans-rn483-nip-assistencial"})
        nip = clocks["ans-rn483-nip-assistencial"]
        assert (nip["regime"], _at(nip["started_at"])) == ("nip", notified)
        # 5 business days from the notification: the 2nd business day after today, to its end.
        last_day = _business_days_on(calendar, notified_on, 5)
        assert last_day == _business_days_on(calendar, today, 2)
        end = datetime.combine(last_day + timedelta(days=1), time(0, 0), tzinfo=calendar.zone)
        assert _at(nip["due_at"]) == end

        record = await s.intake.client.get(f"/v1/interactions/{created['id']}", headers=INTAKE)
        assert record.json()["external_reference"] == "2026.0012345"

        bad = await s.intake.client.post(
            "/v1/interactions",
            json={
                "channel": "regulator",
                "party": {"kind": "member", "id": uuid4().hex[:12]},
                "external_reference": "NIP 123; DROP",
            },
            headers=INTAKE,
        )
        assert bad.status_code == 422, bad.text


async def test_reclassified_waiting_work_moves_to_its_new_queue_and_is_offered_there() -> None:
    async with stack() as s:
        agent = new_agent_id()
        await put_agent(s.routing.client, agent, {"autorizacoes": 5}, {"web": 1})
        created = await _register(
            s,
            channel="web",
            demand_type="information",
            subject="Dúvida sobre a guia da ressonância",
        )
        path = f"/v1/interactions/{created['id']}/reclassify"
        body = {"demand_type": "authorization", "reason_code": "misclassified", "agent_id": "sup-2"}

        async def reclassify() -> httpx.Response | None:
            answer = await s.routing.client.post(path, json=body, headers=ADMIN)
            return None if answer.status_code == 404 else answer  # not routed yet

        moved = await eventually(reclassify, within=30, what="routing knows the interaction")
        assert moved.status_code == 200, moved.text
        assert (moved.json()["queue"], moved.json()["status"]) == ("autorizacoes", "queued")
        offer = await offer_to(s.routing.client, agent, within=30)
        assert offer["interaction_id"] == created["id"]
        await _regulatory(s, created["id"], {"ans-rn623-coverage"})
