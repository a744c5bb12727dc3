"""The survey's pure rules: eligibility, timing, media, locales, categories and driver themes."""

import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from atende_events.intake import Channel, Priority
from atende_events.routing import Resolution
from atende_events.survey import NpsCategory, SkipReason, SurveyMedium
from survey import domain
from survey.config import Settings
from survey.domain import Resolved, Schedule, Skip

RESOLVED_AT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
RULES = domain.EligibilityRules(
    surveyed_channels=frozenset(Channel) - {Channel.OUTBOUND},
    clinical_queues=frozenset({"saude"}),
    fatigue_window=timedelta(days=30),
    dispatch_delay=timedelta(hours=1),
    dispatch_limit=timedelta(days=3),
)
MESSAGES = Settings().messages()
THEMES = Settings().themes()


def resolved(**overrides: object) -> Resolved:
    values: dict[str, object] = {
        "channel": Channel.PHONE,
        "queue": "autorizacoes",
        "resolution": Resolution.RESOLVED,
        "sensitive": False,
        "priority": Priority.NORMAL,
        "resolved_at": RESOLVED_AT,
        **overrides,
    }
    return Resolved(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("interaction", "opted_out", "last_surveyed_at", "now", "expected"),
    [
        pytest.param(
            resolved(), False, None, RESOLVED_AT, Schedule(RESOLVED_AT + timedelta(hours=1)),
            id="eligible-sent-an-hour-later",
        ),
        pytest.param(
            resolved(resolution=Resolution.UNRESOLVED), False, None, RESOLVED_AT,
            Skip(SkipReason.UNRESOLVED), id="unresolved",
        ),
        pytest.param(
            resolved(sensitive=True), False, None, RESOLVED_AT,
            Skip(SkipReason.SENSITIVE), id="marked-sensitive",
        ),
        pytest.param(
            resolved(priority=Priority.URGENT), False, None, RESOLVED_AT,
            Skip(SkipReason.SENSITIVE), id="urgent",
        ),
        pytest.param(
            resolved(queue="saude"), False, None, RESOLVED_AT,
            Skip(SkipReason.SENSITIVE), id="clinical-queue",
        ),
        pytest.param(
            resolved(priority=None), False, None, RESOLVED_AT,
            Schedule(RESOLVED_AT + timedelta(hours=1)), id="reception-unseen-still-eligible",
        ),
        pytest.param(
            resolved(channel=Channel.OUTBOUND), False, None, RESOLVED_AT,
            Skip(SkipReason.CHANNEL_NOT_SURVEYED), id="outbound-follow-up",
        ),
        pytest.param(
            resolved(channel=Channel.WHATSAPP), False, None, RESOLVED_AT,
            Schedule(RESOLVED_AT + timedelta(hours=1)), id="whatsapp",
        ),
        pytest.param(
            resolved(), True, None, RESOLVED_AT, Skip(SkipReason.OPTED_OUT), id="opted-out",
        ),
        pytest.param(
            resolved(), False, RESOLVED_AT - timedelta(days=29, hours=23), RESOLVED_AT,
            Skip(SkipReason.SURVEYED_RECENTLY), id="surveyed-within-30-days",
        ),
        pytest.param(
            resolved(), False, RESOLVED_AT - timedelta(days=30), RESOLVED_AT,
            Schedule(RESOLVED_AT + timedelta(hours=1)), id="surveyed-30-days-ago",
        ),
        pytest.param(
            resolved(), False, RESOLVED_AT + timedelta(hours=2), RESOLVED_AT,
            Skip(SkipReason.SURVEYED_RECENTLY), id="later-resolution-surveyed-first",
        ),
        pytest.param(
            resolved(), False, None, RESOLVED_AT + timedelta(days=3),
            Schedule(RESOLVED_AT + timedelta(hours=1)), id="exactly-3-days-late-still-sent",
        ),
        pytest.param(
            resolved(), False, None, RESOLVED_AT + timedelta(days=3, seconds=1),
            Skip(SkipReason.DISPATCH_WINDOW_PASSED), id="more-than-3-days-late",
        ),
    ],
)  # fmt: skip
def test_eligibility(
    interaction: Resolved,
    opted_out: bool,
    last_surveyed_at: datetime | None,
    now: datetime,
    expected: Schedule | Skip,
) -> None:
    decision = domain.decide(
        interaction, RULES, opted_out=opted_out, last_surveyed_at=last_surveyed_at, now=now
    )
    assert decision == expected


@pytest.mark.parametrize(
    ("delay", "limit", "due_after"),
    [
        (timedelta(0), timedelta(days=3), timedelta(0)),
        (timedelta(days=5), timedelta(days=3), timedelta(days=3)),
        (timedelta(minutes=5), timedelta(days=1), timedelta(minutes=5)),
    ],
)
def test_a_survey_is_never_due_later_than_the_limit(
    delay: timedelta, limit: timedelta, due_after: timedelta
) -> None:
    rules = domain.EligibilityRules(
        surveyed_channels=frozenset({Channel.PHONE}),
        clinical_queues=frozenset(),
        fatigue_window=timedelta(days=30),
        dispatch_delay=delay,
        dispatch_limit=limit,
    )
    decision = domain.decide(
        resolved(), rules, opted_out=False, last_surveyed_at=None, now=RESOLVED_AT
    )
    assert decision == Schedule(RESOLVED_AT + due_after)


