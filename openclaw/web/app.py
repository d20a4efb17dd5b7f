"""``serve --http``: the dashboard's JSON API, its event stream and its pages.

A Starlette application served by uvicorn, beside ``serve``'s look (see
:mod:`openclaw.serve`). It is a view over the library, as thin as the CLI:
every endpoint parses, calls :mod:`openclaw.api` (the same calls ``mcp``
makes) and returns the same JSON shape the CLI's ``--json`` prints. Reading
endpoints take the tasks as ``serve``'s last look found them (no observation
per request); acting ones (start, kill, resume, cleanup) run in worker threads,
each with a :class:`~openclaw.manager.Manager` of its own, as concurrent CLI
processes would.

Security (see ``docs/threat-model.md``): loopback by default; every request
carries the token (``Authorization: Bearer``, or the cookie that opening
``/?token=...`` sets); a POST authorised by the cookie must come from the
dashboard's own origin; pages forbid framing and foreign scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import ipaddress
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from openclaw import api, states
from openclaw.errors import ExitCode, OpenclawError, UnknownTaskError, UsageError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from openclaw.agents.entries import Entry
    from openclaw.manager import Manager
    from openclaw.task import TaskRecord
    from openclaw.web.board import Board, Feed

#: Where ``--http`` listens unless told otherwise.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
#: The token's file, beside the records (0600).
TOKEN_FILE = ".web-token"
#: How many lines of output one ``log`` event carries at most.
LOG_BATCH = 500
#: How often a local task's output is read while a page follows it, in seconds.
LOCAL_LOG_S = 0.25
STATIC = Path(__file__).with_name("static")
#: HTTP status of each exit code (others: 409, the task's state does not allow it).
HTTP_STATUS = {ExitCode.USAGE: 400, ExitCode.UNKNOWN_TASK: 404, ExitCode.TIMEOUT: 504}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def parse_address(text: object) -> tuple[str, int]:
    """``[ADDR:]PORT`` (an IPv6 address in brackets) as host and port; None or True (``--http``
    without a value): the default."""
    if text is None or text is True or text == "":
        return DEFAULT_HOST, DEFAULT_PORT
    text = str(text).strip()
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UsageError(
            f"--http takes [ADDR:]PORT, not {text!r}", "e.g. --http 8787 or --http 127.0.0.1:8787"
        )
    return host, number


def loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or a one-line error saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--http: cannot resolve {host!r} ({exc.strerror})", "give an IP address") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"--http: cannot listen on {host}:{port}: {exc.strerror or exc}",
            "pick another port (--http PORT), or stop what holds it",
        ) from None
    sock.set_inheritable(True)
    return sock


def load_token(root: str) -> tuple[str, bool]:
    """The dashboard's token, made (0600, beside the records) when there is none yet; and
    whether it was made now."""
    os.makedirs(root, mode=0o700, exist_ok=True)
    path = os.path.join(root, TOKEN_FILE)
    with contextlib.suppress(FileNotFoundError), open(path, encoding="ascii") as fh:
        found = fh.read().strip()
        if len(found) >= 32:
            return found, False
    token = secrets.token_urlsafe(32)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    os.replace(tmp, path)
    return token, True


def url(host: str, port: int, tls: bool, token: str | None = None) -> str:
    """The dashboard's address (with the token, when given)."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    query = "?" + urlencode({"token": token}) if token else ""
    return f"{'https' if tls else 'http'}://{shown}:{port}/{query}"


def _error(exc: OpenclawError) -> Response:
    from starlette.responses import JSONResponse

    code = HTTP_STATUS.get(ExitCode(int(exc.exit_code)), 409)
    return JSONResponse({"error": exc.one_line(), "exit_code": int(exc.exit_code)}, status_code=code)


def _int(request: Request, name: str, default: int | None) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name} takes a whole number, not {value[:40]!r}") from None


