"""Protocol numbers stay unique when several intake instances give them at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from intake import domain
from intake.config import Settings
from intake.models import Interaction
from tests.intake.integration.conftest import ADMIN, make_interaction
from tests.service_checks import build_app, running_service, serving


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
