"""A conclusive answer on record, through the public APIs of intake, routing and sla together.

A coverage request is registered at intake, routed, answered at routing and its clocks kept by
sla; the person follows it at intake's tracking link. Only a conclusive answer stops the
regulatory clock; unresolved work goes back to its queue with its clocks running; a contested
answer is reopened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from atende_events.envelope import Envelope
from tests.infra import eventually, fresh_namespace
from tests.routing.integration.support import (
    ADMIN,
    about,
    act,
    events_until,
    kinds,
    new_agent_id,
    offer_to,
    put_agent,
)
from tests.service_checks import RunningService, running_service

INTAKE = {"Authorization": "Bearer dev-intake-admin"}
SLA = {"Authorization": "Bearer dev-sla-admin"}
DENIAL = {
    "resolution": "resolved",
    "outcome": "denied",
    "answer": "Seu pedido de cirurgia bariátrica foi negado: o contrato exclui a cobertura "
    "enquanto durar a carência de 24 meses para doenças preexistentes.",
    "denial_reason": "waiting_period",
}
CLAUSE = "Contrato, cláusula 8.4; Lei 9.656/1998, art. 11"


@dataclass
class Stack:
    """Intake, routing and sla on one topic namespace."""

    intake: RunningService
    routing: RunningService
    sla: RunningService

    async def register(self, subject: str, party_id: str) -> dict[str, Any]:
        """Register a member's coverage request through the app."""
        body = {
            "channel": "app",
            "party": {"kind": "member", "id": party_id},
            "demand_type": "authorization",
            "subject": subject,
            "locale": "pt-BR",
        }
        created = await self.intake.client.post("/v1/interactions", json=body, headers=INTAKE)
        assert created.status_code == 201, created.text
        answer: dict[str, Any] = created.json()
        return answer

    async def clocks(self, interaction_id: str) -> dict[tuple[str, str], str]:
        """Give the state of each of an interaction's clocks, by kind and type."""
        answer = await self.sla.client.get(f"/v1/sla/interactions/{interaction_id}", headers=SLA)
        if answer.status_code != 200:
            return {}
        return {(c["kind"], c["clock_type"]): c["state"] for c in answer.json()["clocks"]}

    async def clocks_once(
        self, interaction_id: str, want: dict[tuple[str, str], str]
    ) -> dict[tuple[str, str], str]:
        """Wait until the named clocks are in the states wanted."""

        async def probe() -> dict[tuple[str, str], str] | None:
            clocks = await self.clocks(interaction_id)
            return clocks if all(clocks.get(k) == v for k, v in want.items()) else None

        found: dict[tuple[str, str], str] = await eventually(
            probe, within=30, what=f"clocks {want}"
        )
        return found

    async def tracking(self, protocol: str, party_id: str, **want: Any) -> dict[str, Any]:
        """Wait until the person's tracking view shows what is wanted."""

        last: dict[str, Any] = {}

        async def probe() -> dict[str, Any] | None:
            answer = await self.intake.client.get(
                f"/v1/track/{protocol}", params={"party_id": party_id}, headers=INTAKE
            )
            shown: dict[str, Any] = answer.json()
            last.update(shown)
            return shown if all(shown.get(k) == v for k, v in want.items()) else None

        try:
            found: dict[str, Any] = await eventually(probe, within=30, what=f"tracking {want}")
        except AssertionError as waited:
            raise AssertionError(f"{waited}; the view last showed {last}") from None
        return found


@asynccontextmanager
async def stack() -> AsyncIterator[Stack]:
    namespace = await fresh_namespace()
    async with (
        running_service("intake", namespace=namespace) as intake,
        running_service("routing", namespace=namespace) as routing,
        running_service("sla", namespace=namespace) as sla,
    ):
        yield Stack(intake=intake, routing=routing, sla=sla)


REGULATORY = ("regulatory", "resolution")
OPERATIONAL = ("operational", "resolution")


async def test_a_denial_needs_its_clause_then_meets_the_clock_and_the_person_reads_it() -> None:
    async with stack() as s:
        agent, party = new_agent_id(), uuid4().hex[:12]
        await put_agent(s.routing.client, agent, {"autorizacoes": 5}, {"app": 1})
        created = await s.register("Autorização de cirurgia bariátrica", party)
        offer = await offer_to(s.routing.client, agent, within=40)
        assert offer["interaction_id"] == created["id"]
        assert (await act(s.routing.client, offer["id"], "accept", agent_id=agent)).is_success
        await s.clocks_once(created["id"], {REGULATORY: "running"})

        lacking = await act(s.routing.client, offer["id"], "complete", **DENIAL)
        assert lacking.status_code == 422, lacking.text
        problem = lacking.json()
        assert [e["field"] for e in problem["errors"]] == ["legal_basis"]
        assert "legal_basis" in problem["detail"]

        holding = await act(
            s.routing.client,
            offer["id"],
            "complete",
            **{**DENIAL, "answer": "Sua solicitação está em análise.", "legal_basis": CLAUSE},
        )
        assert holding.status_code == 422, holding.text
        assert [e["type"] for e in holding.json()["errors"]] == ["holding_note"]
        assert (await s.clocks(created["id"]))[REGULATORY] == "running"

        done = await act(s.routing.client, offer["id"], "complete", **DENIAL, legal_basis=CLAUSE)
        assert done.status_code == 200, done.text
        await s.clocks_once(created["id"], {REGULATORY: "met"})

        shown = await s.tracking(created["protocol"], party, status="resolved")
        answer = shown["answer"]
        assert answer is not None, shown
        assert (answer["outcome"], answer["outcome_label"]) == ("denied", "Negado")
        assert answer["answer"] == DENIAL["answer"]
        assert (answer["denial_reason"], answer["legal_basis"]) == ("waiting_period", CLAUSE)
        assert answer["answered_at"] == shown["completed_at"]

        copy = await s.intake.client.get(
            f"/v1/track/{created['protocol']}/answer.txt",
            params={"party_id": party},
            headers=INTAKE,
        )
        assert copy.status_code == 200, copy.text
        assert copy.headers["content-type"].startswith("text/plain")
        assert f"Protocolo: {created['protocol']}" in copy.text
        assert "Resultado: Negado" in copy.text
        assert f"Fundamento: {CLAUSE}" in copy.text
        assert DENIAL["answer"] in copy.text
        stranger = await s.intake.client.get(
            f"/v1/track/{created['protocol']}/answer.txt",
            params={"party_id": "someone-else"},
            headers=INTAKE,
        )
        assert stranger.status_code == 404


