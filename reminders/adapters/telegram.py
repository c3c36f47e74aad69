"""Telegram through python-telegram-bot v22: one long-lived Bot per process, on the
event loop of dramatiq's AsyncIO middleware (never `asyncio.run` per message)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from ..errors import ConfigurationError
from .base import (
    Adapter,
    Address,
    Capabilities,
    OutgoingMessage,
    PermanentFailure,
    RateLimit,
    SendResult,
    TemporaryFailure,
)

DEFAULT_API_URL = "https://api.telegram.org/bot"


def keyboard(message: OutgoingMessage) -> InlineKeyboardMarkup | None:
    """Buttons carry `action:code` (a few bytes; Telegram allows 64)."""
    if not message.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=f"{b.action}:{b.code}")
                                  for b in message.buttons]])


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramAdapter(Adapter):
    name = "telegram"
    capabilities = Capabilities(
        buttons=True, groups=True, edits=True, max_text=4096,
        rate_limits=(RateLimit("bot", 30, 1.0), RateLimit("chat", 1, 1.0), RateLimit("group", 20, 60.0)),
    )

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL):
        self.bot = Bot(token, base_url=api_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramAdapter:
        token = env.get("TELEGRAM_BOT_TOKEN", "")
        if not token or ":" not in token:
            raise ConfigurationError("TELEGRAM_BOT_TOKEN is missing or malformed (expected '123456:ABC...' "
                                     "from @BotFather)")
        return cls(token, env.get("TELEGRAM_API_URL") or DEFAULT_API_URL)

    async def start(self) -> None:
        await self.bot.initialize()

    async def close(self) -> None:
        await self.bot.shutdown()

    async def send(self, address: Address, message: OutgoingMessage) -> SendResult:
        try:
            sent = await self.bot.send_message(address.chat, message.text, reply_markup=keyboard(message))
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

    @staticmethod
    def translate(exc: Exception) -> Exception:
        """python-telegram-bot's errors as the core's: retry, or give up with a reason."""
        if isinstance(exc, RetryAfter):
            return TemporaryFailure("Telegram flood control", retry_after=_seconds(exc.retry_after))
        if isinstance(exc, Forbidden):
            return PermanentFailure(f"Telegram refused: {exc.message} (bot blocked or removed from the chat)")
        if isinstance(exc, BadRequest):
            return PermanentFailure(f"Telegram rejected the message: {exc.message}")
        if isinstance(exc, NetworkError | TelegramError):
            return TemporaryFailure(f"Telegram unreachable: {exc}")
        if isinstance(exc, OSError):
            return TemporaryFailure(f"network error: {exc}")
        return exc
