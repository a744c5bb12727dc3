"""Kafka handlers: every event of every topic merged into the read models.

The consumer runner opens the transaction that claims the event ids; the handlers write in it and
note the interactions to recount, and `rollups.settle` recounts each once into the KPI rollups
before that transaction commits (see rollups.py). Events
that can change who a party's contacts are (receipt, queueing with a demand type, resolution)
recount the party's neighbouring contacts too; offers, declines, waiting and resuming change no
KPI and recount nothing; agent status changes feed the staffed time, read from its own table.
Lifecycle and sla events come a run at a time (`Batched`): one statement per table for the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from analytics import rollups, service
from atende_events.calendar import Calendar
from atende_events.consumer import Batched, Handler
from atende_events.envelope import Envelope, EventData
from atende_events.intake import InteractionReceived
from atende_events.routing import (
    AgentStatusChanged,
    InteractionAccepted,
    InteractionOfferDeclined,
    InteractionOffered,
    InteractionQueued,
    InteractionReclassified,
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
    SlaRedecided,
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

LIFECYCLE = (
    InteractionReceived,
    InteractionQueued,
    InteractionOffered,
    InteractionOfferDeclined,
    InteractionAccepted,
    InteractionTransferred,
    InteractionWaiting,
    InteractionResumed,
    InteractionResolved,
    InteractionReclassified,
)
CLOCK_EVENTS = (
    SlaStarted,
    SlaWarning,
    SlaBreached,
    SlaMet,
    SlaPaused,
    SlaResumed,
    SlaExtended,
    SlaRedecided,
)


@dataclass(frozen=True)
class Said:
    """What one lifecycle event says: the rows it changes and whether it changes a KPI."""

    interaction: dict[str, Any] | None = None
    assignment: dict[str, Any] | None = None
    recount: bool = False
    with_neighbours: bool = False


def lifecycle(data: EventData) -> Said:
    """Say what an interaction lifecycle event (receipt to resolution) changes."""
    match data:
        case InteractionReceived():  # who got in touch, how and when
            return Said(
                interaction=service.interaction_change(
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
                ),
                recount=True,
                with_neighbours=True,
            )
        case InteractionQueued():  # the queue and demand type routing chose
            return Said(
                interaction=service.interaction_change(
                    interaction_id=data.interaction_id,
                    at=data.occurred_at,
                    facts={},
                    state="queued",
                    queue=data.queue,
                    routed_demand_type=data.demand_type,
                ),
                recount=True,
                with_neighbours=True,
            )
        case InteractionReclassified():  # an agent corrected the demand type: both are kept
            return Said(
                interaction=service.interaction_change(
                    interaction_id=data.interaction_id,
                    at=data.occurred_at,
                    facts={"original_demand_type": data.previous_demand_type},
                    queue=data.queue,
                    routed_demand_type=data.demand_type,
                ),
                recount=True,
                with_neighbours=True,
            )
        case InteractionOffered():  # an offer to an agent
            return Said(
                assignment=service.assignment_change(
                    assignment_id=data.assignment_id,
                    interaction_id=data.interaction_id,
                    facts={
                        "agent_id": data.agent_id,
                        "queue": data.queue,
                        "offered_at": data.occurred_at,
                    },
                )
            )
        case InteractionOfferDeclined():  # an offer rejected or timed out
            return Said(
                assignment=service.assignment_change(
                    assignment_id=data.assignment_id,
                    interaction_id=data.interaction_id,
                    facts={
                        "agent_id": data.agent_id,
                        "declined_at": data.occurred_at,
                        "decline_reason": data.reason.value,
                    },
                )
            )
        case InteractionAccepted():  # the ASA sample, and who now handles the interaction
            return Said(
                assignment=service.assignment_change(
                    assignment_id=data.assignment_id,
                    interaction_id=data.interaction_id,
                    facts={
                        "agent_id": data.agent_id,
                        "queue": data.queue,
                        "accepted_at": data.occurred_at,
                        "wait_seconds": data.wait_seconds,
                    },
                ),
                interaction=service.interaction_change(
                    interaction_id=data.interaction_id,
                    at=data.occurred_at,
                    facts={},
                    state="assigned",
                    queue=data.queue,
                    agent_id=data.agent_id,
                ),
                recount=True,
            )
        case InteractionTransferred():  # the assignment ends; the interaction queues elsewhere
            return Said(
                assignment=service.assignment_change(
                    assignment_id=data.assignment_id,
                    interaction_id=data.interaction_id,
                    facts={"agent_id": data.agent_id, "ended_at": data.occurred_at},
                ),
                interaction=service.interaction_change(
                    interaction_id=data.interaction_id,
                    at=data.occurred_at,
                    facts={},
                    state="queued",
                    queue=data.to_queue,
                ),
                recount=True,
            )
        case InteractionWaiting() | InteractionResumed():  # waiting for the customer, or not
            return Said(
                interaction=service.interaction_change(
                    interaction_id=data.interaction_id,
                    at=data.occurred_at,
                    facts={},
                    state="waiting" if isinstance(data, InteractionWaiting) else "assigned",
                )
            )
        case InteractionResolved():  # how it ended: the AHT, FCR and resolution facts
            return Said(
                assignment=service.assignment_change(
                    assignment_id=data.assignment_id,
                    interaction_id=data.interaction_id,
                    facts={"agent_id": data.agent_id, "ended_at": data.occurred_at},
                ),
                interaction=service.interaction_change(
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
                        "outcome": data.outcome.value if data.outcome is not None else None,
                    },
                ),
                recount=True,
                with_neighbours=True,
            )
    raise TypeError(f"{type(data).__name__} is no interaction lifecycle event")


def clock_change(data: SlaClockEvent) -> dict[str, Any]:
    """Say what an sla event says about its clock."""
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
            return service.clock_change(clock=clock, at=at, started=True)
        case SlaWarning():
            return service.clock_change(clock=clock, at=at, warned=True)
        case SlaMet():
            return service.clock_change(clock=clock, at=at, outcome="met")
        case SlaBreached():
            return service.clock_change(clock=clock, at=at, outcome="breached")
        case SlaPaused():
            return service.clock_change(clock=clock, at=at, paused=True)
        case SlaResumed():
            return service.clock_change(clock=clock, at=at, paused=False)
        case _:
            return service.clock_change(clock=clock, at=at)


def handlers(calendar: Calendar) -> dict[type[EventData], Handler | Batched]:
    """Map every event type of the contract to the handler that merges it."""

    async def on_lifecycle(events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
        """Merge a run of lifecycle events: one statement per table for the whole run."""
        said = [lifecycle(event.data) for event in events]
        await service.merge_assignments(
            session, [s.assignment for s in said if s.assignment is not None]
        )
        await service.merge_interactions(
            session, [s.interaction for s in said if s.interaction is not None], calendar=calendar
        )
        for event, s in zip(events, said, strict=True):
            if s.recount:
                rollups.later(session, event.data.interaction_id, with_neighbours=s.with_neighbours)

    async def on_clocks(events: Sequence[Envelope[Any]], session: AsyncSession) -> None:
        """Merge a run of sla events into their clocks, in one statement."""
        await service.merge_clocks(session, [clock_change(event.data) for event in events])
        for event in events:
            if isinstance(event.data, SlaMet | SlaBreached):  # only a closed clock counts
                rollups.later(session, event.data.interaction_id, details=False)

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
        **dict.fromkeys(LIFECYCLE, Batched(on_lifecycle)),
        AgentStatusChanged: on_agent_status,
        **dict.fromkeys(CLOCK_EVENTS, Batched(on_clocks)),
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
