"""The load of every scenario: channel front ends posting, agents working, respondents answering.

- `Posting` sends interactions to intake at a steady rate (open loop: a slow answer never slows
  the schedule), each with its own Idempotency-Key, and keeps what intake acknowledged (201).
- `Desk` is a team of agents: each offer seen on Kafka is accepted and, after a short handling
  time, completed as resolved, through routing's HTTP API. A refused call (5xx, no answer) is
  tried again a few times, as an agent's screen would.
- Respondents are the simulator's: survey sends each link to their SMTP sink or SMS/WhatsApp
  webhook, they open it and answer.

Every HTTP answer is counted by caller and status ("intake 201", "routing 503+retry-after").
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

from bench.harness import service_key
from bench.loadgen import interaction_body
from faults.observe import Event, EventLog
from simulator.agents import QUEUES, REASONS
from simulator.respondents import Respondents, serve_webhook, start_mail_sink

TRANSIENT = {502, 503, 504}


@dataclass
class Answers:
    """HTTP answers by caller and status; 5xx other than 503 with Retry-After are the bad ones."""

    counts: Counter[str] = field(default_factory=Counter)

    def note(self, caller: str, status: int, retry_after: bool = False) -> None:
        suffix = "+retry-after" if status == 503 and retry_after else ""
        self.counts[f"{caller} {status}{suffix}"] += 1

    def failed(self, caller: str, kind: str) -> None:
        self.counts[f"{caller} {kind}"] += 1

    @property
    def bad_5xx(self) -> int:
        return sum(
            n
            for key, n in self.counts.items()
            if (status := key.split(" ", 1)[1]).startswith("5") and status != "503+retry-after"
        )

    def since(self, before: Counter[str]) -> dict[str, int]:
        return {
            key: n - before.get(key, 0)
            for key, n in sorted(self.counts.items())
            if n > before.get(key, 0)
        }


@dataclass
class Posting:
    """Interactions posted to intake at `rate` per second until stopped."""

    url: str
    rate: float
    answers: Answers
    seed: int = 1
    offered: int = 0
    acknowledged: dict[str, float] = field(default_factory=dict)
    """Interaction id -> when intake answered 201 (wall clock)."""
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="faults-posting")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        rng = random.Random(self.seed)
        headers = {"Authorization": f"Bearer {service_key('intake', 'interactions:write')}"}
        timeout = aiohttp.ClientTimeout(total=15)
        connector = aiohttp.TCPConnector(limit=256)
        pending: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

            async def send(body: dict[str, Any]) -> None:
                key = {"Idempotency-Key": str(uuid.uuid4())}
                try:
                    async with client.post(
                        f"{self.url}/v1/interactions", json=body, headers=headers | key
                    ) as response:
                        retry_after = "Retry-After" in response.headers
                        self.answers.note("intake", response.status, retry_after)
                        if response.status == 201:
                            answer = await response.json()
                            self.acknowledged[str(answer["id"])] = time.time()
                        else:
                            await response.read()
                except aiohttp.ClientError as exc:
                    self.answers.failed("intake", type(exc).__name__)
                except TimeoutError:
                    self.answers.failed("intake", "timeout")

            loop = asyncio.get_running_loop()
            began = loop.time()
            while not self._stop.is_set():
                due = began + self.offered / self.rate
                if due > loop.time():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), due - loop.time())
                    continue
                self.offered += 1
                task = asyncio.create_task(send(interaction_body(rng)))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.gather(*pending)


@dataclass
class Work:
    """What the desk did with one offer."""

    interaction_id: str
    assignment_id: str
    accepted: bool = False
    completed: bool = False


class Desk:
    """Agents that take every offer they see on Kafka, handle it briefly and resolve it."""

    def __init__(
        self,
        urls: list[str],
        events: EventLog,
        answers: Answers,
        *,
        agents: int = 40,
        handle_seconds: float = 1.0,
    ) -> None:
        self.urls = urls
        """Routing's instances; a call that gets no answer is tried on the next."""
        self.events = events
        self.answers = answers
        self.agents = [f"faults-agent-{n:02d}" for n in range(agents)]
        self.handle_seconds = handle_seconds
        self.rng = random.Random(7)
        self.work: dict[str, Work] = {}
        """Assignment id -> what happened to it."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.client = httpx.AsyncClient(
            timeout=15, limits=httpx.Limits(max_connections=200, max_keepalive_connections=100)
        )
        self.headers = {"Authorization": f"Bearer {service_key('routing', 'agents:write')}"}

    async def open(self) -> None:
        """Register every agent with every skill and make them available."""
        skills = dict.fromkeys([*QUEUES, "sucesso_cliente"], 3)
        channels = ("phone", "chat", "whatsapp", "web", "app", "email", "in_person")
        capacity = dict.fromkeys(channels, 2) | {"ombudsman": 1, "regulator": 1, "outbound": 1}
        for agent in self.agents:
            body = {"name": agent, "skills": skills, "capacity": capacity}
            await self._call("PUT", f"/v1/agents/{agent}", body, tries=20)
            await self._call("PUT", f"/v1/agents/{agent}/status", {"status": "available"}, tries=20)
        self.events.on("interaction.offered", self._offered)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.aclose()

    async def idle(self, within: float) -> None:
        """Wait until no offer is being worked on (or `within` seconds pass)."""
        deadline = time.monotonic() + within
        while self.tasks and time.monotonic() < deadline:  # noqa: ASYNC110 - tasks end alone
            await asyncio.sleep(0.2)

    def _offered(self, event: Event) -> None:
        assignment = str(event.data.get("assignment_id"))
        agent = str(event.data.get("agent_id"))
        if assignment in self.work or agent not in self.agents:
            return
        self.work[assignment] = Work(event.subject, assignment)
        task = asyncio.create_task(self._handle(assignment, agent))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, assignment: str, agent: str) -> None:
        path = f"/v1/assignments/{assignment}"
        work = self.work[assignment]
        if await self._call("POST", f"{path}/accept", {"agent_id": agent}) != 200:
            return
        work.accepted = True
        await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.handle_seconds)
        body = {
            "agent_id": agent,
            "resolution": "resolved",
            "reason_code": self.rng.choice(REASONS["default"]),
            "notes": "Atendimento concluído (faults).",
            "outcome": "informed",
            "answer": "Informamos que o seu pedido foi atendido; nada mais é necessário.",
        }
        if await self._call("POST", f"{path}/complete", body, tries=30) == 200:
            work.completed = True

    async def _call(self, method: str, path: str, body: dict[str, Any], tries: int = 5) -> int:
        """Send, retrying what may succeed later; return the last status (0: no answer)."""
        status = 0
        for attempt in range(tries):
            try:
                url = self.urls[attempt % len(self.urls)]
                response = await self.client.request(
                    method, url + path, json=body, headers=self.headers
                )
            except httpx.HTTPError as exc:
                self.answers.failed("routing", type(exc).__name__)
                status = 0
            else:
                status = response.status_code
                self.answers.note("routing", status, "retry-after" in response.headers)
                if status not in TRANSIENT:
                    return status
            await asyncio.sleep(min(2.0, 0.25 * 2**attempt))
        return status


class Spread(httpx.AsyncBaseTransport):
    """Requests leave from many loopback addresses in turn (127.0.1.2, 127.0.1.3, ...), as
    respondents' phones would from theirs: a limit per client address applies to each person."""

    def __init__(self, addresses: int = 200) -> None:
        self._transports = [
            httpx.AsyncHTTPTransport(local_address=f"127.0.{1 + n // 250}.{2 + n % 250}")
            for n in range(addresses)
        ]
        self._next = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports[self._next % len(self._transports)]
        self._next += 1
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()


@dataclass
class Answering:
    """The simulator's respondents on the SMTP and webhook ports survey delivers to."""

    smtp_port: int
    webhook_port: int
    answers: Answers
    respondents: Respondents = field(
        default_factory=lambda: Respondents(
            random.Random(5), response_rate=1.0, max_delay_seconds=1.0, may_contact=1.0
        )
    )
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _mail: Any = None
    _client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        async def count(response: httpx.Response) -> None:
            self.answers.note("survey", response.status_code, "retry-after" in response.headers)

        self._client = httpx.AsyncClient(
            timeout=15, transport=Spread(), event_hooks={"response": [count]}
        )
        self._mail = start_mail_sink(self.respondents, self.smtp_port)
        self._tasks = [
            asyncio.create_task(serve_webhook(self.respondents, self.webhook_port, self._stop)),
            asyncio.create_task(self.respondents.run(self._client, self._stop)),
        ]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._mail is not None:
            self._mail.stop()
        if self._client is not None:
            await self._client.aclose()
