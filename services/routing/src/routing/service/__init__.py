"""Use cases of routing: queue work, offer it, follow the agents' actions; never commits.

Locking, so that two instances never offer one interaction twice nor exceed an agent's capacity:
every offer is made holding the agent's row (FOR UPDATE) and the interaction's row, and counts
the agent's open work per channel under that lock; a unique partial index allows one open offer
or assignment per interaction whatever the code does. Blocking locks are taken in one order (an
assignment, its agent, then interactions): the consumer, holding the agents of a batch's offers,
waits for interactions to re-rank them for their clocks, so nobody may hold an interaction while
waiting for an agent. Queueing takes agents, and an agent takes waiting work, only with SKIP
LOCKED, so nothing waits in a cycle. Work or capacity that an action frees
is offered right after its commit (`after_commit`), each offer in a transaction of its own; the
timer loop's sweep catches what a race between two such commits left unoffered.
"""

from routing.service.agents import (
    agent_assignments,
    get_agent,
    put_agent,
    queue_figures,
    set_status,
)
from routing.service.assignments import (
    accept,
    assignment_view,
    complete,
    reject,
    reopen,
    resume,
    transfer,
    wait,
)
from routing.service.common import Follow
from routing.service.offers import (
    after_commit,
    agents_with_room,
    escalate_one,
    expire_one_offer,
    fill_agent,
    offer_interaction,
    offer_waiting,
)
from routing.service.queueing import note_deadlines, queue_received
from routing.service.reclassification import reclassify

__all__ = [
    "Follow",
    "accept",
    "after_commit",
    "agent_assignments",
    "agents_with_room",
    "assignment_view",
    "complete",
    "escalate_one",
    "expire_one_offer",
    "fill_agent",
    "get_agent",
    "note_deadlines",
    "offer_interaction",
    "offer_waiting",
    "put_agent",
    "queue_figures",
    "queue_received",
    "reject",
    "reopen",
    "reclassify",
    "resume",
    "set_status",
    "transfer",
    "wait",
]
