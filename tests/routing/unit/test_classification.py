"""Classification of contacts to queues by the packaged rules, in four languages."""

from __future__ import annotations

import re

import pytest
import yaml

from routing.config import Settings
from routing.domain import (
    Contact,
    InvalidRules,
    RuleBook,
    classify,
    keyword_phrase,
    load_rules,
    normalise,
    padded,
)

BOOK = Settings().rule_book()
KEYWORDS_ONLY = load_rules(
    {
        "queues": ["geral", "dividas"],
        "default_queue": "geral",
        "inference": [{"demand_type": "debt", "keywords": ["divida*", "schulden"]}],
        "rules": [{"id": "debt", "queue": "dividas", "match": {"demand_types": ["debt"]}}],
    }
)


def contact(text: str = "", **overrides: object) -> Contact:
    """Build a member's normal phone call without a demand type; overrides replace any field."""
    fields: dict[str, object] = {
        "channel": "phone",
        "party_kind": "member",
        "priority": "normal",
        "demand_type": None,
        "related": False,
        "text": text,
        **overrides,
    }
    return Contact(**fields)  # type: ignore[arg-type]


# (contact, queue, demand type, matched rule)
CASES = [
    # Portuguese
    (contact("Quero negociar minha dívida em atraso"), "dividas", "debt", "debt-and-billing"),
    (contact("Não recebi o BOLETO da mensalidade"), "dividas", "billing", "debt-and-billing"),
    (
        contact("Preciso da autorização para ressonância"),
        "autorizacoes",
        "authorization",
        "member-authorization",
    ),
    (
        contact("Cirurgia bariátrica: quando sai a liberação?"),
        "autorizacoes",
        "high_complexity",
        "member-authorization",
    ),
    (
        contact("Quero fazer a adesão ao plano e incluir dependente"),
        "adesoes",
        "enrolment",
        "enrolment",
    ),
    (contact("Minha filha está com febre alta"), "saude", "clinical", "clinical"),
    (
        contact("Dor no peito desde ontem", priority="urgent"),
        "saude",
        "clinical",
        "urgent-clinical",
    ),
    (
        contact("Quero atualizar cadastro, mudança de endereço"),
        "geral",
        "registration_update",
        None,
    ),
    (contact("Tenho uma dúvida sobre a rede"), "geral", "information", None),
    (contact("Olá, bom dia"), "geral", "other", None),
    (  # a complaint citing an earlier protocol is the second instance (RN 323)
        contact("Reclamação: ninguém resolve", related=True),
        "ouvidoria",
        "ombudsman_second_instance",
        "second-instance-complaint",
    ),
    (contact("Reclamação sobre atendimento"), "geral", "complaint", None),
    (
        contact(
            "Quero falar com a ouvidoria sobre o protocolo anterior",
            related=True,
            demand_type="information",
        ),
        "ouvidoria",
        "information",
        "second-instance-words",
    ),
    (
        contact("Pagamento das guias de janeiro não caiu", party_kind="provider"),
        "prestadores",
        "provider_payment",
        "provider",
    ),
    (
        contact("Glosa indevida no faturamento", party_kind="provider"),
        "prestadores",
        "provider_payment",
        "provider",
    ),
    (
        contact("Autorização de exame para paciente", party_kind="provider"),
        "prestadores",
        "authorization",
        "provider",
    ),
    (
        contact("Pagamento da mensalidade", party_kind="member"),
        "dividas",
        "billing",
        "debt-and-billing",
    ),
    (
        contact("Qualquer coisa", channel="ombudsman"),
        "ouvidoria",
        "ombudsman_second_instance",
        "ombudsman-or-regulator-channel",
    ),
    (
        contact("NIP da ANS", channel="regulator", party_kind="provider"),
        "ouvidoria",
        "nip_nao_assistencial",
        "ombudsman-or-regulator-channel",
    ),
    (
        contact("", demand_type="followup", channel="outbound"),
        "sucesso_cliente",
        "followup",
        "survey-followup",
    ),
    (
        contact("dívida", demand_type="authorization"),
        "autorizacoes",
        "authorization",
        "member-authorization",
    ),
    (
        contact("", party_kind="employer", demand_type="enrolment"),
        "adesoes",
        "enrolment",
        "enrolment",
    ),
    # Spanish
    (contact("Quiero negociar mi deuda"), "dividas", "debt", "debt-and-billing"),
    (contact("La factura de este mes está mal"), "dividas", "billing", "debt-and-billing"),
    (
        contact("Necesito una autorización para resonancia"),
        "autorizacoes",
        "authorization",
        "member-authorization",
    ),
    (  # chest pain is a red flag: triage makes it urgent
        contact("Tengo fiebre y dolor en el pecho"),
        "saude",
        "clinical",
        "urgent-clinical",
    ),
    (
        contact("Quiero presentar una queja", related=True),
        "ouvidoria",
        "ombudsman_second_instance",
        "second-instance-complaint",
    ),
    (contact("Solicito afiliación de mi esposa"), "adesoes", "enrolment", "enrolment"),
    (
        contact("No recibimos el pago de honorarios", party_kind="provider"),
        "prestadores",
        "provider_payment",
        "provider",
    ),
    (
        contact("Programación de cirugía cardíaca"),
        "autorizacoes",
        "high_complexity",
        "member-authorization",
    ),
    (contact("Quiero actualizar datos"), "geral", "registration_update", None),
    # German
    (
        contact("Ich habe Schulden und möchte eine Ratenzahlung"),
        "dividas",
        "debt",
        "debt-and-billing",
    ),
    (contact("Die Rechnung ist zu hoch"), "dividas", "billing", "debt-and-billing"),
    (
        contact("Bitte um Kostenübernahme für das MRT"),
        "autorizacoes",
        "authorization",
        "member-authorization",
    ),
    (
        contact("Starke Brustschmerzen und Atemnot", priority="urgent"),
        "saude",
        "clinical",
        "urgent-clinical",
    ),
    (
        contact("Ich möchte mich beschweren", related=True),
        "ouvidoria",
        "ombudsman_second_instance",
        "second-instance-complaint",
    ),
    (
        contact("Die Abrechnung für März fehlt", party_kind="provider"),
        "prestadores",
        "provider_payment",
        "provider",
    ),
    (contact("Familienversicherung für mein Kind"), "adesoes", "enrolment", "enrolment"),
    (contact("Entschuldigung, eine Auskunft bitte"), "geral", "information", None),
    (contact("Geplante Chemotherapie"), "autorizacoes", "high_complexity", "member-authorization"),
    # English
    (contact("I want a payment plan for my overdue debt"), "dividas", "debt", "debt-and-billing"),
    (contact("My invoice shows a wrong premium"), "dividas", "billing", "debt-and-billing"),
    (
        contact("I need pre-approval for an MRI"),
        "autorizacoes",
        "authorization",
        "member-authorization",
    ),
    (
        contact("Shortness of breath, need a nurse", priority="urgent"),
        "saude",
        "clinical",
        "urgent-clinical",
    ),
    (
        contact("This is a formal complaint", related=True),
        "ouvidoria",
        "ombudsman_second_instance",
        "second-instance-complaint",
    ),
    (contact("How do I enroll my newborn?"), "adesoes", "enrolment", "enrolment"),
    (
        contact("Remittance for last month's claims missing", party_kind="provider"),
        "prestadores",
        "provider_payment",
        "provider",
    ),
    (contact("Change of address please"), "geral", "registration_update", None),
    (
        contact("Elective admission next week"),
        "autorizacoes",
        "high_complexity",
        "member-authorization",
    ),
]


