"""`make run` starts the whole system with its simulator, and `make stop` leaves nothing behind.

The test runs `make run` itself, on a private Kafka, PostgreSQL and ports (see private_system.py),
with a fast simulator profile: many contacts, short handling, survey links seconds after the
resolution, answers within seconds. It checks through the public HTTP APIs only.

Deadline clocks: the packaged policy book holds phone calls to 20 s before an agent answers, and
the simulated agents would nearly always make it. So the test gives sla a book in which a phone
must be answered within 3 s (SLA_POLICIES_PATH, the documented way to replace the book), while
the simulated agents take up to 4 s to pick up (SIM_PICKUP_SECONDS): some phone clocks are
breached by construction whatever the machine's speed; the resolution clocks of the handled
interactions are met.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.private_system import ROOT, SERVICES, PrivateSystem

RULES = yaml.safe_load((ROOT / "services/routing/src/routing/rules.yaml").read_text())
SLA_BOOK = ROOT / "services/sla/src/sla/policies.yaml"
PHONE_FIRST_RESPONSE = "op-phone-first-response"
PHONE_TARGET_SECONDS = 3

KEYS = {
    "intake": "dev-intake-reader",
    "routing": "dev-routing-admin",
    "sla": "dev-sla-admin",
    "survey": "dev-survey-admin",
    "analytics": "dev-analytics-reader",
}

FAST_PROFILE = {
    "SIM_RATE": "2",
    "SIM_AGENTS": "21",
    "SIM_HANDLE_SECONDS": "2",
    "SIM_PICKUP_SECONDS": str(PHONE_TARGET_SECONDS + 1),
    "SIM_RESPONSE_RATE": "1",
    "SIM_ANSWER_SECONDS": "2",
    "SIM_PROMOTERS": "0.4",
    "SIM_PASSIVES": "0.2",
    "SIM_MAY_CONTACT": "1",
    "SIM_REPORT_SECONDS": "10",
    "SURVEY_DISPATCH_DELAY": "PT2S",
    "ROUTING_OFFER_TIMEOUT": "10",
}

ACTIVITY_DEADLINE = 240  # seconds for the simulation to show every kind of activity
QUIET_DEADLINE = 180  # seconds for the KPIs to settle once the simulator stopped
ADDITIVE = (
    "volume",
    "completed",
    "resolved",
    "accepted",
    "responses",
    "promoters",
    "passives",
    "detractors",
    "csat_answers",
    "surveys_dispatched",
    "escalations",
    "followups_opened",
    "followups_closed",
)


def short_phone_book(path: Path) -> Path:
    """The packaged policy book with the phone's first-response target cut to seconds."""
    book = yaml.safe_load(SLA_BOOK.read_text())
    [policy] = [p for p in book["policies"] if p["id"] == PHONE_FIRST_RESPONSE]
    policy["target"] = {"seconds": PHONE_TARGET_SECONDS}
    path.write_text(yaml.safe_dump(book, sort_keys=False, allow_unicode=True))
    return path


class Apis:
    """The five public APIs of the private system, each with its dev key."""

    def __init__(self, system: PrivateSystem) -> None:
        self._system = system
        self._client = httpx.Client(timeout=20)

    def get(self, service: str, path: str, **params: Any) -> Any:
        response = self._client.get(
            self._system.url(service) + path,
            params=params,
            headers={"Authorization": f"Bearer {KEYS[service]}"},
        )
        response.raise_for_status()
        return response.json()

    def kpis(self, **params: Any) -> Any:
        return self.get("analytics", "/v1/kpis", **params)

    def close(self) -> None:
        self._client.close()


class Stopwatch:
    """When each phase of the test ended, counted from its start."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._marks: list[tuple[str, float]] = []

    def mark(self, phase: str) -> None:
        self._marks.append((phase, time.monotonic() - self._start))

    def __str__(self) -> str:
        return ", ".join(f"{phase} at {seconds:.0f}s" for phase, seconds in self._marks)


def wait_for(what: str, probe: Callable[[], Any], within: float, every: float = 2) -> Any:
    """Poll until the probe answers something truthy; fail with its last answer."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            last = probe()
        except httpx.HTTPError as exc:  # a service busy for a moment: ask again
            last = repr(exc)
        else:
            if last and not isinstance(last, str):
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")
        time.sleep(every)


