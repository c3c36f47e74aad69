"""Secrets the database keeps (platform tokens, feed links given again) are sealed with a key
from the environment, REMINDERS_SECRET_KEY: Fernet (AES-128-CBC with HMAC-SHA256, from the
`cryptography` package), the key derived from the setting with HKDF. A copy of the database
alone reveals nothing; a tampered value fails to open instead of being used."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "sealed:v1:"


class SealError(Exception):
    """A sealed value does not open with this key (another key, or tampered with)."""


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


class Sealer:
    """Seals and opens text with one deployment's key."""

    def __init__(self, secret_key: str):
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"reminders: values sealed in the database, v1").derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, text: str) -> str:
        return PREFIX + self._fernet.encrypt(text.encode()).decode("ascii")

    def open(self, value: str) -> str:
        if not is_sealed(value):
            raise SealError("the value is not sealed")
        try:
            return self._fernet.decrypt(value.removeprefix(PREFIX).encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SealError("the value does not open with REMINDERS_SECRET_KEY (another key, or changed)") from None
