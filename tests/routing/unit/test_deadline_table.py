"""Policy, due date and queue of contacts as people write them: routing, then sla's book.

Each row is one contact received on Thursday 2026-12-17 at 10:00 in Sao Paulo: routing
classifies it (demand type and queue, urgency raised by triage), and sla's policy book decides
its clocks and their deadlines from that receipt, counted on the book's calendars (Friday
2026-12-25 and Friday 2027-01-01 are holidays). Deadlines are local times; "24:00" is the end of
that day. Pure functions only: no database, no Kafka.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
import yaml

from routing.config import Settings
from routing.domain import Contact, classify
from sla.domain.book import load_book
from sla.domain.policies import Facts, match_policies

RULES = Settings(environment="development").rule_book()
BOOK = load_book(yaml.safe_load((resources.files("sla") / "policies.yaml").read_text()))
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
RECEIVED = datetime(2026, 12, 17, 10, 0, tzinfo=SAO_PAULO)

URGENCY = {"ans-rn623-urgency": "2026-12-17 12:00"}
COVERAGE = {"ans-rn623-coverage": "2026-12-24 24:00"}
HIGH_COMPLEXITY = {"ans-rn623-high-complexity": "2027-01-04 24:00"}
OTHER = {"ans-rn623-other": "2026-12-29 24:00"}
PHONE = {"op-phone-first-response": "2026-12-17 10:00:20"}
CHAT = {"op-chat-first-response": "2026-12-17 10:01"}
RESOLVED = {"op-resolution-2-business-days": "2026-12-21 18:00"}
"""The operation's own target: resolved within 2 business days of 08:00-18:00."""


def local(due: datetime) -> str:
    """Write a deadline as the operator reads it; midnight is the end of the day before."""
    due = due.astimezone(SAO_PAULO)
    if (due.hour, due.minute, due.second) == (0, 0, 0):
        return f"{(due - timedelta(days=1)).date().isoformat()} 24:00"
    return due.strftime("%Y-%m-%d %H:%M:%S" if due.second else "%Y-%m-%d %H:%M")


def contact(
    text: str,
    channel: str,
    party_kind: str = "member",
    *,
    priority: str = "normal",
    demand_type: str | None = None,
    related: bool = False,
) -> Contact:
    """Build a contact as its channel sends it."""
    return Contact(channel, party_kind, priority, demand_type, related, text)


