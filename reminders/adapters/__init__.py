"""Chat adapters. The core talks to platforms only through `Adapter`."""

from reminders.adapters.base import (
    Adapter,
    Address,
    Button,
    Capabilities,
    DeliveryError,
    OutgoingMessage,
    PermanentFailure,
    RateLimit,
    SendResult,
    TemporaryFailure,
)
from reminders.adapters.registry import ENTRY_POINT_GROUP, available_adapters, load_adapters

__all__ = [
    "Adapter", "Address", "Button", "Capabilities", "DeliveryError", "OutgoingMessage",
    "PermanentFailure", "RateLimit", "SendResult", "TemporaryFailure", "ENTRY_POINT_GROUP",
    "available_adapters", "load_adapters",
]
