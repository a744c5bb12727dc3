"""Hostile or odd requests get a 4xx naming the problem, never a 500; locks never block a POST."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atende_events import samples
from intake import domain, service
from tests.intake.integration.conftest import (
    ADMIN,
    PORTAL,
    READER,
    make_interaction,
    new_party_id,
)
from tests.service_checks import RunningService


async def post_raw(intake: RunningService, body: Any, **headers: str) -> Any:
    """Post a body as ASCII-escaped JSON, so lone surrogates travel as JSON allows them."""
    return await intake.client.post(
        "/v1/interactions",
        content=json.dumps(body).encode(),
        headers={**ADMIN, "Content-Type": "application/json", **headers},
    )


def with_party(**fields: Any) -> dict[str, Any]:
    return make_interaction(party={"kind": "member", "id": new_party_id(), **fields})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (make_interaction(description="before\u0000after"), "description"),
        (make_interaction(subject="\u0000"), "subject"),
        (with_party(name="Maria\u0000"), "party.name"),
        (with_party(email="ma\u0000ria@example.com"), "party.email"),
        (make_interaction(description="half a pair \ud800 here"), "description"),
        (with_party(name="\udfff"), "party.name"),
    ],
)
async def test_text_the_database_cannot_store_is_422_naming_the_field(
    intake: RunningService, body: dict[str, Any], field: str
) -> None:
    refused = await post_raw(intake, body)

    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == [field]


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
        "2020-01-01T00:00:00Z",  # older than INTAKE_MAX_CONTACT_AGE_DAYS (30)
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59+14:00",
    ],
)
async def test_a_contact_time_out_of_range_is_422(intake: RunningService, occurred_at: str) -> None:
    refused = await post_raw(intake, make_interaction(occurred_at=occurred_at))

    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["occurred_at"]


async def test_a_contact_time_within_the_age_limit_is_kept(intake: RunningService) -> None:
    earlier = (datetime.now(UTC) - timedelta(days=29)).isoformat()
    created = await post_raw(intake, make_interaction(occurred_at=earlier))
    assert created.status_code == 201, created.text


def token_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        token_of(["2026-11-23T10:00:00+00:00", 5]),
        token_of([5, str(uuid4())]),
        token_of(["0001-01-01T00:00:00+01:00", str(uuid4())]),
        token_of(["9999-12-31T23:59:59-01:00", str(uuid4())]),
        token_of({"received_at": "2026-11-23T10:00:00+00:00"}),
        token_of(None),
        token_of("[[[[[[[[[[]]]]]]]]]]"),
        "[" * 150,
        "é",
        "%00",
    ],
)
async def test_every_malformed_cursor_is_the_same_422(intake: RunningService, cursor: str) -> None:
    url = f"/v1/parties/member/{new_party_id()}/timeline"
    refused = await intake.client.get(url, params={"cursor": cursor}, headers=READER)
    garbage = await intake.client.get(url, params={"cursor": "garbage"}, headers=READER)

    assert refused.status_code == 422, refused.text
    assert refused.json() == garbage.json()


async def test_a_replay_carries_the_location_of_the_first_answer(intake: RunningService) -> None:
    body = make_interaction()
    first = await post_raw(intake, body, **{"Idempotency-Key": f"replay-{uuid4()}"})
    key = first.request.headers["idempotency-key"]
    replay = await post_raw(intake, body, **{"Idempotency-Key": key})

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()


@pytest.mark.parametrize("key", ["with\u0000nul", "line\nbreak"])
async def test_an_idempotency_key_with_control_characters_is_422(
    intake: RunningService, key: str
) -> None:
    refused = await intake.client.post(
        "/v1/interactions",
        json=make_interaction(),
        headers=[("Authorization", ADMIN["Authorization"]), ("Idempotency-Key", key)],
    )
    assert refused.status_code == 422, refused.text


async def test_following_an_interaction_does_not_block_a_post_that_cites_it(
    intake: RunningService,
) -> None:
    cited = (await post_raw(intake, make_interaction())).json()
    queued = samples.make_interaction_queued(interaction_id=cited["id"])
    started = samples.make_sla_started(interaction_id=cited["id"])
    async with intake.sessionmaker.begin() as session:
        # The consumers' locks stay held until this transaction ends.
        step = domain.step_of(queued)
        assert step is not None
        await service.follow_lifecycle(
            session,
            [
                service.LifecycleStep(
                    event_id=uuid4(),
                    event_type=queued.event_type,
                    interaction_id=queued.interaction_id,
                    step=step,
                    at=queued.occurred_at,
                )
            ],
        )
        await service.follow_deadlines(
            session,
            [service.ClockReport(event_id=uuid4(), event_type=started.event_type, clock=started)],
        )
        citing = await asyncio.wait_for(
            post_raw(
                intake,
                make_interaction(channel="ombudsman", related_protocol=cited["protocol"]),
            ),
            timeout=5,
        )
    assert citing.status_code == 201, citing.text


async def test_tracking_checks_the_party_kind_when_given(intake: RunningService) -> None:
    body = make_interaction()
    created = (await post_raw(intake, body)).json()
    url = f"/v1/track/{created['protocol']}"
    party_id = body["party"]["id"]

    def track(**params: str) -> Any:
        return intake.client.get(url, params={"party_id": party_id, **params}, headers=PORTAL)

    assert (await track()).status_code == 200
    assert (await track(party_kind="member")).status_code == 200
    wrong_kind = await track(party_kind="provider")
    wrong_party = await intake.client.get(
        url, params={"party_id": "card-0", "party_kind": "member"}, headers=PORTAL
    )
    malformed_party = await intake.client.get(url, params={"party_id": "\u0000"}, headers=PORTAL)
    assert wrong_kind.status_code == wrong_party.status_code == malformed_party.status_code == 404
    assert wrong_kind.content == wrong_party.content == malformed_party.content
    assert (await track(party_kind="patient")).status_code == 422


# --- Fuzz ----------------------------------------------------------------------------------------

NASTY_STRINGS = [
    "",
    " ",
    "x" * 100_000,
    "\u0000",
    "\ud800",
    "\udfff\ud800",
    "\ufeff",
    "\u202e",
    "e\u0301" * 50,
    "😀" * 100,
    "\U0010ffff",
    "'; DROP TABLE interactions; --",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\r\n\t\x7f\x1b",
    "NaN",
    "1e309",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "99999-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
]
NASTY_VALUES: list[Any] = [
    *NASTY_STRINGS,
    None,
    True,
    0,
    -1,
    10**400,
    -(10**400),
    1.5,
    1e308,
    [],
    {},
    [None],
    {"kind": "member"},
    {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    json.loads("[" * 50 + "]" * 50),
]
FIELDS = [
    "channel",
    "party",
    "demand_type",
    "subject",
    "description",
    "priority",
    "related_protocol",
    "occurred_at",
    "locale",
    "not_a_field",
]
PARTY_FIELDS = ["kind", "id", "name", "email", "phone", "not_a_field"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=()), max_size=300)
    | st.sampled_from(NASTY_VALUES),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> Any:
    """A valid body with some fields, or the party's, replaced by junk; or junk alone."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    body = make_interaction()
    for field in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        body[field] = draw(json_values)
    if isinstance(body["party"], dict) and draw(st.booleans()):
        party = dict(body["party"])
        for field in draw(st.lists(st.sampled_from(PARTY_FIELDS), max_size=3, unique=True)):
            party[field] = draw(json_values)
        body["party"] = party
    return body


