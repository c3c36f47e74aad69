"""HTTP caching for the feeds and the board: validators (ETag, Last-Modified), 304s,
gzip as the client asks for it (q-values honoured), HEAD as GET without the body."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")  # RFC 9110, 12.4.2


def _weights(header: str) -> dict[str, float]:
    """coding -> q of an Accept-Encoding header; an element with a malformed q-value (q=2,
    q=inf, q=abc) is left out, as if the client had not sent it."""
    weights: dict[str, float] = {}
    for part in header.split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        quality: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                quality = float(value) if QVALUE.fullmatch(value) else None
        if coding and quality is not None:
            weights[coding.lower()] = quality
    return weights


def accepts_gzip(header: str) -> bool:
    """Whether to answer in gzip, by the client's q-values: gzip (or x-gzip, or `*`) must be
    acceptable (q > 0; `gzip;q=0` refuses it) and not less preferred than identity when the
    client ranks identity (`gzip;q=0.5, identity;q=1` asks for the plain body)."""
    weights = _weights(header)
    gzip = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    if gzip <= 0:
        return False
    identity = weights.get("identity")
    return identity is None or gzip >= identity


def not_modified(request: Request, etag: str, last_modified: datetime | None = None) -> bool:
    """If-None-Match wins over If-Modified-Since (RFC 9110, 13.1.3)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return etag in tags or if_none_match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since and last_modified is not None:
        try:
            return last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def cached_response(request: Request, body: bytes, *, media_type: str, etag: str,
                    headers: Mapping[str, str] = {}, last_modified: datetime | None = None,
                    gzipped: bytes | None = None) -> Response:
    """The response for a cacheable representation: 304 when the client's copy is current,
    else the body (gzipped when the client accepts it and `gzipped` is given). A HEAD gets
    the same headers as a GET, Content-Length included, and no body."""
    all_headers = {"ETag": etag, **headers}
    if last_modified is not None:
        all_headers["Last-Modified"] = format_datetime(last_modified, usegmt=True)
    if gzipped is not None:
        all_headers["Vary"] = "Accept-Encoding"
    if not_modified(request, etag, last_modified):
        return Response(status_code=304, headers=all_headers)
    if gzipped is not None and accepts_gzip(request.headers.get("accept-encoding", "")):
        body, all_headers["Content-Encoding"] = gzipped, "gzip"
    if request.method == "HEAD":
        all_headers["Content-Length"] = str(len(body))
        return Response(b"", media_type=media_type, headers=all_headers)
    return Response(body, media_type=media_type, headers=all_headers)
