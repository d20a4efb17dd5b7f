"""The SSH executor itself: start, observe, kill, clean up and read tasks on one host.

How it talks to the host, and what it guarantees there, is in the package's
docstring (:mod:`openclaw.executors.ssh`). Each task gets
``<remote_root>/<task-id>/`` (0700) on the host; the local record directory
stays the authoritative record. The host's answers are read by
:mod:`.answers`; starting many tasks at once is :mod:`.batch`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
from typing import TYPE_CHECKING, Any

from openclaw import faults, launch
from openclaw.agents.base import Launch
from openclaw.config import ExecutorConfig
from openclaw.errors import ExecutorError, StartError, UsageError
from openclaw.executors.base import Executor
from openclaw.executors.ssh import answers, batch
from openclaw.executors.ssh.protocol import (
    DEFAULT_REMOTE_ROOT,
    LAUNCH_TIMEOUT_S,
    Answer,
    bad_env_name,
    check_id,
    observations,
    render,
    script_text,
    task_files,
)
from openclaw.executors.ssh.session import Session, Unreachable, is_connection_error, put
from openclaw.records import TaskStore
from openclaw.scripts import standalone_launcher, taskprocs
from openclaw.states import Observation
from openclaw.task import TaskRecord

if TYPE_CHECKING:
    from openclaw.watch import Alarm, TaskWatch

#: Default ``connect_timeout`` in seconds (TCP connect, banner and authentication, each hop).
DEFAULT_CONNECT_TIMEOUT = 10.0
#: How much of the end of stdout is fetched for a finished task, to find the result event.
RESULT_TAIL_BYTES = 256 * 1024
#: How much of the end of stderr is fetched for a finished task, for its failure reason.
STDERR_TAIL_BYTES = 4096
# paramiko logs transport failures (such as a missing banner) itself; the error we raise says it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


def _digits(value: int | None) -> str:
    """A recorded pid or start time as digits, "-" for none."""
    return "-" if value is None else str(int(value))


class SSHExecutor(Executor):
    """Runs agents on a remote host over SSH; see the package docstring."""

    type = "ssh"
    #: A launch script sent before ``start`` died may still run on the host: it waits up to
    #: LAUNCH_TIMEOUT_S for the pid, after a connection of up to connect_timeout.
    launch_window_s = 60.0

    def __init__(self, config: ExecutorConfig, store: TaskStore) -> None:
        super().__init__(config, store)
        opts = config.options
        key = opts.get("key_path")
        self.host: str = str(opts["host"])
        self.remote_root: str = str(opts.get("remote_root") or DEFAULT_REMOTE_ROOT)
        self.session = Session(
            name=config.name,
            host=self.host,
            port=opts.get("port"),
            user=opts.get("user"),
            key_path=os.path.expanduser(key) if key else None,
            connect_timeout=float(opts.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT),
            accept_new=opts.get("accept_new_host_keys"),
        )

    def connect_early(self) -> None:
        """Connect now, in the background, while the manager writes the record."""
        self.session.connect_early()

    def normalize_workspace(self, workspace: str | None) -> str:
        """The workspace as given (``~`` when omitted): a path on the host, resolved there at start."""
        return workspace or "~"

    def close(self) -> None:
        """Close the connection to the host, if one is open."""
        self.session.close()

    def _checked_root(self) -> str:
        """``remote_root``, if usable: absolute (or under ``~/``), without '..' or a newline."""
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
        return root

    def _script(self, *names: str, values: dict[str, str | int], **more: Any) -> str:
        """:func:`render`, with this executor's ``remote_root`` (the prelude makes ``$root`` of it)."""
        return render(*names, values={"remote_root": self._checked_root(), **values}, **more)

    # -- start ---------------------------------------------------------------------------------
    def start(self, meta: TaskRecord, spec: Launch) -> dict[str, Any]:
        """Check the host, put the task's files there by SFTP, and launch the agent detached."""
        task_id = check_id(meta["task_id"])
        try:
            return self._start(meta, task_id, spec)
        except Unreachable as exc:
            raise StartError(
                f"executor {self.config.name!r}: {exc.problem}", exc.hint, task_id=task_id, unreachable=True
            ) from None

    def _start(self, meta: TaskRecord, task_id: str, spec: Launch) -> dict[str, Any]:
        """Three steps on one connection, each safe to cut short:

        1. one exec checks the host (workspace, the agent's binary, its root rule) and
           ``remote_root`` (owned by the login user or root, writable by no one
           else, no symlink: see scripts/secure.sh), and makes the task
           directory (``mkdir`` 0700 of a new name, checked);
        2. SFTP puts the prompt, env file and launcher there, which no other
           user can reach;
        3. one exec launches the agent detached and waits for its pid file.
        Nothing secret is written before step 1 has proved the place private.
        """
        bad = bad_env_name(spec.env)
        if bad is not None:
            raise StartError(f"not a valid environment variable name: {bad!r}")
        prompt = self.store.file(task_id, "prompt").read_bytes()
        prepared = self.session.run(
            self._prepare_script(task_id, meta, spec), self.session.connect_timeout + 30
        )
        task_dir, home, workspace, agent_abs = answers.prepared(prepared, spec, self)
        faults.point("ssh.prepared")
        conn = self.session.open()
        launched: Answer | None = None
        try:
            try:
                sftp = conn.client.open_sftp()
            except Exception as exc:
                if isinstance(exc, (OSError, EOFError)) or not is_connection_error(exc):
                    raise
                self._remove_dir(task_dir)
                raise StartError(
                    f"cannot open SFTP on {self.host}: {exc}",
                    "enable the sftp Subsystem in that host's sshd_config",
                ) from None
            try:
                for name, data in task_files(meta, spec.env, prompt, standalone_launcher()):
                    put(sftp, f"{task_dir}/{name}", data)
                faults.point("ssh.uploaded")
                script = self._launch_script(task_dir, task_id, workspace, agent_abs, spec)
                script += self._collect_script(task_dir, home, workspace, agent_abs, alone=False)
                try:
                    out, err = self.session.exec(conn, script, 60)
                    launched = Answer.parse(out, err)
                except Exception as exc:
                    # A lost connection, or an answer that cannot be read: the host says what happened.
                    if not is_connection_error(exc) and not isinstance(exc, ValueError):
                        raise
                    launched = self._launch_answer(task_dir, exc)
                    with contextlib.suppress(Exception):
                        sftp.close()  # on the dropped connection
                    sftp = None
                fields = answers.launched(launched, task_dir, self)
                mirror = json.dumps(dict(meta, **fields, status="running"), indent=2).encode() + b"\n"
                try:
                    sftp = sftp or self.session.open().client.open_sftp()
                    put(sftp, f"{task_dir}/.meta.json", mirror)
                except Exception as exc:
                    # The agent runs: the host's copy of the record is a convenience, not a reason to fail.
                    if not isinstance(exc, Unreachable) and not is_connection_error(exc):
                        raise
            finally:
                if sftp is not None:
                    with contextlib.suppress(Exception):
                        sftp.close()
        except Exception as exc:
            if isinstance(exc, StartError) or not is_connection_error(exc):
                raise
            self.session.close()
            if launched is None:
                # Cut before the launch was sent: nothing runs. Take the prompt and env file back.
                gone = self._remove_dir(task_dir)
                raise StartError(
                    f"lost the connection to {self.host} before the launch: {type(exc).__name__}: {exc}",
                    "start the task again" if gone else f"remove {task_dir} on {self.host} by hand",
                ) from None
            raise Unreachable(
                f"lost the connection to {self.host} while starting: {type(exc).__name__}: {exc}",
                "check the host; the task may need 'openclaw-agent cleanup'",
            ) from None
        return dict(fields, home=home, workspace=workspace, command=[agent_abs, *spec.argv[1:]])

    def start_many(self, items: list[tuple[TaskRecord, Launch]]) -> list[dict[str, Any] | StartError]:
        """Start several tasks on this host in three steps for all of them, on one connection:
        one exec prepares every task (each task's own prepare script, in a ``sh`` of its own),
        one SFTP session puts every task's files, one exec launches them all. Each task's
        outcome is its own, as :meth:`start` would give it; a connection lost during the
        launches is read back per task, so a task whose launch may have landed stays pending.
        See :mod:`.batch`."""
        if len(items) < 2:
            return super().start_many(items)
        return batch.start_many(self, items)

    def _remove_dir(self, task_dir: str) -> bool:
        """Remove a task directory that holds no launched agent; whether that worked."""
        try:
            script = self._script(values={"dir": task_dir}, tail='rm -rf -- "$dir"\n')
            self.session.run(script, self.session.connect_timeout + 30)
            return True
        except (Unreachable, ValueError):
            return False

    def _prepare_script(self, task_id: str, meta: TaskRecord, spec: Launch) -> str:
        """Pre-flight checks, the secure remote root and the new task directory: scripts/prepare.sh."""
        values: dict[str, str | int] = {
            "task_id": check_id(task_id),
            "workspace": meta["workspace"],
            "agent_path": spec.argv[0],
            "root_var": spec.root_var or "",
        }
        return self._script("secure", "prepare", values=values, exports=spec.env)

    def _launch_answer(self, task_dir: str, lost: BaseException) -> Answer:
        """The launch's answer, read back over a new connection after the first dropped during it.

        The launch script writes its answer to ``launched`` before printing
        it, so whether the agent started is known from the host itself: wait
        (the script may still run) for that file. If it never comes, the script
        never ran (cut short, it runs nothing: see :func:`whole`), and the task
        directory, with the prompt and env file, is removed.
        """
        self.session.close()
        steps = int((LAUNCH_TIMEOUT_S + 5) / 0.05)
        probe = self._script("readback", values={"dir": task_dir, "steps": steps})
        why = f"lost the connection to {self.host} while starting the agent ({type(lost).__name__}: {lost})"
        try:
            answer = self.session.run(probe, LAUNCH_TIMEOUT_S + 5 + self.session.connect_timeout + 30)
            launched = answer.get("launched")
            inner = Answer.parse(launched) if launched is not None else None
        except (Unreachable, ValueError) as exc:
            problem = exc.problem if isinstance(exc, Unreachable) else f"unreadable answer: {exc}"
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
        self, task_dir: str, task_id: str, workspace: str, agent_abs: str, spec: Launch
    ) -> str:
        """The detached launch: scripts/launch.sh (the agent's args as "$@")."""
        values: dict[str, str | int] = {
            "dir": task_dir,
            "task_id": task_id,
            "workspace": workspace,
            "agent": agent_abs,
            "timeout": launch.timeout_arg(spec.timeout_s),
        }
        return self._script("secure", "launch", values=values, args=spec.argv[1:])

    def _collect_script(
        self, task_dir: str, home: str, workspace: str, agent_abs: str, alone: bool = True
    ) -> str:
        """The launch's answer once the launcher wrote its pid file: scripts/collect.sh; run in
        a shell of its own (``alone``), or appended to the launch's script."""
        values: dict[str, str | int] = {
            "dir": task_dir,
            "home": home,
            "workspace": workspace,
            "agent": agent_abs,
            "steps": int(LAUNCH_TIMEOUT_S / 0.002),
        }
        if alone:
            return self._script("collect", values=values)
        return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in values.items()) + script_text("collect")

    # -- observe ---------------------------------------------------------------------------------
    def observe(self, metas: list[TaskRecord]) -> dict[str, Observation]:
        """Observe all of this host's tasks in one round trip; an unreachable host gives ``alive=None``."""
        if not metas:
            return {}
        values: dict[str, str | int] = {"out_max": RESULT_TAIL_BYTES, "err_max": STDERR_TAIL_BYTES}
        # One line per task: its id (checked) and digits, so the here-document holds no quote.
        listed = "".join(
            f"{check_id(m['task_id'])} {_digits(m.get('pid') or None)} {_digits(m.get('pid_start_time'))}\n"
            for m in metas
        )
        # The frames go to a private file first and come back in one write: printed as made,
        # they are hundreds of small SSH packets, each costing this side CPU to decrypt.
        tail = (
            'buf=$(mktemp "$root/.observe.XXXXXX" 2>/dev/null) || buf=\n'
            "obs_many \"${buf:-/dev/stdout}\" <<'OPENCLAW_TASKS'\n" + listed + "OPENCLAW_TASKS\n"
            'if [ -n "$buf" ]; then cat "$buf"; rm -f "$buf"; fi\n'
        )
        script = self._script("observe", values=values, pre=taskprocs(), tail=tail)
        timeout = self.session.connect_timeout + 30 + len(metas) * 0.5
        try:
            found = observations(self.session.run(script, timeout))
        except Unreachable as exc:
            reason = exc.one_line()
            return {m["task_id"]: Observation(alive=None, reason=reason) for m in metas}
        except ValueError as exc:
            reason = f"unexpected answer from {self.host}: {exc}"
            return {m["task_id"]: Observation(alive=None, reason=reason) for m in metas}
        boot = found.pop("", {}).get("boot")
        boot_text = boot.decode("ascii", "replace").strip() if boot else None
        return {m["task_id"]: answers.adopt(m, found.get(m["task_id"]), boot_text, self) for m in metas}

    # -- watch -------------------------------------------------------------------------------------
    def watch(self, meta: TaskRecord, stream: str | None = None) -> TaskWatch | None:
        """inotify on the task's record directory (here), and one long-lived ``watch.sh`` on the
        host over the open connection, for its output and its end (see :mod:`.feed`): no
        round trip while the task is idle. None when its launcher is not running as recorded
        (the caller looks, and polls)."""
        from openclaw.executors.ssh.feed import RemoteFeed
        from openclaw.watch import Feed, watch_task

        pid, began = meta.get("pid"), meta.get("pid_start_time")
        if not pid or began is None:
            return None
        values: dict[str, str | int] = {
            "task_id": check_id(meta["task_id"]),
            "leader": str(int(pid)),
            "leader_start": str(int(began)),
            "stream": self._stream(stream) if stream is not None else "",
        }

        def feed() -> Feed:
            script = self._script("watch", values=values, pre=taskprocs())
            try:
                conn = self.session.open()
                made = RemoteFeed.open(conn.transport, script, stream, self.session.connect_timeout + 30)
            except Unreachable as exc:
                raise ExecutorError(self.config.name, f"cannot watch the task: {exc.problem}") from None
            if made is None:
                raise ExecutorError(self.config.name, "its launcher is not running as recorded")
            return made

        return watch_task(str(self.store.path(meta["task_id"])), None, None, stream is not None, feed)

    def alarm(self, metas: list[TaskRecord], since: float) -> Alarm | None:
        """One long-lived ``ended.sh`` on the host, over the open connection, for every task
        there (see :class:`~.feed.HostEnds`): a line when one ends, nothing while they idle."""
        from openclaw.executors.ssh.feed import HostEnds

        ids = " ".join(check_id(m["task_id"]) for m in metas)
        script = self._script("ended", values={"ids": ids})
        try:
            conn = self.session.open()
            return HostEnds.open(conn.transport, script, self.session.connect_timeout + 30)
        except Unreachable as exc:
            raise ExecutorError(self.config.name, f"cannot watch its tasks: {exc.problem}") from None

    # -- git ---------------------------------------------------------------------------------------
    def git_host(self) -> str | None:
        """This executor's host."""
        return self.host

    def host_script(self, tail: str, values: dict[str, str | int]) -> Answer:
        """Run ``worktree.sh`` and ``tail`` on the host, in one exec."""
        from openclaw.scripts import worktree
        from openclaw.worktree import SCRIPT_TIMEOUT_S

        script = self._script("secure", values=values, pre=worktree(), tail=tail)
        return self.session.call(script, self.session.connect_timeout + SCRIPT_TIMEOUT_S, "run git")

    # -- kill and cleanup ------------------------------------------------------------------------
    def kill(self, meta: TaskRecord, grace: float) -> None:
        """Signal the launcher's group, session, descendants and env-tagged processes on the host.

        Without a recorded pid (an interrupted start), the pid file in the
        task directory, or else the environment tag, finds them.
        """
        task_id = check_id(meta["task_id"])
        pid = meta.get("pid")
        start = meta.get("pid_start_time")
        values: dict[str, str | int] = {
            "task_id": task_id,
            "leader": str(int(pid)) if pid else "",
            "leader_start": str(start) if start is not None else "",
            "boot": str(meta.get("boot_id") or ""),
            "steps": max(0, int(grace / 0.05)),
        }
        script = self._script("kill", values=values, pre=taskprocs())
        answer = self.session.call(script, self.session.connect_timeout + grace + 40, "kill the task")
        left = answer.text("left") or "?"
        if left != "0":
            raise ExecutorError(
                self.config.name,
                f"{left} process(es) of task {task_id} survived SIGKILL on {self.host}",
                "they may be in uninterruptible sleep; check with ps on that host",
            )

    def cleanup(self, meta: TaskRecord) -> None:
        """Remove the task's directory on the host (the manager removes the local record)."""
        values: dict[str, str | int] = {"task_id": check_id(meta["task_id"])}
        script = self._script(values=values, tail='rm -rf -- "$root/$task_id"\n')
        self.session.call(script, self.session.connect_timeout + 30, "clean up the task")

    # -- output ------------------------------------------------------------------------------------
    _reading = "read the task's output"

    @staticmethod
    def _stream(stream: str) -> str:
        if stream not in ("stdout", "stderr"):
            raise ExecutorError("ssh", f"unknown stream {stream!r}")
        return stream

    def tail(self, meta: TaskRecord, stream: str, lines: int) -> list[bytes]:
        """The last lines of the task's stream, read from its end on the host (more when needed)."""
        if lines <= 0:
            return []
        want = max(4096, lines * 512)
        while True:
            values: dict[str, str | int] = {
                "task_id": check_id(meta["task_id"]),
                "stream": self._stream(stream),
                "want": want,
            }
            script = self._script(values=values, tail='ff data "$root/$task_id/$stream" "$want"\n')
            answer = self.session.call(script, self.session.connect_timeout + 30, self._reading)
            data = answer.get("data") or b""
            result = data.split(b"\n")
            if result and result[-1] == b"":
                result.pop()
            if len(result) > lines or len(data) < want:
                return result[-lines:]
            want *= 8

    def read_from(self, meta: TaskRecord, stream: str, offset: int) -> tuple[bytes, int]:
        """New bytes of the task's stream since ``offset``."""
        values: dict[str, str | int] = {"task_id": check_id(meta["task_id"]), "stream": self._stream(stream)}
        return self._read(values, '"$root/$task_id/$stream"', offset)

    def read_path(self, meta: TaskRecord, path: str, offset: int) -> tuple[bytes, int]:
        """New bytes of file ``path`` on the host (the transcript) since ``offset``."""
        check_id(meta["task_id"])
        return self._read({"path": path}, '"$path"', offset)

    def _read(self, values: dict[str, str | int], path_expr: str, offset: int) -> tuple[bytes, int]:
        values = dict(values, offset=int(offset))
        script = self._script(values=values, tail=f'from data {path_expr} "$offset"\n')
        out = self.session.call(script, self.session.connect_timeout + 60, self._reading).get("data") or b""
        return out, offset + len(out)

    def size(self, meta: TaskRecord, stream: str) -> int:
        """Size in bytes of the task's stream on the host (0 when it does not exist yet)."""
        values: dict[str, str | int] = {"task_id": check_id(meta["task_id"]), "stream": self._stream(stream)}
        tail = 'p=$root/$task_id/$stream; n=0; [ -f "$p" ] && n=$(wc -c <"$p"); f size "$((n + 0))"\n'
        answer = self.session.call(
            self._script(values=values, tail=tail), self.session.connect_timeout + 30, self._reading
        )
        text = answer.text("size") or ""
        return int(text) if text.isdigit() else 0
