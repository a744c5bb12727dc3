"""Demand type, queue and urgency of contacts as people write them, in four languages."""

from __future__ import annotations

import pytest

from routing.classifier import packaged_corpus
from routing.config import Settings
from routing.domain import Contact, classify, classify_all, rank_of, triaged_demand_type
from routing.text import normalise
from routing.triage import load_red_flags, packaged_red_flags, red_flags_in, typos, word_matches

BOOK = Settings(environment="development").rule_book()
URGENT, NORMAL = "urgent", "normal"


def contact(text: str, channel: str = "whatsapp", party_kind: str = "member") -> Contact:
    """Build a normal-priority contact without a demand type, as most channels send it."""
    return Contact(channel=channel, party_kind=party_kind, priority="normal", text=text)


# (contact, demand type, queue, priority after triage)
CASES = [
    # --- the examples ---
    (contact("Dor no peito e falta de ar"), "clinical", "saude", URGENT),
    (contact("reembolso de consulta", "web"), "authorization", "autorizacoes", NORMAL),
    (contact("home care", "email"), "authorization", "autorizacoes", NORMAL),
    (contact("endoscopia", "app"), "authorization", "autorizacoes", NORMAL),
    (contact("medicamento oncológico", "phone"), "authorization", "autorizacoes", NORMAL),
    (contact("internação na UTI agora", "phone"), "urgency", "autorizacoes", URGENT),
    (contact("quero a segunda via do boleto"), "billing", "dividas", NORMAL),
    # --- Portuguese: phone transcripts, WhatsApp, e-mail, web forms ---
    (
        contact("[transcrição] Cliente: meu pai ta com dor no peito e suando frio", "phone"),
        "clinical",
        "saude",
        URGENT,
    ),
    (contact("oi minha mae desmaiou agora e nao acorda"), "clinical", "saude", URGENT),
    (contact("meu filho esta tendo uma convulsao", "chat"), "clinical", "saude", URGENT),
    (contact("a boca do meu avo ficou torta de repente", "phone"), "clinical", "saude", URGENT),
    (contact("minha esposa esta com sangramento forte", "phone"), "clinical", "saude", URGENT),
    (contact("nao quero mais viver, penso em me matar", "chat"), "clinical", "saude", URGENT),
    (
        contact("Prezados, preciso da autorização para ressonância do joelho", "email"),
        "authorization",
        "autorizacoes",
        NORMAL,
    ),
    (contact("Quero negociar minhas mensalidades atrasadas", "phone"), "debt", "dividas", NORMAL),
    (
        contact("Cirurgia bariátrica marcada, preciso da liberação", "web"),
        "high_complexity",
        "autorizacoes",
        NORMAL,
    ),
    (contact("quero cancelar meu plano", "app"), "non_coverage", "geral", NORMAL),
    (
        contact("mudei de endereço, preciso atualizar cadastro", "web"),
        "registration_update",
        "geral",
        NORMAL,
    ),
    (contact("quero incluir dependente no plano"), "enrolment", "adesoes", NORMAL),
    (
        contact("consulta de rotina com cardiologista", "app"),
        "access_specialty_consultation",
        "autorizacoes",
        NORMAL,
    ),
    (
        contact("não consigo marcar pediatra na rede, só daqui 2 meses"),
        "access_basic_consultation",
        "autorizacoes",
        NORMAL,
    ),
    (
        contact("laboratorio credenciado sem horario para exame de sangue", "phone"),
        "access_outpatient_lab",
        "autorizacoes",
        NORMAL,
    ),
    (
        contact("Glosa indevida no lote de março", "email", "provider"),
        "provider_payment",
        "prestadores",
        NORMAL,
    ),
    (
        contact("Péssimo atendimento, quero registrar uma reclamação", "phone"),
        "complaint",
        "geral",
        NORMAL,
    ),
    (contact("Qual o horário de atendimento da central?", "chat"), "information", "geral", NORMAL),
    (contact("queria saber sobre a carência do plano"), "information", "geral", NORMAL),
    # --- Spanish ---
    (
        contact("mi padre tiene dolor en el pecho y no puede respirar", "phone"),
        "clinical",
        "saude",
        URGENT,
    ),
    (contact("se desmayo mi madre y no despierta"), "clinical", "saude", URGENT),
    (contact("mi hijo tiene una convulsion", "chat"), "clinical", "saude", URGENT),
    (contact("mi hermano quiere quitarse la vida", "phone"), "clinical", "saude", URGENT),
    (
        contact("Necesito la autorización para una tomografía", "email"),
        "authorization",
        "autorizacoes",
        NORMAL,
    ),
    (contact("quiero negociar mi deuda en cuotas", "web"), "debt", "dividas", NORMAL),
    (contact("la factura de este mes vino mal, me cobraron doble"), "billing", "dividas", NORMAL),
    (contact("quiero afiliar a mi esposa como dependiente", "web"), "enrolment", "adesoes", NORMAL),
    (
        contact("programación de cirugía de rodilla, necesito aprobación", "email"),
        "high_complexity",
        "autorizacoes",
        NORMAL,
    ),
    (
        contact("no consigo turno con el dermatólogo de la red", "app"),
        "access_specialty_consultation",
        "autorizacoes",
        NORMAL,
    ),
    (
        contact("quiero presentar una queja por la mala atención", "phone"),
        "complaint",
        "geral",
        NORMAL,
    ),
    (
        contact("mi madre está en terapia intensiva ahora y piden autorización", "phone"),
        "urgency",
        "autorizacoes",
        URGENT,
    ),
    (
        contact("No recibimos el pago de honorarios", "email", "provider"),
        "provider_payment",
        "prestadores",
        NORMAL,
    ),
    (
        contact("consulta de rutina con el cardiólogo", "web"),
        "access_specialty_consultation",
        "autorizacoes",
        NORMAL,
    ),
    # --- English ---
    (contact("my dad has crushing chest pain", "phone"), "clinical", "saude", URGENT),
    (contact("she is struggling to breathe and her lips are blue"), "clinical", "saude", URGENT),
    (
        contact("my husband's face is drooping and his speech is slurred", "phone"),
        "clinical",
        "saude",
        URGENT,
    ),
    (contact("my baby has a fever and is very floppy", "chat"), "clinical", "saude", URGENT),
    (
        contact("throat swelling after a bee sting, anaphylaxis", "phone"),
        "clinical",
        "saude",
        URGENT,
    ),
    (contact("I need pre-approval for an MRI", "email"), "authorization", "autorizacoes", NORMAL),
    (contact("I want a payment plan for my overdue premiums", "web"), "debt", "dividas", NORMAL),
    (contact("I was double charged on my invoice"), "billing", "dividas", NORMAL),
    (contact("How do I enroll my newborn?", "app"), "enrolment", "adesoes", NORMAL),
    (
        contact("I can't get an appointment with a dentist in the network", "web"),
        "access_dental",
        "autorizacoes",
        NORMAL,
    ),
    (contact("I want to cancel my policy", "email"), "non_coverage", "geral", NORMAL),
    (
        contact("Remittance for last month's claims missing", "email", "provider"),
        "provider_payment",
        "prestadores",
        NORMAL,
    ),
    (
        contact("routine check-up with a cardiologist", "app"),
        "access_specialty_consultation",
        "autorizacoes",
        NORMAL,
    ),
    # --- German ---
    (contact("Mein Vater hat starke Brustschmerzen", "phone"), "clinical", "saude", URGENT),
    (contact("meine Mutter ist bewusstlos"), "clinical", "saude", URGENT),
    (contact("mein Sohn hat einen Krampfanfall", "phone"), "clinical", "saude", URGENT),
    (
        contact("Verdacht auf Schlaganfall, sie kann nicht sprechen", "phone"),
        "clinical",
        "saude",
        URGENT,
    ),
    (
        contact("Bitte um Kostenübernahme für das MRT", "email"),
        "authorization",
        "autorizacoes",
        NORMAL,
    ),
    (contact("Ich habe Schulden und möchte eine Ratenzahlung", "web"), "debt", "dividas", NORMAL),
    (contact("Die Rechnung ist doppelt abgebucht worden"), "billing", "dividas", NORMAL),
    (
        contact("Geplante Chemotherapie, bitte genehmigen", "email"),
        "high_complexity",
        "autorizacoes",
        NORMAL,
    ),
    (
        contact("ich bekomme keinen Termin beim Kinderarzt im Netz", "app"),
        "access_basic_consultation",
        "autorizacoes",
        NORMAL,
    ),
    (
        contact("Die Abrechnung für März fehlt", "email", "provider"),
        "provider_payment",
        "prestadores",
        NORMAL,
    ),
    (contact("Ich möchte meinen Vertrag kündigen", "web"), "non_coverage", "geral", NORMAL),
    # --- second instance and the regulator ---
    (
        contact("Protocolo anterior sem solução", "ombudsman"),
        "ombudsman_second_instance",
        "ouvidoria",
        NORMAL,
    ),
    (
        contact("NIP: negativa de cobertura de ressonância", "regulator"),
        "nip_assistencial",
        "ouvidoria",
        NORMAL,
    ),
]


