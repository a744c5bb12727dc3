"""The whole loop with the real intake and routing: detractor, call back, reason, closed."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx

from atende_events.envelope import decode
from tests.infra import eventually, read_topic
from tests.service_checks import running_service
from tests.survey.integration.stack import survey_stack

ROUTING_ADMIN = {"Authorization": "Bearer dev-routing-admin"}
ROUTING_DESK = {"Authorization": "Bearer dev-routing-desk"}
SURVEY_ADMIN = {"Authorization": "Bearer dev-survey-admin"}


async def test_a_detractor_is_called_back_through_sucesso_cliente_and_the_loop_closes() -> None:
    async with (
        survey_stack() as stack,
        running_service("routing", namespace=stack.namespace) as routing,
    ):
        agent = f"ag-{uuid4().hex[:10]}"
        await _agent(routing.client, agent)

        # A member calls; routing offers the call to the agent, who resolves it.
        interaction = await stack.register(email="ana@example.com")
        offer = await _offer(routing.client, agent)
        assert offer["interaction_id"] == interaction["id"]
        await _complete(routing.client, offer["id"], agent, reason_code="authorized")

        # Survey hears routing's resolution, e-mails the link, the member answers 3.
        await eventually(lambda: _at_least(stack.mailbox.tokens(), 1), what="the link")
        token = stack.mailbox.tokens()[0]
        answer = await stack.survey.client.post(
            f"/v1/surveys/{token}/responses",
            json={"nps": 3, "comment": "Fiquei uma hora na fila", "may_contact": True},
        )
        assert answer.json() == {"category": "detractor", "followup": True}

        # The follow-up intake opened is routed to sucesso_cliente and offered to the agent.
        callback = await _offer(routing.client, agent)
        assert callback["queue"] == "sucesso_cliente"
        assert callback["channel"] == "outbound"
        await _complete(
            routing.client,
            callback["id"],
            agent,
            reason_code="wait_time_explained",
            notes="Liguei e expliquei a fila; registrei a reclamação.",
        )

        async def closed() -> list[dict[str, Any]]:
            answer = await stack.survey.client.get(
                "/v1/followups?status=closed", headers=SURVEY_ADMIN
            )
            items: list[dict[str, Any]] = answer.json()["items"]
            return items

        [followup] = await eventually(closed, within=30, what="the follow-up to close")
        assert followup["reason_code"] == "wait_time_explained"
        assert followup["interaction_id"] == interaction["id"]
        assert followup["followup_interaction_id"] == callback["interaction_id"]

        records = await read_topic(stack.namespace + "atende.surveys.v1", at_least=6)
        types = sorted(decode(record.value).type for record in records)
        assert types == sorted(
            [
                "atende.survey.scheduled.v1",
                "atende.survey.dispatched.v1",
                "atende.survey.answered.v1",
                "atende.followup.opened.v1",
                "atende.survey.skipped.v1",  # the follow-up itself is not surveyed
                "atende.followup.closed.v1",
            ]
        )


async def _agent(client: httpx.AsyncClient, agent: str) -> None:
    profile = {
        "name": "Bia",
        "skills": {"autorizacoes": 4, "geral": 3, "sucesso_cliente": 5},
        "capacity": {"phone": 1, "outbound": 1},
    }
    answer = await client.put(f"/v1/agents/{agent}", json=profile, headers=ROUTING_ADMIN)
    assert answer.status_code in (200, 201), answer.text
    answer = await client.put(
        f"/v1/agents/{agent}/status", json={"status": "available"}, headers=ROUTING_ADMIN
    )
    assert answer.status_code == 200, answer.text


async def _offer(client: httpx.AsyncClient, agent: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await client.get(f"/v1/agents/{agent}/assignments", headers=ROUTING_ADMIN)
        offered = [a for a in answer.json()["assignments"] if a["status"] == "offered"]
        return offered[0] if offered else None

    found: dict[str, Any] = await eventually(probe, within=30, what=f"an offer to {agent}")
    return found


async def _complete(
    client: httpx.AsyncClient, assignment: str, agent: str, **completion: Any
) -> None:
    accepted = await client.post(
        f"/v1/assignments/{assignment}/accept", json={"agent_id": agent}, headers=ROUTING_DESK
    )
    assert accepted.status_code == 200, accepted.text
    done = await client.post(
        f"/v1/assignments/{assignment}/complete",
        json={
            "agent_id": agent,
            "resolution": "resolved",
            "outcome": "informed",
            "answer": "Retornamos o contato e explicamos o que foi feito no seu caso.",
            **completion,
        },
        headers=ROUTING_DESK,
    )
    assert done.status_code == 200, done.text


async def _at_least(items: list[Any], n: int) -> bool:
    return len(items) >= n
