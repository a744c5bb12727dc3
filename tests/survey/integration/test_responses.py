"""A survey takes one answer by its token: questions, scores, expiry, opt-out, guess resistance."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from atende_events.intake import Channel
from atende_events.survey import NpsCategory, SkipReason
from tests.infra import eventually
from tests.survey.integration.stack import Stack, survey_stack
from tests.survey.integration.support import survey_events, survey_row


async def _dispatched_token(stack: Stack, **register: Any) -> tuple[dict[str, Any], str]:
    interaction = await stack.register(email=f"{secrets.token_hex(4)}@example.com", **register)
    await stack.resolve(interaction)
    count = len(stack.mailbox.messages)

    async def sent() -> bool:
        return len(stack.mailbox.tokens()) > count

    await eventually(sent, what="the link")
    return interaction, stack.mailbox.tokens()[-1]


async def test_an_answer_is_recorded_once_with_its_category_and_themes() -> None:
    async with survey_stack() as stack:
        interaction, token = await _dispatched_token(stack)
        client = stack.survey.client

        questions = await client.get(f"/v1/surveys/{token}")
        assert questions.status_code == 200
        assert questions.json()["locale"] == "pt-BR"
        assert "0 a 10" in questions.json()["questions"][0]["text"]

        answer = await client.post(
            f"/v1/surveys/{token}/responses",
            json={"nps": 8, "csat": 4, "comment": "Demorou, mas a atendente foi educada"},
        )
        assert answer.status_code == 201, answer.text
        assert answer.json() == {"category": "passive", "followup": False}

        again = await client.post(f"/v1/surveys/{token}/responses", json={"nps": 10})
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert (await client.get(f"/v1/surveys/{token}")).status_code == 410

        events = await survey_events(stack.namespace, at_least=3)
        answered = [e.model_dump() for e in events if e.event_type.endswith("answered.v1")]
        assert len(answered) == 1
        assert answered[0]["nps"] == 8 and answered[0]["csat"] == 4
        assert answered[0]["category"] == NpsCategory.PASSIVE
        assert answered[0]["themes"] == ("courtesy", "wait_time")
        assert answered[0]["content"] == "Demorou, mas a atendente foi educada"
        assert str(answered[0]["interaction_id"]) == interaction["id"]


async def test_out_of_range_answers_are_refused_and_the_survey_stays_open() -> None:
    async with survey_stack() as stack:
        _, token = await _dispatched_token(stack)
        client = stack.survey.client
        for body, field in [
            ({"nps": 11}, "nps"),
            ({"nps": -1}, "nps"),
            ({"csat": 3}, "nps"),
            ({"nps": 5, "csat": 0}, "csat"),
            ({"nps": 5, "csat": 6}, "csat"),
            ({"nps": 5, "comment": "x" * 2001}, "comment"),
            ({"nps": 5, "name": "Ana"}, "name"),
        ]:
            answer = await client.post(f"/v1/surveys/{token}/responses", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert field in {error["field"] for error in answer.json()["errors"]}
        assert (await client.get(f"/v1/surveys/{token}")).status_code == 200
        ok = await client.post(f"/v1/surveys/{token}/responses", json={"nps": 0})
        assert ok.status_code == 201 and ok.json()["category"] == "detractor"


async def test_unknown_tokens_are_404_and_tokens_are_not_sequential() -> None:
    async with survey_stack() as stack:
        _, first = await _dispatched_token(stack)
        _, second = await _dispatched_token(stack)
        assert first != second
        assert len({first[:8], second[:8]}) == 2, "tokens share no guessable prefix"
        assert int.from_bytes(first.encode()) ^ int.from_bytes(second.encode()) != 1
        client = stack.survey.client
        for guess in [secrets.token_urlsafe(32), first[:-1] + ("A" if first[-1] != "A" else "B")]:
            assert (await client.get(f"/v1/surveys/{guess}")).status_code == 404
            answer = await client.post(f"/v1/surveys/{guess}/responses", json={"nps": 9})
            assert answer.status_code == 404
            assert (await client.post(f"/v1/surveys/{guess}/opt-out")).status_code == 404


async def test_an_unanswered_link_expires() -> None:
    async with survey_stack(token_lifetime=timedelta(seconds=1)) as stack:
        _, token = await _dispatched_token(stack)

        async def expired() -> list[Any]:
            events = await survey_events(stack.namespace, at_least=3)
            return [e for e in events if e.event_type == "atende.survey.expired.v1"]

        assert len(await eventually(expired, what="survey.expired")) == 1
        client = stack.survey.client
        assert (await client.get(f"/v1/surveys/{token}")).status_code == 410
        answer = await client.post(f"/v1/surveys/{token}/responses", json={"nps": 9})
        assert answer.status_code == 410


async def test_opting_out_stops_every_future_survey_of_the_party() -> None:
    async with survey_stack(fatigue_window=timedelta(0)) as stack:
        interaction, token = await _dispatched_token(stack, channel=Channel.WEB)
        assert (await stack.survey.client.post(f"/v1/surveys/{token}/opt-out")).status_code == 204

        later = dict(interaction, id=(await stack.register(email="x@example.com"))["id"])
        await stack.resolve(later)

        async def skipped() -> list[Any]:
            events = await survey_events(stack.namespace, at_least=3)
            return [e.model_dump() for e in events if e.event_type.endswith("skipped.v1")]

        decisions = await eventually(skipped, what="the skip")
        assert [d["reason"] for d in decisions] == [SkipReason.OPTED_OUT]
        assert str(decisions[0]["interaction_id"]) == later["id"]
        assert len(stack.mailbox.messages) == 1


async def test_an_opt_out_also_stops_a_survey_already_scheduled() -> None:
    async with survey_stack(fatigue_window=timedelta(0)) as stack:
        first = await stack.register(email="ana@example.com")
        second = await stack.register(email="ana@example.com")
        second["party_ref"] = first["party_ref"]  # the same person, as routing would say
        await stack.resolve(first)
        await eventually(lambda: _sent(stack, 1), what="the first link")
        # Resolved a few seconds "later", so its link is due after the opt-out below; the
        # opt-out waits for the schedule, so a slow first link cannot make it come too late.
        await stack.resolve(second, occurred_at=datetime.now(UTC) + timedelta(seconds=5))

        async def scheduled() -> Any:
            row = await survey_row(stack.survey, interaction_id=UUID(second["id"]))
            return row if row is not None and row.status == "scheduled" else None

        await eventually(scheduled, what="the second survey's schedule")
        token = stack.mailbox.tokens()[0]
        assert (await stack.survey.client.post(f"/v1/surveys/{token}/opt-out")).status_code == 204

        async def decided() -> Any:
            row = await survey_row(stack.survey, interaction_id=UUID(second["id"]))
            return row if row.status != "scheduled" else None

        row = await eventually(decided, within=20, what="the second survey's dispatch")
        assert (row.status, row.skip_reason) == ("skipped", SkipReason.OPTED_OUT)
        assert len(stack.mailbox.messages) == 1


async def _sent(stack: Stack, n: int) -> bool:
    return len(stack.mailbox.tokens()) >= n
