"""The web app as production runs it: `uvicorn --factory reminders.web.app:create_app_from_env`
in its own process, configured by the environment, with Telegram, Zalo OA and Zalo Bot
enabled against the fake platform servers on loopback. Also: a raw HTTP client that
streams a request body and stops as soon as the server answers or hangs up."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fake_telegram import FakeTelegram
from fake_zalo import FakeZaloBot, FakeZaloOA

SECRET_KEY = "web-test-secret-key-0123456789-abcdefgh"
TELEGRAM_TOKEN = "4242:AAHfakeBotTokenForTests_0123456789"
TELEGRAM_SECRET = "telegram-webhook-secret-0123456789"
ZALO_BOT_TOKEN = "3141592653:ZaloBotTESTtoken-abcdef"
ZALO_BOT_SECRET = "zalo-bot-webhook-secret-0123456789"
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Platforms:
    telegram: FakeTelegram
    zalo_oa: FakeZaloOA
    zalo_bot: FakeZaloBot

    @classmethod
    def start(cls) -> Platforms:
        return cls(FakeTelegram(token=TELEGRAM_TOKEN).start(), FakeZaloOA(oa_secret_key="oa-secret-key-0123456789").start(),
                   FakeZaloBot(token=ZALO_BOT_TOKEN).start())

    def stop(self) -> None:
        for server in (self.telegram, self.zalo_oa, self.zalo_bot):
            server.stop()

    def environment(self) -> dict[str, str]:
        oa = self.zalo_oa
        return {"REMINDERS_ADAPTERS": "telegram,zalo_oa,zalo_bot", "REMINDERS_SECRET_KEY": SECRET_KEY,
                "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": self.telegram.base_url,
                "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                "ZALO_APP_ID": oa.app_id, "ZALO_APP_SECRET": oa.app_secret, "ZALO_OA_SECRET_KEY": oa.oa_secret_key,
                "ZALO_OA_ACCESS_TOKEN": oa.access_token, "ZALO_OA_REFRESH_TOKEN": oa.refresh_token,
                "ZALO_OA_API_URL": oa.base_url, "ZALO_OA_OAUTH_URL": oa.oauth_url,
                "ZALO_BOT_TOKEN": ZALO_BOT_TOKEN, "ZALO_BOT_API_URL": self.zalo_bot.base_url,
                "ZALO_BOT_WEBHOOK_SECRET": ZALO_BOT_SECRET}

    def secrets(self) -> list[str]:
        """Every secret value the web process is given."""
        oa = self.zalo_oa
        return [SECRET_KEY, TELEGRAM_TOKEN, TELEGRAM_SECRET, ZALO_BOT_TOKEN, ZALO_BOT_SECRET, oa.app_secret,
                oa.oa_secret_key, oa.access_token, oa.refresh_token]


@dataclass
class WebProcess:
    env: dict[str, str]
    directory: Path
    args: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen | None = None
    outputs: list[Path] = field(default_factory=list)

    def start(self) -> WebProcess:
        self.port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDERS_", "ZALO_", "TELEGRAM_"))}
        self.outputs = [self.directory / "web-stdout.txt", self.directory / "web-stderr.txt"]
        with open(self.outputs[0], "wb") as stdout, open(self.outputs[1], "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "reminders.web.app:create_app_from_env",
                 "--host", "127.0.0.1", "--port", str(self.port), *self.args],
                env={**base, **self.env}, cwd=self.directory, stdout=stdout, stderr=stderr, start_new_session=True)
        deadline = time.monotonic() + 90
        try:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"the web process ended (exit {self.proc.returncode}):\n{self.output()}")
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"the web process did not come up:\n{self.output()}"
                time.sleep(0.1)
        except BaseException:
            self.stop()  # never left running
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (the peak resident set since the process started), in bytes, from /proc."""
        assert self.proc is not None
        values = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
        return values

    def stop(self) -> str:
        """Stop it (SIGTERM: uvicorn's graceful shutdown); everything it wrote."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.output()

    def output(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in self.outputs if p.exists())


def stream_post(port: int, path: str, headers: dict[str, str], total: int, *, chunked: bool,
                piece: int = 256 * 1024, timeout: float = 120) -> tuple[int | None, int]:
    """POST a body of `total` bytes, streamed (with Content-Length, or chunked), stopping as
    soon as the server answers or hangs up; returns (status or None, body bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{framing}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    sock.setblocking(False)
    data = b"x" * piece
    pending, sent, answer = b"", 0, b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not pending and sent < total:
                size = min(piece, total - sent)
                pending = (f"{size:x}\r\n".encode() + data[:size] + b"\r\n") if chunked else data[:size]
                sent += size
                if chunked and sent == total:
                    pending += b"0\r\n\r\n"
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 5)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if not chunk:
                    break
                answer += chunk
                if b"\r\n" in answer:
                    break
            elif writable:
                try:
                    pending = pending[sock.send(pending):]
                except BlockingIOError:
                    continue
                except (ConnectionResetError, BrokenPipeError):  # hung up: its answer may still be queued
                    sock.settimeout(5)
                    answer += _drain(sock)
                    break
        sent -= len(pending)
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return status, sent


def _drain(sock: socket.socket) -> bytes:
    """What the server sent before it hung up (the kernel hands queued data over before the reset)."""
    received = b""
    while b"\r\n" not in received:
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return received
