"""Nothing is acknowledged before it is durable; Kafka being away only delays the events."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from atende_events.db import outbox
from atende_events.envelope import decode
from atende_events.intake import InteractionReceived
from intake.config import Settings
from intake.main import create_app
from tests.infra import (
    KAFKA_BOOTSTRAP,
    eventually,
    fresh_namespace,
    migrate,
    read_topic,
    scratch_database,
)
from tests.intake.integration.conftest import ADMIN, make_interaction
from tests.service_checks import serving

CLOSED_PORT = "127.0.0.1:1"


async def test_database_unreachable_is_503_with_retry_after() -> None:
    app = create_app(
        Settings(database_url=f"postgresql+asyncpg://atende:atende@{CLOSED_PORT}/intake")
    )
    async with serving(app) as client:
        refused = await client.post("/v1/interactions", json=make_interaction(), headers=ADMIN)
        read = await client.get("/v1/interactions/34567820261123000001", headers=ADMIN)

    assert refused.status_code == 503
    assert refused.headers["retry-after"].isdigit()
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 503
    assert read.status_code == 503


async def test_kafka_unreachable_still_accepts_and_publishes_each_event_once_later() -> None:
    namespace = await fresh_namespace()
    async with scratch_database("intake_kafka_down") as url:
        await migrate("intake", url)

        def settings(kafka_bootstrap: str) -> Settings:
            return Settings(
                database_url=url, topic_namespace=namespace, kafka_bootstrap=kafka_bootstrap
            )

        offline = create_app(settings(CLOSED_PORT))
        async with serving(offline) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/v1/interactions", json=make_interaction(), headers=ADMIN)
                    for _ in range(30)
                )
            )
            assert [a.status_code for a in answers] == [201] * 30
            # Still taking traffic, and saying why it is degraded (readiness must not pull an
            # instance that acknowledges every interaction out of service).
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            checks = ready.json()["checks"]
            assert (checks["database"], checks["kafka"]) == (True, False)
            metrics = (await client.get("/metrics")).text
            assert "atende_kafka_reachable 0.0" in metrics
            async with offline.state.runtime.sessionmaker() as session:
                pending = await session.scalar(
                    select(func.count()).where(outbox.c.published_at.is_(None))
                )
            assert pending == 30
        protocols = {a.json()["protocol"] for a in answers}

        online = create_app(settings(KAFKA_BOOTSTRAP))
        async with serving(online):

            async def drained() -> bool:
                async with online.state.runtime.sessionmaker() as session:
                    left = await session.scalar(
                        select(func.count()).where(outbox.c.published_at.is_(None))
                    )
                return bool(left == 0)

            await eventually(drained, within=60, what="the outbox to drain")

    records = await read_topic(namespace + "atende.interactions.v1", at_least=30)
    published = Counter(
        event.data.protocol
        for event in (decode(r.value) for r in records if r.value is not None)
        if isinstance(event.data, InteractionReceived)
    )
    assert set(published) == protocols
    assert set(published.values()) == {1}
