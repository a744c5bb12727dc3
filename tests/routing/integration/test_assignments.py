"""A received interaction to its resolution: offer, accept, wait, resume, transfer, complete."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from atende_events.samples import sample_event
from tests.infra import eventually
from tests.routing.integration.support import (
    ADMIN,
    ANSWERED,
    about,
    act,
    events_until,
    kinds,
    new_agent_id,
    offer_to,
    open_assignments,
    publish,
    put_agent,
    received,
)
from tests.service_checks import running_service


async def test_work_is_offered_to_the_most_proficient_agent_and_resolved_with_events() -> None:
    async with running_service("routing") as routing:
        client = routing.client
        novice, expert, other = new_agent_id(), new_agent_id(), new_agent_id()
        await put_agent(client, novice, {"autorizacoes": 2})
        await put_agent(client, expert, {"autorizacoes": 5})
        await put_agent(client, other, {"dividas": 5})
        event = received(demand_type=None, content="Preciso da autorização de uma ressonância")
        interaction_id = event.data.interaction_id  # type: ignore[attr-defined]
        await publish(routing.namespace, event)

        offer = await offer_to(client, expert)
        assert offer["interaction_id"] == str(interaction_id)
        assert offer["queue"] == "autorizacoes"
        assert await open_assignments(client, novice) == []

        assert (await act(client, offer["id"], "accept", agent_id=expert)).status_code == 200
        assert (await act(client, offer["id"], "wait")).json()["status"] == "waiting"
        assert (await act(client, offer["id"], "resume")).json()["status"] == "accepted"
        answer = "Sua ressonância foi autorizada; a guia está liberada na rede."
        done = await act(
            client,
            offer["id"],
            "complete",
            resolution="resolved",
            outcome="authorised",
            answer=answer,
            notes="Liberada.",
        )
        assert done.status_code == 200, done.text

        events = await events_until(
            routing.namespace,
            lambda es: "resolved" in kinds(about(es, interaction_id)),
            what="the resolution",
        )
        journey = about(events, interaction_id)
        assert kinds(journey) == [
            "queued",
            "offered",
            "accepted",
            "waiting",
            "resumed",
            "resolved",
        ]
        queued, offered, accepted, waiting, resumed, resolved = (e.data for e in journey)
        assert queued.matched_rule == "member-authorization"
        assert queued.demand_type == "authorization"
        assert queued.demand_type_inferred is True
        assert offered.agent_id == expert
        assert waiting.agent_id == resumed.agent_id == expert
        assert accepted.wait_seconds >= 0
        assert resolved.first_assignment is True
        assert resolved.handle_seconds >= 0
        assert resolved.content == answer  # the answer is the person-facing text; notes stay
        assert resolved.outcome == "authorised"
        assert (resolved.denial_reason, resolved.legal_basis) == (None, None)
        assert resolved.party_ref == event.data.party_ref  # type: ignore[attr-defined]

        queues = (await client.get("/v1/queues", headers=ADMIN)).json()["queues"]
        figures = {q["queue"]: q for q in queues}
        assert figures["autorizacoes"]["assigned_today"] == 1
        assert figures["autorizacoes"]["resolved_today"] == 1
        assert figures["autorizacoes"]["agents_available"] == 2
        assert figures["autorizacoes"]["waiting"] == 0


async def test_capacity_freed_offers_the_longest_waiting_work_next() -> None:
    async with running_service("routing") as routing:
        client = routing.client
        agent = new_agent_id()
        await put_agent(client, agent, {"dividas": 3}, {"phone": 1})
        first = received(demand_type="debt", received_at=datetime(2026, 1, 1, 9, tzinfo=UTC))
        second = received(demand_type="debt", received_at=datetime(2026, 1, 1, 10, tzinfo=UTC))
        await publish(routing.namespace, second, first)

        async def both_queued() -> bool:
            figures = (await client.get("/v1/queues", headers=ADMIN)).json()["queues"]
            return bool(next(q for q in figures if q["queue"] == "dividas")["waiting"] == 2)

        await eventually(both_queued, what="two debt interactions waiting")
        offer = await offer_to(client, agent)
        # one phone slot: whichever came first through Kafka got the offer; the other waits
        assert len(await open_assignments(client, agent)) == 1
        await act(client, offer["id"], "accept", agent_id=agent)
        await act(client, offer["id"], "complete", **ANSWERED)
        nxt = await offer_to(client, agent)
        assert nxt["interaction_id"] != offer["interaction_id"]
        # rejecting frees the slot but the rejected work is not offered to the same agent again
        assert (await act(client, nxt["id"], "reject", agent_id=agent)).status_code == 200
        assert await open_assignments(client, agent) == []


async def test_an_agent_coming_available_gets_the_best_work_of_each_channel_up_to_its_room() -> (
    None
):
    async with running_service("routing") as routing:
        client = routing.client

        def debt(channel: str, hour: int) -> Any:
            at = datetime(2026, 1, 1, hour, tzinfo=UTC)
            return received(demand_type="debt", channel=channel, received_at=at)

        chats = [debt("chat", hour) for hour in (12, 9, 11, 10)]
        emails = [debt("email", hour) for hour in (10, 9)]
        call = debt("phone", 8)
        await publish(routing.namespace, *chats, *emails, call)

        async def all_queued() -> bool:
            figures = (await client.get("/v1/queues", headers=ADMIN)).json()["queues"]
            return bool(next(q for q in figures if q["queue"] == "dividas")["waiting"] == 7)

        await eventually(all_queued, what="seven debt interactions waiting")
        agent = new_agent_id()
        await put_agent(client, agent, {"dividas": 3}, {"chat": 2, "email": 1})
        offered = {a["interaction_id"] for a in await open_assignments(client, agent)}
        # The two longest-waiting chats and the longest-waiting e-mail; no phone capacity.
        assert offered == {str(e.data.interaction_id) for e in (chats[1], chats[3], emails[1])}


async def test_an_earlier_sla_deadline_goes_first_even_when_it_arrived_before_the_work() -> None:
    async with running_service("routing") as routing:
        client = routing.client
        late = received(demand_type="debt", received_at=datetime(2026, 1, 1, 9, tzinfo=UTC))
        urgent = received(demand_type="debt", received_at=datetime(2026, 1, 1, 10, tzinfo=UTC))
        soon = datetime.now(UTC) + timedelta(hours=1)
        clock = sample_event(
            "atende.sla.started.v1",
            interaction_id=urgent.data.interaction_id,  # type: ignore[attr-defined]
            due_at=soon,
        )
        # the deadline comes before the interaction it is about
        await publish(routing.namespace, clock)
        await publish(routing.namespace, late, urgent)

        async def both_queued() -> bool:
            figures = (await client.get("/v1/queues", headers=ADMIN)).json()["queues"]
            return bool(next(q for q in figures if q["queue"] == "dividas")["waiting"] == 2)

        await eventually(both_queued, what="two debt interactions waiting")
        agent = new_agent_id()
        await put_agent(client, agent, {"dividas": 3}, {"phone": 1})
        offer = await offer_to(client, agent)
        assert offer["interaction_id"] == str(urgent.data.interaction_id)  # type: ignore[attr-defined]
        view = (await client.get(f"/v1/assignments/{offer['id']}", headers=ADMIN)).json()
        assert datetime.fromisoformat(view["interaction"]["due_at"]) == soon


async def test_transfer_keeps_notes_and_earlier_assignments_for_the_next_agent() -> None:
    async with running_service("routing") as routing:
        client = routing.client
        first, nurse = new_agent_id(), new_agent_id()
        await put_agent(client, first, {"autorizacoes": 4})
        await put_agent(client, nurse, {"saude": 4})
        event = received()
        interaction_id = event.data.interaction_id  # type: ignore[attr-defined]
        await publish(routing.namespace, event)
        offer = await offer_to(client, first)
        await act(client, offer["id"], "accept", agent_id=first)
        moved = await act(
            client,
            offer["id"],
            "transfer",
            to_queue="saude",
            reason_code="clinical_question",
            notes="Beneficiária pergunta sobre o preparo do exame.",
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == "transferred"

        second = await offer_to(client, nurse)
        assert second["interaction_id"] == str(interaction_id)
        view = (await client.get(f"/v1/assignments/{second['id']}", headers=ADMIN)).json()
        context = view["interaction"]
        assert context["queue"] == "saude"
        assert [n["notes"] for n in context["notes"]] == [
            "Beneficiária pergunta sobre o preparo do exame."
        ]
        assert [(a["agent_id"], a["status"]) for a in context["assignments"]] == [
            (first, "transferred"),
            (nurse, "offered"),
        ]
        await act(client, second["id"], "accept", agent_id=nurse)
        await act(client, second["id"], "complete", **ANSWERED)

        events = await events_until(
            routing.namespace,
            lambda es: "resolved" in kinds(about(es, interaction_id)),
            what="the resolution",
        )
        journey = about(events, interaction_id)
        assert kinds(journey) == [
            "queued",
            "offered",
            "accepted",
            "transferred",
            "offered",
            "accepted",
            "resolved",
        ]
        transferred = journey[3].data
        assert (transferred.from_queue, transferred.to_queue) == ("autorizacoes", "saude")
        assert transferred.content == "Beneficiária pergunta sobre o preparo do exame."
        assert journey[-1].data.first_assignment is False
        assert journey[-1].data.queue == "saude"


async def test_an_offer_not_accepted_in_time_goes_back_and_the_agent_is_set_away() -> None:
    async with running_service("routing", offer_timeout=1.0, timer_interval=0.1) as routing:
        client = routing.client
        sleepy, backup = new_agent_id(), new_agent_id()
        await put_agent(client, sleepy, {"autorizacoes": 5})
        await put_agent(client, backup, {"autorizacoes": 1})
        event = received()
        interaction_id = event.data.interaction_id  # type: ignore[attr-defined]
        await publish(routing.namespace, event)
        missed = await offer_to(client, sleepy)

        retry = await offer_to(client, backup)
        assert retry["interaction_id"] == str(interaction_id)
        late = await act(client, missed["id"], "accept", agent_id=sleepy)
        assert late.status_code == 409
        agent = (await client.get(f"/v1/agents/{sleepy}", headers=ADMIN)).json()
        assert agent["status"] == "away"

        events = await events_until(
            routing.namespace,
            lambda es: (
                kinds(about(es, interaction_id)).count("offered") == 2
                and any(
                    e.type == "atende.agent.status_changed.v1" and e.data.status == "away"
                    for e in es
                )
            ),
            what="the timeout and the second offer",
        )
        journey = about(events, interaction_id)
        assert kinds(journey) == ["queued", "offered", "offer_declined", "offered"]
        declined = journey[2].data
        assert declined.reason == "timed_out"
        assert declined.agent_id == sleepy
        away = [
            e.data
            for e in events
            if e.type == "atende.agent.status_changed.v1" and e.data.agent_id == sleepy
        ]
        assert [(a.previous_status, a.status) for a in away][-1] == ("available", "away")
        offered_at = journey[1].data.occurred_at
        assert journey[2].data.occurred_at - offered_at >= timedelta(seconds=1)


async def test_after_the_escalation_step_work_goes_to_overflow_agents() -> None:
    async with running_service("routing", escalation_after=1.5, timer_interval=0.1) as routing:
        client = routing.client
        generalist, junior = new_agent_id(), new_agent_id()
        await put_agent(client, generalist, {"geral": 3})
        await put_agent(client, junior, {"geral": 2})
        event = received(demand_type="enrolment", content=None)
        interaction_id = event.data.interaction_id  # type: ignore[attr-defined]
        await publish(routing.namespace, event)
        offer = await offer_to(client, generalist)
        assert offer["interaction_id"] == str(interaction_id)
        assert offer["queue"] == "adesoes"
        assert await open_assignments(client, junior) == []

        events = await events_until(
            routing.namespace,
            lambda es: "offered" in kinds(about(es, interaction_id)),
            what="the offer",
        )
        queued, offered = about(events, interaction_id)[:2]
        assert offered.data.occurred_at - queued.data.occurred_at >= timedelta(seconds=1.5)


async def test_bad_input_is_answered_with_problem_details() -> None:
    async with running_service("routing") as routing:
        client = routing.client
        agent, other = new_agent_id(), new_agent_id()
        unknown = uuid4()

        async def status_of(method: str, url: str, body: object | None = None) -> int:
            answer = await client.request(method, url, json=body, headers=ADMIN)
            assert answer.headers["content-type"] == "application/problem+json", answer.text
            return answer.status_code

        assert await status_of("PUT", f"/v1/agents/{agent}/status", {"status": "available"}) == 404
        assert await status_of("GET", f"/v1/agents/{agent}/assignments") == 404
        assert await status_of("GET", f"/v1/assignments/{unknown}") == 404
        assert (
            await status_of("POST", f"/v1/assignments/{unknown}/accept", {"agent_id": agent}) == 404
        )
        bad = {"skills": {"geral": 3}, "capacity": {"phone": -1}}
        assert await status_of("PUT", f"/v1/agents/{agent}", bad) == 422
        bad = {"skills": {"geral": 6}, "capacity": {"phone": 1}}
        assert await status_of("PUT", f"/v1/agents/{agent}", bad) == 422
        bad = {"skills": {"nowhere": 3}, "capacity": {"phone": 1}}
        assert await status_of("PUT", f"/v1/agents/{agent}", bad) == 422
        bad = {"skills": {"geral": 3}, "capacity": {"fax": 1}}
        assert await status_of("PUT", f"/v1/agents/{agent}", bad) == 422

        await put_agent(client, agent, {"sucesso_cliente": 4}, {"outbound": 2})
        await put_agent(client, other, {"sucesso_cliente": 1}, {"outbound": 2}, status="away")
        await publish(
            routing.namespace, received(demand_type="followup", channel="outbound", content=None)
        )
        offer = await offer_to(client, agent)
        url = f"/v1/assignments/{offer['id']}"
        assert await status_of("POST", f"{url}/accept", {"agent_id": other}) == 409
        assert await status_of("POST", f"{url}/complete", {"resolution": "resolved"}) == 409
        assert (await act(client, offer["id"], "accept", agent_id=agent)).status_code == 200
        assert await status_of("POST", f"{url}/accept", {"agent_id": agent}) == 409
        assert await status_of("POST", f"{url}/transfer", {"to_queue": "nowhere"}) == 422
        assert await status_of("POST", f"{url}/transfer", {"to_queue": "sucesso_cliente"}) == 409
        assert await status_of("POST", f"{url}/resume", {}) == 409
        assert await status_of("POST", f"{url}/complete", {"resolution": "resolved"}) == 422
        assert await status_of("POST", f"{url}/complete", {"resolution": "maybe"}) == 422
        done = await act(client, offer["id"], "complete", **ANSWERED, reason_code="callback_done")
        assert done.status_code == 200, done.text
        again = await client.post(
            f"{url}/complete",
            json={"resolution": "resolved", "reason_code": "callback_done"},
            headers=ADMIN,
        )
        assert again.status_code == 409
        assert "completed" in again.json()["detail"]
        no_key = await client.get("/v1/queues")
        assert no_key.status_code == 401


async def test_urgent_clinical_then_ombudsman_go_before_older_ordinary_work() -> None:
    async with running_service("routing") as routing:
        client = routing.client
        early = datetime(2026, 1, 1, 8, tzinfo=UTC)
        ordinary = received(demand_type="information", channel="phone", received_at=early)
        ombudsman = received(
            demand_type="complaint",
            channel="ombudsman",
            received_at=early + timedelta(hours=1),
        )
        urgent = received(
            demand_type="clinical",
            priority="urgent",
            channel="phone",
            received_at=early + timedelta(hours=2),
        )
        await publish(routing.namespace, ordinary, ombudsman, urgent)

        async def all_queued() -> bool:
            figures = (await client.get("/v1/queues", headers=ADMIN)).json()["queues"]
            return bool(sum(q["waiting"] for q in figures) == 3)

        await eventually(all_queued, what="three interactions waiting")
        agent = new_agent_id()
        await put_agent(
            client, agent, {"geral": 3, "ouvidoria": 3, "saude": 3}, {"phone": 1, "ombudsman": 1}
        )
        order = []
        for _ in range(3):
            offer = await offer_to(client, agent)
            order.append(offer["interaction_id"])
            await act(client, offer["id"], "accept", agent_id=agent)
            await act(client, offer["id"], "complete", **ANSWERED)
        ids = [str(e.data.interaction_id) for e in (urgent, ombudsman, ordinary)]  # type: ignore[attr-defined]
        # the phone and ombudsman slots are separate: urgent (phone) and ombudsman go at once
        assert set(order[:2]) == set(ids[:2])
        assert order[2] == ids[2]


async def test_agent_profile_status_and_skills_changes_are_events() -> None:
    async with running_service("routing") as routing:
        client = routing.client
        agent = new_agent_id()
        body = {"name": "Ana", "skills": {"dividas": 4}, "capacity": {"phone": 1, "chat": 3}}
        created = await client.put(f"/v1/agents/{agent}", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "offline"
        await client.put(f"/v1/agents/{agent}/status", json={"status": "available"}, headers=ADMIN)
        body["skills"] = {"dividas": 4, "geral": 3}
        updated = await client.put(f"/v1/agents/{agent}", json=body, headers=ADMIN)
        assert updated.status_code == 200
        shown = (await client.get(f"/v1/agents/{agent}", headers=ADMIN)).json()
        assert (shown["status"], shown["skills"], shown["capacity"], shown["load"]) == (
            "available",
            {"dividas": 4, "geral": 3},
            {"phone": 1, "chat": 3},
            {},
        )

        def changes(events: list[Any]) -> list[Any]:
            return [e.data for e in events if getattr(e.data, "agent_id", None) == agent]

        events = await events_until(
            routing.namespace, lambda es: len(changes(es)) == 3, what="three agent events"
        )
        assert [
            (c.previous_status, c.status, sorted(s.skill for s in c.skills))
            for c in changes(events)
        ] == [
            (None, "offline", ["dividas"]),
            ("offline", "available", ["dividas"]),
            ("available", "available", ["dividas", "geral"]),
        ]


async def test_racing_first_puts_of_one_agent_create_it_once_and_never_fail() -> None:
    async with running_service("routing") as routing:
        agent = new_agent_id()
        body = {"name": "Bia", "skills": {"dividas": 4}, "capacity": {"phone": 1}}

        answers = await asyncio.gather(
            *(routing.client.put(f"/v1/agents/{agent}", json=body, headers=ADMIN) for _ in range(8))
        )

        assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [
            a.text for a in answers
        ]
        events = await events_until(
            routing.namespace,
            lambda es: any(getattr(e.data, "agent_id", None) == agent for e in es),
            what="the agent's creation",
        )
        created = [
            e.data
            for e in events
            if getattr(e.data, "agent_id", None) == agent and e.data.previous_status is None
        ]
        assert len(created) == 1, "one creation event"
