"""Telling people and programs that a task ended: webhooks and commands, once per task.

Targets come from the config (``notify:`` at the top, and on the task's
executor) and from ``start --notify URL``. Each is a webhook (the final record
POSTed as JSON, signed with HMAC-SHA256 when it has a secret) or a command (run
on the dispatcher, the record on its stdin), filtered by ``on:`` (the final
states that notify; default all).

**Exactly once.** The record's ``notify`` field is written in the same locked
write that records the final state: the deliveries to make, ``pending``, and a
*claim* naming the process that wrote it (pid, start time, boot id). That
process delivers, then records each outcome (``delivered`` or ``failed``, with
when, the attempts and the error) under the lock. Another process that sees
the same exit finds the state already final and writes nothing, so it never
sends. A claim whose process is gone (a crash between recording and sending)
is taken over by the next process that looks (:meth:`Manager.redeliver`):
``serve`` each cycle, ``status``, ``wait``. A delivery's outcome never changes
the task's state. Secrets stay in the config: the record names a target by
its URL or command only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit

from openclaw import procs, states
from openclaw.task import TaskRecord

#: The header that carries a webhook's signature: ``sha256=<hex HMAC-SHA256(secret, body)>``.
SIGNATURE_HEADER = "X-Openclaw-Signature-256"
#: Webhook attempts, the pause before each retry (doubling), and each attempt's time limit.
TRIES, BACKOFF_S, TIMEOUT_S = 3, 0.5, 10.0
#: How long a command hook may run.
COMMAND_TIMEOUT_S = 60.0
#: A claim older than this is taken over even if its process still lives (a hung delivery).
CLAIM_STALE_S = 600.0


@dataclasses.dataclass(frozen=True)
class Target:
    """One place to tell: a webhook URL (with its secret, never recorded) or a command."""

    webhook: str | None = None
    secret: str | None = None
    command: tuple[str, ...] = ()
    on: frozenset[str] = frozenset(states.FINAL)

    @property
    def to(self) -> str:
        """How the record names it: ``webhook URL`` or ``command ARGV0 ...`` (no secret)."""
        if self.webhook:
            return f"webhook {self.webhook}"
        return "command " + " ".join(self.command)

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> Target:
        """A ``notify:`` entry of the config (already checked against its schema)."""
        secret = entry.get("secret")
        if secret is None and entry.get("secret_env"):
            secret = os.environ.get(str(entry["secret_env"])) or None
        return cls(
            webhook=entry.get("webhook"),
            secret=secret,
            command=tuple(entry.get("command") or ()),
            on=frozenset(entry.get("on") or states.FINAL),
        )


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host; else a UsageError (``start --notify``)."""
    from openclaw.errors import UsageError

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise UsageError(
            f"--notify {url!r} is not an http:// or https:// URL", "e.g. --notify https://host/hook"
        )
    return url


def targets(meta: TaskRecord, config_entries: list[dict[str, Any]]) -> list[Target]:
    """Who is told about the task: the config's entries, then the task's own ``--notify`` URLs."""
    found = [Target.from_config(e) for e in config_entries]
    found += [Target(webhook=url) for url in meta.get("notify_to") or []]
    return found


def plan(meta: TaskRecord, found: list[Target]) -> dict[str, Any] | None:
    """The ``notify`` field a task reaching its final state gets: the deliveries its state calls
    for, pending, claimed by this process; None when nobody is to be told."""
    due = [t for t in found if meta["status"] in t.on]
    if not due:
        return None
    deliveries = [{"to": t.to, "outcome": None, "at": None, "attempts": 0, "error": None} for t in due]
    return {"state": "pending", "claim": claim(), "deliveries": deliveries}


def claim() -> dict[str, Any]:
    """This process, as a claim on a task's pending deliveries."""
    st = procs.stat(os.getpid())
    return {
        "pid": os.getpid(),
        "start": st.start_time if st else None,
        "boot": procs.boot_id(),
        "at": states.now(),
    }


def mine(notify: dict[str, Any] | None) -> bool:
    """Whether ``notify``'s deliveries are pending and claimed by this process."""
    if not notify or notify.get("state") != "pending":
        return False
    c = notify.get("claim") or {}
    return bool(c.get("pid") == os.getpid() and c.get("boot") == procs.boot_id())


