"""Serving feeds over HTTP: token check, a cache invalidated on change, ETag/304, gzip."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from reminders.runtime import Runtime
from reminders.store.feed_tokens import scope_for
from reminders.views.feeds import Scope, build_feed, feed_version, shown_fingerprint
from reminders.web.conditional import cached_response

CONTENT_TYPE = "text/calendar; charset=utf-8"


@dataclass
class _Rendered:
    version: str
    body: bytes
    gzipped: bytes
    last_modified: datetime


class FeedCache:
    """One rendered feed per scope, rebuilt once when its version (definitions, roster,
    acknowledgements of its teams) changes. The version itself is re-read at most every
    VERSION_TTL seconds: clients refresh hourly, so a few seconds' delay goes unnoticed."""

    VERSION_TTL = 5.0

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._rendered: dict[str, _Rendered] = {}
        self._checked: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._definitions: tuple[object, object] | None = None  # the duties and roster last seen
        self._roster_fp = ""

    def _version(self, scope: Scope) -> str:
        rt = self.runtime
        duties, roster = rt.duties, rt.roster
        seen = self._definitions
        if seen is None or seen[0] is not duties or seen[1] is not roster:
            # A hot reload swapped them (reminders.reload): a new ETag at once, not after the TTL.
            self._definitions = (duties, roster)
            self._roster_fp = shown_fingerprint(roster)  # names too: a rename is a new ETag
            self._checked.clear()
        checked = self._checked.get(str(scope))
        if checked and time.monotonic() - checked[0] < self.VERSION_TTL:
            return checked[1]
        version = feed_version(rt.engine, dict(duties), roster, self._roster_fp, scope)
        self._checked[str(scope)] = (time.monotonic(), version)
        return version

    def _current(self, scope: Scope) -> _Rendered:
        version = self._version(scope)
        cached = self._rendered.get(str(scope))
        if cached is not None and cached.version == version:
            return cached
        with self._locks[str(scope)]:  # one rebuild per change, however many requests wait
            cached = self._rendered.get(str(scope))
            if cached is None or cached.version != version:
                rt = self.runtime
                body = build_feed(rt.engine, dict(rt.duties), rt.roster, scope, rt.clock())
                cached = _Rendered(version, body, gzip.compress(body, 6),
                                   datetime.now(UTC).replace(microsecond=0))
                self._rendered[str(scope)] = cached
        return cached

    def _lookup(self, token: str) -> _Rendered | None:
        scope_text = scope_for(self.runtime.engine, token)
        return None if scope_text is None else self._current(Scope.parse(scope_text))

    def invalidate(self) -> None:
        """Forget version checks (after an acknowledgement made in this process)."""
        self._checked.clear()

    async def respond(self, request: Request, token: str) -> Response:
        rendered = await asyncio.to_thread(self._lookup, token)  # one thread hop
        if rendered is None:  # unknown and revoked look the same; nothing says whether it exists
            return PlainTextResponse("Not Found", status_code=404)
        return cached_response(request, rendered.body, media_type=CONTENT_TYPE, etag=f'"{rendered.version}"',
                               headers={"Cache-Control": "private, max-age=300"},
                               last_modified=rendered.last_modified, gzipped=rendered.gzipped)

