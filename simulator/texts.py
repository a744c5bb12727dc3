"""What simulated people write: subjects and descriptions per demand, in pt-BR, es, de and en.

The words are chosen so that routing's keyword rules have real work to do in four languages.
"""

from __future__ import annotations

TEXTS: dict[str, list[tuple[str, str, str]]] = {
    # demand -> [(locale, subject, description)]
    "enrolment": [
        ("pt-BR", "Inclusão de dependente", "Quero incluir minha filha recém-nascida no plano."),
        ("pt-BR", "Adesão ao plano", "Minha empresa aderiu ao plano, como faço minha adesão?"),
        ("es", "Afiliación", "Quiero afiliar a mi esposa como dependiente del plan."),
        ("en", "Enrolment", "I would like to enrol my son as a dependant on my plan."),
    ],
    "debt": [
        (
            "pt-BR",
            "Boleto atrasado",
            "Estou com duas mensalidades em atraso e quero negociar a dívida.",
        ),
        ("pt-BR", "Segunda via do boleto", "Preciso da segunda via do boleto para pagamento."),
        ("es", "Deuda", "Tengo una deuda con el plan y quiero negociar un acuerdo de pago."),
        (
            "de",
            "Zahlungsrückstand",
            "Ich habe einen Zahlungsrückstand und möchte eine Ratenzahlung.",
        ),
    ],
    "provider_payment": [
        ("pt-BR", "Pagamento de honorários", "O pagamento das guias de março não foi creditado."),
        ("pt-BR", "Glosa", "Recebemos glosa indevida nas contas médicas do mês passado."),
        ("es", "Pago de honorarios", "No hemos recibido el pago de honorarios de febrero."),
    ],
    "authorization": [
        ("pt-BR", "Autorização de exame", "Preciso de autorização para uma ressonância magnética."),
        ("pt-BR", "Guia negada", "Minha guia de fisioterapia foi negada, quero entender o motivo."),
        ("es", "Autorización", "Necesito la autorización para una tomografía."),
        ("de", "Kostenübernahme", "Ich brauche eine Genehmigung für eine MRT-Untersuchung."),
        ("en", "Authorisation", "I need prior authorisation for an MRI scan."),
    ],
    "high_complexity": [
        (
            "pt-BR",
            "Cirurgia eletiva",
            "Meu médico pediu internação eletiva para cirurgia bariátrica.",
        ),
        ("en", "Elective admission", "My doctor requested an elective admission for knee surgery."),
    ],
    "clinical": [
        ("pt-BR", "Orientação de enfermagem", "Estou com febre alta e dor no peito desde ontem."),
        ("es", "Síntomas", "Mi hijo tiene fiebre y dificultad para respirar."),
        ("en", "Nurse line", "I have chest pain and shortness of breath."),
    ],
    "information": [
        ("pt-BR", "Rede credenciada", "Quais hospitais da rede credenciada atendem em Campinas?"),
        ("de", "Netzwerk", "Welche Kliniken gehören zum Netzwerk in Porto Alegre?"),
        ("en", "Network", "Is the new clinic on Rua Augusta part of the network?"),
    ],
    "registration_update": [
        ("pt-BR", "Atualização cadastral", "Mudei de endereço e quero atualizar meu cadastro."),
        ("es", "Actualizar datos", "Quiero actualizar mi correo y mi teléfono."),
    ],
    "complaint": [
        (
            "pt-BR",
            "Reclamação",
            "Quero registrar uma reclamação: a resposta anterior não resolveu.",
        ),
        ("pt-BR", "Ouvidoria", "Recorro à ouvidoria porque o protocolo anterior não foi atendido."),
        ("es", "Reclamo", "Presento un reclamo porque mi problema sigue sin solución."),
    ],
}