@pytest.mark.parametrize(("given", "queue", "demand_type", "rule"), CASES)
def test_classifies_to_the_queue_of_the_first_matching_rule(
    given: Contact, queue: str, demand_type: str, rule: str | None
) -> None:
    decision = classify(given, BOOK)
    assert (decision.queue, decision.demand_type, decision.matched_rule) == (
        queue,
        demand_type,
        rule,
    )
    assert decision.demand_type_inferred is (given.demand_type is None)


def test_the_table_covers_enough_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Dívida ATRASADA", "divida atrasada"),
        ("Kostenübernahme, bitte!", "kostenubernahme bitte"),
        ("autorización", "autorizacion"),
        ("Straße", "strasse"),
        ("  pre-approval  ", "pre approval"),
    ],
)
def test_normalise_drops_accents_case_and_punctuation(text: str, folded: str) -> None:
    assert normalise(text) == folded


@pytest.mark.parametrize(
    ("text", "queue"),
    [
        ("minha dívida", "dividas"),
        ("MINHA DIVIDA", "dividas"),
        ("minhas dividas", "dividas"),
        ("individual", "geral"),  # a keyword matches whole words, not inside another word
        ("Entschuldigung", "geral"),  # "schulden" is not inside "entschuldigung"
    ],
)
def test_keywords_ignore_accents_and_case_and_match_whole_words(text: str, queue: str) -> None:
    assert classify(contact(text), KEYWORDS_ONLY).queue == queue


