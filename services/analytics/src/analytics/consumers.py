"""Kafka handlers: every event of every topic merged into the read models.

The consumer runner opens the transaction that claims the event ids; the handlers write in it and
note the interactions to recount, and `rollups.settle` recounts each once into the KPI rollups
before that transaction commits (see rollups.py). Events
that can change who a party's contacts are (receipt, queueing with a demand type, resolution)
recount the party's neighbouring contacts too; offers, declines, waiting and resuming change no
KPI and recount nothing; agent status changes feed the staffed time, read from its own table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from analytics import domain, rollups, service
from atende_events.consumer import Handler
from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived
from atende_events.routing import (
    AgentStatusChanged,
    InteractionAccepted,
    InteractionOfferDeclined,
    InteractionOffered,
    InteractionQueued,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionWaiting,
)
from atende_events.sla import (
    SlaBreached,
    SlaClockEvent,
    SlaExtended,
    SlaMet,
    SlaPaused,
    SlaResumed,
    SlaStarted,
    SlaWarning,
)
from atende_events.survey import (
    FollowupClosed,
    FollowupOpened,
    SurveyAnswered,
    SurveyDispatched,
    SurveyExpired,
    SurveyFailed,
    SurveyScheduled,
    SurveySkipped,
)


def handlers(calendar: domain.BusinessCalendar) -> dict[type[EventData], Handler]:
    """Map every event type of the contract to the handler that merges it."""

    async def on_received(event: Envelope[Any], session: AsyncSession) -> None:
        """Record who got in touch, how and when."""
        data: InteractionReceived = event.data
        await service.merge_interaction(
            session,
            interaction_id=data.interaction_id,
            at=data.received_at,
            facts={
                "protocol": data.protocol,
                "channel": data.channel.value,
                "party_kind": data.party_kind.value,
                "party_ref": data.party_ref,
                "given_demand_type": data.demand_type,
                "priority": data.priority.value,
                "related_interaction_id": data.related_interaction_id,
                "received_at": data.received_at,
            },
            calendar=calendar,
        )
        rollups.later(session, data.interaction_id, with_neighbours=True)

    async def on_queued(event: Envelope[Any], session: AsyncSession) -> None:
        """Record the queue and demand type routing chose."""
        data: InteractionQueued = event.data
        await service.merge_interaction(
            session,
            interaction_id=data.interaction_id,
            at=data.occurred_at,
            facts={},
            state="queued",
            queue=data.queue,
            routed_demand_type=data.demand_type,
            calendar=calendar,
        )
        rollups.later(session, data.interaction_id, with_neighbours=True)

    async def on_offered(event: Envelope[Any], session: AsyncSession) -> None:
        """Record an offer to an agent."""
        data: InteractionOffered = event.data
        await service.merge_assignment(
            session,
            assignment_id=data.assignment_id,
            interaction_id=data.interaction_id,
            facts={"agent_id": data.agent_id, "queue": data.queue, "offered_at": data.occurred_at},
        )

    async def on_declined(event: Envelope[Any], session: AsyncSession) -> None:
        """Record an offer that was rejected or timed out."""
        data: InteractionOfferDeclined = event.data
        await service.merge_assignment(
            session,
            assignment_id=data.assignment_id,
            interaction_id=data.interaction_id,
            facts={
                "agent_id": data.agent_id,
                "declined_at": data.occurred_at,
                "decline_reason": data.reason.value,
            },
        )

    async def on_accepted(event: Envelope[Any], session: AsyncSession) -> None:
        """Record the accepted assignment (the ASA sample) and who now handles the interaction."""
        data: InteractionAccepted = event.data
        await service.merge_assignment(
            session,
            assignment_id=data.assignment_id,
            interaction_id=data.interaction_id,
            facts={
                "agent_id": data.agent_id,
                "queue": data.queue,
                "accepted_at": data.occurred_at,
                "wait_seconds": data.wait_seconds,
            },
        )
        await service.merge_interaction(
            session,
            interaction_id=data.interaction_id,
            at=data.occurred_at,
            facts={},
            state="assigned",
            queue=data.queue,
            agent_id=data.agent_id,
            calendar=calendar,
        )
        rollups.later(session, data.interaction_id)

    async def on_transferred(event: Envelope[Any], session: AsyncSession) -> None:
        """Record the end of the assignment and the interaction queueing again elsewhere."""
        data: InteractionTransferred = event.data
        await service.merge_assignment(
            session,
            assignment_id=data.assignment_id,
            interaction_id=data.interaction_id,
            facts={"agent_id": data.agent_id, "ended_at": data.occurred_at},
        )
        await service.merge_interaction(
            session,
            interaction_id=data.interaction_id,
            at=data.occurred_at,
            facts={},
            state="queued",
            queue=data.to_queue,
            calendar=calendar,
        )
        rollups.later(session, data.interaction_id)

    async def on_waiting(event: Envelope[Any], session: AsyncSession) -> None:
        """Record the interaction waiting for the customer."""
        data: InteractionWaiting = event.data
        await service.merge_interaction(
            session,
            interaction_id=data.interaction_id,
            at=data.occurred_at,
            facts={},
            state="waiting",
            calendar=calendar,
        )

    async def on_resumed(event: Envelope[Any], session: AsyncSession) -> None:
        """Record the agent handling the interaction again."""
        data: InteractionResumed = event.data
        await service.merge_interaction(
            session,
            interaction_id=data.interaction_id,
            at=data.occurred_at,
            facts={},
            state="assigned",
            calendar=calendar,
        )

    async def on_resolved(event: Envelope[Any], session: AsyncSession) -> None:
        """Record how the interaction ended: the AHT, FCR and resolution facts."""
        data: InteractionResolved = event.data
        await service.merge_assignment(
            session,
            assignment_id=data.assignment_id,
            interaction_id=data.interaction_id,
            facts={"agent_id": data.agent_id, "ended_at": data.occurred_at},
        )
        await service.merge_interaction(
            session,
            interaction_id=data.interaction_id,
            at=data.occurred_at,
            facts={
                "channel": data.channel.value,
                "party_kind": data.party_kind.value,
                "party_ref": data.party_ref,
            },
            state="closed",
            queue=data.queue,
            agent_id=data.agent_id,
            routed_demand_type=data.demand_type,
            resolution={
                "resolution": data.resolution.value,
                "resolved_by": data.agent_id,
                "handle_seconds": data.handle_seconds,
                "first_assignment": data.first_assignment,
                "sensitive": data.sensitive,
                "reason_code": data.reason_code,
            },
            calendar=calendar,
        )
        rollups.later(session, data.interaction_id, with_neighbours=True)

    async def on_agent_status(event: Envelope[Any], session: AsyncSession) -> None:
        """Record an agent's status change."""
        data: AgentStatusChanged = event.data
        await service.merge_agent_status(
            session,
            event_id=event.id,
            agent_id=data.agent_id,
            status=data.status.value,
            skills=[skill.skill for skill in data.skills],
            at=data.occurred_at,
        )

    async def on_clock(event: Envelope[Any], session: AsyncSession) -> None:
        """Record what an sla event says about its clock."""
        data: SlaClockEvent = event.data
        clock = {
            "clock_id": data.clock_id,
            "interaction_id": data.interaction_id,
            "kind": data.kind.value,
            "clock_type": data.clock_type.value,
            "policy_id": data.policy_id,
            "due_at": data.due_at,
        }
        at = data.occurred_at
        match data:
            case SlaStarted():
                await service.merge_clock(session, clock=clock, at=at, started=True)
            case SlaWarning():
                await service.merge_clock(session, clock=clock, at=at, warned=True)
            case SlaMet():
                await service.merge_clock(session, clock=clock, at=at, outcome="met")
            case SlaBreached():
                await service.merge_clock(session, clock=clock, at=at, outcome="breached")
            case SlaPaused():
                await service.merge_clock(session, clock=clock, at=at, paused=True)
            case SlaResumed():
                await service.merge_clock(session, clock=clock, at=at, paused=False)
            case _:
                await service.merge_clock(session, clock=clock, at=at)
        if isinstance(data, SlaMet | SlaBreached):  # only a closed clock counts in a KPI
            rollups.later(session, data.interaction_id, details=False)

    async def on_survey(event: Envelope[Any], session: AsyncSession) -> None:
        """Record what a survey event says about its survey."""
        data = event.data
        at = data.occurred_at
        facts: dict[str, Any]
        match data:
            case SurveyScheduled():
                facts = {"scheduled_at": at}
            case SurveySkipped():
                facts = {"skipped_at": at, "skip_reason": data.reason.value}
            case SurveyDispatched():
                facts = {"dispatched_at": at, "medium": data.medium.value}
            case SurveyFailed():
                facts = {"failed_at": at, "medium": data.medium.value}
            case SurveyAnswered():
                facts = {
                    "answered_at": at,
                    "nps": data.nps,
                    "category": data.category.value,
                    "csat": data.csat,
                    "may_contact": data.may_contact,
                    "themes": list(data.themes),
                }
            case SurveyExpired():
                facts = {"expired_at": at}
            case _:
                return
        await service.merge_survey(
            session, survey_id=data.survey_id, interaction_id=data.interaction_id, facts=facts
        )
        if isinstance(data, SurveyDispatched | SurveyAnswered):  # the two that count
            answered = isinstance(data, SurveyAnswered)
            rollups.later(session, data.interaction_id, details=answered)

    async def on_followup(event: Envelope[Any], session: AsyncSession) -> None:
        """Record a follow-up opened or closed."""
        data: FollowupOpened | FollowupClosed = event.data
        ids = {
            "interaction_id": data.interaction_id,
            "survey_id": data.survey_id,
            "followup_interaction_id": data.followup_interaction_id,
        }
        if isinstance(data, FollowupOpened):
            facts = {"opened_at": data.occurred_at, "reason_code": data.reason_code}
        else:
            facts = {"closed_at": data.occurred_at, "close_reason_code": data.reason_code}
        await service.merge_followup(session, followup_id=data.followup_id, ids=ids, facts=facts)
        rollups.later(session, data.interaction_id)

    return {
        InteractionReceived: on_received,
        InteractionQueued: on_queued,
        InteractionOffered: on_offered,
        InteractionOfferDeclined: on_declined,
        InteractionAccepted: on_accepted,
        InteractionTransferred: on_transferred,
        InteractionWaiting: on_waiting,
        InteractionResumed: on_resumed,
        InteractionResolved: on_resolved,
        AgentStatusChanged: on_agent_status,
        **dict.fromkeys(
            (SlaStarted, SlaWarning, SlaBreached, SlaMet, SlaPaused, SlaResumed, SlaExtended),
            on_clock,
        ),
        **dict.fromkeys(
            (
                SurveyScheduled,
                SurveySkipped,
                SurveyDispatched,
                SurveyFailed,
                SurveyAnswered,
                SurveyExpired,
            ),
            on_survey,
        ),
        FollowupOpened: on_followup,
        FollowupClosed: on_followup,
    }
