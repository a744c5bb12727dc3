"""Use cases of the survey service: load rows, apply the domain, write rows and outbox events.

Nothing here commits: the caller (a route, a consumer or the timer) owns the transaction.
"""

from survey.service.decisions import on_resolved, purge_receptions, record_receptions
from survey.service.dispatch import Dispatcher, dispatch_next, expire_due
from survey.service.followups import list_followups, open_next_followup
from survey.service.responses import (
    AlreadyAnswered,
    Gone,
    NotFound,
    answer,
    opt_out,
    questions,
)

__all__ = [
    "AlreadyAnswered",
    "Dispatcher",
    "Gone",
    "NotFound",
    "answer",
    "dispatch_next",
    "expire_due",
    "list_followups",
    "on_resolved",
    "open_next_followup",
    "opt_out",
    "purge_receptions",
    "questions",
    "record_receptions",
]
