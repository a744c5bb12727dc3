"""Protocol numbers stay unique when several intake instances give them at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from intake import domain, service
from intake.config import Settings
from intake.models import Interaction
from tests.intake.integration.conftest import ADMIN, READER, make_interaction, new_party_id
from tests.service_checks import RunningService, build_app, running_service, serving


async def post(intake: RunningService, body: Any, **headers: str) -> Any:
    return await intake.client.post("/v1/interactions", json=body, headers={**ADMIN, **headers})


async def test_200_concurrent_posts_on_two_instances_get_200_distinct_protocols() -> None:
    async with running_service("intake") as first:
        second_app = build_app(
            "intake",
            first.database_url,
            topic_namespace=first.namespace,
            consumer_group=f"{first.namespace}atende-intake",
        )
        async with serving(second_app) as second:
            clients = [first.client, second]
            answers = await asyncio.gather(
                *(
                    clients[n % 2].post(
                        "/v1/interactions", json=make_interaction(channel="chat"), headers=ADMIN
                    )
                    for n in range(200)
                )
            )

        assert [a.status_code for a in answers] == [201] * 200
        protocols = [a.json()["protocol"] for a in answers]
        assert len(set(protocols)) == 200
        today = datetime.now(UTC).astimezone(ZoneInfo(Settings().time_zone)).date()
        for protocol in protocols:
            parsed = domain.parse_protocol(protocol)
            assert parsed is not None and len(protocol) == 20, protocol
            assert (parsed.registry, parsed.day) == ("345678", today)
        async with first.sessionmaker() as session:
            stored = await session.scalar(select(func.count(func.distinct(Interaction.protocol))))
        assert stored == 200


async def test_a_burst_shares_transactions_yet_every_request_gets_its_own_answer(
    intake: RunningService,
) -> None:
    cited = (await post(intake, make_interaction())).json()["protocol"]
    party = {"kind": "member", "id": new_party_id()}
    plain = [make_interaction(party={**party, "email": f"p{n}@example.com"}) for n in range(20)]
    retried = [make_interaction() for _ in range(10)]
    clashing = [(make_interaction(), make_interaction()) for _ in range(5)]
    unknown = [make_interaction(related_protocol="34567820250101999999") for _ in range(5)]
    citing = [make_interaction(related_protocol=cited) for _ in range(5)]
    keys = [f"burst-{uuid.uuid4()}" for _ in range(20)]

    requests = [
        *[post(intake, body) for body in plain],
        *[post(intake, body, **{"Idempotency-Key": keys[n]}) for n, body in enumerate(retried)],
        *[post(intake, body, **{"Idempotency-Key": keys[n]}) for n, body in enumerate(retried)],
        *[
            post(intake, a, **{"Idempotency-Key": keys[10 + n]})
            for n, (a, _) in enumerate(clashing)
        ],
        *[
            post(intake, b, **{"Idempotency-Key": keys[10 + n]})
            for n, (_, b) in enumerate(clashing)
        ],
        *[
            post(intake, body, **{"Idempotency-Key": keys[15 + n]})
            for n, body in enumerate(unknown)
        ],
        *[post(intake, body) for body in citing],
    ]
    transactions_before = _registration_transactions()
    answers = await asyncio.gather(*requests)
    # They shared transactions (group commit), or this test would not test that.
    assert _registration_transactions() - transactions_before < len(requests)
    plain_a, first, second, clash_a, clash_b, unknown_a, citing_a = (
        answers[0:20],
        answers[20:30],
        answers[30:40],
        answers[40:45],
        answers[45:50],
        answers[50:55],
        answers[55:60],
    )

    assert [a.status_code for a in plain_a + citing_a] == [201] * 25
    for a, b in zip(first, second, strict=True):
        assert sorted([a.status_code, b.status_code]) == [200, 201]
        assert a.json()["protocol"] == b.json()["protocol"]
    for a, b in zip(clash_a, clash_b, strict=True):
        assert sorted([a.status_code, b.status_code]) == [201, 409]
    assert [a.status_code for a in unknown_a] == [422] * 5
    created = [a.json()["protocol"] for a in answers if a.status_code == 201]
    assert len(created) == len(set(created)) == 20 + 10 + 5 + 5

    for answer in citing_a:
        shown = await intake.client.get(f"/v1/interactions/{answer.json()['id']}", headers=READER)
        assert shown.json()["related_protocol"] == cited
    timeline = await intake.client.get(
        f"/v1/parties/member/{party['id']}/timeline?limit=100", headers=READER
    )
    assert len(timeline.json()["items"]) == 20
    contact = await intake.client.get(f"/v1/parties/member/{party['id']}", headers=ADMIN)
    assert contact.json()["email"] in {body["party"]["email"] for body in plain}

    # A refused request kept nothing: its key is free for the corrected request.
    retry = await post(intake, make_interaction(), **{"Idempotency-Key": keys[15]})
    assert retry.status_code == 201
    # Exactly one event per interaction created, in the outbox of the same transactions.
    async with intake.sessionmaker() as session:
        events = (
            await session.execute(
                text("SELECT key FROM outbox WHERE event_type = :type AND key = ANY(:ids)"),
                {
                    "type": "atende.interaction.received.v1",
                    "ids": [a.json()["id"] for a in answers if a.status_code == 201],
                },
            )
        ).all()
    assert len(events) == 40


def _registration_transactions() -> float:
    count = REGISTRY.get_sample_value("atende_intake_registration_batch_size_count")
    return count or 0.0


async def test_a_batch_that_fails_for_an_unforeseen_reason_is_written_again_one_by_one(
    intake: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = service.register_interactions
    sizes: list[int] = []

    async def failing_when_shared(
        session: AsyncSession, registrations: Sequence[service.Registration], **kw: Any
    ) -> list[service.Outcome]:
        sizes.append(len(registrations))
        if len(registrations) > 1:
            raise ValueError("a bug that only a shared batch meets")
        return await original(session, registrations, **kw)

    monkeypatch.setattr(service, "register_interactions", failing_when_shared)
    answers = await asyncio.gather(*[post(intake, make_interaction()) for _ in range(30)])

    assert max(sizes) > 1, "no batch was shared: the fallback was not exercised"
    assert [answer.status_code for answer in answers] == [201] * 30
    protocols = {answer.json()["protocol"] for answer in answers}
    async with intake.sessionmaker() as session:
        stored = set(
            await session.scalars(
                select(Interaction.protocol).where(Interaction.protocol.in_(protocols))
            )
        )
    # The failed batches rolled back whole; each registration was committed once on its own.
    assert len(protocols) == 30 and stored == protocols
