#!/usr/bin/env python3
"""A scripted fake of an OpenAI-compatible chat-completions endpoint, for
driving the real ``opencode`` CLI offline in tests.  Standard library only.

OpenCode's ``@ai-sdk/openai-compatible`` provider posts to
``<baseURL>/chat/completions`` with ``"stream": true`` and reads Server-Sent
Events: ``data: {chat.completion.chunk}`` lines, then ``data: [DONE]``.

The script is a list of responses consumed in order by the *main* requests
(those that offer tools to the model, i.e. the agent loop).  Side requests
the CLI makes on its own (the session title, ...) get a small canned reply
and do not consume the script.  Each script entry is one of::

    {"text": "Hello"}                                         # a text reply (stop)
    {"tool_call": {"name": "write",                           # a tool call
                   "arguments": {"filePath": "/abs/x", "content": "hi"}}}
    {"tool_call": {"name": "bash",
                   "arguments": {"command": "echo hi", "description": "Echo"}}}
    {"tool_call": {...}, "text": "I'll do it"}                # text, then the call
    {"tool_calls": [{...}, {...}]}                            # parallel calls
    {"error": {"status": 400, "message": "..."}}              # HTTP error reply
    {"delay": 1.5, ...}                                       # sleep before replying
    {"usage": {"prompt_tokens": 10, "completion_tokens": 5}}  # override usage

When the script is exhausted, main requests get ``{"text": "Done."}``.

Python use::

    with FakeOpenAIChatServer([{"text": "hi"}]) as srv:
        config = {"provider": {"mock": {"npm": "@ai-sdk/openai-compatible",
                                        "options": {"baseURL": srv.base_url + "/v1"}, ...}}}
        ...
        srv.requests        # list of {"method","path","headers","body","kind"}
        srv.main_requests   # only those that consumed the script

Command line::

    python3 openai_chat_api.py --port 0 --script script.json

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

DEFAULT_MODEL = "fake-model"
_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}-fake{next(_ids):016d}"


def _usage(entry: dict[str, Any]) -> dict[str, Any]:
    u = dict(entry.get("usage") or {})
    prompt = int(u.get("prompt_tokens", 10))
    completion = int(u.get("completion_tokens", 5))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(u.get("cached_tokens", 0))},
        "completion_tokens_details": {"reasoning_tokens": int(u.get("reasoning_tokens", 0))},
    }


def _tool_calls(entry: dict[str, Any]) -> list[dict[str, Any]]:
    calls = list(entry.get("tool_calls") or [])
    if "tool_call" in entry:
        calls.insert(0, entry["tool_call"])
    out = []
    for c in calls:
        args = c.get("arguments", {})
        out.append(
            {
                "id": c.get("id") or _new_id("call"),
                "name": c["name"],
                "arguments": args if isinstance(args, str) else json.dumps(args),
            }
        )
    return out


def _is_main_request(body: Any) -> bool:
    """The agent loop always offers tools; side requests (title, ...) never do."""
    return isinstance(body, dict) and bool(body.get("tools"))


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            sys.stderr.write("fake-openai: " + (format % args) + "\n")

    # -- plumbing ---------------------------------------------------------
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", _new_id("req"))
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
        if path.endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": DEFAULT_MODEL, "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "not_found_error"}})

    def do_POST(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0]
        if not path.endswith("/chat/completions"):
            self._record(body, "side")
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found_error"}})
            return
        owner = self.server.owner
        main = owner.is_main(body)
        self._record(body, "main" if main else "side")
        model = (body.get("model") if isinstance(body, dict) else None) or DEFAULT_MODEL
        stream = bool(isinstance(body, dict) and body.get("stream"))
        entry = owner._next_entry() if main else {"text": "Fake title"}
        if entry.get("delay"):
            time.sleep(float(entry["delay"]))
        if "error" in entry:
            err = entry["error"]
            status = int(err.get("status", 400))
            payload = {
                "error": {
                    "message": err.get("message", "fake error"),
                    "type": err.get("type") or ERROR_TYPES.get(status, "server_error"),
                    "param": None,
                    "code": err.get("code"),
                }
            }
            headers = {}
            if err.get("retry_after") is not None:
                headers["retry-after"] = str(err["retry_after"])
            self._send_json(status, payload, headers)
            return
        text = entry.get("text")
        calls = _tool_calls(entry)
        if text is None and not calls:
            text = "Done."
        finish = entry.get("finish_reason") or ("tool_calls" if calls else "stop")
        cid = _new_id("chatcmpl")
        created = int(time.time())
        if not stream:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in calls
                ]
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": _usage(entry),
                },
            )
            return
        self._stream(cid, created, model, text, calls, finish, _usage(entry))

    def _stream(
        self,
        cid: str,
        created: int,
        model: str,
        text: str | None,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, Any],
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", _new_id("req"))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> None:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            data.update(extra)
            self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        if text:
            chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}])
        for i, c in enumerate(calls):
            head = {
                "index": i,
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": ""},
            }
            chunk([{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}])
            args = {"index": i, "function": {"arguments": c["arguments"]}}
            chunk([{"index": 0, "delta": {"tool_calls": [args]}, "finish_reason": None}])
        chunk([{"index": 0, "delta": {}, "finish_reason": finish}])
        chunk([], usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeOpenAIChatServer


class FakeOpenAIChatServer:
    """Scripted chat-completions server on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        script: list[dict[str, Any]] | None = None,
        port: int = 0,
        verbose: bool = False,
        is_main: Callable[[Any], bool] | None = None,
    ):
        """``is_main(body)`` decides which POST .../chat/completions requests consume
        the script; the default takes those that offer tools (the agent loop)."""
        self.script: list[dict[str, Any]] = list(script or [])
        self.is_main = is_main or _is_main_request
        self.port = port
        self.verbose = verbose
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._pos = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- script -----------------------------------------------------------
    def _next_entry(self) -> dict[str, Any]:
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
        """``http://127.0.0.1:PORT``; OpenCode's ``baseURL`` is this plus ``/v1``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeOpenAIChatServer:
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

    def __enter__(self) -> FakeOpenAIChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def opencode_config(
    base_url: str,
    model: str = DEFAULT_MODEL,
    provider: str = "mock",
    cost: dict[str, float] | None = None,
) -> dict[str, Any]:
    """An ``opencode.json`` that points OpenCode at this server (``-m provider/model``).

    ``cost`` is USD per million tokens, e.g. ``{"input": 3, "output": 15}``; without it
    every step costs 0.  Give the file to OpenCode through ``OPENCODE_CONFIG``.
    """
    spec: dict[str, Any] = {"name": "Fake model"}
    if cost is not None:
        spec["cost"] = cost
    return {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "provider": {
            provider: {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "options": {"baseURL": base_url + "/v1", "apiKey": "sk-fake-test"},
                "models": {model: spec},
            }
        },
        "model": f"{provider}/{model}",
        "small_model": f"{provider}/{model}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", help="JSON file holding the list of responses")
    ap.add_argument("--log", help="append each request as a JSON line to this file")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    script = []
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = json.load(f)
    srv = FakeOpenAIChatServer(script, port=args.port, verbose=args.verbose)
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
