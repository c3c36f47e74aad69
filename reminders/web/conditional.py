"""HTTP caching for the feeds and the board: validators (ETag, Last-Modified), 304s,
gzip as the client asks for it (q-values honoured), HEAD as GET without the body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header admits gzip: listed with q > 0, or `*` with q > 0
    and gzip not refused (`gzip;q=0` refuses it)."""
    weights: dict[str, float] = {}
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding.strip():
            weights[coding.strip().lower()] = quality
    if "gzip" in weights:
        return weights["gzip"] > 0
    return weights.get("*", 0.0) > 0


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
