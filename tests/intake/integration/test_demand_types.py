"""The demand taxonomy: intake refuses codes it does not list and serves the list."""

from __future__ import annotations

import pytest

from atende_events.demand_types import taxonomy
from tests.intake.integration.conftest import ADMIN, make_interaction
from tests.service_checks import RunningService

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("demand_type", ["12345678909", "reembolso", "Authorization", "other2"])
async def test_an_unknown_demand_type_is_422_naming_the_allowed_codes(
    intake: RunningService, demand_type: str
) -> None:
    refused = await intake.client.post(
        "/v1/interactions", json=make_interaction(demand_type=demand_type), headers=ADMIN
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    [error] = refused.json()["errors"]
    assert error["field"] == "demand_type"
    for code in ("authorization", "access_outpatient_lab", "nip_assistencial", "other"):
        assert code in error["message"]


@pytest.mark.parametrize("demand_type", ["debt", "access_outpatient_lab", "urgency", None])
async def test_a_listed_demand_type_or_none_is_accepted(
    intake: RunningService, demand_type: str | None
) -> None:
    created = await intake.client.post(
        "/v1/interactions", json=make_interaction(demand_type=demand_type), headers=ADMIN
    )
    assert created.status_code == 201, created.text


async def test_front_ends_read_the_taxonomy(intake: RunningService) -> None:
    answer = await intake.client.get("/v1/demand-types")
    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] == taxonomy().version
    codes = [item["code"] for item in body["items"]]
    assert codes == list(taxonomy().codes)
    for kept in (
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
    ):
        assert kept in codes
    coverage = next(item for item in body["items"] if item["code"] == "authorization")
    assert coverage["coverage"] is True
    assert set(coverage["labels"]) == {"pt-BR", "es", "en", "de"}
    assert coverage["deadline"]["norm"] == "ANS RN 623/2024"
    assert coverage["deadline"]["business_days"] == 5
