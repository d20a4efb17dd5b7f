"""Waking on a change instead of polling, for a task on this machine (Linux).

``logs --follow`` and ``wait`` on a local task block in one ``select`` on two
kernel handles, and cost nothing while the task is idle:

- an inotify watch on the task's directory, which wakes them when the agent
  writes output, the launcher writes its ``rc`` or ``pid`` file, or another
  process replaces the record (``kill``, a look by ``serve``);
- a pidfd of the launcher (``pidfd_open``), which wakes them when it exits,
  however it exits: a launcher killed outright writes no ``rc``.

A pid is only trusted with its start time: the pidfd is opened first and the
process's start time checked after, so a reused pid is never watched. When
the launcher is gone while the task still counts as running (its agent runs
on without it), the pidfd stays readable; :meth:`TaskWatch.wait` then stops
selecting on it and the caller looks on its own schedule. Where inotify or
pidfd is not to be had (another OS, an old kernel, no inotify instances
left), :func:`watch_task` returns None and callers poll as before.

Where the launcher is not a process of this machine, a :class:`Feed` stands
in for the pidfd: pipes that become readable when the task's output grows
(when the feed carries it) and close when the task ends. A container
task's feed is the runtime's own follow (``<runtime> logs --follow``, the
stream ``--follow`` reads anyway) or, for ``wait``, ``<runtime> wait``; an
SSH task's is one long-lived command on its host over the open connection.
The task's record directory, which is on this machine, is watched by
inotify as for a local task.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import struct
import subprocess
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Protocol

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
#: What changes the state of a task directory: a file made, renamed in or out, or removed
#: (the launcher's ``rc`` and ``pid`` and the record are written aside and renamed into
#: place); the directory itself removed or moved (a cleanup).
STATE_EVENTS = IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
#: And a file written in place: the agent's output growing.
OUTPUT_EVENTS = IN_MODIFY | IN_CLOSE_WRITE
#: What :meth:`TaskWatch.wait` gives when a :class:`Feed` brought output.
OUTPUT = "<output>"
#: The names in a task directory whose change says nothing of the task's state: its output,
#: and the lock file writers open.
QUIET_NAMES = frozenset({"stdout", "stderr", ".lock", OUTPUT})
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name
#: A name standing for the directory itself (removed or moved away).
SELF = ""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def inotify_events(fd: int) -> Iterator[tuple[int, int, bytes]]:
    """Every event waiting on the non-blocking inotify descriptor ``fd``, as (watch descriptor,
    mask, name: empty for the watched directory itself)."""
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            raise
        at = 0
        while at + _EVENT.size <= len(data):
            wd, mask, _, size = _EVENT.unpack_from(data, at)
            yield wd, mask, data[at + _EVENT.size : at + _EVENT.size + size].rstrip(b"\0")
            at += _EVENT.size + size


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` (field 22 of ``/proc/<pid>/stat``), read now; None when it
    is gone or a zombie.

    Read from ``/proc`` itself, not through :mod:`openclaw.procs` (psutil): this module is
    Linux-only anyway (inotify, pidfd), and every ``wait`` and ``logs --follow`` passes here,
    where psutil's import would cost more than the whole watch. ``tests/test_watch.py`` holds
    it equal to psutil's answer.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class Feed(Protocol):
    """What wakes a watch of a task whose launcher is not a process of this machine."""

    #: Whether the feed becomes readable when the task's output grows (else only at its end).
    sees_output: bool

    def fds(self) -> list[int]:
        """The descriptors to select on; empty once the feed has ended."""

    def take(self) -> bool:
        """Take in what made a descriptor readable; True when the feed has ended with it (the
        task's end, or the feed lost: the caller looks either way)."""

    def close(self) -> None:
        """Stop what the feed started, and release it."""


class ProcessEnd:
    """A :class:`Feed` of a child process (e.g. ``<runtime> wait NAME``) that exits when the
    task ends; its stdout is selected on."""

    sees_output = False

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc: subprocess.Popen[bytes] | None = proc

    def fds(self) -> list[int]:
        if self.proc is None or self.proc.stdout is None:
            return []
        return [self.proc.stdout.fileno()]

    def take(self) -> bool:
        self.close()
        return True

    def close(self) -> None:
        if self.proc is not None:
            _reap(self.proc)
            self.proc = None


class TaskWatch:
    """An inotify watch on one task directory and, while it runs as recorded, a pidfd of its
    launcher. Use as a context manager; :meth:`wait` blocks until one of them fires."""

    def __init__(
        self,
        directory: str,
        launcher: int | None,
        launcher_start: int | None,
        output: bool = True,
        feed: Feed | None = None,
    ) -> None:
        libc = _libc()
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._inotify = fd
        self._pidfd: int | None = None
        self._feed = feed
        #: Whether a change of the task's output wakes :meth:`wait` (else the caller polls it).
        self.sees_output = output and (feed is None or feed.sees_output)
        try:
            mask = STATE_EVENTS | (OUTPUT_EVENTS if output and feed is None else 0)
            if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")
            if launcher:
                self._pidfd = self._open_pidfd(launcher, launcher_start)
        except BaseException:
            self.close()
            raise
        #: Whether the launcher was watched and has since exited (or was gone to begin with).
        self.launcher_gone = launcher is not None and self._pidfd is None and feed is None

    @staticmethod
    def _open_pidfd(pid: int, began: int | None) -> int | None:
        """A pidfd of ``pid`` if it is still the process that started at ``began``, else None."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return None
        if began is not None and start_time(pid) != began:
            os.close(pidfd)  # the pid was reused: that is not the launcher
            return None
        return pidfd

    def wait(self, timeout: float | None) -> set[str]:
        """Block until something changes or ``timeout`` seconds pass (None: no limit); the
        names of the task's files that changed (``SELF`` for the directory itself), with
        ``"launcher"`` when the launcher exited (or the feed ended) and :data:`OUTPUT` when
        the feed brought output. Empty: the time was up."""
        ends = self._end_fds()
        if self._feed is not None and not ends:
            self._ended()  # the feed ended before this wait: the caller looks now
            return {"launcher"}
        try:
            ready, _, _ = select.select([self._inotify, *ends], [], [], timeout)
        except InterruptedError:
            return set()
        changed: set[str] = set()
        if any(fd in ready for fd in ends):
            if self._feed is None or self._feed.take():
                self._ended()
                changed.add("launcher")
            else:
                changed.add(OUTPUT)
        if self._inotify in ready:
            changed |= self._drain()
        return changed

    def _end_fds(self) -> list[int]:
        if self._pidfd is not None:
            return [self._pidfd]
        if self._feed is not None:
            return self._feed.fds()
        return []

    def _ended(self) -> None:
        """The launcher has exited (or the feed ended): stop selecting on it."""
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        if self._feed is not None:
            self._feed.close()
            self._feed = None
        self.launcher_gone = True

    def _drain(self) -> set[str]:
        return {
            SELF if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) else os.fsdecode(name)
            for _, mask, name in inotify_events(self._inotify)
        }

    def close(self) -> None:
        """Release the handles, and the feed."""
        for fd in (self._pidfd, self._inotify):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._pidfd = None
        self._inotify = -1
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def __enter__(self) -> TaskWatch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc`` (a child this process started, by its Popen) if it runs, and collect it."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def state_changed(names: set[str]) -> bool:
    """Whether a change to ``names`` (what :meth:`TaskWatch.wait` gave) may have changed the
    task's state: anything but its output, the lock file and temporary files."""
    return any(n not in QUIET_NAMES and not n.endswith(".tmp") for n in names)


def watch_task(
    directory: str,
    launcher: int | None,
    launcher_start: int | None,
    output: bool = True,
    feed: Callable[[], Feed] | None = None,
) -> TaskWatch | None:
    """A :class:`TaskWatch` of a task (``output``: waking when its output grows too), or None
    where this machine cannot give one. ``feed`` makes the :class:`Feed` of a task with no
    launcher on this machine to watch."""
    if not hasattr(os, "pidfd_open"):
        return None
    made = None
    try:
        made = feed() if feed is not None else None
        return TaskWatch(directory, launcher, launcher_start, output, made)
    except Exception:
        if made is not None:
            made.close()
        return None


# -- serve: one wait for every task of the store ---------------------------------------------------
#: The file beside the task directories that each launcher appends its task's id to when it
#: has written its ``rc`` (``launcher.sh``): on this machine and on each SSH host, one file
#: that tells of every task's end there.
ENDED = ".ended"
#: The most launchers of this machine :class:`PidfdAlarm` holds a pidfd of (one descriptor
#: each); beyond, a launcher killed outright is found by the next periodic look.
MAX_PIDFDS = 256
#: Root events: a task directory made, renamed in or out, or removed; ``.ended`` appended to;
#: the store itself gone.
_ROOT_EVENTS = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF
#: A watched task directory's events: its record replaced (another process changed the task).
_TASK_EVENTS = IN_MOVED_TO
_IN_ISDIR = 0x40000000
#: The record's file name in a task directory (:data:`openclaw.records.META`).
_META = b".meta.json"


class Alarm(Protocol):
    """What wakes ``serve`` when a task of one executor may have ended: descriptors that become
    readable then. Made by :meth:`openclaw.executors.base.Executor.alarm`."""

    def fds(self) -> list[int]:
        """The descriptors to wait on (none: nothing of it to wait on, e.g. no launcher to
        watch yet)."""

    @property
    def lost(self) -> bool:
        """Whether the alarm has rung for good or can no longer ring (its process or channel
        gone): serve looks, and makes a new one."""

    @property
    def broken(self) -> bool:
        """Whether it is lost without having rung (its process or channel ended)."""

    def take(self) -> bool:
        """Take in what made a descriptor readable; True when a task may have ended."""

    #: Whether some of the tasks it was made for cannot be heard of (serve then looks on its
    #: ``--interval`` too).
    partial: bool

    def covers(self, task_ids: set[str]) -> bool:
        """Whether this alarm still tells of the end of each of ``task_ids`` (the executor's
        running tasks at the last look); when not, serve makes a new one."""

    def close(self) -> None:
        """Stop what the alarm started, and release it."""


class PidfdAlarm:
    """The :class:`Alarm` of this machine's launchers: a pidfd of each (up to
    :data:`MAX_PIDFDS`; the rest are found by the periodic look), readable when one exits
    however it exits (killed outright, it writes no ``rc``). Their ordinary ends come by
    ``.ended``, which :class:`StoreWatch` follows. A launcher already gone while its task
    still counts as running (its agent runs on without it) cannot be watched: the alarm is
    then :attr:`partial`. It covers the tasks whose launcher's pid was known when it was
    made: a task that gets one later is given a new alarm."""

    def __init__(self, launchers: dict[str, tuple[int | None, int | None]]) -> None:
        self._ids = {task_id for task_id, (pid, _) in launchers.items() if pid}
        self._fds: list[int] = []
        #: Whether some task's end cannot be heard (serve looks on its interval too).
        self.partial = False
        #: A launcher exited since: serve looks, and makes a new alarm.
        self._rang = False
        for pid, began in [v for v in launchers.values() if v[0]][:MAX_PIDFDS]:
            try:
                fd = TaskWatch._open_pidfd(pid, began)  # type: ignore[arg-type]
            except OSError:  # no descriptors left (EMFILE): the rest by the periodic look
                self.partial = True
                break
            if fd is None:
                self.partial = True
            else:
                self._fds.append(fd)

    def fds(self) -> list[int]:
        return [] if self._rang else list(self._fds)

    @property
    def lost(self) -> bool:
        return self._rang

    broken = False

    def take(self) -> bool:
        self._rang = True  # which one does not matter: the look finds out
        return True

    def covers(self, task_ids: set[str]) -> bool:
        return task_ids <= self._ids

    def close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []


class StoreWatch:
    """``serve``'s one wait for every task of the store: an inotify watch on the store's root
    (a task directory made or removed; ``.ended`` appended to: a task of this machine ended),
    one on each task directory :meth:`track` watches (its record replaced by another process:
    a ``kill``, a dispatch) and, per executor with running tasks, its :class:`Alarm`, all in
    one ``epoll``. Idle, it costs nothing: no timer, no process, no round trip."""

    def __init__(self, root: str) -> None:
        import selectors

        libc = _libc()
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._inotify = fd
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sel = selectors.DefaultSelector()
        self._alarms: dict[str, Alarm] = {}
        self._by_fd: dict[int, str] = {}
        self._libc = libc
        #: The tracked task directories' watch descriptors, by path.
        self._tracked: dict[str, int] = {}
        #: The executors whose alarm broke (lost without ringing) since the caller last
        #: emptied this: it decides whether to make them another at once.
        self.broken: set[str] = set()
        try:
            self._root_wd = libc.inotify_add_watch(fd, os.fsencode(root), _ROOT_EVENTS)
            if self._root_wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {root}")
            self._sel.register(fd, 1)  # EVENT_READ
            self._sel.register(self._wake_r, 1)
        except BaseException:
            self.close()
            raise

    def wake(self) -> None:
        """Make a :meth:`wait` under way (in another thread) return now."""
        if self._inotify < 0:
            return  # closed: its descriptors may be another file's by now
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass

    def track(self, directories: set[str]) -> set[str]:
        """Watch the records of exactly these task directories (the active and queued tasks);
        one that cannot be watched (gone, no inotify watches left) is left to the looks. The
        directories newly watched: a record replaced between the look and now is not heard,
        and the caller checks those."""
        for path in set(self._tracked) - directories:
            self._libc.inotify_rm_watch(self._inotify, self._tracked.pop(path))
        added = set()
        for path in directories - set(self._tracked):
            wd = self._libc.inotify_add_watch(self._inotify, os.fsencode(path), _TASK_EVENTS)
            if wd >= 0:
                self._tracked[path] = wd
                added.add(path)
        return added

    def armed(self) -> set[str]:
        """The executors with an alarm."""
        return set(self._alarms)

    def alarm(self, name: str) -> Alarm | None:
        """Executor ``name``'s alarm, if armed."""
        return self._alarms.get(name)

    def arm(self, name: str, alarm: Alarm) -> None:
        """Wait on ``alarm`` for executor ``name`` (in place of any alarm it had)."""
        self.disarm(name)
        self._alarms[name] = alarm
        for fd in alarm.fds():
            self._sel.register(fd, 1)
            self._by_fd[fd] = name

    def disarm(self, name: str) -> None:
        """Stop waiting on executor ``name``'s alarm, and close it."""
        alarm = self._alarms.pop(name, None)
        if alarm is None:
            return
        for fd in [f for f, n in self._by_fd.items() if n == name]:
            self._sel.unregister(fd)
            del self._by_fd[fd]
        alarm.close()

    def wait(self, timeout: float | None) -> set[str]:
        """Block until something may have changed or ``timeout`` seconds pass; what woke it:
        ``"ended"`` (``.ended`` grew), ``"overflow"`` (inotify dropped events), ``"new"`` (a
        task directory made), ``"removed"`` (one
        removed), ``"record"`` (a tracked task's record replaced), ``"store"`` (the root
        itself removed or moved), ``"woken"`` (:meth:`wake`), or the name of an
        executor whose alarm rang (or was lost: it is then disarmed). Empty: the time was up.
        An alarm already lost rings at once; a change of nothing that matters (another file
        of the root) is waited through."""
        import time

        why: set[str] = {n for n, a in self._alarms.items() if a.lost}
        for name in why:
            self._drop(name)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not why:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                ready = self._sel.select(left)
            except InterruptedError:
                continue
            if not ready:
                break
            for key, _ in ready:
                why |= self._take(key.fd)
        return why

    def _take(self, fd: int) -> set[str]:
        if fd == self._inotify:
            return self._drain()
        if fd == self._wake_r:
            with contextlib.suppress(OSError):
                while os.read(self._wake_r, 64):
                    pass
            return {"woken"}
        name = self._by_fd.get(fd)
        if name is None:
            return set()
        alarm = self._alarms[name]
        try:
            rang = alarm.take()
        except Exception:  # it cannot be read any more: broken (serve looks, and makes another)
            self.broken.add(name)
            self.disarm(name)
            return {name}
        if alarm.lost:
            self._drop(name)
            rang = True
        return {name} if rang else set()

    def _drop(self, name: str) -> None:
        """Disarm a lost alarm, noting whether it broke (see :attr:`broken`)."""
        alarm = self._alarms.get(name)
        if alarm is not None and alarm.broken:
            self.broken.add(name)
        self.disarm(name)

    def _drain(self) -> set[str]:
        why: set[str] = set()
        for wd, mask, name in inotify_events(self._inotify):
            if mask & IN_Q_OVERFLOW:
                why.add("overflow")  # events were dropped: look, whatever they were
                continue
            if mask & IN_IGNORED:
                continue  # a watch removed (by track, or with its directory)
            if wd != self._root_wd:
                if name == _META:
                    why.add("record")
            elif mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                why.add("store")
            elif not mask & _IN_ISDIR or name.startswith(b"."):
                if name == ENDED.encode() and mask & (IN_MODIFY | IN_CREATE):
                    why.add("ended")
            elif mask & (IN_CREATE | IN_MOVED_TO):
                why.add("new")
            elif mask & (IN_DELETE | IN_MOVED_FROM):
                why.add("removed")
        return why

    def close(self) -> None:
        """Close every alarm, and the watch."""
        fds, self._inotify = (self._inotify, self._wake_r, self._wake_w), -1
        for name in list(self._alarms):
            self.disarm(name)
        self._sel.close()
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> StoreWatch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
