"""Receptions (the priority eligibility needs) do not pile up: used once, purged when stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from atende_events.intake import Priority
from atende_events.samples import make_interaction_received, make_interaction_resolved
from survey import service
from survey.models import Reception
from tests.infra import eventually, migrate, scratch_database
from tests.service_checks import running_service
from tests.survey.integration.support import new_party_ref, publish, survey_row


async def test_a_reception_is_forgotten_once_its_resolution_is_decided() -> None:
    async with running_service("survey") as svc:
        interaction_id = uuid4()
        now = datetime.now(UTC)
        await publish(
            svc.namespace,
            make_interaction_received(
                interaction_id=interaction_id,
                priority=Priority.URGENT,
                received_at=now,
                occurred_at=now,
            ),
        )

        async def reception() -> Reception | None:
            async with svc.sessionmaker() as session:
                return await session.get(Reception, interaction_id)

        await eventually(reception, what="the reception")
        await publish(
            svc.namespace,
            make_interaction_resolved(
                occurred_at=now,
                interaction_id=interaction_id,
                party_ref=new_party_ref(),
            ),
        )
        decided = await eventually(
            lambda: survey_row(svc, interaction_id=interaction_id), what="the decision"
        )

        assert decided.status == "skipped", "the urgent priority was still used for the decision"
        assert await reception() is None


async def test_receptions_older_than_the_retention_are_purged_and_newer_ones_kept() -> None:
    # On a database no running service uses: the service's own timer purges at start-up too,
    # and racing it would make the count below depend on who came first.
    now = datetime.now(UTC)
    async with scratch_database("survey") as url:
        await migrate("survey", url)
        engine = create_async_engine(url)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        try:
            old, recent = uuid4(), uuid4()
            async with sessionmaker.begin() as session:
                session.add_all(
                    [
                        Reception(
                            interaction_id=old,
                            priority="normal",
                            received_at=now - timedelta(days=91),
                        ),
                        Reception(
                            interaction_id=recent,
                            priority="normal",
                            received_at=now - timedelta(days=89),
                        ),
                    ]
                )

            async with sessionmaker.begin() as session:
                purged = await service.purge_receptions(session, before=now - timedelta(days=90))

            async with sessionmaker() as session:
                left = set(await session.scalars(select(Reception.interaction_id)))
        finally:
            await engine.dispose()
        assert purged == 1
        assert left == {recent}


async def test_receptions_of_a_batch_are_recorded_at_once_keeping_each_first() -> None:
    now = datetime.now(UTC)
    async with running_service("survey") as svc:
        known, twice, once = uuid4(), uuid4(), uuid4()
        async with svc.sessionmaker.begin() as session:
            await service.record_receptions(
                session, [make_interaction_received(interaction_id=known, received_at=now)]
            )
        batch = [
            make_interaction_received(
                interaction_id=twice, priority=Priority.URGENT, received_at=now
            ),
            make_interaction_received(
                interaction_id=known, priority=Priority.URGENT, received_at=now
            ),
            make_interaction_received(interaction_id=once, received_at=now),
            make_interaction_received(
                interaction_id=twice, priority=Priority.NORMAL, received_at=now
            ),
        ]
        async with svc.sessionmaker.begin() as session:
            await service.record_receptions(session, batch)

        async with svc.sessionmaker() as session:
            rows = await session.execute(select(Reception.interaction_id, Reception.priority))
            priorities = dict(rows.all())
        assert priorities == {known: "normal", twice: "urgent", once: "normal"}
