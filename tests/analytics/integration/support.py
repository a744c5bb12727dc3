"""A hand-computed week of events for analytics, and helpers to publish them and wait.

The week is Monday 2025-03-10 to Sunday 2025-03-16 in America/Sao_Paulo (UTC-3, no DST).
Times below are UTC; 12:00Z is 09:00 local. Expected KPIs are derived by hand in EXPECTED.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from atende_events import samples
from atende_events.db import inbox
from atende_events.envelope import EventData, encode, key_of, new_event
from atende_events.kafka import Publisher
from atende_events.pseudonym import party_ref
from atende_events.registry import SOURCES
from atende_events.routing import InteractionAccepted
from tests.infra import KAFKA_BOOTSTRAP, eventually
from tests.service_checks import RunningService

KEY = b"analytics tests pseudonym key, 32+ bytes"
FROM, TO = "2025-03-10", "2025-03-16"
API_KEY = {"Authorization": "Bearer dev-analytics-reader"}


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment in March 2025, UTC."""
    return datetime(2025, 3, day, hour, minute, second, tzinfo=UTC)


def party(name: str, kind: str = "member") -> str:
    return party_ref(KEY, kind=kind, party_id=f"{name}-{uuid.uuid4().hex[:6]}")


def _journey(
    *,
    received: datetime,
    channel: str,
    kind: str,
    ref: str,
    demand: str,
    queue: str,
    agent: str | None = None,
    wait: float | None = None,
    handle: float | None = None,
    resolved_at: datetime | None = None,
    resolution: str = "resolved",
    first_assignment: bool = True,
    related: uuid.UUID | None = None,
    interaction_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, list[EventData]]:
    """Build receipt, queueing, acceptance and resolution of one interaction."""
    iid = interaction_id or uuid.uuid4()
    events: list[EventData] = [
        samples.make_interaction_received(
            interaction_id=iid,
            occurred_at=received,
            received_at=received,
            channel=channel,
            party_kind=kind,
            party_ref=ref,
            demand_type=demand,
            related_interaction_id=related,
        ),
        samples.make_interaction_queued(
            interaction_id=iid, occurred_at=received, queue=queue, demand_type=demand
        ),
    ]
    if agent is not None and wait is not None:
        assignment = uuid.uuid4()
        accepted = received + timedelta(seconds=wait)
        events += [
            samples.make_interaction_offered(
                interaction_id=iid,
                assignment_id=assignment,
                agent_id=agent,
                queue=queue,
                occurred_at=accepted - timedelta(seconds=1),
                expires_at=accepted + timedelta(seconds=30),
            ),
            samples.make_interaction_accepted(
                interaction_id=iid,
                assignment_id=assignment,
                agent_id=agent,
                queue=queue,
                occurred_at=accepted,
                wait_seconds=wait,
            ),
        ]
        if resolved_at is not None and handle is not None:
            events.append(
                samples.make_interaction_resolved(
                    interaction_id=iid,
                    assignment_id=assignment,
                    agent_id=agent,
                    queue=queue,
                    channel=channel,
                    party_kind=kind,
                    party_ref=ref,
                    demand_type=demand,
                    resolution=resolution,
                    handle_seconds=handle,
                    first_assignment=first_assignment,
                    occurred_at=resolved_at,
                )
            )
    return iid, events


def _clock(
    iid: uuid.UUID, kind: str, start: datetime, end: datetime, outcome: str | None
) -> list[EventData]:
    clock = {"interaction_id": iid, "clock_id": uuid.uuid4(), "kind": kind}
    due = start + timedelta(days=5)
    events: list[EventData] = [samples.make_sla_started(**clock, occurred_at=start, due_at=due)]
    if outcome == "met":
        events.append(samples.make_sla_met(**clock, occurred_at=end, due_at=due))
    elif outcome == "breached":
        events.append(samples.make_sla_breached(**clock, occurred_at=end, due_at=due))
    return events