# (contact, demand type, queue, {policy: deadline})
CASES: list[tuple[Contact, str, str, dict[str, str]]] = [
    (
        contact("Dor no peito e falta de ar", "whatsapp"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("reembolso de consulta", "web"),
        "authorization",
        "autorizacoes",
        {**COVERAGE, **RESOLVED},
    ),
    (contact("home care", "email"), "authorization", "autorizacoes", {**COVERAGE, **RESOLVED}),
    (contact("endoscopia", "app"), "authorization", "autorizacoes", {**COVERAGE, **RESOLVED}),
    (
        contact("medicamento oncológico", "phone"),
        "authorization",
        "autorizacoes",
        {**COVERAGE, **PHONE, **RESOLVED},
    ),
    (
        contact("internação na UTI agora", "phone"),
        "urgency",
        "autorizacoes",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("quero a segunda via do boleto", "whatsapp"),
        "billing",
        "dividas",
        {**OTHER, **CHAT, **RESOLVED},
    ),
    (
        contact("[transcrição] Cliente: meu pai ta com dor no peito e suando frio", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("oi minha mae desmaiou agora e nao acorda", "whatsapp"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("meu filho esta tendo uma convulsao", "chat"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("a boca do meu avo ficou torta de repente", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("minha esposa esta com sangramento forte", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("nao quero mais viver, penso em me matar", "chat"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("Prezados, preciso da autorização para ressonância do joelho", "email"),
        "authorization",
        "autorizacoes",
        {**COVERAGE, **RESOLVED},
    ),
    (
        contact("Quero negociar minhas mensalidades atrasadas", "phone"),
        "debt",
        "dividas",
        {**OTHER, **PHONE, **RESOLVED},
    ),
    (
        contact("Cirurgia bariátrica marcada, preciso da liberação", "web"),
        "high_complexity",
        "autorizacoes",
        {**HIGH_COMPLEXITY, **RESOLVED},
    ),
    (contact("quero cancelar meu plano", "app"), "non_coverage", "geral", {**OTHER, **RESOLVED}),
    (
        contact("mudei de endereço, preciso atualizar cadastro", "web"),
        "registration_update",
        "geral",
        {**OTHER, **RESOLVED},
    ),
    (
        contact("quero incluir dependente no plano", "whatsapp"),
        "enrolment",
        "adesoes",
        {**OTHER, **CHAT, **RESOLVED},
    ),
    (
        contact("consulta de rotina com cardiologista", "app"),
        "access_specialty_consultation",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-specialty-consultation": "2027-01-08 24:00", **RESOLVED},
    ),
    (
        contact("não consigo marcar pediatra na rede, só daqui 2 meses", "whatsapp"),
        "access_basic_consultation",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-basic-consultation": "2026-12-29 24:00", **CHAT, **RESOLVED},
    ),
    (
        contact("laboratorio credenciado sem horario para exame de sangue", "phone"),
        "access_outpatient_lab",
        "autorizacoes",
        {
            "ans-rn566-outpatient-lab": "2026-12-22 24:00",
            "ans-rn623-outpatient-lab": "2026-12-22 24:00",
            **PHONE,
            **RESOLVED,
        },
    ),
    (
        contact("Glosa indevida no lote de março", "email", "provider"),
        "provider_payment",
        "prestadores",
        {**RESOLVED},
    ),
    (
        contact("Péssimo atendimento, quero registrar uma reclamação", "phone"),
        "complaint",
        "geral",
        {**OTHER, **PHONE, **RESOLVED},
    ),
    (
        contact("Qual o horário de atendimento da central?", "chat"),
        "information",
        "geral",
        {**OTHER, **CHAT, **RESOLVED},
    ),
    (
        contact("queria saber sobre a carência do plano", "whatsapp"),
        "information",
        "geral",
        {**OTHER, **CHAT, **RESOLVED},
    ),
    (
        contact("mi padre tiene dolor en el pecho y no puede respirar", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("se desmayo mi madre y no despierta", "whatsapp"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("mi hijo tiene una convulsion", "chat"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("mi hermano quiere quitarse la vida", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("Necesito la autorización para una tomografía", "email"),
        "authorization",
        "autorizacoes",
        {**COVERAGE, **RESOLVED},
    ),
    (
        contact("quiero negociar mi deuda en cuotas", "web"),
        "debt",
        "dividas",
        {**OTHER, **RESOLVED},
    ),
    (
        contact("la factura de este mes vino mal, me cobraron doble", "whatsapp"),
        "billing",
        "dividas",
        {**OTHER, **CHAT, **RESOLVED},
    ),
    (
        contact("quiero afiliar a mi esposa como dependiente", "web"),
        "enrolment",
        "adesoes",
        {**OTHER, **RESOLVED},
    ),
    (
        contact("programación de cirugía de rodilla, necesito aprobación", "email"),
        "high_complexity",
        "autorizacoes",
        {**HIGH_COMPLEXITY, **RESOLVED},
    ),
    (
        contact("no consigo turno con el dermatólogo de la red", "app"),
        "access_specialty_consultation",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-specialty-consultation": "2027-01-08 24:00", **RESOLVED},
    ),
    (
        contact("quiero presentar una queja por la mala atención", "phone"),
        "complaint",
        "geral",
        {**OTHER, **PHONE, **RESOLVED},
    ),
    (
        contact("mi madre está en terapia intensiva ahora y piden autorización", "phone"),
        "urgency",
        "autorizacoes",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("No recibimos el pago de honorarios", "email", "provider"),
        "provider_payment",
        "prestadores",
        {**RESOLVED},
    ),
    (
        contact("consulta de rutina con el cardiólogo", "web"),
        "access_specialty_consultation",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-specialty-consultation": "2027-01-08 24:00", **RESOLVED},
    ),
    (
        contact("my dad has crushing chest pain", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("she is struggling to breathe and her lips are blue", "whatsapp"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("my husband's face is drooping and his speech is slurred", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("my baby has a fever and is very floppy", "chat"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("throat swelling after a bee sting, anaphylaxis", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("I need pre-approval for an MRI", "email"),
        "authorization",
        "autorizacoes",
        {**COVERAGE, **RESOLVED},
    ),
    (
        contact("I want a payment plan for my overdue premiums", "web"),
        "debt",
        "dividas",
        {**OTHER, **RESOLVED},
    ),
    (
        contact("I was double charged on my invoice", "whatsapp"),
        "billing",
        "dividas",
        {**OTHER, **CHAT, **RESOLVED},
    ),
    (contact("How do I enroll my newborn?", "app"), "enrolment", "adesoes", {**OTHER, **RESOLVED}),
    (
        contact("I can't get an appointment with a dentist in the network", "web"),
        "access_dental",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-dental": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact("I want to cancel my policy", "email"),
        "non_coverage",
        "geral",
        {**OTHER, **RESOLVED},
    ),
    (
        contact("Remittance for last month's claims missing", "email", "provider"),
        "provider_payment",
        "prestadores",
        {**RESOLVED},
    ),
    (
        contact("routine check-up with a cardiologist", "app"),
        "access_specialty_consultation",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-specialty-consultation": "2027-01-08 24:00", **RESOLVED},
    ),
    (
        contact("Mein Vater hat starke Brustschmerzen", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("meine Mutter ist bewusstlos", "whatsapp"),
        "clinical",
        "saude",
        {**URGENCY, **CHAT, **RESOLVED},
    ),
    (
        contact("mein Sohn hat einen Krampfanfall", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("Verdacht auf Schlaganfall, sie kann nicht sprechen", "phone"),
        "clinical",
        "saude",
        {**URGENCY, **PHONE, **RESOLVED},
    ),
    (
        contact("Bitte um Kostenübernahme für das MRT", "email"),
        "authorization",
        "autorizacoes",
        {**COVERAGE, **RESOLVED},
    ),
    (
        contact("Ich habe Schulden und möchte eine Ratenzahlung", "web"),
        "debt",
        "dividas",
        {**OTHER, **RESOLVED},
    ),
    (
        contact("Die Rechnung ist doppelt abgebucht worden", "whatsapp"),
        "billing",
        "dividas",
        {**OTHER, **CHAT, **RESOLVED},
    ),
    (
        contact("Geplante Chemotherapie, bitte genehmigen", "email"),
        "high_complexity",
        "autorizacoes",
        {**HIGH_COMPLEXITY, **RESOLVED},
    ),
    (
        contact("ich bekomme keinen Termin beim Kinderarzt im Netz", "app"),
        "access_basic_consultation",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-basic-consultation": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact("Die Abrechnung für März fehlt", "email", "provider"),
        "provider_payment",
        "prestadores",
        {**RESOLVED},
    ),
    (
        contact("Ich möchte meinen Vertrag kündigen", "web"),
        "non_coverage",
        "geral",
        {**OTHER, **RESOLVED},
    ),
    (
        contact("Protocolo anterior sem solução", "ombudsman"),
        "ombudsman_second_instance",
        "ouvidoria",
        {"ans-rn323-ombudsman": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact("NIP: negativa de cobertura de ressonância", "regulator"),
        "nip_assistencial",
        "ouvidoria",
        {"ans-rn483-nip-assistencial": "2026-12-24 24:00", **RESOLVED},
    ),
    (
        contact(
            "Já reclamei no SAC e nada: meu pai está com dor no peito e a internação foi negada",
            "ombudsman",
            related=True,
        ),
        "ombudsman_second_instance",
        "saude",
        {**URGENCY, "ans-rn323-ombudsman": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact(
            "Reclamei no SAC há 10 dias e o reembolso da consulta não saiu",
            "ombudsman",
            related=True,
        ),
        "ombudsman_second_instance",
        "ouvidoria",
        {"ans-rn323-ombudsman": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact(
            "Ouvidoria: minha filha precisa de cirurgia urgente e a guia não sai",
            "ombudsman",
            priority="urgent",
        ),
        "ombudsman_second_instance",
        "ouvidoria",
        {**URGENCY, "ans-rn323-ombudsman": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact(
            "Quero recorrer da resposta do SAC sobre meu reembolso",
            "phone",
            demand_type="ombudsman_second_instance",
            related=True,
        ),
        "ombudsman_second_instance",
        "ouvidoria",
        {"ans-rn323-second-instance": "2026-12-29 24:00", **PHONE, **RESOLVED},
    ),
    (
        contact(
            "Segunda instância: discordo da negativa do exame",
            "app",
            demand_type="ombudsman_second_instance",
            related=True,
        ),
        "ombudsman_second_instance",
        "ouvidoria",
        {"ans-rn323-second-instance": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact(
            "Fiz uma reclamação e ninguém respondeu, quero reclamar de novo", "app", related=True
        ),
        "ombudsman_second_instance",
        "ouvidoria",
        {"ans-rn323-second-instance": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact(
            "NIP: beneficiária relata negativa de cobertura de ressonância magnética", "regulator"
        ),
        "nip_assistencial",
        "ouvidoria",
        {"ans-rn483-nip-assistencial": "2026-12-24 24:00", **RESOLVED},
    ),
    (
        contact("NIP: beneficiário reclama de cobrança indevida na mensalidade", "regulator"),
        "nip_nao_assistencial",
        "ouvidoria",
        {"ans-rn483-nip-nao-assistencial": "2027-01-04 24:00", **RESOLVED},
    ),
    (
        contact(
            "Demanda NIP sobre prazo de autorização de cirurgia",
            "regulator",
            demand_type="nip_assistencial",
        ),
        "nip_assistencial",
        "ouvidoria",
        {"ans-rn483-nip-assistencial": "2026-12-24 24:00", **RESOLVED},
    ),
    (
        contact(
            "NIP: paciente internado aguardando liberação de UTI",
            "regulator",
            priority="urgent",
            demand_type="nip_assistencial",
        ),
        "nip_assistencial",
        "ouvidoria",
        {**URGENCY, "ans-rn483-nip-assistencial": "2026-12-24 24:00", **RESOLVED},
    ),
    (
        contact(
            "Retorno da pesquisa de satisfação: cliente detrator",
            "outbound",
            demand_type="followup",
        ),
        "followup",
        "sucesso_cliente",
        {**RESOLVED},
    ),
    (
        contact(
            "Retorno ao beneficiário sobre a autorização",
            "outbound",
            priority="urgent",
            demand_type="authorization",
        ),
        "authorization",
        "autorizacoes",
        {**RESOLVED},
    ),
    (
        contact(
            "Pagamento de honorários de março não caiu",
            "web",
            "provider",
            demand_type="provider_payment",
        ),
        "provider_payment",
        "prestadores",
        {**RESOLVED},
    ),
    (
        contact(
            "Solicito autorização de tomografia para paciente",
            "web",
            "provider",
            demand_type="authorization",
        ),
        "authorization",
        "prestadores",
        {**COVERAGE, **RESOLVED},
    ),
    (
        contact(
            "Não encontro dentista na rede para tratamento de canal",
            "web",
            demand_type="access_dental",
        ),
        "access_dental",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-dental": "2026-12-29 24:00", **RESOLVED},
    ),
    (
        contact("Preciso de vaga em hospital-dia", "web", demand_type="access_day_hospital"),
        "access_day_hospital",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-day-hospital": "2027-01-04 24:00", **RESOLVED},
    ),
    (
        contact(
            "Sem fisioterapeuta na rede perto de casa",
            "app",
            demand_type="access_health_professional_session",
        ),
        "access_health_professional_session",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-health-professional-session": "2027-01-04 24:00", **RESOLVED},
    ),
    (
        contact(
            "Não há vaga para ecocardiograma na rede",
            "email",
            demand_type="access_outpatient_diagnosis_therapy",
        ),
        "access_outpatient_diagnosis_therapy",
        "autorizacoes",
        {**COVERAGE, "ans-rn566-outpatient-diagnosis-therapy": "2027-01-04 24:00", **RESOLVED},
    ),
    (
        contact(
            "Internação eletiva para cirurgia de hérnia sem data",
            "phone",
            demand_type="access_elective_admission",
        ),
        "access_elective_admission",
        "autorizacoes",
        {
            **HIGH_COMPLEXITY,
            "ans-rn566-elective-admission": "2027-01-19 24:00",
            **PHONE,
            **RESOLVED,
        },
    ),
    (
        contact(
            "Quimioterapia sem agenda na rede credenciada",
            "phone",
            demand_type="access_high_complexity",
        ),
        "access_high_complexity",
        "autorizacoes",
        {**HIGH_COMPLEXITY, "ans-rn566-high-complexity": "2027-01-19 24:00", **PHONE, **RESOLVED},
    ),
    (
        contact(
            "Estou na emergência e o hospital não atende pelo plano",
            "chat",
            demand_type="access_urgency",
        ),
        "access_urgency",
        "autorizacoes",
        {**URGENCY, "ans-rn566-urgency": "2026-12-17 12:00", **CHAT, **RESOLVED},
    ),
    (
        contact("Quero a cópia do meu contrato", "email", demand_type="non_coverage"),
        "non_coverage",
        "geral",
        {**OTHER, **RESOLVED},
    ),
]


@pytest.mark.parametrize(("given", "demand_type", "queue", "deadlines"), CASES)
def test_policy_due_date_and_queue(
    given: Contact, demand_type: str, queue: str, deadlines: dict[str, str]
) -> None:
    decision = classify(given, RULES)
    assert (decision.demand_type, decision.queue) == (demand_type, queue)
    facts = Facts(
        channel=given.channel,
        party_kind=given.party_kind,
        queue=decision.queue,
        demand_type=decision.demand_type,
        priority=decision.priority,
    )
    matching = match_policies(facts, BOOK.policies)
    assert not matching.undecided
    due = {p.id: local(p.target.due_at(RECEIVED, p.calendar)) for p in matching.policies}
    assert due == deadlines


def test_the_table_is_large_and_covers_four_languages_and_several_channels() -> None:
    assert len(CASES) >= 60
    channels = {given.channel for given, *_ in CASES}
    assert {
        "phone",
        "whatsapp",
        "chat",
        "app",
        "web",
        "email",
        "ombudsman",
        "regulator",
    } <= channels
    assert len({given.text for given, *_ in CASES}) == len(CASES)
