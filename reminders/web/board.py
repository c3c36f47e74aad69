"""Serving the board page: the token checked, the page from its cache, HTTP caching."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from reminders.store.feed_tokens import scope_for
from reminders.views.board import CACHE_SECONDS, BoardPages
from reminders.views.feeds import Scope
from reminders.web.conditional import cached_response


async def respond(pages: BoardPages, request: Request, token: str) -> Response:
    """The board for a live feed token; 404 for anything else (unknown and revoked look alike)."""
    def lookup() -> tuple[str, bytes] | None:
        scope_text = scope_for(pages.runtime.engine, token)
        if scope_text is None:
            return None
        return pages.page(Scope.parse(scope_text), request.query_params.get("lang"))

    found = await asyncio.to_thread(lookup)
    if found is None:
        return PlainTextResponse("Not Found", status_code=404, headers={"Cache-Control": "no-store"})
    version, html = found
    headers = {"Cache-Control": f"private, max-age={CACHE_SECONDS}",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                          "form-action 'none'; frame-ancestors 'none'",
               "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
               "X-Robots-Tag": "noindex, nofollow"}
    return cached_response(request, html, media_type="text/html; charset=utf-8", etag=f'"{version}"',
                           headers=headers)