def _survey(
    iid: uuid.UUID,
    sent: datetime,
    *,
    nps: int | None = None,
    csat: int | None = None,
    themes: Sequence[str] = (),
    expired: bool = False,
) -> tuple[uuid.UUID, list[EventData]]:
    sid = uuid.uuid4()
    events: list[EventData] = [
        samples.make_survey_scheduled(interaction_id=iid, survey_id=sid, occurred_at=sent),
        samples.make_survey_dispatched(interaction_id=iid, survey_id=sid, occurred_at=sent),
    ]
    if nps is not None:
        category = "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
        events.append(
            samples.make_survey_answered(
                interaction_id=iid,
                survey_id=sid,
                occurred_at=sent + timedelta(hours=2),
                nps=nps,
                category=category,
                csat=csat,
                themes=list(themes),
                may_contact=True,
            )
        )
    if expired:
        events.append(
            samples.make_survey_expired(
                interaction_id=iid, survey_id=sid, occurred_at=sent + timedelta(days=7)
            )
        )
    return sid, events


def _followup(
    iid: uuid.UUID, sid: uuid.UUID, opened: datetime, closed: datetime | None
) -> list[EventData]:
    ids = {
        "interaction_id": iid,
        "survey_id": sid,
        "followup_id": uuid.uuid4(),
        "followup_interaction_id": uuid.uuid4(),
    }
    events: list[EventData] = [samples.make_followup_opened(**ids, occurred_at=opened)]
    if closed is not None:
        events.append(samples.make_followup_closed(**ids, occurred_at=closed))
    return events


