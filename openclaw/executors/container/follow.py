"""Following a container's output (one ``<runtime> logs --follow`` per followed stream) and its
executor's events (one ``<runtime> events`` for serve)."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable

#: Seconds a read of an ended task waits for ``logs --follow`` to deliver the rest of its output.
DRAIN_TIMEOUT_S = 30.0


class LogFollower:
    """One running ``<runtime> logs --follow`` of a container, taken in as its output arrives.

    The runtime writes the container's stdout to its own stdout and the
    container's stderr to its stderr, from the first byte on, and exits once
    the container has ended and all of it is written. The followed stream is
    kept (until it is read); the other one is read and dropped, so the runtime
    never blocks on a full pipe.
    """

    def __init__(self, proc: subprocess.Popen[bytes], stream: str) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self._open = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
        self._stream = stream
        self._data = bytearray()
        self._start = 0  # the stream offset of self._data[0]
        #: Set once the follow ended cleanly after the container did: it has all there is.
        self.complete = False

    @property
    def held(self) -> int:
        """How many bytes of the stream are taken in and not read yet."""
        return len(self._data)

    def fds(self) -> list[int]:
        """The runtime's pipes still open (empty once it has ended)."""
        return list(self._open)

    @property
    def ended(self) -> bool:
        """True once the runtime has closed both streams: the output is complete (or it failed)."""
        return not self._open

    def pump(self, timeout: float = 0.0, skip_to: int = 0) -> None:
        """Take in what the runtime has written; with ``timeout``, wait that long for it to end.

        Bytes before stream offset ``skip_to`` (already seen) are not kept, so
        following a long log does not hold its history in memory.
        """
        deadline = time.monotonic() + timeout
        while self._open:
            ready, _, _ = select.select(list(self._open), [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    del self._open[fd]
                elif self._open[fd] == self._stream:
                    self._data += chunk
                    drop = min(len(self._data), skip_to - self._start)
                    if drop > 0:
                        del self._data[:drop]
                        self._start += drop
        self.proc.wait()

    def read_from(self, offset: int) -> tuple[bytes, int]:
        """What has been taken in of the stream from ``offset`` on, and the offset after it.

        Offsets only grow, so what is returned is not kept.
        """
        end = self._start + len(self._data)
        out = bytes(self._data[max(0, offset - self._start) :])
        self._start, self._data = end, bytearray()
        return out, max(offset, end)

    def close(self) -> None:
        """Stop the runtime process (when it still runs) and close its pipes."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


class FollowFeed:
    """The :class:`~openclaw.watch.Feed` of a followed stream: readable when the runtime
    writes output, ended when its follow ends (the container stopped, or the follow was
    lost). The follower itself is the executor's, which reads from it and closes it."""

    sees_output = True

    def __init__(self, follower: Callable[[], LogFollower]) -> None:
        self._follower = follower

    def fds(self) -> list[int]:
        try:
            return self._follower().fds()
        except Exception:  # the runtime is gone: the caller looks, and finds out
            return []

    def take(self) -> bool:
        try:
            follower = self._follower()
        except Exception:
            return True
        follower.pump()
        return follower.ended

    def close(self) -> None:
        pass


def close_followers(followers: dict[tuple[str, str], LogFollower]) -> None:
    for follower in followers.values():
        follower.close()
    followers.clear()


#: The actions of ``<runtime> events`` that may end a task: podman says ``died``, Docker (and
#: podman's Docker API) ``die``; a container removed behind the task's back ends it too.
ENDING_ACTIONS = frozenset({b"die", b"died", b"remove"})


class EventsAlarm:
    """The :class:`~openclaw.watch.Alarm` of one container executor: its runtime's own event
    stream (``<runtime> events --since T --filter label=openclaw.executor=NAME``), one process
    for all its tasks, readable when a container of theirs dies or is removed. ``--since``
    replays what happened since the last look began."""

    partial = False

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc: subprocess.Popen[bytes] | None = proc
        self._partial = b""
        if proc.stdout is not None:
            os.set_blocking(proc.stdout.fileno(), False)

    def fds(self) -> list[int]:
        if self.proc is None or self.proc.stdout is None:
            return []
        return [self.proc.stdout.fileno()]

    def take(self) -> bool:
        if self.proc is None or self.proc.stdout is None:
            return True
        try:
            data = os.read(self.proc.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return False
        if not data:  # the stream ended (the runtime gone): serve looks, and makes a new one
            self.close()
            return True
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()[-4096:]
        return any(ENDING_ACTIONS.intersection(line.split(b" (", 1)[0].split()) for line in lines)

    @property
    def lost(self) -> bool:
        return self.proc is None

    @property
    def broken(self) -> bool:
        return self.proc is None

    def covers(self, task_ids: set[str]) -> bool:
        return True  # every container of the executor, now and later

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a child of the runtime holds its pipe: let it be
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
