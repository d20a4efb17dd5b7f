"""The SSH executor: runs the agent on a remote host, detached, through the same launcher.

Each task gets ``<remote_root>/<task-id>/`` (0700) on the host, holding the
same files as a local task directory (``prompt``, ``env``, ``launcher.sh``,
``pid``, ``rc``, ``stdout``, ``stderr``, ``.meta.json``); the local record
directory is its mirror and stays the authoritative record.

Connections go through Fabric (for ``~/.ssh/config``: HostName, User, Port,
IdentityFile, ProxyJump) with host keys checked against ``known_hosts`` —
Fabric itself would auto-add them. Every remote action is one POSIX ``sh``
script sent on the stdin of ``/bin/sh -s``, so nothing user-supplied is ever
spliced into a command line, and the prompt and secrets travel only by SFTP.
Observing any number of one host's tasks is one round trip.
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

from openclaw.agents.claude import SANDBOX_VAR, ClaudeAgent
from openclaw.config import ExecutorConfig
from openclaw.errors import ExecutorError, StartError, UsageError
from openclaw.executors.base import Executor
from openclaw.paths import package_file
from openclaw.records import UUID_RE, TaskStore
from openclaw.states import FINAL, Observation

#: Default ``remote_root``: where task directories are created on the host.
DEFAULT_REMOTE_ROOT = "/tmp/openclaw-tasks"
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

# paramiko logs transport failures (such as a missing banner) itself; the error we raise says it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The identity of a process, as the launcher records it: field 22 of /proc/PID/stat,
# or 0 when there is no such process (or it is a zombie).
_STARTTIME_SH = r"""
st() {
    s=
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || { echo 0; return; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    case $1 in Z|X) echo 0 ;; *) echo "${20}" ;; esac
}
"""


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
    def _root_expr(self) -> str:
        """``remote_root`` as a shell word (``~/x`` is relative to the remote home)."""
        root = self.remote_root
        if (
            not (root.startswith("/") or root == "~" or root.startswith("~/"))
            or ".." in root.split("/")
            or any(ch in root for ch in "\n\0")
            or root.rstrip("/") == ""
        ):
            raise UsageError(
                f"executor {self.config.name!r}: remote_root {root!r} is not usable",
                "give an absolute path (or one under ~/) without '..', such as /tmp/openclaw-tasks",
            )
        if root == "~" or root.startswith("~/"):
            rest = root[2:].strip("/")
            return '"$HOME"' + (f"/{_q(rest)}" if rest else "")
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

    def _run(self, script: str, timeout: float) -> tuple[int, bytes]:
        """Run ``script`` with ``/bin/sh -s`` on the host; return its exit status and its output after MARK.

        The script travels on stdin, so no value in it is ever parsed by the
        user's login shell. stderr is merged into the output. Retries once on
        a fresh connection when a cached one turns out to be dead.
        """
        for attempt in (0, 1):
            conn = self._open()
            try:
                return self._exec(conn, script, timeout)
            except _Unreachable:
                raise
            except Exception as exc:
                self.close()
                if not _is_connection_error(exc):
                    raise
                if attempt or isinstance(exc, (socket.timeout, TimeoutError)):
                    raise _Unreachable(
                        f"lost the connection to {self.host}: {type(exc).__name__}: {exc}".rstrip(": "),
                        "check the host and retry",
                    ) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _exec(conn: Any, script: str, timeout: float) -> tuple[int, bytes]:
        """Run ``script`` with ``/bin/sh -s`` as one brace group (see :func:`whole`): status, output."""
        chan = conn.transport.open_session(timeout=timeout)
        try:
            chan.settimeout(timeout)
            chan.set_combine_stderr(True)
            chan.exec_command("/bin/sh -s")
            chan.sendall(whole(script).encode("utf-8", "surrogateescape"))
            chan.shutdown_write()
            chunks = []
            while True:
                data = chan.recv(1 << 16)
                if not data:
                    break
                chunks.append(data)
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        out = b"".join(chunks)
        pos = out.find(MARK)
        return rc, (out[pos + len(MARK) :] if pos >= 0 else b"")

    def _call(self, script: str, timeout: float, what: str) -> tuple[int, bytes]:
        """:meth:`_run`, with an unreachable host as an :class:`ExecutorError`."""
        try:
            return self._run(script, timeout)
        except _Unreachable as exc:
            raise ExecutorError(self.config.name, f"cannot {what}: {exc.problem}", exc.hint) from None

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
        """One connection: SFTP creates the directory and puts the files, then ONE exec
        checks the host (workspace, claude, root) and launches, waiting for the pid file."""
        for name in env:
            if not _ENV_NAME.match(name):
                raise StartError(f"not a valid environment variable name: {name!r}")
        prompt = self.store.file(task_id, "prompt").read_bytes()
        env_text = "".join(f"{n}={_q(v)}\n" for n, v in sorted(env.items()))
        conn = self._open()
        try:
            try:
                sftp = conn.client.open_sftp()
            except Exception as exc:
                if isinstance(exc, (OSError, EOFError)) or not _is_connection_error(exc):
                    raise
                raise StartError(
                    f"cannot open SFTP on {self.host}: {exc}",
                    "enable the sftp Subsystem in that host's sshd_config",
                ) from None
            try:
                task_dir = self._make_task_dir(sftp, task_id)
                for name, data in (
                    ("prompt", prompt),
                    ("env", env_text.encode()),
                    ("launcher.sh", package_file("launcher.sh").read_bytes()),
                ):
                    _put(sftp, f"{task_dir}/{name}", data)
                try:
                    _, out = self._exec(conn, self._launch_script(task_dir, task_id, meta, argv, env), 60)
                except Exception as exc:
                    if not _is_connection_error(exc):
                        raise
                    out = self._launch_answer(task_dir, exc)
                    with contextlib.suppress(Exception):
                        sftp.close()  # on the dropped connection
                    sftp = None
                fields, home = self._launched(out, task_id, task_dir, argv)
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
                    sftp.close()
        except Exception as exc:
            if isinstance(exc, StartError) or not _is_connection_error(exc):
                raise
            self.close()
            raise _Unreachable(
                f"lost the connection to {self.host} while starting: {type(exc).__name__}: {exc}",
                "check the host; the task may need 'openclaw-agent cleanup'",
            ) from None
        return dict(fields, home=home)

    def _launch_answer(self, task_dir: str, lost: BaseException) -> bytes:
        """The launch's answer, read back over a new connection after the first dropped during it.

        The launch script writes its answer to ``launched`` before printing
        it, so whether the agent started is known from the host itself: wait
        (the script may still run) for that file. If it never comes, the script
        never ran (cut short, it runs nothing: see :func:`whole`), and the task
        directory, with the prompt and env file, is removed. No task directory
        means a pre-flight check failed (it removes the directory).
        """
        self.close()
        steps = int((LAUNCH_TIMEOUT_S + 5) / 0.05)
        # A launch script that runs makes launcher.log within milliseconds; none after 2 s
        # means it never ran (and removing the directory makes sure it cannot launch now).
        probe = f"""
