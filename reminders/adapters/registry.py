"""Finding adapters: the entry-point group `reminders.adapters` maps names to classes."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from reminders.adapters.base import Adapter
from reminders.errors import ConfigurationError
from reminders.settings import Settings

ENTRY_POINT_GROUP = "reminders.adapters"


def available_adapters() -> dict[str, EntryPoint]:
    """Every installed adapter by name, as its entry point: a class is imported only when
    its adapter is enabled."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry)
    return found


def load_adapters(names: list[str], settings: Settings) -> dict[str, Adapter]:
    """Instantiate the named adapters in preference order, configured from `settings`."""
    entries = available_adapters()
    adapters: dict[str, Adapter] = {}
    for name in names:
        if name not in entries:
            installed = ", ".join(sorted(entries)) or "none"
            raise ConfigurationError(
                f"REMINDERS_ADAPTERS names '{name}', which is not installed (installed: {installed})")
        adapter_class = entries[name].load()
        if not (isinstance(adapter_class, type) and issubclass(adapter_class, Adapter)):
            raise ConfigurationError(f"the adapter '{name}' ({entries[name].value}) is not a reminders Adapter")
        adapters[name] = adapter_class.from_settings(settings)
    return adapters