def test_make_run_starts_everything_the_simulation_shows_in_the_apis_and_make_stop_ends_it(
    tmp_path: Path,
) -> None:
    system = PrivateSystem.create(
        {**FAST_PROFILE, "SLA_POLICIES_PATH": str(short_phone_book(tmp_path / "policies.yaml"))}
    )
    apis = Apis(system)
    watch = Stopwatch()
    stopped = False
    try:
        started = system.make("run", label="make-run")
        assert started.returncode == 0, "make run failed"
        watch.mark("make run")
        check_banner(system, started.stdout)
        check_second_run_finds_everything_running(system)
        check_status(system)
        watch.mark("second make run and make status")

        seen = wait_for_activity(apis)
        watch.mark("activity everywhere")
        check_clocks_met_and_breached(apis, seen)
        check_a_detractor_followup_was_closed_with_a_reason(apis)
        watch.mark("clocks and follow-up checked")
        # The simulator stops first, so that the figures settle and can be added up.
        stopped_simulator = system.run(
            ["bash", "deploy/local/services.sh", "stop", "simulator"], label="stop-simulator"
        )
        assert stopped_simulator.returncode == 0
        check_kpis_add_up(apis)
        watch.mark("KPIs settled and added up")

        result = system.make("stop", label="make-stop", timeout=300)
        stopped = True
        assert result.returncode == 0, "make stop failed"
        wait_for(
            "every process of the private system to end and its ports to be free",
            lambda: str(remains) if (remains := system.remains()) else True,
            within=60,
            every=1,
        )
        watch.mark("make stop left nothing")
    except BaseException:
        watch.mark("failure")
        print(system.log_tails())  # noqa: T201 - shown by pytest with the failure
        if not stopped:
            system.make("stop", label="make-stop-after-failure", timeout=300)
        system.remove(keep_logs=True)
        print(f"logs kept in {system.run_dir}")  # noqa: T201
        # Said, not asserted: an assertion here would replace the failure being reported.
        if leftovers := system.leftovers():
            print(f"also left behind after the failure: {leftovers}")  # noqa: T201
        raise
    else:
        system.remove()
    finally:
        apis.close()
        print(f"phases: {watch}")  # noqa: T201 - `pytest -rP` shows where the time went


def check_banner(system: PrivateSystem, output: str) -> None:
    """The banner names the dashboard, every API's docs and the dev keys, on the ports in use."""
    analytics = system.url("analytics")
    assert f"{analytics}/dashboard  (key: dev-analytics-reader)" in output, output
    for service in SERVICES:
        assert f"{system.url(service)}/docs" in output, output
    for key in KEYS.values():
        assert key in output
    assert f"SMTP sink 127.0.0.1:{system.smtp_port}" in output, output
    response = httpx.get(f"{analytics}/dashboard", timeout=20)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


def check_second_run_finds_everything_running(system: PrivateSystem) -> None:
    pids = {name: system.pid(name) for name in (*SERVICES, "simulator")}
    again = system.make("run", label="make-run-again")
    assert again.returncode == 0, "a second make run failed"
    for name in ("Kafka", "PostgreSQL", *SERVICES, "simulator"):
        assert f"{name} already running" in again.stdout, f"{name}: {again.stdout}"
    assert {name: system.pid(name) for name in pids} == pids, (
        "a second make run restarted something"
    )


def check_status(system: PrivateSystem) -> None:
    # Only the run dir: the ports of the servers and services are remembered from `make run`.
    status = system.make("status", label="make-status", timeout=120, bare=True)
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    for service in SERVICES:
        [line] = [line for line in lines if line.startswith(f"{service}:")]
        assert f"running  {system.url(service)}  pid {system.pid(service)} " in line, line
        assert '"status":"ready"' in line.replace(" ", ""), line
    [line] = [line for line in lines if line.startswith("simulator:")]
    assert f"running  pid {system.pid('simulator')} " in line, line
    assert re.search(rf"^kafka:\s+running\s+127.0.0.1:{system.kafka_port}\b", status.stdout, re.M)
    assert re.search(rf"^postgresql:\s+running\s+127.0.0.1:{system.pg_port}\b", status.stdout, re.M)


def wait_for_activity(apis: Apis) -> set[str]:
    """Wait until every queue got work, clocks were met and breached, surveys were answered and a
    follow-up was closed; return the interactions seen on the wall board meanwhile."""
    queues = set(RULES["queues"])
    seen: set[str] = set()

    def everything_happened() -> Any:
        board = apis.get("analytics", "/v1/live")
        seen.update(clock["interaction_id"] for clock in board["clocks"])
        figures = {q["queue"]: q for q in apis.get("routing", "/v1/queues")["queues"]}
        unreached = sorted(q for q in queues if not figures.get(q, {}).get("assigned_today"))
        kpis = apis.kpis()["groups"]
        if not kpis:
            return f"no KPIs yet; queues without work: {unreached}"
        total = kpis[0]["kpis"]
        operational = total["sla"]["operational"]
        missing = {
            "queues without work": unreached,
            "no operational clock met": operational["met"] == 0,
            "no operational clock breached": operational["closed"] == operational["met"],
            "no survey answered": total["responses"] == 0,
            "no follow-up closed": total["followups_closed"] == 0,
        }
        missing = {what: value for what, value in missing.items() if value}
        return True if not missing else f"still missing: {missing}"

    wait_for("the simulation to reach everything", everything_happened, ACTIVITY_DEADLINE)
    return seen


