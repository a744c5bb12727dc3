"""The sla HTTP API: clocks of an interaction, clocks at risk, policies, the extension."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from atende_events.calendar import end_of_business_days
from tests.infra import eventually
from tests.service_checks import running_service
from tests.sla.integration.support import (
    ADMIN,
    READER,
    kinds,
    lifecycle,
    of,
    publish,
    received,
    settings_for,
    sla_events,
)


async def test_clocks_at_risk_policies_and_errors(tmp_path: Path) -> None:
    async with running_service("sla", **settings_for(tmp_path)) as svc:
        now = datetime.now(UTC)
        # 1 h resolution clocks received 50, 30 and 0 minutes ago: due in 10, 30 and 60 minutes.
        calls = [
            received(channel="web", at=now - timedelta(minutes=m), demand_type=None)
            for m in (50, 30, 0)
        ]
        queues = ["dividas", "adesoes", "dividas"]
        demand_types = ["high_complexity", "debt", "debt"]
        await publish(
            svc.namespace,
            *calls,
            *[
                lifecycle(
                    "queued",
                    call.data.interaction_id,
                    call.data.received_at + timedelta(seconds=5),
                    queue=queue,
                    demand_type=demand_type,
                )
                for call, queue, demand_type in zip(calls, queues, demand_types, strict=True)
            ],
        )
        ids = [str(call.data.interaction_id) for call in calls]

        async def queued_everywhere() -> Any:
            reply = await svc.client.get("/v1/sla/at-risk?within=PT2H", headers=READER)
            clocks = reply.json()["clocks"]
            mine = [c for c in clocks if c["interaction_id"] in ids]
            return mine if len(mine) == 3 and all(c["queue"] for c in mine) else None

        everything = await eventually(queued_everywhere, what="three clocks with queues")
        assert [c["interaction_id"] for c in everything] == ids  # soonest first
        left = everything[0]["business_seconds_left"]
        assert 9 * 60 < left <= 10 * 60 + 5
        assert everything[0]["business_seconds_elapsed"] >= 50 * 60

        # The demand type came with interaction.queued: the regulatory clock it decided started
        # then, but counts from the receipt.
        first = await svc.client.get(f"/v1/sla/interactions/{ids[0]}", headers=READER)
        clocks = {c["policy_id"]: c for c in first.json()["clocks"]}
        assert set(clocks) == {"test-high-complexity", "test-resolution-1h"}
        regulatory = clocks["test-high-complexity"]
        assert datetime.fromisoformat(regulatory["started_at"]) == calls[0].data.received_at
        assert regulatory["kind"] == "regulatory" and regulatory["state"] == "running"
        second = await svc.client.get(f"/v1/sla/interactions/{ids[1]}", headers=READER)
        assert [c["policy_id"] for c in second.json()["clocks"]] == ["test-resolution-1h"]

        soon = await svc.client.get("/v1/sla/at-risk", params={"within": "PT45M"}, headers=READER)
        assert [c["interaction_id"] for c in soon.json()["clocks"]] == ids[:2]
        debts = await svc.client.get(
            "/v1/sla/at-risk", params={"within": "PT2H", "queue": "dividas"}, headers=READER
        )
        assert [c["interaction_id"] for c in debts.json()["clocks"]] == [ids[0], ids[2]]

        for bad in ("soon", "PT", "-PT2H", "P400D"):
            reply = await svc.client.get("/v1/sla/at-risk", params={"within": bad}, headers=READER)
            assert reply.status_code == 422, (bad, reply.text)
            assert reply.headers["content-type"] == "application/problem+json"

        missing = await svc.client.get(f"/v1/sla/interactions/{uuid4()}", headers=READER)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

        assert (await svc.client.get("/v1/sla/policies")).status_code == 401
        policies = await svc.client.get("/v1/sla/policies", headers=READER)
        assert policies.status_code == 200
        body = policies.json()
        assert [p["id"] for p in body["policies"]] == [
            "test-urgent-3s",
            "test-ombudsman",
            "test-high-complexity",
            "test-first-response",
            "test-resolution-1h",
        ]
        calendars = {c["id"]: c for c in body["calendars"]}
        assert set(calendars) == {"24x7", "dias-uteis"}
        tiradentes = date(now.year, 4, 21)
        if tiradentes < now.date():
            tiradentes = date(now.year + 1, 4, 21)
        assert tiradentes.isoformat() in calendars["dias-uteis"]["closed_next_365_days"]
        assert "2026-11-28" not in calendars["dias-uteis"]["closed_next_365_days"]  # a Saturday
        assert calendars["24x7"]["closed_next_365_days"] == []


async def test_the_ombudsman_extends_a_deadline_once(tmp_path: Path) -> None:
    async with running_service("sla", **settings_for(tmp_path)) as svc:
        complaint = received(channel="ombudsman")
        other = received(channel="web")
        iid = complaint.data.interaction_id
        await publish(svc.namespace, complaint, other)

        async def clocks_of(interaction_id: Any) -> Any:
            reply = await svc.client.get(f"/v1/sla/interactions/{interaction_id}", headers=ADMIN)
            return reply.status_code == 200 and len(reply.json()["clocks"]) >= 1

        await eventually(lambda: clocks_of(iid), what="the ombudsman's clocks")
        await eventually(lambda: clocks_of(other.data.interaction_id), what="the other clocks")

        calendar = svc.app.state.book.calendars["dias-uteis"]
        start = complaint.data.received_at
        agreed = end_of_business_days(start, 20, calendar)
        too_late = end_of_business_days(start, 31, calendar)
        url = f"/v1/sla/interactions/{iid}/extend"

        forbidden = await svc.client.post(url, json={"due_at": agreed.isoformat()}, headers=READER)
        assert forbidden.status_code == 403
        late = await svc.client.post(url, json={"due_at": too_late.isoformat()}, headers=ADMIN)
        assert late.status_code == 422, late.text
        assert "30 business days" in late.json()["detail"]
        granted = await svc.client.post(
            url,
            json={"due_at": agreed.isoformat(), "reason_code": "agreed_with_member"},
            headers=ADMIN,
        )
        assert granted.status_code == 200, granted.text
        clock = granted.json()
        assert clock["policy_id"] == "test-ombudsman"
        assert datetime.fromisoformat(clock["due_at"]) == agreed
        assert clock["extended_at"] is not None
        again = await svc.client.post(url, json={"due_at": too_late.isoformat()}, headers=ADMIN)
        assert again.status_code == 409

        not_ombudsman = await svc.client.post(
            f"/v1/sla/interactions/{other.data.interaction_id}/extend",
            json={"due_at": agreed.isoformat()},
            headers=ADMIN,
        )
        assert not_ombudsman.status_code == 409
        unknown = await svc.client.post(
            f"/v1/sla/interactions/{uuid4()}/extend",
            json={"due_at": agreed.isoformat()},
            headers=ADMIN,
        )
        assert unknown.status_code == 404

        async def extended() -> Any:
            mine = of(await sla_events(svc.namespace), iid)
            return [e for e in mine if e.type == "atende.sla.extended.v1"]

        (event,) = await eventually(extended, what="sla.extended")
        assert event.data.due_at == agreed
        assert event.data.previous_due_at == end_of_business_days(start, 7, calendar)
        assert event.data.reason_code == "agreed_with_member"
        assert "extended" in kinds(of(await sla_events(svc.namespace), iid))
