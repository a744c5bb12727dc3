"""A survey service wired to a real intake, a real SMTP server and a real message webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from atende_events.intake import Channel
from atende_events.pseudonym import party_ref
from atende_events.samples import make_interaction_resolved
from survey.models import Reception
from tests.infra import eventually, fresh_namespace
from tests.service_checks import RunningService, running_service
from tests.survey.integration.support import (
    Mailbox,
    Webhook,
    publish,
    serve_on_loopback,
    smtp_server,
    webhook_receiver,
)

PUBLIC_BASE = "https://pesquisa.example"


@dataclass
class Stack:
    """Intake and survey sharing one topic namespace, and the receivers survey sends to."""

    namespace: str
    intake: RunningService
    survey: RunningService
    mailbox: Mailbox
    webhook: Webhook

    async def register(
        self,
        *,
        channel: Channel = Channel.PHONE,
        email: str | None = None,
        phone: str | None = None,
        locale: str | None = "pt-BR",
        priority: str = "normal",
    ) -> dict[str, Any]:
        """Register an interaction at intake; wait until survey saw its reception."""
        party_id = uuid4().hex[:16]
        party: dict[str, Any] = {"kind": "member", "id": party_id, "name": "Ana Souza"}
        if email:
            party["email"] = email
        if phone:
            party["phone"] = phone
        body: dict[str, Any] = {
            "channel": channel.value,
            "party": party,
            "subject": "Autorização de ressonância",
            "priority": priority,
        }
        if locale:
            body["locale"] = locale
        answer = await self.intake.client.post(
            "/v1/interactions", json=body, headers={"Authorization": "Bearer dev-intake-admin"}
        )
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        key = self.intake.app.state.settings.pseudonym_key.encode()
        created["party_ref"] = party_ref(key, kind="member", party_id=party_id)
        created["channel"] = channel
        await eventually(
            lambda: self._seen(UUID(created["id"])), what="survey to see the reception"
        )
        return created

    async def _seen(self, interaction_id: UUID) -> bool:
        async with self.survey.sessionmaker() as session:
            return await session.get(Reception, interaction_id) is not None

    async def resolve(self, interaction: dict[str, Any], **overrides: Any) -> UUID:
        """Publish routing's resolution of a registered interaction."""
        values: dict[str, Any] = {
            "occurred_at": datetime.now(UTC),
            "interaction_id": UUID(interaction["id"]),
            "channel": interaction["channel"],
            "party_ref": interaction["party_ref"],
            **overrides,
        }
        await publish(self.namespace, make_interaction_resolved(**values))
        return UUID(interaction["id"])


@asynccontextmanager
async def survey_stack(
    webhook_failures: int = 0, smtp_reply_delay: float = 0.0, **overrides: Any
) -> AsyncIterator[Stack]:
    """Run intake on a loopback port and survey pointed at it, the SMTP server and the webhook."""
    namespace = await fresh_namespace()
    async with (
        smtp_server(smtp_reply_delay) as (smtp_port, mailbox),
        webhook_receiver(webhook_failures) as (webhook_url, webhook),
        running_service("intake", namespace=namespace) as intake,
        serve_on_loopback(intake.app) as intake_url,
    ):
        settings: dict[str, Any] = {
            "smtp_port": smtp_port,
            "smtp_starttls": False,  # the local sink speaks plain SMTP
            "message_webhook_url": webhook_url,
            "intake_base_url": intake_url,
            "dispatch_delay": timedelta(0),
            "timer_interval": 0.1,
            "retry_first_backoff": timedelta(milliseconds=100),
            "retry_max_backoff": timedelta(milliseconds=400),
            "public_base_url": PUBLIC_BASE,
            **overrides,
        }
        async with running_service("survey", namespace=namespace, **settings) as survey:
            yield Stack(namespace, intake, survey, mailbox, webhook)
