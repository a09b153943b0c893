"""The notifier port: how an escalated alert leaves the kiosk (§5.1, §5.4).

Two adapters: the screens (each role's console shows it) and e-mail over SMTP to a server the site
configures. Both are told; a failing mail server is logged and never stops the screens hearing.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Any, Callable, Protocol

logger = logging.getLogger(__name__)


class NotificationFailed(Exception):
    """An outgoing channel could not deliver."""


class Notifier(Protocol):
    """Something that tells people in given roles about an alert."""

    def notify(self, roles: tuple[str, ...], alert: dict[str, Any]) -> None:
        """Deliver or raise NotificationFailed."""


class ScreenNotifier:
    """Publishes ``alert_escalated`` to every screen; each role's console picks out its own."""

    def __init__(self, publish: Callable[[str, dict[str, Any]], None]) -> None:
        self.publish = publish

    def notify(self, roles: tuple[str, ...], alert: dict[str, Any]) -> None:
        """Tell the screens."""
        self.publish("alert_escalated", {**alert, "notify_roles": list(roles)})


class SmtpNotifier:
    """Mails the addresses configured for each role through a local or site mail server."""

    def __init__(self, host: str, port: int, sender: str, recipients: dict[str, list[str]],
                 timeout: float = 5.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.recipients = recipients

    def notify(self, roles: tuple[str, ...], alert: dict[str, Any]) -> None:
        """Send one mail to everyone configured for these roles."""
        to = sorted({addr for role in roles for addr in self.recipients.get(role, [])})
        if not to:
            return
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = f"[{alert.get('rule', '')}] 告警未确认 / unacknowledged alert: {alert.get('kind')} at {alert.get('subject')}"
        msg.set_content(
            f"告警 {alert.get('kind')}（{alert.get('rule')}）于 {alert.get('raised_at')} 发生，尚未确认。\n"
            f"Alert {alert.get('kind')} ({alert.get('rule')}) raised at {alert.get('raised_at')} is not acknowledged.\n\n"
            f"{alert.get('message', '')}\n\nAlert id: {alert.get('id')}\n")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationFailed(f"mail to {', '.join(to)} via {self.host}:{self.port} failed: {exc}") from exc


def from_config(config: dict[str, Any], publish: Callable[[str, dict[str, Any]], None]) -> list[Any]:
    """The notifiers a configuration asks for: always the screens, and SMTP when a host is set."""
    notifiers: list[Any] = [ScreenNotifier(publish)]
    if config.get("SMTP_HOST"):
        def split(text: str) -> list[str]:
            return [a.strip() for a in str(text or "").split(",") if a.strip()]

        notifiers.append(SmtpNotifier(config["SMTP_HOST"], int(config["SMTP_PORT"]), config["SMTP_FROM"],
                                      {"supervisor": split(config["NOTIFY_SUPERVISOR"]),
                                       "security": split(config["NOTIFY_SECURITY"]),
                                       "management": split(config["NOTIFY_SECURITY"])}))
    return notifiers
