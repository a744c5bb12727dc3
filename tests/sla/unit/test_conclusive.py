"""Only a conclusive answer (a resolution with an outcome) stops a regulatory clock."""

from __future__ import annotations

from typing import Any

import pytest

from atende_events.routing import Outcome, Resolution
from atende_events.samples import SAMPLE_TIME, make_interaction_resolved
from atende_events.sla import ClockKind, ClockType
from sla.domain.policies import stops
from sla.service import facts


@pytest.mark.parametrize(
    ("resolution", "outcome", "regulatory_stops", "operational_stops"),
    [
        (Resolution.RESOLVED, Outcome.AUTHORISED, True, True),
        (Resolution.RESOLVED, Outcome.DENIED, True, True),
        (Resolution.RESOLVED, Outcome.WITHDRAWN, True, True),
        # Before answers were recorded, and from any producer that sends none: no answer.
        (Resolution.RESOLVED, None, False, True),
        (Resolution.UNRESOLVED, None, False, True),
        (Resolution.UNRESOLVED, Outcome.INFORMED, False, True),
    ],
)
def test_a_resolution_stops_the_regulatory_clock_only_with_an_outcome(
    resolution: Resolution,
    outcome: Outcome | None,
    regulatory_stops: bool,
    operational_stops: bool,
) -> None:
    known: dict[str, Any] = dict.fromkeys(facts.FACTS)
    event = make_interaction_resolved(resolution=resolution, outcome=outcome)
    facts.add_facts(known, facts.resolved(event).facts)
    moments = {
        "first_accepted_at": known["first_accepted_at"],
        "completed_at": known["completed_at"],
        "answered_at": known["answered_at"],
    }
    regulatory = stops(ClockKind.REGULATORY, ClockType.RESOLUTION, **moments)
    operational = stops(ClockKind.OPERATIONAL, ClockType.RESOLUTION, **moments)
    assert (regulatory == SAMPLE_TIME) is regulatory_stops
    assert (operational == SAMPLE_TIME) is operational_stops
