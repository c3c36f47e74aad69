"""The web app: webhooks from chat platforms, feeds and boards, /healthz and Prometheus /metrics.

Run with `uvicorn --factory reminders.web.app:create_app_from_env`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reminders import logs
from reminders.definitions.reload import DefinitionWatcher, watch_in_background, watcher_for
from reminders.inbound.updates import process
from reminders.runtime import Runtime, open_runtime
from reminders.settings import load_settings
from reminders.views.board import BoardPages
from reminders.views.metrics import DeliveryCollector
from reminders.web.board import respond as board_page
from reminders.web.feeds import FeedCache

log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 1_000_000


def create_app(runtime: Runtime, *, watcher: DefinitionWatcher | None = None) -> Starlette:
    """`watcher`: hot reload of edited duty files and roster (reminders.reload), on a thread."""
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

    async def webhook(request: Request) -> Response:
        adapter = runtime.adapters.get(request.path_params["adapter"])
        if adapter is None:
            return PlainTextResponse("not found", status_code=404)
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BYTES or not adapter.verify_webhook(request.headers, body):
            log.warning("refused a %s webhook call from %s", adapter.name, request.client.host if request.client else "?")
            return PlainTextResponse("forbidden", status_code=403)
        try:
            payload = json.loads(body)
        except ValueError:
            return PlainTextResponse("bad request", status_code=400)
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
                             Route("/healthz", healthz), Route("/metrics", metrics)], lifespan=lifespan)


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def create_app_from_env() -> Starlette:
    """The app for `uvicorn --factory reminders.web.app:create_app_from_env` (the Procfile's web)."""
    settings = load_settings()
    logs.install(settings.secrets())
    runtime = open_runtime(settings, worker_id="web")
    return create_app(runtime, watcher=watcher_for(settings, runtime.engine, runtime.definitions))
