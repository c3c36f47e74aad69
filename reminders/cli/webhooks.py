"""`reminders webhook set|delete|info`: have the platforms post presses and replies to the web
app (`/webhooks/<adapter>` under REMINDERS_PUBLIC_URL), stop it, or ask how things stand.

Without a webhook, `reminders run` (or `reminders bot`) receives them by polling; see
docs/notes/operations.md for the two modes side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import click

from reminders.adapters.base import Adapter, DeliveryError, implements, title_of, webhook_url
from reminders.adapters.registry import load_adapters
from reminders.cli.common import LANG, fail, friendly, out
from reminders.i18n import t
from reminders.logs import redact
from reminders.settings import Settings, load_settings

WEB_APP = "uvicorn --factory reminders.web.app:create_app_from_env"


@click.group()
def webhook() -> None:
    """Webhooks: the platforms post presses and replies to the web app."""


def _chosen(settings: Settings, names: tuple[str, ...]) -> tuple[list[Adapter], list[Adapter]]:
    """(the enabled adapters named -- default: all -- whose webhook is set through the
    platform's API, the others among them that people write to: their webhook is set in the
    platform's own console)."""
    adapters = load_adapters(list(settings.adapters), settings)
    unknown = [n for n in names if n not in adapters]
    if unknown:
        fail(t(LANG, "Not enabled: {names} (REMINDERS_ADAPTERS={enabled}).", names=", ".join(unknown),
               enabled=",".join(settings.adapters)))
    picked = [adapters[n] for n in names] if names else list(adapters.values())
    by_api = [a for a in picked if implements(a, "set_webhook")]
    elsewhere = [a for a in picked if not implements(a, "set_webhook") and implements(a, "parse_update")]
    if not by_api and not elsewhere:
        fail(t(LANG, "No enabled adapter receives messages by webhook (REMINDERS_ADAPTERS={enabled}).",
               enabled=",".join(settings.adapters)))
    return by_api, elsewhere


def _on_each(adapters: list[Adapter], action: Callable[[Adapter], Awaitable[str]]) -> bool:
    """Run `action` on each adapter in turn and print its line; False if a platform refused."""

    async def each() -> bool:
        ok = True
        for adapter in adapters:
            try:
                await adapter.start()
                out.print(await action(adapter), markup=False, soft_wrap=True)
            except DeliveryError as exc:
                out.print(t(LANG, "{platform}: the platform refused: {detail}", platform=title_of(adapter),
                            detail=redact(str(exc))), markup=False, soft_wrap=True)
                ok = False
            finally:
                await adapter.close()
        return ok

    return asyncio.run(each())


def _elsewhere(settings: Settings, adapters: list[Adapter]) -> None:
    for adapter in adapters:
        out.print(t(LANG, "{platform}: its webhook is set in the platform's own developer console, not by this "
                          "command; the address to give there is {url}", platform=title_of(adapter),
                    url=webhook_url(settings.public_url, adapter.name)), markup=False, soft_wrap=True)


@webhook.command("set")
@click.argument("adapter_names", nargs=-1)
@friendly
def webhook_set(adapter_names: tuple[str, ...]) -> None:
    """Register REMINDERS_PUBLIC_URL/webhooks/<adapter> with the platforms (default: every
    enabled adapter that takes webhooks), with the configured secret."""
    settings = load_settings()
    by_api, elsewhere = _chosen(settings, adapter_names)
    if by_api and not settings.public_url.startswith("https://"):
        fail(t(LANG, "REMINDERS_PUBLIC_URL is {url}: the platforms deliver webhooks only to an https:// address "
                     "they can reach from the internet. Set it to the web app's public address, e.g. "
                     "https://nhacviec.example.vn.", url=settings.public_url))
    for adapter in by_api:  # every secret checked before any platform is asked: all or nothing
        adapter.check_webhook_settings()

    async def register(adapter: Adapter) -> str:
        url = webhook_url(settings.public_url, adapter.name)
        await adapter.set_webhook(url)
        return t(LANG, "{platform}: webhook set to {url}. Presses and replies now go to the web app: keep it "
                       "running ({command}). `reminders run` and `reminders bot` no longer poll {platform}.",
                 platform=title_of(adapter), url=url, command=WEB_APP)

    ok = _on_each(by_api, register)
    _elsewhere(settings, elsewhere)
    if not ok:
        raise SystemExit(1)


@webhook.command("delete")
@click.argument("adapter_names", nargs=-1)
@friendly
def webhook_delete(adapter_names: tuple[str, ...]) -> None:
    """Stop the platforms' webhook calls: `reminders run` (or `reminders bot`) polls again."""
    settings = load_settings()
    by_api, elsewhere = _chosen(settings, adapter_names)

    async def remove(adapter: Adapter) -> str:
        await adapter.delete_webhook()
        return t(LANG, "{platform}: webhook removed. `reminders run` (or `reminders bot`) receives presses and "
                       "replies by polling.", platform=title_of(adapter))

    ok = _on_each(by_api, remove)
    _elsewhere(settings, elsewhere)
    if not ok:
        raise SystemExit(1)


@webhook.command("info")
@click.argument("adapter_names", nargs=-1)
@friendly
def webhook_info(adapter_names: tuple[str, ...]) -> None:
    """What the platforms say: the webhook they call, updates waiting, their last error."""
    settings = load_settings()
    by_api, elsewhere = _chosen(settings, adapter_names)

    async def ask(adapter: Adapter) -> str:
        info = await adapter.webhook_info()
        platform = title_of(adapter)
        if not info.url:
            return t(LANG, "{platform}: no webhook; `reminders run` (or `reminders bot`) receives presses and "
                           "replies by polling.", platform=platform)
        line = t(LANG, "{platform}: webhook {url}", platform=platform, url=info.url)
        if info.pending:
            line += "; " + t(LANG, "{count} updates waiting", count=info.pending)
        if info.last_error:
            line += "; " + t(LANG, "last error: {error}", error=info.last_error)
        expected = webhook_url(settings.public_url, adapter.name)
        if info.url != expected:
            line += "; " + t(LANG, "not this deployment's address ({url})", url=expected)
        return line

    ok = _on_each(by_api, ask)
    _elsewhere(settings, elsewhere)
    if not ok:
        raise SystemExit(1)
