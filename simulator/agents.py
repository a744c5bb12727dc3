"""Simulated agents: they take offers, handle the contact for a while, and complete it.

Most accept; a few reject or let an offer time out; some wait for the customer and resume, some
transfer to another queue with a note, and a few finish without resolving.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

QUEUES = ["adesoes", "dividas", "prestadores", "autorizacoes", "ouvidoria", "saude", "geral"]
CAPACITY = {
    "phone": 1,
    "chat": 3,
    "whatsapp": 2,
    "web": 2,
    "app": 2,
    "email": 2,
    "in_person": 1,
    "ombudsman": 1,
    "regulator": 1,
    "outbound": 1,
}
REASONS = {
    "sucesso_cliente": ["callback_done", "wait_time_explained", "process_fixed", "refund_issued"],
    "default": ["answered", "authorized", "information_given", "debt_renegotiated"],
}

ANSWERS: list[dict[str, str]] = [
    {
        "outcome": "authorised",
        "answer": "Seu pedido foi autorizado. A guia já está liberada na rede credenciada.",
    },
    {
        "outcome": "informed",
        "answer": "Informamos que a segunda via do boleto foi enviada e vence em 10 dias.",
    },
    {
        "outcome": "partially_authorised",
        "answer": "Autorizamos 10 das 20 sessões pedidas; as demais dependem de nova avaliação.",
        "denial_reason": "session_limit",
        "legal_basis": "Contrato, cláusula 9.2",
    },
    {
        "outcome": "denied",
        "answer": "O procedimento foi negado: ele não consta do Rol da ANS nem do seu contrato.",
        "denial_reason": "not_covered",
        "legal_basis": "Lei 9.656/1998, art. 10",
    },
]
"""Conclusive answers a virtual agent gives, weighted towards authorisations and information."""


def conclusive_answer(rng: random.Random) -> dict[str, str]:
    """Pick a conclusive answer (outcome, written answer and, for a denial, its grounds)."""
    return dict(rng.choices(ANSWERS, weights=(6, 6, 1, 1))[0])


@dataclass
class Agent:
    """One virtual agent with skills in a few queues."""

    agent_id: str
    skills: dict[str, int]
    rng: random.Random
    mean_handle_seconds: float
    pickup_seconds: float = 2.0
    busy: set[str] = field(default_factory=set)
    accepted: int = 0
    completed: int = 0


def make_team(
    size: int, rng: random.Random, mean_handle_seconds: float, pickup_seconds: float = 2.0
) -> list[Agent]:
    """Build a team in which every queue has specialists and a few generalists overflow."""
    team = []
    for n in range(size):
        specialty = QUEUES[n % len(QUEUES)]
        skills = {specialty: rng.randint(3, 5), "geral": rng.randint(2, 4)}
        if n % 4 == 0:
            skills["sucesso_cliente"] = 4
        if n % 3 == 0:
            skills[rng.choice(QUEUES)] = rng.randint(1, 3)
        team.append(Agent(f"sim-agent-{n:02d}", skills, rng, mean_handle_seconds, pickup_seconds))
    return team


class AgentDesk:
    """Drive a team through routing's HTTP API."""

    def __init__(
        self, routing_url: str, api_key: str, team: list[Agent], poll_seconds: float = 1.0
    ) -> None:
        self._url = routing_url
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._poll_seconds = poll_seconds
        self.team = team
        self.refused = 0
        """Requests routing refused (4xx): mostly offers that timed out or went to another agent."""
        self.errors = 0
        """Requests that failed: routing unreachable or a server error."""

    async def sign_in(self, client: httpx.AsyncClient) -> None:
        """Register every agent with its skills and capacity, and make it available."""
        for agent in self.team:
            body = {"name": agent.agent_id, "skills": agent.skills, "capacity": CAPACITY}
            await self._call(client, "PUT", f"/v1/agents/{agent.agent_id}", body)
            await self._call(
                client, "PUT", f"/v1/agents/{agent.agent_id}/status", {"status": "available"}
            )

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Poll each agent's offers, take them, and handle the accepted ones concurrently."""
        handling: set[asyncio.Task[None]] = set()
        rounds = 0
        while not stop.is_set():
            rounds += 1
            for agent in self.team:
                listing = await self._call(
                    client, "GET", f"/v1/agents/{agent.agent_id}/assignments"
                )
                for assignment in (listing or {}).get("assignments", []):
                    if assignment["status"] == "offered" and assignment["id"] not in agent.busy:
                        self._answer_offer(client, agent, assignment, handling)
                if rounds % 10 == 0:
                    await self._back_from_break(client, agent)
            await asyncio.sleep(self._poll_seconds)
        for task in handling:
            task.cancel()

    async def _back_from_break(self, client: httpx.AsyncClient, agent: Agent) -> None:
        # Routing sets an agent away after a missed offer; the agent comes back a while later.
        profile = await self._call(client, "GET", f"/v1/agents/{agent.agent_id}")
        if profile is not None and profile.get("status") == "away":
            await self._call(
                client, "PUT", f"/v1/agents/{agent.agent_id}/status", {"status": "available"}
            )

    def _answer_offer(
        self,
        client: httpx.AsyncClient,
        agent: Agent,
        assignment: dict[str, Any],
        handling: set[asyncio.Task[None]],
    ) -> None:
        agent.busy.add(assignment["id"])
        task = asyncio.create_task(self._take(client, agent, assignment))
        handling.add(task)
        task.add_done_callback(handling.discard)

    async def _take(
        self, client: httpx.AsyncClient, agent: Agent, assignment: dict[str, Any]
    ) -> None:
        """Pick up after a moment (the phone rings), or reject, or miss the offer; then handle."""
        path = f"/v1/assignments/{assignment['id']}"
        actor = {"agent_id": agent.agent_id}
        missed = False
        try:
            await asyncio.sleep(agent.rng.uniform(0, agent.pickup_seconds))
            roll = agent.rng.random()
            if roll < 0.03:
                await self._call(client, "POST", f"{path}/reject", actor)
            elif roll < 0.05:
                # Distracted: the offer times out and routing sets the agent away. The offer stays
                # listed until then, so its id stays busy: it is not answered a second time.
                missed = True
            elif await self._call(client, "POST", f"{path}/accept", actor) is not None:
                agent.accepted += 1
                await self._handle(client, agent, assignment)
        finally:
            if not missed:
                agent.busy.discard(assignment["id"])

    async def _handle(
        self, client: httpx.AsyncClient, agent: Agent, assignment: dict[str, Any]
    ) -> None:
        path = f"/v1/assignments/{assignment['id']}"
        actor = {"agent_id": agent.agent_id}
        await asyncio.sleep(agent.rng.expovariate(1 / agent.mean_handle_seconds))
        roll = agent.rng.random()
        if roll < 0.10:
            await self._call(client, "POST", f"{path}/wait", actor)
            await asyncio.sleep(agent.rng.uniform(2, 10))
            await self._call(client, "POST", f"{path}/resume", actor)
            await asyncio.sleep(agent.rng.expovariate(2 / agent.mean_handle_seconds))
        elif roll < 0.16 and assignment["queue"] != "ouvidoria":
            target = agent.rng.choice([q for q in QUEUES if q != assignment["queue"]])
            note = "Cliente já explicou o caso; encaminho com o histórico completo."
            await self._call(
                client, "POST", f"{path}/transfer", {**actor, "to_queue": target, "notes": note}
            )
            return
        queue = assignment["queue"]
        reasons = REASONS["sucesso_cliente" if queue == "sucesso_cliente" else "default"]
        resolved = agent.rng.random() < 0.9
        body = {
            **actor,
            "resolution": "resolved" if resolved else "unresolved",
            "sensitive": agent.rng.random() < 0.02,
            "reason_code": agent.rng.choice(reasons),
            "notes": "Atendimento concluído pelo simulador."
            if resolved
            else "Sem resposta possível agora; devolvo à fila.",
            **(conclusive_answer(agent.rng) if resolved else {}),
        }
        if await self._call(client, "POST", f"{path}/complete", body) is not None:
            agent.completed += 1

    async def _call(
        self, client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        try:
            response = await client.request(
                method, f"{self._url}{path}", json=body, headers=self._headers
            )
        except httpx.HTTPError as exc:
            self.errors += 1
            log.warning("routing unreachable: %r", exc)
            return None
        if response.status_code >= 500:
            self.errors += 1
            log.warning("routing failed %s %s: %s", method, path, response.text[:300])
            return None
        if response.status_code >= 400:
            self.refused += 1
            log.debug("routing refused %s %s: %s", method, path, response.text[:300])
            return None
        result: dict[str, Any] = response.json() if response.content else {}
        return result
