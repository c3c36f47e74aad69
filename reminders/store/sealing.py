"""Secrets the database keeps (platform tokens, feed links given again) are sealed with a key
from the environment, REMINDERS_SECRET_KEY: Fernet (AES-128-CBC with HMAC-SHA256, from the
`cryptography` package), the key derived from the setting with HKDF. A copy of the database
alone reveals nothing; a tampered value fails to open instead of being used."""

from __future__ import annotations

import base64
import hashlib
import hmac

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
        # A second key from the same setting, for signatures only (the web console's cookie
        # and its forms' CSRF tokens): one secret never serves two purposes.
        self._mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                             info=b"reminders: signed values, v1").derive(secret_key.encode())

    def sign(self, purpose: str, text: str) -> str:
        """An HMAC-SHA256 of `text` for `purpose`, URL-safe; compare with `verify`."""
        mac = hmac.new(self._mac_key, f"{purpose}\n{text}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def verify(self, purpose: str, text: str, signature: str) -> bool:
        """Whether `signature` is `text`'s for `purpose`, compared in constant time."""
        return hmac.compare_digest(self.sign(purpose, text).encode(), signature.encode("utf-8", "replace"))

    def seal(self, text: str) -> str:
        return PREFIX + self._fernet.encrypt(text.encode()).decode("ascii")

    def open(self, value: str) -> str:
        if not is_sealed(value):
            raise SealError("the value is not sealed")
        try:
            return self._fernet.decrypt(value.removeprefix(PREFIX).encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SealError("the value does not open with REMINDERS_SECRET_KEY (another key, or changed)") from None
