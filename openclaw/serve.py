"""``openclaw-agent serve``: an optional foreground supervisor, pueue's daemon for this tool.

A look takes in every active and queued task (one batch per executor: one
round trip per host), lets the queue flow into what that freed, and tells the
notification targets of tasks that ended (and of tasks whose teller died:
see :mod:`openclaw.notify`). Nothing depends on it: every command does the
same for the tasks it looks at. One ``serve`` per task store (an flock on
``tasks/.serve.lock``, which holds its pid); SIGTERM or Ctrl-C ends it within
a second.

Between looks it waits without a timer (:class:`openclaw.watch.StoreWatch`):
one inotify watch on the store (a new task; ``.ended``, which each local
launcher appends to at its end), a pidfd of each local launcher, and per
executor with running tasks one alarm of its own: one ``<runtime> events``
per container executor, one long-lived ``ended.sh`` per SSH host. A look
follows each wake. Only what cannot be watched is looked at every
``--interval``: the tasks of an executor with no alarm (Ray) or whose alarm
could not be made (a host unreachable), and a queue with nothing running to
free it. Everything is looked at every :data:`LOOK_S` whatever happens, in
case a wake was missed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from openclaw import states
from openclaw.errors import OpenclawError, UsageError

if TYPE_CHECKING:
    from openclaw.manager import Manager
    from openclaw.task import Observed, TaskRecord
    from openclaw.watch import Alarm, StoreWatch

log = logging.getLogger("openclaw")
#: States a task leaves the watch in (after it was logged once).
FINAL_SHOWN = frozenset({"completed", "failed", "killed", "lost"})

#: Seconds between two looks at what cannot be watched, unless ``--interval`` says otherwise.
DEFAULT_INTERVAL_S = 2.0
#: Seconds between two looks at everything, watched or not (as ``wait`` and ``logs --follow``).
LOOK_S = 120.0
#: An alarm lost sooner than this after it was made was lost soon; two in a row, and the
#: executor is looked at on the interval for :data:`ALARM_BACKOFF_S` instead.
ALARM_SHORT_S = 5.0
ALARM_BACKOFF_S = 60.0
#: How long a stop waits for a look under way before it leaves it behind.
STOP_WAIT_S = 0.8
#: Where the store cannot be watched (no inotify), how often the exit files of this machine's
#: running tasks and the records directory are checked between looks: an exit file that
#: appears, or a new task, brings the next look forward (a stat each, no process).
EXIT_CHECK_S = 0.2
#: The lock file, beside the records.
LOCK_NAME = ".serve.lock"

UNIT = """\
# openclaw-agent serve as a systemd user service:
#   mkdir -p ~/.config/systemd/user
#   openclaw-agent serve --print-unit > ~/.config/systemd/user/openclaw-agent.service
#   systemctl --user daemon-reload && systemctl --user enable --now openclaw-agent
#   journalctl --user -u openclaw-agent -f      # its log
[Unit]
Description=openclaw-agent serve: watches tasks, drains the queue, sends notifications
After=network-online.target

[Service]
ExecStart={exe} serve{args}
Restart=on-failure
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=5

