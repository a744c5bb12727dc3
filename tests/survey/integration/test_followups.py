"""A detractor who allows contact gets a follow-up interaction at intake, closed with a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from atende_events.intake import Channel
from atende_events.survey import SkipReason
from tests.infra import eventually
from tests.survey.integration.stack import survey_stack
from tests.survey.integration.support import survey_events

ADMIN = {"Authorization": "Bearer dev-survey-admin"}


async def test_a_detractor_gets_a_followup_that_closes_with_the_reason() -> None:
    async with survey_stack() as stack:
        interaction = await stack.register(email="ana@example.com", locale="pt-BR")
        await stack.resolve(interaction)
        await eventually(lambda: _tokens(stack, 1), what="the link")
        token = stack.mailbox.tokens()[0]
        comment = "Minha autorização foi negada e ninguém explicou"
        answer = await stack.survey.client.post(
            f"/v1/surveys/{token}/responses",
            json={"nps": 2, "comment": comment, "may_contact": True},
        )
        assert answer.json() == {"category": "detractor", "followup": True}

        opened = (await _events_of(stack.namespace, "atende.followup.opened.v1", at_least=4))[0]
        followup_interaction = opened["followup_interaction_id"]
        assert str(opened["interaction_id"]) == interaction["id"]

        # Intake holds the follow-up: outbound, demand type followup, citing the protocol.
        record = await stack.intake.client.get(
            f"/v1/interactions/{followup_interaction}",
            headers={"Authorization": "Bearer dev-intake-admin"},
        )
        assert record.status_code == 200, record.text
        assert record.json()["channel"] == "outbound"
        assert record.json()["demand_type"] == "followup"
        assert record.json()["related_protocol"] == interaction["protocol"]
        assert record.json()["description"] == comment
        assert record.json()["party"]["id"] != ""

        listed = await stack.survey.client.get("/v1/followups?status=open", headers=ADMIN)
        assert [item["followup_interaction_id"] for item in listed.json()["items"]] == [
            str(followup_interaction)
        ]
        assert listed.json()["items"][0]["reason_code"] is None

        # Routing resolves the follow-up in sucesso_cliente with a reason code and notes.
        await stack.resolve(
            {
                "id": str(followup_interaction),
                "channel": Channel.OUTBOUND,
                "party_ref": interaction["party_ref"],
            },
            occurred_at=datetime.now(UTC),
            queue="sucesso_cliente",
            demand_type="followup",
            reason_code="explained_denial",
            content="Liguei, expliquei a negativa e reabri o pedido.",
        )
        closed = (await _events_of(stack.namespace, "atende.followup.closed.v1", at_least=6))[0]
        assert closed["reason_code"] == "explained_denial"
        assert closed["followup_id"] == opened["followup_id"]
        assert closed["content"] == "Liguei, expliquei a negativa e reabri o pedido."

        closed_list = await stack.survey.client.get("/v1/followups?status=closed", headers=ADMIN)
        [item] = closed_list.json()["items"]
        assert item["reason_code"] == "explained_denial" and item["status"] == "closed"
        assert item["age_seconds"] > 0 and item["closed_at"] is not None
        open_list = await stack.survey.client.get("/v1/followups?status=open", headers=ADMIN)
        assert open_list.json()["items"] == []

        # The follow-up itself is never surveyed.
        skipped = await _events_of(stack.namespace, "atende.survey.skipped.v1", at_least=6)
        assert [(str(s["interaction_id"]), s["reason"]) for s in skipped] == [
            (str(followup_interaction), SkipReason.CHANNEL_NOT_SURVEYED)
        ]


async def test_passives_promoters_and_detractors_without_permission_open_nothing() -> None:
    async with survey_stack() as stack:
        answers = [{"nps": 7, "may_contact": True}, {"nps": 10, "may_contact": True},
                   {"nps": 4, "may_contact": False}]  # fmt: skip
        for index, body in enumerate(answers):
            interaction = await stack.register(email=f"p{index}@example.com")
            await stack.resolve(interaction)
            await eventually(partial(_tokens, stack, index + 1), what="the link")
            token = stack.mailbox.tokens()[index]
            answer = await stack.survey.client.post(f"/v1/surveys/{token}/responses", json=body)
            assert answer.status_code == 201 and answer.json()["followup"] is False

        events = await _events_of(stack.namespace, "atende.survey.answered.v1", at_least=9)
        # One interaction per partition key: order across interactions is not kept.
        assert sorted(e["category"] for e in events) == ["detractor", "passive", "promoter"]
        every = await stack.survey.client.get("/v1/followups", headers=ADMIN)
        assert every.json()["items"] == []
        all_types = {e.event_type for e in await survey_events(stack.namespace, at_least=9)}
        assert not {t for t in all_types if t.startswith("atende.followup.")}


async def test_listing_followups_needs_the_scope() -> None:
    async with survey_stack() as stack:
        client = stack.survey.client
        assert (await client.get("/v1/followups")).status_code == 401
        wrong = {"Authorization": "Bearer dev-intake-admin"}
        assert (await client.get("/v1/followups", headers=wrong)).status_code == 401
        bad = await client.get("/v1/followups?status=maybe", headers=ADMIN)
        assert bad.status_code == 422


async def _tokens(stack: Any, n: int) -> bool:
    return len(stack.mailbox.tokens()) >= n


async def _events_of(namespace: str, event_type: str, *, at_least: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        events = await survey_events(namespace, at_least=at_least)
        return [e.model_dump() for e in events if e.event_type == event_type]

    found: list[dict[str, Any]] = await eventually(probe, within=30, what=event_type)
    return found
