"""Plausible events of every type, for the tests of any service.

Each `make_<event>(**overrides)` builds a payload with fresh ids; `sample_event(type)` wraps one in
an envelope. Keyword overrides replace any field, so a test states only what it is about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from uuid import uuid4

from atende_events.envelope import Envelope, EventData, new_event
from atende_events.intake import Channel, InteractionReceived, PartyKind, Priority
from atende_events.pseudonym import party_ref
from atende_events.registry import SOURCES
from atende_events.routing import (
    AgentStatus,
    AgentStatusChanged,
    DeclineReason,
    InteractionAccepted,
    InteractionOfferDeclined,
    InteractionOffered,
    InteractionQueued,
    InteractionReclassified,
    InteractionReopened,
    InteractionResolved,
    InteractionResumed,
    InteractionTransferred,
    InteractionTriaged,
    InteractionWaiting,
    Outcome,
    Resolution,
)
from atende_events.sla import (
    ClockKind,
    ClockType,
    SlaBreached,
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
    NpsCategory,
    SkipReason,
    SurveyAnswered,
    SurveyDispatched,
    SurveyExpired,
    SurveyFailed,
    SurveyMedium,
    SurveyScheduled,
    SurveySkipped,
)
from atende_events.topics import INTERACTIONS
from atende_events.watermarks import OutboxWatermark

SAMPLE_TIME = datetime(2025, 3, 14, 13, 0, tzinfo=UTC)
SAMPLE_PARTY_REF = party_ref(
    b"a sample pseudonym key, 32 bytes+", kind="member", party_id="0001234567"
)


def make_interaction_received(**overrides: Any) -> InteractionReceived:
    """Build a member's phone call asking for an authorisation."""
    return InteractionReceived.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "protocol": "34567820250314000042",
            "received_at": SAMPLE_TIME,
            "channel": Channel.PHONE,
            "party_kind": PartyKind.MEMBER,
            "party_ref": SAMPLE_PARTY_REF,
            "demand_type": "authorization",
            "priority": Priority.NORMAL,
            "locale": "pt-BR",
            "content": "Preciso da autorização para uma ressonância magnética.",
            **overrides,
        }
    )


def make_interaction_queued(**overrides: Any) -> InteractionQueued:
    """Build the queueing of an authorisation request."""
    return InteractionQueued.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "queue": "autorizacoes",
            "priority": Priority.NORMAL,
            "demand_type": "authorization",
            "demand_type_inferred": False,
            "matched_rule": "demand-authorization",
            **overrides,
        }
    )


def make_interaction_triaged(**overrides: Any) -> InteractionTriaged:
    """Build the triage of a contact that spoke of chest pain and shortness of breath."""
    return InteractionTriaged.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "flags": ("chest_pain", "breathing_difficulty"),
            "priority_before": Priority.NORMAL,
            "priority_after": Priority.URGENT,
            "demand_type": "clinical",
            **overrides,
        }
    )


def make_interaction_offered(**overrides: Any) -> InteractionOffered:
    """Build an offer to an agent that times out in 30 seconds."""
    return InteractionOffered.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "assignment_id": uuid4(),
            "agent_id": "agent-017",
            "queue": "autorizacoes",
            "expires_at": SAMPLE_TIME + timedelta(seconds=30),
            **overrides,
        }
    )


def make_interaction_offer_declined(**overrides: Any) -> InteractionOfferDeclined:
    """Build an offer that timed out."""
    return InteractionOfferDeclined.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "assignment_id": uuid4(),
            "agent_id": "agent-017",
            "reason": DeclineReason.TIMED_OUT,
            **overrides,
        }
    )


def make_interaction_accepted(**overrides: Any) -> InteractionAccepted:
    """Build an acceptance after 84 seconds in the queue."""
    return InteractionAccepted.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "assignment_id": uuid4(),
            "agent_id": "agent-017",
            "queue": "autorizacoes",
            "wait_seconds": 84.0,
            **overrides,
        }
    )


def make_interaction_transferred(**overrides: Any) -> InteractionTransferred:
    """Build a transfer to the clinical queue, with context for the next agent."""
    return InteractionTransferred.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "assignment_id": uuid4(),
            "agent_id": "agent-017",
            "from_queue": "autorizacoes",
            "to_queue": "saude",
            "reason_code": "clinical_question",
            "content": "Beneficiária pergunta sobre o preparo do exame.",
            **overrides,
        }
    )


def make_interaction_waiting(**overrides: Any) -> InteractionWaiting:
    """Build an agent's wait for the customer."""
    return InteractionWaiting.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "assignment_id": uuid4(),
            "agent_id": "agent-017",
            **overrides,
        }
    )


def make_interaction_resumed(**overrides: Any) -> InteractionResumed:
    """Build the resumption of a waiting interaction."""
    return InteractionResumed.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "assignment_id": uuid4(),
            "agent_id": "agent-017",
            **overrides,
        }
    )