def orphaned(notify: dict[str, Any] | None) -> bool:
    """Whether ``notify``'s deliveries are pending with no live process on them: its claimant
    is gone (or rebooted away), or has held them past :data:`CLAIM_STALE_S`."""
    if not notify or notify.get("state") != "pending":
        return False
    c = notify.get("claim") or {}
    if not c.get("pid") or c.get("boot") != procs.boot_id():
        return True
    if not procs.is_alive(int(c["pid"]), c.get("start")):
        return True
    try:
        age = time.time() - states.parse_time(str(c.get("at"))).timestamp()
    except (ValueError, TypeError):
        return True
    return age > CLAIM_STALE_S


# -- delivering ------------------------------------------------------------------------------------
def deliver(meta: TaskRecord, found: list[Target], body: bytes) -> list[dict[str, Any]]:
    """Make each pending delivery of ``meta`` (to the target it names); the outcomes, in order."""
    by_to = {t.to: t for t in found}
    out = []
    for item in (meta.get("notify") or {}).get("deliveries") or []:
        if item.get("outcome") == "delivered":
            out.append(item)
            continue
        target = by_to.get(item["to"])
        if target is None:
            done = dict(item, outcome="failed", at=states.now(), error="no longer in the configuration")
        elif target.webhook:
            done = _post(item, target, meta, body)
        else:
            done = _run(item, target, meta, body)
        out.append(done)
    return out


def _post(item: dict[str, Any], target: Target, meta: TaskRecord, body: bytes) -> dict[str, Any]:
    """POST ``body`` to the webhook: up to :data:`TRIES` times, backing off, until a 2xx."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        """A redirect is an answer like any other non-2xx: the body goes only where it was sent."""

        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    from openclaw import __version__

    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"openclaw-agent/{__version__}",
        "X-Openclaw-Event": "task.final",
        "X-Openclaw-Task-Id": meta["task_id"],
        "X-Openclaw-Status": meta["status"],
    }
    if target.secret:
        digest = hmac.new(target.secret.encode(), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    error = None
    attempts = int(item.get("attempts") or 0)
    opener = urllib.request.build_opener(NoRedirect)
    for n in range(TRIES):
        if n:
            time.sleep(BACKOFF_S * 2 ** (n - 1))
        attempts += 1
        request = urllib.request.Request(str(target.webhook), data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=TIMEOUT_S) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            error = f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason
            continue
        if 200 <= code < 300:
            return dict(item, outcome="delivered", at=states.now(), attempts=attempts, error=None)
        error = f"HTTP {code}"
    return dict(item, outcome="failed", at=states.now(), attempts=attempts, error=error)


def _run(item: dict[str, Any], target: Target, meta: TaskRecord, body: bytes) -> dict[str, Any]:
    """Run the command hook with the record on stdin; it succeeds when it exits 0."""
    env = dict(os.environ, OPENCLAW_TASK_ID=meta["task_id"], OPENCLAW_STATUS=meta["status"])
    attempts = int(item.get("attempts") or 0) + 1
    try:
        proc = subprocess.run(
            list(target.command),
            input=body,
            env=env,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            start_new_session=True,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict(
            item, outcome="failed", at=states.now(), attempts=attempts, error=f"{type(exc).__name__}: {exc}"
        )
    if proc.returncode == 0:
        return dict(item, outcome="delivered", at=states.now(), attempts=attempts, error=None)
    last = (proc.stderr.decode(errors="replace").strip().splitlines() or [""])[-1][:200]
    error = f"exit status {proc.returncode}" + (f": {last}" if last else "")
    return dict(item, outcome="failed", at=states.now(), attempts=attempts, error=error)


def body_of(meta: TaskRecord) -> bytes:
    """What a webhook gets and a command reads: the final record, without its ``notify`` field."""
    shown = {k: v for k, v in meta.items() if k != "notify"}
    return json.dumps(shown, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def summary(meta: TaskRecord) -> str | None:
    """One line for ``status``: who was told, and how it went; None when nobody is told."""
    notify = meta.get("notify")
    if not notify:
        return None
    parts = []
    for item in notify.get("deliveries") or []:
        outcome = item.get("outcome") or "pending"
        extra = f" ({item['error']})" if item.get("error") and outcome != "delivered" else ""
        parts.append(f"{item['to']}: {outcome}{extra}")
    return "; ".join(parts)
