"""The web app: webhooks from chat platforms, feeds and boards, /healthz and Prometheus /metrics.

Run with `uvicorn --factory reminders.web.app:create_app_from_env`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reminders import logs
from reminders.definitions.reload import DefinitionWatcher, watch_in_background, watcher_for
from reminders.errors import RemindersError
from reminders.inbound.updates import process
from reminders.runtime import Runtime, open_runtime
from reminders.settings import load_settings
from reminders.views.board import BoardPages
from reminders.views.metrics import DeliveryCollector
from reminders.web.board import respond as board_page
from reminders.web.console import ConsoleConfig, console_routes
from reminders.web.feeds import FeedCache

log = logging.getLogger(__name__)
# Webhook bodies: the platforms' updates are a few kilobytes. A body is read only after its
# secret or signature header passed, at most this many at once, each within these bounds.
MAX_WEBHOOK_BYTES = 1_000_000
MAX_WEBHOOK_BODIES = 16  # read at the same time; the others wait for a turn
MAX_WAITING = 16  # waiting for a turn (uvicorn holds up to 256 kB of each): more get 503 at once
TURN_WAIT_SECONDS = 5.0  # longer than this for a turn: 503 (the platform retries)
BODY_READ_SECONDS = 10.0  # a body that takes longer (a trickle): 408


class _TooLarge(Exception):
    pass


def _refuse(status: int, text: str, **headers: str) -> Response:
    """An answer given without reading (the rest of) the body: the connection is closed
    after it, so nothing more of the body is read."""
    return PlainTextResponse(text, status_code=status, headers={"Connection": "close", **headers})


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read as it streams in and given up as soon as it passes `limit`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def create_app(runtime: Runtime, *, watcher: DefinitionWatcher | None = None,
               console: ConsoleConfig | None = None) -> Starlette:
    """`watcher`: hot reload of edited duty files and roster (reminders.reload), on a thread.
    `console`: where the web console at /admin writes (without it, /admin is not served)."""
    stop_watching = threading.Event()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for adapter in runtime.adapters.values():
            await adapter.start()
        if watcher is not None:
            watch_in_background(watcher, stop_watching)
        yield
        stop_watching.set()
        for adapter in runtime.adapters.values():
            await adapter.close()

    turns = asyncio.Semaphore(MAX_WEBHOOK_BODIES)
    waiting = [0]  # calls waiting for a turn

    async def webhook(request: Request) -> Response:
        """Headers first (404, 403, 413 without reading the body), then the body, bounded in
        size, time and how many are read at once, then its JSON (400), then its signature (403)."""
        adapter = runtime.adapters.get(request.path_params["adapter"])
        if adapter is None:
            return _refuse(404, "not found")
        client = request.client.host if request.client else "?"
        if not adapter.verify_webhook_headers(request.headers):
            log.warning("refused a %s webhook call from %s (secret or signature header)", adapter.name, client)
            return _refuse(403, "forbidden")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
            log.warning("refused a %s webhook call from %s: %s bytes declared", adapter.name, client, declared)
            return _refuse(413, "too large")
        if turns.locked() and waiting[0] >= MAX_WAITING:
            log.warning("refused a %s webhook call from %s: %d bodies being read and %d waiting", adapter.name,
                        client, MAX_WEBHOOK_BODIES, waiting[0])
            return _refuse(503, "busy", **{"Retry-After": "5"})
        waiting[0] += 1
        try:
            async with asyncio.timeout(TURN_WAIT_SECONDS):
                await turns.acquire()
        except TimeoutError:
            log.warning("refused a %s webhook call from %s: %d bodies already being read", adapter.name, client,
                        MAX_WEBHOOK_BODIES)
            return _refuse(503, "busy", **{"Retry-After": "5"})
        finally:
            waiting[0] -= 1
        try:
            async with asyncio.timeout(BODY_READ_SECONDS):
                body = await _read_body(request, MAX_WEBHOOK_BYTES)
        except _TooLarge:
            log.warning("refused a %s webhook call from %s: body over %d bytes", adapter.name, client,
                        MAX_WEBHOOK_BYTES)
            return _refuse(413, "too large")
        except TimeoutError:
            return _refuse(408, "too slow")
        except ClientDisconnect:
            return _refuse(400, "bad request")
        finally:
            turns.release()
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            payload = None
        if not isinstance(payload, dict):  # an update is a JSON object
            return PlainTextResponse("bad request", status_code=400)
        if not adapter.verify_webhook(request.headers, body):
            log.warning("refused a %s webhook call from %s", adapter.name, client)
            return PlainTextResponse("forbidden", status_code=403)
        await process(runtime, adapter, payload)
        return JSONResponse({"ok": True})

    async def healthz(request: Request) -> Response:
        try:
            await asyncio.to_thread(_ping, runtime.engine)
        except Exception:
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True})

    feeds = FeedCache(runtime)

    async def feed(request: Request) -> Response:
        return await feeds.respond(request, request.path_params["token"])

    boards = BoardPages(runtime)

    async def board(request: Request) -> Response:
        return await board_page(boards, request, request.path_params["token"])

    registry = CollectorRegistry()
    registry.register(DeliveryCollector(runtime.engine, runtime.clock))

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/webhooks/{adapter}", webhook, methods=["POST"]),
                             Route("/feeds/{token}.ics", feed, methods=["GET", "HEAD"]),
                             Route("/board/{token}", board, methods=["GET", "HEAD"]),
                             Route("/healthz", healthz), Route("/metrics", metrics),
                             *(console_routes(runtime, console) if console else [])], lifespan=lifespan)


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def create_app_from_env() -> Starlette:
    """The app for `uvicorn --factory reminders.web.app:create_app_from_env` (the Procfile's web).

    Secrets are taken out of every log line (uvicorn's included) before anything else runs;
    a bad setting or invalid definitions end the process with the message, exit 1, no traceback."""
    try:
        settings = load_settings()
    except RemindersError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if not logging.getLogger().handlers:  # uvicorn configures its own loggers, not the root's
        logs.configure(settings.log_level, settings.log_format)
    logs.install(settings.secrets())
    try:
        runtime = open_runtime(settings, worker_id="web")
    except RemindersError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
    return create_app(runtime, watcher=watcher_for(settings, runtime.engine, runtime.definitions),
                      console=ConsoleConfig(Path(settings.calendars), Path(settings.roster)))
