#!/usr/bin/env python3
"""A scripted fake of the Gemini API (``generativelanguage``, v1beta), for
driving the real ``gemini`` CLI offline in tests.  Standard library only.

The script is a list of responses consumed in order by the *main* requests:
``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` calls whose
body offers tools (the agent loop).  Side requests (the model router's
``:generateContent`` call when the model is "auto", ``:countTokens``, a
next-speaker check, ...) get a small canned reply and do not consume the
script.  Each script entry is one of::

    {"text": "Hello"}                                      # final text reply (STOP)
    {"function_call": {"name": "write_file",               # one tool call
                       "args": {"file_path": "...", "content": "..."}}}
    {"function_call": {...}, "text": "I'll write it"}      # text part, then the call
    {"function_calls": [{...}, {...}]}                      # several calls in one reply
    {"parts": [{"text": "..."}, {"functionCall": {...}}]}  # explicit parts
    {"error": {"status": 400, "message": "..."}}            # HTTP error reply
    {"delay": 1.5, ...}                                     # sleep before replying

When the script is exhausted, main requests get ``{"text": "Done."}``.

Python use::

    with FakeGeminiServer([{"text": "hi"}]) as srv:
        env["GOOGLE_GEMINI_BASE_URL"] = srv.base_url
        env["GEMINI_API_KEY"] = "fake-key"
        ...
        srv.requests        # list of {"method","path","headers","body","kind"}

Command line::

    python3 gemini_api.py --port 0 --script script.json

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

DEFAULT_MODEL = "gemini-2.5-flash"
_ids = itertools.count(1)

#: google.rpc status names the real API puts in error bodies.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _response_id() -> str:
    return f"fakeResp{next(_ids):012d}"


def _usage(prompt: int = 10, candidates: int = 5) -> dict[str, Any]:
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }


def _parts_for(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Normalise one script entry into a list of content parts."""
    if "parts" in entry:
        return [dict(p) for p in entry["parts"]]
    parts: list[dict[str, Any]] = []
    if "text" in entry:
        parts.append({"text": str(entry["text"])})
    calls = list(entry.get("function_calls") or [])
    if "function_call" in entry:
        calls.append(entry["function_call"])
    for fc in calls:
        parts.append({"functionCall": {"name": fc["name"], "args": fc.get("args", {})}})
    if not parts:
        parts.append({"text": "Done."})
    return parts


def _model_of(path: str) -> str:
    """``/v1beta/models/gemini-2.5-flash:streamGenerateContent`` -> ``gemini-2.5-flash``."""
    tail = path.split("/models/", 1)[-1]
    return tail.split(":", 1)[0] or DEFAULT_MODEL


def _is_main_request(path: str, body: Any) -> bool:
    """The agent loop streams and always offers tools; side requests do neither."""
    if not path.endswith(":streamGenerateContent"):
        return False
    return isinstance(body, dict) and bool(body.get("tools"))


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            sys.stderr.write("fake-gemini-api: " + (format % args) + "\n")

    # -- plumbing ---------------------------------------------------------
    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
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
        if path.rstrip("/").endswith("/models"):
            self._send_json(200, {"models": [{"name": f"models/{DEFAULT_MODEL}"}]})
        else:
            self._send_json(200, {})

    def do_POST(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0]
        owner = self.server.owner
        model = _model_of(path)
        if path.endswith(":countTokens"):
            self._record(body, "side")
            self._send_json(200, {"totalTokens": 100})
            return
        main = owner.is_main(path, body)
        schema = None if main else _json_schema(body)
        kind = "main" if main else ("router" if schema is not None else "side")
        self._record(body, kind)
        if main:
            entry = owner._next_entry()
        elif schema is not None:
            entry = {"text": json.dumps(_answer_for(schema, owner.router_choice))}
        else:
            entry = {"text": owner.side_reply(body) if owner.side_reply else "{}"}
        if entry.get("delay"):
            time.sleep(float(entry["delay"]))
        if "error" in entry:
            err = entry["error"]
            status = int(err.get("status", 400))
            self._send_json(
                status,
                {
                    "error": {
                        "code": status,
                        "message": err.get("message", "fake error"),
                        "status": err.get("status_name") or STATUS_NAMES.get(status, "UNKNOWN"),
                    }
                },
            )
            return
        parts = _parts_for(entry)
        reply = {
            "candidates": [
                {
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": entry.get("finish_reason", "STOP"),
                    "index": 0,
                }
            ],
            "usageMetadata": _usage(),
            "modelVersion": model,
            "responseId": _response_id(),
        }
        if path.endswith(":streamGenerateContent"):
            self._stream(reply)
        else:
            self._send_json(200, reply)

    def _stream(self, reply: dict[str, Any]) -> None:
        """One SSE ``data:`` chunk per part, the last one carrying finishReason
        and usageMetadata, as the real API does."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        cand = reply["candidates"][0]
        parts = cand["content"]["parts"]
        for i, part in enumerate(parts):
            chunk: dict[str, Any] = {
                "candidates": [{"content": {"parts": [part], "role": "model"}, "index": 0}],
                "modelVersion": reply["modelVersion"],
                "responseId": reply["responseId"],
            }
            if i == len(parts) - 1:
                chunk["candidates"][0]["finishReason"] = cand["finishReason"]
                chunk["usageMetadata"] = reply["usageMetadata"]
            else:
                chunk["usageMetadata"] = {"promptTokenCount": 10, "totalTokenCount": 10}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
            self.wfile.flush()


def _json_schema(body: Any) -> dict[str, Any] | None:
    """The schema of a request that wants a JSON reply (the "auto" model router's
    classifier asks for one), else None."""
    if not isinstance(body, dict):
        return None
    gc = body.get("generationConfig") or {}
    schema = gc.get("responseJsonSchema") or gc.get("responseSchema")
    return schema if isinstance(schema, dict) else None


def _answer_for(schema: dict[str, Any], router_choice: str) -> Any:
    """A small value that satisfies ``schema``: the router gets a low complexity
    score / ``router_choice`` as model_choice, so it picks the flash model."""
    t = str(schema.get("type", "object")).lower()
    if schema.get("enum"):
        return router_choice if router_choice in schema["enum"] else schema["enum"][0]
    if t == "object":
        props = schema.get("properties") or {}
        out = {}
        for k, v in props.items():
            out[k] = router_choice if k == "model_choice" else _answer_for(v, router_choice)
        return out
    if t == "array":
        return []
    if t in ("integer", "number"):
        return 1
    if t == "boolean":
        return False
    return "fake"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeGeminiServer


class FakeGeminiServer:
    """Scripted Gemini-API server on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        script: list[dict[str, Any]] | None = None,
        port: int = 0,
        verbose: bool = False,
        is_main: Callable[[str, Any], bool] | None = None,
        router_choice: str = "flash",
        side_reply: Callable[[Any], str] | None = None,
    ):
        """``is_main(path, body)`` decides which requests consume the script; the
        default takes streamed requests that offer tools (the agent loop)."""
        self.script: list[dict[str, Any]] = list(script or [])
        self.is_main = is_main or _is_main_request
        self.router_choice = router_choice
        self.side_reply = side_reply
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
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeGeminiServer:
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

    def __enter__(self) -> FakeGeminiServer:
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
    srv = FakeGeminiServer(script, port=args.port, verbose=args.verbose)
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
