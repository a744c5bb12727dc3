"""Links go out by e-mail over SMTP and by WhatsApp/SMS through the webhook, once, with retries."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from atende_events.intake import Channel
from atende_events.samples import make_interaction_resolved
from atende_events.survey import SkipReason, SurveyDispatched, SurveyMedium
from survey import domain
from tests.infra import eventually, fresh_namespace, migrate, scratch_database
from tests.service_checks import build_app, serving
from tests.survey.integration.stack import PUBLIC_BASE, survey_stack
from tests.survey.integration.support import (
    LINK,
    body_of,
    new_party_ref,
    publish,
    smtp_server,
    survey_events,
    survey_row,
)


async def test_a_link_opened_while_its_dispatch_is_still_committing_shows_the_survey() -> None:
    # The SMTP server holds its reply, so the dispatcher's transaction is still open when the
    # person (this test) opens the link the moment the e-mail lands.
    async with survey_stack(smtp_reply_delay=1.0) as stack:
        interaction = await stack.register(email="bia@example.com")
        await stack.resolve(interaction)
        await eventually(lambda: _count(stack.mailbox.messages, 1), what="the e-mail")
        token = stack.mailbox.tokens()[0]

        survey = await stack.survey.client.get(f"/v1/surveys/{token}")

        assert survey.status_code == 200, survey.text
        assert survey.json()["questions"][0]["id"] == "nps"


async def test_a_backlog_of_due_links_is_shared_among_senders_and_each_goes_once() -> None:
    # Passes of 4 links, 3 senders at once, each taking its surveys with SKIP LOCKED.
    async with survey_stack(timer_batch_size=4, dispatch_concurrency=3) as stack:
        interactions = [await stack.register(email=f"p{n}@example.com") for n in range(10)]
        for interaction in interactions:
            await stack.resolve(interaction)
        await eventually(lambda: _count(stack.mailbox.messages, 10), what="ten e-mails")
        rows = [
            await survey_row(stack.survey, interaction_id=UUID(interaction["id"]))
            for interaction in interactions
        ]
        # Every survey: scheduled, then dispatched once, in one partition per interaction.
        events = await survey_events(stack.namespace, at_least=20)
    dispatched = [e for e in events if isinstance(e, SurveyDispatched)]
    assert sorted(str(e.survey_id) for e in dispatched) == sorted(str(row.id) for row in rows)
    recipients = sorted(message["To"] for message in stack.mailbox.messages)
    assert recipients == sorted(f"p{n}@example.com" for n in range(10))
    assert len(set(stack.mailbox.tokens())) == 10
    assert {(row.status, row.attempts) for row in rows} == {("dispatched", 1)}


async def test_an_email_carries_a_single_use_link_in_the_persons_language() -> None:
    async with survey_stack() as stack:
        interaction = await stack.register(email="ana@example.com", locale="es")
        await stack.resolve(interaction)

        await eventually(lambda: _count(stack.mailbox.messages, 1), what="the e-mail")
        message = stack.mailbox.messages[0]
        assert message["To"] == "ana@example.com"
        assert interaction["protocol"] in message["Subject"]
        assert message["Subject"].startswith("¿Cómo fue su atención?")
        body = body_of(message)
        assert f"{PUBLIC_BASE}/v1/surveys/" in body
        token = stack.mailbox.tokens()[0]
        assert len(token) >= 43  # 32 random bytes: 256 bits

        survey = await stack.survey.client.get(f"/v1/surveys/{token}")
        assert survey.status_code == 200, survey.text
        assert survey.json()["locale"] == "es"
        assert [q["id"] for q in survey.json()["questions"]] == [
            "nps",
            "csat",
            "comment",
            "may_contact",
        ]

        events = await survey_events(stack.namespace, at_least=2)
        assert [e.event_type for e in events] == [
            "atende.survey.scheduled.v1",
            "atende.survey.dispatched.v1",
        ]
        dispatched = events[1]
        assert dispatched.model_dump()["medium"] == SurveyMedium.EMAIL
        assert str(interaction["id"]) == str(dispatched.model_dump()["interaction_id"])
        # Events and the database carry neither the address nor the token.
        assert "ana@example.com" not in str([e.model_dump() for e in events])
        async with stack.survey.sessionmaker() as session:
            from sqlalchemy import text

            rows = (await session.execute(text("SELECT * FROM surveys"))).all()
        assert token not in str(rows) and domain.hash_token(token) in str(rows)


async def test_whatsapp_contacts_get_the_link_through_the_webhook() -> None:
    async with survey_stack() as stack:
        interaction = await stack.register(
            channel=Channel.WHATSAPP, phone="+55 11 99999-0000", locale="de-DE"
        )
        await stack.resolve(interaction)

        await eventually(lambda: _count(stack.webhook.received, 1), what="the webhook call")
        sent = stack.webhook.received[0]
        assert sent["medium"] == "whatsapp"
        assert sent["to"] == "+55 11 99999-0000"
        tokens = LINK.findall(sent["text"])
        assert len(tokens) == 1 and interaction["protocol"] in sent["text"]
        survey = await stack.survey.client.get(f"/v1/surveys/{tokens[0]}")
        assert survey.json()["locale"] == "de"
        assert stack.mailbox.messages == []


async def test_a_phone_only_contact_gets_an_sms_and_one_without_contact_is_skipped() -> None:
    async with survey_stack() as stack:
        by_phone = await stack.register(channel=Channel.CHAT, phone="+55 21 98888-7777")
        nowhere = await stack.register(channel=Channel.CHAT)
        await stack.resolve(by_phone)
        await stack.resolve(nowhere)

        await eventually(lambda: _count(stack.webhook.received, 1), what="the SMS")
        assert stack.webhook.received[0]["medium"] == "sms"
        events = await survey_events(stack.namespace, at_least=4)
        skipped = [e.model_dump() for e in events if e.event_type.endswith("skipped.v1")]
        assert skipped == [
            {
                "occurred_at": skipped[0]["occurred_at"],
                "interaction_id": UUID(nowhere["id"]),
                "survey_id": skipped[0]["survey_id"],
                "reason": SkipReason.NO_CONTACT,
            }
        ]


async def test_a_failing_webhook_is_retried_with_backoff_then_recorded_as_failed() -> None:
    async with survey_stack(webhook_failures=10, send_attempts=3) as stack:
        interaction = await stack.register(channel=Channel.CHAT, phone="+55 21 98888-7777")
        await stack.resolve(interaction)

        events = await _wait_for(stack.namespace, "atende.survey.failed.v1")
        failed = events[-1].model_dump()
        assert failed["medium"] == SurveyMedium.SMS and failed["reason_code"] == "send_failed"
        assert stack.webhook.refused == 3 and stack.webhook.received == []


async def test_a_webhook_that_recovers_gets_the_link_after_a_retry() -> None:
    async with survey_stack(webhook_failures=1, send_attempts=3) as stack:
        interaction = await stack.register(channel=Channel.CHAT, phone="+55 21 98888-7777")
        await stack.resolve(interaction)

        await eventually(lambda: _count(stack.webhook.received, 1), what="the retried SMS")
        assert stack.webhook.refused == 1
        events = await survey_events(stack.namespace, at_least=2)
        assert [e.event_type for e in events] == [
            "atende.survey.scheduled.v1",
            "atende.survey.dispatched.v1",
        ]


async def test_a_restart_between_scheduling_and_dispatch_sends_exactly_one_message() -> None:
    """Schedule on one instance, stop it, then two instances race for the due survey."""
    namespace = await fresh_namespace()
    async with (
        smtp_server() as (smtp_port, mailbox),
        _stub_intake(email="ana@example.com") as intake_url,
        scratch_database("survey") as url,
    ):
        await migrate("survey", url)
        settings: dict[str, Any] = {
            "topic_namespace": namespace,
            "consumer_group": f"{namespace}atende-survey",
            "smtp_port": smtp_port,
            "smtp_starttls": False,  # the local sink speaks plain SMTP
            "intake_base_url": intake_url,
            "dispatch_delay": timedelta(seconds=3),
            "timer_interval": 0.05,
        }
        resolved = make_interaction_resolved(
            occurred_at=datetime.now(UTC), party_ref=new_party_ref()
        )
        first = build_app("survey", url, **settings)
        async with serving(first):
            await publish(namespace, resolved)
            await eventually(
                lambda: _scheduled(first.state.runtime.sessionmaker), what="the schedule"
            )
        assert mailbox.messages == []  # stopped before it was due

        second, third = build_app("survey", url, **settings), build_app("survey", url, **settings)
        async with serving(second), serving(third):
            await eventually(lambda: _count(mailbox.messages, 1), within=30, what="the e-mail")
            events = await survey_events(namespace, at_least=2)
        assert len(mailbox.messages) == 1
        assert [e.event_type for e in events] == [
            "atende.survey.scheduled.v1",
            "atende.survey.dispatched.v1",
        ]


async def _scheduled(sessionmaker: Any) -> bool:
    from sqlalchemy import select

    from survey.models import Survey

    async with sessionmaker() as session:
        return (
            await session.scalar(select(Survey.id).where(Survey.status == "scheduled")) is not None
        )


async def _count(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def _wait_for(namespace: str, event_type: str) -> list[Any]:
    async def probe() -> list[Any]:
        events = await survey_events(namespace, at_least=1)
        return events if any(e.event_type == event_type for e in events) else []

    result: list[Any] = await eventually(probe, within=30, what=event_type)
    return result


def _stub_intake(*, email: str) -> Any:
    """Intake's two read endpoints survey uses, answering for any interaction."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.survey.integration.support import serve_on_loopback

    async def interaction(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "id": request.path_params["id"],
                "protocol": "34567820261123000042",
                "party": {"kind": "member", "id": "0001234567"},
                "locale": "pt-BR",
            }
        )

    async def party(request: Request) -> JSONResponse:
        return JSONResponse({"kind": "member", "id": "0001234567", "email": email, "phone": None})

    app = Starlette(
        routes=[
            Route("/v1/interactions/{id}", interaction),
            Route("/v1/parties/{kind}/{id}", party),
        ]
    )
    return serve_on_loopback(app)


async def test_an_unreachable_smtp_server_is_retried_then_recorded_as_failed() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        async with survey_stack(smtp_port=closed.getsockname()[1], send_attempts=2) as stack:
            interaction = await stack.register(email="ana@example.com")
            await stack.resolve(interaction)

            events = await _wait_for(stack.namespace, "atende.survey.failed.v1")
            failed = events[-1].model_dump()
            assert failed["medium"] == SurveyMedium.EMAIL
            assert str(failed["interaction_id"]) == interaction["id"]
            row = await survey_row(stack.survey, interaction_id=UUID(interaction["id"]))
            assert (row.status, row.attempts) == ("failed", 2)
            assert [e.event_type for e in events] == [
                "atende.survey.scheduled.v1",
                "atende.survey.failed.v1",
            ]