def generated_bodies(count: int) -> list[Any]:
    """Draw bodies with hypothesis up front, so the async client can post them."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_bodies())
    def draw(body: Any) -> None:
        drawn.append(body)

    draw()
    return drawn


def edge_bodies() -> list[Any]:
    """Every nasty value in every field, one at a time, and whole bodies that are not objects."""
    bodies: list[Any] = list(NASTY_VALUES)
    for value in NASTY_VALUES:
        for field in FIELDS:
            bodies.append(make_interaction(**{field: value}))
        for field in PARTY_FIELDS:
            body = make_interaction()
            body["party"] = {**body["party"], field: value}
            bodies.append(body)
    return bodies


RAW_PAYLOADS = [
    b"[" * 30_000 + b"]" * 30_000,  # nested past Python's recursion limit
    b'{"channel": "phone", "party": ' * 3_000,
    b"\xff\xfe\x00",
    b'{"description": "\\ud800"}',
    b"NaN",
    b"-Infinity",
    b"1" * 5_000,
    b"",
]


async def test_no_request_body_gives_a_server_error(intake: RunningService) -> None:
    payloads = [json.dumps(body).encode() for body in edge_bodies() + generated_bodies(300)]
    payloads += RAW_PAYLOADS
    failures: list[tuple[int, bytes, str]] = []
    for start in range(0, len(payloads), 20):
        batch = payloads[start : start + 20]
        answers = await asyncio.gather(
            *(
                intake.client.post(
                    "/v1/interactions",
                    content=payload,
                    headers={**ADMIN, "Content-Type": "application/json"},
                )
                for payload in batch
            )
        )
        failures += [
            (answer.status_code, payload[:200], answer.text[:300])
            for payload, answer in zip(batch, answers, strict=True)
            if answer.status_code >= 500
        ]
    assert failures == []