def week() -> tuple[list[EventData], dict[str, str]]:
    """Build the week's events (fresh ids and agents each call) and name the agents."""
    tag = uuid.uuid4().hex[:6]
    a1, a2, a3 = f"ana-{tag}", f"bruno-{tag}", f"carla-{tag}"
    p1, p2, p3, p4 = party("p1"), party("p2"), party("p3", "provider"), party("p4")
    events: list[EventData] = []

    # I1: phone, answered in 15 s, handled 300 s, resolved in 5 minutes: FCR.
    i1, e = _journey(
        received=at(10, 12), channel="phone", kind="member", ref=p1, demand="authorization",
        queue="autorizacoes", agent=a1, wait=15, handle=300, resolved_at=at(10, 12, 5, 15),
    )  # fmt: skip
    events += e
    # I2: phone, 45 s wait (misses the 20 s target), same party and demand come back on Tuesday.
    i2, e = _journey(
        received=at(10, 13), channel="phone", kind="member", ref=p2, demand="debt",
        queue="dividas", agent=a1, wait=45, handle=500, resolved_at=at(10, 13, 10),
    )  # fmt: skip
    events += e
    # I3: the repeat contact on chat (30 s wait within 60 s), after a transfer: not FCR.
    i3, e = _journey(
        received=at(11, 12), channel="chat", kind="member", ref=p2, demand="debt",
        queue="dividas", agent=a2, wait=30, handle=1000, resolved_at=at(11, 12, 20),
        first_assignment=False,
    )  # fmt: skip
    events += e
    # I4: a provider's web form on Monday 22:30 local (Tuesday in UTC), resolved Thursday
    # 17:30 local: 29.5 business hours, more than 2 business days. Web has no answer target.
    i4, e = _journey(
        received=at(11, 1, 30), channel="web", kind="provider", ref=p3,
        demand="provider_payment", queue="prestadores", agent=a2, wait=100, handle=200,
        resolved_at=at(13, 20, 30),
    )  # fmt: skip
    events += e
    # I5: the ombudsman, citing I1's protocol: an escalation, still waiting in the queue.
    i5, e = _journey(
        received=at(12, 12), channel="ombudsman", kind="member", ref=p1, demand="complaint",
        queue="ouvidoria", related=i1,
    )  # fmt: skip
    events += e
    # I7: phone, answered in 10 s, completed unresolved after 100 s.
    i7, e = _journey(
        received=at(10, 14), channel="phone", kind="member", ref=p4, demand="information",
        queue="geral", agent=a1, wait=10, handle=100, resolved_at=at(10, 14, 2),
        resolution="unresolved",
    )  # fmt: skip
    events += e
    # I8: chat on Friday; carla lets a first offer time out, accepts the second after 20 s,
    # waits for the customer, resumes, then transfers it to the nurses' queue, where it waits.
    i8, e = _journey(
        received=at(14, 12), channel="chat", kind="member", ref=party("p5"), demand="clinical",
        queue="geral", agent=a3, wait=20,
    )  # fmt: skip
    events += e
    assignment = next(event.assignment_id for event in e if isinstance(event, InteractionAccepted))
    step = {"interaction_id": i8, "assignment_id": assignment, "agent_id": a3}
    events += [
        samples.make_interaction_offer_declined(
            interaction_id=i8, agent_id=a3, occurred_at=at(14, 12, 0, 5)
        ),
        samples.make_interaction_waiting(**step, occurred_at=at(14, 12, 2)),
        samples.make_interaction_resumed(**step, occurred_at=at(14, 12, 3)),
        samples.make_interaction_transferred(
            **step, from_queue="geral", to_queue="saude", occurred_at=at(14, 12, 5)
        ),
    ]

    # Clocks: regulatory 2 met of 3 closed; operational 1 met of 3 closed; I5's still runs.
    events += _clock(i1, "regulatory", at(10, 12), at(10, 12, 5, 15), "met")
    events += _clock(i1, "operational", at(10, 12), at(10, 12, 0, 15), "met")
    events += _clock(i2, "regulatory", at(10, 13), at(10, 13, 10), "met")
    events += _clock(i2, "operational", at(10, 13), at(10, 13, 0, 45), "breached")
    events += _clock(i3, "operational", at(11, 12), at(11, 12, 0, 30), "breached")
    events += _clock(i4, "regulatory", at(11, 1, 30), at(13, 20, 30), "breached")
    # I5's regulatory clock runs, extended by the ombudsman to the 20th; its operational clock
    # is paused (waiting for the customer), so it is not at risk.
    extended = {"interaction_id": i5, "clock_id": uuid.uuid4(), "kind": "regulatory"}
    events += [
        samples.make_sla_started(**extended, occurred_at=at(12, 12), due_at=at(17, 12)),
        samples.make_sla_extended(
            **extended, occurred_at=at(12, 13), due_at=at(20, 12), previous_due_at=at(17, 12)
        ),
    ]
    paused = {"interaction_id": i5, "clock_id": uuid.uuid4(), "kind": "operational"}
    events += [
        samples.make_sla_started(**paused, occurred_at=at(12, 12), due_at=at(12, 13)),
        samples.make_sla_paused(**paused, occurred_at=at(12, 12, 30), due_at=at(12, 13)),
    ]

    # Surveys: 4 dispatched, 3 answered (10, 3, 6), one expired.
    _, e = _survey(i1, at(10, 15), nps=10, csat=5)
    events += e
    s2, e = _survey(i2, at(10, 15), nps=3, csat=2, themes=["wait_time", "courtesy"])
    events += e
    s3, e = _survey(i3, at(11, 15), nps=6, themes=["wait_time"])
    events += e
    _, e = _survey(i4, at(13, 21), expired=True)
    events += e
    events.append(samples.make_survey_skipped(interaction_id=i7, occurred_at=at(10, 15)))

    # Follow-ups: closed after 2 h and after 25 h (median 13.5 h), one still open.
    events += _followup(i2, s2, at(12, 12), at(12, 14))
    events += _followup(i3, s3, at(12, 15), at(13, 16))
    events += _followup(i3, s3, at(12, 16), None)

    # Agents: ana staffed 8 h on Monday; bruno 4 h on Tuesday (2 available, 2 away), 2 h Thursday.
    def status(agent: str, when: datetime, value: str) -> EventData:
        return samples.make_agent_status_changed(agent_id=agent, occurred_at=when, status=value)

    events += [
        status(a1, at(10, 11), "available"),
        status(a1, at(10, 19), "offline"),
        status(a2, at(11, 11), "available"),
        status(a2, at(11, 13), "away"),
        status(a2, at(11, 15), "offline"),
        status(a2, at(13, 19), "available"),
        status(a2, at(13, 21), "offline"),
        status(a3, at(14, 12), "available"),
    ]
    return events, {"a1": a1, "a2": a2, "a3": a3}


