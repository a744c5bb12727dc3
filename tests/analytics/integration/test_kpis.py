"""KPIs over a hand-computed week of events published on real Kafka, read back from the API."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from tests.analytics.integration.support import (
    API_KEY,
    EXPECTED,
    FROM,
    NPS_DAY,
    TO,
    Week,
    kpis,
    processed,
    publish,
    week,
)
from tests.infra import fresh_namespace, migrate, scratch_database
from tests.service_checks import RunningService, build_app, running_service, serving

CSV_KPI_COLUMNS = """
volume completed resolved fcr_count fcr_rate aht_seconds accepted asa_seconds service_level
sla_regulatory_closed sla_regulatory_met sla_regulatory_met_rate sla_operational_closed
sla_operational_met sla_operational_met_rate resolved_within_2_business_days
resolved_within_2_business_days_rate responses promoters passives detractors nps csat_answers
csat_mean csat_satisfied_share surveys_dispatched survey_response_rate escalations
first_instance_resolved escalation_rate repeat_contacts repeat_contact_rate followups_opened
followups_closed followup_median_closing_seconds top_detractor_drivers staffed_seconds
contacts_per_hour
""".split()
"""The CSV columns BI depends on: renaming or reordering one breaks extractions."""


def _approx(expected: dict[str, Any]) -> Any:
    return {
        name: pytest.approx(value)
        if isinstance(value, float)
        else _approx(value)
        if isinstance(value, dict)
        else value
        for name, value in expected.items()
    }


def assert_week(got: dict[str, Any]) -> None:
    """Compare the week's KPIs with the hand-computed ones, KPI by KPI."""
    assert set(got) == set(EXPECTED)
    for name, value in EXPECTED.items():
        expected = _approx(value) if isinstance(value, dict) else value
        expected = pytest.approx(value) if isinstance(value, float) else expected
        assert got[name] == expected, name


async def test_every_kpi_of_the_week_matches_the_hand_computed_figures(live: Week) -> None:
    body = await kpis(live.service)

    assert body["from"] == FROM and body["to"] == TO and body["group_by"] == []
    [group] = body["groups"]
    assert group["key"] == {}
    assert_week(group["kpis"])


async def test_the_seed_split_of_52_31_17_gives_an_nps_of_35(live: Week) -> None:
    body = await kpis(live.service, **{"from": NPS_DAY, "to": NPS_DAY})

    [group] = body["groups"]
    got = group["kpis"]
    assert (got["promoters"], got["passives"], got["detractors"]) == (52, 31, 17)
    assert got["responses"] == 100
    assert got["nps"] == pytest.approx(35.0)


async def test_grouping_by_channel_and_party_kind_splits_the_volume(live: Week) -> None:
    body = await kpis(live.service, group_by="channel,party_kind")

    assert body["group_by"] == ["channel", "party_kind"]
    volume = {
        (g["key"]["channel"], g["key"]["party_kind"]): g["kpis"]["volume"] for g in body["groups"]
    }
    assert {key: n for key, n in volume.items() if n} == {
        ("phone", "member"): 3,
        ("chat", "member"): 2,
        ("web", "provider"): 1,
        ("ombudsman", "member"): 1,
    }
    phone = next(g["kpis"] for g in body["groups"] if g["key"]["channel"] == "phone")
    assert phone["asa_seconds"] == pytest.approx((15 + 45 + 10) / 3)
    assert phone["service_level"] == pytest.approx(2 / 3)


async def test_grouping_by_day_counts_local_days(live: Week) -> None:
    body = await kpis(live.service, group_by=["day"])

    volume = {g["key"]["day"]: g["kpis"]["volume"] for g in body["groups"] if g["kpis"]["volume"]}
    # I4 arrived at 01:30 UTC on Tuesday, which is Monday 22:30 in Sao Paulo.
    assert volume == {"2025-03-10": 4, "2025-03-11": 1, "2025-03-12": 1, "2025-03-14": 1}


async def test_grouping_by_agent_gives_contacts_per_staffed_hour(live: Week) -> None:
    body = await kpis(live.service, group_by="agent")

    by_agent = {g["key"]["agent"]: g["kpis"] for g in body["groups"]}
    ana, bruno = by_agent[live.agents["a1"]], by_agent[live.agents["a2"]]
    assert (ana["completed"], ana["staffed_seconds"]) == (3, 8 * 3600)
    assert ana["contacts_per_hour"] == pytest.approx(3 / 8)
    assert ana["aht_seconds"] == pytest.approx((300 + 500 + 100) / 3)
    assert (bruno["completed"], bruno["staffed_seconds"]) == (2, 6 * 3600)
    assert bruno["contacts_per_hour"] == pytest.approx(2 / 6)


