"""The adapter interface: what the core needs from a chat platform, and nothing more.

The core never names a platform. An adapter declares its capabilities and the core
picks the message form from them (buttons or a reply instruction, text length).
Third-party adapters register under the entry-point group ``reminders.adapters``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from reminders.settings import Settings

# A platform update as the platform sends it: a decoded JSON object (webhook body or polled item).
Payload = dict[str, Any]


@dataclass(frozen=True)
class RateLimit:
    """A platform limit, enforced across all worker processes by dramatiq's rate limiters.

    `scope` is "bot" (all messages of this adapter), "chat" (each private chat) or
    "group" (each group chat)."""

    scope: str
    limit: int
    window_seconds: float


@dataclass(frozen=True)
class Capabilities:
    buttons: bool = False  # inline buttons that report a press back
    groups: bool = True  # can post to group chats
    edits: bool = False  # can edit a sent message (progress "2/3 đã xác nhận")
    max_text: int = 2000  # characters per message
    send_window: timedelta | None = None  # may only write this long after the user last wrote
    rate_limits: tuple[RateLimit, ...] = ()
    # Requests in flight at once per worker process. A platform capped at a few dozen
    # messages a second needs few; more would only widen the gap between counting a
    # message against the limit and its arrival.
    concurrency: int = 32


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # "done" | "snooze"
    code: str  # the delivery's short code; fits easily in 64 bytes of callback data


@dataclass(frozen=True)
class OutgoingMessage:
    text: str
    buttons: tuple[Button, ...] = ()
    code: str = ""  # the delivery's short code, for replies that quote it


@dataclass(frozen=True)
class Address:
    """Where a message goes on one platform."""

    chat: str
    is_group: bool
    label: str  # a person's or team's name, for logs and the console


@dataclass(frozen=True)
class SendResult:
    message_id: str | None = None
    moved_to: str | None = None  # the chat has a new address (a group became a supergroup)


@dataclass(frozen=True)
class Inbound:
    """An update from a platform, in the core's terms: who wrote where, and what (a button
    press with its code, or text, maybe replying to one of our messages)."""

    adapter: str
    event_id: str
    chat: str
    is_group: bool
    sender: str
    sender_name: str = ""
    action: str | None = None  # "done" | "snooze" (a button)
    code: str | None = None  # delivery code carried by the button
    text: str | None = None
    reply_to: str | None = None  # platform message id this message replies to
    quoted_text: str | None = None  # the text of the message it quotes, where the platform gives it


@dataclass
class Outcome:
    """What the core wants said back for an `Inbound`; the adapter carries it out."""

    reply: str | None = None
    alert: bool = False  # show as a popup (buttons)
    edit: tuple[str, str, OutgoingMessage] | None = None  # (chat, message id, new message)
    recorded: bool = False


class DeliveryError(Exception):
    """Base for failures an adapter reports while sending."""


class TemporaryFailure(DeliveryError):
    """Worth retrying (network, 5xx, rate limit). `retry_after` in seconds if the platform said."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentFailure(DeliveryError):
    """Retrying will not help (blocked, removed from the group, outside the send window).

    `notify_leader`: the person could not be reached, and their team leader should hear of
    it through another channel (failures of group chats always tell the leaders).
    `chat_gone`: this address will not work again until the person comes back (they blocked
    the bot): the core flags it broken, so later messages take another way, and tells the
    leader."""

    def __init__(self, reason: str, *, notify_leader: bool = False, chat_gone: bool = False):
        super().__init__(reason)
        self.notify_leader = notify_leader
        self.chat_gone = chat_gone


@dataclass(frozen=True)
class Tokens:
    """A platform's access token and the single-use refresh token that renews it."""

    access_token: str
    refresh_token: str
    access_expires_at: datetime | None = None


class TokenStore(Protocol):
    """Rotating platform credentials, kept in the core's database and shared by every process
    (reminders.store.tokens). Only one process refreshes at a time: it claims a short lease."""

    refresh_lease: timedelta

    def load(self, account: str, initial: Tokens) -> Tokens:
        """The stored pair, seeded from `initial` (the configuration's) when it is new."""

    def current(self, account: str) -> Tokens | None:
        """The stored pair as it is now (another process may have refreshed it)."""

    def claim_refresh(self, account: str, stale_access: str, owner: str) -> Tokens | None:
        """The pair whose refresh token `owner` may now spend, or None if someone else holds
        the lease or the stored access token is no longer `stale_access`."""

    def store_refreshed(self, account: str, tokens: Tokens) -> None:
        """Keep a freshly issued pair (committed when this returns) and release the lease."""

    def release(self, account: str, owner: str) -> None:
        """Give up the lease after a failed refresh."""


@dataclass(frozen=True)
class AdapterServices:
    """What the core lends an adapter in each process (`Adapter.attach`)."""

    tokens: TokenStore | None = None


class Adapter(ABC):
    """A chat platform. Subclasses set `name` and `capabilities` and implement `send`."""

    name: ClassVar[str]
    title: ClassVar[str] = ""  # the platform's name in messages to people; default: name capitalised
    capabilities: ClassVar[Capabilities]

    @classmethod
    def from_settings(cls, settings: Settings) -> Adapter:
        """Build from the process's settings; raise ConfigurationError naming a bad variable.
        A third-party adapter may read its own variables here."""
        return cls()

    def attach(self, services: AdapterServices) -> None:
        """Called once per process, before `start`, with the core's services (a token store)."""

    def address_in(self, chats: Mapping[str, str], key: str) -> str | None:
        """This platform's address among a roster entry's `chats` (`key` is its roster name)."""
        return chats.get(key)

    async def start(self) -> None:
        """Open connections; called once per worker process on its event loop."""

    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def send(self, address: Address, message: OutgoingMessage) -> SendResult:
        """Send one message; raise TemporaryFailure or PermanentFailure on failure."""

    async def edit(self, address: Address, message_id: str, message: OutgoingMessage) -> None:
        """Replace a sent message's text and buttons (only if capabilities.edits)."""
        raise NotImplementedError

    # -- inbound (optional): platforms that people answer on ---------------------------
    def parse_update(self, payload: Payload) -> Inbound | None:
        """A platform update (webhook body or polled item) as an `Inbound`, or None to ignore."""
        raise NotImplementedError

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether a webhook call really comes from the platform (constant-time checks).
        Deny by default: an adapter without webhooks accepts none."""
        return False

    async def respond(self, payload: Payload, outcome: Outcome) -> None:
        """Carry out an `Outcome` for the update it answers (popup, reply, edit)."""
        raise NotImplementedError

    async def poll(self) -> AsyncIterator[Payload]:
        """Yield updates by long polling, for deployments without a public webhook."""
        raise NotImplementedError
        yield {}
