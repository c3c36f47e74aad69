"""The web process under attack and under audit, as production runs it
(`uvicorn --factory reminders.web.app:create_app_from_env`, a process of its own, Telegram,
Zalo OA and Zalo Bot enabled against the fake platforms on loopback):

- a 300 MB body to any webhook route is refused while it streams in, and the process's peak
  resident memory (VmHWM, from /proc) grows by less than 50 MB; so does a crowd of bodies;
- JSON nested too deep for the parser is a 400, not a 500 with a traceback;
- with the access log on and DEBUG logging, no feed or board token and no secret appears in
  anything the process writes, and the access log still works;
- HEAD answers as GET without the body, and gzip follows the client's q-values."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import SHIPPED_CALENDARS, _postgres_database
from webproc import MB, TELEGRAM_SECRET, ZALO_BOT_SECRET, Platforms, WebProcess, stream_post

from reminders.store.engine import make_engine
from reminders.store.feed_tokens import create_token

BODY = 300 * MB
RSS_GROWTH = 50 * MB


@pytest.fixture
def platforms():
    servers = Platforms.start()
    yield servers
    servers.stop()


def _directory(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED_CALENDARS, tmp_path / "calendars")
    return tmp_path / "calendars"


def _web(tmp_path: Path, platforms: Platforms, database_url: str | None = None, *args: str,
         **env: str) -> tuple[WebProcess, str]:
    """The web process over a database holding one feed token (for the commune); returns it and the token."""
    database_url = database_url or f"sqlite:///{tmp_path / 'web.db'}"
    engine = make_engine(database_url)
    _, token = create_token(engine, "commune:xa-tan-lap", datetime.now(UTC), "Cán bộ văn hóa")
    engine.dispose()
    web = WebProcess({**platforms.environment(), "REMINDERS_DATABASE_URL": database_url,
                      "REMINDERS_CALENDARS": str(_directory(tmp_path)), **env}, tmp_path, args).start()
    return web, token


def _oa_signature_header() -> dict[str, str]:
    """A Zalo OA signature header of the right form: the body it claims to sign is not read yet."""
    return {"X-ZEvent-Signature": "mac=" + hashlib.sha256(b"anything").hexdigest()}


def _telegram_update(update_id: int) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": int(time.time()),
                                                "chat": {"id": 555000, "type": "private"},
                                                "from": {"id": 555000, "is_bot": False, "first_name": "Lạ"},
                                                "text": "xin chào"}}


def _post_telegram(web: WebProcess, payload: bytes) -> int:
    return httpx.post(f"{web.url}/webhooks/telegram", content=payload, timeout=30,
                      headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}).status_code


def test_a_300_mb_body_to_any_webhook_route_is_refused_while_it_streams_in(tmp_path, platforms):
    web, token = _web(tmp_path, platforms)
    try:
        for n in range(3):  # warm: everything a webhook call touches is loaded before the baseline
            assert _post_telegram(web, json.dumps(_telegram_update(n + 1)).encode()) == 200
        httpx.get(f"{web.url}/feeds/{token}.ics", timeout=30).raise_for_status()
        before = web.memory()

        cases = [  # (route, headers, expected answer)
            ("/webhooks/telegram", {}, 403),  # no secret: refused on the headers, unread
            ("/webhooks/telegram", {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret-0123456789"}, 403),
            ("/webhooks/telegram", {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}, 413),  # the secret leaked
            ("/webhooks/zalo_bot", {}, 403),
            ("/webhooks/zalo_bot", {"X-Bot-Api-Secret-Token": ZALO_BOT_SECRET}, 413),
            ("/webhooks/zalo_oa", {}, 403),
            ("/webhooks/zalo_oa", {"X-ZEvent-Signature": "mac=not-hex"}, 403),
            ("/webhooks/zalo_oa", _oa_signature_header(), 413),  # a signature can only be checked on the body
            ("/webhooks/no-such-platform", {}, 404),
        ]
        results = []
        for route, headers, expected in cases:
            for chunked in (False, True):
                status, sent = stream_post(web.port, route, headers, BODY, chunked=chunked)
                results.append((route, chunked, status, sent))
                assert status == expected, (route, headers, chunked, status)
                assert sent < 50 * MB, f"{route}: the server went on reading ({sent / MB:.0f} MB)"
        after = web.memory()
        growth = after["VmHWM"] - before["VmHWM"]
        print(f"\npeak RSS {before['VmHWM'] / MB:.1f} MB before, {after['VmHWM'] / MB:.1f} MB after "
              f"{len(results)} bodies of 300 MB (grew {growth / MB:.1f} MB); most sent before refusal: "
              f"{max(r[3] for r in results) / MB:.1f} MB")
        assert growth < RSS_GROWTH

        # Still serving.
        assert httpx.get(f"{web.url}/healthz", timeout=30).status_code == 200
        assert _post_telegram(web, json.dumps(_telegram_update(99)).encode()) == 200
    finally:
        output = web.stop()
    assert "Traceback" not in output


def _unread_by_server(port: int) -> dict[int, int]:
    """client port -> bytes the server has received on that connection and not read yet
    (the receive queue of its established sockets, from /proc/net/tcp)."""
    unread = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":  # local port; ESTABLISHED
            unread[int(fields[2].split(":")[1], 16)] = int(fields[4].split(":")[1], 16)
    return unread


def test_a_crowd_of_bodies_read_at_once_is_bounded(tmp_path, platforms):
    """100 connections each stream a 1 MB body (under the limit) with a well-formed Zalo OA
    signature header, and hold the last bytes back. Memory is read once every connection has
    either been answered and closed, or sent all it will and seen the server read all of it."""
    web, _ = _web(tmp_path, platforms)
    sockets: list[socket.socket] = []
    try:
        for n in range(3):
            assert _post_telegram(web, json.dumps(_telegram_update(n + 1)).encode()) == 200
        before = web.memory()
        size, held_back = 1_000_000, 1_000
        remaining: dict[socket.socket, int] = {}
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", web.port))
            head = (f"POST /webhooks/zalo_oa HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n"
                    f"X-ZEvent-Signature: {_oa_signature_header()['X-ZEvent-Signature']}\r\n\r\n")
            sock.sendall(head.encode())
            sock.setblocking(False)
            sockets.append(sock)
            remaining[sock] = size - held_back
        data = b"x" * 65536
        closed: set[socket.socket] = set()
        deadline = time.monotonic() + 120
        while any(left and sock not in closed for sock, left in remaining.items()):
            assert time.monotonic() < deadline, "the bodies neither went in nor were refused"
            progressed = False
            for sock, left in remaining.items():
                if not left or sock in closed:
                    continue
                try:
                    remaining[sock] -= sock.send(data[:left])
                    progressed = True
                except BlockingIOError:  # the server is not reading this one (yet)
                    continue
                except OSError:  # refused (503 after waiting for a turn) and closed
                    closed.add(sock)
            if not progressed:
                time.sleep(0.05)
        sent = [sock for sock in sockets if sock not in closed]
        while any(_unread_by_server(web.port).get(sock.getsockname()[1], 0) for sock in sent):
            assert time.monotonic() < deadline, "the server never read what it was sent"
            time.sleep(0.1)
        after = web.memory()
        growth = after["VmHWM"] - before["VmHWM"]
        print(f"\n100 bodies of 1 MB at once ({len(closed)} refused while sending): "
              f"peak RSS grew {growth / MB:.1f} MB")
        assert growth < RSS_GROWTH
        assert httpx.get(f"{web.url}/healthz", timeout=30).status_code == 200
    finally:
        for sock in sockets:
            sock.close()
        output = web.stop()
    assert "Traceback" not in output


def test_json_nested_too_deep_is_a_400_not_a_traceback(tmp_path, platforms):
    web, _ = _web(tmp_path, platforms)
    nested = b"[" * 200_000 + b"]" * 200_000  # 400 kB, under the size limit
    try:
        assert _post_telegram(web, nested) == 400
        assert _post_telegram(web, b'{"update_id": 1, "message": ' + nested + b"}") == 400
        zalo_bot = httpx.post(f"{web.url}/webhooks/zalo_bot", content=nested, timeout=30,
                              headers={"X-Bot-Api-Secret-Token": ZALO_BOT_SECRET})
        assert zalo_bot.status_code == 400
        # Zalo OA: the timestamp the signature covers is inside the body.
        oa = platforms.zalo_oa
        body = b'{"timestamp": "1700000000000", "message": ' + nested + b"}"
        mac = hashlib.sha256(oa.app_id.encode() + body + b"1700000000000" + oa.oa_secret_key.encode()).hexdigest()
        signed = httpx.post(f"{web.url}/webhooks/zalo_oa", content=body, timeout=30,
                            headers={"X-ZEvent-Signature": f"mac={mac}"})
        assert signed.status_code == 400
        assert _post_telegram(web, b"[1, 2]") == 400, "an update is a JSON object"
        assert _post_telegram(web, json.dumps(_telegram_update(7)).encode()) == 200
    finally:
        output = web.stop()
    assert "RecursionError" not in output and "Traceback" not in output and " 500" not in output


def test_nothing_secret_in_the_web_process_output_with_the_access_log_on(tmp_path, platforms):
    """DEBUG everywhere (python-telegram-bot logs its API URL, bot token included, at DEBUG),
    the access log on, feeds and boards read by their tokens, and a Telegram answer that
    fails with an error echoing the request URL (a self-hosted Bot API server does)."""
    url, drop = _postgres_database()
    password = "Pg-passw0rd-never-shown"  # trust authentication ignores it; it is still a secret
    url_with_password = url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")
    platforms.telegram.echo_url = platforms.telegram.fail_answers = True
    web, token = _web(tmp_path, platforms, url_with_password, "--log-level", "debug", "--access-log",
                      REMINDERS_LOG_LEVEL="DEBUG")
    try:
        with httpx.Client(base_url=web.url, timeout=30) as client:
            for method in ("GET", "HEAD"):
                assert client.request(method, f"/feeds/{token}.ics").status_code == 200
                assert client.request(method, f"/board/{token}?lang=en").status_code == 200
            assert client.get(f"/feeds/{token[:-2]}xx.ics").status_code == 404
            # A press on an unknown code: the popup's answer fails, the error echoes the URL.
            press = {"update_id": 5, "callback_query": {
                "id": "cb-1", "chat_instance": "c", "data": "done:ZZZZZ",
                "from": {"id": 100001, "is_bot": False, "first_name": "An"},
                "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": -1001000000001,
                                                                                 "type": "supergroup"}}}}
            answer = client.post("/webhooks/telegram", json=press,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
            assert answer.status_code == 200
            assert platforms.telegram.callback_answers, "the answer was attempted (and failed)"
            assert client.post("/webhooks/telegram", json=press,
                               headers={"X-Telegram-Bot-Api-Secret-Token": "wrong-" + TELEGRAM_SECRET}
                               ).status_code == 403
            zalo = platforms.zalo_bot.update("z-an", "z-an", "/status", group=False)
            assert client.post("/webhooks/zalo_bot", json=zalo,
                               headers={"X-Bot-Api-Secret-Token": ZALO_BOT_SECRET}).status_code == 200
    finally:
        output = web.stop()
        drop()
    assert '"GET /feeds/***.ics HTTP/1.1" 200' in output, "the access log is on, tokens taken out"
    assert '"HEAD /board/***?lang=en HTTP/1.1" 200' in output
    assert "could not answer telegram event" in output, "the failed answer is logged"
    assert "/bot***/answerCallbackQuery" in output, "with the URL it echoed, token taken out"
    assert "Logging error" not in output
    for secret in [token, password, *platforms.secrets()]:
        assert secret not in output, f"{secret[:6]}... appears in the web process's output"


def test_head_is_get_without_the_body_and_gzip_follows_q_values(tmp_path, platforms):
    web, token = _web(tmp_path, platforms)
    try:
        with httpx.Client(base_url=web.url, timeout=30) as client:
            for path in (f"/feeds/{token}.ics", f"/board/{token}"):
                for encoding in ("identity", "gzip"):
                    got = client.get(path, headers={"Accept-Encoding": encoding})
                    head = client.head(path, headers={"Accept-Encoding": encoding})
                    assert got.status_code == head.status_code == 200
                    same = {k: v for k, v in got.headers.items() if k != "date"}
                    assert {k: v for k, v in head.headers.items() if k != "date"} == same, (path, encoding)
                    assert int(head.headers["content-length"]) == got.num_bytes_downloaded > 0
                    assert head.content == b""
                etag = got.headers["etag"]
                not_modified = client.head(path, headers={"If-None-Match": etag})
                assert not_modified.status_code == 304 and not_modified.headers["etag"] == etag

            # On the wire: a HEAD answer carries no body (the next answer on the connection follows it at once).
            with socket.create_connection(("127.0.0.1", web.port)) as sock:
                sock.sendall(f"HEAD /feeds/{token}.ics HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                raw = b""
                while chunk := sock.recv(65536):
                    raw += chunk
            head_part, _, rest = raw.partition(b"\r\n\r\n")
            assert b"content-length: " in head_part.lower() and b"content-length: 0\r" not in head_part.lower()
            assert rest.startswith(b"HTTP/1.1 200 OK"), "nothing between the HEAD answer and the next"

            feed = f"/feeds/{token}.ics"
            plain = client.get(feed, headers={"Accept-Encoding": "identity"}).content
            expected = {
                "gzip": True, "gzip, deflate, br": True, "*": True, "x-gzip": True,
                "gzip;q=0": False, "GZIP; Q=0": False, "*;q=0": False, "*, gzip;q=0": False, "br": False,
                "gzip;q=0.5, identity;q=1": False,  # identity preferred
                "identity;q=0.2, gzip;q=0.8": True, "gzip;q=0.5": True,
                "gzip;q=1.5": False, "gzip;q=inf": False, "gzip;q=abc": False,  # malformed q: as if not sent
                "": False,
            }
            for header, gzipped in expected.items():
                for method in ("GET", "HEAD"):
                    response = client.request(method, feed, headers={"Accept-Encoding": header})
                    assert (response.headers.get("content-encoding") == "gzip") is gzipped, (header, method)
                    assert response.headers["vary"] == "Accept-Encoding"
                    if method == "GET":
                        assert response.content == plain, header  # httpx undoes the gzip
    finally:
        web.stop()