def _rules(*rules: dict[str, object]) -> dict[str, object]:
    return {"queues": ["geral", "dividas"], "default_queue": "geral", "rules": list(rules)}


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (_rules({"id": "debt", "queue": "nowhere", "match": {}}), "rule debt: unknown queue"),
        (
            _rules({"id": "debt", "queue": "dividas", "match": {"colour": ["red"]}}),
            "rule debt: match.colour",
        ),
        (_rules({"id": "debt", "queue": "dividas"}), "rule debt: match"),
        (
            _rules(
                {"id": "a", "queue": "dividas", "match": {}},
                {"id": "a", "queue": "geral", "match": {}},
            ),
            "rule a: the id is used",
        ),
        (_rules({"queue": "dividas", "match": {}}), "rule #1: id"),
        ({"queues": ["geral"], "default_queue": "dividas"}, "default_queue 'dividas' is no queue"),
        ({"rules": []}, "queues"),
    ],
)
def test_an_invalid_rules_file_is_refused_naming_the_bad_rule(
    document: dict[str, object], named: str
) -> None:
    with pytest.raises(InvalidRules) as refused:
        load_rules(document)
    assert named in str(refused.value)


def test_the_packaged_rules_use_every_default_queue() -> None:
    queues = {rule.queue for rule in BOOK.rules} | {BOOK.default_queue}
    assert queues == {
        "adesoes",
        "dividas",
        "prestadores",
        "autorizacoes",
        "ouvidoria",
        "saude",
        "sucesso_cliente",
        "geral",
    }


def test_rules_given_as_yaml_load_into_ordered_rules() -> None:
    book: RuleBook = load_rules(
        yaml.safe_load(
            """
            queues: [geral, dividas]
            default_queue: geral
            rules:
              - {id: first, queue: dividas, match: {keywords: ["dívida"]}}
              - {id: second, queue: geral, match: {keywords: ["divida"]}}
            """
        )
    )
    assert classify(contact("DIVIDA"), book).matched_rule == "first"


def _reference(keyword: str, text: str) -> bool:
    """Whole-word matching as a regex per keyword spells it, the plain way."""
    words = [
        "[a-z0-9]*".join(re.escape(normalise(p)) for p in w.split("*")) for w in keyword.split()
    ]
    body = " ".join(word for word in words if word)
    return re.search(rf"(?<![a-z0-9]){body}(?![a-z0-9])", normalise(text)) is not None


@pytest.mark.parametrize(
    "keyword",
    [
        "boleto",
        "segunda via",
        "2ª via",
        "e-mail",
        "autoriza*",
        "reembols* médic*",
        "*ção",
        "ÓRTESE",
    ],
)
@pytest.mark.parametrize(
    "text",
    [
        "Preciso da segunda via do boleto",
        "boletos atrasados",
        "Meu e-mail mudou; 2a via por email",
        "Quero saber da autorização do exame",
        "pedido de reembolso médico negado",
        "solicitação de órtese",
        "",
        "via",
    ],
)
def test_a_phrase_matches_exactly_where_its_whole_word_regex_would(keyword: str, text: str) -> None:
    assert keyword_phrase(keyword).found_in(padded(text)) == _reference(keyword, text)
