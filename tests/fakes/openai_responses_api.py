#!/usr/bin/env python3
"""A scripted fake of the OpenAI Responses API, for driving the real ``codex``
CLI offline in tests.  Standard library only.

Codex (0.169.0) talks to it through a custom provider (see
:func:`codex_config`): ``POST {base_url}/responses`` with ``stream: true``,
answered with Server-Sent Events.  The script is a list of responses consumed
in order by the *main* requests (those that offer tools, i.e. the agent loop);
any other request gets a small canned reply and does not consume the script.
Each script entry is one of::

    {"text": "Hello"}                                  # assistant message
    {"exec": "echo hi"}                                # exec_command tool call
    {"exec": {"cmd": "sleep 5", "yield_time_ms": 60000}}   # ... with more arguments
    {"write": {"path": "a.txt", "content": "x\\n"}}    # apply_patch "*** Add File"
    {"apply_patch": "*** Begin Patch\\n...\\n*** End Patch"}   # raw freeform patch
    {"tool_call": {"name": "...", "arguments": {...}}} # any function call
    {"poll": 30000}                                    # write_stdin poll of the running exec session
    {"reasoning": "thinking"}                          # a reasoning item first (with any of the above)
    {"text": "I'll run it", "exec": "ls"}              # message, then the tool call
    {"error": {"status": 400, "message": "..."}}       # HTTP error reply
    {"delay": 1.5, ...}                                # sleep before replying

``exec_command`` hands back after ``yield_time_ms`` (codex's default 10 s)
with "Process running with session ID N" when the command is still running;
``{"poll": MS}`` answers with ``write_stdin`` for the latest such N (taken
from the request), waiting up to MS ms for it to finish.

When the script is exhausted, main requests get ``{"text": "Done."}``.

Python use::

    with FakeResponsesServer([{"text": "hi"}]) as srv:
        config = codex_config(srv.base_url)   # -> config.toml text
        ...
        srv.requests        # list of {"method","path","headers","body","kind"}

Command line::

    python3 openai_responses_api.py --port 0 --script script.json

prints the bound port on the first stdout line, then serves until killed.
It only ever binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "gpt-5.5"
_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):024x}"


def codex_config(
    base_url: str, model: str = DEFAULT_MODEL, provider: str = "mock", retries: int | None = 0
) -> str:
    """A ``$CODEX_HOME/config.toml`` that points codex at this server (offline).

    ``base_url`` is the server's root; codex appends ``/responses`` to the
    provider's base_url, so the provider gets ``<root>/v1``.  No ``env_key``:
    codex then sends no Authorization header and needs no API key.  With
    plugins and OTel metrics off it makes no other network lookup (checked
    with strace: otherwise api.github.com and ab.chatgpt.com).  Retries are off so
    that an HTTP error ends the run at once (``retries=None`` keeps codex's
    defaults: 4 request retries, 5 stream retries, with backoff).
    """
    text = (
        f'model = "{model}"\n'
        f'model_provider = "{provider}"\n'
        "\n"
        "[features]\n"
        "plugins = false\n"  # else it looks up api.github.com (plugin marketplace)
        "\n"
        "[otel]\n"
        'metrics_exporter = "none"\n'  # else it exports metrics to ab.chatgpt.com
        "\n"
        f"[model_providers.{provider}]\n"
        f'name = "{provider}"\n'
        f'base_url = "{base_url}/v1"\n'
        'wire_api = "responses"\n'
    )
    if retries is not None:
        text += f"request_max_retries = {retries}\nstream_max_retries = {retries}\n"
    return text


def _usage(input_tokens: int = 10, output_tokens: int = 5) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def add_file_patch(path: str, content: str) -> str:
    """An apply_patch body that creates ``path`` holding ``content``."""
    lines = content.split("\n")
    if content.endswith("\n"):
        lines = lines[:-1]
    body = "".join(f"+{ln}\n" for ln in lines)
    return f"*** Begin Patch\n*** Add File: {path}\n{body}*** End Patch"


def _running_session(body: Any) -> int | None:
    """The exec session id the latest tool output in ``body`` says is still running."""
    for item in reversed(body.get("input") or [] if isinstance(body, dict) else []):
        out = item.get("output") if isinstance(item, dict) else None
        if isinstance(out, str):
            m = re.search(r"Process running with session ID (\d+)", out)
            if m:
                return int(m.group(1))
    return None


def _items_for(entry: dict[str, Any], body: Any = None) -> list[dict[str, Any]]:
    """Normalise one script entry into a list of Responses-API output items."""
    if "output" in entry:
        return [dict(i) for i in entry["output"]]
    items: list[dict[str, Any]] = []
    if "reasoning" in entry:
        items.append(
            {
                "type": "reasoning",
                "id": _new_id("rs"),
                "summary": [{"type": "summary_text", "text": str(entry["reasoning"])}],
                "content": [],
                "encrypted_content": None,
            }
        )
    if "text" in entry:
        items.append(
            {
                "type": "message",
                "id": _new_id("msg"),
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": str(entry["text"]), "annotations": []}],
            }
        )
    if "exec" in entry:
        args = entry["exec"]
        if isinstance(args, str):
            args = {"cmd": args}
        items.append(
            {
                "type": "function_call",
                "id": _new_id("fc"),
                "call_id": _new_id("call"),
                "name": "exec_command",
                "arguments": json.dumps(args),
                "status": "completed",
            }
        )
    if "poll" in entry:
        entry = dict(entry)
        entry["tool_call"] = {
            "name": "write_stdin",
            "arguments": {"session_id": _running_session(body), "yield_time_ms": int(entry["poll"])},
        }
    if "tool_call" in entry:
        tc = entry["tool_call"]
        items.append(
            {
                "type": "function_call",
                "id": _new_id("fc"),
                "call_id": tc.get("call_id") or _new_id("call"),
                "name": tc["name"],
                "arguments": json.dumps(tc.get("arguments", {})),
                "status": "completed",
            }
        )
    patch = entry.get("apply_patch")
    if "write" in entry:
        patch = add_file_patch(entry["write"]["path"], entry["write"]["content"])
    if patch is not None:
        items.append(
            {
                "type": "custom_tool_call",
                "id": _new_id("ctc"),
                "call_id": _new_id("call"),
                "name": "apply_patch",
                "input": patch,
                "status": "completed",
            }
        )
    if not items:
        items.append(_items_for({"text": "Done."})[0])
    return items


def _is_main_request(body: Any) -> bool:
    """The agent loop always offers tools; side requests never do."""
    return isinstance(body, dict) and bool(body.get("tools"))


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            sys.stderr.write("fake-responses: " + (format % args) + "\n")

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
        if self.headers.get("Content-Encoding") == "zstd":  # pragma: no cover - not seen
            return raw
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
            self._send_json(200, {"object": "list", "data": [], "models": []})
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0]
        if not path.endswith("/responses"):
            self._record(body, "side")
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        main = self.server.owner.is_main(body)
        self._record(body, "main" if main else "side")
        model = (body.get("model") if isinstance(body, dict) else None) or DEFAULT_MODEL
        entry = self.server.owner._next_entry() if main else {"text": "Fake side reply"}
        if entry.get("delay"):
            time.sleep(float(entry["delay"]))
        if "error" in entry:
            err = entry["error"]
            status = int(err.get("status", 400))
            etype = err.get("type") or {
                400: "invalid_request_error",
                401: "invalid_request_error",
                404: "invalid_request_error",
                429: "rate_limit_exceeded",
            }.get(status, "server_error")
            self._send_json(
                status,
                {
                    "error": {
                        "message": err.get("message", "fake error"),
                        "type": etype,
                        "param": None,
                        "code": err.get("code"),
                    }
                },
            )
            return
        self._stream(model, _items_for(entry, body), entry)

    def _stream(self, model: str, items: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", _new_id("req"))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seq = itertools.count()

        def ev(data: dict[str, Any]) -> None:
            data = {"type": data["type"], "sequence_number": next(seq), **data}
            self.wfile.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        resp_id = _new_id("resp")
        response = {
            "id": resp_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": model,
            "output": [],
        }
        ev({"type": "response.created", "response": response})
        ev({"type": "response.in_progress", "response": response})
        for idx, item in enumerate(items):
            if item["type"] == "message":
                text = item["content"][0]["text"]
                ev(
                    {
                        "type": "response.output_item.added",
                        "output_index": idx,
                        "item": {**item, "status": "in_progress", "content": []},
                    }
                )
                ev(
                    {
                        "type": "response.output_text.delta",
                        "item_id": item["id"],
                        "output_index": idx,
                        "content_index": 0,
                        "delta": text,
                    }
                )
            else:
                ev({"type": "response.output_item.added", "output_index": idx, "item": item})
            ev({"type": "response.output_item.done", "output_index": idx, "item": item})
        if entry.get("truncate_stream"):
            return  # no response.completed: the client sees the stream end early
        done = dict(response, status="completed", output=items, usage=entry.get("usage") or _usage())
        ev({"type": "response.completed", "response": done})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeResponsesServer


class FakeResponsesServer:
    """Scripted Responses-API server on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        script: list[dict[str, Any]] | None = None,
        port: int = 0,
        verbose: bool = False,
        is_main: Callable[[Any], bool] | None = None,
    ):
        """``is_main(body)`` decides which POST /v1/responses requests consume the
        script; the default takes those that offer tools (the agent loop)."""
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
        return f"http://127.0.0.1:{self.port}"

    def config_toml(self, model: str = DEFAULT_MODEL, retries: int | None = 0) -> str:
        return codex_config(self.base_url, model, retries=retries)

    def start(self) -> FakeResponsesServer:
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

    def __enter__(self) -> FakeResponsesServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
    srv = FakeResponsesServer(script, port=args.port, verbose=args.verbose)
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
