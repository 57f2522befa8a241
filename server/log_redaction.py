"""Access log lines with the secret values of query strings blanked: a mailed verify link carries
its token in the URL, and an OAuth callback its code and state."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"([?&](?:token|code|state)=)[^&\s\"]*")


def redact(text: str) -> str:
    return _SECRET.sub(r"\1[redacted]", text)


class RedactQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        record.msg = redact(record.msg) if isinstance(record.msg, str) else record.msg
        return True


def install(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactQuery) for f in logger.filters):
        logger.addFilter(RedactQuery())
