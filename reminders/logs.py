"""Logging for every process: one format (text, or JSON lines with REMINDERS_LOG_FORMAT=json),
and secrets kept out of every record.

Every value of a *TOKEN*, *SECRET*, *KEY* or *PASSWORD* setting is replaced by '***' in
every log record, whoever logs it (python-telegram-bot logs its API URL, which holds the
bot token, at DEBUG)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
                 "process": record.process}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

# Tokens that live in URLs (access logs): feed and board links.
TOKEN_PATH = re.compile(r"(/(?:feeds|board)/)[A-Za-z0-9_-]+")
_secrets: list[str] = []  # this process's configured secrets, longest first (set by `install`)


def redact(text: str) -> str:
    """`text` with every configured secret, and tokens in feed or board paths, replaced by
    '***': for anything said about an error -- logged, stored (delivery.error, the audit
    trail) or shown (`reminders audit`, `deliveries`) -- since a platform's error may echo
    the request URL, bot token included."""
    redacted = TOKEN_PATH.sub(r"\1***", text)
    for secret in _secrets:
        redacted = redacted.replace(secret, "***")
    return redacted


class RedactSecrets(logging.Filter):
    """Every log record, whoever logs it, through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install(secrets: Iterable[str]) -> RedactSecrets:
    """Remember the process's secrets (for `redact`) and attach the filter to every handler
    of the root logger and of uvicorn's loggers."""
    _secrets[:] = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
    redactor = RedactSecrets()
    for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(redactor)
    return redactor
