"""The web app: webhooks from chat platforms and /healthz (feeds and metrics come later).

Run with `uvicorn --factory reminders.web:create_app_from_env`.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .bot import process
from .runtime import Runtime

log = logging.getLogger("reminders.web")
MAX_WEBHOOK_BYTES = 1_000_000


def create_app(runtime: Runtime) -> Starlette:
    @asynccontextmanager
    async def lifespan(app):
        for adapter in runtime.adapters.values():
            await adapter.start()
        yield
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
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/webhooks/{adapter}", webhook, methods=["POST"]),
                             Route("/healthz", healthz)], lifespan=lifespan)


def create_app_from_env() -> Starlette:
    from .service import open_runtime
    from .settings import load_settings

    return create_app(open_runtime(load_settings(), worker_id="web"))