@pytest.mark.parametrize(("given", "demand_type", "queue", "priority"), CASES)
def test_demand_type_queue_and_urgency(
    given: Contact, demand_type: str, queue: str, priority: str
) -> None:
    decision = classify(given, BOOK)
    assert (decision.demand_type, decision.queue, decision.priority) == (
        demand_type,
        queue,
        priority,
    )
    assert decision.priority_raised is (priority == URGENT)


def test_a_batch_is_classified_as_each_contact_alone() -> None:
    contacts = [given for given, *_ in CASES]

    assert classify_all(contacts, BOOK) == [classify(given, BOOK) for given in contacts]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    "text",
    [
        "quero a segunda via do boleto",
        "consulta de rotina com cardiologista",
        "a operadora não responde meus e-mails",
        "preciso do exame de sangue de rotina",
        "minha pressão está controlada, quero renovar a receita",
        "la factura de este mes vino mal",
        "I'd like to update my address",
        "Die Rechnung ist zu hoch",
        "quero cancelar o plano",
        "o boleto não chegou pelo correio",
        "segunda via do boleto",
        "consulta de rotina com cardiologista",
        "Ich bekomme in keinem Labor des Netzes einen Termin",
        "Die Vergütung für März fehlt",
        "quiero dar de baja el plan",
        "necesito la factura de marzo para el reintegro",
        "please send me a copy of my contract",
        "ich möchte meine Adresse ändern",
        "a consulta com o ortopedista foi ótima, obrigado",
        "I'd like a routine check-up with my GP",
        "ok",
        "obrigado",
    ],
)
def test_ordinary_requests_are_not_flagged(text: str) -> None:
    assert red_flags_in(text, packaged_red_flags()) == ()


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("meu pai ta com dorr no peitto", "chest_pain"),
        ("faltta de ar desde ontem", "breathing_difficulty"),
        ("minha mae desmaioou", "unconscious"),
        ("sangramentto forte", "heavy_bleeding"),
        ("mi nene de tres semanas tiene fiebre y esta muy decaiido", "child_fever_lethargy"),
        ("dolor de pehco", "chest_pain"),
        ("she is strugglign to breathe", "breathing_difficulty"),
        ("my son had a siezure", "seizure"),
        ("Brusstschmerzen seit einer Stunde", "chest_pain"),
        ("er ist bewustlos", "unconscious"),
        ("estou no pronto socoro agora", "urgent_care_request"),
        ("estou no pronto-socorro e pedem a guia", "urgent_care_request"),
        ("estamos en la sala de urgenicas", "urgent_care_request"),
        ("necesito una ambulancia", "urgent_care_request"),
        ("at the emergncy room with my wife", "urgent_care_request"),
        ("my dad is in intensive care", "urgent_care_request"),
        ("wir sind in der Notaufnahme", "urgent_care_request"),
        ("Notfall! bitte Kostenzusage", "urgent_care_request"),
    ],
)
def test_misspelt_red_flags_and_requests_for_urgent_care_are_flagged(text: str, flag: str) -> None:
    assert flag in red_flags_in(text, packaged_red_flags())


