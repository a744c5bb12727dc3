"""Real receivers for survey's tests: an SMTP server, a message webhook and intake on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from atende_events.envelope import EventData, decode, encode, key_of, new_event
from atende_events.kafka import Publisher
from atende_events.pseudonym import party_ref
from atende_events.registry import SOURCES
from tests.infra import KAFKA_BOOTSTRAP, eventually, read_topic
from tests.service_checks import RunningService

LINK = re.compile(r"https?://\S+/v1/surveys/([A-Za-z0-9_-]+)")
PSEUDONYM_KEY = b"survey tests' pseudonym key, 32 bytes or more"


def new_party_ref() -> str:
    """A fresh party pseudonym, so no two tests share a party."""
    return party_ref(PSEUDONYM_KEY, kind="member", party_id=uuid.uuid4().hex[:12])


@dataclass
class Mailbox:
    """What the local SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    reply_delay: float = 0.0
    """Seconds between taking a message and saying so: the sender's transaction stays open."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        await asyncio.sleep(self.reply_delay)
        return "250 OK"

    def tokens(self) -> list[str]:
        """Every survey token in the messages' links."""
        return [match for message in self.messages for match in LINK.findall(body_of(message))]


def body_of(message: EmailMessage) -> str:
    """The text of a plain e-mail."""
    body: str = message.get_content()
    return body


@asynccontextmanager
async def smtp_server(reply_delay: float = 0.0) -> AsyncIterator[tuple[int, Mailbox]]:
    """Run a real SMTP server on a free loopback port; yield its port and its mailbox."""
    mailbox = Mailbox(reply_delay=reply_delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(mailbox, hostname="smtp.test"), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], mailbox
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def serve_on_loopback(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: _started(server), within=10, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@dataclass
class Webhook:
    """What the local message webhook received; it refuses the first `failures` requests."""

    failures: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    async def receive(self, request: Request) -> JSONResponse:
        if self.refused < self.failures:
            self.refused += 1
            return JSONResponse({"error": "provider down"}, status_code=503)
        self.received.append(await request.json())
        return JSONResponse({"accepted": True}, status_code=202)


@asynccontextmanager
async def webhook_receiver(failures: int = 0) -> AsyncIterator[tuple[str, Webhook]]:
    """Run a message webhook on a free loopback port; yield its URL and what it got."""
    webhook = Webhook(failures=failures)
    app = Starlette(routes=[Route("/messages", webhook.receive, methods=["POST"])])
    async with serve_on_loopback(app) as base:
        yield f"{base}/messages", webhook


async def publish(namespace: str, data: EventData) -> None:
    """Put an event on the namespace's topic, as its producing service would."""
    source = SOURCES.get(type(data).event_type, "/atende/tests")
    event = new_event(data, source=source, time=data.occurred_at)
    publisher = Publisher(KAFKA_BOOTSTRAP, client_id="survey-tests")
    try:
        await publisher.send_and_wait(
            namespace + data.topic, encode(event), key=key_of(event).encode()
        )
    finally:
        await publisher.close()


async def survey_events(
    namespace: str, *, at_least: int, of_type: str | None = None
) -> list[EventData]:
    """Read survey's events (decoded) from the namespace, at least N of them."""
    records = await read_topic(namespace + "atende.surveys.v1", at_least=at_least)
    events = [decode(record.value).data for record in records]
    return [e for e in events if of_type is None or e.event_type == of_type]


async def survey_row(svc: RunningService, **where: Any) -> Any:
    """The survey row matching the conditions, or None."""
    from survey.models import Survey

    async with svc.sessionmaker() as session:
        query = select(Survey)
        for name, value in where.items():
            query = query.where(getattr(Survey, name) == value)
        return await session.scalar(query)


def client_for(base_url: str) -> httpx.AsyncClient:
    """A plain HTTP client for a loopback service."""
    return httpx.AsyncClient(base_url=base_url, timeout=10)