def check_clocks_met_and_breached(apis: Apis, seen: set[str]) -> None:
    """sla itself shows met and breached clocks; intake marks the breached interaction."""
    states: dict[str, str] = {}  # a clock state -> an interaction with a clock in that state
    closed: set[str] = set()  # interactions whose clocks were all closed when last asked
    asked: dict[str, float] = {}  # when sla was last asked about an interaction

    def sla_shows_both() -> Any:
        # Interactions come from the wall board (running clocks, some soon breached) and from
        # the follow-ups (interactions handled, their resolution clocks met).
        seen.update(
            clock["interaction_id"] for clock in apis.get("analytics", "/v1/live")["clocks"]
        )
        followups = apis.get("survey", "/v1/followups", limit=500)["items"]
        seen.update(item["interaction_id"] for item in followups)
        # Those never asked first, then those asked longest ago: 40 a round.
        for interaction_id in sorted(seen - closed, key=lambda i: asked.get(i, 0))[:40]:
            asked[interaction_id] = time.monotonic()
            clocks = apis.get("sla", f"/v1/sla/interactions/{interaction_id}")["clocks"]
            for clock in clocks:
                states.setdefault(clock["state"], interaction_id)
            if all(clock["closed_at"] for clock in clocks):
                closed.add(interaction_id)
            if {"met", "breached"} <= set(states):
                return True
        return f"clock states seen so far: {sorted(states)}"

    wait_for("sla to show a met and a breached clock", sla_shows_both, within=120)
    breached = states["breached"]

    def intake_knows() -> Any:
        view = apis.get("intake", f"/v1/interactions/{breached}")
        return view if view["sla_breached"] and view["queue"] else f"intake shows {view}"

    view = wait_for("intake to learn of the queue and the breach", intake_knows, within=120)
    assert view["queue"] in RULES["queues"]
    assert "breached" in {deadline["state"] for deadline in view["deadlines"]}, view


def check_a_detractor_followup_was_closed_with_a_reason(apis: Apis) -> None:
    closed = apis.get("survey", "/v1/followups", status="closed")["items"]
    with_reason = [item for item in closed if item["reason_code"]]
    assert with_reason, closed
    followup = with_reason[0]
    assert followup["reason_code"] in RULES["reason_codes"]
    assert followup["closed_at"] is not None

    # intake follows the same events as survey, at its own pace.
    def completed_at_intake() -> Any:
        work = apis.get("intake", f"/v1/interactions/{followup['followup_interaction_id']}")
        return work if work["completed_at"] else f"intake shows {work}"

    work = wait_for("intake to see the follow-up completed", completed_at_intake, within=120)
    assert work["demand_type"] == "followup"
    assert "sucesso_cliente" in {step["queue"] for step in work["history"]}, work
    original = apis.get("intake", f"/v1/interactions/{followup['interaction_id']}")
    assert original["completed_at"] is not None


def check_kpis_add_up(apis: Apis) -> None:
    """Each KPI follows its formula, and the per-channel figures add up to the totals."""

    def settled() -> Any:
        before = apis.kpis()["groups"][0]["kpis"]
        by_channel = apis.kpis(group_by="channel")["groups"]
        after = apis.kpis()["groups"][0]["kpis"]
        return (after, by_channel) if before == after else None

    total, by_channel = wait_for("the KPIs to settle", settled, QUIET_DEADLINE, every=3)
    assert total["promoters"] + total["passives"] + total["detractors"] == total["responses"]
    assert total["nps"] == 100 * (total["promoters"] - total["detractors"]) / total["responses"]
    assert 0 < total["completed"] <= total["volume"]
    assert total["resolved"] <= total["completed"] <= total["accepted"]
    assert total["responses"] <= total["surveys_dispatched"]
    assert total["followups_closed"] <= total["followups_opened"]
    for kind in ("regulatory", "operational"):
        sla = total["sla"][kind]
        assert sla["met"] <= sla["closed"], kind
        if sla["closed"]:
            assert sla["met_rate"] == sla["met"] / sla["closed"], kind
    channels = [group["key"]["channel"] for group in by_channel]
    assert len(channels) == len(set(channels))
    for name in ADDITIVE:
        assert sum(group["kpis"][name] for group in by_channel) == total[name], name
    for kind in ("regulatory", "operational"):
        for name in ("closed", "met"):
            added = sum(group["kpis"]["sla"][kind][name] for group in by_channel)
            assert added == total["sla"][kind][name], f"sla {kind} {name}"