def make_interaction_resolved(**overrides: Any) -> InteractionResolved:
    """Build a resolution on the first assignment."""
    return InteractionResolved.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "assignment_id": uuid4(),
            "agent_id": "agent-017",
            "queue": "autorizacoes",
            "channel": Channel.PHONE,
            "party_kind": PartyKind.MEMBER,
            "party_ref": SAMPLE_PARTY_REF,
            "demand_type": "authorization",
            "resolution": Resolution.RESOLVED,
            "handle_seconds": 312.5,
            "first_assignment": True,
            "sensitive": False,
            "reason_code": "authorized",
            "content": "Autorização liberada; protocolo informado.",
            "outcome": Outcome.AUTHORISED,
            **overrides,
        }
    )


def make_interaction_reopened(**overrides: Any) -> InteractionReopened:
    """Build the reopening of an answer the member contested."""
    return InteractionReopened.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "queue": "autorizacoes",
            "agent_id": "supervisor-03",
            "reason_code": "answer_contested",
            "content": "Beneficiária contesta a negativa: o contrato cobre o procedimento.",
            **overrides,
        }
    )


def make_interaction_reclassified(**overrides: Any) -> InteractionReclassified:
    """Build a supervisor's correction of an inferred demand type."""
    return InteractionReclassified.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "previous_demand_type": "information",
            "demand_type": "authorization",
            "reason_code": "misclassified",
            "agent_id": "supervisor-03",
            "queue": "autorizacoes",
            "previous_queue": "geral",
            **overrides,
        }
    )


def make_agent_status_changed(**overrides: Any) -> AgentStatusChanged:
    """Build an agent becoming available."""
    return AgentStatusChanged.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "agent_id": f"agent-{uuid4().hex[:8]}",
            "status": AgentStatus.AVAILABLE,
            "previous_status": AgentStatus.OFFLINE,
            "skills": [
                {"skill": "authorization", "proficiency": 5},
                {"skill": "billing", "proficiency": 3},
            ],
            **overrides,
        }
    )


def _clock(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "occurred_at": SAMPLE_TIME,
        "interaction_id": uuid4(),
        "clock_id": uuid4(),
        "kind": ClockKind.REGULATORY,
        "clock_type": ClockType.RESOLUTION,
        "policy_id": "ans-rn623-coverage",
        "due_at": SAMPLE_TIME + timedelta(days=7),
        **fields,
    }


def make_sla_started(**overrides: Any) -> SlaStarted:
    """Build the start of a regulatory resolution clock."""
    return SlaStarted.model_validate(_clock(overrides))


def make_sla_warning(**overrides: Any) -> SlaWarning:
    """Build a warning before a deadline."""
    return SlaWarning.model_validate(_clock({"business_seconds_elapsed": 144_000.0, **overrides}))


def make_sla_breached(**overrides: Any) -> SlaBreached:
    """Build a missed deadline."""
    return SlaBreached.model_validate(_clock({"business_seconds_elapsed": 180_000.0, **overrides}))


def make_sla_met(**overrides: Any) -> SlaMet:
    """Build a deadline kept."""
    return SlaMet.model_validate(_clock({"business_seconds_elapsed": 36_000.0, **overrides}))


def make_sla_paused(**overrides: Any) -> SlaPaused:
    """Build an operational clock pausing while the customer is awaited."""
    return SlaPaused.model_validate(
        _clock(
            {
                "kind": ClockKind.OPERATIONAL,
                "policy_id": "chat-first-response",
                "business_seconds_elapsed": 40.0,
                **overrides,
            }
        )
    )


def make_sla_resumed(**overrides: Any) -> SlaResumed:
    """Build an operational clock running again."""
    return SlaResumed.model_validate(
        _clock({"kind": ClockKind.OPERATIONAL, "policy_id": "chat-first-response", **overrides})
    )


def make_sla_extended(**overrides: Any) -> SlaExtended:
    """Build the ombudsman's agreed extension of a deadline."""
    return SlaExtended.model_validate(
        _clock(
            {
                "policy_id": "ans-rn323-ombudsman",
                "due_at": SAMPLE_TIME + timedelta(days=42),
                "previous_due_at": SAMPLE_TIME + timedelta(days=10),
                "reason_code": "agreed_with_member",
                **overrides,
            }
        )
    )


def make_sla_redecided(**overrides: Any) -> SlaRedecided:
    """Build a coverage clock re-decided as urgent after triage, from the original receipt."""
    return SlaRedecided.model_validate(
        _clock(
            {
                "policy_id": "ans-rn623-urgency",
                "due_at": SAMPLE_TIME + timedelta(hours=2),
                "previous_policy_id": "ans-rn623-coverage",
                "previous_due_at": SAMPLE_TIME + timedelta(days=7),
                "reason": "priority_raised",
                **overrides,
            }
        )
    )


def make_survey_scheduled(**overrides: Any) -> SurveyScheduled:
    """Build a survey due the day after the resolution."""
    return SurveyScheduled.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "survey_id": uuid4(),
            "channel": Channel.PHONE,
            "party_kind": PartyKind.MEMBER,
            "party_ref": SAMPLE_PARTY_REF,
            "due_at": SAMPLE_TIME + timedelta(days=1),
            **overrides,
        }
    )


