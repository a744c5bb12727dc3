"""Events about an interaction not received: parked and not counted, replayed or dead-lettered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from analytics.models import PARKED_EVENTS
from atende_events import samples
from atende_events.envelope import decode
from atende_events.topics import INTERACTIONS, dlq_topic
from tests.analytics.integration.support import at, kpis, processed, publish
from tests.infra import eventually, read_topic
from tests.service_checks import RunningService, running_service


async def parked(service: RunningService) -> int:
    async with service.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(PARKED_EVENTS)) or 0)


def week_figures(body: dict[str, Any]) -> dict[str, Any]:
    [group] = body["groups"] or [{"kpis": {"volume": 0, "accepted": 0}}]
    return {name: group["kpis"][name] for name in ("volume", "accepted")}


async def test_an_acceptance_of_an_interaction_nobody_registered_never_counts_and_is_dlqd() -> None:
    async with running_service("analytics", orphan_after=1.0, orphan_check_every=0.2) as svc:
        stray = samples.make_interaction_accepted(occurred_at=at(11, 10))
        await publish(svc.namespace, [stray])
        await processed(svc, 1)
        assert await parked(svc) == 1
        assert week_figures(await kpis(svc)) == {"volume": 0, "accepted": 0}

        [dead] = await read_topic(dlq_topic(svc.namespace + INTERACTIONS), at_least=1)
        assert decode(dead.value).data == stray
        headers = dict(dead.headers)
        assert headers["dlq.error_type"] == b"UnknownInteraction"
        assert str(stray.interaction_id).encode() in headers["dlq.error"]
        await eventually(lambda: _none_parked(svc), what="the orphan gone from the parking")
        assert week_figures(await kpis(svc)) == {"volume": 0, "accepted": 0}


async def test_events_that_come_before_their_receipt_count_once_it_comes() -> None:
    async with running_service("analytics") as svc:
        receipt = samples.make_interaction_received(occurred_at=at(11, 9), received_at=at(11, 9))
        iid = receipt.interaction_id
        early = [
            samples.make_interaction_accepted(interaction_id=iid, occurred_at=at(11, 10)),
            samples.make_sla_met(interaction_id=iid, occurred_at=at(11, 11)),
        ]
        await publish(svc.namespace, early)
        await processed(svc, 2)
        assert await parked(svc) == 2
        assert week_figures(await kpis(svc)) == {"volume": 0, "accepted": 0}

        await publish(svc.namespace, [receipt])
        await processed(svc, 3)
        assert await parked(svc) == 0
        assert week_figures(await kpis(svc)) == {"volume": 1, "accepted": 1}
        [group] = (await kpis(svc))["groups"]
        assert group["kpis"]["sla"]["regulatory"]["met"] == 1


async def _none_parked(service: RunningService) -> bool:
    return await parked(service) == 0
