"""Watching SSH tasks without polling: one long-lived command on their host (``watch.sh`` for
one task's follower or waiter, ``ended.sh`` for serve's watch of them all).

It runs on a channel of the executor's open connection and stays until the
task's launcher exits, sending the task's output as it grows (GNU ``tail
--pid -f``, which follows by inotify). Locally the channel is one more
descriptor in the watch's ``select``: an idle task costs nothing on either
side. The bytes only wake the follower, which reads by offset as before.
Closing the channel (the watcher done, interrupted or gone) ends the
remote command: it holds the channel's stdin and stops at its end.
"""

from __future__ import annotations

from typing import Any

#: The first line of the watch's answer (after the prelude's mark): how it watches.
HOW = (b"watch tail", b"watch poll", b"watch ended")


def open_watch(
    transport: Any, script: str, timeout: float, hows: tuple[bytes, ...]
) -> tuple[Any, bytes, bytes]:
    """Run ``script`` (a rendered watch script, sent on stdin, which stays open: its end is
    what stops the watch on the host) on a new channel of ``transport``; the channel, non
    blocking, the first line of ``hows`` the script answered, and what came after it."""
    from openclaw.executors.ssh.protocol import whole

    chan = transport.open_session(timeout=timeout)
    try:
        chan.settimeout(timeout)
        chan.set_combine_stderr(True)
        chan.exec_command("/bin/sh -s")
        chan.sendall(whole(script).encode("utf-8", "surrogateescape"))
        how, rest = _how(chan, hows)
    except BaseException:
        chan.close()
        raise
    chan.settimeout(0.0)
    return chan, how, rest


def _how(chan: Any, hows: tuple[bytes, ...]) -> tuple[bytes, bytes]:
    """Read up to the line that says how the host watches (the prelude's mark comes first);
    that line, and what was read after it."""
    seen = b""
    while True:
        lines = seen.split(b"\n")
        for at, line in enumerate(lines[:-1]):
            if line.strip() in hows:
                return line.strip(), b"\n".join(lines[at + 1 :])
        data = chan.recv(4096)
        if not data:
            raise EOFError(f"the watch ended before it began: {seen[-200:]!r}")
        seen += data
        if len(seen) > 65536:
            raise ValueError("no answer from the watch")


class RemoteFeed:
    """The :class:`~openclaw.watch.Feed` of one running ``watch.sh``: readable when the task's
    output grows (``sees_output``, where GNU tail follows it) and at the launcher's end."""

    def __init__(self, chan: Any, sees_output: bool) -> None:
        self._chan: Any = chan
        self.sees_output = sees_output

    @classmethod
    def open(cls, transport: Any, script: str, stream: str | None, timeout: float) -> RemoteFeed | None:
        """Run ``script`` (a rendered ``watch.sh``) on a new channel and read how it watches;
        None when the launcher is not running as recorded (the caller looks)."""
        chan, how, _ = open_watch(transport, script, timeout, HOW)
        if how == b"watch ended":
            chan.close()
            return None
        return cls(chan, sees_output=how == b"watch tail" and stream is not None)

    def fds(self) -> list[int]:
        return [] if self._chan is None else [self._chan.fileno()]

    def take(self) -> bool:
        chan = self._chan
        if chan is None:
            return True
        while chan.recv_ready():
            chan.recv(1 << 16)  # output: it only wakes the follower, which reads by offset
        if chan.closed or chan.eof_received or chan.exit_status_ready():
            self.close()
            return True
        return False

    def close(self) -> None:
        if self._chan is not None:
            self._chan.close()
            self._chan = None


class HostEnds:
    """The :class:`~openclaw.watch.Alarm` of one SSH host: one running ``ended.sh``, which
    sends a line when any task there ends (and for those that ended before it began). One
    channel however many tasks; idle, nothing crosses it."""

    partial = False

    def __init__(self, chan: Any, due: bool = False) -> None:
        self._chan: Any = chan
        #: A task ended before the watch began: ring at once (serve looks, and opens another).
        self._due = due

    @classmethod
    def open(cls, transport: Any, script: str, timeout: float) -> HostEnds:
        """Run ``script`` (a rendered ``ended.sh``) on a new channel of ``transport``."""
        chan, _, rest = open_watch(transport, script, timeout, (b"watch ends",))
        return cls(chan, due=bool(rest.strip()))

    def fds(self) -> list[int]:
        return [] if self._chan is None else [self._chan.fileno()]

    @property
    def lost(self) -> bool:
        return self._chan is None or self._due

    @property
    def broken(self) -> bool:
        return self._chan is None and not self._due

    def take(self) -> bool:
        chan = self._chan
        if chan is None:
            return True
        got = False
        while chan.recv_ready():
            got = bool(chan.recv(1 << 16)) or got
        if chan.closed or chan.eof_received or chan.exit_status_ready():
            self.close()  # lost: serve looks, and opens another
            return True
        return got

    def covers(self, task_ids: set[str]) -> bool:
        return True  # every task of the host, now and later

    def close(self) -> None:
        if self._chan is not None:
            self._chan.close()
            self._chan = None
