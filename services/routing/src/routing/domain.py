"""Pure rules of routing: classify a contact to a queue, order waiting work, choose an agent."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routing.text import normalise as normalise
from routing.triage import RedFlag, red_flags_in

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Keyword = Annotated[str, Field(min_length=1, max_length=200, pattern=r"[A-Za-z0-9À-ÿ]")]

URGENT_CLINICAL_RANK = 0
ESCALATED_CHANNEL_RANK = 1
BREACHED_RANK = 2
NORMAL_RANK = 3
SECOND_INSTANCE_CHANNELS = frozenset({"ombudsman", "regulator"})
CLINICAL_DEMAND = "clinical"
CLINICAL_QUEUE = "saude"
URGENT_DEMANDS = frozenset({CLINICAL_DEMAND, "urgency", "access_urgency"})
"""Demand types whose urgent work goes first in its queue."""
URGENT_CARE_DEMANDS = frozenset({"urgency", "access_urgency"})
"""Requests for urgent or emergency care: answered at once whatever the front end said."""
URGENT_CARE_FLAG = "urgent_care_request"
"""The flag triage gives a request for urgent or emergency care (not a clinical red flag)."""
COVERAGE_REQUESTS = frozenset({"authorization", "high_complexity", "urgency"})
OMBUDSMAN_DEMAND = "ombudsman_second_instance"
NIP_COVERAGE, NIP_OTHER = "nip_assistencial", "nip_nao_assistencial"
TRIAGE_RULE = "triage-red-flags"
"""The matched rule of urgent work triage sent to the nurse line."""
NEVER = datetime.min.replace(tzinfo=UTC)
"""The idle-since of an agent who never had work: longer idle than anyone."""


class InvalidRules(ValueError):
    """The routing rules file cannot be used; the message names the bad rule."""


# --- Text --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    """A keyword compiled for matching in normalised text padded with a space at each end.

    Normalised text is words of [a-z0-9] separated by one space, so a keyword without a `*`
    appears as a whole word exactly when " keyword " is a substring: a plain substring search,
    many times cheaper than a regex (there are nearly 200 keywords and each contact is checked
    against most of them). A keyword with a `*` still needs its regex, tried only when its
    longest literal piece is there.
    """

    literal: str
    pattern: re.Pattern[str] | None = None

    def found_in(self, padded: str) -> bool:
        """Tell whether the phrase appears as whole words in the padded normalised text."""
        return self.literal in padded and (
            self.pattern is None or self.pattern.search(padded) is not None
        )


def keyword_phrase(keyword: str) -> Phrase:
    """Compile a keyword into a whole-word phrase; `*` stands for any letters within a word."""
    words = [[normalise(piece) for piece in raw.split("*")] for raw in keyword.split()]
    if all(len(pieces) == 1 for pieces in words):
        return Phrase(f" {' '.join(pieces[0] for pieces in words if pieces[0])} ")
    body = " ".join(
        joined
        for joined in ("[a-z0-9]*".join(re.escape(piece) for piece in pieces) for pieces in words)
        if joined
    )
    longest = max((piece for pieces in words for piece in pieces), key=len)
    return Phrase(longest, re.compile(rf"(?<![a-z0-9]){body}(?![a-z0-9])"))


def padded(text: str) -> str:
    """Normalise text for `Phrase.found_in`."""
    return f" {normalise(text)} "


# --- Rules -------------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MatchSpec(_Spec):
    """What a contact must be for a rule to apply; an empty list matches anything."""

    channels: list[Name] = Field(default_factory=list)
    party_kinds: list[Name] = Field(default_factory=list)
    demand_types: list[Name] = Field(default_factory=list)
    priorities: list[Name] = Field(default_factory=list)
    related: bool | None = None
    """True: only contacts citing an earlier protocol; false: only those citing none."""
    keywords: list[Keyword] = Field(default_factory=list)
    """Any of these words or phrases in the subject or description (accents and case ignored)."""


class RuleSpec(_Spec):
    """One ordered routing rule as the file writes it."""

    id: Name
    queue: Name
    description: str = ""
    match: MatchSpec


class InferenceSpec(_Spec):
    """Words that tell a demand type when the channel gave none."""

    demand_type: Name
    party_kinds: list[Name] = Field(default_factory=list)
    keywords: list[Keyword] = Field(min_length=1)


class RulesFileSpec(_Spec):
    """The whole rules file."""

    queues: list[Name] = Field(min_length=1)
    default_queue: Name
    fallback_demand_type: Name = "other"
    reason_codes: list[Name] = Field(default_factory=list)
    inference: list[dict[str, Any]] = Field(default_factory=list)
    rules: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    """An ordered rule: every given criterion must hold for the contact to go to its queue."""

    id: str
    queue: str
    channels: frozenset[str] = frozenset()
    party_kinds: frozenset[str] = frozenset()
    demand_types: frozenset[str] = frozenset()
    priorities: frozenset[str] = frozenset()
    related: bool | None = None
    keywords: tuple[Phrase, ...] = ()


@dataclass(frozen=True)
class Inference:
    """A demand type and the words that reveal it."""

    demand_type: str
    party_kinds: frozenset[str]
    keywords: tuple[Phrase, ...]


class TextClassifier(Protocol):
    """Tells a demand type from what a person wrote (routing.classifier.DemandClassifier)."""

    def infer(self, text: str, party_kind: str) -> str | None:
        """Tell the demand type; None when the text tells nothing."""
        ...

    def infer_many(self, texts: Sequence[str], parties: Sequence[str]) -> list[str]:
        """Tell the demand type of each of many texts at once."""
        ...


@dataclass(frozen=True)
class RuleBook:
    """The queues, the ordered rules, the inference table and the reason-code taxonomy."""

    queues: tuple[str, ...]
    default_queue: str
    rules: tuple[Rule, ...]
    inference: tuple[Inference, ...] = ()
    fallback_demand_type: str = "other"
    reason_codes: frozenset[str] = frozenset()
    classifier: TextClassifier | None = None
    """The measured classifier, consulted when no inference entry of the rules file speaks."""
    red_flags: tuple[RedFlag, ...] = ()
    """Clinical red flags that raise a contact to urgent."""


def _problem(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'rule'}: {problem['msg']}"
        for problem in error.errors(include_url=False)
    )


def load_rules(document: object) -> RuleBook:
    """Validate a parsed rules file; raise InvalidRules naming the first bad rule."""
    try:
        spec = RulesFileSpec.model_validate(document)
    except ValidationError as error:
        raise InvalidRules(f"routing rules file: {_problem(error)}") from None
    queues = tuple(spec.queues)
    if spec.default_queue not in queues:
        raise InvalidRules(f"routing rules file: default_queue {spec.default_queue!r} is no queue")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(spec.rules):
        label = f"rule {raw.get('id', f'#{index + 1}')!s}"
        try:
            rule = RuleSpec.model_validate(raw)
        except ValidationError as error:
            raise InvalidRules(f"routing {label}: {_problem(error)}") from None
        if rule.id in seen:
            raise InvalidRules(f"routing {label}: the id is used by an earlier rule")
        if rule.queue not in queues:
            raise InvalidRules(f"routing {label}: unknown queue {rule.queue!r}")
        seen.add(rule.id)
        rules.append(
            Rule(
                id=rule.id,
                queue=rule.queue,
                channels=frozenset(rule.match.channels),
                party_kinds=frozenset(rule.match.party_kinds),
                demand_types=frozenset(rule.match.demand_types),
                priorities=frozenset(rule.match.priorities),
                related=rule.match.related,
                keywords=tuple(keyword_phrase(word) for word in rule.match.keywords),
            )
        )
    inference: list[Inference] = []
    for index, raw in enumerate(spec.inference):
        label = f"inference {raw.get('demand_type', f'#{index + 1}')!s}"
        try:
            entry = InferenceSpec.model_validate(raw)
        except ValidationError as error:
            raise InvalidRules(f"routing {label}: {_problem(error)}") from None
        inference.append(
            Inference(
                demand_type=entry.demand_type,
                party_kinds=frozenset(entry.party_kinds),
                keywords=tuple(keyword_phrase(word) for word in entry.keywords),
            )
        )
    return RuleBook(
        queues=queues,
        default_queue=spec.default_queue,
        rules=tuple(rules),
        inference=tuple(inference),
        fallback_demand_type=spec.fallback_demand_type,
        reason_codes=frozenset(spec.reason_codes),
    )


# --- Classification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """What routing knows of an interaction when it classifies it."""

    channel: str
    party_kind: str
    priority: str
    demand_type: str | None = None
    related: bool = False
    text: str = ""


@dataclass(frozen=True)
class QueueDecision:
    """Where a contact goes and why, and how urgent triage found it."""

    queue: str
    demand_type: str
    demand_type_inferred: bool
    matched_rule: str | None
    priority: str = "normal"
    """The priority after triage: urgent when the contact was, or when triage found it so."""
    flags: tuple[str, ...] = ()
    """The red flags triage found (and `urgent_care_request` for urgent care demands)."""
    priority_raised: bool = False
    """True when triage made urgent a contact the channel sent as normal."""


def _mentions(text: str, phrases: Iterable[Phrase]) -> bool:
    return any(phrase.found_in(text) for phrase in phrases)


def _from_rules(contact: Contact, book: RuleBook) -> str | None:
    """Tell the demand type from the rules file's inference entries, when one speaks."""
    text = padded(contact.text)
    for entry in book.inference:
        if entry.party_kinds and contact.party_kind not in entry.party_kinds:
            continue
        if _mentions(text, entry.keywords):
            return entry.demand_type
    return None


