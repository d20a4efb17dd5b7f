#!/usr/bin/env python3
"""A scripted fake of the Anthropic Messages API, for driving the real
``claude`` CLI offline in tests.  Standard library only.

The script is a list of responses consumed in order by the *main* requests
(requests that offer tools to the model, i.e. the agent loop).  Side
requests the CLI makes on its own (title generation, quota probes, token
counting, ...) are answered with a small canned reply and do not consume the
script.  Each script entry is one of::

    {"text": "Hello"}                                   # end_turn text reply
    {"tool_use": {"name": "Write", "input": {...}}}     # tool_use reply
    {"tool_use": {...}, "text": "I'll write it"}        # text block, then tool
    {"content": [{"type": "text", "text": "..."},       # explicit blocks
                 {"type": "tool_use", "name": "...", "input": {...}}]}
    {"error": {"status": 400, "type": "invalid_request_error",
               "message": "..."}}                       # HTTP error reply
    {"delay": 1.5, ...}                                 # sleep before replying
    lambda body: {...}                                  # (Python use) one of the above,
                                                        # made from the request body

When the script is exhausted, main requests get ``{"text": "Done."}``.

Python use::

    with FakeAnthropicServer([{"text": "hi"}]) as srv:
        env["ANTHROPIC_BASE_URL"] = srv.base_url
        ...
        srv.requests        # list of {"method","path","headers","body","kind"}

Command line::

    python3 anthropic_api.py --port 0 --script script.json

prints the bound port on the first stdout line, then serves until killed.
It only ever binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_01FAKE{next(_ids):020d}"


def _usage(input_tokens: int = 10, output_tokens: int = 5) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _blocks_for(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Normalise one script entry into a list of content blocks."""
    if "content" in entry:
        blocks = []
        for b in entry["content"]:
            b = dict(b)
            if b.get("type") == "tool_use":
                b.setdefault("id", _new_id("toolu"))
                b.setdefault("input", {})
            blocks.append(b)
        return blocks
    blocks = []
    if "text" in entry:
        blocks.append({"type": "text", "text": str(entry["text"])})
    if "tool_use" in entry:
        tu = entry["tool_use"]
        blocks.append(
            {
                "type": "tool_use",
                "id": tu.get("id") or _new_id("toolu"),
                "name": tu["name"],
                "input": tu.get("input", {}),
            }
        )
    if not blocks:
        blocks.append({"type": "text", "text": "Done."})
    return blocks


def _is_main_request(body: Any) -> bool:
    """The agent loop always offers tools; side requests never do."""
    return isinstance(body, dict) and bool(body.get("tools"))


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            sys.stderr.write("fake-api: " + (format % args) + "\n")

    # -- plumbing ---------------------------------------------------------
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", _new_id("req"))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _record(self, body: Any, kind: str) -> None:
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body,
                    "kind": kind,
                }
            )

    # -- verbs ------------------------------------------------------------
    def do_GET(self) -> None:
        self._record(None, "side")
        path = self.path.split("?", 1)[0]
        if path.endswith("/v1/models") or path == "/v1/models":
            self._send_json(
                200,
                {"data": [{"type": "model", "id": DEFAULT_MODEL, "display_name": "Fake"}], "has_more": False},
            )
        else:
            self._send_json(200, {})

    def do_HEAD(self) -> None:
        self._record(None, "side")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0]
        if path.endswith("/count_tokens"):
            self._record(body, "side")
            self._send_json(200, {"input_tokens": 100})
            return
        if not path.endswith("/v1/messages"):
            self._record(body, "side")
            self._send_json(200, {})
            return
        main = self.server.owner.is_main(body)
        self._record(body, "main" if main else "side")
        model = (body.get("model") if isinstance(body, dict) else None) or DEFAULT_MODEL
        stream = bool(isinstance(body, dict) and body.get("stream"))
        entry = self.server.owner._next_entry() if main else {"text": "Fake side reply"}
        if callable(entry):  # a reply that depends on the request (e.g. on a tool's result)
            entry = entry(body)
        if entry.get("delay"):
            time.sleep(float(entry["delay"]))
        if "error" in entry:
            err = entry["error"]
            status = int(err.get("status", 400))
            etype = err.get("type") or {
                400: "invalid_request_error",
                401: "authentication_error",
                403: "permission_error",
                404: "not_found_error",
                413: "request_too_large",
                429: "rate_limit_error",
                529: "overloaded_error",
            }.get(status, "api_error")
            headers = {}
            if err.get("retry_after") is not None:
                headers["retry-after"] = str(err["retry_after"])
            if status >= 500 or status == 429:
                # Make retries fast; the CLI honours these hints.
                headers.setdefault("retry-after-ms", "1")
            self._send_json(
                status,
                {"type": "error", "error": {"type": etype, "message": err.get("message", "fake error")}},
                headers,
            )
            return
        blocks = _blocks_for(entry)
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        stop_reason = entry.get("stop_reason", stop_reason)
        msg_id = _new_id("msg")
        if not stream:
            self._send_json(
                200,
                {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": _usage(),
                },
            )
            return
        self._stream(msg_id, model, blocks, stop_reason)

    def _stream(self, msg_id: str, model: str, blocks: list[dict[str, Any]], stop_reason: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", _new_id("req"))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def ev(name: str, data: dict[str, Any]) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        start_usage = _usage(output_tokens=1)
        ev(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        )
        for i, b in enumerate(blocks):
            if b["type"] == "text":
                ev(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                ev(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "text_delta", "text": b["text"]},
                    },
                )
            elif b["type"] == "tool_use":
                ev(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}},
                    },
                )
                ev(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": json.dumps(b["input"])},
                    },
                )
            else:  # pragma: no cover - exotic block types are passed through
                ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": b})
            ev("content_block_stop", {"type": "content_block_stop", "index": i})
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        )
        ev("message_stop", {"type": "message_stop"})
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeAnthropicServer


class FakeAnthropicServer:
    """Scripted Messages-API server on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        script: list[Any] | None = None,
        port: int = 0,
        verbose: bool = False,
        is_main: Callable[[Any], bool] | None = None,
    ):
        """``is_main(body)`` decides which POST /v1/messages requests consume the
        script; the default takes those that offer tools (the agent loop)."""
        self.script: list[Any] = list(script or [])
        self.is_main = is_main or _is_main_request
        self.port = port
        self.verbose = verbose
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._pos = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- script -----------------------------------------------------------
    def _next_entry(self) -> Any:
        with self.lock:
            if self._pos < len(self.script):
                entry = self.script[self._pos]
                self._pos += 1
                return entry
            return {"text": "Done."}

    @property
    def consumed(self) -> int:
        """How many script entries have been served."""
        return self._pos

    @property
    def main_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["kind"] == "main"]

    # -- lifecycle --------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeAnthropicServer:
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", help="JSON file holding the list of responses")
    ap.add_argument("--log", help="append each request as a JSON line to this file")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    script = []
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = json.load(f)
    srv = FakeAnthropicServer(script, port=args.port, verbose=args.verbose)
    srv.start()
    print(srv.port, flush=True)
    logged = 0
    try:
        while True:
            time.sleep(0.2)
            if args.log and len(srv.requests) > logged:
                with srv.lock:
                    new = srv.requests[logged:]
                    logged = len(srv.requests)
                with open(args.log, "a", encoding="utf-8") as f:
                    for r in new:
                        f.write(json.dumps(r) + "\n")
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
