"""sla on the real Kafka and PostgreSQL: clocks started, paused, stopped, fired by the timer."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from atende_events.calendar import end_of_business_days
from atende_events.consumer import claim, was_processed
from atende_events.db import outbox
from atende_events.envelope import Envelope, decode
from atende_events.routing import InteractionResolved
from atende_events.samples import sample_event
from atende_events.topics import SLA
from sla import service
from sla.main import create_app
from tests.infra import eventually, fresh_namespace, migrate, read_topic, scratch_database
from tests.service_checks import build_app, running_service, serving
from tests.sla.integration.support import (
    ADMIN,
    READER,
    kinds,
    lifecycle,
    of,
    publish,
    received,
    settings_for,
    sla_events,
)


async def test_a_clock_is_warned_then_breached_by_the_timer_with_no_further_events(
    tmp_path: Path,
) -> None:
    async with running_service("sla", **settings_for(tmp_path)) as svc:
        start = datetime.now(UTC)
        call = received(channel="web", priority="urgent", at=start)
        iid = call.data.interaction_id
        await publish(svc.namespace, call)

        async def fired() -> list[Envelope[Any]] | None:
            mine = [
                e
                for e in of(await sla_events(svc.namespace), iid)
                if e.data.policy_id == "test-urgent-3s"
            ]
            return mine if "breached" in kinds(mine) else None

        events = await eventually(fired, within=30, interval=0.5, what="the breach")
        assert kinds(events) == ["started", "warning", "breached"]
        due = start + timedelta(seconds=3)
        assert all(e.data.due_at == due for e in events)
        warning, breached = events[1], events[2]
        assert warning.data.occurred_at == start + timedelta(seconds=1.5)
        assert warning.data.business_seconds_elapsed == 1.5
        assert breached.data.occurred_at == due
        assert breached.data.business_seconds_elapsed == 3.0
        records = await read_topic(svc.namespace + SLA, at_least=1, within=5)
        (emitted,) = [r for r in records if decode(r.value).id == breached.id]
        lateness = emitted.timestamp / 1000 - due.timestamp()
        assert 0 <= lateness < 3, f"breach published {lateness:.2f}s after the deadline"

        # A late conclusive answer does not turn a breach into a met.
        await publish(svc.namespace, lifecycle("resolved", iid, datetime.now(UTC)))

        async def operational_met() -> Any:
            mine = of(await sla_events(svc.namespace), iid)
            return [e for e in mine if e.type == "atende.sla.met.v1"]

        met = await eventually(operational_met, what="the operational clock's met")
        assert [e.data.policy_id for e in met] == ["test-resolution-1h"]
        reply = await svc.client.get(f"/v1/sla/interactions/{iid}", headers=READER)
        assert reply.status_code == 200, reply.text
        states = {c["policy_id"]: c["state"] for c in reply.json()["clocks"]}
        assert states == {"test-urgent-3s": "breached", "test-resolution-1h": "met"}


async def test_paused_time_is_not_counted(tmp_path: Path) -> None:
    async with running_service("sla", **settings_for(tmp_path)) as svc:
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        call = received(channel="web", at=t0)
        iid = call.data.interaction_id
        waiting = lifecycle("waiting", iid, t0 + timedelta(minutes=1))
        await publish(svc.namespace, call, waiting)

        async def clocks() -> Any:
            reply = await svc.client.get(f"/v1/sla/interactions/{iid}", headers=READER)
            body = reply.json() if reply.status_code == 200 else {"clocks": []}
            return {c["policy_id"]: c for c in body["clocks"]}

        async def paused() -> Any:
            found = await clocks()
            return found if found.get("test-resolution-1h", {}).get("state") == "paused" else None

        clock = (await eventually(paused, what="a paused clock"))["test-resolution-1h"]
        assert clock["business_seconds_elapsed"] == 60.0
        await publish(
            svc.namespace,
            lifecycle("resumed", iid, t0 + timedelta(minutes=6)),
            lifecycle("resolved", iid, t0 + timedelta(minutes=8)),
        )

        async def met() -> Any:
            found = await clocks()
            return found if found.get("test-resolution-1h", {}).get("state") == "met" else None

        clock = (await eventually(met, what="the clock met"))["test-resolution-1h"]
        assert clock["business_seconds_elapsed"] == 180.0  # 8 minutes less 5 of waiting
        events = of(await sla_events(svc.namespace), iid)
        assert kinds(events) == ["started", "paused", "resumed", "met"]
        started, paused_event, resumed, met_event = events
        assert started.data.due_at == t0 + timedelta(hours=1)
        assert paused_event.data.business_seconds_elapsed == 60.0
        assert resumed.data.due_at == t0 + timedelta(hours=1, minutes=5)
        assert met_event.data.business_seconds_elapsed == 180.0


async def test_a_resolution_before_the_receipt_still_ends_met(tmp_path: Path) -> None:
    async with running_service("sla", **settings_for(tmp_path)) as svc:
        t0 = datetime.now(UTC) - timedelta(minutes=20)
        call = received(channel="ombudsman", at=t0)
        iid = call.data.interaction_id
        # Replayed out of order: the answer and the accept come before the receipt.
        await publish(
            svc.namespace,
            lifecycle("resolved", iid, t0 + timedelta(minutes=15)),
            lifecycle("accepted", iid, t0 + timedelta(minutes=2)),
        )
        await publish(svc.namespace, call)

        async def closed() -> Any:
            mine = of(await sla_events(svc.namespace), iid)
            return mine if Counter(kinds(mine))["met"] == 2 else None

        events = await eventually(closed, what="both clocks met")
        assert Counter(kinds(events)) == {"started": 2, "met": 2}
        met = {e.data.policy_id: e.data for e in events if e.type == "atende.sla.met.v1"}
        assert set(met) == {"test-ombudsman", "test-resolution-1h"}
        assert met["test-resolution-1h"].business_seconds_elapsed == 15 * 60
        assert met["test-ombudsman"].occurred_at == t0 + timedelta(minutes=15)


async def test_met_is_emitted_exactly_once_after_a_restart_between_resolution_and_emission(
    tmp_path: Path,
) -> None:
    namespace = await fresh_namespace()
    overrides = {
        **settings_for(tmp_path),
        "topic_namespace": namespace,
        "consumer_group": f"{namespace}atende-sla",
    }
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    call = received(channel="web", at=t0)
    iid = call.data.interaction_id
    resolution = lifecycle("resolved", iid, t0 + timedelta(minutes=4))
    async with scratch_database("sla") as url:
        await migrate("sla", url)
        app = build_app("sla", url, **overrides)
        async with serving(app) as client:
            await publish(namespace, call)

            async def started() -> Any:
                reply = await client.get(f"/v1/sla/interactions/{iid}", headers=ADMIN)
                return reply.status_code == 200 and reply.json()["clocks"]

            await eventually(started, what="the clock started")

        # The instance handled the resolution and committed, then died before its relay ran.
        engine = create_async_engine(url)
        try:
            async with async_sessionmaker(engine).begin() as session:
                assert await claim(session, consumer=f"{namespace}atende-sla", event=resolution)
                await service.record_resolved(
                    session,
                    book=app.state.book,
                    event=resolution.data,
                )
            async with engine.connect() as conn:
                pending = (
                    (
                        await conn.execute(
                            select(outbox.c.event_type).where(outbox.c.published_at.is_(None))
                        )
                    )
                    .scalars()
                    .all()
                )
            assert pending == ["atende.sla.met.v1"]
        finally:
            await engine.dispose()

        # Restarted, it gets the same resolution again (its offset was never committed) and a
        # second resolution with another id (a replay): neither adds a second met.
        replay = sample_event(
            InteractionResolved.event_type,
            **{
                **resolution.data.model_dump(),
                "occurred_at": t0 + timedelta(minutes=4, seconds=30),
            },
        )
        async with serving(create_app(app.state.settings)) as client:
            await publish(namespace, resolution, replay)
            restarted = create_async_engine(url)
            try:

                async def replay_done() -> bool:
                    async with restarted.connect() as conn, conn.begin():
                        session_bound = async_sessionmaker(bind=conn)
                        async with session_bound() as session:
                            return await was_processed(
                                session, consumer=f"{namespace}atende-sla", event_id=replay.id
                            )

                await eventually(replay_done, what="the replayed resolution handled")
            finally:
                await restarted.dispose()
            events = of(await sla_events(namespace, within=10), iid)
            assert Counter(kinds(events)) == {"started": 1, "met": 1}
            reply = await client.get(f"/v1/sla/interactions/{iid}", headers=ADMIN)
            (clock,) = reply.json()["clocks"]
            assert clock["state"] == "met" and clock["business_seconds_elapsed"] == 240.0


async def test_a_deadline_passing_while_sla_is_down_is_breached_once_after_the_restart(
    tmp_path: Path,
) -> None:
    namespace = await fresh_namespace()
    overrides = {
        **settings_for(tmp_path),
        "topic_namespace": namespace,
        "consumer_group": f"{namespace}atende-sla",
    }
    call = received(channel="web", priority="urgent")
    iid = call.data.interaction_id
    async with scratch_database("sla") as url:
        await migrate("sla", url)
        app = build_app("sla", url, **overrides)
        async with serving(app) as client:
            await publish(namespace, call)

            async def started() -> Any:
                reply = await client.get(f"/v1/sla/interactions/{iid}", headers=ADMIN)
                return reply.status_code == 200 and reply.json()["clocks"]

            clocks = await eventually(started, what="the clocks started")
        due = min(datetime.fromisoformat(clock["due_at"]) for clock in clocks)

        async def deadline_passed() -> bool:
            return datetime.now(UTC) > due

        await eventually(deadline_passed, what="the deadline passing while sla is down")
        assert "breached" not in kinds(of(await sla_events(namespace), iid))
        async with serving(create_app(app.state.settings)):

            async def breached() -> Any:
                mine = of(await sla_events(namespace), iid)
                return mine if "breached" in kinds(mine) else None

            events = await eventually(breached, what="the breach after the restart")
            events = of(await sla_events(namespace, within=5), iid)
    counts = Counter(kinds(events))
    assert counts["breached"] == 1 and counts["warning"] <= 1, counts


async def test_two_instances_give_one_breach_event_per_clock(tmp_path: Path) -> None:
    async with running_service("sla", **settings_for(tmp_path)) as first:
        second = build_app(
            "sla",
            first.database_url,
            topic_namespace=first.namespace,
            consumer_group=f"{first.namespace}atende-sla",
            **settings_for(tmp_path),
        )
        async with serving(second):
            now = datetime.now(UTC)
            calls = [received(channel="web", priority="urgent", at=now) for _ in range(12)]
            await publish(first.namespace, *calls)
            expected = {str(call.data.interaction_id) for call in calls}

            async def all_breached() -> Any:
                events = await sla_events(first.namespace)
                breached = [e for e in events if e.type == "atende.sla.breached.v1"]
                done = {str(e.data.interaction_id) for e in breached}  # type: ignore[attr-defined]
                return events if done >= expected else None

            events = await eventually(all_breached, within=40, interval=0.5, what="12 breaches")
    per_clock = Counter((e.type, e.data.clock_id) for e in events)
    assert len([key for key in per_clock if key[0] == "atende.sla.breached.v1"]) == 12
    assert set(per_clock.values()) == {1}, per_clock.most_common(3)


async def test_the_shipped_policies_give_a_phone_call_its_regulatory_and_operational_clocks() -> (
    None
):
    async with running_service("sla", api_keys={"dev-sla-admin": ["sla:read", "sla:write"]}) as svc:
        now = datetime.now(UTC)
        call = received(channel="phone", demand_type="authorization", at=now - timedelta(seconds=5))
        iid = call.data.interaction_id
        await publish(svc.namespace, call, lifecycle("accepted", iid, now - timedelta(seconds=1)))

        async def answered() -> Any:
            reply = await svc.client.get(f"/v1/sla/interactions/{iid}", headers=ADMIN)
            clocks = reply.json()["clocks"] if reply.status_code == 200 else []
            found = {c["policy_id"]: c for c in clocks}
            accepted = found.get("op-phone-first-response", {}).get("state") == "met"
            return found if len(found) == 3 and accepted else None

        clocks = await eventually(answered, what="three clocks, the accept applied")
        phone = clocks["op-phone-first-response"]
        assert (phone["kind"], phone["clock_type"], phone["state"]) == (
            "operational",
            "first_response",
            "met",
        )
        assert phone["business_seconds_elapsed"] == 4.0
        coverage = clocks["ans-rn623-coverage"]
        assert (coverage["kind"], coverage["state"]) == ("regulatory", "running")
        calendar = svc.app.state.book.calendars["dias-uteis"]
        assert datetime.fromisoformat(coverage["due_at"]) == end_of_business_days(
            call.data.received_at, 5, calendar
        )
        assert clocks["op-resolution-2-business-days"]["state"] == "running"
