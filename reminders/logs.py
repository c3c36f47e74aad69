"""Logging for every process: one format (text, or JSON lines with REMINDERS_LOG_FORMAT=json),
and secrets kept out of every record.

Every value of a *TOKEN*, *SECRET*, *KEY* or *PASSWORD* setting -- and every secret a process
learns while it runs (`remember`: a rotated Zalo OA token pair) -- is replaced by '***' in
every log record, whoever logs it and whichever handler writes it: the message, its arguments
and the traceback of an exception (python-telegram-bot logs its API URL, which holds the bot
token, at DEBUG; a self-hosted Bot API server echoes it in its errors). Tokens in feed and
board paths are replaced too (uvicorn's access log)."""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
                 "process": record.process}
        if record.exc_info or record.exc_text:
            # exc_text is the traceback as `RedactSecrets` left it (secrets taken out).
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

# Tokens that live in URLs (access logs): feed and board links.
TOKEN_PATH = re.compile(r"(/(?:feeds|board|admin/login)/)[A-Za-z0-9_-]+")
MIN_SECRET = 6  # shorter values would blank out ordinary words
_configured: list[str] = []  # this process's configured secrets (set by `install`)
_learned: list[str] = []  # secrets learned while running (`remember`), the latest last
MAX_LEARNED = 64
_secrets: list[str] = []  # both, with their URL-encoded forms, longest first


def _refresh() -> None:
    values = {s for s in (*_configured, *_learned) if len(s) >= MIN_SECRET}
    values |= {quote(s, safe="") for s in values}  # as it appears in a URL ("4242%3AABC")
    _secrets[:] = sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every configured secret, and tokens in feed or board paths, replaced by
    '***': for anything said about an error -- logged, stored (delivery.error, the audit
    trail) or shown (`reminders audit`, `deliveries`) -- since a platform's error may echo
    the request URL, bot token included."""
    redacted = TOKEN_PATH.sub(r"\1***", text)
    for secret in _secrets:
        redacted = redacted.replace(secret, "***")
    return redacted


def remember(*secrets: str) -> None:
    """Secrets this process learned while running (a refreshed token pair): redacted from
    now on, like the configured ones. The last MAX_LEARNED are kept."""
    fresh = [s for s in secrets if s and len(s) >= MIN_SECRET and s not in _learned]
    if fresh:
        _learned.extend(fresh)
        del _learned[:-MAX_LEARNED]
        _refresh()


def _redact_arg(value: object) -> object:
    if isinstance(value, (int, float)) or value is None:
        return value  # numbers hold no secret, and %d must still get a number
    text = value if isinstance(value, str) else str(value)
    redacted = redact(text)
    return value if redacted == text else redacted


def redact_record(record: logging.LogRecord) -> None:
    """Take the secrets out of a record in place: its message, its arguments (kept as
    arguments, so formatters that read them, like uvicorn's access log, still work) and the
    text of its exception and stack."""
    if getattr(record, "reminders_redacted", False):
        return
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    elif record.msg is not None and redact(str(record.msg)) != str(record.msg):
        record.msg = redact(str(record.msg))
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(arg) for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: _redact_arg(arg) for key, arg in record.args.items()}
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: the logging module reports it; nothing to add here
        message = None
    if message is not None and redact(message) != message:  # a secret made of several arguments
        record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record.reminders_redacted = True


class RedactSecrets(logging.Filter):
    """Every log record, whoever logs it, through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_factory_installed: list[Callable[..., logging.LogRecord]] = []


def _install_factory() -> None:
    """Records are redacted when they are made, whichever logger makes them and whichever
    handler (added now or later, or logging's last resort) writes them."""
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    _factory_installed.append(previous)
    logging.setLogRecordFactory(factory)


def install(secrets: Iterable[str]) -> RedactSecrets:
    """Remember the process's secrets (for `redact`), redact every log record as it is made,
    and attach the filter to every handler of the root logger and of uvicorn's loggers and
    to logging's last resort (records made before this call, or by other means)."""
    _configured[:] = [s for s in secrets if s]
    _refresh()
    _install_factory()
    redactor = RedactSecrets()
    handlers = [logging.lastResort] if logging.lastResort is not None else []
    for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error"):
        handlers.extend(logging.getLogger(name).handlers)
    for handler in handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(redactor)
    return redactor