@pytest.mark.parametrize(
    ("channel", "email", "phone", "expected"),
    [
        (Channel.PHONE, "ana@example.com", "+5511999990000", SurveyMedium.EMAIL),
        (Channel.WHATSAPP, "ana@example.com", "+5511999990000", SurveyMedium.WHATSAPP),
        (Channel.WHATSAPP, "ana@example.com", None, SurveyMedium.EMAIL),
        (Channel.CHAT, None, "+5511999990000", SurveyMedium.SMS),
        (Channel.CHAT, None, None, None),
        (Channel.CHAT, "", "", None),
    ],
)
def test_medium_follows_the_contact_data(
    channel: Channel, email: str | None, phone: str | None, expected: SurveyMedium | None
) -> None:
    medium = domain.choose_medium(
        channel=channel, email=email, phone=phone, phone_medium=SurveyMedium.SMS
    )
    assert medium == expected


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, timedelta(seconds=30)), (2, timedelta(seconds=60)), (4, timedelta(seconds=240)),
     (10, timedelta(minutes=30))],
)  # fmt: skip
def test_retries_back_off_doubling_up_to_a_cap(attempt: int, expected: timedelta) -> None:
    delay = domain.retry_delay(attempt, first=timedelta(seconds=30), maximum=timedelta(minutes=30))
    assert delay == expected


@pytest.mark.parametrize(
    ("nps", "category"),
    [(0, NpsCategory.DETRACTOR), (6, NpsCategory.DETRACTOR), (7, NpsCategory.PASSIVE),
     (8, NpsCategory.PASSIVE), (9, NpsCategory.PROMOTER), (10, NpsCategory.PROMOTER)],
)  # fmt: skip
def test_nps_category(nps: int, category: NpsCategory) -> None:
    assert domain.categorise(nps) is category


@pytest.mark.parametrize(
    ("nps", "may_contact", "wanted"),
    [(3, True, True), (6, True, True), (6, False, False), (7, True, False), (10, True, False)],
)
def test_only_a_detractor_who_allows_contact_gets_a_followup(
    nps: int, may_contact: bool, wanted: bool
) -> None:
    assert domain.followup_wanted(domain.categorise(nps), may_contact=may_contact) is wanted


@pytest.mark.parametrize(
    ("comment", "themes"),
    [
        ("Demorou demais, fiquei 40 minutos na fila", ("wait_time",)),
        ("A atendente foi muito educada", ("courtesy",)),
        ("Minha autorização foi negada sem explicação", ("authorisation",)),
        ("El boleto llegó con un cobro duplicado", ("billing",)),
        ("Ich habe zu lange gewartet und die Rechnung ist falsch", ("billing", "wait_time")),
        ("The app keeps logging me out", ("digital_channels",)),
        ("Nenhum hospital da rede credenciada aceita", ("provider_network",)),
        ("Tudo ótimo, obrigado", ("other",)),
        ("   ", ()),
        (None, ()),
        ("rapp", ("other",)),
    ],
)
def test_comments_are_tagged_with_driver_themes(
    comment: str | None, themes: tuple[str, ...]
) -> None:
    assert domain.tag_themes(comment, THEMES) == themes


@pytest.mark.parametrize(
    ("wanted", "locale"),
    [("pt-BR", "pt-BR"), ("pt", "pt-BR"), ("pt-PT", "pt-BR"), ("es-AR", "es"), ("de-DE", "de"),
     ("en", "en"), ("EN-gb", "en"), ("fr", "pt-BR"), (None, "pt-BR")],
)  # fmt: skip
def test_the_closest_locale_with_texts_is_used(wanted: str | None, locale: str) -> None:
    assert MESSAGES.locale_for(wanted) == locale


@pytest.mark.parametrize("locale", ["pt-BR", "es", "de", "en"])
@pytest.mark.parametrize("medium", list(SurveyMedium))
def test_every_message_carries_the_link_and_the_protocol(locale: str, medium: SurveyMedium) -> None:
    subject, body = domain.link_message(
        MESSAGES.locales[locale],
        medium=medium,
        protocol="34567820261123000042",
        link="https://s.example/v1/surveys/abc",
        days=7,
    )
    assert "https://s.example/v1/surveys/abc" in body
    assert "34567820261123000042" in subject + body


def test_the_stored_token_is_its_sha256_not_the_token() -> None:
    token = "k4LrYq5d7T0mRk8G3vJxZ1cWnA9sFhUeBpQoLiDyXt0"
    assert domain.hash_token(token) != token
    assert len(domain.hash_token(token)) == 64
    assert domain.hash_token(token) == domain.hash_token(token)


def test_a_token_names_its_survey_and_carries_256_random_bits() -> None:
    survey_id = uuid4()
    tokens = {domain.new_token(survey_id) for _ in range(100)}

    assert len(tokens) == 100, "never the same token twice"
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{65}", token), "URL-safe, no padding"
        assert domain.survey_id_of(token) == survey_id


@pytest.mark.parametrize(
    "token",
    [
        "k4LrYq5d7T0mRk8G3vJxZ1cWnA9sFhUeBpQoLiDyXt0",  # a token of the earlier shape
        "",
        "!" * 65,
        "A" * 21 + "=" + "B" * 43,
    ],
)
def test_a_token_of_another_shape_names_no_survey(token: str) -> None:
    assert domain.survey_id_of(token) is None