async def test_csv_has_one_row_per_group_with_the_numbers_of_the_json(live: Week) -> None:
    params = {"from": FROM, "to": TO, "group_by": "channel,agent"}
    body = await kpis(live.service, group_by="channel,agent")
    response = await live.service.client.get("/v1/kpis.csv", params=params, headers=API_KEY)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(body["groups"])
    assert list(rows[0]) == ["from", "to", "channel", "agent", *CSV_KPI_COLUMNS]
    for row, group in zip(rows, body["groups"], strict=True):
        assert row["channel"] == (group["key"]["channel"] or "")
        assert row["agent"] == (group["key"]["agent"] or "")
        kpi = group["kpis"]
        for column in ("volume", "resolved", "aht_seconds", "asa_seconds", "nps", "fcr_rate"):
            assert row[column] == ("" if kpi[column] is None else str(kpi[column])), column
        sla = kpi["sla"]["regulatory"]["met_rate"]
        assert row["sla_regulatory_met_rate"] == ("" if sla is None else str(sla))
        drivers = ";".join(f"{d['theme']}:{d['count']}" for d in kpi["top_detractor_drivers"])
        assert row["top_detractor_drivers"] == drivers


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-03-16", "to": "2025-03-10"}, "from"),
        ({"from": FROM, "to": TO, "group_by": "channel,colour"}, "group_by"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "from"),
        ({"from": "2025-02-30", "to": TO}, "from"),
        ({"from": "yesterday", "to": TO}, "from"),
    ],
)
async def test_bad_parameters_are_a_422_problem(
    live: Week, params: dict[str, str], field: str
) -> None:
    for path in ("/v1/kpis", "/v1/kpis.csv"):
        response = await live.service.client.get(path, params=params, headers=API_KEY)

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]]


async def test_kpis_need_a_key_with_the_scope(live: Week) -> None:
    anonymous = await live.service.client.get("/v1/kpis")
    stranger = await live.service.client.get(
        "/v1/live", headers={"Authorization": "Bearer not-a-key"}
    )

    assert anonymous.status_code == 401 and stranger.status_code == 401


async def test_the_wall_board_shows_queues_agents_and_clocks_at_risk(live: Week) -> None:
    response = await live.service.client.get("/v1/live", headers=API_KEY)

    assert response.status_code == 200, response.text
    board = response.json()
    assert [(q["queue"], q["depth"]) for q in board["queues"]] == [("ouvidoria", 1), ("saude", 1)]
    assert all(q["oldest_wait_seconds"] > 365 * 24 * 3600 * 0.5 for q in board["queues"])
    assert board["agents"] == {"available": 1, "offline": 2}
    assert board["clocks_at_risk"] == 1
    [clock] = board["clocks"]
    assert (clock["queue"], clock["kind"], clock["seconds_left"] < 0) == (
        "ouvidoria",
        "regulatory",
        True,
    )
    assert clock["due_at"] == "2025-03-20T12:00:00Z"  # the extended deadline


async def test_the_openapi_document_gives_each_kpi_its_formula(live: Week) -> None:
    document = (await live.service.client.get("/openapi.json")).json()

    description = document["paths"]["/v1/kpis"]["get"]["description"]
    assert "NPS = 100 x (promoters - detractors) / responses" in description
    assert "AHT (TMO) = mean of complete - accept" in description


GROUPINGS = ["", "channel", "queue,party_kind", "agent,day"]


async def _all_kpis(service: RunningService, days: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        await kpis(service, **{"from": days[0], "to": days[1], "group_by": grouping})
        for grouping in GROUPINGS
    ]


async def test_a_replay_into_an_empty_database_gives_the_same_kpis(live: Week) -> None:
    days = ("2025-03-01", "2025-06-30")
    async with scratch_database("analytics_replay") as url:
        await migrate("analytics", url)
        app = build_app(
            "analytics",
            url,
            topic_namespace=live.service.namespace,
            consumer_group=f"{live.service.namespace}replay-{uuid.uuid4().hex[:6]}",
        )
        async with serving(app) as client:
            replay = RunningService(
                app=app, client=client, namespace=live.service.namespace, database_url=url
            )
            await processed(replay, len(live.events))

            assert await _all_kpis(replay, days) == await _all_kpis(live.service, days)


async def test_events_out_of_order_across_topics_give_the_same_kpis() -> None:
    events, _ = week()
    shuffled = list(reversed(events))  # every resolution before its receipt, across topics
    async with running_service("analytics", namespace=await fresh_namespace()) as service:
        await publish(service.namespace, shuffled)
        await processed(service, len(events))

        [group] = (await kpis(service))["groups"]
        assert_week(group["kpis"])
        board = (await service.client.get("/v1/live", headers=API_KEY)).json()
        assert [(q["queue"], q["depth"]) for q in board["queues"]] == [
            ("ouvidoria", 1),
            ("saude", 1),
        ]
        assert board["agents"] == {"available": 1, "offline": 2}
        assert board["clocks_at_risk"] == 1
        assert board["clocks"][0]["due_at"] == "2025-03-20T12:00:00Z"
