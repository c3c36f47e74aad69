"""Finding adapters: the entry-point group `reminders.adapters` maps names to classes."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points

from reminders.adapters.base import Adapter
from reminders.errors import ConfigurationError

ENTRY_POINT_GROUP = "reminders.adapters"


def available_adapters() -> dict[str, type[Adapter]]:
    """Every installed adapter class by name (loaded lazily, one import each)."""
    found = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry)
    return found  # type: ignore[return-value]


def load_adapters(names: list[str], env: Mapping[str, str]) -> dict[str, Adapter]:
    """Instantiate the named adapters in preference order, configured from `env`."""
    entries = available_adapters()
    adapters: dict[str, Adapter] = {}
    for name in names:
        if name not in entries:
            installed = ", ".join(sorted(entries)) or "none"
            raise ConfigurationError(
                f"REMINDERS_ADAPTERS names '{name}', which is not installed (installed: {installed})")
        adapter_class = entries[name].load()
        adapters[name] = adapter_class.from_env(env)
    return adapters
