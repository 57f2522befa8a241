"""SMTP_URL as operators write it, and query secrets kept out of access log lines."""

from __future__ import annotations

import pytest

from server.log_redaction import redact
from server.mail import SmtpServer


def test_smtp_urls() -> None:
    assert SmtpServer.parse("smtp://127.0.0.1:2525") == SmtpServer("127.0.0.1", 2525, False,
                                                                   None, None)
    assert SmtpServer.parse("smtp://mailer:p%40ss@mail.example") == SmtpServer(
        "mail.example", 587, False, "mailer", "p@ss")
    assert SmtpServer.parse("smtps://u:p@mail.example") == SmtpServer(
        "mail.example", 465, True, "u", "p")


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "mail.example:25"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpServer.parse(url)


def test_query_secrets_are_blanked() -> None:
    assert redact('"GET /auth/verify?token=abc-_123 HTTP/1.1"') == \
        '"GET /auth/verify?token=[redacted] HTTP/1.1"'
    assert redact("/auth/oauth/google/callback?state=s1&code=c2&x=1") == \
        "/auth/oauth/google/callback?state=[redacted]&code=[redacted]&x=1"
    assert redact("/api/sessions/1/trace?after=0&limit=10") == \
        "/api/sessions/1/trace?after=0&limit=10"
