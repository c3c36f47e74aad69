"""One settings object, read from environment variables (names in the README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from reminders.errors import ConfigurationError
from reminders.store.engine import DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    calendars: str = "calendars"
    roster: str = "calendars/roster.yaml"
    adapters: tuple[str, ...] = ("console",)
    horizon: timedelta = timedelta(days=14)
    tick_seconds: float = 10.0
    claim_lease: timedelta = timedelta(minutes=5)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # secrets live here; never logged


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum:g}, not {raw}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (default: os.environ); ConfigurationError names a bad variable."""
    env = dict(os.environ if env is None else env)
    adapters = tuple(a.strip() for a in env.get("REMINDERS_ADAPTERS", "console").split(",") if a.strip())
    if not adapters:
        raise ConfigurationError("REMINDERS_ADAPTERS is empty; name at least one adapter, e.g. console")
    url = env.get("REMINDERS_DATABASE_URL") or env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("sqlite", "postgresql")):
        raise ConfigurationError("REMINDERS_DATABASE_URL must start with sqlite:// or postgresql://")
    redis_url = env.get("REMINDERS_REDIS_URL") or env.get("REDIS_URL") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError("REMINDERS_REDIS_URL must start with redis://, rediss:// or unix://")
    calendars = env.get("REMINDERS_CALENDARS", "calendars")
    return Settings(
        database_url=url,
        redis_url=redis_url,
        calendars=calendars,
        roster=env.get("REMINDERS_ROSTER", os.path.join(calendars, "roster.yaml")),
        adapters=adapters,
        horizon=timedelta(days=_number(env, "REMINDERS_HORIZON_DAYS", 14, 1)),
        tick_seconds=_number(env, "REMINDERS_TICK_SECONDS", 10, 0.1),
        claim_lease=timedelta(seconds=_number(env, "REMINDERS_CLAIM_LEASE_SECONDS", 300, 1)),
        env=env,
    )
