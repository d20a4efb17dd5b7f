"""What ``serve`` last saw, and the feed of changes the open pages follow.

``serve``'s look (a thread) hands every look's views to :meth:`Board.saw`,
which finds what changed since the look before: a task whose record (or
observation) differs, a task that left the watch (ended, or was removed), and
an entry of the records directory that came or went behind the watch's back
(a task started and ended between two looks, a ``cleanup`` run elsewhere). Each
change is published to every subscriber: an :class:`asyncio.Queue` per open
event stream, filled from the look's thread through its event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from openclaw.errors import OpenclawError, UnknownTaskError
from openclaw.task import Observed

if TYPE_CHECKING:
    from openclaw.manager import Manager

#: One change: the event's name (``task``, ``removed``, ``executors``, ``log``...) and its data.
Change = tuple[str, dict[str, Any]]

#: Changes a subscriber that does not read may fall behind by before it is dropped.
MAX_BEHIND = 10_000


def _digest(data: Mapping[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=16).hexdigest()


class Feed(asyncio.Queue[Change]):
    """One subscriber's changes; ``behind`` once some had to be dropped (it did not read)."""

    def __init__(self) -> None:
        super().__init__(MAX_BEHIND)
        self.behind = False


class Board:
    """The latest look at the active and queued tasks, and who wants to hear of changes."""

    def __init__(self) -> None:
        #: The views of the last look, by task id (the active and queued tasks).
        self.looked: dict[str, Observed] = {}
        self._digests: dict[str, str] = {}
        self._ids: set[str] | None = None
        self._executors: str | None = None
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, Feed]] = []

    # -- subscribers (called in the event loop) ---------------------------------------------
    def subscribe(self) -> Feed:
        """A queue that gets every change from now on (call :meth:`unsubscribe` when done)."""
        queue = Feed()
        with self._lock:
            self._subscribers.append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: Feed) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s[1] is not queue]

    @property
    def watchers(self) -> int:
        """How many event streams are open."""
        return len(self._subscribers)

    # -- publishing (from any thread) ------------------------------------------------------
    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Hand ``(event, data)`` to every subscriber; one too far behind is dropped."""
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, (event, data))
            except RuntimeError:  # its loop has closed
                self.unsubscribe(queue)

    def record(self, record: Mapping[str, Any]) -> None:
        """Publish a task's record (as the API shows it), unless it is what was last published."""
        digest = _digest(record)
        task_id = record["task_id"]
        with self._lock:
            if self._digests.get(task_id) == digest:
                return
            self._digests[task_id] = digest
        self.publish("task", dict(record))

    def removed(self, task_id: str) -> None:
        """Publish that a task's record is gone."""
        with self._lock:
            self._digests.pop(task_id, None)
        self.publish("removed", {"task_id": task_id})

    # -- the look ----------------------------------------------------------------------------
    def saw(self, manager: Manager, views: list[Observed]) -> None:
        """Take one look's views (``serve``'s thread): publish what changed since the last."""
        now = {v.record["task_id"]: v for v in views}
        for view in views:
            self.record(view.as_json())
        left = set(self.looked) - set(now)
        ids = set(manager.store.ids())
        if self._ids is not None:
            left |= (ids ^ self._ids) - set(now)
        for task_id in sorted(left):
            try:
                self.record(Observed(manager.store.read(task_id)).as_json())
            except UnknownTaskError:
                self.removed(task_id)
            except OpenclawError:
                continue  # a corrupt record: list shows the warning
        self._ids = ids
        self.looked = now
        self.executors(manager)

    def executors(self, manager: Manager) -> None:
        """Publish the executors and their load, when that changed."""
        try:
            listing = {"executors": manager.executors()}
        except OpenclawError:
            return
        digest = _digest(listing)
        if digest != self._executors:
            self._executors = digest
            self.publish("executors", listing)


def _offer(queue: Feed, change: Change) -> None:
    try:
        queue.put_nowait(change)
    except asyncio.QueueFull:
        queue.behind = True  # that page is stuck: its stream tells it to reload (see app.events)
