"""Survey's settings: safe defaults, placeholders refused in production, data files valid."""

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from atende_events.intake import Channel
from survey.config import Settings


def test_defaults_follow_the_issue() -> None:
    settings = Settings()
    assert Channel.OUTBOUND not in settings.surveyed_channels
    assert settings.surveyed_channels == frozenset(Channel) - {Channel.OUTBOUND}
    assert settings.clinical_queues == frozenset({"saude"})
    assert settings.fatigue_window == timedelta(days=30)
    assert settings.dispatch_delay == timedelta(hours=1)
    assert settings.dispatch_limit == timedelta(days=3)
    assert settings.token_lifetime == timedelta(days=7)


def test_every_locale_has_every_text() -> None:
    messages = Settings().messages()
    assert set(messages.locales) == {"pt-BR", "es", "de", "en"}
    assert messages.default_locale == "pt-BR"


def test_every_theme_of_the_issue_has_keywords() -> None:
    themes = Settings().themes()
    assert set(themes.themes) | {themes.fallback} == {
        "wait_time", "resolution", "courtesy", "authorisation", "billing", "provider_network",
        "digital_channels", "other",
    }  # fmt: skip
    assert all(themes.themes.values())


@pytest.mark.parametrize(
    "overrides",
    [
        {"environment": "production", "api_keys": {"real-key-123": {"followups:read"}}},
        {"environment": "production", "intake_api_key": "dev-intake-survey"},
    ],
)
def test_production_refuses_the_development_intake_key(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(**overrides)  # type: ignore[arg-type]


def test_production_starts_with_real_keys() -> None:
    settings = Settings(
        environment="production",
        api_keys={"real-key-123": {"followups:read"}},
        intake_api_key="a-real-intake-key",
    )
    assert settings.intake_api_key == "a-real-intake-key"


def test_a_messages_file_without_the_default_locale_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "messages.yaml"
    path.write_text("default_locale: fr\nlocales: {}\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="default locale"):
        Settings(messages_path=str(path)).messages()