printf '@@OPENCLAW@@\\n'
d={_q(task_dir)}
i=0
while [ -d "$d" ] && [ ! -f "$d/launched" ] && [ $i -lt {steps} ]; do
    [ $i -ge 40 ] && [ ! -e "$d/launcher.log" ] && break
    sleep 0.05 2>/dev/null || sleep 1
    i=$((i + 1))
done
if [ -f "$d/launched" ]; then cat "$d/launched"
elif [ -d "$d" ]; then rm -rf -- "$d"; echo none
else echo gone
fi
"""
        why = f"lost the connection to {self.host} while starting the agent ({type(lost).__name__}: {lost})"
        try:
            _, out = self._run(probe, LAUNCH_TIMEOUT_S + 5 + self.connect_timeout + 30)
        except _Unreachable as exc:
            raise StartError(
                f"{why}, and could not reconnect: {exc.problem}",
                "the agent may be running there: the task stays pending, and 'openclaw-agent status' "
                "settles it once the host answers",
                pending=True,
                fields={"host": self.host},
            ) from None
        answer = out.split(b"\n", 1)[0]
        if answer == b"none":
            raise StartError(f"{why}; the agent was not started", "start the task again")
        if answer == b"gone":
            raise StartError(f"{why}; a check on the host failed before launch", "start again to see which")
        return out

    def _make_task_dir(self, sftp: Any, task_id: str) -> str:
        """Create ``<remote_root>/<task_id>`` (0700, parents as needed) over SFTP; return its path."""
        self._root_expr()  # validates remote_root
        root = self.remote_root.rstrip("/")
        if root == "~" or root.startswith("~/"):
            home = sftp.normalize(".")  # SFTP paths are relative to the home directory
            root = home.rstrip("/") + root[1:]
        task_dir = f"{root}/{check_id(task_id)}"
        try:
            sftp.mkdir(task_dir, 0o700)  # the usual case: remote_root exists
            return task_dir
        except OSError:
            pass
        todo = []
        path = root
        while path and path != "/":
            try:
                st = sftp.stat(path)
            except OSError:
                todo.append(path)
                path = os.path.dirname(path)
                continue
            import stat as stat_mod

            if not stat_mod.S_ISDIR(st.st_mode or 0):
                raise StartError(
                    f"cannot create the task directory on {self.host}: {path} is not a directory",
                    f"check remote_root ({self.remote_root}) of executor {self.config.name!r}",
                )
            break
        for path in [*reversed(todo), task_dir]:
            try:
                sftp.mkdir(path, 0o700)
            except OSError as exc:
                if path != task_dir:
                    try:
                        sftp.stat(path)
                        continue  # made meanwhile by another start
                    except OSError:
                        pass
                raise StartError(
                    f"cannot create the task directory {path} on {self.host}: {exc.strerror or exc}",
                    f"check remote_root ({self.remote_root}) of executor {self.config.name!r}",
                ) from None
        return task_dir

    def _launch_script(
        self, task_dir: str, task_id: str, meta: dict[str, Any], argv: list[str], env: dict[str, str]
    ) -> str:
        """The pre-flight checks and the detached launch, as one script (values only as quoted words)."""
        exports = "".join(f"{n}={_q(v)}; export {n}\n" for n, v in sorted(env.items()))
        steps = int(LAUNCH_TIMEOUT_S / 0.002)
        return f"""