def _from_text(contact: Contact, book: RuleBook, guess: str | None) -> str:
    """Tell the demand type from the text: the rules file's inference first, then the model."""
    ruled = _from_rules(contact, book)
    if ruled is not None:
        return ruled
    if guess is not None:
        return guess
    if book.classifier is not None:
        inferred = book.classifier.infer(contact.text, contact.party_kind)
        if inferred is not None:
            return inferred
    return book.fallback_demand_type


def model_guesses(contacts: Sequence[Contact], book: RuleBook) -> dict[int, str]:
    """Ask the model at once about every contact whose type neither it nor the rules give.

    One call for a batch costs about a tenth per contact of one call each (the vectorisers
    and the linear model work on a matrix), so a consumer's run asks once.
    """
    if book.classifier is None:
        return {}
    asked = [
        n
        for n, contact in enumerate(contacts)
        if contact.demand_type is None
        and normalise(contact.text)
        and _from_rules(contact, book) is None
    ]
    if not asked:
        return {}
    guesses = book.classifier.infer_many(
        [contacts[n].text for n in asked], [contacts[n].party_kind for n in asked]
    )
    return dict(zip(asked, guesses, strict=True))


def infer_demand_type(contact: Contact, book: RuleBook, *, guess: str | None = None) -> str:
    """Tell the demand type of a contact that came without one, from channel and text.

    `guess` is the model's answer when the caller asked it for many contacts at once.
    """
    demand_type = _from_text(contact, book, guess)
    if contact.channel == "regulator":
        return (
            NIP_COVERAGE
            if demand_type in COVERAGE_REQUESTS or demand_type.startswith("access_")
            else NIP_OTHER
        )
    if contact.channel == "ombudsman" or (contact.related and demand_type == "complaint"):
        return OMBUDSMAN_DEMAND
    return demand_type


