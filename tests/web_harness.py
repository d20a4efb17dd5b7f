"""A real ``openclaw-agent serve --http`` for the tests, and a small HTTP client for it.

The server listens on 127.0.0.1 on a free port (``--http 127.0.0.1:0``; the port is read from
the line it prints); it is stopped by its recorded pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from conftest import Env, console_script, default_signals

#: Debian's chromium, which Playwright drives (no browser download).
CHROMIUM = os.environ.get("OPENCLAW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium's flags for a closed network (the machine notes): nothing reaches out on its own.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the browser tests leave their screenshots (CI keeps the directory as an artifact).
ARTIFACTS = os.environ.get("OPENCLAW_TEST_ARTIFACTS") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts"
)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Dashboard:
    """One running ``serve --http``."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    first_line: str
    err_path: str
    opened: list[http.client.HTTPConnection] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: bool = True,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if token:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        reply = self.request(method, path, body)
        assert reply.status == status, f"{method} {path}: {reply.status} {reply.body[:500]!r}"
        return reply.json()

    @contextmanager
    def events(self, path: str = "/api/events") -> Iterator[Iterator[tuple[str, Any]]]:
        """The event stream at ``path``, as (event, data) pairs."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()

        def read() -> Iterator[tuple[str, Any]]:
            event, data = "message", ""
            while True:
                line = resp.fp.readline()
                if not line:
                    return
                text = line.decode().rstrip("\r\n")
                if not text:
                    if data:
                        yield event, json.loads(data)
                    event, data = "message", ""
                elif text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:"):
                    data += text[5:].strip()

        try:
            yield read()
        finally:
            conn.close()

    def stderr(self) -> str:
        with open(self.err_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()


def next_event(stream: Iterator[tuple[str, Any]], want: Any, timeout: float = 20) -> tuple[str, Any]:
    """The first (event, data) of ``stream`` for which ``want(event, data)`` holds."""
    deadline = time.monotonic() + timeout
    for event, data in stream:
        if want(event, data):
            return event, data
        if time.monotonic() > deadline:
            break
    raise AssertionError("the awaited event did not come")


@contextmanager
def dashboard(
    oc: Env, *args: str, interval: str = "0.5", env: dict[str, str] | None = None
) -> Iterator[Dashboard]:
    """``serve --http 127.0.0.1:0`` for ``oc``'s user, until the block ends."""
    err_path = str(oc.home / f"serve-{time.monotonic_ns()}.err")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [console_script(), "serve", "--http", "127.0.0.1:0", "--interval", interval, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=dict(oc.env, **(env or {})),
            cwd=oc.workspace,
            preexec_fn=default_signals,
        )
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=30):
            raise AssertionError(f"serve --http printed nothing: {open(err_path).read()}")
        line = proc.stdout.readline().decode()
        found = re.search(r"127\.0\.0\.1:(\d+)/", line)
        assert found, f"serve --http printed {line!r}; stderr: {open(err_path).read()}"
        token = (oc.tasks_dir / ".web-token").read_text().strip()
        dash = Dashboard(proc, int(found.group(1)), token, line, err_path)
        yield dash
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a ``serve`` this test started, by its pid: SIGTERM, SIGKILL after 10 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


def static_server(ip: str, body: bytes) -> http.server.ThreadingHTTPServer:
    """A server on ``ip`` (a free port) that answers every GET with the HTML page ``body``;
    running in a thread until its ``shutdown()``."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((ip, 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
