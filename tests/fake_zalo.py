"""Fake Zalo servers on loopback, for end-to-end tests over real HTTP.

`FakeZaloOA` speaks the Official Account Open API v3 (consultation and GMF group messages,
errors as HTTP 200 with `error != 0`) and its OAuth v4 token endpoint, where refresh tokens
are single-use and rotate. `FakeZaloBot` speaks the Zalo Bot API (`/bot<TOKEN>/<method>`,
envelope `{ok, result | error_code, description}`, getUpdates returning one update).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from helpers import Served
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class _Served(Served):
    def _serve(self, routes: list[Route]) -> None:  # type: ignore[override]
        super()._serve(Starlette(routes=routes))


# -- Zalo Official Account ---------------------------------------------------------------
@dataclass
class FakeZaloOA(_Served):
    app_id: str = "1234567890123456789"
    app_secret: str = "app-secret-key-TEST"
    oa_secret_key: str = "oa-secret-key-TEST"
    access_token: str = "ACCESS-1"
    refresh_token: str = "REFRESH-1"
    oa_id: str = "4318201234567890123"
    oa_name: str = "Nhắc việc xã Tân Lập"
    sent: list[dict] = field(default_factory=list)
    oauth_calls: list[dict] = field(default_factory=list)
    refuse: dict[str, int] = field(default_factory=dict)  # user id -> error (-230, -232, -213)
    observe: Callable[[str, dict], None] | None = None  # called with (access token, body) per message call
    on_refresh: Callable[[], None] | None = None  # called when a refresh has rotated the pair, before answering
    _valid_access: set[str] = field(default_factory=set)
    _live_refresh: str = ""
    _used_refresh: set[str] = field(default_factory=set)
    _serial: itertools.count = field(default_factory=lambda: itertools.count(2))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """The Open API's base URL, as ZALO_OA_API_URL takes it (https://openapi.zalo.me)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def oauth_url(self) -> str:
        """The OAuth server's base URL, as ZALO_OA_OAUTH_URL takes it (https://oauth.zaloapp.com);
        this fake serves both on one port."""
        return f"http://127.0.0.1:{self.port}"

    def expire(self, access_token: str) -> None:
        """The access token stops working (its 25 hours are over)."""
        with self._lock:
            self._valid_access.discard(access_token)

    def messages_to(self, chat: str) -> list[dict]:
        return [m for m in self.sent if m["to"] == chat]

    def event(self, sender: str, text: str, *, group: str | None = None, msg_id: str | None = None,
              timestamp: str | None = None, key: str | None = None,
              quote: dict | None = None) -> tuple[bytes, dict[str, str]]:
        """A webhook call as Zalo makes it: the body and its X-ZEvent-Signature header.
        `quote`: the message it replies to ({"msg_id", "text"}), as Zalo's quote_msg."""
        timestamp = timestamp or str(int(time.time() * 1000))
        message = {"text": text, "msg_id": msg_id or f"msg-{time.monotonic_ns()}"}
        if quote:
            message["quote_msg"] = quote
        payload = {"app_id": self.app_id, "user_id_by_app": f"app-{sender}",
                   "event_name": "user_send_group_text" if group else "user_send_text",
                   "sender": {"id": sender}, "recipient": {"id": group or "oa-1"},
                   "message": message, "timestamp": timestamp}
        body = json.dumps(payload, ensure_ascii=False).encode()
        mac = hashlib.sha256(self.app_id.encode() + body + timestamp.encode()
                             + (key or self.oa_secret_key).encode()).hexdigest()
        return body, {"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}

    # -- HTTP ----------------------------------------------------------------------
    async def consultation(self, request: Request) -> JSONResponse:
        return await self._message(request, "cs", "user_id")

    async def group_message(self, request: Request) -> JSONResponse:
        return await self._message(request, "group", "group_id")

    async def _message(self, request: Request, endpoint: str, key: str) -> JSONResponse:
        access = request.headers.get("access_token", "")
        body = await request.json()
        if self.observe is not None:
            self.observe(access, body)
        with self._lock:
            if access not in self._valid_access:
                return JSONResponse({"error": -216, "message": "Access token is invalid"})
            to = str((body.get("recipient") or {}).get(key) or "")
            text = (body.get("message") or {}).get("text", "")
            if not to or not text or len(text) > 2000:
                return JSONResponse({"error": -201, "message": "Parameters are invalid"})
            if to in self.refuse:
                code = self.refuse[to]
                reason = {-213: "User has not followed the OA",
                          -230: "User has not interacted with the OA in the past 7 days",
                          -232: "User has not interacted with the OA recently"}.get(code, "Refused")
                return JSONResponse({"error": code, "message": reason})
            message_id = f"oa-msg-{len(self.sent) + 1}"
            self.sent.append({"endpoint": endpoint, "to": to, "text": text, "message_id": message_id,
                              "access_token": access})
        return JSONResponse({"error": 0, "message": "Success", "data": {"message_id": message_id, key: to}})

    async def oauth(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        call = {**form, "secret_key": request.headers.get("secret_key", "")}
        with self._lock:
            self.oauth_calls.append(call)
            if call["secret_key"] != self.app_secret or form.get("app_id") != self.app_id:
                return JSONResponse({"error": -14002, "error_name": "Invalid app", "error_reason": ""},
                                    status_code=400)
            refresh = form.get("refresh_token", "")
            if form.get("grant_type") != "refresh_token" or refresh != self._live_refresh:
                # Single use: a refresh token already spent (or never issued) no longer works.
                return JSONResponse({"error": -14014, "error_name": "Invalid refresh token",
                                     "error_reason": "used" if refresh in self._used_refresh else "unknown"},
                                    status_code=400)
            serial = next(self._serial)
            self._used_refresh.add(refresh)
            self._live_refresh = f"REFRESH-{serial}"
            access = f"ACCESS-{serial}"
            self._valid_access.add(access)
        if self.on_refresh is not None:
            self.on_refresh()
        return JSONResponse({"access_token": access, "refresh_token": self._live_refresh, "expires_in": "90000"})

    async def profile(self, request: Request) -> JSONResponse:
        """GET /v2.0/oa/getoa: the OA's own profile."""
        if request.headers.get("access_token", "") not in self._valid_access:
            return JSONResponse({"error": -216, "message": "Access token is invalid"})
        return JSONResponse({"error": 0, "message": "Success", "data": {
            "oa_id": self.oa_id, "name": self.oa_name, "description": "", "is_verified": True}})

    def start(self) -> FakeZaloOA:
        self._valid_access = {self.access_token}
        self._live_refresh = self.refresh_token
        self._serve([Route("/v2.0/oa/getoa", self.profile, methods=["GET"]),
                     Route("/v3.0/oa/message/cs", self.consultation, methods=["POST"]),
                     Route("/v3.0/oa/group/message", self.group_message, methods=["POST"]),
                     Route("/v4/oa/access_token", self.oauth, methods=["POST"])])
        return self


# -- Zalo Bot ----------------------------------------------------------------------------
@dataclass
class FakeZaloBot(_Served):
    token: str = "3141592653:ZaloBotTESTtoken"
    sent: list[dict] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    webhook: dict = field(default_factory=dict)
    _updates: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """The platform's base URL, as ZALO_BOT_API_URL takes it (https://bot-api.zaloplatforms.com)."""
        return f"http://127.0.0.1:{self.port}"

    def messages_to(self, chat: str) -> list[dict]:
        return [m for m in self.sent if m["chat_id"] == chat]

    def update(self, chat: str, sender: str, text: str, *, group: bool, name: str = "",
               message_id: str | None = None) -> dict:
        """A `message.text.received` update as Zalo delivers it (webhook body or getUpdates)."""
        return {"ok": True, "result": {"event_name": "message.text.received", "message": {
            "from": {"id": sender, "display_name": name, "is_bot": False},
            "chat": {"id": chat, "chat_type": "GROUP" if group else "PRIVATE"},
            "text": text, "message_id": message_id or f"bot-msg-{time.monotonic_ns()}",
            "date": int(time.time() * 1000)}}}

    def push_update(self, update: dict) -> None:
        with self._lock:
            self._updates.append(update["result"])

    async def endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        method = request.path_params["method"]
        params = await request.json() if await request.body() else {}
        self.calls.append(method)
        if method == "getMe":
            return _ok({"id": "3141592653", "account_name": "bot.nhacviec", "account_type": "BASIC",
                        "can_join_groups": True})
        if method == "sendMessage":
            chat, text = str(params.get("chat_id") or ""), params.get("text") or ""
            if not chat or not 1 <= len(text) <= 2000:
                return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request"})
            with self._lock:
                message_id = f"bot-out-{len(self.sent) + 1}"
                self.sent.append({"chat_id": chat, "text": text, "message_id": message_id})
            return _ok({"message_id": message_id, "date": int(time.time() * 1000)})
        if method == "getUpdates":
            if self.webhook.get("url"):
                return JSONResponse({"ok": False, "error_code": 409, "description": "Webhook is set"})
            deadline = time.monotonic() + min(float(params.get("timeout") or 30), 1.0)
            while time.monotonic() < deadline:
                with self._lock:
                    if self._updates:
                        return _ok(self._updates.pop(0))
                await asyncio.sleep(0.02)
            return JSONResponse({"ok": False, "error_code": 408, "description": "Request timeout"})
        if method == "setWebhook":
            if not str(params.get("url") or "").startswith("https://") or not params.get("secret_token"):
                return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request"})
            self.webhook = {"url": params.get("url"), "secret_token": params.get("secret_token")}
            return _ok({"url": self.webhook["url"], "updated_at": int(time.time() * 1000)})
        if method == "deleteWebhook":
            self.webhook = {}
            return _ok({"url": "", "updated_at": int(time.time() * 1000)})
        if method == "getWebhookInfo":
            return _ok({"url": self.webhook.get("url") or "", "updated_at": int(time.time() * 1000)})
        return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)

    def start(self) -> FakeZaloBot:
        self._serve([Route("/bot{token}/{method}", self.endpoint, methods=["POST"])])
        return self


def _ok(result) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})
