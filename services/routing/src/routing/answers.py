"""What a completion must record: a conclusive answer, and for a denial its reason and basis.

ANS RN 623/2024 asks for a conclusive, reasoned answer in plain language, in writing; "em
análise", "em processamento" or "em auditoria" are not answers, and a denial states its reason
and the contract clause or legal provision behind it. Pure rules: no clock, no database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from atende_events.routing import Outcome, Resolution

NEEDS_DENIAL_GROUNDS = frozenset({Outcome.DENIED, Outcome.PARTIALLY_AUTHORISED})
"""Outcomes that refuse something, so that they state the reason and the clause or provision."""

HOLDING_PHRASES: dict[str, tuple[str, ...]] = {
    "pt-BR": (
        "em analise",
        "sob analise",
        "aguardando analise",
        "pendente de analise",
        "em processamento",
        "em auditoria",
        "aguardando auditoria",
        "em avaliacao",
        "em andamento",
        "em tramitacao",
        "aguardando parecer",
    ),
    "es": (
        "en analisis",
        "bajo analisis",
        "en proceso",
        "en procesamiento",
        "en tramite",
        "en revision",
        "bajo revision",
        "pendiente de revision",
        "en evaluacion",
        "en auditoria",
    ),
    "en": (
        "under review",
        "under analysis",
        "being reviewed",
        "being processed",
        "being analysed",
        "being analyzed",
        "pending review",
        "in review",
        "in progress",
        "under audit",
        "under evaluation",
        "under consideration",
    ),
    "de": (
        "in bearbeitung",
        "wird bearbeitet",
        "in prufung",
        "in der prufung",
        "wird gepruft",
        "in begutachtung",
        "wird begutachtet",
    ),
}
"""Holding notes per language, lower case and without accents: what RN 623 refuses as answers."""

VERDICTS: dict[str, tuple[str, ...]] = {
    "pt-BR": ("autorizad", "aprovad", "deferid", "indeferid", "negad", "liberad", "recusad"),
    "es": ("autorizad", "aprobad", "denegad", "rechazad", "concedid"),
    "en": ("authorised", "authorized", "approved", "denied", "declined", "rejected", "granted"),
    "de": ("genehmigt", "abgelehnt", "bewilligt", "zugesagt"),
}
"""Word beginnings that state a decision; an answer holding one is more than a holding note."""

NEGATIONS = frozenset({"nao", "ainda", "no", "todavia", "aun", "not", "yet", "nicht", "noch"})
"""Words that, just before a decision word, take the decision back ("not yet approved")."""

_HOLDING = re.compile(
    r"\b(?:" + "|".join(re.escape(p) for ps in HOLDING_PHRASES.values() for p in ps) + r")\b"
)
_VERDICT_STEMS = tuple(stem for stems in VERDICTS.values() for stem in stems)
_WORD = re.compile(r"\w+")


def plain(text: str) -> str:
    """Lower-case a text and take its accents off, so that every spelling compares the same."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def holding_phrases(answer: str) -> tuple[str, ...]:
    """List the holding phrases an answer uses, in order."""
    return tuple(
        match.group(0) for match in _HOLDING.finditer(" ".join(_WORD.findall(plain(answer))))
    )


def states_a_decision(answer: str) -> bool:
    """Tell whether an answer states a decision not taken back by a negation just before it."""
    words = _WORD.findall(plain(answer))
    for at, word in enumerate(words):
        if word.startswith(_VERDICT_STEMS) and not NEGATIONS.intersection(
            words[max(0, at - 2) : at]
        ):
            return True
    return False


def is_holding_note(answer: str) -> bool:
    """Tell whether an answer only says the request is still being looked at."""
    return bool(holding_phrases(answer)) and not states_a_decision(answer)


@dataclass(frozen=True)
class Completion:
    """What an agent says when completing: the resolution and, for a resolved one, the answer."""

    resolution: Resolution
    outcome: Outcome | None = None
    answer: str | None = None
    denial_reason: str | None = None
    legal_basis: str | None = None


@dataclass(frozen=True)
class FieldProblem:
    """A field of the completion that is missing or does not fit, and why."""

    field: str
    message: str
    type: str


def completion_problems(completion: Completion) -> tuple[FieldProblem, ...]:
    """List what keeps a completion from being recorded; empty when it can be.

    A resolved completion is a conclusive answer: an outcome and a written answer that is more
    than a holding note; a denial or partial authorisation also its reason and legal basis. An
    unresolved completion records no answer (the work goes back to a queue).
    """
    c = completion
    problems: list[FieldProblem] = []
    if c.resolution is Resolution.UNRESOLVED:
        for name in ("outcome", "answer", "denial_reason", "legal_basis"):
            if getattr(c, name) is not None:
                problems.append(
                    FieldProblem(
                        name,
                        "an unresolved completion records no answer; resolve it to answer",
                        "answer_without_resolution",
                    )
                )
        return tuple(problems)
    if c.outcome is None:
        problems.append(
            FieldProblem("outcome", "a resolved interaction needs its outcome", "missing")
        )
    if c.answer is None:
        problems.append(
            FieldProblem("answer", "a resolved interaction needs the written answer", "missing")
        )
    elif is_holding_note(c.answer):
        said = ", ".join(repr(phrase) for phrase in dict.fromkeys(holding_phrases(c.answer)))
        problems.append(
            FieldProblem(
                "answer",
                f"the answer only says the request is being handled ({said}); ANS RN 623/2024 "
                "takes no holding note as an answer: state the decision, or complete unresolved",
                "holding_note",
            )
        )
    if c.outcome in NEEDS_DENIAL_GROUNDS:
        for name, what in (
            ("denial_reason", "its reason"),
            ("legal_basis", "the contract clause or legal provision"),
        ):
            if getattr(c, name) is None:
                problems.append(
                    FieldProblem(name, f"a {c.outcome.value} answer states {what}", "missing")
                )
    elif c.denial_reason is not None:
        problems.append(
            FieldProblem(
                "denial_reason",
                "only a denied or partially authorised answer has a denial reason",
                "not_a_denial",
            )
        )
    return tuple(problems)
