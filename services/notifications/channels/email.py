"""E-mail channel: a multipart message (plain text and HTML) over SMTP, in the supervisor's language.

The body of the delivery is the alert's JSON body plus `language`; the `Message-ID` is derived from
the delivery's `message_id`, so a retried message can be recognised as the same one.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import orjson

from services.notifications.channels.base import Channel, ChannelSpec, Delivery, DeliveryError
from services.notifications.channels.feed import FeedHub
from services.notifications.settings import NotificationsSettings

_SUBJECT_PREFIX = {
    "alert.opened": ("Peringatan", "Alert"),
    "alert.escalated": ("Eskalasi", "Escalation"),
    "alert.resolved": ("Selesai", "Resolved"),
    "alert.digest": ("Ringkasan", "Digest"),
}
_SEVERITY = {"info": ("info", "info"), "warning": ("peringatan", "warning"), "critical": ("KRITIS", "CRITICAL")}
_ACK = ("Tandai sudah ditangani", "Acknowledge")


def compose(delivery: Delivery, *, sender: str) -> EmailMessage:
    """The e-mail for a delivery (pure)."""
    body: dict[str, Any] = orjson.loads(delivery.body)
    english = body.get("language") == "en"
    pick = 1 if english else 0
    text = body.get("message", {}).get("en" if english else "id", "")
    kind = _SUBJECT_PREFIX.get(str(body.get("type")), ("Pantau", "Pantau"))[pick]
    severity = _SEVERITY.get(str(body.get("severity")), ("", ""))[pick]
    group = (body.get("group") or {}).get("name")
    subject = f"[Pantau] {kind}" + (f" ({severity})" if severity else "") + (f": {group}" if group else "")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = delivery.target
    message["Message-ID"] = f"<{delivery.message_id}@pantau>"
    message["X-Pantau-Alert-Id"] = delivery.alert_id
    ack_url = body.get("ack_url")
    ack_line = f"\n\n{_ACK[pick]}: {ack_url}" if ack_url and body.get("type") != "alert.resolved" else ""
    message.set_content(text + ack_line + "\n")
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line)
    button = (
        f'<p><a href="{html.escape(str(ack_url))}">{_ACK[pick]}</a></p>'
        if ack_url and body.get("type") != "alert.resolved"
        else ""
    )
    message.add_alternative(
        f'<!doctype html><html lang="{"en" if english else "id"}"><body>{paragraphs}{button}</body></html>',
        subtype="html",
    )
    return message


class EmailChannel:
    """Sends over plain SMTP (the relay is expected on a trusted network: no auth, no TLS here)."""

    name = "email"

    def __init__(self, *, host: str, port: int, sender: str, timeout_seconds: float) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout_seconds

    async def send(self, delivery: Delivery) -> None:
        message = compose(delivery, sender=self._sender)
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError("SMTP recipient refused", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {type(exc).__name__}") from exc

    def _send_blocking(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as client:
            client.send_message(message)

    async def close(self) -> None:
        return None


def _build(settings: NotificationsSettings, hub: FeedHub) -> Channel | None:
    if not settings.smtp_host:
        return None  # no relay configured: no e-mail deliveries are queued either
    return EmailChannel(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


def _target(supervisor: Mapping[str, Any], settings: NotificationsSettings) -> str | None:
    return (supervisor.get("email") or None) if settings.smtp_host else None


def _body(body: dict[str, Any], supervisor: Mapping[str, Any]) -> dict[str, Any]:
    # The mail is written in the supervisor's language and addressed by name.
    return {**body, "language": supervisor["language"], "supervisor_name": supervisor["name"]}


SPEC = ChannelSpec(name="email", build=_build, target=_target, body=_body)