NPS_DAY = "2025-06-02"


def seed_split() -> list[EventData]:
    """Build 100 answers: 52 promoters, 31 passives, 17 detractors (seed 000: NPS 35)."""
    scores = [9, 10] * 26 + [7, 8] * 15 + [7] + [0, 3, 6] * 5 + [5, 6]
    assert len(scores) == 100
    answers = [
        samples.make_survey_answered(
            occurred_at=datetime(2025, 6, 2, 15, tzinfo=UTC) + timedelta(minutes=n),
            nps=score,
            category="promoter" if score >= 9 else "passive" if score >= 7 else "detractor",
            csat=None,
        )
        for n, score in enumerate(scores)
    ]
    # Each answer is about an interaction analytics knows (received on an earlier day): an
    # answer about an unknown one is parked, not counted.
    receipts: list[EventData] = [
        samples.make_interaction_received(
            interaction_id=answer.interaction_id,
            occurred_at=datetime(2025, 5, 20, 9, tzinfo=UTC),
            received_at=datetime(2025, 5, 20, 9, tzinfo=UTC),
        )
        for answer in answers
    ]
    return [*receipts, *answers]


class Week:
    """The week published on a namespace and the analytics service that consumed it live."""

    def __init__(
        self, service: RunningService, events: list[EventData], agents: dict[str, str]
    ) -> None:
        self.service = service
        self.events = events
        self.agents = agents


EXPECTED: dict[str, Any] = {
    "volume": 7,
    "completed": 5,
    "resolved": 4,
    "fcr_count": 2,
    "fcr_rate": 0.5,
    "aht_seconds": (300 + 500 + 1000 + 200 + 100) / 5,
    "accepted": 6,
    "asa_seconds": (15 + 45 + 30 + 100 + 10 + 20) / 6,
    "service_level": 4 / 5,
    "sla": {
        "regulatory": {"closed": 3, "met": 2, "met_rate": 2 / 3},
        "operational": {"closed": 3, "met": 1, "met_rate": 1 / 3},
    },
    "resolved_within_2_business_days": 3,
    "resolved_within_2_business_days_rate": 3 / 4,
    "responses": 3,
    "promoters": 1,
    "passives": 0,
    "detractors": 2,
    "nps": 100 * (1 - 2) / 3,
    "csat_answers": 2,
    "csat_mean": 3.5,
    "csat_satisfied_share": 0.5,
    "surveys_dispatched": 4,
    "survey_response_rate": 0.75,
    "escalations": 1,
    "first_instance_resolved": 4,
    "escalation_rate": 0.25,
    "repeat_contacts": 1,
    "repeat_contact_rate": 1 / 7,
    "followups_opened": 3,
    "followups_closed": 2,
    "followup_median_closing_seconds": (2 * 3600 + 25 * 3600) / 2,
    "top_detractor_drivers": [
        {"theme": "wait_time", "count": 2},
        {"theme": "courtesy", "count": 1},
    ],
    "staffed_seconds": None,
    "contacts_per_hour": None,
}


async def publish(namespace: str, events: Sequence[EventData]) -> None:
    """Put events on the namespace's topics, in the given order, keyed like the producers do."""
    publisher = Publisher(KAFKA_BOOTSTRAP, client_id="analytics-tests")
    try:
        for data in events:
            envelope = new_event(data, source=SOURCES[data.event_type], time=data.occurred_at)
            await publisher.send_and_wait(
                namespace + data.topic, encode(envelope), key=key_of(envelope).encode()
            )
    finally:
        await publisher.close()


async def processed(service: RunningService, count: int, *, within: float = 60) -> None:
    """Wait until the service's consumer has handled `count` events."""

    async def probe() -> bool:
        async with service.sessionmaker() as session:
            done = await session.scalar(select(func.count()).select_from(inbox))
        return done == count

    await eventually(probe, within=within, what=f"{count} events processed")


async def kpis(service: RunningService, **params: Any) -> dict[str, Any]:
    """Get /v1/kpis for the week with the given parameters."""
    response = await service.client.get(
        "/v1/kpis", params={"from": FROM, "to": TO, **params}, headers=API_KEY
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
