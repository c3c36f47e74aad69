"""Zalo Bot platform (bot-api.zaloplatforms.com) over httpx.

Modelled on the Telegram Bot API: `<ZALO_BOT_API_URL>/bot<TOKEN>/<method>`, answers in an envelope
`{ok, result | error_code, description}`, 429 when over quota. No buttons and no edits:
people acknowledge by replying "xong". `getUpdates` returns one update at a time and has
no offset; each message's `message_id` is what makes it processed once.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from reminders.adapters.base import (
    Adapter,
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
    WebhookInfo,
    platform_time,
)
from reminders.errors import ConfigurationError
from reminders.settings import PLATFORM_URLS, Settings

log = logging.getLogger(__name__)

DEFAULT_API_URL = PLATFORM_URLS["zalo_bot_api_url"][0]  # the platform's base URL; /bot<token>/<method> is added
POLL_TIMEOUT = 30  # seconds Zalo holds a getUpdates call open
QUOTA_BACKOFF = 60.0


class ZaloBotAdapter(Adapter):
    name = "zalo_bot"
    title = "Zalo"
    capabilities = Capabilities(
        buttons=False, groups=True, edits=False, max_text=2000,
        rate_limits=(RateLimit("bot", 10, 1.0), RateLimit("chat", 1, 1.0), RateLimit("group", 10, 60.0)),
    )

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, webhook_secret: str | None = None,
                 timeout: float = 15.0):
        self._token = token
        self.api_url = api_url.rstrip("/")
        self._webhook_secret = webhook_secret
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._name: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ZaloBotAdapter:
        token = settings.zalo_bot_token.get_secret_value() if settings.zalo_bot_token else ""
        if not token or not re.fullmatch(r"[A-Za-z0-9:_\-]{8,}", token):
            raise ConfigurationError("ZALO_BOT_TOKEN is missing or malformed (the Bot Token that Zalo Bot "
                                     "Creator sent you)")
        secret = settings.zalo_bot_webhook_secret.get_secret_value() if settings.zalo_bot_webhook_secret else None
        if secret is not None and not 8 <= len(secret) <= 256:
            raise ConfigurationError("ZALO_BOT_WEBHOOK_SECRET must be 8-256 characters")
        return cls(token, settings.zalo_bot_api_url, secret)

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- API -------------------------------------------------------------------------
    def _hide(self, text: str) -> str:
        return text.replace(self._token, "***")

    async def _request(self, method: str, params: dict[str, Any] | None,
                       timeout: float | None) -> tuple[int, dict[str, Any]]:
        """POST one method: (HTTP status, the JSON envelope, or one made of the status when the
        answer is not JSON); TemporaryFailure on network errors."""
        if self._client is None:
            await self.start()
        client = self._client
        assert client is not None  # for the type checker: start() opened it
        try:
            response = await client.post(f"{self.api_url}/bot{self._token}/{method}", json=params or {},
                                         timeout=timeout or self._timeout)
        except httpx.TransportError as exc:
            raise TemporaryFailure(f"Zalo Bot API unreachable: {type(exc).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            answer.setdefault("_retry_after", response.headers.get("retry-after"))
            return response.status_code, answer
        return response.status_code, {"ok": False, "error_code": response.status_code,
                                      "_retry_after": response.headers.get("retry-after")}

    def _failure(self, status: int, answer: dict[str, Any]) -> Exception:
        """A failed call as the core's failure: retry (429, 5xx, 408), or give up with a reason."""
        code = answer.get("error_code") or status
        detail = self._hide(f"{code}: {answer.get('description', '')}")
        if code == 429 or status == 429:
            return TemporaryFailure(f"Zalo Bot quota exceeded ({detail})", retry_after=_retry_after(answer))
        if code == 408 or isinstance(code, int) and code >= 500:
            return TemporaryFailure(f"Zalo Bot API error ({detail})")
        if code in (401, 404):
            return PermanentFailure(f"Zalo Bot refused the token ({detail}); check ZALO_BOT_TOKEN")
        return PermanentFailure(f"Zalo Bot refused the message ({detail})", notify_leader=code in (400, 403))

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   timeout: float | None = None) -> Any:
        """One Bot API call: its `result`, or TemporaryFailure / PermanentFailure."""
        status, answer = await self._request(method, params, timeout)
        if answer.get("ok"):
            return answer.get("result")
        raise self._failure(status, answer)

    async def send(self, address: Address, message: OutgoingMessage) -> SendResult:
        result = await self.call("sendMessage", {"chat_id": address.chat,
                                                 "text": message.text[: self.capabilities.max_text]})
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return SendResult(str(message_id) if message_id else None)

    # -- webhooks and invites -----------------------------------------------------------
    def check_webhook_settings(self) -> None:
        if not self._webhook_secret:
            raise ConfigurationError("ZALO_BOT_WEBHOOK_SECRET is not set: the web app refuses every Zalo Bot "
                                     "webhook call without it. Set it (8-256 characters) in every process's "
                                     "environment first")

    async def set_webhook(self, url: str) -> None:
        self.check_webhook_settings()
        await self.call("setWebhook", {"url": url, "secret_token": self._webhook_secret})

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")

    async def webhook_info(self) -> WebhookInfo:
        result = await self.call("getWebhookInfo")
        info: dict[str, Any] = result if isinstance(result, dict) else {}
        return WebhookInfo(str(info.get("url") or ""))

    async def invite_route(self, code: str) -> InviteRoute:
        """No deep links on the Zalo Bot platform: people open the bot (its name from getMe)
        and send `/start <code>`."""
        if self._name is None:
            result = await self.call("getMe")
            me: dict[str, Any] = result if isinstance(result, dict) else {}
            self._name = str(me.get("display_name") or me.get("name") or me.get("account_name") or "")
        return InviteRoute(name=self._name)

    # -- inbound ---------------------------------------------------------------------
    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        return self.verify_webhook_headers(headers)

    def verify_webhook_headers(self, headers: Mapping[str, str]) -> bool:
        """The secret token is all there is to check: checked before the body is read."""
        given = headers.get("x-bot-api-secret-token", "")
        if not self._webhook_secret:
            return False
        return hmac.compare_digest(given.encode(), self._webhook_secret.encode())

    def parse_update(self, payload: Payload) -> Inbound | None:
        result = payload.get("result")
        update: dict[str, Any] = result if isinstance(result, dict) else payload
        if update.get("event_name") != "message.text.received":
            return None
        message: dict[str, Any] = update.get("message") or {}
        sender: dict[str, Any] = message.get("from") or {}
        chat: dict[str, Any] = message.get("chat") or {}
        text = message.get("text")
        if not sender.get("id") or not chat.get("id") or not message.get("message_id") or not isinstance(text, str):
            return None
        if sender.get("is_bot"):
            return None
        replied = message.get("reply_to_message")
        quote: dict[str, Any] = replied if isinstance(replied, dict) else {}
        return Inbound(self.name, str(message["message_id"]), str(chat["id"]),
                       str(chat.get("chat_type", "")).upper() == "GROUP", str(sender["id"]),
                       str(sender.get("display_name") or ""), text=text,
                       reply_to=str(quote["message_id"]) if quote.get("message_id") else None,
                       quoted_text=quote.get("text") if isinstance(quote.get("text"), str) else None,
                       sent_at=platform_time(message.get("date"), milliseconds=None))

    async def respond(self, payload: Payload, outcome: Outcome) -> None:
        event = self.parse_update(payload)
        if event is not None and outcome.reply:
            await self.call("sendMessage", {"chat_id": event.chat,
                                            "text": outcome.reply[: self.capabilities.max_text]})

    async def poll(self) -> AsyncIterator[Payload]:
        """getUpdates, one update per call (no offset). Transient errors back off from 1 s
        doubling to 30 s; a refused token or a webhook in place is logged and retried slowly."""
        backoff = 1.0
        while True:
            try:
                status, answer = await self._request("getUpdates", {"timeout": POLL_TIMEOUT}, POLL_TIMEOUT + 10)
            except TemporaryFailure as exc:
                answer, status = {"ok": False, "error_code": 0, "description": str(exc)}, 0
            if answer.get("ok"):
                backoff = 1.0
                if isinstance(answer.get("result"), dict) and answer["result"]:
                    yield {"ok": True, "result": answer["result"]}
                continue
            if (answer.get("error_code") or status) == 408:  # the long poll ended without an update
                continue
            failure = self._failure(status, answer)
            if isinstance(failure, TemporaryFailure):
                log.warning("Zalo Bot polling: %s; retrying in %.0f s", failure, backoff)
                await asyncio.sleep(failure.retry_after or backoff)
                backoff = min(backoff * 2, 30.0)
            else:
                log.error("Zalo Bot polling refused: %s (getUpdates works only while no webhook is set)",
                          failure)
                await asyncio.sleep(30.0)


def _retry_after(answer: dict[str, Any]) -> float:
    given = answer.get("parameters")
    parameters: dict[str, Any] = given if isinstance(given, dict) else {}
    for value in (parameters.get("retry_after"), answer.get("_retry_after")):
        try:
            if value is not None:
                return max(1.0, float(value))
        except (TypeError, ValueError):
            continue
    return QUOTA_BACKOFF
