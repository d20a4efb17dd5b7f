"""Routing by label, each executor's capacity, and the queue of what does not fit yet.

The task records stay the truth. Beside them, in the tasks directory, two
small marker directories make the fleet's questions cheap, without reading
every record:

- ``.slots/<executor>/<task-id>``: a task dispatched to an executor that has
  ``max_concurrent``, holding one of its slots until it is final;
- ``.queue/<task-id>``: a task waiting for a slot.

Markers are hints checked against the records: one whose task is gone, or
no longer in the state it stands for, is removed where it is found, so a
crash can leave a stale marker but never lose a slot for good. Every change
of either, and every decision that reads them, holds ``.dispatch``
(flock(2)): capacity holds whoever starts tasks at the same moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from openclaw import states
from openclaw.config import Config, ExecutorConfig
from openclaw.errors import CorruptRecordError, UnknownTaskError, UsageError
from openclaw.records import QUEUE, TaskStore
from openclaw.task import TaskRecord

LOCK = ".dispatch"
SLOTS = ".slots"
#: ``.unreachable/<executor>``: the executor could not be reached at its last observation or
#: start (the file holds why). Routing passes it over while others match, for this long.
UNREACHABLE = ".unreachable"
UNREACHABLE_FOR_S = 300.0


@dataclass(frozen=True)
class Choice:
    """How an executor was chosen for a task: what was asked, who could take it, who did."""

    labels: list[str]
    candidates: list[str]
    picked: str | None
    why: str
    #: Free slots per candidate when the choice was made (None: unlimited).
    free: dict[str, int | None] = field(default_factory=dict)
    #: Candidates passed over as unreachable, with why.
    skipped: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The ``routing`` field of a record, and ``start --dry-run --json``."""
        out: dict[str, Any] = {
            "labels": list(self.labels),
            "candidates": list(self.candidates),
            "picked": self.picked,
            "why": self.why,
        }
        if self.skipped:
            out["skipped"] = dict(self.skipped)
        return out


