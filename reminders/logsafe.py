"""Keep secrets out of logs: every value of a *TOKEN*, *SECRET*, *KEY* or *PASSWORD*
environment variable is replaced by '***' in every log record, whoever logs it
(python-telegram-bot logs its API URL, which holds the bot token, at DEBUG)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD", re.I)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()
        return True


def install(env: Mapping[str, str]) -> RedactSecrets:
    """Attach the filter to every handler of the root logger."""
    redact = RedactSecrets([value for name, value in env.items() if SECRET_NAME.search(name) and value])
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    return redact
