"""Simulated survey respondents: they receive the link by e-mail, SMS or WhatsApp and answer.

The simulator runs the places survey delivers to on a development machine: an SMTP server
(aiosmtpd) and an HTTP webhook for SMS/WhatsApp. Answers follow seed 000's split of 52%
promoters, 31% passives and 17% detractors by default; not everyone answers; some detractors
allow a call, which survey turns into a follow-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from fastapi import FastAPI, Request

log = logging.getLogger(__name__)

LINK = re.compile(r"https?://[^\s\"<>]+/v1/surveys/[A-Za-z0-9_-]+")
COMMENTS = {
    "promoter": [
        "Atendimento rápido e cordial, resolveram tudo.",
        "Excelente atención, muy amable.",
    ],
    "passive": ["Resolveu, mas a espera foi longa.", "Okay, aber die Wartezeit war lang."],
    "detractor": [
        "Esperei muito tempo na fila e ninguém resolveu.",
        "A autorização do exame foi negada sem explicação.",
        "The bill was wrong and nobody called me back.",
        "La espera fue muy larga y el boleto sigue con error.",
    ],
}


@dataclass
class Respondents:
    """Answer every survey link that arrives, with the configured NPS split."""

    rng: random.Random
    response_rate: float = 0.6
    promoters: float = 0.52
    passives: float = 0.31
    max_delay_seconds: float = 30.0
    may_contact: float = 0.6
    survey_url: str | None = None
    received: int = 0
    answered: int = 0
    errors: int = 0
    links: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def score(self) -> tuple[int, str]:
        roll = self.rng.random()
        if roll < self.promoters:
            return self.rng.choice([9, 10, 10]), "promoter"
        if roll < self.promoters + self.passives:
            return self.rng.choice([7, 8]), "passive"
        return self.rng.randint(0, 6), "detractor"

    async def answer(self, client: httpx.AsyncClient, link: str) -> None:
        """Open the link, read the questions, send an answer."""
        await asyncio.sleep(self.rng.uniform(0, self.max_delay_seconds))
        try:
            questions = await client.get(link)
        except httpx.HTTPError as exc:
            self.errors += 1
            log.warning("survey unreachable: %r", exc)
            return
        if questions.status_code != 200:
            self.errors += 1
            log.warning("survey link answered %s: %s", questions.status_code, link)
            return
        nps, category = self.score()
        body: dict[str, Any] = {
            "nps": nps,
            "csat": max(1, min(5, round(nps / 2))),
            "comment": self.rng.choice(COMMENTS[category]),
            "may_contact": category == "detractor" and self.rng.random() < self.may_contact,
        }
        try:
            response = await client.post(f"{link}/responses", json=body)
        except httpx.HTTPError as exc:
            self.errors += 1
            log.warning("survey unreachable: %r", exc)
            return
        if response.status_code in (200, 201):
            self.answered += 1
        else:
            self.errors += 1
            log.warning(
                "survey refused an answer: %s %s", response.status_code, response.text[:200]
            )

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Answer links as they arrive; some people never answer."""
        pending: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            try:
                async with asyncio.timeout(1):
                    link = await self.links.get()
            except TimeoutError:
                continue
            if self.rng.random() >= self.response_rate:
                continue
            task = asyncio.create_task(self.answer(client, link))
            pending.add(task)
            task.add_done_callback(pending.discard)
        for task in pending:
            task.cancel()

    def deliver(self, text: str) -> None:
        """Take the links out of a delivered message."""
        for link in LINK.findall(text):
            self.received += 1
            if self.survey_url:
                # In containers the link's public address is not the one respondents reach.
                link = self.survey_url.rstrip("/") + link[link.index("/v1/surveys/") :]
            self.links.put_nowait(link)


class _MailHandler:
    def __init__(self, respondents: Respondents, loop: asyncio.AbstractEventLoop) -> None:
        self._respondents = respondents
        self._loop = loop

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        # aiosmtpd runs in its own thread and loop: hand the text to the simulator's loop.
        self._loop.call_soon_threadsafe(self._respondents.deliver, text)
        return "250 OK"


def start_mail_sink(respondents: Respondents, port: int, host: str = "127.0.0.1") -> Controller:
    """Run an SMTP server on <host>:<port> that hands every message's links to respondents."""
    controller = Controller(
        _MailHandler(respondents, asyncio.get_running_loop()), hostname=host, port=port
    )
    controller.start()
    return controller


def webhook_app(respondents: Respondents) -> FastAPI:
    """The SMS/WhatsApp gateway survey posts to: {medium, to, text, reference}."""
    app = FastAPI()

    @app.post("/messages", status_code=202)
    async def receive(request: Request) -> dict[str, str]:
        message = await request.json()
        respondents.deliver(str(message.get("text", "")))
        return {"status": "accepted"}

    return app


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the simulator handles SIGTERM itself and stops this server


async def serve_webhook(
    respondents: Respondents, port: int, stop: asyncio.Event, host: str = "127.0.0.1"
) -> None:
    """Serve the webhook until stopped."""
    config = uvicorn.Config(webhook_app(respondents), host=host, port=port, log_level="warning")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task
