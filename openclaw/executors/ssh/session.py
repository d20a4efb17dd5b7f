"""The SSH session of one executor: a cached Fabric connection (gateways, host keys), scripts run on it.

One connection per executor object, opened on first use (``start`` opens it
early, in a thread, while the record is written), reused while it stays up,
retried once when a cached one turns out dead. Never shared between threads
unlocked: Fabric's ``open`` is not thread-safe.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import threading
from typing import Any

from openclaw import faults
from openclaw.errors import ExecutorError
from openclaw.executors.ssh.hostkeys import Target, accepts_new_keys, describe_connect_error, make_policy
from openclaw.executors.ssh.protocol import Answer, CutShort, whole

#: Seconds between the idle wakes of a connection's transport thread (paramiko's own: 0.1).
IDLE_CHECK_S = 10.0


class Unreachable(Exception):
    """Connecting or talking to the host failed; ``args`` are the problem and the fix."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(problem, hint)
        self.problem = problem
        self.hint = hint

    def one_line(self) -> str:
        return " ".join(f"{self.problem} — {self.hint}".split())


class Session:
    """Connections to one host, as one executor's config says (host, port, user, key, timeouts)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int | None,
        user: str | None,
        key_path: str | None,
        connect_timeout: float,
        accept_new: bool | None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.user = user
        self.key_path = key_path
        self.connect_timeout = connect_timeout
        #: None: as ``StrictHostKeyChecking`` in ~/.ssh/config says (see :func:`accepts_new_keys`).
        self.accept_new = accept_new
        self._conn: Any = None
        self._registered = False
        self._lock = threading.Lock()
        self._early_error: Unreachable | None = None

    def connect_early(self) -> None:
        """Connect now, in the background (``start`` or a look follows); a failure is raised by
        the next open. Nothing to do while a connection is up."""
        conn = self._conn
        if conn is not None and conn.transport is not None and conn.transport.is_active():
            return
        threading.Thread(target=self._connect_early, daemon=True).start()

    def _connect_early(self) -> None:
        try:
            self.open()
        except Unreachable as exc:
            self._early_error = exc
        except Exception:
            pass  # start connects again and reports it

    def _new_connection(self) -> tuple[Any, Target]:
        from openclaw.lazy import quick_versions

        with quick_versions():  # paramiko asks importlib.metadata for its own version only
            from fabric import Config, Connection

        connect_kwargs: dict[str, Any] = {
            "banner_timeout": self.connect_timeout,
            "auth_timeout": self.connect_timeout,
            "channel_timeout": self.connect_timeout,
        }
        if self.key_path:
            connect_kwargs["key_filename"] = [self.key_path]
        cfg = Config(
            overrides={"connect_kwargs": connect_kwargs, "timeouts": {"connect": self.connect_timeout}}
        )
        conn = Connection(self.host, user=self.user, port=self.port, config=cfg)
        hop = conn
        while hop is not None and not isinstance(hop, str):
            if str(hop.ssh_config.get("proxyjump", "")).lower() == "none":
                hop.gateway = None  # fabric #2354: "none" is not a host name
            self._check_host_keys(hop)
            hop = hop.gateway or None
        return conn, Target(conn, self.host)

    def _check_host_keys(self, conn: Any) -> None:
        """Load known_hosts into the client and refuse (or, if configured, save) unknown keys."""
        import paramiko

        user_files = str(conn.ssh_config.get("userknownhostsfile", "") or "~/.ssh/known_hosts").split()
        paths = [os.path.expanduser(p) for p in user_files]
        known = paramiko.HostKeys()
        for path in [*paths, "/etc/ssh/ssh_known_hosts"]:
            if os.path.isfile(path):
                try:
                    known.load(path)
                    conn.client.load_system_host_keys(path)
                except (OSError, paramiko.SSHException):
                    continue
        accept_new = self.accept_new if self.accept_new is not None else accepts_new_keys(conn.ssh_config)
        conn.client.set_missing_host_key_policy(make_policy(known, accept_new, paths[0], self.name))

    def open(self) -> Any:
        """A connected fabric Connection, reused while it stays up; raises :class:`Unreachable`."""
        with self._lock:
            if self._early_error is not None:
                error, self._early_error = self._early_error, None
                raise error
            return self._open_locked()

    def _open_locked(self) -> Any:
        conn = self._conn
        if conn is not None and conn.transport is not None and conn.transport.is_active():
            return conn
        self.close()
        conn, target = self._new_connection()
        try:
            self._open_chain(conn)
        except Exception as exc:
            self._close_conn(conn)
            raise Unreachable(*describe_connect_error(exc, target, self.connect_timeout)) from None
        self._conn = conn
        if not self._registered:
            atexit.register(self.close)
            self._registered = True
        return conn

    def _open_chain(self, conn: Any) -> None:
        """Open ``conn`` after its gateways; the first hop's socket gets TCP_NODELAY.

        Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms to
        several of the small request/reply exchanges of one start.
        """
        gw = conn.gateway
        if gw and not isinstance(gw, str):
            self._open_chain(gw)
        elif not gw and "sock" not in conn.connect_kwargs:
            sock = socket.create_connection((conn.host, conn.port), timeout=self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # TCP keepalive: the kernel finds a peer gone silently (a host down, a dropped NAT
            # entry) with no wake of this process, and ends the watches on that connection.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
                if hasattr(socket, name):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
            conn.connect_kwargs["sock"] = sock
        conn.open()
        # Paramiko's transport thread wakes every 0.1 s (its socket timeout) to see whether it
        # should stop, even with nothing to read: 600 wakes a minute of an idle watch, where
        # ssh itself sleeps. Nothing else needs those wakes (we set no SSH keepalive; a close
        # shuts the socket down, which wakes the thread). Not for a ProxyCommand, whose recv
        # spins until its timeout once the command has ended.
        import paramiko

        carrier = getattr(conn.transport, "sock", None)  # a socket, or a gateway's channel
        if isinstance(carrier, (socket.socket, paramiko.Channel)):
            carrier.settimeout(IDLE_CHECK_S)

    @staticmethod
    def _close_conn(conn: Any) -> None:
        hop = conn
        while hop is not None and not isinstance(hop, str):
            try:
                sock = hop.connect_kwargs.pop("sock", None)
                if sock is not None:
                    # Wakes the transport thread's wait on it, so the host sees the close now.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                hop.close()
                if sock is not None:
                    sock.close()
            except Exception:
                pass
            hop = hop.gateway or None

    def close(self) -> None:
        """Close the cached connection (and its gateways), if any."""
        if self._conn is not None:
            self._close_conn(self._conn)
            self._conn = None

    def run(self, script: str, timeout: float) -> Answer:
        """Run ``script`` with ``/bin/sh -s`` on the host; return its framed answer.

        The script travels on stdin, so no value in it is ever parsed by the
        user's login shell. Its stderr is kept apart (see :class:`Answer`).
        Retries once on a fresh connection when a cached one turns out to be
        dead. An answer cut short (no end mark) is a lost connection.
        """
        for attempt in (0, 1):
            conn = self.open()
            try:
                out, err = self.exec(conn, script, timeout)
                return Answer.parse(out, err)
            except Unreachable:
                raise
            except Exception as exc:
                self.close()
                if not is_connection_error(exc):
                    raise
                if attempt or isinstance(exc, (socket.timeout, TimeoutError, CutShort)):
                    raise Unreachable(
                        f"lost the connection to {self.host}: {type(exc).__name__}: {exc}".rstrip(": "),
                        "check the host and retry",
                    ) from None
        raise AssertionError("unreachable")

    @staticmethod
    def exec(conn: Any, script: str, timeout: float) -> tuple[bytes, bytes]:
        """Run ``script`` (see :func:`protocol.render`) as one brace group (:func:`whole`): stdout, stderr."""
        chan = conn.transport.open_session(timeout=timeout)
        try:
            chan.settimeout(timeout)
            chan.exec_command("/bin/sh -s")
            chan.sendall(whole(script + "\nend\n").encode("utf-8", "surrogateescape"))
            chan.shutdown_write()
            if "setsid nohup" in script:
                faults.point("ssh.launch-sent", cut=conn.transport.close)
            chunks = []
            while True:
                data = chan.recv(1 << 16)
                if not data:
                    break
                chunks.append(data)
            errs = []
            while chan.recv_stderr_ready():
                errs.append(chan.recv_stderr(1 << 16))
        finally:
            chan.close()
        return b"".join(chunks), b"".join(errs)

    def call(self, script: str, timeout: float, what: str) -> Answer:
        """:meth:`run`, with an unreachable host or an unreadable answer as an :class:`ExecutorError`."""
        try:
            return self.run(script, timeout)
        except Unreachable as exc:
            raise ExecutorError(self.name, f"cannot {what}: {exc.problem}", exc.hint) from None
        except ValueError as exc:
            raise ExecutorError(
                self.name, f"cannot {what}: unreadable answer from {self.host}: {exc}"
            ) from None


def put(sftp: Any, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` over SFTP (inside the 0700 task directory; the launch makes it 0600)."""
    with sftp.open(path, "wb") as fh:
        fh.set_pipelined(True)
        fh.write(data)


def is_connection_error(exc: BaseException) -> bool:
    import paramiko

    return isinstance(exc, (OSError, EOFError, paramiko.SSHException))