@pytest.mark.parametrize(
    ("word", "pattern", "typos_found"),
    [
        ("respirar", "respirar", 0),
        ("respriar", "respirar", 1),
        ("emergnecy", "emergency", 1),
        ("eergency", "emergency", 1),
        ("urgencas", "urgencias", 1),
        ("vergutung", "vergiftung", 2),
        ("boleto", "desmaio", 3),
    ],
)
def test_typos_count_missing_extra_changed_and_swapped_letters(
    word: str, pattern: str, typos_found: int
) -> None:
    assert typos(word, pattern, 2) == min(typos_found, 3)


@pytest.mark.parametrize(
    ("word", "pattern", "matches"),
    [
        ("peito", "peito", True),
        ("feito", "peito", False),  # five letters: no typo tolerated
        ("desmaoiu", "desmaiou", True),
        ("decaaido", "decaid*", True),
        ("letargica", "letargi*", True),
        ("vergutung", "vergiftung", False),  # ten letters: one typo, not two
        ("consciencia", "inconsciente", False),
        ("brusstschmerzen", "brustschmerz*", True),
    ],
)
def test_words_match_with_typos_scaled_to_their_length(
    word: str, pattern: str, matches: bool
) -> None:
    assert word_matches(word, pattern) is matches


@pytest.mark.parametrize(
    ("text", "demand_type"),
    [
        ("estou no pronto socorro e o hospital pede a autorização", "urgency"),
        ("need emergency approval for the operation on my wife", "urgency"),
        ("el hospital de la red no me atiende en la guardia", "access_urgency"),
    ],
)
def test_a_request_for_urgent_care_is_urgent(text: str, demand_type: str) -> None:
    decision = classify(contact(text), BOOK)
    assert decision.priority == URGENT
    assert "urgent_care_request" in decision.flags
    assert decision.demand_type == demand_type


