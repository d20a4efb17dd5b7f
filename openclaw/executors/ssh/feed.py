"""Watching an SSH task without polling: one long-lived command on its host (``watch.sh``).

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


class RemoteFeed:
    """The :class:`~openclaw.watch.Feed` of one running ``watch.sh``: readable when the task's
    output grows (``sees_output``, where GNU tail follows it) and at the launcher's end."""

    def __init__(self, chan: Any, sees_output: bool) -> None:
        self._chan: Any = chan
        self.sees_output = sees_output

    @classmethod
    def open(cls, transport: Any, script: str, stream: str | None, timeout: float) -> RemoteFeed | None:
        """Run ``script`` (a rendered ``watch.sh``, sent on stdin) on a new channel and read how
        it watches; None when the launcher is not running as recorded (the caller looks)."""
        from openclaw.executors.ssh.protocol import whole

        chan = transport.open_session(timeout=timeout)
        try:
            chan.settimeout(timeout)
            chan.set_combine_stderr(True)
            chan.exec_command("/bin/sh -s")
            chan.sendall(whole(script).encode("utf-8", "surrogateescape"))
            # stdin stays open: its end is what stops the watch on the host.
            how = cls._how(chan)
        except BaseException:
            chan.close()
            raise
        if how == b"watch ended":
            chan.close()
            return None
        chan.settimeout(0.0)
        return cls(chan, sees_output=how == b"watch tail" and stream is not None)

    @staticmethod
    def _how(chan: Any) -> bytes:
        """Read up to the line that says how the host watches (the prelude's mark comes first)."""
        seen = b""
        while True:
            for line in seen.split(b"\n")[:-1]:
                if line.strip() in HOW:
                    return line.strip()
            data = chan.recv(4096)
            if not data:
                raise EOFError(f"the watch ended before it began: {seen[-200:]!r}")
            seen += data
            if len(seen) > 65536:
                raise ValueError("no answer from the watch")

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
