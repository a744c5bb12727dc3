"""The demand taxonomy and the triage event."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from atende_events.demand_types import LANGUAGES, parse_taxonomy, taxonomy
from atende_events.samples import make_interaction_triaged

KEPT = (
    "enrolment",
    "debt",
    "billing",
    "provider_payment",
    "authorization",
    "high_complexity",
    "clinical",
    "complaint",
    "information",
    "registration_update",
    "followup",
    "other",
)


def test_the_codes_in_use_stay_valid() -> None:
    assert set(KEPT) <= set(taxonomy().codes)


@pytest.mark.parametrize(
    ("code", "coverage", "norm"),
    [
        ("authorization", True, "ANS RN 623/2024"),
        ("high_complexity", True, "ANS RN 623/2024"),
        ("urgency", True, "ANS RN 623/2024"),
        ("access_outpatient_lab", True, "ANS RN 566/2022"),
        ("access_urgency", True, "ANS RN 566/2022"),
        ("ombudsman_second_instance", False, "ANS RN 323/2013"),
        ("nip_assistencial", True, "ANS RN 483/2022"),
        ("nip_nao_assistencial", False, "ANS RN 483/2022"),
        ("non_coverage", False, "ANS RN 623/2024"),
        ("billing", False, "ANS RN 623/2024"),
    ],
)
def test_each_type_says_whether_it_is_coverage_and_which_norm_sets_its_deadline(
    code: str, coverage: bool, norm: str
) -> None:
    demand = taxonomy().find(code)
    assert demand is not None
    assert (demand.coverage, demand.deadline.norm) == (coverage, norm)
    assert demand.deadline.provision


def test_every_type_has_a_label_in_four_languages() -> None:
    for demand in taxonomy().demand_types:
        assert all(demand.labels[language] for language in LANGUAGES), demand.code


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "demand_types": []},
        {
            "version": 1,
            "demand_types": [
                {
                    "code": "x",
                    "coverage": False,
                    "labels": {"pt-BR": "x"},
                    "deadline": {"norm": "n", "provision": "p"},
                }
            ],
        },
    ],
)
def test_an_invalid_taxonomy_is_refused(document: object) -> None:
    with pytest.raises(ValidationError):
        parse_taxonomy(document)


def test_a_triage_names_at_least_one_flag() -> None:
    assert make_interaction_triaged().flags
    with pytest.raises(ValidationError):
        make_interaction_triaged(flags=())