async def test_unresolved_work_waits_again_with_its_clocks_running_and_an_answer_reopens() -> None:
    async with stack() as s:
        agent, party = new_agent_id(), uuid4().hex[:12]
        await put_agent(s.routing.client, agent, {"autorizacoes": 5}, {"app": 1})
        created = await s.register("Sessões de fisioterapia", party)
        interaction_id = created["id"]
        first = await offer_to(s.routing.client, agent, within=40)
        await act(s.routing.client, first["id"], "accept", agent_id=agent)

        given_back = await act(
            s.routing.client,
            first["id"],
            "complete",
            resolution="unresolved",
            notes="Falta o pedido médico; devolvo à fila.",
        )
        assert given_back.status_code == 200, given_back.text
        assert given_back.json()["resolution"] == "unresolved"
        answer_to_unresolved = await act(
            s.routing.client, first["id"], "complete", resolution="unresolved", outcome="denied"
        )
        assert answer_to_unresolved.status_code == 409  # that assignment is over

        # Back in its queue, offered again; nothing stopped the clocks.
        second = await offer_to(s.routing.client, agent)
        assert second["interaction_id"] == interaction_id and second["id"] != first["id"]
        clocks = await s.clocks(interaction_id)
        assert clocks[REGULATORY] == "running" and clocks[OPERATIONAL] == "running", clocks
        view = (await s.routing.client.get(f"/v1/assignments/{second['id']}", headers=ADMIN)).json()
        assert [(n["kind"], n["notes"]) for n in view["interaction"]["notes"]] == [
            ("unresolved", "Falta o pedido médico; devolvo à fila.")
        ]
        shown = await s.tracking(created["protocol"], party, status="assigned")
        assert shown["answer"] is None and shown["completed_at"] is None

        await act(s.routing.client, second["id"], "accept", agent_id=agent)
        answered = await act(
            s.routing.client,
            second["id"],
            "complete",
            resolution="resolved",
            outcome="authorised",
            answer="Autorizamos as 10 sessões de fisioterapia pedidas.",
        )
        assert answered.status_code == 200, answered.text
        await s.clocks_once(interaction_id, {REGULATORY: "met", OPERATIONAL: "met"})
        await s.tracking(created["protocol"], party, status="resolved")

        # The member contests the answer: a supervisor reopens it, it is answered anew.
        reopen = f"/v1/interactions/{interaction_id}/reopen"
        body = {"agent_id": "supervisor-1", "reason_code": "answer_contested"}
        reopened = await s.routing.client.post(reopen, json=body, headers=ADMIN)
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["status"] == "queued"
        again = await s.routing.client.post(reopen, json=body, headers=ADMIN)
        assert again.status_code == 409
        unknown = await s.routing.client.post(
            f"/v1/interactions/{uuid4()}/reopen", json=body, headers=ADMIN
        )
        assert unknown.status_code == 404

        third = await offer_to(s.routing.client, agent)
        assert third["interaction_id"] == interaction_id
        shown = await s.tracking(created["protocol"], party, status="assigned")
        assert shown["completed_at"] is None
        assert shown["answer"]["outcome"] == "authorised"  # the answer given so far stays
        await act(s.routing.client, third["id"], "accept", agent_id=agent)
        corrected = "Autorizamos as 20 sessões: o contrato não limita o número de sessões."
        await act(
            s.routing.client,
            third["id"],
            "complete",
            resolution="resolved",
            outcome="authorised",
            answer=corrected,
        )
        shown = await s.tracking(created["protocol"], party, status="resolved")
        assert shown["answer"]["answer"] == corrected

        events: list[Envelope[Any]] = await events_until(
            s.routing.namespace,
            lambda es: kinds(about(es, created["id"])).count("resolved") == 2,
            what="both answers",
        )
        answering = ("queued", "transferred", "resolved", "reopened")
        journey = [k for k in kinds(about(events, created["id"])) if k in answering]
        assert journey == ["queued", "transferred", "resolved", "reopened", "resolved"]
        transferred = next(
            e.data for e in about(events, created["id"]) if e.type.endswith("transferred.v1")
        )
        assert transferred.from_queue == transferred.to_queue == "autorizacoes"
        assert transferred.reason_code == "unresolved"
