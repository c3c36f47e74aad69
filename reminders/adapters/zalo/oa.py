"""Zalo Official Account (Open API v3) over httpx.

Consultation messages to one person (`/v3.0/oa/message/cs`, only within the interaction
window), text messages to OA-owned groups (`/v3.0/oa/group/message`, GMF package). Errors
arrive as HTTP 200 with `error != 0`. Access tokens are refreshed on -216/-220 (once, then
the send is retried) and kept in the core's database through the `TokenStore` it is lent (reminders.store.tokens).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from reminders import logs
from reminders.adapters.base import (
    Adapter,
    AdapterServices,
    Address,
    Capabilities,
    Inbound,
    InviteRoute,
    Outcome,
    OutgoingMessage,
    Payload,
    PermanentFailure,
    RateLimit,
    SendResult,
    TemporaryFailure,
    Tokens,
    TokenStore,
    platform_time,
)
from reminders.errors import ConfigurationError
from reminders.settings import PLATFORM_URLS, Settings

log = logging.getLogger(__name__)

TOKEN_INVALID = {-216, -220}  # access token invalid / expired: refresh once and retry
RATE_LIMITED = {-32}
PERSON_UNREACHABLE = {
    -213: "the user does not follow the OA",
    -230: "the user has not interacted with the OA within the allowed window",
    -232: "the user has not interacted with the OA recently enough for a consultation message",
}
RATE_LIMIT_BACKOFF = 60.0  # seconds; Zalo does not say how long
REFRESH_AHEAD = timedelta(minutes=5)
TOKEN_PATH = "/v4/oa/access_token"
OA_INFO_PATH = "/v2.0/oa/getoa"  # the OA's id and name (for invites: zalo.me/<OA id> opens its chat)
TEXT_EVENTS = {"user_send_text": False, "user_send_group_text": True}  # event -> is a group
SIGNATURE_FORM = re.compile(r"mac=[0-9a-fA-F]{64}")


def signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """X-ZEvent-Signature's value: mac = sha256(app_id + body + timestamp + OA secret key)."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()).hexdigest()