def triaged_demand_type(demand_type: str, flags: Sequence[str]) -> str:
    """The demand type of an inferred contact with clinical red flags: urgent care or clinical."""
    if not flags or demand_type in URGENT_DEMANDS or demand_type in (NIP_COVERAGE, NIP_OTHER):
        return demand_type
    clinical = any(flag != URGENT_CARE_FLAG for flag in flags)
    if demand_type in COVERAGE_REQUESTS:
        return "urgency"
    if demand_type.startswith("access_"):
        return "access_urgency"
    if demand_type == OMBUDSMAN_DEMAND or not clinical:
        # Asking about emergency care is urgent, yet no clinical sign: the question keeps its type.
        return demand_type
    return CLINICAL_DEMAND


def triage(contact: Contact, demand_type: str, book: RuleBook) -> tuple[str, ...]:
    """Give the flags that make the contact urgent: red flags, or a request for urgent care."""
    flags = red_flags_in(contact.text, book.red_flags)
    if demand_type in URGENT_CARE_DEMANDS and URGENT_CARE_FLAG not in flags:
        flags = (*flags, URGENT_CARE_FLAG)
    return flags


def rule_matches(rule: Rule, contact: Contact, *, demand_type: str, text: str) -> bool:
    """Tell whether every criterion the rule gives holds for the contact."""
    return (
        (not rule.channels or contact.channel in rule.channels)
        and (not rule.party_kinds or contact.party_kind in rule.party_kinds)
        and (not rule.demand_types or demand_type in rule.demand_types)
        and (not rule.priorities or contact.priority in rule.priorities)
        and (rule.related is None or rule.related == contact.related)
        and (not rule.keywords or _mentions(text, rule.keywords))
    )


def classify_all(contacts: Sequence[Contact], book: RuleBook) -> list[QueueDecision]:
    """Choose the queue of each contact, asking the model once for all of them."""
    guesses = model_guesses(contacts, book)
    return [classify(contact, book, guess=guesses.get(n)) for n, contact in enumerate(contacts)]


def classify(contact: Contact, book: RuleBook, *, guess: str | None = None) -> QueueDecision:
    """Choose the queue of a contact: the first matching rule, else the default queue.

    Triage comes first: clinical red flags in the text (or a request for urgent care) make the
    contact urgent, and an inferred demand type becomes urgent care or clinical. Urgent work that
    no rule sends to a queue where it goes first is sent to the nurse line. `guess` is the
    model's answer when it was asked for many contacts at once (`classify_all`).
    """
    inferred = contact.demand_type is None
    demand_type = infer_demand_type(contact, book, guess=guess) if inferred else contact.demand_type
    assert demand_type is not None
    flags = triage(contact, demand_type, book)
    if inferred:
        demand_type = triaged_demand_type(demand_type, flags)
    priority = "urgent" if flags else contact.priority
    raised = priority != contact.priority
    seen = replace(contact, priority=priority)
    text = padded(contact.text)
    queue, rule_id = book.default_queue, None
    for rule in book.rules:
        if rule_matches(rule, seen, demand_type=demand_type, text=text):
            queue, rule_id = rule.queue, rule.id
            break
    if raised and queue != CLINICAL_QUEUE and demand_type not in URGENT_DEMANDS:
        queue, rule_id = CLINICAL_QUEUE, TRIAGE_RULE
    return QueueDecision(queue, demand_type, inferred, rule_id, priority, flags, raised)


