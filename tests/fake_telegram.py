"""A fake Telegram Bot API server on loopback, for end-to-end tests through python-telegram-bot.

It speaks real HTTP and enforces Telegram's documented limits (30 messages/s per bot, or
1,000/s for a message with `allow_paid_broadcast`, 1/s per private chat, 20/min per group) with real 429 answers carrying
`parameters.retry_after`; it answers 403 for chats that blocked the bot and 400 with
`migrate_to_chat_id` for a group that became a supergroup.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from helpers import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_USER = {"id": 424242, "is_bot": True, "first_name": "Nhắc việc", "username": "nhacviec_test_bot"}


@dataclass
class FakeTelegram:
    token: str = "4242:TEST-token"
    limits: bool = True
    sent: list[dict] = field(default_factory=list)
    edits: list[dict] = field(default_factory=list)
    callback_answers: list[dict] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)
    migrated: dict[str, int] = field(default_factory=dict)
    webhook: dict = field(default_factory=dict)
    too_many: int = 0  # how many 429s were answered
    paid_broadcasts: int = 0  # messages accepted with allow_paid_broadcast
    refused: list[str] = field(default_factory=list)  # which limit each 429 was for
    fail_next: int = 0  # answer this many sendMessage calls with 502 Bad Gateway
    fail_answers: bool = False  # answer answerCallbackQuery with 400 (the popup cannot be shown)
    echo_url: bool = False  # errors echo the request URL (bot token included), as some proxies and servers do
    calls: list[str] = field(default_factory=list)
    _updates: list[dict] = field(default_factory=list)
    _next_update: int = 1000
    _message_ids: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _recent_all: deque = field(default_factory=deque)
    _recent_chat: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    # -- what tests use ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The platform's base URL, as TELEGRAM_API_URL takes it (https://api.telegram.org)."""
        return f"http://127.0.0.1:{self.port}"

    def push_update(self, update: dict) -> dict:
        """Queue an update for getUpdates; returns it with its update_id."""
        with self._lock:
            self._next_update += 1
            update = {"update_id": self._next_update, **update}
            self._updates.append(update)
        return update

    def messages_to(self, chat: str | int) -> list[dict]:
        return [m for m in self.sent if str(m["chat"]["id"]) == str(chat)]

    # -- limits --------------------------------------------------------------------
    def _retry_after(self, chat: str, paid: bool = False) -> int | None:
        if not self.limits:
            return None
        now = time.monotonic()
        is_group = chat.startswith("-")
        window, limit = (60.0, 20) if is_group else (1.0, 1)
        recent = self._recent_chat[chat]
        while recent and now - recent[0] >= window:
            recent.popleft()
        while self._recent_all and now - self._recent_all[0] >= 1.0:
            self._recent_all.popleft()
        if len(recent) >= limit:
            self.refused.append(f"{'group' if is_group else 'chat'} {chat}")
            return max(1, int(window - (now - recent[0])) + 1)
        # Paid broadcast (allow_paid_broadcast): up to 1,000 messages/s bot-wide.
        if len(self._recent_all) >= (1000 if paid else 30):
            self.refused.append("bot")
            return 1
        recent.append(now)
        self._recent_all.append(now)
        return None

    # -- HTTP ----------------------------------------------------------------------
    async def _params(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            return await request.json()
        # python-telegram-bot posts application/x-www-form-urlencoded (no files here).
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        params: dict[str, Any] = {}
        for key, value in form:
            try:
                params[key] = json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value
            except ValueError:
                params[key] = value
        return params

    async def endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        params = await self._params(request)
        self.calls.append(method)
        handler = getattr(self, f"do_{method}", None)
        if handler is None:
            return _error(404, f"Not Found: method {method} not found")
        result = handler(params)
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, JSONResponse) and result.status_code >= 400 and self.echo_url:
            body = json.loads(result.body)
            body["description"] += f" ({request.method} {request.url})"
            result = JSONResponse(body, status_code=result.status_code)
        return result if isinstance(result, JSONResponse) else JSONResponse({"ok": True, "result": result})

    def do_getMe(self, params: dict) -> dict:
        return BOT_USER

    def do_sendMessage(self, params: dict) -> dict | JSONResponse:
        chat = str(params["chat_id"])
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return _error(502, "Bad Gateway")
            if chat in self.blocked:
                return _error(403, "Forbidden: bot was blocked by the user")
            if chat in self.migrated:
                return _error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                              {"migrate_to_chat_id": self.migrated[chat]})
            paid = str(params.get("allow_paid_broadcast", "")).lower() == "true"
            wait = self._retry_after(chat, paid)
            if wait is not None:
                self.too_many += 1
                return _error(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
            self.paid_broadcasts += paid
            self._message_ids[chat] += 1
            message = {"message_id": self._message_ids[chat], "date": int(time.time()),
                       "chat": {"id": int(chat), "type": "supergroup" if chat.startswith("-") else "private"},
                       "from": BOT_USER, "text": params.get("text", "")}
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self.sent.append(message)
        return message

    def do_editMessageText(self, params: dict) -> dict:
        self.edits.append(params)
        chat = str(params["chat_id"])
        return {"message_id": int(params["message_id"]), "date": int(time.time()), "from": BOT_USER,
                "chat": {"id": int(chat), "type": "supergroup" if chat.startswith("-") else "private"},
                "text": params.get("text", ""), **({"reply_markup": params["reply_markup"]}
                                                   if params.get("reply_markup") else {})}

    def do_editMessageReplyMarkup(self, params: dict) -> dict:
        return self.do_editMessageText({**params, "text": ""})

    def do_answerCallbackQuery(self, params: dict) -> bool | JSONResponse:
        self.callback_answers.append(params)
        if self.fail_answers:
            return _error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    async def do_getUpdates(self, params: dict) -> list[dict] | JSONResponse:
        if self.webhook.get("url"):  # as Telegram: no polling while a webhook is set
            return _error(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 5.0)
        while True:
            with self._lock:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                pending = list(self._updates)
            # Stopping: a long poll of a bot the test has killed would hold the server's
            # shutdown (it waits for every request in flight) until its timeout.
            if pending or time.monotonic() >= deadline or self._stopping.is_set():
                return pending[: int(params.get("limit") or 100)]
            await asyncio.sleep(0.02)

    def do_setWebhook(self, params: dict) -> bool | JSONResponse:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {"url": url, "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates")} if url else {}
        return True

    def do_deleteWebhook(self, params: dict) -> bool:
        self.webhook = {}
        return True

    def do_getWebhookInfo(self, params: dict) -> dict:
        with self._lock:
            pending = len(self._updates) if self.webhook.get("url") else 0
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": pending}

    # -- lifecycle -----------------------------------------------------------------
    def start(self, port: int = 0) -> FakeTelegram:
        """Serve on a free port, or on `port` (a process already trying to reach it)."""
        self._serving = serve(Starlette(routes=[Route("/bot{token}/{method}", self.endpoint,
                                                      methods=["GET", "POST"])]), port)
        self.port = int(self._serving.__enter__().rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._serving.__exit__(None, None, None)


def _error(code: int, description: str, parameters: dict | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)
