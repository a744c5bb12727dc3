"""Use cases of sla: remember what happened to an interaction, then bring its clocks up to date.

Facts are kept whatever order the events arrive in (a resolution may come before the receipt);
the clocks are derived from the facts, so the end state does not depend on the order. The
due-timer warns and breaches what no event stopped in time. Nothing here commits: the consumer,
the route or the timer loop owns the transaction.
"""

from sla.service.clocks import (
    record,
    record_received,
    record_resolved,
)
from sla.service.common import ExtensionRefused, UnknownInteraction
from sla.service.extension import extend
from sla.service.facts import Happening
from sla.service.queries import ClockReading, at_risk, clocks_of, read_clock
from sla.service.timer import fire_due

__all__ = [
    "ClockReading",
    "ExtensionRefused",
    "Happening",
    "UnknownInteraction",
    "at_risk",
    "clocks_of",
    "extend",
    "fire_due",
    "read_clock",
    "record",
    "record_received",
    "record_resolved",
]
