"""The SSH executor itself: start, observe, kill, clean up and read tasks on one host.

How it talks to the host, and what it guarantees there, is in the package's
docstring (:mod:`openclaw.executors.ssh`). Each task gets
``<remote_root>/<task-id>/`` (0700) on the host; the local record directory
stays the authoritative record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shlex
from typing import TYPE_CHECKING, Any

from openclaw import faults, launch
from openclaw.agents.base import Launch
from openclaw.config import ExecutorConfig
from openclaw.errors import ExecutorError, StartError, UsageError
from openclaw.executors.base import Executor
from openclaw.executors.ssh.protocol import Answer, check_id, observations, render, script_text
from openclaw.executors.ssh.session import Session, Unreachable, is_connection_error, put
from openclaw.launch import read_pid_file
from openclaw.records import TaskStore
from openclaw.scripts import standalone_launcher, taskprocs
from openclaw.states import FINAL, Observation, stamp
from openclaw.task import TaskRecord

if TYPE_CHECKING:
    from openclaw.watch import Alarm, TaskWatch

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
# paramiko logs transport failures (such as a missing banner) itself; the error we raise says it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _task_files(meta: TaskRecord, prompt: bytes, env_text: str, launcher: bytes) -> list[tuple[str, bytes]]:
    """The files a task's directory gets by SFTP: prompt, env file, launcher, and for a task in a
    worktree of its own, the ``worktree`` file that has the launcher commit at exit."""
    from openclaw.worktree import launcher_file

    files = [("prompt", prompt), ("env", env_text.encode()), ("launcher.sh", launcher)]
    tree = launcher_file(meta)
    if tree is not None:
        files.append(("worktree", tree))
    return files


def _split_answers(answer: Answer, names: list[str]) -> dict[str, bytes]:
    """A batch's answers by name (``answers`` in prelude.sh: the size and name of each answer
    file there was, then all of them in one frame); an answer whose file was missing, or cut
    off, is empty (a task's answer that cannot be read, which is never another task's)."""
    whole = answer.get("answers") or b""
    parts: dict[str, bytes] = {}
    at = 0
    for line in (answer.text("sizes") or "").splitlines():
        size, _, name = line.strip().partition(" ")
        if not size.isdigit():
            continue
        if name in names and at + int(size) <= len(whole):
            parts[name] = whole[at : at + int(size)]
        at += int(size)
    return {name: parts.get(name, b"") for name in names}


def _digits(value: int | None) -> str:
    """A recorded pid or start time as digits, "-" for none."""
    return "-" if value is None else str(int(value))


def _q(value: str) -> str:
    return shlex.quote(value)


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
        argv, env = spec.argv, spec.env
        for name in env:
            if not _ENV_NAME.match(name):
                raise StartError(f"not a valid environment variable name: {name!r}")
        prompt = self.store.file(task_id, "prompt").read_bytes()
        env_text = "".join(f"{n}={_q(v)}\n" for n, v in sorted(env.items()))
        prepared = self.session.run(
            self._prepare_script(task_id, meta, spec), self.session.connect_timeout + 30
        )
        task_dir, home, workspace, agent_abs = self._prepared(prepared, spec)
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
                for name, data in _task_files(meta, prompt, env_text, standalone_launcher()):
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
                fields = self._launched(launched, task_dir)
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
        return dict(fields, home=home, workspace=workspace, command=[agent_abs, *argv[1:]])

    def start_many(self, items: list[tuple[TaskRecord, Launch]]) -> list[dict[str, Any] | StartError]:
        """Start several tasks on this host in three steps for all of them, on one connection:
        one exec prepares every task (each task's own prepare script, in a ``sh`` of its own),
        one SFTP session puts every task's files, one exec launches them all. Each task's
        outcome is its own, as :meth:`start` would give it; a connection lost during the
        launches is read back per task, so a task whose launch may have landed stays pending."""
        if len(items) < 2:
            return super().start_many(items)
        try:
            return self._start_many(items)
        except Unreachable as exc:
            return [
                StartError(
                    f"executor {self.config.name!r}: {exc.problem}",
                    exc.hint,
                    task_id=m["task_id"],
                    unreachable=True,
                )
                for m, _ in items
            ]

    def _start_many(self, items: list[tuple[TaskRecord, Launch]]) -> list[dict[str, Any] | StartError]:
        out: list[dict[str, Any] | StartError | None] = [None] * len(items)
        scripts: dict[int, str] = {}
        for n, (meta, spec) in enumerate(items):
            task_id = check_id(meta["task_id"])
            bad = [name for name in spec.env if not _ENV_NAME.match(name)]
            if bad:
                out[n] = StartError(f"not a valid environment variable name: {bad[0]!r}", task_id=task_id)
            else:
                scripts[n] = self._prepare_script(task_id, meta, spec)
        # 1. one exec: every task's checks and private directory.
        prepared: dict[int, tuple[str, str, str, str]] = {}
        timeout = self.session.connect_timeout + 30 + len(scripts)
        answers = self._nested(scripts, timeout, head=("secure", "batchroot"), share="root_ok")
        for n, answer in answers.items():
            try:
                prepared[n] = self._prepared(answer, items[n][1])
            except StartError as exc:
                out[n] = exc
        faults.point("ssh.prepared")
        # 2. one SFTP session: every prepared task's prompt, env file and launcher.
        conn = self.session.open()
        launcher = standalone_launcher()
        sftp: Any = None
        try:
            sftp = conn.client.open_sftp()
            for n, (task_dir, _, _, _) in prepared.items():
                meta, spec = items[n]
                env_text = "".join(f"{k}={_q(v)}\n" for k, v in sorted(spec.env.items()))
                prompt = self.store.file(meta["task_id"], "prompt").read_bytes()
                for name, data in _task_files(meta, prompt, env_text, launcher):
                    put(sftp, f"{task_dir}/{name}", data)
            faults.point("ssh.uploaded")
        except Exception as exc:
            if not is_connection_error(exc) and not isinstance(exc, (OSError, EOFError)):
                raise
            # Nothing was launched: take every task's files back (best effort), and say so.
            self.session.close()
            for n, (task_dir, _, _, _) in prepared.items():
                gone = self._remove_dir(task_dir)
                out[n] = StartError(
                    f"lost the connection to {self.host} before the launch: {type(exc).__name__}: {exc}",
                    "start the task again" if gone else f"remove {task_dir} on {self.host} by hand",
                )
            prepared = {}
        # 3. one exec: every launch, then every launch's answer once its pid is there. The
        # launchers start up side by side, so the waits for their pids overlap.
        scripts = {
            2 * n: self._launch_script(task_dir, items[n][0]["task_id"], ws, agent_abs, items[n][1])
            for n, (task_dir, _, ws, agent_abs) in prepared.items()
        }
        scripts.update(
            (2 * n + 1, self._collect_script(task_dir, home, ws, agent_abs))
            for n, (task_dir, home, ws, agent_abs) in prepared.items()
        )
        try:
            both = self._nested(scripts, 60 + LAUNCH_TIMEOUT_S * len(prepared), once=True)
            launched = {}
            for n, (task_dir, _, _, _) in prepared.items():
                try:
                    launched[n] = self._launch_outcome(task_dir, both[2 * n], both[2 * n + 1])
                except StartError as failed:
                    out[n] = failed
        except Unreachable as exc:
            launched = {}
            for n, (task_dir, _, _, _) in prepared.items():
                try:
                    launched[n] = self._launch_answer(task_dir, exc)
                except StartError as failed:
                    out[n] = failed
        for n, answer in launched.items():
            task_dir, home, ws, agent_abs = prepared[n]
            meta, spec = items[n]
            try:
                fields = self._launched(answer, task_dir)
            except StartError as exc:
                out[n] = exc
                continue
            out[n] = dict(fields, home=home, workspace=ws, command=[agent_abs, *spec.argv[1:]])
            mirror = json.dumps(dict(meta, **fields, status="running"), indent=2).encode() + b"\n"
            try:  # the host's copy of the record is a convenience, not a reason to fail
                sftp = sftp or self.session.open().client.open_sftp()
                put(sftp, f"{task_dir}/.meta.json", mirror)
            except Exception as exc:
                if not isinstance(exc, Unreachable) and not is_connection_error(exc):
                    raise
                sftp = None
        if sftp is not None:
            with contextlib.suppress(Exception):
                sftp.close()
        return [o if o is not None else StartError("the start did not finish") for o in out]

    def _launch_outcome(self, task_dir: str, spawned: Answer, collected: Answer) -> Answer:
        """Which answer of a batch launch says what happened: a pid collected always wins; a
        launch that failed answers itself (its collect found nothing launched); a collect
        answer that cannot be read is read back from the host (``launched``)."""
        if collected.text("pid"):
            return collected
        if spawned.text("fail") not in (None, "answer"):
            return spawned
        if collected.text("fail") == "answer":
            return self._launch_answer(task_dir, ValueError("its answer could not be read"))
        return collected

    def _nested(
        self,
        scripts: dict[int, str],
        timeout: float,
        once: bool = False,
        head: tuple[str, ...] = (),
        share: str = "",
    ) -> dict[int, Answer]:
        """Run several scripts in one exec, in order, each in a subshell of its own (its values,
        exports and exit its own), and return each one's own framed answer.

        ``head``: shipped scripts the batch's shell runs first; ``share``: a variable they
        set, given to each script as ``$1`` (which no export of the script can change).
        Raises :class:`Unreachable` when the host cannot be reached or the answer is cut.
        ``once``: never sent twice (launches), even when the connection drops during it."""
        if not scripts:
            return {}
        # Every script runs before any answer is written, with SIGPIPE and SIGHUP ignored: a
        # connection lost meanwhile (the answers' writes fail) stops no launch half-way; each
        # task's own answer file then tells a read-back what happened. A subshell is a fork
        # and no exec: a batch's shell parses every script once, as one brace group.
        # The answers come back as two frames: their sizes (one wc) and all of them (one cat).
        body = "trap '' HUP PIPE\nt=$(mktemp -d) || { f fail mktemp; end; }\n"
        given = f'set -- "${{{share}:-}}"\n' if share else ""
        for n, script in scripts.items():
            body += f'(\n{given}{script}\nend\n) >"$t/{n}"\n'
        body += f'cd "$t" || {{ f fail mktemp; end; }}\nset -- {" ".join(str(n) for n in scripts)}\n'
        body += 'answers "$@"\ncd / && rm -rf -- "$t"\n'
        script = self._script(*head, values={}, tail=body)
        if once:
            try:
                out_bytes, err_bytes = self.session.exec(self.session.open(), script, timeout)
                answer = Answer.parse(out_bytes, err_bytes)
            except Unreachable:
                raise
            except Exception as exc:
                if not is_connection_error(exc) and not isinstance(exc, (ValueError, EOFError)):
                    raise
                self.session.close()
                raise Unreachable(
                    f"lost the connection to {self.host} while starting: {type(exc).__name__}: {exc}",
                    "check the host; the tasks may need 'openclaw-agent cleanup'",
                ) from None
        else:
            answer = self.session.run(script, timeout)
        if answer.text("fail"):
            raise Unreachable(f"cannot run scripts on {self.host}: mktemp failed", "check /tmp on that host")
        out: dict[int, Answer] = {}
        parts = _split_answers(answer, [str(n) for n in scripts])
        for n in scripts:
            try:
                out[n] = Answer.parse(parts[str(n)])
            except (ValueError, EOFError) as exc:  # CutShort: that task's script did not finish
                out[n] = Answer((("fail", b"answer"), ("detail", str(exc).encode())))
        return out

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

    def _prepared(self, answer: Answer, spec: Launch) -> tuple[str, str, str, str]:
        """The prepare script's answer: task dir, home, workspace and agent; or the StartError it means."""
        kind = answer.text("fail")
        detail = answer.text("detail") or ""
        if kind == "workspace":
            raise launch.workspace_missing(detail, self.host)
        if kind == "agent":
            raise launch.agent_missing(spec, self.config.name, self.host, remote_path=detail)
        if kind == "agent-perm":
            raise launch.agent_not_runnable(spec, detail, self.config.name, self.host)
        if kind == "root":
            raise launch.root_refused(
                spec, self.config.name, None if detail in ("", "(unset)") else detail, self.host
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
        values = [answer.text(k) for k in ("dir", "home", "ws", "agent")]
        if kind or not all(values):
            raise StartError(f"unexpected answer from {self.host} while preparing the task: {answer.shown()}")
        task_dir, home, workspace, agent_abs = (str(v) for v in values)
        return task_dir, home, workspace, agent_abs

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
        return {m["task_id"]: self._adopt(m, found.get(m["task_id"]), boot_text) for m in metas}

    def _adopt(self, meta: TaskRecord, seen: dict[str, bytes] | None, boot: str | None) -> Observation:
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
                    command=[launched.text("agent") or "", *(meta.get("command") or [])[1:]],
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

    def _judge(self, meta: TaskRecord, seen: dict[str, bytes] | None, boot: str | None) -> Observation:
        if seen is None:
            return Observation(alive=None, reason=f"no answer from {self.host} about this task")
        rc = seen.get("rc", b"").decode("ascii", "replace").strip()
        if rc.lstrip("-").isdigit():
            when = (seen.get("rctime") or b"").decode("ascii", "replace").strip()
            exited = stamp(float(when)) if re.fullmatch(r"\d+(\.\d+)?", when) else None
            obs = launch.exited(int(rc), seen.get("stdout", b""), seen.get("stderr", b""), exited)
            return launch.with_changes(obs, seen.get("changes"))
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