class Fleet:
    """The dispatcher's view of executors: labels, slots and the queue, for one task store."""

    def __init__(self, store: TaskStore, config: Callable[[], Config]) -> None:
        self.store = store
        self._config = config

    @property
    def config(self) -> Config:
        """The configuration, loaded on first use (the queue's markers need none)."""
        return self._config()

    # -- routing --------------------------------------------------------------------------
    def candidates(self, labels: list[str], executor: str | None) -> list[ExecutorConfig]:
        """The executors a task may go to: the one named, or every one carrying all ``labels``
        (config order). Raises :class:`UsageError` for both at once, or labels nobody has."""
        if labels and executor:
            raise UsageError("give either --executor or --label, not both", "--label picks the executor")
        if not labels:
            return [self.config.executor(executor)]
        wanted = set(labels)
        found = [e for e in self.config.executors if wanted <= set(e.labels)]
        if not found:
            known = sorted({label for e in self.config.executors for label in e.labels})
            raise UsageError(
                f"no executor carries the labels {', '.join(sorted(wanted))}",
                f"labels in the config: {', '.join(known) or 'none'}",
            )
        return found

    def choose(self, labels: list[str], cands: list[ExecutorConfig], used: dict[str, int]) -> Choice:
        """The candidate with the most free slots (config order breaks a tie), or none. One
        unreachable at its last look is passed over while another candidate is not."""
        down = {c.name: why for c in cands if (why := self.unreachable(c.name)) is not None}
        if down and len(down) < len(cands):
            choice = self._choose(labels, [c for c in cands if c.name not in down], used)
            skipped = ", ".join(f"{n} ({why})" for n, why in down.items())
            return Choice(
                labels,
                [c.name for c in cands],
                choice.picked,
                f"{choice.why}; passed over as unreachable at its last look: {skipped}",
                choice.free,
                down,
            )
        return self._choose(labels, cands, used)

    def _choose(self, labels: list[str], cands: list[ExecutorConfig], used: dict[str, int]) -> Choice:
        free: dict[str, int | None] = {}
        for c in cands:
            free[c.name] = (
                None if c.max_concurrent is None else max(0, c.max_concurrent - used.get(c.name, 0))
            )
        open_ = [c.name for c in cands if free[c.name] is None or (free[c.name] or 0) > 0]
        names = [c.name for c in cands]
        if not open_:
            why = "every candidate is full: queued for the first slot that frees on any of them"
            return Choice(labels, names, None, why, free)

        def room(name: str) -> float:
            value = free[name]
            return math.inf if value is None else float(value)

        best = max(open_, key=lambda n: (room(n), -names.index(n)))
        why = "named with --executor" if not labels else "the candidate with the most free slots"
        return Choice(labels, names, best, why, free)

    # -- reachability ----------------------------------------------------------------------------
    def _health(self, executor: str) -> str:
        return os.path.join(self.store.root, UNREACHABLE, executor)

    def unreachable(self, executor: str) -> str | None:
        """Why ``executor`` could not be reached at its last observation or start, if it could
        not, and that was less than :data:`UNREACHABLE_FOR_S` ago; else None."""
        path = self._health(executor)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                if time.time() - os.fstat(fh.fileno()).st_mtime > UNREACHABLE_FOR_S:
                    return None
                return fh.read(300).strip() or "unreachable"
        except OSError:
            return None

    def note_unreachable(self, executor: str, why: str) -> None:
        """Remember that ``executor`` could not be reached (best effort)."""
        d = os.path.join(self.store.root, UNREACHABLE)
        with contextlib.suppress(OSError):
            os.makedirs(d, mode=0o700, exist_ok=True)
            tmp = f"{self._health(executor)}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(" ".join(why.split())[:300] + "\n")
            os.replace(tmp, self._health(executor))

    def note_reachable(self, executor: str) -> None:
        """Forget that ``executor`` was unreachable: it answered."""
        with contextlib.suppress(OSError):
            os.unlink(self._health(executor))

    # -- the lock ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the dispatch lock: one dispatcher decides at a time."""
        root = self.store.ensure_root()
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- slots ------------------------------------------------------------------------------
    def _slot_dir(self, executor: str) -> str:
        return os.path.join(self.store.root, SLOTS, executor)

    def take(self, executor: ExecutorConfig, task_id: str) -> None:
        """Count ``task_id`` against ``executor`` (only an executor with a cap keeps count)."""
        if executor.max_concurrent is None:
            return
        d = self._slot_dir(executor.name)
        os.makedirs(d, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(d, task_id), os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)

    def used(self, executor: ExecutorConfig) -> int:
        """How many of ``executor``'s slots are held by tasks not final yet (stale markers go)."""
        if executor.max_concurrent is None:
            return 0
        d = self._slot_dir(executor.name)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return 0
        count = 0
        for task_id in names:
            if self._status(task_id) in states.ACTIVE:
                count += 1
            else:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(d, task_id))
        return count

    def holders(self) -> list[str]:
        """Ids of the tasks holding a slot of any capped executor, by their markers."""
        root = os.path.join(self.store.root, SLOTS)
        try:
            executors = os.listdir(root)
        except FileNotFoundError:
            return []
        out: list[str] = []
        for name in executors:
            with contextlib.suppress(OSError):
                out.extend(os.listdir(os.path.join(root, name)))
        return out

    # -- the queue ------------------------------------------------------------------------------
    def _queue_dir(self) -> str:
        return os.path.join(self.store.root, QUEUE)

    def enqueue(self, task_id: str) -> None:
        """Mark ``task_id`` as waiting (before its queued record is written: never a lost task)."""
        d = self._queue_dir()
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.close(os.open(os.path.join(d, task_id), os.O_WRONLY | os.O_CREAT, 0o600))

    def dequeue(self, task_id: str) -> None:
        """Unmark ``task_id`` (dispatched, killed or removed)."""
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self._queue_dir(), task_id))

    def waiting(self) -> list[str]:
        """Ids marked as waiting (cheap: one listdir); the records say whether they still are."""
        return self.store.queued()

    def mark_queued(self, records: list[TaskRecord]) -> None:
        """Re-mark queued records whose marker was lost (``list`` reads every record anyway)."""
        marked = set(self.waiting())
        for m in records:
            if m["status"] == states.QUEUED and m["task_id"] not in marked:
                self.enqueue(m["task_id"])

    def _status(self, task_id: str) -> str | None:
        try:
            return self.store.read(task_id)["status"]
        except (UnknownTaskError, CorruptRecordError, OSError):
            return None
