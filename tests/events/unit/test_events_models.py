"""The payload models hold only what the contract allows."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from atende_events.envelope import EventData
from atende_events.intake import PartyKind, Priority
from atende_events.pseudonym import party_ref
from atende_events.samples import (
    SAMPLE_TIME,
    make_agent_status_changed,
    make_interaction_accepted,
    make_interaction_queued,
    make_interaction_received,
    make_interaction_resolved,
    make_sla_met,
    make_survey_answered,
)
from atende_events.survey import NpsCategory, nps_category


@pytest.mark.parametrize(
    ("build", "overrides", "problem"),
    [
        (make_interaction_received, {"occurred_at": datetime(2025, 3, 14, 13)}, "timezone"),
        (make_interaction_received, {"protocol": "34567820250314"}, "protocol"),
        (make_interaction_received, {"party_ref": "12345678909"}, "party_ref"),
        (make_interaction_received, {"party_ref": "pty_4111111111111111"}, "party_ref"),
        (make_interaction_received, {"party_ref": "pty_ana@example.com"}, "party_ref"),
        (make_interaction_received, {"channel": "fax"}, "channel"),
        (make_interaction_received, {"locale": "Portuguese"}, "locale"),
        (make_interaction_received, {"content": ""}, "content"),
        (make_interaction_received, {"email": "ana@example.com"}, "email"),
        (make_interaction_queued, {"queue": "fila geral"}, "queue"),
        (make_interaction_accepted, {"wait_seconds": -1}, "wait_seconds"),
        (make_interaction_resolved, {"handle_seconds": float("nan")}, "handle_seconds"),
        (make_interaction_resolved, {"resolution": "maybe"}, "resolution"),
        (make_agent_status_changed, {"status": "busy"}, "status"),
        (
            make_agent_status_changed,
            {"skills": [{"skill": "billing", "proficiency": 6}]},
            "proficiency",
        ),
        (
            make_agent_status_changed,
            {"skills": [{"skill": "billing", "proficiency": 0}]},
            "proficiency",
        ),
        (make_sla_met, {"kind": "contractual"}, "kind"),
        (make_sla_met, {"clock_type": "first_answer"}, "clock_type"),
        (make_sla_met, {"business_seconds_elapsed": -0.5}, "business_seconds_elapsed"),
        (make_survey_answered, {"nps": 11, "category": "promoter"}, "nps"),
        (make_survey_answered, {"nps": -1}, "nps"),
        (make_survey_answered, {"csat": 6}, "csat"),
        (make_survey_answered, {"nps": 8, "category": "promoter"}, "an NPS of 8 is a passive"),
        (make_survey_answered, {"themes": ["long wait"]}, "themes"),
    ],
)
def test_a_payload_refuses_values_outside_the_contract(
    build: Any, overrides: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        build(**overrides)


@pytest.mark.parametrize(
    ("score", "category"),
    [
        (0, NpsCategory.DETRACTOR),
        (6, NpsCategory.DETRACTOR),
        (7, NpsCategory.PASSIVE),
        (8, NpsCategory.PASSIVE),
        (9, NpsCategory.PROMOTER),
        (10, NpsCategory.PROMOTER),
    ],
)
def test_an_nps_answer_falls_in_its_category(score: int, category: NpsCategory) -> None:
    assert nps_category(score) is category
    assert make_survey_answered(nps=score, category=category).category is category


@pytest.mark.parametrize("score", [-1, 11])
def test_an_nps_answer_is_0_to_10(score: int) -> None:
    with pytest.raises(ValueError, match="0 to 10"):
        nps_category(score)


def test_a_payload_is_frozen() -> None:
    data = make_interaction_received()

    with pytest.raises(ValidationError):
        data.priority = Priority.URGENT  # type: ignore[misc]


def test_a_payload_is_held_in_utc_whatever_offset_it_was_given_in() -> None:
    data = make_sla_met(due_at="2025-03-21T10:00:00-03:00")

    assert data.due_at == SAMPLE_TIME + timedelta(days=7)
    assert data.due_at.utcoffset() == timedelta(0)


def test_optional_fields_may_be_left_out() -> None:
    data = make_interaction_received(demand_type=None, locale=None, content=None)

    assert data.related_interaction_id is None


def test_a_party_is_its_pseudonym() -> None:
    ref = party_ref(b"k" * 32, kind="provider", party_id="12.345.678/0001-95")

    assert make_interaction_received(party_kind=PartyKind.PROVIDER, party_ref=ref).party_ref == ref


def test_every_payload_says_when_it_happened() -> None:
    assert "occurred_at" in EventData.model_fields