umask 077
dir={_q(task_dir)}
ws={_q(meta["workspace"])}
case $ws in "~") ws=$HOME ;; "~/"*) ws=$HOME/${{ws#"~/"}} ;; esac
printf '@@OPENCLAW@@\\n'
fail() {{ rm -rf -- "$dir"; printf '%s\\n%s\\n' "$1" "${{2:-}}"; exit 0; }}
{exports}
cd "$ws" 2>/dev/null || fail workspace "$ws"
ws=$(pwd -P)
claude=$(command -v {_q(argv[0])}) || fail claude "$PATH"
if [ "$(id -u)" = 0 ] && [ "${{{SANDBOX_VAR}:-}}" != 1 ]; then fail root; fi
home=$HOME
cd "$dir" || fail mkdir "$dir"
chmod 600 prompt env launcher.sh
setsid nohup /bin/sh "$dir/launcher.sh" "$dir" "$ws" {_q(task_id)} -- \\
    "$claude" {" ".join(_q(a) for a in argv[1:])} >>"$dir/launcher.log" 2>&1 </dev/null &
i=0
while [ ! -s "$dir/pid" ] && [ $i -lt {steps} ]; do
    sleep 0.002 2>/dev/null || sleep 1
    i=$((i + 1))
done
boot= pidline= log=
{{ read -r boot </proc/sys/kernel/random/boot_id; }} 2>/dev/null
{{ read -r pidline <"$dir/pid"; }} 2>/dev/null
[ -n "$pidline" ] || log=$(tail -c 300 "$dir/launcher.log" 2>/dev/null)
answer() {{ printf 'ok\\n%s\\n%s\\n%s\\n%s\\n%s\\n%s\\n' "$home" "$ws" "$claude" "$boot" "$pidline" "$log"; }}
answer >"$dir/.launched.tmp" && mv -f "$dir/.launched.tmp" "$dir/launched"
answer
"""

    def _launched(
        self, out: bytes, task_id: str, task_dir: str, argv: list[str]
    ) -> tuple[dict[str, Any], str]:
        """The launch script's answer as record fields and the remote home; or the StartError it means."""
        lines = out.decode("utf-8", "surrogateescape").split("\n")
        kind = lines[0] if lines else ""
        detail = lines[1] if len(lines) > 1 else ""
        claude = argv[0]
        if kind == "workspace":
            raise StartError(
                f"workspace not found on {self.host}: {detail}",
                "create the directory on that host or pass an existing one with --workspace",
            )
        if kind == "claude":
            where = "PATH" if "/" not in claude else claude
            raise StartError(
                f"claude not found at {where} on {self.host} "
                f"(claude_path: {claude!r}; remote PATH: {detail})",
                "a non-interactive SSH shell has a shorter PATH than a login shell: set claude_path "
                f"for executor {self.config.name!r} to the full path (run 'command -v claude' in a "
                "login shell there), or install Claude Code (npm install -g @anthropic-ai/claude-code)",
            )
        if kind == "root":
            raise StartError(
                f"logging in to {self.host} as root: Claude Code refuses "
                "--dangerously-skip-permissions as root",
                f"if that host is a sandbox, opt in with env: {{{SANDBOX_VAR}: '1'}} on executor "
                f"{self.config.name!r}, or log in as an ordinary user",
            )
        if kind != "ok" or len(lines) < 6:
            shown = " ".join(out.decode("utf-8", "replace").split())[-300:]
            raise StartError(f"unexpected answer from {self.host} while starting the task: {shown!r}")
        home, workspace, claude_abs, boot, pid_line = lines[1:6]
        log = " ".join("\n".join(lines[6:]).split())
        from openclaw.executors.local import read_pid_file

        record = read_pid_file(pid_line)
        if record is None:
            raise StartError(
                "the launcher did not start the agent" + (f": {log}" if log else ""),
                f"see {task_dir}/launcher.log on {self.host}",
            )
        lpid, lstart, apid, _ = record
        fields: dict[str, Any] = {
            "pid": lpid,
            "pid_start_time": lstart,
            "agent_pid": apid,
            "boot_id": boot.strip() or None,
            "host": self.host,
            "command": [claude_abs, *argv[1:]],
            "workspace": workspace,
        }
        return fields, home

    # -- observe ---------------------------------------------------------------------------------
    def observe(self, metas: list[dict[str, Any]]) -> dict[str, Observation]:
        """Observe all of this host's tasks in one round trip; an unreachable host gives ``alive=None``."""
        if not metas:
            return {}
        parts = ["printf '@@OPENCLAW@@\\n'", _STARTTIME_SH, _OBSERVE_SH]
        parts.append("printf 'boot %s\\n' \"$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)\"")
        for m in metas:
            pid = m.get("pid")
            start = m.get("pid_start_time")
            parts.append(
                f"obs {_q(check_id(m['task_id']))} {self._dir_expr(m['task_id'])} "
                f"{_q(str(pid) if pid else '')} {_q(str(start) if start is not None else '')}"
            )
        timeout = self.connect_timeout + 30 + len(metas) * 0.5
        try:
            _, out = self._run("\n".join(parts) + "\n", timeout)
            found = _parse_observations(out)
        except _Unreachable as exc:
            reason = exc.one_line()
            return {m["task_id"]: Observation(alive=None, reason=reason) for m in metas}
        except ValueError as exc:
            reason = f"unexpected answer from {self.host}: {exc}"
            return {m["task_id"]: Observation(alive=None, reason=reason) for m in metas}
        boot = found.pop("", {}).get("boot")
        return {m["task_id"]: self._adopt(m, found.get(m["task_id"]), boot) for m in metas}

    def _adopt(self, meta: dict[str, Any], seen: dict[str, Any] | None, boot: str | None) -> Observation:
        """:meth:`_judge`, plus what ``start`` missed of a task whose launch answer it lost.

        The launch left its answer in the task directory (``launched``); it
        gives the fields ``start`` would have recorded (pid, start times, boot
        id, ...), so a task recorded pending can be followed and killed.
        """
        obs = self._judge(meta, seen, boot)
        if meta.get("pid") is not None or meta["status"] in FINAL or not seen:
            return obs
        from openclaw.executors.local import read_pid_file

        answer = seen.get("launched")
        argv = meta.get("command") or [self.config.claude_path]
        try:
            if answer:
                fields, home = self._launched(answer, meta["task_id"], "the task directory", argv)
                return dataclasses.replace(obs, started=dict(fields, home=home))
        except StartError:
            return obs  # the launcher did not start the agent: judged as never started
        # No answer written (its script was cut off after the launch): the pid file still says.
        record = read_pid_file(seen.get("pidfile", b"").decode("utf-8", "replace"))
        if record is None:
            return obs
        lpid, lstart, apid, _ = record
        pids = {"pid": lpid, "pid_start_time": lstart, "agent_pid": apid, "boot_id": boot, "host": self.host}
        return dataclasses.replace(obs, started=pids)

    def _judge(self, meta: dict[str, Any], seen: dict[str, Any] | None, boot: str | None) -> Observation:
        if seen is None:
            return Observation(alive=None, reason=f"no answer from {self.host} about this task")
        rc = seen.get("rc", "-")
        if rc.lstrip("-").isdigit():
            out = seen.get("stdout", b"")
            result = ClaudeAgent.summarize(out)
            reason = None
            if result is None:
                err = [ln for ln in seen.get("stderr", b"").splitlines() if ln.strip()]
                reason = err[-1].decode("utf-8", "replace").strip()[:300] if err else None
            return Observation(alive=False, exit_code=int(rc), result=result, reason=reason)
        if meta.get("boot_id") and boot and meta["boot_id"] != boot:
            return Observation(alive=False, reason=f"{self.host} rebooted while the task ran")
        if seen.get("alive") == "1":
            return Observation(alive=True)
        if seen.get("dir") == "0" and meta.get("pid") is not None:
            return Observation(alive=False, reason=f"the task directory on {self.host} is gone")
        return Observation(alive=False)

    # -- kill and cleanup ------------------------------------------------------------------------
    def kill(self, meta: dict[str, Any], grace: float) -> None:
        """Signal the launcher's group, session, descendants and env-tagged processes on the host."""
        task_id = check_id(meta["task_id"])
        if meta.get("pid") is None:
            return
        pid = int(meta["pid"])
        start = meta.get("pid_start_time")
        script = _KILL_SH.format(
            starttime=_STARTTIME_SH,
            id=_q(task_id),
            leader=pid,
            lstart=_q(str(start) if start is not None else ""),
            boot=_q(str(meta.get("boot_id") or "")),
            grace_steps=max(0, int(grace / 0.05)),
        )
        _, out = self._call(script, self.connect_timeout + grace + 40, "kill the task")
        text = out.decode("utf-8", "replace").split()
        if len(text) >= 2 and text[0] == "left" and text[1] != "0":
            raise ExecutorError(
                self.config.name,
                f"{text[1]} process(es) of task {task_id} survived SIGKILL on {self.host}",
                "they may be in uninterruptible sleep; check with ps on that host",
            )

    def cleanup(self, meta: dict[str, Any]) -> None:
        """Remove the task's directory on the host (the manager removes the local record)."""
        d = self._dir_expr(meta["task_id"])
        self._call(
            f"printf '@@OPENCLAW@@\\n'; rm -rf -- {d}\n", self.connect_timeout + 30, "clean up the task"
        )

    # -- output ------------------------------------------------------------------------------------
    def _stream_path(self, meta: dict[str, Any], stream: str) -> str:
        if stream not in ("stdout", "stderr"):
            raise ExecutorError(self.config.name, f"unknown stream {stream!r}")
        return f"{self._dir_expr(meta['task_id'])}/{stream}"

    def tail(self, meta: dict[str, Any], stream: str, lines: int) -> list[bytes]:
        """The last lines of the task's stream, read with ``tail -n`` on the host."""
        if lines <= 0:
            return []
        path = self._stream_path(meta, stream)
        _, out = self._call(
            f"printf '@@OPENCLAW@@\\n'; tail -n {int(lines)} {path} 2>/dev/null\n",
            self.connect_timeout + 30,
            "read the task's output",
        )
        result = out.split(b"\n")
        if result and result[-1] == b"":
            result.pop()
        return result[-lines:]

    def read_from(self, meta: dict[str, Any], stream: str, offset: int) -> tuple[bytes, int]:
        """New bytes of the task's stream since ``offset``."""
        return self._read_expr(self._stream_path(meta, stream), offset)

    def read_path(self, meta: dict[str, Any], path: str, offset: int) -> tuple[bytes, int]:
        """New bytes of file ``path`` on the host (the transcript) since ``offset``."""
        check_id(meta["task_id"])
        return self._read_expr(_q(path), offset)

    def _read_expr(self, path_expr: str, offset: int) -> tuple[bytes, int]:
        _, out = self._call(
            f"printf '@@OPENCLAW@@\\n'; tail -c +{int(offset) + 1} {path_expr} 2>/dev/null\n",
            self.connect_timeout + 60,
            "read the task's output",
        )
        return out, offset + len(out)

    def size(self, meta: dict[str, Any], stream: str) -> int:
        """Size in bytes of the task's stream on the host (0 when it does not exist yet)."""
        path = self._stream_path(meta, stream)
        _, out = self._call(
            f"printf '@@OPENCLAW@@\\n'; if [ -f {path} ]; then wc -c <{path}; else echo 0; fi\n",
            self.connect_timeout + 30,
            "read the task's output",
        )
        text = out.decode().strip()
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


# One task: "task ID", then "dir 0|1", "alive 0|1", "rc TEXT|-", and for a finished
# task its stdout and stderr tails as "data NAME N" followed by exactly N bytes.
_OBSERVE_SH = r"""
emit() {
    if [ -f "$2" ]; then
        n=$(wc -c <"$2")
        n=$((n + 0))
        [ "$n" -gt "$3" ] && n=$3
        printf 'data %s %s\n' "$1" "$n"
        tail -c "$n" "$2" 2>/dev/null | head -c "$n"
        printf '\n'
    fi
}
obs() {
    id=$1 d=$2 p=$3 s=$4
    printf 'task %s\n' "$id"
    if [ -d "$d" ]; then printf 'dir 1\n'; else printf 'dir 0\n'; fi
    if [ -z "$p" ] && [ -f "$d/pid" ]; then
        { read -r p s _rest <"$d/pid"; } 2>/dev/null || p=
    fi
    a=0
    if [ -n "$p" ] && [ "$p" != 0 ]; then
        now=$(st "$p")
        if [ "$now" != 0 ] && { [ -z "$s" ] || [ "$now" = "$s" ]; }; then a=1; fi
    fi
    printf 'alive %s\n' "$a"
    if [ -z "$3" ]; then emit launched "$d/launched" 4096; emit pidfile "$d/pid" 200; fi
    rc=
    [ -f "$d/rc" ] && { read -r rc <"$d/rc"; } 2>/dev/null
    printf 'rc %s\n' "${rc:--}"
    if [ -n "$rc" ]; then
        emit stdout "$d/stdout" __OUT__
        emit stderr "$d/stderr" __ERR__
    fi
}
""".replace("__OUT__", str(RESULT_TAIL_BYTES)).replace("__ERR__", str(STDERR_TAIL_BYTES))


def _parse_observations(out: bytes) -> dict[str, dict[str, Any]]:
    """Parse the observe script's output: task id -> its fields ("" holds the host's boot id)."""
    found: dict[str, dict[str, Any]] = {"": {}}
    current = found[""]
    pos = 0
    while pos < len(out):
        end = out.find(b"\n", pos)
        if end < 0:
            end = len(out)
        line = out[pos:end].decode("utf-8", "replace")
        pos = end + 1
        key, _, value = line.partition(" ")
        if key == "boot":
            found[""]["boot"] = value.strip() or None
        elif key == "task":
            current = found.setdefault(value.strip(), {})
        elif key in ("dir", "alive", "rc"):
            current[key] = value.strip()
        elif key == "data":
            name, _, count = value.partition(" ")
            if not count.isdigit():
                raise ValueError(f"bad data header {line!r}")
            n = int(count)
            current[name] = out[pos : pos + n]
            pos += n + 1  # the data and the newline after it
        # Anything else is stray output (a noisy shell start-up file): ignored.
    return found


# Mirrors openclaw.procs.kill_task_processes in POSIX sh + awk: a task's processes
# are the launcher (if it is still the recorded process), its process group and
# session, their descendants, and every process whose environment carries
# OPENCLAW_TASK_ID=<id> (the agent's tool commands run in sessions of their own).
_KILL_SH = r"""
{starttime}
ID={id}
L={leader}
LS={lstart}
BOOT={boot}
if [ -n "$BOOT" ] && [ "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" != "$BOOT" ]; then
    printf '@@OPENCLAW@@\nleft 0\n'
    exit 0
fi
list() {{
    tagged=$(grep -lzx "OPENCLAW_TASK_ID=$ID" /proc/[0-9]*/environ 2>/dev/null \
        | sed 's#^/proc/\([0-9]*\)/environ$#\1#' | tr '\n' ' ')
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v L="$L" -v LS="$LS" -v T=" $tagged " -v ME="$$" '
    {{
        pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
        st[pid] = f[1]; pp[pid] = f[2]; pg[pid] = f[3]; se[pid] = f[4]; t0[pid] = f[20]
    }}
    END {{
        lok = (L in st) && st[L] != "Z" && st[L] != "X" && (LS == "" || t0[L] == LS)
        for (p in st) {{
            if (st[p] == "Z" || st[p] == "X" || p == ME) continue
            if (lok && (p == L || pg[p] == L || se[p] == L)) c[p] = 1
            if (index(T, " " p " ")) c[p] = 1
        }}
        do {{
            added = 0
            for (p in st)
                if (!(p in c) && (pp[p] in c) && st[p] != "Z" && st[p] != "X" && p != ME) {{
                    c[p] = 1; added = 1
                }}
        }} while (added)
        # The group of the agent first: it must get SIGTERM before its tools die, or it
        # could see a tool fail, finish the turn and exit 0 before its own signal came.
        for (p in c) if (pg[p] == L) print p, t0[p]
        for (p in c) if (pg[p] != L) print p, t0[p]
    }}'
}}
alive() {{
    printf '%s\n' "$1" | while read -r p s; do
        [ -n "$p" ] && [ "$(st "$p")" = "$s" ] && printf '%s %s\n' "$p" "$s"
    done
}}
signal() {{
    printf '%s\n' "$2" | while read -r p s; do
        [ -n "$p" ] && [ "$(st "$p")" = "$s" ] && kill "-$1" "$p" 2>/dev/null
    done
}}
seen=$(list)
if [ -n "$seen" ]; then
    signal TERM "$seen"
    i=0
    while [ $i -lt {grace_steps} ]; do
        live=$(alive "$seen")
        [ -z "$live" ] && break
        sleep 0.05
        seen=$(printf '%s\n%s\n' "$seen" "$(list)" | sort -u | grep .)
        i=$((i + 1))
    done
    i=0
    while [ $i -lt 200 ]; do
        seen=$(printf '%s\n%s\n' "$seen" "$(list)" | sort -u | grep .)
        live=$(alive "$seen")
        [ -z "$live" ] && break
        signal KILL "$live"
        sleep 0.05
        i=$((i + 1))
    done
fi
printf '@@OPENCLAW@@\nleft %s\n' "$(alive "$seen" | grep -c .)"
"""
