"""Use cases of intake: register an interaction, read it, follow its lifecycle; never commits."""

from intake.service.following import ClockReport, LifecycleStep, follow_deadlines, follow_lifecycle
from intake.service.reading import (
    find_interaction,
    interaction_view,
    party_contact,
    party_timeline,
    tracked_answer_text,
    tracking,
)
from intake.service.registration import (
    DailyProtocolsExhausted,
    IdempotencyConflict,
    Outcome,
    Registration,
    Replay,
    UnknownRelatedProtocol,
    next_numbers,
    purge_idempotency_keys,
    register_interactions,
)

__all__ = [
    "ClockReport",
    "DailyProtocolsExhausted",
    "IdempotencyConflict",
    "LifecycleStep",
    "Outcome",
    "Registration",
    "Replay",
    "UnknownRelatedProtocol",
    "find_interaction",
    "follow_deadlines",
    "follow_lifecycle",
    "interaction_view",
    "next_numbers",
    "party_contact",
    "party_timeline",
    "purge_idempotency_keys",
    "register_interactions",
    "tracked_answer_text",
    "tracking",
]