# --- Priority ----------------------------------------------------------------------------------


def rank_of(*, priority: str, channel: str, queue: str, demand_type: str, breached: bool) -> int:
    """Rank waiting work: urgent clinical, regulator and ombudsman, breached, then the rest."""
    if priority == "urgent" and (queue == CLINICAL_QUEUE or demand_type in URGENT_DEMANDS):
        return URGENT_CLINICAL_RANK
    if channel in SECOND_INSTANCE_CHANNELS:
        return ESCALATED_CHANNEL_RANK
    if breached:
        return BREACHED_RANK
    return NORMAL_RANK


@dataclass(frozen=True)
class WaitingWork:
    """An interaction waiting in a queue, as the priority order sees it."""

    id: str
    rank: int
    due_at: datetime | None
    received_at: datetime


def priority_key(work: WaitingWork) -> tuple[int, bool, datetime, datetime]:
    """Sort key of waiting work: rank, earliest deadline (none last), then arrival."""
    return (work.rank, work.due_at is None, work.due_at or work.received_at, work.received_at)


def in_priority_order(works: Iterable[WaitingWork]) -> list[WaitingWork]:
    """Order waiting work the way it is offered."""
    return sorted(works, key=priority_key)


# --- Agents ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentState:
    """An agent as the choice of an agent sees it."""

    id: str
    status: str
    skills: Mapping[str, int]
    capacity: Mapping[str, int]
    load: Mapping[str, int] = field(default_factory=dict)
    idle_since: datetime | None = None


@dataclass(frozen=True)
class Overflow:
    """Escalation step: escalated work may also go to agents of this skill and proficiency."""

    skill: str = "geral"
    min_proficiency: int = 3


@dataclass(frozen=True)
class OfferableWork:
    """What the choice of an agent needs to know about one interaction."""

    queue: str
    channel: str
    escalated: bool = False
    declined_by: frozenset[str] = frozenset()


def free_channels(agent: AgentState) -> frozenset[str]:
    """The channels on which the agent can take one more interaction."""
    return frozenset(
        channel
        for channel, capacity in agent.capacity.items()
        if capacity - agent.load.get(channel, 0) > 0
    )


def proficiency_for(agent: AgentState, work: OfferableWork, overflow: Overflow) -> int | None:
    """How well the agent fits the work's queue; None when the agent may not take it."""
    own = agent.skills.get(work.queue)
    if own is not None:
        return own
    extra = agent.skills.get(overflow.skill)
    if work.escalated and extra is not None and extra >= overflow.min_proficiency:
        return extra
    return None


def can_take(agent: AgentState, work: OfferableWork, overflow: Overflow) -> bool:
    """Tell whether the agent is available, skilled, free on the channel and has not declined."""
    return (
        agent.status == "available"
        and agent.id not in work.declined_by
        and work.channel in free_channels(agent)
        and proficiency_for(agent, work, overflow) is not None
    )


def choose_agent(
    work: OfferableWork, agents: Sequence[AgentState], overflow: Overflow
) -> AgentState | None:
    """Choose the best agent: own skill first, highest proficiency, then longest idle."""
    eligible = [agent for agent in agents if can_take(agent, work, overflow)]
    if not eligible:
        return None

    def key(agent: AgentState) -> tuple[int, int, datetime, str]:
        proficiency = proficiency_for(agent, work, overflow) or 0
        return (
            0 if work.queue in agent.skills else 1,
            -proficiency,
            agent.idle_since or NEVER,
            agent.id,
        )

    return min(eligible, key=key)


def overflow_allowed(agent: AgentState, overflow: Overflow) -> bool:
    """Tell whether the agent may take escalated work of any queue."""
    return agent.skills.get(overflow.skill, 0) >= overflow.min_proficiency


def reason_code_problem(*, queue: str, reason_code: str | None, book: RuleBook) -> str | None:
    """Say what is wrong with a completion's reason code, or None when it is acceptable."""
    if reason_code is None:
        if queue == "sucesso_cliente":
            return "a follow-up of the sucesso_cliente queue needs a reason_code"
        return None
    if book.reason_codes and reason_code not in book.reason_codes:
        return f"reason_code {reason_code!r} is not in the configured taxonomy"
    return None
