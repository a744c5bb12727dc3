"""Pure rules of the survey: eligibility, dispatch timing, media, locales, categories, themes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from atende_events.envelope import Code
from atende_events.intake import Channel, Priority
from atende_events.routing import Resolution
from atende_events.survey import NpsCategory, SkipReason, SurveyMedium, nps_category

FOLLOWUP_REASON = "detractor_may_contact"
"""The reason_code of a follow-up survey opens for a detractor who allows contact."""
UNSPECIFIED_REASON = "unspecified"
"""The reason_code recorded when the follow-up was resolved without one."""


@dataclass(frozen=True)
class EligibilityRules:
    """Which resolved interactions are surveyed, and when."""

    surveyed_channels: frozenset[Channel]
    clinical_queues: frozenset[str]
    fatigue_window: timedelta
    dispatch_delay: timedelta
    dispatch_limit: timedelta


@dataclass(frozen=True)
class Resolved:
    """What eligibility needs to know about a resolved interaction."""

    channel: Channel
    queue: str
    resolution: Resolution
    sensitive: bool
    priority: Priority | None
    """None when survey never saw the interaction's reception."""
    resolved_at: datetime


@dataclass(frozen=True)
class Schedule:
    """The survey is sent at due_at."""

    due_at: datetime


@dataclass(frozen=True)
class Skip:
    """The interaction is not surveyed, for this reason."""

    reason: SkipReason


def decide(
    interaction: Resolved,
    rules: EligibilityRules,
    *,
    opted_out: bool,
    last_surveyed_at: datetime | None,
    now: datetime,
) -> Schedule | Skip:
    """Decide whether and when a resolved interaction is surveyed."""
    if interaction.resolution is not Resolution.RESOLVED:
        return Skip(SkipReason.UNRESOLVED)
    if (
        interaction.sensitive
        or interaction.priority is Priority.URGENT
        or interaction.queue in rules.clinical_queues
    ):
        return Skip(SkipReason.SENSITIVE)
    if interaction.channel not in rules.surveyed_channels:
        return Skip(SkipReason.CHANNEL_NOT_SURVEYED)
    if opted_out:
        return Skip(SkipReason.OPTED_OUT)
    if (
        last_surveyed_at is not None
        and interaction.resolved_at - last_surveyed_at < rules.fatigue_window
    ):
        return Skip(SkipReason.SURVEYED_RECENTLY)
    if window_passed(interaction.resolved_at, now, rules.dispatch_limit):
        return Skip(SkipReason.DISPATCH_WINDOW_PASSED)
    delay = min(rules.dispatch_delay, rules.dispatch_limit)
    return Schedule(due_at=interaction.resolved_at + delay)


def window_passed(resolved_at: datetime, now: datetime, limit: timedelta) -> bool:
    """Tell whether it is too late to send a survey about this resolution."""
    return now > resolved_at + limit


@dataclass(frozen=True)
class DispatchPolicy:
    """How links are sent and retried."""

    phone_medium: SurveyMedium
    attempts: int
    first_backoff: timedelta
    max_backoff: timedelta
    token_lifetime: timedelta
    dispatch_limit: timedelta


def choose_medium(
    *, channel: Channel, email: str | None, phone: str | None, phone_medium: SurveyMedium
) -> SurveyMedium | None:
    """Pick how the link reaches the person: the channel they used when it can carry it."""
    if phone and channel is Channel.WHATSAPP:
        return SurveyMedium.WHATSAPP
    if email:
        return SurveyMedium.EMAIL
    if phone:
        return phone_medium
    return None


def retry_delay(attempt: int, *, first: timedelta, maximum: timedelta) -> timedelta:
    """Wait before the next send after `attempt` failures: doubling, capped."""
    delay: timedelta = first * 2 ** max(attempt - 1, 0)
    return min(delay, maximum)


_ID_CHARS = 22  # a UUID's 16 bytes in URL-safe base64, without padding
_TOKEN_CHARS = _ID_CHARS + 43  # then 32 random bytes: the 256 bits nobody can guess


def new_token(survey_id: UUID) -> str:
    """Make a link token: the survey's id, then 32 random bytes, all URL-safe.

    The id lets a request for the link find the survey's row, and wait for a dispatch still
    sending it to commit, before the token's hash is compared: a person quick enough to open
    the link in that window gets the survey, not a 404.
    """
    return base64.urlsafe_b64encode(survey_id.bytes).decode()[:_ID_CHARS] + secrets.token_urlsafe(
        32
    )


def survey_id_of(token: str) -> UUID | None:
    """Give the survey id a token starts with, or None for a token of another shape."""
    if len(token) != _TOKEN_CHARS:
        return None
    try:
        return UUID(bytes=base64.urlsafe_b64decode(token[:_ID_CHARS] + "=="))
    except (ValueError, binascii.Error):
        return None


def hash_token(token: str) -> str:
    """Give the SHA-256 of a survey token: the only form of it that is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def followup_wanted(category: NpsCategory, *, may_contact: bool) -> bool:
    """Tell whether an answer opens a follow-up: a detractor who allows contact."""
    return category is NpsCategory.DETRACTOR and may_contact


def categorise(nps: int) -> NpsCategory:
    """Place an NPS answer: promoter 9-10, passive 7-8, detractor 0-6."""
    return nps_category(nps)


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Questions(_Data):
    nps: str
    csat: str
    comment: str
    may_contact: str


class LocaleTexts(_Data):
    """The link message and the questions in one language."""

    subject: str
    email: str
    short: str
    questions: Questions


class Messages(_Data):
    """Texts per locale (BCP 47), and the one used when the person's locale is not among them."""

    default_locale: str
    locales: dict[str, LocaleTexts]

    @model_validator(mode="after")
    def _default_present(self) -> Messages:
        if self.default_locale not in self.locales:
            raise ValueError(f"default locale {self.default_locale!r} has no texts")
        return self

    def locale_for(self, wanted: str | None) -> str:
        """Pick the closest locale with texts: exact, then same language, then the default."""
        if not wanted:
            return self.default_locale
        by_lower = {locale.lower(): locale for locale in self.locales}
        if wanted.lower() in by_lower:
            return by_lower[wanted.lower()]
        language = wanted.split("-")[0].lower()
        for locale in self.locales:
            if locale.split("-")[0].lower() == language:
                return locale
        return self.default_locale


Keyword = Annotated[str, Field(min_length=2, max_length=100)]


class Themes(_Data):
    """Driver themes and their keywords in every language comments come in."""

    fallback: Code
    themes: dict[Code, tuple[Keyword, ...]]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def tag_themes(comment: str | None, themes: Themes) -> tuple[str, ...]:
    """Tag a comment with the driver themes whose keywords start one of its words."""
    if comment is None or not comment.strip():
        return ()
    text = _fold(comment)
    found = [
        theme
        for theme, keywords in themes.themes.items()
        if any(_matches(text, _fold(keyword)) for keyword in keywords)
    ]
    return tuple(sorted(found)) if found else (themes.fallback,)


def _matches(text: str, keyword: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(keyword), text) is not None


def link_message(
    texts: LocaleTexts, *, medium: SurveyMedium, protocol: str, link: str, days: int
) -> tuple[str, str]:
    """Write the subject and the body of the message that carries the link."""
    values: Mapping[str, object] = {"protocol": protocol, "link": link, "days": days}
    body = texts.email if medium is SurveyMedium.EMAIL else texts.short
    return texts.subject.format_map(values), body.format_map(values)