class ZaloOAAdapter(Adapter):
    name = "zalo_oa"
    title = "Zalo OA"
    capabilities = Capabilities(
        buttons=False, groups=True, edits=False, max_text=2000,
        send_window=timedelta(days=7),  # consultation messages: only after the user wrote (-230/-232)
        rate_limits=(RateLimit("bot", 10, 1.0), RateLimit("chat", 1, 1.0), RateLimit("group", 10, 60.0)),
    )

    def __init__(self, app_id: str, app_secret: str, access_token: str, refresh_token: str, *,
                 oa_secret_key: str | None = None, api_url: str = PLATFORM_URLS["zalo_oa_api_url"][0],
                 oauth_url: str = PLATFORM_URLS["zalo_oa_oauth_url"][0], token_store: TokenStore | None = None,
                 timeout: float = 15.0):
        self.app_id = app_id
        self._app_secret = app_secret
        self._oa_secret_key = oa_secret_key
        self._initial = Tokens(access_token, refresh_token)
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/") + TOKEN_PATH  # ZALO_OA_OAUTH_URL is the OAuth server's base URL
        self._store = token_store
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._tokens: Tokens | None = None
        self._refresh_lock: asyncio.Lock | None = None
        self._owner = uuid.uuid4().hex[:16]
        # A pair Zalo issued that the store has not taken yet (database locked, unreachable):
        # it is the only one that works, so it is used, stored as soon as the store takes it,
        # and no other refresh is made before that (the stored refresh token is spent).
        self._unstored: Tokens | None = None
        self._storing: asyncio.Task[None] | None = None
        self._profile: tuple[str, str] | None = None  # (OA id, name), asked once

    @classmethod
    def from_settings(cls, settings: Settings) -> ZaloOAAdapter:
        pairs = {"ZALO_APP_ID": settings.zalo_app_id, "ZALO_APP_SECRET": settings.zalo_app_secret,
                 "ZALO_OA_ACCESS_TOKEN": settings.zalo_oa_access_token,
                 "ZALO_OA_REFRESH_TOKEN": settings.zalo_oa_refresh_token}
        missing = [name for name, value in pairs.items() if not value]
        if settings.secret_key is None:  # the rotating pair is kept in the database, sealed with it
            missing.append("REMINDERS_SECRET_KEY")
        if missing:
            raise ConfigurationError(f"{', '.join(missing)} must be set for the zalo_oa adapter "
                                     "(the app's id and secret key, the OA's first token pair, and the key "
                                     "that seals the rotated pairs in the database)")
        assert settings.zalo_app_id and settings.zalo_app_secret  # for the type checker: checked above
        assert settings.zalo_oa_access_token and settings.zalo_oa_refresh_token
        if not settings.zalo_app_id.isdigit():
            raise ConfigurationError("ZALO_APP_ID must be the numeric app id from developers.zalo.me")
        secret_key = settings.zalo_oa_secret_key.get_secret_value() if settings.zalo_oa_secret_key else None
        return cls(settings.zalo_app_id, settings.zalo_app_secret.get_secret_value(),
                   settings.zalo_oa_access_token.get_secret_value(),
                   settings.zalo_oa_refresh_token.get_secret_value(), oa_secret_key=secret_key,
                   api_url=settings.zalo_oa_api_url, oauth_url=settings.zalo_oa_oauth_url)

    # -- lifecycle -------------------------------------------------------------------
    def attach(self, services: AdapterServices) -> None:
        """The rotating tokens live in the core's database, shared by every process."""
        if services.tokens is not None:
            self._store = services.tokens

    @property
    def store(self) -> TokenStore:
        if self._store is None:
            raise RuntimeError("the zalo_oa adapter needs a token store: call attach() before start()")
        return self._store

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        self._refresh_lock = asyncio.Lock()
        if self._unstored is None:
            self._tokens = await asyncio.to_thread(self.store.load, self.app_id, self._initial)
        if self._tokens is not None:
            logs.remember(self._tokens.access_token, self._tokens.refresh_token)

    async def close(self) -> None:
        if self._storing is not None:
            self._storing.cancel()
            self._storing = None
        if self._unstored is not None and not await self._store_unstored():
            log.error("Zalo OA: this process stops holding a refreshed token pair the database never took; "
                      "unless the database comes back before another refresh, the OA must be authorised again")
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- sending ---------------------------------------------------------------------
    async def send(self, address: Address, message: OutgoingMessage) -> SendResult:
        data = await self._call_message(address.chat, address.is_group, message.text)
        return SendResult(str(data.get("message_id") or "") or None)

    async def _call_message(self, chat: str, is_group: bool, text: str) -> dict[str, Any]:
        body: dict[str, Any]
        if is_group:
            path, body = "/v3.0/oa/group/message", {"recipient": {"group_id": chat}}
        else:
            path, body = "/v3.0/oa/message/cs", {"recipient": {"user_id": chat}}
        body["message"] = {"text": text[: self.capabilities.max_text]}
        tokens = await self._fresh_tokens()
        answer = await self._post(path, body, tokens.access_token)
        if answer.get("error") in TOKEN_INVALID:
            tokens = await self._refresh(tokens.access_token)
            answer = await self._post(path, body, tokens.access_token)
            if answer.get("error") in TOKEN_INVALID:
                raise PermanentFailure(f"Zalo OA still refuses the access token after a refresh "
                                       f"({answer.get('error')}: {answer.get('message', '')})")
        return self._data(answer)

    async def _post(self, path: str, body: dict[str, Any], access_token: str) -> dict[str, Any]:
        client = self._client or httpx.AsyncClient(timeout=self._timeout)
        self._client = client
        try:
            response = await client.post(self.api_url + path, json=body, headers={"access_token": access_token})
        except httpx.TransportError as exc:
            raise TemporaryFailure(f"Zalo OA unreachable: {type(exc).__name__}") from None
        return _answer(response)

    async def _get(self, path: str, access_token: str) -> dict[str, Any]:
        client = self._client or httpx.AsyncClient(timeout=self._timeout)
        self._client = client
        try:
            response = await client.get(self.api_url + path, headers={"access_token": access_token})
        except httpx.TransportError as exc:
            raise TemporaryFailure(f"Zalo OA unreachable: {type(exc).__name__}") from None
        return _answer(response)

    # -- invites ---------------------------------------------------------------------
    async def invite_route(self, code: str) -> InviteRoute:
        """Zalo has no deep link that carries a code: people open the OA's chat (zalo.me/<OA
        id>, the id and name from the OA's profile) and send `/start <code>`."""
        if self._profile is None:
            tokens = await self._fresh_tokens()
            answer = await self._get(OA_INFO_PATH, tokens.access_token)
            if answer.get("error") in TOKEN_INVALID:
                tokens = await self._refresh(tokens.access_token)
                answer = await self._get(OA_INFO_PATH, tokens.access_token)
            data = self._data(answer)
            self._profile = (str(data.get("oa_id") or ""), str(data.get("name") or ""))
        oa_id, name = self._profile
        return InviteRoute(chat_link=f"https://zalo.me/{oa_id}" if oa_id else None, name=name)

    @staticmethod
    def _data(answer: dict[str, Any]) -> dict[str, Any]:
        """The answer's data, or the failure it stands for."""
        code = answer.get("error", 0)
        detail = f"{code}: {answer.get('message', '')}"
        if code in (0, None):
            return answer.get("data") or {}
        if code in RATE_LIMITED:
            raise TemporaryFailure(f"Zalo OA rate limit ({detail})", retry_after=RATE_LIMIT_BACKOFF)
        if code in PERSON_UNREACHABLE:
            raise PermanentFailure(f"Zalo OA refused: {PERSON_UNREACHABLE[code]} ({detail})", notify_leader=True)
        raise PermanentFailure(f"Zalo OA rejected the message ({detail})")

    # -- tokens ----------------------------------------------------------------------
    async def _fresh_tokens(self) -> Tokens:
        if self._tokens is None:
            await self.start()
        tokens = self._tokens
        assert tokens is not None  # for the type checker: start() loads them
        if tokens.access_expires_at and tokens.access_expires_at - REFRESH_AHEAD < datetime.now(UTC):
            tokens = await self._refresh(tokens.access_token)
        return tokens

    async def _refresh(self, stale_access: str) -> Tokens:
        """A working pair after `stale_access` failed: refreshed here, or by another process.

        The new pair is committed to the database before anything uses it: the old refresh
        token no longer works once Zalo has answered."""
        assert self._refresh_lock is not None  # for the type checker: set by start(), which _fresh_tokens ensures
        async with self._refresh_lock:
            if self._tokens is not None and self._tokens.access_token != stale_access:
                return self._tokens  # refreshed by another send of this process meanwhile
            if self._unstored is not None and not await self._store_unstored():
                # Never refresh again before the pair in hand is stored: its refresh token is
                # the only live one, and the stored one is spent.
                raise TemporaryFailure("Zalo OA: a refreshed token pair is waiting for the database to take it")
            deadline = asyncio.get_running_loop().time() + self.store.refresh_lease.total_seconds()
            while True:
                claimed = await asyncio.to_thread(self.store.claim_refresh, self.app_id, stale_access, self._owner)
                if claimed is not None:
                    break
                stored = await asyncio.to_thread(self.store.current, self.app_id)
                if stored is not None and stored.access_token != stale_access:
                    self._tokens = stored  # another process refreshed
                    return stored
                if asyncio.get_running_loop().time() > deadline:
                    raise TemporaryFailure("Zalo OA token refresh in progress elsewhere")
                await asyncio.sleep(0.2)
            try:
                fresh = await self._request_tokens(claimed.refresh_token)
            except PermanentFailure:
                await asyncio.to_thread(self.store.release, self.app_id, self._owner)
                # Refused (the refresh token was spent): another process may hold the new pair
                # and have stored it late (its database was locked); then that pair works.
                stored = await asyncio.to_thread(self.store.current, self.app_id)
                if stored is not None and stored.access_token not in (stale_access, claimed.access_token):
                    self._tokens = stored
                    return stored
                raise
            except BaseException:
                await asyncio.to_thread(self.store.release, self.app_id, self._owner)
                raise
            # From here the old refresh token is spent: the new pair is kept until it is stored.
            self._tokens = self._unstored = fresh
            logs.remember(fresh.access_token, fresh.refresh_token)
            if await self._store_unstored():
                log.info("Zalo OA access token refreshed; the new pair is stored")
            elif self._storing is None or self._storing.done():
                self._storing = asyncio.get_running_loop().create_task(self._keep_storing())
            return fresh

    async def _store_unstored(self) -> bool:
        """Store the pair in hand; whether the store took it (False: it is kept and used)."""
        pair = self._unstored
        if pair is None:
            return True
        try:
            await asyncio.to_thread(self.store.store_refreshed, self.app_id, pair)
        except Exception as exc:  # the database is locked or unreachable: the pair must not be lost
            detail = logs.redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            log.error("Zalo OA: the refreshed token pair could not be stored (%s); this process keeps it, "
                      "uses it and stores it as soon as the database takes it", detail)
            return False
        if self._unstored is pair:
            self._unstored = None
        return True

    async def _keep_storing(self) -> None:
        """Retry storing the pair in hand (1, 2, 4 ... 30 s apart) until the store takes it."""
        wait = 1.0
        while self._unstored is not None:
            await asyncio.sleep(wait)
            assert self._refresh_lock is not None  # for the type checker: set by start()
            async with self._refresh_lock:
                if await self._store_unstored():
                    log.warning("Zalo OA: the refreshed token pair is stored now")
                    return
            wait = min(wait * 2, 30.0)

    async def _request_tokens(self, refresh_token: str) -> Tokens:
        client = self._client or httpx.AsyncClient(timeout=self._timeout)
        self._client = client
        try:
            response = await client.post(self.oauth_url, headers={"secret_key": self._app_secret}, data={
                "refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"})
        except httpx.TransportError as exc:
            raise TemporaryFailure(f"Zalo OAuth unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TemporaryFailure(f"Zalo OAuth: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise TemporaryFailure(f"Zalo OAuth: unreadable answer (HTTP {response.status_code})") from None
        if not isinstance(answer, dict) or not answer.get("access_token") or not answer.get("refresh_token"):
            code = answer.get("error") if isinstance(answer, dict) else None
            log.error("Zalo OA refused to refresh the access token (error %s). Authorise the app again "
                      "and set ZALO_OA_ACCESS_TOKEN and ZALO_OA_REFRESH_TOKEN.", code)
            raise PermanentFailure(f"Zalo OA token refresh refused (error {code}); the OA must be authorised again")
        try:
            lifetime = float(answer.get("expires_in") or 0)
        except (TypeError, ValueError):
            lifetime = 0
        expires = datetime.now(UTC) + timedelta(seconds=lifetime) if lifetime > 0 else None
        return Tokens(str(answer["access_token"]), str(answer["refresh_token"]), expires)

    # -- inbound ---------------------------------------------------------------------
    def verify_webhook_headers(self, headers: Mapping[str, str]) -> bool:
        """The signature covers the body: before it is read, only its presence and form
        (`mac=` and 64 hex digits) can be checked."""
        given = headers.get("x-zevent-signature", "").strip()
        return bool(self._oa_secret_key) and SIGNATURE_FORM.fullmatch(given) is not None

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        given = headers.get("x-zevent-signature", "")
        if not self.verify_webhook_headers(headers):
            return False
        assert self._oa_secret_key is not None  # for the type checker: verify_webhook_headers checked it
        try:
            timestamp = json.loads(body).get("timestamp")
        except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deep
            return False
        if timestamp is None:
            return False
        expected = signature(self.app_id, body, str(timestamp), self._oa_secret_key)
        return hmac.compare_digest(given[4:].strip().lower().encode(), expected.encode())

    def parse_update(self, payload: Payload) -> Inbound | None:
        is_group = TEXT_EVENTS.get(payload.get("event_name", ""))
        message: dict[str, Any] = payload.get("message") or {}
        sender = str((payload.get("sender") or {}).get("id") or "")
        text = message.get("text")
        if is_group is None or not sender or not isinstance(text, str) or not message.get("msg_id"):
            return None  # follows, stickers, the OA's own messages: nothing to record
        if is_group:
            recipient = payload.get("recipient") or {}
            chat = str(recipient.get("group_id") or recipient.get("id") or "")
            if not chat:
                return None
        else:
            chat = sender
        quoted = message.get("quote_msg")
        quote: dict[str, Any] = quoted if isinstance(quoted, dict) else {}
        return Inbound(self.name, str(message["msg_id"]), chat, is_group, sender,
                       str((payload.get("sender") or {}).get("display_name") or ""), text=text,
                       reply_to=str(quote["msg_id"]) if quote.get("msg_id") else None,
                       quoted_text=quote.get("text") if isinstance(quote.get("text"), str) else None,
                       sent_at=platform_time(payload.get("timestamp"), milliseconds=True))

    async def respond(self, payload: Payload, outcome: Outcome) -> None:
        event = self.parse_update(payload)
        if event is None or not outcome.reply:
            return
        await self._call_message(event.chat, event.is_group, outcome.reply)


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an Open API answer (errors come inside it, as HTTP 200), or the
    temporary failure an HTTP-level problem stands for."""
    if response.status_code == 429:
        raise TemporaryFailure("Zalo OA: too many requests", retry_after=_retry_after(response))
    if response.status_code >= 500:
        raise TemporaryFailure(f"Zalo OA: HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise TemporaryFailure(f"Zalo OA: unreadable answer (HTTP {response.status_code})") from None
    if not isinstance(answer, dict):
        raise TemporaryFailure("Zalo OA: unexpected answer")
    return answer


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("retry-after", RATE_LIMIT_BACKOFF)))
    except ValueError:
        return RATE_LIMIT_BACKOFF
