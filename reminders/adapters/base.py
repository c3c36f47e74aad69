"""The adapter interface: what the core needs from a chat platform, and nothing more.

The core never names a platform. An adapter declares its capabilities and the core
picks the message form from them (buttons or a reply instruction, text length).
Third-party adapters register under the entry-point group ``reminders.adapters``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from reminders.logs import redact

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
    sent_at: datetime | None = None  # when the platform says it was sent (aware UTC), where it says so


def platform_time(value: object, *, milliseconds: bool | None = False) -> datetime | None:
    """A platform's timestamp (seconds, or milliseconds, since 1970; a number or digits) as
    aware UTC; None when it is missing. `milliseconds=None`: whichever the size says (more
    than 10^11 is milliseconds). One that is no time at all (text, out of range) becomes the
    epoch: far outside any freshness window, so the event is refused."""
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # anything else is caught below
        if milliseconds or milliseconds is None and abs(number) > 1e11:
            number /= 1000
        return datetime.fromtimestamp(number, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, UTC)


@dataclass
class Outcome:
    """What the core wants said back for an `Inbound`; the adapter carries it out."""

    reply: str | None = None
    alert: bool = False  # show as a popup (buttons)
    edit: tuple[str, str, OutgoingMessage] | None = None  # (chat, message id, new message)
    recorded: bool = False
    buttons: tuple[Button, ...] = ()  # under the reply, on adapters with buttons
    notices: tuple[tuple[str, str], ...] = ()  # (person id, text): told once to others (a duty changed)


class DeliveryError(Exception):
    """Base for failures an adapter reports while sending. Its text is logged, stored and
    shown (delivery.error, the audit trail, `reminders deliveries`), so the process's secrets
    are taken out of it when it is made: a platform's error may echo the request URL, bot
    token included (a self-hosted Bot API server, a proxy)."""

    def __init__(self, reason: str, *args: object) -> None:
        super().__init__(redact(str(reason)), *args)


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
class WebhookInfo:
    """What the platform says about the webhook it calls for this bot."""

    url: str  # "" when none is set: updates wait to be polled
    pending: int | None = None  # updates the platform holds, not yet delivered
    last_error: str | None = None  # the platform's last failure to deliver, as it said it


@dataclass(frozen=True)
class InviteRoute:
    """How a person redeems an invite code on a platform: a deep link that sends `/start
    <code>` by itself where the platform has them, else the chat to open (a link, or the
    name to look for) and `/start <code>` to send there."""

    link: str | None = None  # opens the chat with `/start <code>` ready (Telegram's t.me deep links)
    chat_link: str | None = None  # opens the chat; the person then sends `/start <code>`
    name: str = ""  # the bot's or account's name, as people find it in the app


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

    def verify_webhook_headers(self, headers: Mapping[str, str]) -> bool:
        """The check the headers alone allow, made before the body is read: False refuses the
        call unread. A secret-token header is checked in full here; a signature over the body
        can only be checked for its presence and form. Default: whether the adapter checks
        webhooks at all (one that does not refuses every call unread)."""
        return type(self).verify_webhook is not Adapter.verify_webhook

    async def respond(self, payload: Payload, outcome: Outcome) -> None:
        """Carry out an `Outcome` for the update it answers (popup, reply, edit)."""
        raise NotImplementedError

    async def poll(self) -> AsyncIterator[Payload]:
        """Yield updates by long polling, for deployments without a public webhook."""
        raise NotImplementedError
        yield {}

    # -- webhooks (optional): platforms that register them through their API --------------
    def check_webhook_settings(self) -> None:
        """Raise ConfigurationError, naming the variable, if `set_webhook` would be refused
        before asking the platform (the secret the web app checks is missing)."""

    async def set_webhook(self, url: str) -> None:
        """Have the platform post updates to `url` (with the configured secret); raise
        ConfigurationError naming the variable when the secret is missing."""
        raise NotImplementedError

    async def delete_webhook(self) -> None:
        """Stop the platform's webhook calls: updates wait to be polled again."""
        raise NotImplementedError

    async def webhook_info(self) -> WebhookInfo:
        """The webhook the platform calls now (url "" when none)."""
        raise NotImplementedError

    # -- invites (optional) ------------------------------------------------------------
    async def invite_route(self, code: str) -> InviteRoute | None:
        """How a person redeems invite `code` here (called after `start`); None if people
        cannot write to this platform (the console)."""
        return None


def implements(adapter: Adapter, method: str) -> bool:
    """Whether `adapter` implements an optional method of the contract (poll, set_webhook,
    parse_update, ...), rather than inheriting the stub."""
    return getattr(type(adapter), method) is not getattr(Adapter, method)


def title_of(adapter: Adapter) -> str:
    """The platform's name in messages to people."""
    return adapter.title or adapter.name.capitalize()


def webhook_url(public_url: str, adapter: str) -> str:
    """Where the web app receives `adapter`'s webhook calls (its route /webhooks/<adapter>)."""
    return f"{public_url.rstrip('/')}/webhooks/{adapter}"
