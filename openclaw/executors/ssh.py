"""The SSH executor: runs the agent on a remote host, detached, through the same launcher.

Each task gets ``<remote_root>/<task-id>/`` (0700) on the host, holding the
same files as a local task directory (``prompt``, ``env``, ``launcher.sh``,
``pid``, ``rc``, ``stdout``, ``stderr``, ``.meta.json``); the local record
directory is its mirror and stays the authoritative record.

Connections go through Fabric (for ``~/.ssh/config``: HostName, User, Port,
IdentityFile, ProxyJump) with host keys checked against ``known_hosts`` —
Fabric itself would auto-add them. Every remote action is one POSIX ``sh``
script sent on the stdin of ``/bin/sh -s``, so nothing user-supplied is ever
spliced into a command line; the prompt travels by SFTP, and secret values by
SFTP (the ``env`` file) and inside the prepare script on that stdin (for its
checks), never on a command line. ``remote_root`` is proved private before
anything is uploaded. Every answer is framed (see :class:`Answer`). Observing
any number of one host's tasks is one round trip.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import os
import re
import shlex
import socket
import threading
from typing import Any

from openclaw import faults, launch
from openclaw.agents.claude import SANDBOX_VAR
from openclaw.config import ExecutorConfig
from openclaw.errors import ExecutorError, StartError, UsageError
from openclaw.executors.base import Executor
from openclaw.launch import read_pid_file
from openclaw.records import UUID_RE, TaskStore
from openclaw.scripts import standalone_launcher, taskprocs
from openclaw.states import FINAL, Observation, stamp

#: Default ``remote_root``: where task directories are created on the host. In the
#: login user's home, which no other user can write to (``/tmp/openclaw-tasks``, the
#: seed's default, can be made by anyone first), and which a reboot keeps.
DEFAULT_REMOTE_ROOT = "~/.cache/openclaw/tasks"
#: Default ``connect_timeout`` in seconds (TCP connect, banner and authentication, each hop).
DEFAULT_CONNECT_TIMEOUT = 10.0
#: How long ``start`` waits on the host for the launcher to report the agent's pid.
LAUNCH_TIMEOUT_S = 10.0
#: How much of the end of stdout is fetched for a finished task, to find the result event.
RESULT_TAIL_BYTES = 256 * 1024
#: How much of the end of stderr is fetched for a finished task, for its failure reason.
STDERR_TAIL_BYTES = 4096
#: Marks where a remote script's own output begins (a noisy ~/.bashrc may print before it).
MARK = b"@@OPENCLAW@@\n"
#: Marks where it ends: an answer without it was cut short.
END = b"@@OPENCLAW-END@@\n"

# paramiko logs transport failures (such as a missing banner) itself; the error we raise says it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _q(value: str) -> str:
    return shlex.quote(value)


def check_id(task_id: str) -> str:
    """``task_id`` if it is a canonical task id (a UUID); anything else is refused before any path use."""
    if not isinstance(task_id, str) or not UUID_RE.match(task_id):
        raise ExecutorError("ssh", f"refusing to act on an invalid task id {task_id!r}")
    return task_id


class _HostKeyError(Exception):
    """A host key that is unknown or has changed; carries the one-line message and hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _split_known_name(name: str) -> tuple[str, int]:
    """``[host]:port`` (known_hosts style) or ``host`` -> (host, port)."""
    m = re.match(r"^\[(.*)\]:(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, 22)


def _unknown_hint(name: str, executor: str, path: str) -> str:
    host, port = _split_known_name(name)
    scan = f"ssh-keyscan -p {port} {host}" if port != 22 else f"ssh-keyscan {host}"
    return (
        f"check the key out of band and add it ({scan} >> {path}), or set "
        f"accept_new_host_keys: true on executor {executor!r} to accept it on first use"
    )


def _changed_hint(name: str) -> str:
    return (
        f"if the host was reinstalled, remove the old key with: ssh-keygen -R '{name}' and "
        "verify the new one; otherwise someone may be intercepting the connection"
    )


def _accepts_new_keys(ssh_config: Any) -> bool:
    """Whether ``StrictHostKeyChecking`` (from ~/.ssh/config, for this hop) accepts unknown keys.

    ``accept-new`` and ``no``/``off`` accept a new host's key and save it;
    ``yes``, ``ask`` (nobody is there to ask) or nothing refuse it. A
    *changed* key is refused whatever it says.
    """
    return str(ssh_config.get("stricthostkeychecking", "")).strip().lower() in ("accept-new", "no", "off")


def _make_policy(known: Any, accept_new: bool, save_to: str, executor: str) -> Any:
    """A paramiko policy: refuse unknown keys (default) or accept and save them; never a changed one."""
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if known.lookup(hostname):
                # Known under another key type: that is a changed key, not a new host.
                raise _HostKeyError(
                    f"host key of {hostname} has CHANGED: known_hosts holds a different key",
                    _changed_hint(hostname),
                )
            if not accept_new:
                raise _HostKeyError(
                    f"host key of {hostname} is unknown (not in {save_to})",
                    _unknown_hint(hostname, executor, save_to),
                )
            directory = os.path.dirname(save_to)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(save_to, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as fh:
                fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
            known.add(hostname, key.get_name(), key)

    return Policy()


class _Target:
    """Where a connection goes, for messages: ``user@host:port`` and the configured name."""

    def __init__(self, conn: Any, alias: str) -> None:
        self.user = conn.user
        self.host = conn.host
        self.port = conn.port
        self.alias = alias
        gw = conn.gateway
        hops = []
        self.ports = {conn.host: conn.port}
        while gw is not None and not isinstance(gw, str) and gw:
            hops.append(f"{gw.user}@{gw.host}:{gw.port}")
            self.ports.setdefault(gw.host, gw.port)
            gw = gw.gateway
        self.via = f" via {', '.join(reversed(hops))}" if hops else ""

    def __str__(self) -> str:
        name = f"{self.user}@{self.host}:{self.port}"
        if self.alias not in (self.host, f"{self.host}:{self.port}"):
            name = f"{self.alias} ({name})"
        return name + self.via


def describe_connect_error(exc: BaseException, target: _Target, timeout: float) -> tuple[str, str]:
    """The one-line problem and fix for a failure to connect (or authenticate) to ``target``."""
    import paramiko

    if isinstance(exc, _HostKeyError):
        return exc.message, exc.hint
    if isinstance(exc, paramiko.BadHostKeyException):
        port = target.ports.get(exc.hostname, 22)
        name = f"[{exc.hostname}]:{port}" if port != 22 else exc.hostname
        return (
            f"host key of {name} has CHANGED: known_hosts holds a different {exc.key.get_name()} key",
            _changed_hint(name),
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return (
            f"authentication to {target} failed ({exc})",
            "check user and key_path (without key_path the ssh-agent and ~/.ssh default keys are "
            f"used); try: ssh -p {target.port} {target.user}@{target.host} true",
        )
    if isinstance(exc, socket.gaierror):
        return (
            f"cannot resolve host name {target.host!r} for {target} ({exc.strerror})",
            "check host in the config file (or its HostName in ~/.ssh/config)",
        )
    if isinstance(exc, (paramiko.ssh_exception.NoValidConnectionsError, ConnectionRefusedError)):
        return (
            f"connection to {target} refused",
            "is sshd running on that host, and is the port right?",
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return (
            f"connection to {target} timed out after {timeout:g}s",
            "check that the host is up and reachable, or raise connect_timeout",
        )
    if isinstance(exc, paramiko.SSHException) and (
        "banner" in str(exc).lower() or "no existing session" in str(exc).lower()
    ):
        return (
            f"connection to {target} timed out after {timeout:g}s waiting for the SSH banner",
            "check that an SSH server answers on that port, or raise connect_timeout",
        )
    if isinstance(exc, paramiko.SSHException):
        return f"ssh to {target} failed: {exc}", "check the host with: ssh -v " + target.host
    if isinstance(exc, OSError):
        return (
            f"cannot connect to {target}: {exc.strerror or exc}",
            "check the host's address and port, and the network",
        )
    return (
        f"ssh to {target} failed: {type(exc).__name__}: {exc}",
        "check the host with: ssh -v " + target.host,
    )


class _Unreachable(Exception):
    """Connecting or talking to the host failed; ``args`` are the problem and the fix."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(problem, hint)
        self.problem = problem
        self.hint = hint

    def one_line(self) -> str:
        return " ".join(f"{self.problem} — {self.hint}".split())


class SSHExecutor(Executor):
    """Runs agents on a remote host over SSH; see the module docstring."""

    type = "ssh"
    #: A launch script sent before ``start`` died may still run on the host: it waits up to
    #: LAUNCH_TIMEOUT_S for the pid, after a connection of up to connect_timeout.
    launch_window_s = 60.0

    def __init__(self, config: ExecutorConfig, store: TaskStore) -> None:
        super().__init__(config, store)
        opts = config.options
        self.host: str = str(opts["host"])
        self.port: int | None = opts.get("port")
        self.user: str | None = opts.get("user")
        key = opts.get("key_path")
        self.key_path: str | None = os.path.expanduser(key) if key else None
        self.remote_root: str = str(opts.get("remote_root") or DEFAULT_REMOTE_ROOT)
        self.connect_timeout = float(opts.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT)
        #: None: as ``StrictHostKeyChecking`` in ~/.ssh/config says (see :func:`_accepts_new_keys`).
        self.accept_new: bool | None = opts.get("accept_new_host_keys")
        self._conn: Any = None
        self._registered = False
        self._lock = threading.Lock()
        self._early_error: _Unreachable | None = None

    def normalize_workspace(self, workspace: str | None) -> str:
        """The workspace as given (``~`` when omitted): a path on the host, resolved there at start.

        ``start`` follows, so connecting begins now, in the background, while
        the manager writes the record.
        """
        threading.Thread(target=self._connect_early, daemon=True).start()
        return workspace or "~"

    def _connect_early(self) -> None:
        try:
            self._open()
        except _Unreachable as exc:
            self._early_error = exc
        except Exception:
            pass  # start connects again and reports it

    # -- connections -------------------------------------------------------------------
    def _root_expr(self, home: str = "HOME") -> str:
        """``remote_root`` as a shell word (``~/x`` is relative to the remote home, ``$home``)."""
        root = self.remote_root
        if (
            not (root.startswith("/") or root == "~" or root.startswith("~/"))
            or ".." in root.split("/")
            or any(ch in root for ch in "\n\0")
            or root.rstrip("/") == ""
        ):
            raise UsageError(
                f"executor {self.config.name!r}: remote_root {root!r} is not usable",
                f"give an absolute path (or one under ~/) without '..', such as {DEFAULT_REMOTE_ROOT}",
            )
        if root == "~" or root.startswith("~/"):
            rest = root[2:].strip("/")
            return f'"${home}"' + (f"/{_q(rest)}" if rest else "")
        return _q(root.rstrip("/"))

    def _dir_expr(self, task_id: str) -> str:
        return f"{self._root_expr()}/{_q(check_id(task_id))}"

    def _new_connection(self) -> tuple[Any, _Target]:
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
        return conn, _Target(conn, self.host)

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
        accept_new = self.accept_new if self.accept_new is not None else _accepts_new_keys(conn.ssh_config)
        conn.client.set_missing_host_key_policy(_make_policy(known, accept_new, paths[0], self.config.name))

    def _open(self) -> Any:
        """A connected fabric Connection, reused while it stays up; raises :class:`_Unreachable`."""
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
            raise _Unreachable(*describe_connect_error(exc, target, self.connect_timeout)) from None
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
            conn.connect_kwargs["sock"] = sock
        conn.open()

    @staticmethod
    def _close_conn(conn: Any) -> None:
        hop = conn
        while hop is not None and not isinstance(hop, str):
            try:
                hop.close()
                sock = hop.connect_kwargs.pop("sock", None)
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

    def _run(self, script: str, timeout: float) -> Answer:
        """Run ``script`` with ``/bin/sh -s`` on the host; return its framed answer.

        The script travels on stdin, so no value in it is ever parsed by the
        user's login shell. Its stderr is kept apart (see :class:`Answer`).
        Retries once on a fresh connection when a cached one turns out to be
        dead. An answer cut short (no end mark) is a lost connection.
        """
        for attempt in (0, 1):
            conn = self._open()
            try:
                out, err = self._exec(conn, script, timeout)
                return Answer.parse(out, err)
            except _Unreachable:
                raise
            except Exception as exc:
                self.close()
                if not _is_connection_error(exc):
                    raise
                if attempt or isinstance(exc, (socket.timeout, TimeoutError, CutShort)):
                    raise _Unreachable(
                        f"lost the connection to {self.host}: {type(exc).__name__}: {exc}".rstrip(": "),
                        "check the host and retry",
                    ) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _exec(conn: Any, script: str, timeout: float) -> tuple[bytes, bytes]:
        """Run ``script`` after :data:`PRELUDE`, as one brace group (see :func:`whole`): stdout, stderr."""
        chan = conn.transport.open_session(timeout=timeout)
        try:
            chan.settimeout(timeout)
            chan.exec_command("/bin/sh -s")
            chan.sendall(whole(PRELUDE + script + "\nend\n").encode("utf-8", "surrogateescape"))
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

    def _call(self, script: str, timeout: float, what: str) -> Answer:
        """:meth:`_run`, with an unreachable host or an unreadable answer as an :class:`ExecutorError`."""
        try:
            return self._run(script, timeout)
        except _Unreachable as exc:
            raise ExecutorError(self.config.name, f"cannot {what}: {exc.problem}", exc.hint) from None
        except ValueError as exc:
            raise ExecutorError(
                self.config.name, f"cannot {what}: unreadable answer from {self.host}: {exc}"
            ) from None

    # -- start ---------------------------------------------------------------------------------
    def start(self, meta: dict[str, Any], argv: list[str], env: dict[str, str]) -> dict[str, Any]:
        """Check the host, put the task's files there by SFTP, and launch the agent detached."""
        task_id = check_id(meta["task_id"])
        try:
            return self._start(meta, task_id, argv, env)
        except _Unreachable as exc:
            raise StartError(
                f"executor {self.config.name!r}: {exc.problem}", exc.hint, task_id=task_id
            ) from None

    def _start(
        self, meta: dict[str, Any], task_id: str, argv: list[str], env: dict[str, str]
    ) -> dict[str, Any]:
        """Three steps on one connection, each safe to cut short:

        1. one exec checks the host (workspace, claude, the root rule) and
           ``remote_root`` (owned by the login user or root, writable by no one
           else, no symlink: see :data:`_SECURE_SH`), and makes the task
           directory (``mkdir`` 0700 of a new name, checked);
        2. SFTP puts the prompt, env file and launcher there, which no other
           user can reach;
        3. one exec launches the agent detached and waits for its pid file.
        Nothing secret is written before step 1 has proved the place private.
        """
        for name in env:
            if not _ENV_NAME.match(name):
                raise StartError(f"not a valid environment variable name: {name!r}")
        prompt = self.store.file(task_id, "prompt").read_bytes()
        env_text = "".join(f"{n}={_q(v)}\n" for n, v in sorted(env.items()))
        prepared = self._run(self._prepare_script(task_id, meta, argv, env), self.connect_timeout + 30)
        task_dir, home, workspace, claude_abs = self._prepared(prepared, argv)
        faults.point("ssh.prepared")
        conn = self._open()
        launched: Answer | None = None
        try:
            try:
                sftp = conn.client.open_sftp()
            except Exception as exc:
                if isinstance(exc, (OSError, EOFError)) or not _is_connection_error(exc):
                    raise
                self._remove_dir(task_dir)
                raise StartError(
                    f"cannot open SFTP on {self.host}: {exc}",
                    "enable the sftp Subsystem in that host's sshd_config",
                ) from None
            try:
                for name, data in (
                    ("prompt", prompt),
                    ("env", env_text.encode()),
                    ("launcher.sh", standalone_launcher()),
                ):
                    _put(sftp, f"{task_dir}/{name}", data)
                faults.point("ssh.uploaded")
                script = self._launch_script(task_dir, task_id, home, workspace, claude_abs, argv)
                try:
                    out, err = self._exec(conn, script, 60)
                    launched = Answer.parse(out, err)
                except Exception as exc:
                    if not _is_connection_error(exc):
                        raise
                    launched = self._launch_answer(task_dir, exc)
                    with contextlib.suppress(Exception):
                        sftp.close()  # on the dropped connection
                    sftp = None
                fields = self._launched(launched, task_dir)
                mirror = json.dumps(dict(meta, **fields, status="running"), indent=2).encode() + b"\n"
                try:
                    sftp = sftp or self._open().client.open_sftp()
                    _put(sftp, f"{task_dir}/.meta.json", mirror)
                except Exception as exc:
                    # The agent runs: the host's copy of the record is a convenience, not a reason to fail.
                    if not isinstance(exc, _Unreachable) and not _is_connection_error(exc):
                        raise
            finally:
                if sftp is not None:
                    with contextlib.suppress(Exception):
                        sftp.close()
        except Exception as exc:
            if isinstance(exc, StartError) or not _is_connection_error(exc):
                raise
            self.close()
            if launched is None:
                # Cut before the launch was sent: nothing runs. Take the prompt and env file back.
                gone = self._remove_dir(task_dir)
                raise StartError(
                    f"lost the connection to {self.host} before the launch: {type(exc).__name__}: {exc}",
                    "start the task again" if gone else f"remove {task_dir} on {self.host} by hand",
                ) from None
            raise _Unreachable(
                f"lost the connection to {self.host} while starting: {type(exc).__name__}: {exc}",
                "check the host; the task may need 'openclaw-agent cleanup'",
            ) from None
        return dict(fields, home=home, workspace=workspace, command=[claude_abs, *argv[1:]])

    def _remove_dir(self, task_dir: str) -> bool:
        """Remove a task directory that holds no launched agent; whether that worked."""
        try:
            self._run(f"rm -rf -- {_q(task_dir)}\n", self.connect_timeout + 30)
            return True
        except (_Unreachable, ValueError):
            return False

    def _prepare_script(
        self, task_id: str, meta: dict[str, Any], argv: list[str], env: dict[str, str]
    ) -> str:
        """Pre-flight checks, the secure remote root, and the new task directory, as one script."""
        exports = "".join(f"{n}={_q(v)}; export {n}\n" for n, v in sorted(env.items()))
        return f"""
{_SECURE_SH}
fail() {{ f fail "$1"; f detail "${{2:-}}"; end; }}
{exports}
ws={_q(meta["workspace"])}
case $ws in "~") ws=$HOME ;; "~/"*) ws=$HOME/${{ws#"~/"}} ;; esac
cd -P -- "$ws" 2>/dev/null || fail workspace "$ws"
ws=$PWD
want={_q(argv[0])}
if claude=$(command -v -- "$want"); then
    [ -f "$claude" ] && [ -x "$claude" ] || fail claude-perm "$claude"
else
    # Not found as a command: is it there, but not executable (or not readable)?
    case $want in
        */*) [ -e "$want" ] && fail claude-perm "$want" ;;
        *) IFS=:
           for p in $PATH; do
               [ -e "${{p:-.}}/$want" ] && {{ unset IFS; fail claude-perm "${{p:-.}}/$want"; }}
           done
           unset IFS ;;
    esac
    fail claude "$PATH"
fi
if [ "$(id -u)" = 0 ] && [ "${{{SANDBOX_VAR}:-}}" != 1 ]; then fail root "${{{SANDBOX_VAR}-(unset)}}"; fi
HOME_P=$(cd -P -- "$HOME" 2>/dev/null && pwd) || fail insecure "the home directory $HOME is missing"
root={self._root_expr("HOME_P")}
secure_root "$root" || fail insecure "$problem"
dir=$root/{_q(check_id(task_id))}
mkdir -m 700 -- "$dir" 2>/dev/null || fail mkdir "cannot create $dir (it exists, or the root is not writable)"
private "$dir" || fail insecure "$problem"
f dir "$dir"
f home "$HOME"
f ws "$ws"
f claude "$claude"
"""

    def _prepared(self, answer: Answer, argv: list[str]) -> tuple[str, str, str, str]:
        """The prepare script's answer: task dir, home, workspace and claude; or the StartError it means."""
        kind = answer.text("fail")
        detail = answer.text("detail") or ""
        if kind == "workspace":
            raise launch.workspace_missing(detail, self.host)
        if kind == "claude":
            raise launch.claude_missing(argv[0], self.config.name, self.host, remote_path=detail)
        if kind == "claude-perm":
            raise launch.claude_not_runnable(detail, self.config.name, self.host)
        if kind == "root":
            raise launch.root_refused(
                self.config.name, None if detail in ("", "(unset)") else detail, self.host
            )
        if kind == "insecure":
            raise StartError(
                f"refusing remote_root on {self.host}: {detail}",
                f"other users of that host could read or replace the task's files; fix it (the "
                f"directory must be yours or root's, and writable by no one else: chmod go-w, or "
                f"remove it), or set remote_root of executor {self.config.name!r} to a directory of "
                f"your own, such as the default {DEFAULT_REMOTE_ROOT}",
            )
        if kind == "mkdir":
            raise StartError(
                f"cannot create the task directory on {self.host}: {detail}",
                f"check remote_root ({self.remote_root}) of executor {self.config.name!r}",
            )
        values = [answer.text(k) for k in ("dir", "home", "ws", "claude")]
        if kind or not all(values):
            raise StartError(f"unexpected answer from {self.host} while preparing the task: {answer.shown()}")
        task_dir, home, workspace, claude_abs = (str(v) for v in values)
        return task_dir, home, workspace, claude_abs

    def _launch_answer(self, task_dir: str, lost: BaseException) -> Answer:
        """The launch's answer, read back over a new connection after the first dropped during it.

        The launch script writes its answer to ``launched`` before printing
        it, so whether the agent started is known from the host itself: wait
        (the script may still run) for that file. If it never comes, the script
        never ran (cut short, it runs nothing: see :func:`whole`), and the task
        directory, with the prompt and env file, is removed.
        """
        self.close()
        steps = int((LAUNCH_TIMEOUT_S + 5) / 0.05)
        # A launch script that runs makes launcher.log within milliseconds; none after 2 s
        # means it never ran (and removing the directory makes sure it cannot launch now).
        probe = f"""
d={_q(task_dir)}
i=0
while [ -d "$d" ] && [ ! -f "$d/launched" ] && [ $i -lt {steps} ]; do
    [ $i -ge 40 ] && [ ! -e "$d/launcher.log" ] && break
    sleep 0.05 2>/dev/null || sleep 1
    i=$((i + 1))
done
if [ -f "$d/launched" ]; then ff launched "$d/launched" 65536
elif [ -d "$d" ]; then rm -rf -- "$d"; f outcome none
else f outcome gone
fi
"""
        why = f"lost the connection to {self.host} while starting the agent ({type(lost).__name__}: {lost})"
        try:
            answer = self._run(probe, LAUNCH_TIMEOUT_S + 5 + self.connect_timeout + 30)
            launched = answer.get("launched")
            inner = Answer.parse(launched) if launched is not None else None
        except (_Unreachable, ValueError) as exc:
            problem = exc.problem if isinstance(exc, _Unreachable) else f"unreadable answer: {exc}"
            raise StartError(
                f"{why}, and could not reconnect: {problem}",
                "the agent may be running there: the task stays pending, and 'openclaw-agent status' "
                "settles it once the host answers",
                pending=True,
                fields={"host": self.host},
            ) from None
        if inner is not None:
            return inner
        if answer.text("outcome") == "none":
            raise StartError(f"{why}; the agent was not started", "start the task again")
        raise StartError(f"{why}; the task directory is gone from the host", "start the task again")

    def _launch_script(
        self, task_dir: str, task_id: str, home: str, workspace: str, claude_abs: str, argv: list[str]
    ) -> str:
        """The detached launch, waiting for the pid file (values only as quoted words).

        The answer is written to ``launched`` too (atomically, before it is
        printed), for a start whose connection drops now, or a later
        observation, to read back. When no pid comes, the launch is rolled
        back: its session is killed, so a failed start leaves nothing running.
        """
        steps = int(LAUNCH_TIMEOUT_S / 0.002)
        return f"""
umask 077
{_SECURE_SH}
dir={_q(task_dir)}
private "$dir" || {{ f fail insecure; f detail "$problem"; end; }}
cd "$dir" || {{ f fail mkdir; f detail "$dir"; end; }}
chmod 600 prompt env launcher.sh
setsid nohup /bin/sh "$dir/launcher.sh" "$dir" {_q(workspace)} {_q(task_id)} -- \\
    {_q(claude_abs)} {" ".join(_q(a) for a in argv[1:])} >>"$dir/launcher.log" 2>&1 </dev/null &
launcher=$!
i=0
while [ ! -s "$dir/pid" ] && [ $i -lt {steps} ]; do
    sleep 0.002 2>/dev/null || sleep 1
    i=$((i + 1))
done
boot= pidline= log=
{{ read -r boot </proc/sys/kernel/random/boot_id; }} 2>/dev/null
{{ read -r pidline <"$dir/pid"; }} 2>/dev/null
if [ -z "$pidline" ]; then
    # No pid: stop the launch (the launcher leads its own session) before saying it failed.
    kill -KILL -- "-$launcher" 2>/dev/null
    kill -KILL "$launcher" 2>/dev/null
    log=$(tail -c 300 "$dir/launcher.log" 2>/dev/null)
fi
frames() {{
    f home {_q(home)}; f ws {_q(workspace)}; f claude {_q(claude_abs)}
    f boot "$boot"; f pid "$pidline"; f log "$log"
}}
{{ printf '@@OPENCLAW@@\\n'; frames; printf '@@OPENCLAW-END@@\\n'; }} >"$dir/.launched.tmp" \\
    && mv -f "$dir/.launched.tmp" "$dir/launched"
frames
"""

    def _launched(self, answer: Answer, task_dir: str) -> dict[str, Any]:
        """The launch's answer as record fields; or the StartError it means."""
        if answer.text("fail"):
            raise StartError(
                f"cannot launch on {self.host}: {answer.text('fail')} {answer.text('detail') or ''}".strip(),
                f"check remote_root ({self.remote_root}) of executor {self.config.name!r}",
            )
        record = read_pid_file(answer.text("pid") or "")
        if record is None:
            log = " ".join((answer.text("log") or "").split())
            raise StartError(
                "the launcher did not start the agent" + (f": {log}" if log else ""),
                f"see {task_dir}/launcher.log on {self.host}",
            )
        lpid, lstart, apid, _ = record
        return {
            "pid": lpid,
            "pid_start_time": lstart,
            "agent_pid": apid,
            "boot_id": (answer.text("boot") or "").strip() or None,
            "host": self.host,
        }

    # -- observe ---------------------------------------------------------------------------------
    def observe(self, metas: list[dict[str, Any]]) -> dict[str, Observation]:
        """Observe all of this host's tasks in one round trip; an unreachable host gives ``alive=None``."""
        if not metas:
            return {}
        parts = [taskprocs(), _OBSERVE_SH]
        parts.append('f boot "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"')
        for m in metas:
            pid = m.get("pid")
            start = m.get("pid_start_time")
            parts.append(
                f"obs {_q(check_id(m['task_id']))} {self._dir_expr(m['task_id'])} "
                f"{_q(str(pid) if pid else '')} {_q(str(start) if start is not None else '')}"
            )
        timeout = self.connect_timeout + 30 + len(metas) * 0.5
        try:
            found = _observations(self._run("\n".join(parts) + "\n", timeout))
        except _Unreachable as exc:
            reason = exc.one_line()
            return {m["task_id"]: Observation(alive=None, reason=reason) for m in metas}
        except ValueError as exc:
            reason = f"unexpected answer from {self.host}: {exc}"
            return {m["task_id"]: Observation(alive=None, reason=reason) for m in metas}
        boot = found.pop("", {}).get("boot")
        boot_text = boot.decode("ascii", "replace").strip() if boot else None
        return {m["task_id"]: self._adopt(m, found.get(m["task_id"]), boot_text) for m in metas}

    def _adopt(self, meta: dict[str, Any], seen: dict[str, bytes] | None, boot: str | None) -> Observation:
        """:meth:`_judge`, plus what ``start`` missed of a task whose launch answer it lost.

        The launch left its answer in the task directory (``launched``); it
        gives the fields ``start`` would have recorded (pid, start times, boot
        id, ...), so a task recorded pending can be followed and killed.
        """
        obs = self._judge(meta, seen, boot)
        if meta.get("pid") is not None or meta["status"] in FINAL or not seen:
            return obs
        answer = seen.get("launched")
        try:
            if answer:
                launched = Answer.parse(answer)
                fields = self._launched(launched, "the task directory")
                started = dict(
                    fields,
                    home=launched.text("home"),
                    workspace=launched.text("ws"),
                    command=[launched.text("claude") or "", *(meta.get("command") or [])[1:]],
                )
                return dataclasses.replace(obs, started=started)
        except (StartError, ValueError):
            return obs  # the launcher did not start the agent: judged as never started
        # No answer written (its script was cut off after the launch): the pid file still says.
        record = read_pid_file(seen.get("pidfile", b"").decode("utf-8", "replace"))
        if record is None:
            return obs
        lpid, lstart, apid, _ = record
        pids = {"pid": lpid, "pid_start_time": lstart, "agent_pid": apid, "boot_id": boot, "host": self.host}
        return dataclasses.replace(obs, started=pids)

    def _judge(self, meta: dict[str, Any], seen: dict[str, bytes] | None, boot: str | None) -> Observation:
        if seen is None:
            return Observation(alive=None, reason=f"no answer from {self.host} about this task")
        rc = seen.get("rc", b"").decode("ascii", "replace").strip()
        if rc.lstrip("-").isdigit():
            when = (seen.get("rctime") or b"").decode("ascii", "replace").strip()
            exited = stamp(float(when)) if re.fullmatch(r"\d+(\.\d+)?", when) else None
            return launch.judge_exit(int(rc), seen.get("stdout", b""), seen.get("stderr", b""), exited)
        if meta.get("boot_id") and boot and meta["boot_id"] != boot:
            return Observation(alive=False, reason=f"{self.host} rebooted while the task ran")
        if seen.get("alive") == b"1":
            return Observation(alive=True)
        left = seen.get("left", b"0").strip()
        if left not in (b"", b"0"):
            why = f"the launcher is gone but {left.decode()} process(es) of the task still run on {self.host}"
            return Observation(alive=True, reason=why)
        if seen.get("dir") == b"0" and meta.get("pid") is not None:
            return Observation(alive=False, reason=f"the task directory on {self.host} is gone")
        if meta.get("pid") is not None:
            why = "the launcher was killed and the agent is gone, with no exit status recorded"
            return Observation(alive=False, reason=why)
        return Observation(alive=False)

    # -- kill and cleanup ------------------------------------------------------------------------
    def kill(self, meta: dict[str, Any], grace: float) -> None:
        """Signal the launcher's group, session, descendants and env-tagged processes on the host.

        Without a recorded pid (an interrupted start), the pid file in the
        task directory, or else the environment tag, finds them.
        """
        task_id = check_id(meta["task_id"])
        pid = meta.get("pid")
        start = meta.get("pid_start_time")
        script = _KILL_SH.format(
            taskprocs=taskprocs(),
            id=_q(task_id),
            dir=self._dir_expr(task_id),
            leader=_q(str(int(pid)) if pid else ""),
            lstart=_q(str(start) if start is not None else ""),
            boot=_q(str(meta.get("boot_id") or "")),
            grace_steps=max(0, int(grace / 0.05)),
        )
        answer = self._call(script, self.connect_timeout + grace + 40, "kill the task")
        left = answer.text("left") or "?"
        if left != "0":
            raise ExecutorError(
                self.config.name,
                f"{left} process(es) of task {task_id} survived SIGKILL on {self.host}",
                "they may be in uninterruptible sleep; check with ps on that host",
            )

    def cleanup(self, meta: dict[str, Any]) -> None:
        """Remove the task's directory on the host (the manager removes the local record)."""
        d = self._dir_expr(meta["task_id"])
        self._call(f"rm -rf -- {d}\n", self.connect_timeout + 30, "clean up the task")

    # -- output ------------------------------------------------------------------------------------
    _reading = "read the task's output"

    def _stream_path(self, meta: dict[str, Any], stream: str) -> str:
        if stream not in ("stdout", "stderr"):
            raise ExecutorError(self.config.name, f"unknown stream {stream!r}")
        return f"{self._dir_expr(meta['task_id'])}/{stream}"

    def tail(self, meta: dict[str, Any], stream: str, lines: int) -> list[bytes]:
        """The last lines of the task's stream, read from its end on the host (more when needed)."""
        if lines <= 0:
            return []
        path = self._stream_path(meta, stream)
        want = max(4096, lines * 512)
        while True:
            answer = self._call(
                f"ff data {path} {want}\n", self.connect_timeout + 30, "read the task's output"
            )
            data = answer.get("data") or b""
            result = data.split(b"\n")
            if result and result[-1] == b"":
                result.pop()
            if len(result) > lines or len(data) < want:
                return result[-lines:]
            want *= 8

    def read_from(self, meta: dict[str, Any], stream: str, offset: int) -> tuple[bytes, int]:
        """New bytes of the task's stream since ``offset``."""
        return self._read_expr(self._stream_path(meta, stream), offset)

    def read_path(self, meta: dict[str, Any], path: str, offset: int) -> tuple[bytes, int]:
        """New bytes of file ``path`` on the host (the transcript) since ``offset``."""
        check_id(meta["task_id"])
        return self._read_expr(_q(path), offset)

    def _read_expr(self, path_expr: str, offset: int) -> tuple[bytes, int]:
        answer = self._call(
            f"from data {path_expr} {int(offset)}\n", self.connect_timeout + 60, "read the task's output"
        )
        out = answer.get("data") or b""
        return out, offset + len(out)

    def size(self, meta: dict[str, Any], stream: str) -> int:
        """Size in bytes of the task's stream on the host (0 when it does not exist yet)."""
        path = self._stream_path(meta, stream)
        answer = self._call(
            f'n=0; [ -f {path} ] && n=$(wc -c <{path}); f size "$((n + 0))"\n',
            self.connect_timeout + 30,
            "read the task's output",
        )
        text = answer.text("size") or ""
        return int(text) if text.isdigit() else 0


def _put(sftp: Any, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` over SFTP (inside the 0700 task directory; the launch makes it 0600)."""
    with sftp.open(path, "wb") as fh:
        fh.set_pipelined(True)
        fh.write(data)


def whole(script: str) -> str:
    """``script`` as one brace group, so that the shell runs all of it or none of it.

    ``sh -s`` runs each command as soon as it has read it. A connection that
    drops mid-send would leave it a script cut anywhere, whose last line could
    be any prefix of a command. A brace group is parsed whole before any of it
    runs: cut short, it is a syntax error and nothing runs.
    """
    return "{\n" + script + "\n}\n"


def _is_connection_error(exc: BaseException) -> bool:
    import paramiko

    return isinstance(exc, (OSError, EOFError, paramiko.SSHException))


class CutShort(EOFError):
    """An answer that stops before its end mark: the connection (or the script) was cut."""


@dataclasses.dataclass(frozen=True)
class Answer:
    """A remote script's answer: named frames, each ``KEY LENGTH\\n<LENGTH bytes>\\n``.

    Framing, not line parsing: a value may hold newlines, NULs or anything
    (a workspace path, a file's tail), and stray output of the host's shell
    start-up files (before :data:`MARK`) or of commands (stderr, kept apart
    in ``stderr``) cannot be taken for an answer. The answer ends with
    :data:`END`; one without it was cut short.
    """

    frames: tuple[tuple[str, bytes], ...]
    stderr: bytes = b""

    @classmethod
    def parse(cls, out: bytes, stderr: bytes = b"") -> Answer:
        """Parse ``out``; raises :class:`CutShort` or ValueError (malformed)."""
        pos = out.find(MARK)
        if pos < 0:
            raise CutShort("the answer never began" + _stderr_hint(stderr))
        pos += len(MARK)
        frames = []
        while not out.startswith(END, pos):
            nl = out.find(b"\n", pos)
            if nl < 0:
                raise CutShort("the answer was cut short" + _stderr_hint(stderr))
            key, _, count = out[pos:nl].decode("ascii", "replace").partition(" ")
            if not count.isdigit() or not key:
                raise ValueError(f"bad frame header {out[pos:nl][:80]!r}")
            start = nl + 1
            stop = start + int(count)
            if stop + 1 > len(out):
                raise CutShort("the answer was cut short" + _stderr_hint(stderr))
            if out[stop : stop + 1] != b"\n":
                raise ValueError(f"frame {key!r} is not {count} bytes long")
            frames.append((key, out[start:stop]))
            pos = stop + 1
        return cls(tuple(frames), stderr)

    def get(self, key: str) -> bytes | None:
        """The last frame called ``key``, or None."""
        for name, value in reversed(self.frames):
            if name == key:
                return value
        return None

    def text(self, key: str) -> str | None:
        """The last frame called ``key``, decoded (undecodable bytes kept as surrogates), or None."""
        value = self.get(key)
        return None if value is None else value.decode("utf-8", "surrogateescape")

    def shown(self) -> str:
        """The answer, shortened, for an error message."""
        text = " ".join(f"{k}={v[:60]!r}" for k, v in self.frames)
        return (text or "(empty)")[:300] + _stderr_hint(self.stderr)


def _stderr_hint(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return f" (stderr: {lines[-1][:200]})" if lines else ""


#: Sent before every script: the framing functions (see :class:`Answer`).
PRELUDE = r"""
LC_ALL=C
export LC_ALL
printf '@@OPENCLAW@@\n'
# f KEY VALUE: one frame. ${#2} counts bytes under LC_ALL=C.
f() { printf '%s %s\n%s\n' "$1" "${#2}" "$2"; }
# ff KEY FILE MAX: the last MAX bytes of FILE (nothing when it does not exist).
ff() {
    if [ -f "$2" ]; then
        n=$(wc -c <"$2" 2>/dev/null)
        n=$((n + 0))
        [ "$n" -gt "$3" ] && n=$3
        printf '%s %s\n' "$1" "$n"
        tail -c "$n" "$2" 2>/dev/null | head -c "$n"
        printf '\n'
    fi
}
# from KEY FILE OFFSET: FILE from byte OFFSET to its end as it is now.
from() {
    n=0
    [ -f "$2" ] && n=$(wc -c <"$2" 2>/dev/null)
    n=$((n + 0 - $3))
    [ "$n" -lt 0 ] && n=0
    printf '%s %s\n' "$1" "$n"
    [ "$n" -gt 0 ] && tail -c "+$(($3 + 1))" "$2" 2>/dev/null | head -c "$n"
    printf '\n'
}
end() { printf '@@OPENCLAW-END@@\n'; exit 0; }
"""

# secure_root DIR / private DIR: in the manner of OpenSSH's StrictModes. Each existing
# directory on DIR's path must be owned by us or root, and writable by no one else
# unless it is a sticky directory above DIR (such as /tmp); a symlink on the path
# must be root's; DIR itself must be ours and a real directory (never a symlink).
# Missing directories are made one by one, 0700, and checked. `problem` says what is
# wrong. ls -ldn is POSIX: mode, links, uid.
_SECURE_SH = r"""
me=$(id -u)
owner_mode() { set -- $(ls -ldn -- "$1" 2>/dev/null); o_mode=${1:-}; o_uid=${3:-}; }
private() {
    owner_mode "$1"
    case $o_mode in
        d*) ;;
        l*) problem="$1 is a symlink"; return 1 ;;
        "") problem="$1 does not exist"; return 1 ;;
        *) problem="$1 is not a directory"; return 1 ;;
    esac
    [ "$o_uid" = "$me" ] || { problem="$1 is owned by uid $o_uid, not by you (uid $me)"; return 1; }
    case $o_mode in
        ?????w*|????????w*) problem="$1 is writable by others (mode $o_mode)"; return 1 ;;
    esac
}
secure_root() {
    case $1 in /*) ;; *) problem="$1 is not an absolute path"; return 1 ;; esac
    path=
    rest=${1#/}
    while [ -n "$rest" ]; do
        part=${rest%%/*}
        case $rest in */*) rest=${rest#*/} ;; *) rest= ;; esac
        [ -n "$part" ] || continue
        path=$path/$part
        owner_mode "$path"
        if [ -z "$o_mode" ]; then
            mkdir -m 700 -- "$path" 2>/dev/null || [ -d "$path" ] || {
                problem="cannot create $path"; return 1; }
            private "$path" || return 1
            continue
        fi
        if [ "$o_uid" != 0 ] && [ "$o_uid" != "$me" ]; then
            problem="$path is owned by uid $o_uid, neither you (uid $me) nor root"; return 1
        fi
        case $o_mode in
            l*)
                # Only root's symlinks are followed (such as /var/run); never at the root itself.
                if [ "$o_uid" != 0 ] || [ -z "$rest" ]; then
                    problem="$path is a symlink (give remote_root's real path)"; return 1
                fi
                ;;
            d*)
                if [ -z "$rest" ]; then
                    private "$path" || return 1
                else
                    case $o_mode in
                        ?????????[tT]*) ;;  # sticky (/tmp): others may add entries, not move ours
                        ?????w*|????????w*) problem="$path is writable by others (mode $o_mode)"; return 1 ;;
                    esac
                fi
                ;;
            *) problem="$path is not a directory"; return 1 ;;
        esac
    done
}
"""

# One task: frames "task ID", "dir 0|1", "alive 0|1", "rc TEXT" (when there is one), and
# for a finished task its stdout and stderr tails; for a task whose launcher is gone
# without an rc, "left N": how many of its processes (agent, tools) still run.
_OBSERVE_SH = r"""
obs() {
    id=$1 d=$2 p=$3 s=$4
    f task "$id"
    if [ -d "$d" ]; then f dir 1; else f dir 0; fi
    ap= as=
    if [ -f "$d/pid" ]; then
        { read -r pp ps ap as _rest <"$d/pid"; } 2>/dev/null
        [ -z "$p" ] && p=${pp:-} s=${ps:-}
    fi
    a=0
    if [ -n "$p" ] && [ "$p" != 0 ]; then
        now=$(tp_st "$p")
        if [ "$now" != 0 ] && { [ -z "$s" ] || [ "$now" = "$s" ]; }; then a=1; fi
    fi
    f alive "$a"
    if [ -z "$3" ]; then ff launched "$d/launched" 65536; ff pidfile "$d/pid" 200; fi
    rc=
    [ -f "$d/rc" ] && { read -r rc <"$d/rc"; } 2>/dev/null
    if [ -n "$rc" ]; then
        f rc "$rc"
        f rctime "$(stat -c %.3Y "$d/rc" 2>/dev/null || stat -c %Y "$d/rc" 2>/dev/null)"
        ff stdout "$d/stdout" __OUT__
        ff stderr "$d/stderr" __ERR__
    elif [ "$a" = 0 ]; then
        # The launcher is gone without an exit status: is anything of the task left?
        left=0
        if [ -n "$ap" ] && [ "$ap" != 0 ] && [ "$(tp_st "$ap")" = "$as" ]; then left=1; fi
        if [ "$left" = 0 ] && grep -qlzx "OPENCLAW_TASK_ID=$id" /proc/[0-9]*/environ 2>/dev/null; then
            left=$(grep -lzx "OPENCLAW_TASK_ID=$id" /proc/[0-9]*/environ 2>/dev/null | grep -c .)
        fi
        f left "$left"
    fi
}
""".replace("__OUT__", str(RESULT_TAIL_BYTES)).replace("__ERR__", str(STDERR_TAIL_BYTES))


def _observations(answer: Answer) -> dict[str, dict[str, bytes]]:
    """The observe script's frames, by task id ("" holds the host's boot id)."""
    found: dict[str, dict[str, bytes]] = {"": {}}
    current = found[""]
    for key, value in answer.frames:
        if key == "boot":
            found[""]["boot"] = value
        elif key == "task":
            current = found.setdefault(value.decode("ascii", "replace"), {})
        else:
            current[key] = value
    return found


# kill: the task's processes (see taskprocs.sh) SIGTERMed, SIGKILLed after the grace period.
# Without a recorded pid, the pid file gives it (or only the environment tag finds them).
_KILL_SH = r"""
{taskprocs}
TP_ID={id}
TP_L={leader}
TP_LS={lstart}
TP_ME=$$
BOOT={boot}
if [ -n "$BOOT" ] && [ "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" != "$BOOT" ]; then
    f left 0
    end
fi
if [ -z "$TP_L" ] && [ -f {dir}/pid ]; then
    {{ read -r TP_L TP_LS _rest <{dir}/pid; }} 2>/dev/null
fi
f left "$(tp_stop {grace_steps})"
"""