def make_survey_skipped(**overrides: Any) -> SurveySkipped:
    """Build a survey skipped because the party was surveyed recently."""
    return SurveySkipped.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "survey_id": uuid4(),
            "reason": SkipReason.SURVEYED_RECENTLY,
            **overrides,
        }
    )


def make_survey_dispatched(**overrides: Any) -> SurveyDispatched:
    """Build a link sent by e-mail, valid for 7 days."""
    return SurveyDispatched.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "survey_id": uuid4(),
            "medium": SurveyMedium.EMAIL,
            "expires_at": SAMPLE_TIME + timedelta(days=7),
            **overrides,
        }
    )


def make_survey_failed(**overrides: Any) -> SurveyFailed:
    """Build a link that could not be sent by SMS."""
    return SurveyFailed.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "survey_id": uuid4(),
            "medium": SurveyMedium.SMS,
            "reason_code": "carrier_rejected",
            **overrides,
        }
    )


def make_survey_answered(**overrides: Any) -> SurveyAnswered:
    """Build a detractor's answer who allows a call back."""
    return SurveyAnswered.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "survey_id": uuid4(),
            "nps": 4,
            "category": NpsCategory.DETRACTOR,
            "csat": 2,
            "may_contact": True,
            "themes": ["wait_time"],
            "content": "Esperei muito tempo na linha.",
            **overrides,
        }
    )


def make_survey_expired(**overrides: Any) -> SurveyExpired:
    """Build a survey that expired unanswered."""
    return SurveyExpired.model_validate(
        {"occurred_at": SAMPLE_TIME, "interaction_id": uuid4(), "survey_id": uuid4(), **overrides}
    )


def make_followup_opened(**overrides: Any) -> FollowupOpened:
    """Build a follow-up opened for a detractor."""
    return FollowupOpened.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "survey_id": uuid4(),
            "followup_id": uuid4(),
            "followup_interaction_id": uuid4(),
            "reason_code": "detractor",
            **overrides,
        }
    )


def make_followup_closed(**overrides: Any) -> FollowupClosed:
    """Build a follow-up closed after the call back."""
    return FollowupClosed.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "interaction_id": uuid4(),
            "survey_id": uuid4(),
            "followup_id": uuid4(),
            "followup_interaction_id": uuid4(),
            "reason_code": "wait_time_explained",
            "content": "Retornamos a ligação e explicamos a fila do dia.",
            **overrides,
        }
    )


def make_outbox_watermark(**overrides: Any) -> OutboxWatermark:
    """Build routing's low watermark for partition 0 of the interactions topic."""
    return OutboxWatermark.model_validate(
        {
            "occurred_at": SAMPLE_TIME,
            "producer": "routing",
            "low_watermark": SAMPLE_TIME - timedelta(seconds=2),
            "marked_topic": INTERACTIONS,
            "partition": 0,
            "partitions": 6,
            **overrides,
        }
    )


SAMPLES: Mapping[str, Callable[..., EventData]] = MappingProxyType(
    {
        InteractionReceived.event_type: make_interaction_received,
        InteractionQueued.event_type: make_interaction_queued,
        InteractionTriaged.event_type: make_interaction_triaged,
        InteractionOffered.event_type: make_interaction_offered,
        InteractionOfferDeclined.event_type: make_interaction_offer_declined,
        InteractionAccepted.event_type: make_interaction_accepted,
        InteractionTransferred.event_type: make_interaction_transferred,
        InteractionWaiting.event_type: make_interaction_waiting,
        InteractionResumed.event_type: make_interaction_resumed,
        InteractionResolved.event_type: make_interaction_resolved,
        InteractionReopened.event_type: make_interaction_reopened,
        InteractionReclassified.event_type: make_interaction_reclassified,
        AgentStatusChanged.event_type: make_agent_status_changed,
        SlaStarted.event_type: make_sla_started,
        SlaWarning.event_type: make_sla_warning,
        SlaBreached.event_type: make_sla_breached,
        SlaMet.event_type: make_sla_met,
        SlaPaused.event_type: make_sla_paused,
        SlaResumed.event_type: make_sla_resumed,
        SlaExtended.event_type: make_sla_extended,
        SlaRedecided.event_type: make_sla_redecided,
        SurveyScheduled.event_type: make_survey_scheduled,
        SurveySkipped.event_type: make_survey_skipped,
        SurveyDispatched.event_type: make_survey_dispatched,
        SurveyFailed.event_type: make_survey_failed,
        SurveyAnswered.event_type: make_survey_answered,
        SurveyExpired.event_type: make_survey_expired,
        FollowupOpened.event_type: make_followup_opened,
        FollowupClosed.event_type: make_followup_closed,
        OutboxWatermark.event_type: make_outbox_watermark,
    }
)
"""The payload builder of every event type, by type name."""


def sample_event(event_type: str, **overrides: Any) -> Envelope[EventData]:
    """Build an event of a type, with every envelope attribute set and fresh ids."""
    data = SAMPLES[event_type](**overrides)
    return new_event(
        data,
        source=SOURCES[event_type],
        time=data.occurred_at,
        correlation_id=str(uuid4()),
        traceparent=f"00-{uuid4().hex}-{uuid4().hex[:16]}-01",
    )
