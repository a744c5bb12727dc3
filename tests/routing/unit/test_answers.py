"""What a completion must record: conclusive answers per language, and a denial's grounds."""

from __future__ import annotations

import pytest

from atende_events.routing import Outcome, Resolution
from routing.answers import Completion, completion_problems, is_holding_note


@pytest.mark.parametrize(
    ("answer", "holding"),
    [
        # pt-BR: the holding notes RN 623/2024 names, with and without accents and filler
        ("Em análise.", True),
        ("em analise", True),
        ("Seu pedido está EM ANÁLISE pela auditoria médica.", True),
        ("Sua solicitação encontra-se em processamento; aguarde nosso contato.", True),
        ("Pedido em auditoria, prazo de 5 dias úteis.", True),
        ("Protocolo em avaliação pela equipe técnica", True),
        ("Ainda não autorizado: em análise.", True),
        # pt-BR: conclusive answers, even when they mention the analysis that led to them
        ("Seu pedido foi autorizado; a guia está liberada.", False),
        ("O pedido, que estava em análise, foi autorizado.", False),
        ("Negado: o procedimento não está no Rol da ANS.", False),
        ("A auditoria concluiu a análise e autorizou o procedimento.", False),
        ("Informamos que a carência para parto é de 300 dias.", False),
        # es
        ("Su solicitud está en análisis.", True),
        ("Solicitud en trámite", True),
        ("Pedido en revisión por auditoría", True),
        ("Su solicitud fue aprobada.", False),
        ("La cirugía fue denegada por falta de cobertura contractual.", False),
        # en
        ("Your request is under review.", True),
        ("Being processed, we will get back to you", True),
        ("Not yet approved; still under review.", True),
        ("Your request was approved.", False),
        ("Denied: home care is not covered by your plan.", False),
        # de
        ("Ihr Antrag ist in Bearbeitung.", True),
        ("Der Antrag wird geprüft", True),
        ("Noch nicht genehmigt, in Prüfung", True),
        ("Ihr Antrag wurde genehmigt.", False),
        ("Abgelehnt: die Leistung ist vertraglich ausgeschlossen.", False),
    ],
)
def test_a_holding_note_is_told_from_a_conclusive_answer(answer: str, holding: bool) -> None:
    assert is_holding_note(answer) is holding


ANSWER = "Negado: o procedimento não consta do Rol da ANS nem do contrato."
BASIS = "Lei 9.656/1998, art. 10"


@pytest.mark.parametrize(
    ("completion", "problems"),
    [
        (Completion(Resolution.RESOLVED, Outcome.INFORMED, "Informamos o prazo: 5 dias."), []),
        (
            Completion(Resolution.RESOLVED, Outcome.DENIED, ANSWER, "not_covered", BASIS),
            [],
        ),
        (Completion(Resolution.RESOLVED), [("outcome", "missing"), ("answer", "missing")]),
        (Completion(Resolution.RESOLVED, Outcome.AUTHORISED), [("answer", "missing")]),
        (
            Completion(Resolution.RESOLVED, Outcome.DENIED, ANSWER),
            [("denial_reason", "missing"), ("legal_basis", "missing")],
        ),
        (
            Completion(Resolution.RESOLVED, Outcome.DENIED, ANSWER, "not_covered"),
            [("legal_basis", "missing")],
        ),
        (
            Completion(Resolution.RESOLVED, Outcome.PARTIALLY_AUTHORISED, ANSWER, None, BASIS),
            [("denial_reason", "missing")],
        ),
        (
            Completion(Resolution.RESOLVED, Outcome.AUTHORISED, "Autorizado.", "not_covered"),
            [("denial_reason", "not_a_denial")],
        ),
        (
            Completion(Resolution.RESOLVED, Outcome.AUTHORISED, "Autorizado.", legal_basis=BASIS),
            [],
        ),
        (
            Completion(Resolution.RESOLVED, Outcome.INFORMED, "Seu pedido está em análise."),
            [("answer", "holding_note")],
        ),
        (
            Completion(Resolution.RESOLVED, Outcome.DENIED, "Under review", None, None),
            [
                ("answer", "holding_note"),
                ("denial_reason", "missing"),
                ("legal_basis", "missing"),
            ],
        ),
        (Completion(Resolution.UNRESOLVED), []),
        (
            Completion(Resolution.UNRESOLVED, Outcome.DENIED, ANSWER),
            [("outcome", "answer_without_resolution"), ("answer", "answer_without_resolution")],
        ),
    ],
)
def test_a_resolved_completion_records_a_conclusive_answer_and_a_denial_its_grounds(
    completion: Completion, problems: list[tuple[str, str]]
) -> None:
    assert [(p.field, p.type) for p in completion_problems(completion)] == problems
