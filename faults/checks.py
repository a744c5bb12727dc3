"""What a scenario's events say: lost interactions, duplicated effects and false breaches.

Counted over the interactions the scenario's load got acknowledged (and the clocks, surveys and
follow-ups about them), on distinct events (by CloudEvents id), so that a redelivery or a
republished outbox row is never taken for a second effect; a second effect has its own id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from faults.observe import EventLog

TERMINAL = ("sla.met", "sla.breached")


@dataclass
class Findings:
    lost: dict[str, list[str]] = field(default_factory=dict)
    """Per missing step, the acknowledged interactions that never reached it (first few)."""
    lost_count: int = 0
    duplicated: dict[str, set[str]] = field(default_factory=dict)
    """Per kind of duplicated effect, the interactions, clocks or surveys that have it."""
    false_breaches: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By clock id."""
    breaches: set[str] = field(default_factory=set)
    """Clock ids breached."""
    breaches_by_policy: dict[str, int] = field(default_factory=dict)

    def since(self, before: Findings) -> Findings:
        """The duplicated effects and breaches that were not there `before` (lost stays)."""
        return Findings(
            lost=self.lost,
            lost_count=self.lost_count,
            duplicated={
                kind: new
                for kind, owners in self.duplicated.items()
                if (new := owners - before.duplicated.get(kind, set()))
            },
            false_breaches={
                clock: found
                for clock, found in self.false_breaches.items()
                if clock not in before.false_breaches
            },
            breaches=self.breaches - before.breaches,
            breaches_by_policy={
                policy: n - before.breaches_by_policy.get(policy, 0)
                for policy, n in self.breaches_by_policy.items()
                if n > before.breaches_by_policy.get(policy, 0)
            },
        )

    @property
    def duplicated_count(self) -> int:
        return sum(len(owners) for owners in self.duplicated.values())


def examine(events: EventLog, acknowledged: set[str], completed: set[str]) -> Findings:
    """Check every acknowledged interaction's journey; `completed`: those routing resolved (200)."""
    found = Findings()
    subjects: dict[str, set[str]] = {
        kind: {e.subject for e in events.of(kind)}
        for kind in ("interaction.received", "interaction.queued", "sla.started")
    }
    resolved = {e.subject for e in events.of("interaction.resolved")}
    missing = {
        "received": acknowledged - subjects["interaction.received"],
        "queued": acknowledged - subjects["interaction.queued"],
        "sla.started": acknowledged - subjects["sla.started"],
        "resolved (completed with 200)": completed - resolved,
    }
    lost = set().union(*missing.values())
    found.lost_count = len(lost)
    found.lost = {step: sorted(ids)[:5] for step, ids in missing.items() if ids}

    def distinct(kinds: tuple[str, ...], key: str, per: str = "interaction_id") -> set[str]:
        """Owners (an interaction, a survey) with more than one distinct `key` among `kinds`."""
        seen: dict[str, set[str]] = defaultdict(set)
        for kind in kinds:
            for e in events.of(kind):
                seen[str(e.data.get(per, e.subject))].add(str(e.data.get(key)))
        return {owner for owner, values in seen.items() if len(values) > 1}

    # Two clocks of one kind and type for one interaction, two starts or two ends of one clock.
    started: dict[str, int] = defaultdict(int)
    clock_slots: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for e in events.of("sla.started"):
        started[str(e.data.get("clock_id"))] += 1
        slot = (e.subject, str(e.data.get("kind")), str(e.data.get("clock_type")))
        clock_slots[slot].add(str(e.data.get("clock_id")))
    ends: dict[str, int] = defaultdict(int)
    for kind in TERMINAL:
        for e in events.of(kind):
            ends[str(e.data.get("clock_id"))] += 1
    found.duplicated = {
        "sla.started twice for one clock": {c for c, n in started.items() if n > 1},
        "two clocks of one kind for one interaction": {
            slot[0] for slot, clocks in clock_slots.items() if len(clocks) > 1
        },
        "two terminal events for one clock": {c for c, n in ends.items() if n > 1},
        "two surveys for one interaction": distinct(
            ("survey.scheduled", "survey.skipped"), "survey_id"
        ),
        "two follow-ups for one survey": distinct(("followup.opened",), "followup_id", "survey_id"),
        "two follow-ups for one interaction": distinct(("followup.opened",), "followup_id"),
        "two accepted assignments for one interaction": distinct(
            ("interaction.accepted",), "assignment_id"
        ),
        "two resolutions for one interaction": _twice(events, "interaction.resolved"),
    }
    found.duplicated = {k: v for k, v in found.duplicated.items() if v}

    # A breach is false when the event that stops the clock happened before its deadline.
    first_accept: dict[str, datetime] = {}
    for e in events.of("interaction.accepted"):
        if e.time is not None and (
            e.subject not in first_accept or e.time < first_accept[e.subject]
        ):
            first_accept[e.subject] = e.time
    completion: dict[str, tuple[datetime, str]] = {}
    for e in events.of("interaction.resolved"):
        if e.time is not None and e.subject not in completion:
            completion[e.subject] = (e.time, str(e.data.get("resolution")))
    for e in events.of("sla.breached"):
        found.breaches.add(str(e.data.get("clock_id")))
        policy = str(e.data.get("policy_id"))
        found.breaches_by_policy[policy] = found.breaches_by_policy.get(policy, 0) + 1
        due = _when(e.data.get("due_at"))
        if due is None:
            continue
        stop: datetime | None = None
        if e.data.get("clock_type") == "first_response":
            stop = first_accept.get(e.subject)
        elif e.subject in completion:
            at, resolution = completion[e.subject]
            if e.data.get("kind") != "regulatory" or resolution == "resolved":
                stop = at
        if stop is not None and stop < due:
            found.false_breaches[str(e.data.get("clock_id"))] = {
                "interaction": e.subject,
                "clock": e.data.get("clock_id"),
                "policy": e.data.get("policy_id"),
                "due_at": due.isoformat(),
                "stopped_at": stop.isoformat(),
                "early_by_s": round((due - stop).total_seconds(), 3),
            }
    return found


def _twice(events: EventLog, kind: str) -> set[str]:
    count: dict[str, int] = defaultdict(int)
    for e in events.of(kind):
        count[e.subject] += 1
    return {subject for subject, n in count.items() if n > 1}


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