@pytest.mark.parametrize(
    ("demand_type", "flags", "triaged"),
    [
        ("information", ("urgent_care_request",), "information"),
        ("registration_update", ("urgent_care_request",), "registration_update"),
        ("authorization", ("urgent_care_request",), "urgency"),
        ("access_specialty_consultation", ("urgent_care_request",), "access_urgency"),
        ("information", ("chest_pain", "urgent_care_request"), "clinical"),
        ("billing", ("seizure",), "clinical"),
    ],
)
def test_asking_for_emergency_care_is_no_clinical_sign(
    demand_type: str, flags: tuple[str, ...], triaged: str
) -> None:
    assert triaged_demand_type(demand_type, flags) == triaged


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("dor no peito", "chest_pain"),
        ("DOR NO PEITO", "chest_pain"),
        ("dor forte no peito", "chest_pain"),
        ("dor no peto", "chest_pain"),
        ("falta de ar", "breathing_difficulty"),
        ("dificuldade para respirrar", "breathing_difficulty"),
        ("convulção", "seizure"),
        ("desmaiou", "unconscious"),
        ("dolor de pecho", "chest_pain"),
        ("sangrado abundante", "heavy_bleeding"),
        ("Brustschmerzen", "chest_pain"),
        ("Atemnot", "breathing_difficulty"),
        ("shortness of breth", "breathing_difficulty"),
        ("chest pain", "chest_pain"),
        ("suicidal thoughts", "suicidal_ideation"),
        ("mi bebe tiene fiebre", "child_fever_lethargy"),
    ],
)
def test_red_flags_match_without_accents_case_or_with_a_typo(text: str, flag: str) -> None:
    assert flag in red_flags_in(text, packaged_red_flags())


def test_every_red_flag_cites_its_source() -> None:
    flags = packaged_red_flags()
    assert len(flags) >= 10
    assert all(flag.source for flag in flags)


def test_a_red_flag_file_without_a_source_is_refused() -> None:
    with pytest.raises(ValueError, match="source"):
        load_red_flags({"flags": [{"code": "x", "phrases": ["dor"]}]})


def test_triaged_urgent_work_goes_first_in_its_queue() -> None:
    decision = classify(contact("meu pai está com dor no peito"), BOOK)
    rank = rank_of(
        priority=decision.priority,
        channel="whatsapp",
        queue=decision.queue,
        demand_type=decision.demand_type,
        breached=False,
    )
    assert rank == 0
    assert decision.flags == ("chest_pain",)


def test_a_given_demand_type_stays_and_urgency_still_rises() -> None:
    given = Contact(
        channel="phone",
        party_kind="member",
        priority="normal",
        demand_type="billing",
        text="liguei pelo boleto mas meu marido está com falta de ar agora",
    )
    decision = classify(given, BOOK)
    assert (decision.demand_type, decision.priority, decision.queue) == (
        "billing",
        "urgent",
        "saude",
    )
    assert decision.matched_rule == "triage-red-flags"


def test_held_out_contacts_never_appear_in_training() -> None:
    train = {example.text for example in packaged_corpus("train")}
    held_out = packaged_corpus("eval")
    assert len(held_out) >= 300
    assert {example.locale for example in held_out} == {"pt-BR", "es", "en", "de"}
    assert not train & {example.text for example in held_out}
    # Nor folded: no held-out contact is a training one with other accents, case or punctuation.
    folded = {normalise(text) for text in train}
    assert not [example.text for example in held_out if normalise(example.text) in folded]