[Install]
WantedBy=default.target
"""


class AlreadyServing(OpenclawError):
    """Another ``serve`` holds the task store."""


def unit(interval: float | None, config: str | None) -> str:
    """The systemd user unit that runs this ``serve`` (this interpreter, this config)."""
    exe = f"{sys.executable} -m openclaw"
    args = f" --interval {interval:g}" if interval else ""
    if config:
        exe += f" --config {config}"
    return UNIT.format(exe=exe, args=args)


class Server:
    """One ``serve``: holds the store's lock, and looks every ``interval`` seconds until stopped."""

    def __init__(self, manager: Manager, interval: float = DEFAULT_INTERVAL_S) -> None:
        if not interval > 0 or interval > 86400:
            raise UsageError(f"--interval must be more than 0 and at most a day, not {interval:g}")
        self.manager = manager
        self.interval = interval
        self.stop = threading.Event()
        self._fd: int | None = None
        self._seen: dict[str, str] = {}
        #: The ``rc`` files of the local tasks running at the last look.
        self._exits: list[str] = []
        #: The records directory's mtime at the last look: a new task changes it.
        self._listed: int | None = None
        #: The wait between looks, once the loop has made it (None: the store is not watched).
        self._watch: StoreWatch | None = None
        #: The executors with running tasks but no alarm (looked at every interval).
        self._unwatched: set[str] = set()
        #: Per executor: when its alarm was last made, how many in a row were lost soon after,
        #: and until when none is made (see :meth:`_may_make`).
        self._made: dict[str, float] = {}
        self._quick: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        #: Called with every look's views (``--http``'s board), in the look's thread.
        self.on_look: Callable[[list[Observed]], None] | None = None
        #: Run in the main thread while the looks go on (``--http``'s web server), instead of
        #: waiting for a signal; ``serve`` stops when it returns.
        self.front: Callable[[], None] | None = None

    def hold(self) -> None:
        """Take the store's serve lock, or say which process holds it."""
        if self._fd is not None:
            return
        root = self.manager.store.root
        os.makedirs(root, mode=0o700, exist_ok=True)
        path = os.path.join(root, LOCK_NAME)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyServing(
                f"another serve (pid {holder}) is watching {root}",
                f"stop it first (kill {holder}), or use that one",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def run(self) -> None:
        """Look, wait, look again, until SIGTERM, SIGINT or :meth:`halt`."""
        self.hold()
        previous = {s: signal.signal(s, lambda *_: self.halt()) for s in (signal.SIGTERM, signal.SIGINT)}
        log.info("serve: watching %s (pid %d)", self.manager.store.root, os.getpid())
        worker = threading.Thread(target=self._loop, name="openclaw-serve", daemon=True)
        try:
            worker.start()
            if self.front is not None:
                self.front()  # handles SIGINT and SIGTERM itself, and returns on one
                self.halt()
            self.stop.wait()  # a signal's handler runs while the main thread waits here
            worker.join(STOP_WAIT_S)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.release()
            log.info("serve: stopped")

    def halt(self) -> None:
        """Stop: the wait under way returns now, and no look begins after it."""
        self.stop.set()
        if self._watch is not None:
            self._watch.wake()

    def _loop(self) -> None:
        from openclaw.watch import StoreWatch

        try:
            self._watch = StoreWatch(str(self.manager.store.root))
        except Exception as exc:  # no inotify (another OS, no instances left): poll
            log.info("serve: cannot watch the store (%s): looking every %gs", exc, self.interval)
        try:
            while not self.stop.is_set():
                began, since = time.monotonic(), time.time()
                views: list[Observed] | None = None
                try:
                    views = self.cycle()
                except OpenclawError as exc:
                    log.warning("serve: %s", exc.one_line())
                except Exception:  # a look that failed must not end the supervisor
                    log.exception("serve: a look failed")
                if self._watch is None:
                    self._pause(began + self.interval)
                    continue
                try:
                    timed = views is None or self._arm(self._watch, views, since)
                    until = began + (self.interval if timed else LOOK_S)
                    self._watch.wait(max(0.0, until - time.monotonic()))
                except Exception:  # a wait that failed must not end the supervisor either
                    log.exception("serve: a wait failed")
                    self.stop.wait(self.interval)
        finally:
            self.stop.set()  # the main thread waits for this
            watch, self._watch = self._watch, None
            if watch is not None:
                watch.close()

    def _arm(self, watch: StoreWatch, views: list[Observed], since: float) -> bool:
        """Watch the records of the tasks still active or queued; make sure each executor with
        running tasks has its alarm (the look that found them began at ``since``), and drop
        those of executors with none; whether anything is left that only a look on the
        ``--interval`` can follow."""
        store = self.manager.store
        paths = {
            str(store.path(v.record["task_id"])): v for v in views if v.record["status"] not in states.FINAL
        }
        for path in watch.track(set(paths)):
            # Newly watched: a record replaced since the look (a start's pending, then running)
            # was not heard. One read each, of new tasks only; one changed is looked at now.
            task_id = paths[path].record["task_id"]
            try:
                current, was = store.read(task_id), paths[path].record
                changed = (current["status"], current.get("pid")) != (was["status"], was.get("pid"))
            except OpenclawError:
                changed = True
            if changed:
                watch.wake()
                break
        running: dict[str, list[TaskRecord]] = {}
        unreached: set[str] = set()
        for v in views:
            if v.record["status"] in states.ACTIVE:
                running.setdefault(v.record["executor"], []).append(v.record)
                if v.unknown:
                    unreached.add(v.record["executor"])
        for name in watch.armed() - set(running):
            watch.disarm(name)
        for gone in set(self._made) - set(running):
            self._made.pop(gone)
            self._quick.pop(gone, None)
        timed = any(v.record["status"] in states.WAITING for v in views) and not running
        now = time.monotonic()
        for name, metas in running.items():
            alarm = watch.alarm(name)
            if alarm is not None and alarm.covers({m["task_id"] for m in metas}):
                timed = timed or alarm.partial
                continue
            made = None
            broke = name in watch.broken
            watch.broken.discard(name)
            if name not in unreached and self._may_make(name, broke, now):
                made = self._alarm(name, metas, since)
            if made is None:
                watch.disarm(name)
                timed = True
            else:
                watch.arm(name, made)
                self._made[name] = now
                timed = timed or made.partial
        return timed

    def _may_make(self, name: str, broke: bool, now: float) -> bool:
        """Whether to make executor ``name`` a new alarm now (``broke``: its last one ended
        without ringing). Two broken in a row within :data:`ALARM_SHORT_S` of being made (a
        runtime whose event stream ends at once, a host whose watch cannot start) and none
        is made for :data:`ALARM_BACKOFF_S`: the executor is looked at on the interval
        meanwhile. An alarm that rang (a launcher's end) is made again at once."""
        if now < self._retry_at.get(name, 0.0):
            return False
        made = self._made.get(name)
        soon = broke and made is not None and now - made < ALARM_SHORT_S
        self._quick[name] = self._quick.get(name, 0) + 1 if soon else 0
        if self._quick[name] >= 2:
            self._quick[name] = 0
            self._retry_at[name] = now + ALARM_BACKOFF_S
            log.info("serve: the alarm of %s keeps ending: looking every %gs a while", name, self.interval)
            return False
        return True

    def _alarm(self, name: str, metas: list[TaskRecord], since: float) -> Alarm | None:
        """Executor ``name``'s alarm, or None (said once in the log, until one is made again)."""
        why = "it has no alarm"
        try:
            made = self.manager.executor_for(name, metas[0].get("executor_type")).alarm(metas, since)
        except OpenclawError as exc:
            made, why = None, exc.one_line()
        except Exception as exc:  # e.g. the runtime gone
            made, why = None, str(exc) or type(exc).__name__
        if made is None and name not in self._unwatched:
            self._unwatched.add(name)
            log.info("serve: looking at %s every %gs (%s)", name, self.interval, why)
        elif made is not None:
            self._unwatched.discard(name)
        return made

    def _pause(self, until: float) -> None:
        """Where the store cannot be watched: wait until ``until`` (monotonic), or until a local
        task's exit file appears or a task is made."""
        while not self.stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, EXIT_CHECK_S))
            if any(os.path.exists(p) for p in self._exits) or self._stamp() != self._listed:
                return

    def _stamp(self) -> int | None:
        try:
            return os.stat(self.manager.store.root).st_mtime_ns
        except OSError:
            return None

    def cycle(self) -> list[Observed]:
        """One look (:meth:`Manager.watch`), logging what changed since the last; its views."""
        self._listed = self._stamp()
        views = self.manager.watch()
        now = {v.record["task_id"]: v.status for v in views}
        store = self.manager.store
        self._exits = [
            str(store.file(v.record["task_id"], "rc"))
            for v in views
            if v.record["executor_type"] == "local" and v.record["status"] == "running"
        ]
        for task_id, status in now.items():
            if self._seen.get(task_id) != status:
                log.info("task %s %s", task_id, status)
        self._seen = {k: v for k, v in now.items() if v not in FINAL_SHOWN}
        if self.on_look is not None:
            self.on_look(views)
        return views


def configure_logging(path: str | None) -> None:
    """``serve``'s log: one line per event, to ``path`` (appended) or stderr."""
    handler: logging.Handler
    if path:
        fd = os.open(os.path.expanduser(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        handler = logging.StreamHandler(os.fdopen(fd, "a", buffering=1, encoding="utf-8"))
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("openclaw")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
