"""What a receipt tells sla: its clocks start at the contact's own time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from atende_events.samples import SAMPLE_TIME, make_interaction_received
from sla.service import facts


@pytest.mark.parametrize(
    ("occurred", "registered", "start"),
    [
        # The channel says when the person got in touch (a NIP notified two days earlier, a
        # call queued before the agent registered it): the clocks count from then.
        (SAMPLE_TIME - timedelta(days=2), SAMPLE_TIME, SAMPLE_TIME - timedelta(days=2)),
        (SAMPLE_TIME - timedelta(minutes=3), SAMPLE_TIME, SAMPLE_TIME - timedelta(minutes=3)),
        # No earlier time given: the registration.
        (SAMPLE_TIME, SAMPLE_TIME, SAMPLE_TIME),
        # A channel's clock a little ahead never starts a clock after the registration.
        (SAMPLE_TIME + timedelta(minutes=2), SAMPLE_TIME, SAMPLE_TIME),
    ],
)
def test_a_receipt_starts_the_clocks_at_the_contacts_own_time(
    occurred: object, registered: object, start: object
) -> None:
    event = make_interaction_received(occurred_at=occurred, received_at=registered)

    assert facts.received(event, correlation_id=None).facts["received_at"] == start
