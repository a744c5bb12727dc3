"""Survey's settings: safe defaults, placeholders refused in production, data files valid."""

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from atende_events.guard import InsecureSettings
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


REAL_INTAKE_KEY = "Jt5wQ9xL2vR7mK4pZ8nB3sH6yC1fD0gAeUo"
PRODUCTION: dict[str, object] = {
    "environment": "production",
    "api_keys": {"Vn3kR8xQ2wL7pT4mZ9bH6sJ1cF5yD0gAeU": {"followups:read"}},
    "intake_api_key": REAL_INTAKE_KEY,
    "database_url": "postgresql+asyncpg://survey:Pq7wX2mK9vL4tR8zN3bH6jC1fS5dG0yA@db/survey",
}


@pytest.mark.parametrize(
    "overrides",
    [
        {"intake_api_key": "dev-intake-survey"},
        {"intake_api_key": "DEV-intake-survey-but-long-enough-to-pass-length"},
        {"smtp_password": "s3Kr7q"},
        {"message_webhook_token": "change-me-change-me-change-me-change-me"},
    ],
)
def test_production_refuses_weak_survey_secrets(overrides: dict[str, object]) -> None:
    with pytest.raises((InsecureSettings, ValidationError)) as refused:
        Settings(**(PRODUCTION | overrides))  # type: ignore[arg-type]
    for secret in overrides.values():
        assert str(secret) not in str(refused.value)


def test_production_starts_with_real_keys() -> None:
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]
    assert settings.intake_api_key == REAL_INTAKE_KEY


def test_smtp_upgrades_to_tls_by_default() -> None:
    assert Settings.model_fields["smtp_starttls"].default is True


def test_a_messages_file_without_the_default_locale_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "messages.yaml"
    path.write_text("default_locale: fr\nlocales: {}\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="default locale"):
        Settings(messages_path=str(path)).messages()
