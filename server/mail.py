"""Sending mail: a small Protocol, the SMTP sender (aiosmtplib) and the stand-in used when no
SMTP server is configured. Logs name the user by id, never the address nor what the mail says."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from server.settings import Settings

log = logging.getLogger("wingman.mail")


@dataclass(frozen=True)
class Mail:
    user: str  # the account it is for, which is all a log line may name
    to: str
    subject: str
    text: str


class MailSender(Protocol):
    async def send(self, mail: Mail) -> None: ...


class MailError(Exception):
    """A mail that could not be handed to the SMTP server; says nothing of the address."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://[user:pass@]host[:port] or smtps://")
        implicit = parts.scheme == "smtps"
        return cls(parts.hostname, parts.port or (465 if implicit else 587), implicit,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


class SmtpSender:
    """One SMTP conversation per mail: mails are rare, and a held connection would time out."""

    def __init__(self, server: SmtpServer, sender: str, timeout: float) -> None:
        self._server = server
        self._from = sender
        self._timeout = timeout

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._from, mail.to, mail.subject
        message.set_content(mail.text)
        s = self._server
        try:
            # start_tls=None upgrades plain smtp:// whenever the server offers STARTTLS.
            await aiosmtplib.send(message, hostname=s.host, port=s.port, username=s.username,
                                  password=s.password, use_tls=s.implicit_tls,
                                  start_tls=None if not s.implicit_tls else False,
                                  timeout=self._timeout)
        except (aiosmtplib.SMTPException, OSError) as err:
            # The library's message can quote the refused recipient: keep only its kind.
            raise MailError(f"SMTP {s.host}:{s.port} refused or failed: "
                            f"{type(err).__name__}") from None
        log.info("sent a mail to user %s (%s)", mail.user, mail.subject)


class UnsentMail:
    """No SMTP_URL: say so for every mail, instead of pretending it went out."""

    async def send(self, mail: Mail) -> None:
        log.warning("mail is not configured (SMTP_URL unset): a mail to user %s (%s) was "
                    "not sent", mail.user, mail.subject)


@asynccontextmanager
async def open_mail(settings: Settings) -> AsyncIterator[MailSender]:
    if not settings.smtp_url:
        log.warning("mail is not configured (SMTP_URL unset): verification and reset mails "
                    "will not be sent")
        yield UnsentMail()
        return
    server = SmtpServer.parse(settings.smtp_url)
    log.info("mail goes through %s:%d", server.host, server.port)
    yield SmtpSender(server, settings.mail_from, settings.smtp_timeout_seconds)
