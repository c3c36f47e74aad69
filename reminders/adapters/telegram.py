"""Telegram through python-telegram-bot v22: one long-lived Bot per process, on the
event loop of dramatiq's AsyncIO middleware (never `asyncio.run` per message)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

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
)
from reminders.errors import ConfigurationError
from reminders.settings import PLATFORM_URLS, Settings

DEFAULT_API_URL = PLATFORM_URLS["telegram_api_url"][0]  # the platform's base URL; /bot<token>/<method> is added
log = logging.getLogger(__name__)
POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates call open
POLL_CONFLICT_WAIT = 30.0  # seconds between tries while Telegram refuses polling (webhook set, or another poller)
# Opt in to python-telegram-bot's future behaviour (durations as timedelta); `_seconds`
# reads both forms, so no deprecation warning and no change when it becomes the default.
os.environ.setdefault("PTB_TIMEDELTA", "1")


def keyboard(message: OutgoingMessage) -> InlineKeyboardMarkup | None:
    """Buttons carry `action:code` (a few bytes; Telegram allows 64)."""
    if not message.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=f"{b.action}:{b.code}")
                                  for b in message.buttons]])


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


FREE_RATE = 30  # messages/s bot-wide without paid broadcast


class TelegramAdapter(Adapter):
    name = "telegram"
    capabilities = Capabilities(
        buttons=True, groups=True, edits=True, max_text=4096,
        rate_limits=(RateLimit("bot", 30, 1.0), RateLimit("chat", 1, 1.0), RateLimit("group", 20, 60.0)),
        concurrency=8,
    )

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, webhook_secret: str | None = None):
        api_url = api_url.rstrip("/")
        self.paid_broadcast = any(lim.scope == "bot" and lim.limit > FREE_RATE for lim in self.capabilities.rate_limits)
        self.bot = Bot(token, base_url=f"{api_url}/bot", base_file_url=f"{api_url}/file/bot")
        self._webhook_secret = webhook_secret
        self._username: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramAdapter:
        token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
        if not token or ":" not in token:
            raise ConfigurationError("TELEGRAM_BOT_TOKEN is missing or malformed (expected '123456:ABC...' "
                                     "from @BotFather)")
        secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
            raise ConfigurationError("TELEGRAM_WEBHOOK_SECRET must be 16-256 characters of A-Z, a-z, 0-9, _ or -")
        made = paid_broadcast(cls, settings.telegram_paid_broadcast) if settings.telegram_paid_broadcast else cls
        return made(token, settings.telegram_api_url, secret)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        return self.verify_webhook_headers(headers)

    def verify_webhook_headers(self, headers: Mapping[str, str]) -> bool:
        """The secret token is all there is to check: checked before the body is read."""
        given = headers.get("x-telegram-bot-api-secret-token", "")
        if not self._webhook_secret:
            return False
        return hmac.compare_digest(given.encode(), self._webhook_secret.encode())

    # -- webhooks and invites -----------------------------------------------------------
    def check_webhook_settings(self) -> None:
        if not self._webhook_secret:
            raise ConfigurationError("TELEGRAM_WEBHOOK_SECRET is not set: the web app refuses every Telegram "
                                     "webhook call without it. Set it (16-256 characters of A-Z, a-z, 0-9, _ "
                                     "or -) in every process's environment first")

    async def set_webhook(self, url: str) -> None:
        self.check_webhook_settings()
        try:
            await self.bot.set_webhook(url, secret_token=self._webhook_secret,
                                       allowed_updates=["message", "callback_query"])
        except TelegramError as exc:
            raise self.translate(exc) from None

    async def delete_webhook(self) -> None:
        try:
            await self.bot.delete_webhook()
        except TelegramError as exc:
            raise self.translate(exc) from None

    async def webhook_info(self) -> WebhookInfo:
        try:
            info = await self.bot.get_webhook_info()
        except TelegramError as exc:
            raise self.translate(exc) from None
        return WebhookInfo(info.url or "", info.pending_update_count, info.last_error_message)

    async def invite_route(self, code: str) -> InviteRoute:
        """A t.me deep link: the bot's @username comes from the platform (getMe)."""
        if self._username is None:
            try:
                self._username = (await self.bot.get_me()).username
            except TelegramError as exc:
                raise self.translate(exc) from None
        return InviteRoute(link=f"https://t.me/{self._username}?start={code}",
                           chat_link=f"https://t.me/{self._username}", name=f"@{self._username}")

    async def start(self) -> None:
        try:
            await self.bot.initialize()  # asks getMe
        except TelegramError as exc:
            raise self.translate(exc) from None

    async def close(self) -> None:
        await self.bot.shutdown()

    async def send(self, address: Address, message: OutgoingMessage) -> SendResult:
        try:
            sent = await self.bot.send_message(address.chat, message.text, reply_markup=keyboard(message),
                                                 allow_paid_broadcast=self.paid_broadcast or None)
        except ChatMigrated as exc:
            # The group became a supergroup: follow it, and tell the core its new address.
            moved = await self.send(Address(str(exc.new_chat_id), address.is_group, address.label), message)
            return SendResult(moved.message_id, moved_to=str(exc.new_chat_id))
        except Exception as exc:
            raise self.translate(exc) from None
        return SendResult(str(sent.message_id))

    async def edit(self, address: Address, message_id: str, message: OutgoingMessage) -> None:
        try:
            await self.bot.edit_message_text(message.text, chat_id=address.chat, message_id=int(message_id),
                                             reply_markup=keyboard(message))
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise self.translate(exc) from None
        except Exception as exc:
            raise self.translate(exc) from None

    # -- inbound ---------------------------------------------------------------------
    def parse_update(self, payload: Payload) -> Inbound | None:
        update = Update.de_json(payload, self.bot)
        if update is None:
            return None
        if update.callback_query is not None:
            query = update.callback_query
            action, _, code = (query.data or "").partition(":")
            chat = query.message.chat if query.message else None
            return Inbound(self.name, str(update.update_id), str(chat.id) if chat else str(query.from_user.id),
                           bool(chat and chat.type != "private"), str(query.from_user.id),
                           query.from_user.full_name, action=action or None, code=code or None)
        message = update.message
        if message is None or message.from_user is None or message.text is None:
            return None
        reply_to = message.reply_to_message
        return Inbound(self.name, str(update.update_id), str(message.chat.id), message.chat.type != "private",
                       str(message.from_user.id), message.from_user.full_name, text=message.text,
                       reply_to=str(reply_to.message_id) if reply_to else None, sent_at=message.date)

    async def respond(self, payload: Payload, outcome: Outcome) -> None:
        update = Update.de_json(payload, self.bot)
        try:
            if update.callback_query is not None:
                # Always answer, so no spinner stays on the button.
                await update.callback_query.answer(outcome.reply[:200] if outcome.reply else None,
                                                   show_alert=outcome.alert)
            elif outcome.reply and update.message is not None:
                await self.bot.send_message(update.message.chat.id, outcome.reply[: self.capabilities.max_text],
                                            reply_to_message_id=update.message.message_id,
                                            reply_markup=keyboard(OutgoingMessage(outcome.reply, outcome.buttons)))
            if outcome.edit:
                chat, message_id, message = outcome.edit
                await self.edit(Address(chat, True, ""), message_id, message)
        except TelegramError as exc:
            raise self.translate(exc) from None

    async def poll(self) -> AsyncIterator[Payload]:
        """getUpdates, read as plain JSON: an update python-telegram-bot could not read (a
        field of an unexpected type) is yielded like any other, for `parse_update` to refuse
        -- it must not break the batch it came in, again at every restart. Network trouble
        backs off from 1 s to 30 s; Telegram's flood control is waited out."""
        offset: int | None = None
        pause = 1.0
        while True:
            params: dict[str, Any] = {"timeout": POLL_TIMEOUT, "allowed_updates": ["message", "callback_query"]}
            if offset is not None:
                params["offset"] = offset
            try:
                updates = await self.bot.do_api_request("getUpdates", api_kwargs=params,
                                                        read_timeout=POLL_TIMEOUT + 10)
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except Conflict as exc:  # a webhook is set, or another process polls this bot
                log.error("Telegram refuses polling: %s. Either run the web app for webhooks, or "
                          "`reminders webhook delete`, and let one process poll.", exc.message)
                await asyncio.sleep(POLL_CONFLICT_WAIT)
                continue
            except NetworkError:
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
                continue
            pause = 1.0
            for update in updates if isinstance(updates, list) else []:
                if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                    offset = update["update_id"] + 1
                    yield update

    @staticmethod
    def translate(exc: Exception) -> Exception:
        """python-telegram-bot's errors as the core's: retry, or give up with a reason."""
        if isinstance(exc, RetryAfter):
            return TemporaryFailure("Telegram flood control", retry_after=_seconds(exc.retry_after))
        if isinstance(exc, Forbidden):  # blocked by the person, removed from the group, account deleted
            return PermanentFailure(f"Telegram refused: {exc.message} (bot blocked or removed from the chat)",
                                    notify_leader=True, chat_gone=True)
        if isinstance(exc, BadRequest):
            return PermanentFailure(f"Telegram rejected the message: {exc.message}")
        if isinstance(exc, NetworkError | TelegramError):
            return TemporaryFailure(f"Telegram unreachable: {exc}")
        if isinstance(exc, OSError):
            return TemporaryFailure(f"network error: {exc}")
        return exc


def paid_broadcast(adapter: type[TelegramAdapter], rate: int) -> type[TelegramAdapter]:
    """The adapter with Telegram's paid broadcast: every send carries `allow_paid_broadcast`
    and the bot-wide limit is `rate` (up to 1,000/s); a chat's and a group's limits stay."""
    if rate <= FREE_RATE:
        return adapter
    limits = tuple(RateLimit("bot", rate, 1.0) if lim.scope == "bot" else lim for lim in adapter.capabilities.rate_limits)
    made: type[TelegramAdapter] = type(f"{adapter.__name__}PaidBroadcast", (adapter,),
                                       {"capabilities": replace(adapter.capabilities, rate_limits=limits)})
    return made