class Guard:
    """ASGI middleware: every request shows the token; a POST on the cookie's say-so must come
    from the dashboard's own origin (no cross-site request can act)."""

    def __init__(self, app: ASGIApp, token: str, cookie: str, tls: bool) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie
        self.tls = tls

    def _matches(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request
        from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse

        request = Request(scope)
        path: str = scope["path"]
        api_call = path.startswith("/api/")
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        by_header = self._matches(bearer) or self._matches(request.headers.get("x-openclaw-token"))
        by_cookie = not by_header and self._matches(request.cookies.get(self.cookie))
        if not (by_header or by_cookie):
            query = request.query_params.get("token")
            if request.method == "GET" and not api_call and self._matches(query):
                # Opened from the printed URL: keep the token in a cookie, and out of the address bar.
                kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = path + ("?" + urlencode(kept) if kept else "")
                response: Response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
                response.set_cookie(
                    self.cookie, self.token, httponly=True, samesite="lax", secure=self.tls, path="/"
                )
                await response(scope, receive, send)
                return
            why = "this dashboard needs its token"
            fix = "open the URL 'openclaw-agent serve --http' printed, or 'openclaw-agent serve --url'"
            if api_call:
                response = JSONResponse(
                    {"error": f"{why} — send 'Authorization: Bearer TOKEN' ({fix})", "exit_code": 2},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            else:
                response = PlainTextResponse(
                    f"401: {why}: {fix}.\n", status_code=401, headers=SECURITY_HEADERS
                )
            await response(scope, receive, send)
            return
        if by_cookie and request.method not in ("GET", "HEAD", "OPTIONS"):
            own = f"{'https' if self.tls else 'http'}://{request.headers.get('host', '')}"
            site = request.headers.get("sec-fetch-site")
            if request.headers.get("origin") != own or site not in (None, "same-origin"):
                refused = JSONResponse(
                    {
                        "error": "cross-site request refused: a POST must come from the dashboard itself",
                        "exit_code": 2,
                    },
                    status_code=403,
                )
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Web:
    """The dashboard's application over one task store, fed by ``serve``'s :class:`Board`."""

    def __init__(
        self,
        make_manager: Callable[[], Manager],
        board: Board,
        token: str,
        interval: float,
        cookie: str = "openclaw_token",
        tls: bool = False,
    ) -> None:
        self.make_manager = make_manager
        self.board = board
        self.token = token
        self.interval = interval
        self.cookie = cookie
        self.tls = tls
        self._local = threading.local()
        self._page: str | None = None

    # -- calling the library -----------------------------------------------------------------
    def manager(self) -> Manager:
        """This worker thread's Manager (each thread its own, as separate processes would)."""
        found: Manager | None = getattr(self._local, "manager", None)
        if found is None:
            found = self._local.manager = self.make_manager()
        return found

    async def _run(self, fn: Callable[[Manager], Any]) -> Any:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(lambda: fn(self.manager()))

    async def _answer(self, fn: Callable[[Manager], Any], status: int = 200) -> Response:
        from starlette.responses import JSONResponse

        try:
            data = await self._run(fn)
        except OpenclawError as exc:
            return _error(exc)
        return JSONResponse(data, status_code=status)

    async def _body(self, request: Request) -> dict[str, Any]:
        data = await request.body()
        if not data.strip():
            return {}
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise UsageError("the body must be JSON", "send it with 'Content-Type: application/json'")
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise UsageError(f"the body is not valid JSON ({exc})") from None
        if not isinstance(body, dict):
            raise UsageError("the body must be a JSON object")
        return body

    # -- the JSON API --------------------------------------------------------------------------
    async def list_tasks(self, request: Request) -> Response:
        """List the tasks."""
        q = request.query_params
        try:
            limit = _int(request, "limit", None)
        except UsageError as exc:
            return _error(exc)
        looked = dict(self.board.looked)
        return await self._answer(
            lambda m: api.tasks(
                m, q.get("status") or None, q.get("executor") or None, q.get("label"), limit, looked
            )
        )

    async def start(self, request: Request) -> Response:
        """Start a task."""
        try:
            body = await self._body(request)
        except UsageError as exc:
            return _error(exc)
        response = await self._answer(lambda m: api.start(m, body), status=201)
        self._tell(response)
        return response

    async def task(self, request: Request) -> Response:
        """One task."""
        task_id = request.path_params["task_id"]
        return await self._answer(lambda m: api.status(m, task_id))

    async def logs(self, request: Request) -> Response:
        """A task's log."""
        task_id = request.path_params["task_id"]
        try:
            offset = _int(request, "offset", 0) or 0
            limit = _int(request, "limit", 200) or 200
        except UsageError as exc:
            return _error(exc)
        source = request.query_params.get("source", "stdout")
        return await self._answer(lambda m: api.logs(m, task_id, offset, source, limit))

    async def diff(self, request: Request) -> Response:
        """What a task changed."""
        task_id = request.path_params["task_id"]
        mode = request.query_params.get("mode", "stat")
        return await self._answer(lambda m: api.diff(m, task_id, mode))

    async def kill(self, request: Request) -> Response:
        """Kill a task."""
        task_id = request.path_params["task_id"]
        try:
            body = await self._body(request)
            grace = body.get("grace", 10)
            if not isinstance(grace, (int, float)) or isinstance(grace, bool):
                raise UsageError(f"grace takes seconds as a number, not {grace!r}")
        except UsageError as exc:
            return _error(exc)
        response = await self._answer(lambda m: api.kill(m, task_id, float(grace)))
        self._tell(response)
        return response

    async def resume(self, request: Request) -> Response:
        """Resume a task."""
        task_id = request.path_params["task_id"]
        try:
            body = await self._body(request)
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                raise UsageError("resume needs a prompt", 'send {"prompt": "what to do next"}')
        except UsageError as exc:
            return _error(exc)
        response = await self._answer(lambda m: api.resume(m, task_id, prompt), status=201)
        self._tell(response)
        return response

    async def cleanup(self, request: Request) -> Response:
        """Remove a task."""
        task_id = request.path_params["task_id"]
        try:
            body = await self._body(request)
            force, branch = body.get("force", False), body.get("delete_branch", False)
            if not isinstance(force, bool) or not isinstance(branch, bool):
                raise UsageError("force and delete_branch take true or false")
        except UsageError as exc:
            return _error(exc)
        response = await self._answer(lambda m: api.cleanup(m, task_id, force, branch))
        if response.status_code == 200:
            self.board.removed(json.loads(bytes(response.body))["removed"])
        return response

    async def executors(self, request: Request) -> Response:
        """The executors."""
        return await self._answer(api.executors)

    async def dashboard(self, request: Request) -> Response:
        """The dashboard's snapshot."""
        looked = dict(self.board.looked)
        return await self._answer(lambda m: m.snapshot(looked=looked).as_json())

    async def openapi(self, request: Request) -> Response:
        """The API's OpenAPI description (``openapi.yaml`` beside this module)."""
        from starlette.responses import JSONResponse

        return JSONResponse(openapi())

    def _tell(self, response: Response) -> None:
        """Publish the record an acting call returned, so that every open page sees it now."""
        if response.status_code in (200, 201):
            record = json.loads(bytes(response.body))
            record.pop("killed", None)
            self.board.record(record)

    # -- the event stream ----------------------------------------------------------------------
    async def events(self, request: Request) -> Response:
        """The event stream."""
        from sse_starlette import EventSourceResponse

        ref = request.query_params.get("task")
        source = request.query_params.get("source", "stdout")
        try:
            offset = _int(request, "offset", 0) or 0
            task_id = None if not ref else await self._run(lambda m: m.store.resolve(ref))
            if source not in ("stdout", "stderr", "transcript"):
                raise UsageError(f"unknown source {source!r}", "use one of: stdout, stderr, transcript")
        except OpenclawError as exc:
            return _error(exc)
        feed = self.board.subscribe()

        async def stream() -> Any:
            pump = None
            try:
                yield {"event": "hello", "data": json.dumps({"interval": self.interval, "task_id": task_id})}
                if task_id:
                    # The task as it is now, read after subscribing: a change made between a
                    # page's own read of it and this stream is not lost (the feed has any later).
                    try:
                        current = await self._run(lambda m: api.status(m, task_id))
                    except OpenclawError:
                        pass  # gone or unreadable: the pump says so
                    else:
                        yield {"event": "task", "data": json.dumps(current)}
                    pump = asyncio.create_task(self._pump(feed, task_id, source, offset))
                while True:
                    event, data = await feed.get()
                    if feed.behind:
                        yield {"event": "reload", "data": "{}"}
                        return
                    if task_id and data.get("task_id", task_id) != task_id:
                        continue
                    yield {"event": event, "data": json.dumps(data)}
            finally:
                self.board.unsubscribe(feed)
                if pump is not None:
                    pump.cancel()

        return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})

    async def _pump(self, feed: Feed, task_id: str, source: str, offset: int) -> None:
        """Put the task's new log entries into ``feed`` until it ended and all was read."""
        while True:
            try:
                meta = await self._run(lambda m: m.store.read(task_id))
                if meta["status"] == states.QUEUED:
                    await asyncio.sleep(LOCAL_LOG_S)
                    continue
                entries, after = await self._run(functools.partial(_read_log, meta, offset, source))
            except UnknownTaskError:
                return
            except OpenclawError as exc:
                feed.put_nowait(("log_error", {"task_id": task_id, "error": exc.one_line()}))
                await asyncio.sleep(max(self.interval, 1.0))
                continue
            if after != offset:
                feed.put_nowait(
                    (
                        "log",
                        {
                            "task_id": task_id,
                            "entries": [e.to_json() for e in entries],
                            "offset": offset,
                            "next_offset": after,
                        },
                    )
                )
            elif meta["status"] in states.FINAL:
                feed.put_nowait(("log_end", {"task_id": task_id, "status": meta["status"], "offset": after}))
                return
            full = after - offset and len(entries) >= LOG_BATCH
            offset = after
            if not full:
                local = meta["executor_type"] == "local"
                await asyncio.sleep(LOCAL_LOG_S if local else max(self.interval, 1.0))

    # -- the pages ------------------------------------------------------------------------------
    async def page(self, request: Request) -> Response:
        """The dashboard's one page (the overview and a task's page are views of it)."""
        from starlette.responses import HTMLResponse

        if self._page is None:
            self._page = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(self._page, headers=SECURITY_HEADERS)

    # -- the application ----------------------------------------------------------------------
    @property
    def _routes(self) -> list[Any]:
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles

        return [
            Route("/", self.page, include_in_schema=False),
            Route("/tasks/{task_id}", self.page, include_in_schema=False),
            Route("/api/tasks", self.list_tasks, methods=["GET"]),
            Route("/api/tasks", self.start, methods=["POST"]),
            Route("/api/tasks/{task_id}", self.task, methods=["GET"]),
            Route("/api/tasks/{task_id}/logs", self.logs, methods=["GET"]),
            Route("/api/tasks/{task_id}/diff", self.diff, methods=["GET"]),
            Route("/api/tasks/{task_id}/kill", self.kill, methods=["POST"]),
            Route("/api/tasks/{task_id}/resume", self.resume, methods=["POST"]),
            Route("/api/tasks/{task_id}/cleanup", self.cleanup, methods=["POST"]),
            Route("/api/executors", self.executors, methods=["GET"]),
            Route("/api/dashboard", self.dashboard, methods=["GET"]),
            Route("/api/events", self.events, methods=["GET"]),
            Route("/api/openapi.json", self.openapi, methods=["GET"], include_in_schema=False),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]

    def app(self) -> Starlette:
        """The ASGI application: the routes behind the token guard."""
        from starlette.applications import Starlette
        from starlette.middleware import Middleware

        return Starlette(
            routes=self._routes,
            middleware=[Middleware(Guard, token=self.token, cookie=self.cookie, tls=self.tls)],
        )

    def run(self, sock: socket.socket, certfile: str | None = None, keyfile: str | None = None) -> None:
        """Serve on ``sock`` until SIGINT or SIGTERM (uvicorn's own handling), in this thread."""
        import uvicorn

        config = uvicorn.Config(
            self.app(),
            log_config=None,
            access_log=False,  # a URL may carry the token: no access log
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        uvicorn.Server(config).run(sockets=[sock])


def _read_log(meta: TaskRecord, offset: int, source: str, manager: Manager) -> tuple[list[Entry], int]:
    return manager.entries_after(meta, offset, source, LOG_BATCH)


def openapi() -> dict[str, Any]:
    """The API's OpenAPI 3.1 description, with this version."""
    import yaml

    from openclaw import __version__

    doc: dict[str, Any] = yaml.safe_load((Path(__file__).with_name("openapi.yaml")).read_text("utf-8"))
    doc["info"]["version"] = __version__
    return doc
