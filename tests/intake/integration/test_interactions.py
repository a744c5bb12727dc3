"""A channel front end registers interactions; agents read them; people follow their own."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from atende_events.envelope import decode
from atende_events.intake import Channel, InteractionReceived
from atende_events.pseudonym import party_ref
from intake import service
from intake.config import Settings
from intake.models import IdempotentRequest
from tests.infra import read_topic
from tests.intake.integration.conftest import (
    ADMIN,
    PORTAL,
    READER,
    SURVEY,
    make_interaction,
    new_party_id,
)
from tests.service_checks import RunningService

PROTOCOL = re.compile(r"^345678(?P<day>[0-9]{8})(?P<sequence>[0-9]{6})$")


async def post(intake: RunningService, body: Any, **headers: str) -> Any:
    return await intake.client.post("/v1/interactions", json=body, headers={**ADMIN, **headers})


def today_in_sao_paulo() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo(Settings().time_zone)).strftime("%Y%m%d")


@pytest.mark.parametrize("channel", [channel.value for channel in Channel])
async def test_every_channel_registers_an_interaction_with_a_protocol(
    intake: RunningService, channel: str
) -> None:
    body = make_interaction(channel=channel)
    created = await post(intake, body)

    assert created.status_code == 201, created.text
    answer = created.json()
    assert set(answer) == {"id", "protocol", "status", "created_at"}
    assert answer["status"] == "received"
    match = PROTOCOL.fullmatch(answer["protocol"])
    assert match is not None, answer["protocol"]
    assert match["day"] == today_in_sao_paulo()
    assert created.headers["location"] == f"/v1/interactions/{answer['id']}"

    for reference in (answer["id"], answer["protocol"]):
        record = await intake.client.get(f"/v1/interactions/{reference}", headers=READER)
        assert record.status_code == 200, record.text
        shown = record.json()
        assert (shown["id"], shown["protocol"], shown["channel"]) == (
            answer["id"],
            answer["protocol"],
            channel,
        )
        assert shown["party"] == {"kind": "member", "id": body["party"]["id"]}
        assert shown["subject"] == body["subject"]
        assert shown["status"] == "received"
        assert [entry["event_type"] for entry in shown["history"]] == [
            "atende.interaction.received.v1"
        ]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"channel": "fax"}, {"channel"}),
        ({"channel": None}, {"channel"}),
        ({"party": {"kind": "member"}}, {"party.id"}),
        ({"party": {"kind": "patient", "id": "1"}}, {"party.kind"}),
        ({"party": {"kind": "member", "id": "has space"}}, {"party.id"}),
        ({"party": {"kind": "member", "id": "1", "email": "not-an-email"}}, {"party.email"}),
        ({"party": {"kind": "member", "id": "1", "phone": "call me"}}, {"party.phone"}),
        ({"party": {"kind": "member", "id": "1", "name": "x" * 201}}, {"party.name"}),
        ({"priority": "asap"}, {"priority"}),
        ({"demand_type": "two words"}, {"demand_type"}),
        ({"subject": "x" * 201}, {"subject"}),
        ({"subject": ""}, {"subject"}),
        ({"description": "x" * 10_001}, {"description"}),
        ({"related_protocol": "12345"}, {"related_protocol"}),
        ({"occurred_at": "2026-11-23T10:00:00"}, {"occurred_at"}),  # no time zone
        ({"occurred_at": "yesterday"}, {"occurred_at"}),
        ({"locale": "Portuguese"}, {"locale"}),
        ({"unexpected": 1}, {"unexpected"}),
        ({"party": {"kind": "member", "id": "1", "cpf": "123"}}, {"party.cpf"}),
        ({"channel": "fax", "priority": "asap"}, {"channel", "priority"}),
    ],
)
async def test_invalid_requests_are_422_naming_each_bad_field(
    intake: RunningService, change: dict[str, Any], fields: set[str]
) -> None:
    body = make_interaction(**change)
    if body["channel"] is None:
        del body["channel"]
    refused = await post(intake, body)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert {error["field"] for error in problem["errors"]} == fields
    for field in fields:
        assert field in problem["detail"]


async def test_a_contact_in_the_future_is_422(intake: RunningService) -> None:
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    refused = await post(intake, make_interaction(occurred_at=future))
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["occurred_at"]


async def test_unreadable_json_is_400_and_an_oversized_body_413(intake: RunningService) -> None:
    unreadable = await intake.client.post(
        "/v1/interactions",
        content=b'{"channel": "phone",',
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert unreadable.status_code == 400
    assert unreadable.headers["content-type"] == "application/problem+json"

    huge = make_interaction(description="x" * 9_000, party={"kind": "member", "id": "1"})
    huge["padding"] = "y" * 70_000
    too_large = await post(intake, huge)
    assert too_large.status_code == 413
    assert too_large.headers["content-type"] == "application/problem+json"
    assert too_large.json()["status"] == 413


async def test_an_escalation_links_the_protocol_it_cites(intake: RunningService) -> None:
    party = {"kind": "member", "id": new_party_id()}
    first = (await post(intake, make_interaction(party=party, channel="phone"))).json()
    escalation = await post(
        intake,
        make_interaction(party=party, channel="ombudsman", related_protocol=first["protocol"]),
    )
    assert escalation.status_code == 201, escalation.text

    shown = (
        await intake.client.get(f"/v1/interactions/{escalation.json()['id']}", headers=READER)
    ).json()
    assert shown["related_protocol"] == first["protocol"]

    unknown = f"345678{today_in_sao_paulo()}999999"
    refused = await post(intake, make_interaction(channel="regulator", related_protocol=unknown))
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["related_protocol"]


async def test_a_retry_with_the_same_key_and_body_gets_the_first_answer(
    intake: RunningService,
) -> None:
    body = make_interaction()
    first = await post(intake, body, **{"Idempotency-Key": "retry-1"})
    assert first.status_code == 201
    retry = await post(intake, body, **{"Idempotency-Key": "retry-1"})

    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    timeline = await intake.client.get(
        f"/v1/parties/member/{body['party']['id']}/timeline", headers=READER
    )
    assert len(timeline.json()["items"]) == 1

    other = await post(intake, make_interaction(), **{"Idempotency-Key": "retry-1"})
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"

    # Keys belong to the caller: another API key may use the same one for its own request.
    theirs = await intake.client.post(
        "/v1/interactions",
        json=make_interaction(),
        headers={**SURVEY, "Idempotency-Key": "retry-1"},
    )
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]


async def test_keys_are_honoured_for_their_ttl_then_expire_and_are_purged(
    intake: RunningService,
) -> None:
    for key in ("aging-1", "aging-2", "fresh-1"):
        assert (await post(intake, make_interaction(), **{"Idempotency-Key": key})).is_success
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    async with intake.sessionmaker.begin() as session:
        await session.execute(
            update(IdempotentRequest)
            .where(IdempotentRequest.key.in_(["aging-1", "aging-2"]))
            .values(created_at=three_days_ago)
        )

    # Past its 48 hours the key is free again: another body is a new request, not a conflict.
    reused = await post(intake, make_interaction(), **{"Idempotency-Key": "aging-1"})
    assert reused.status_code == 201
    fresh = await post(intake, make_interaction(), **{"Idempotency-Key": "fresh-1"})
    assert fresh.status_code == 409

    async with intake.sessionmaker.begin() as session:
        purged = await service.purge_idempotency_keys(
            session, before=datetime.now(UTC) - timedelta(hours=48)
        )
        kept = set(await session.scalars(select(IdempotentRequest.key)))
    assert purged == 1
    assert {"aging-1", "fresh-1"} <= kept and "aging-2" not in kept


async def test_concurrent_duplicates_create_one_interaction(intake: RunningService) -> None:
    body = make_interaction()
    answers = await asyncio.gather(
        *(post(intake, body, **{"Idempotency-Key": "burst-7"}) for _ in range(8))
    )

    assert sorted(answer.status_code for answer in answers) == [200] * 7 + [201]
    assert len({answer.json()["protocol"] for answer in answers}) == 1
    timeline = await intake.client.get(
        f"/v1/parties/member/{body['party']['id']}/timeline", headers=READER
    )
    assert len(timeline.json()["items"]) == 1


async def test_timeline_lists_every_channel_newest_first_by_cursor(
    intake: RunningService,
) -> None:
    party_id = new_party_id()
    protocols = []
    for channel in ("phone", "chat", "whatsapp", "email", "app"):
        created = await post(
            intake, make_interaction(channel=channel, party={"kind": "member", "id": party_id})
        )
        protocols.append((created.json()["protocol"], channel))
    await post(intake, make_interaction())  # someone else's

    url = f"/v1/parties/member/{party_id}/timeline"
    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await intake.client.get(url, params=params, headers=READER)
        assert page.status_code == 200, page.text
        pages += 1
        items = page.json()["items"]
        assert all(item["status"] == "received" for item in items)
        seen += [(item["protocol"], item["channel"]) for item in items]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(protocols))
    assert pages == 3

    as_provider = await intake.client.get(
        f"/v1/parties/provider/{party_id}/timeline", headers=READER
    )
    assert as_provider.json() == {"items": [], "next_cursor": None}
    bad_cursor = await intake.client.get(url, params={"cursor": "garbage"}, headers=READER)
    assert bad_cursor.status_code == 422


async def test_party_contact_data_keeps_the_latest_of_each_field(intake: RunningService) -> None:
    party_id = new_party_id()
    await post(
        intake,
        make_interaction(
            party={
                "kind": "provider",
                "id": party_id,
                "name": "Clínica Boa Vista",
                "phone": "+55 11 3003-1000",
            }
        ),
    )
    await post(
        intake,
        make_interaction(
            party={"kind": "provider", "id": party_id, "email": "contato@boavista.example"}
        ),
    )

    contact = await intake.client.get(f"/v1/parties/provider/{party_id}", headers=SURVEY)
    assert contact.status_code == 200
    assert {k: contact.json()[k] for k in ("kind", "id", "name", "email", "phone")} == {
        "kind": "provider",
        "id": party_id,
        "name": "Clínica Boa Vista",
        "email": "contato@boavista.example",
        "phone": "+55 11 3003-1000",
    }
    unknown = await intake.client.get(f"/v1/parties/provider/{new_party_id()}", headers=SURVEY)
    assert unknown.status_code == 404


async def test_tracking_shows_only_status_and_dates_and_cannot_be_probed(
    intake: RunningService,
) -> None:
    body = make_interaction()
    created = (await post(intake, body)).json()
    url = f"/v1/track/{created['protocol']}"

    mine = await intake.client.get(url, params={"party_id": body["party"]["id"]}, headers=PORTAL)
    assert mine.status_code == 200, mine.text
    shown = mine.json()
    assert set(shown) == {
        "protocol",
        "status",
        "queue_label",
        "received_at",
        "updated_at",
        "completed_at",
        "deadlines",
        "answer",
    }
    assert (shown["protocol"], shown["status"]) == (created["protocol"], "received")
    assert shown["answer"] is None
    assert body["subject"] not in mine.text and body["party"]["name"] not in mine.text
    # No answer yet reads like no such request: the copy tells nothing either way.
    unanswered = await intake.client.get(
        f"{url}/answer.txt", params={"party_id": body["party"]["id"]}, headers=PORTAL
    )
    stranger = await intake.client.get(
        f"{url}/answer.txt", params={"party_id": "card-0"}, headers=PORTAL
    )
    assert unanswered.status_code == stranger.status_code == 404
    assert unanswered.content == stranger.content

    wrong_party = await intake.client.get(url, params={"party_id": "card-0"}, headers=PORTAL)
    unknown = await intake.client.get(
        f"/v1/track/345678{today_in_sao_paulo()}999998",
        params={"party_id": body["party"]["id"]},
        headers=PORTAL,
    )
    malformed = await intake.client.get(
        "/v1/track/not-a-protocol", params={"party_id": body["party"]["id"]}, headers=PORTAL
    )
    assert wrong_party.status_code == unknown.status_code == malformed.status_code == 404
    assert wrong_party.content == unknown.content == malformed.content
    assert wrong_party.headers["content-type"] == unknown.headers["content-type"]


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("POST", "/v1/interactions", None, 401),
        ("POST", "/v1/interactions", "Bearer not-a-key", 401),
        ("POST", "/v1/interactions", "Basic dev-intake-admin", 401),
        ("POST", "/v1/interactions", "Bearer dev-intake-reader", 403),
        ("GET", "/v1/interactions/34567820261123000001", None, 401),
        ("GET", "/v1/interactions/34567820261123000001", "Bearer dev-intake-portal", 403),
        ("GET", "/v1/parties/member/1/timeline", "Bearer dev-intake-portal", 403),
        ("GET", "/v1/parties/member/1", "Bearer dev-intake-reader", 403),
        ("GET", "/v1/parties/member/1", None, 401),
        ("GET", "/v1/track/34567820261123000001?party_id=1", "Bearer dev-intake-reader", 403),
        ("GET", "/v1/track/34567820261123000001?party_id=1", None, 401),
    ],
)
async def test_keys_without_the_scope_are_refused(
    intake: RunningService, method: str, path: str, key: str | None, status: int
) -> None:
    headers = {"Authorization": key} if key else {}
    answer = await intake.client.request(
        method, path, json=make_interaction() if method == "POST" else None, headers=headers
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "reference",
    ["00000000-0000-4000-8000-000000000000", "34567820000101000001", "not-a-reference"],
)
async def test_an_unknown_interaction_is_404(intake: RunningService, reference: str) -> None:
    missing = await intake.client.get(f"/v1/interactions/{reference}", headers=READER)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_events_carry_a_pseudonym_and_never_who_the_person_is(
    intake: RunningService,
) -> None:
    party_id = new_party_id()
    people = [
        {
            "kind": "member",
            "id": party_id,
            "name": "Joana Pereira Lima",
            "email": "joana.lima@example.org",
            "phone": "+55 21 99876-5432",
        },
        {
            "kind": "employer",
            "id": "12345678000199",  # a CNPJ
            "name": "Padaria Estrela Ltda",
            "email": "rh@padariaestrela.example",
            "phone": "+55 31 3222-1100",
        },
    ]
    posted = {}
    for person in people:
        created = await post(intake, make_interaction(channel="web", party=person))
        posted[created.json()["protocol"]] = person

    records = await read_topic(intake.namespace + "atende.interactions.v1", at_least=len(posted))
    received = [decode(record.value) for record in records if record.value is not None]
    ours = {
        event.data.protocol: event
        for event in received
        if isinstance(event.data, InteractionReceived) and event.data.protocol in posted
    }
    assert set(ours) == set(posted)
    key = Settings().pseudonym_key.encode()
    for protocol, event in ours.items():
        person = posted[protocol]
        data = event.data
        assert isinstance(data, InteractionReceived)
        assert data.party_ref == party_ref(key, kind=person["kind"], party_id=person["id"])
        assert data.content is not None and "ressonância" in data.content

    # Every record of the topic, from every test of this module, not only the two above.
    defaults = make_interaction()["party"]
    forbidden = [
        str(person[field]) for person in [*people, defaults] for field in ("name", "email", "phone")
    ]
    forbidden += [re.sub(r"\D", "", str(person["phone"])) for person in [*people, defaults]]
    forbidden += [party_id, "12345678000199", "card-"]
    assert len(records) > len(posted)
    for record in records:
        assert record.value is not None
        text = record.value.decode()
        for value in forbidden:
            assert value not in text, f"{value!r} leaked into {text}"
