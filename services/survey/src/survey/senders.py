"""The two ways a survey link leaves: e-mail over SMTP and SMS/WhatsApp through an HTTP webhook."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import httpx

from atende_events.survey import SurveyMedium
from survey.config import Settings


class SendFailed(Exception):
    """The message was not accepted; the caller retries later."""


async def send_email(settings: Settings, *, to: str, subject: str, body: str) -> None:
    """Hand an e-mail to the SMTP server."""
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SendFailed(f"smtp: {exc!r}") from exc


async def send_short_message(
    client: httpx.AsyncClient,
    settings: Settings,
    *,
    medium: SurveyMedium,
    to: str,
    text: str,
    reference: str,
) -> None:
    """POST an SMS or WhatsApp message to the message webhook."""
    headers = {"Idempotency-Key": reference}
    if settings.message_webhook_token:
        headers["Authorization"] = f"Bearer {settings.message_webhook_token}"
    try:
        answer = await client.post(
            settings.message_webhook_url,
            json={"medium": medium.value, "to": to, "text": text, "reference": reference},
            headers=headers,
        )
    except httpx.HTTPError as exc:
        raise SendFailed(f"webhook: {exc!r}") from exc
    if not answer.is_success:
        raise SendFailed(f"webhook: {answer.status_code}")
