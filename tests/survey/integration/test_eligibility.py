"""Every resolution gets one decision, an event with its reason, on the real Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from atende_events.intake import Channel, Priority
from atende_events.routing import Resolution
from atende_events.samples import make_interaction_received, make_interaction_resolved
from atende_events.survey import SkipReason
from tests.infra import eventually
from tests.service_checks import running_service
from tests.survey.integration.support import new_party_ref, publish, survey_events, survey_row


async def test_each_rule_skips_with_its_reason_and_the_eligible_one_is_scheduled() -> None:
    now = datetime.now(UTC)
    async with running_service("survey", dispatch_delay=timedelta(hours=1)) as svc:
        ns = svc.namespace
        eligible = make_interaction_resolved(occurred_at=now, party_ref=new_party_ref())
        await publish(ns, eligible)
        await eventually(
            lambda: survey_row(svc, interaction_id=eligible.interaction_id), what="the decision"
        )
        urgent_id = uuid4()
        await publish(
            ns,
            make_interaction_received(interaction_id=urgent_id, priority=Priority.URGENT),
        )
        cases: dict[SkipReason | str, Any] = {
            "again": eligible.model_copy(update={"occurred_at": now + timedelta(minutes=1)}),
            SkipReason.SURVEYED_RECENTLY: make_interaction_resolved(
                occurred_at=now + timedelta(days=2), party_ref=eligible.party_ref
            ),
            SkipReason.SENSITIVE: make_interaction_resolved(
                occurred_at=now, sensitive=True, party_ref=new_party_ref()
            ),
            "urgent": make_interaction_resolved(
                occurred_at=now, interaction_id=urgent_id, party_ref=new_party_ref()
            ),
            "clinical": make_interaction_resolved(
                occurred_at=now, queue="saude", party_ref=new_party_ref()
            ),
            SkipReason.CHANNEL_NOT_SURVEYED: make_interaction_resolved(
                occurred_at=now, channel=Channel.OUTBOUND, party_ref=new_party_ref()
            ),
            SkipReason.DISPATCH_WINDOW_PASSED: make_interaction_resolved(
                occurred_at=now - timedelta(days=3, minutes=1), party_ref=new_party_ref()
            ),
            SkipReason.UNRESOLVED: make_interaction_resolved(
                occurred_at=now, resolution=Resolution.UNRESOLVED, party_ref=new_party_ref()
            ),
        }
        for resolved in cases.values():
            await publish(ns, resolved)

        events = await survey_events(ns, at_least=8)
        decisions = {e.model_dump()["interaction_id"]: e.model_dump() for e in events}
        assert len(events) == 8, "one decision per interaction, the redelivery changes nothing"

        scheduled = decisions[eligible.interaction_id]
        assert scheduled["due_at"] == now + timedelta(hours=1)
        assert scheduled["party_ref"] == eligible.party_ref
        expected: dict[UUID, SkipReason] = {
            cases[SkipReason.SURVEYED_RECENTLY].interaction_id: SkipReason.SURVEYED_RECENTLY,
            cases[SkipReason.SENSITIVE].interaction_id: SkipReason.SENSITIVE,
            urgent_id: SkipReason.SENSITIVE,
            cases["clinical"].interaction_id: SkipReason.SENSITIVE,
            cases[SkipReason.CHANNEL_NOT_SURVEYED].interaction_id: SkipReason.CHANNEL_NOT_SURVEYED,
            cases[SkipReason.DISPATCH_WINDOW_PASSED].interaction_id: (
                SkipReason.DISPATCH_WINDOW_PASSED
            ),
            cases[SkipReason.UNRESOLVED].interaction_id: SkipReason.UNRESOLVED,
        }
        assert {i: d["reason"] for i, d in decisions.items() if "reason" in d} == expected
