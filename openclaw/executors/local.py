"""The local executor: runs the agent on this machine, detached, through the launcher."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openclaw import faults, launch, procs
from openclaw.agents.base import Launch
from openclaw.errors import StartError
from openclaw.executors.base import Executor
from openclaw.launch import PidRecord, read_pid_file
from openclaw.paths import package_file
from openclaw.states import Observation, stamp
from openclaw.tail import tail_bytes, tail_lines
from openclaw.task import TaskRecord

if TYPE_CHECKING:
    from openclaw.records import TaskStore
    from openclaw.watch import Alarm, TaskWatch

#: How long ``start`` waits for the launcher to report the agent's pid.
LAUNCH_TIMEOUT_S = 10.0
#: How much of the end of stdout is read to find the result event.
RESULT_TAIL_BYTES = 256 * 1024


def _present_but_not_runnable(name: str, path: str, found: str | None = None) -> tuple[str, str] | None:
    """Why ``name`` (a path, or a command looked up on ``path``) may be there but cannot be run.

    ``found`` is what the lookup found (``shutil.which``). The answer is ``(WHY, PATH)``, as
    :func:`openclaw.launch.agent_not_runnable` takes them: ``noexec`` (there, not an executable
    file), ``noread`` (executable but not readable: a script's interpreter must read it) or
    ``search`` (PATH is a directory on the way to ``name`` that cannot be entered).
    """
    if found is not None:
        return None if os.access(found, os.R_OK) else ("noread", found)
    if os.sep in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in path.split(os.pathsep)]
    for candidate in candidates:
        if os.path.lexists(candidate) and not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            return "noexec", candidate
    if os.sep in name:  # the first directory on its way, from the top, that cannot be entered
        at = os.sep if name.startswith(os.sep) else ""
        for part in name.split(os.sep)[:-1]:
            if part in ("", "."):
                continue
            at = os.path.join(at, part)
            if not os.path.isdir(at):
                break
            if not os.access(at, os.X_OK):
                return "search", at
    return None


def _task_file(store: TaskStore, task_id: str, name: str) -> str | None:
    """The text of the task's file ``name``; None while there is none."""
    try:
        return store.file(task_id, name).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _pid_record(store: TaskStore, task_id: str) -> PidRecord | None:
    """What the task's pid file says (None before its launcher wrote one)."""
    text = _task_file(store, task_id, "pid")
    return read_pid_file(text) if text else None


def _kill(record: PidRecord | None, pid: int | None, start: int | None, task_id: str, grace: float) -> None:
    """Stop the task's processes: by its recorded launcher, else its pid file's, else its tag."""
    if pid is None and record is not None:
        pid, start = record[0], record[1]
    agent = ((record[2], record[3]),) if record is not None and record[2] else ()
    procs.kill_task_processes(pid, start, task_id, grace, also=agent)


class LocalExecutor(Executor):
    """Runs agents on this machine; the task directory is the record's own directory."""

    type = "local"
    standalone = True
    here = True

    @classmethod
    def kill_unrecorded(cls, store: TaskStore, task_id: str, grace: float) -> None:
        """Its pid file, else its environment tag, finds the task's processes on this machine."""
        _kill(_pid_record(store, task_id), None, None, task_id, grace)

    def normalize_workspace(self, workspace: str | None) -> str:
        """An absolute, symlink-free path on this machine (default: the current directory).

        Symlinks are resolved because Claude Code resolves its cwd before
        naming the transcript's project directory.
        """
        return os.path.realpath(os.path.expanduser(workspace if workspace is not None else os.getcwd()))

    def start(self, meta: TaskRecord, spec: Launch) -> dict[str, Any]:
        """Check the workspace, the agent binary and the root rule, then launch detached."""
        argv = spec.argv
        task_id = meta["task_id"]
        workspace = meta["workspace"]
        if not procs.supported():
            raise StartError(
                f"the local executor runs agents on Linux only (the launcher reads /proc): {sys.platform}",
                "dispatch from this machine to an ssh or container executor instead",
            )
        if not os.path.isdir(workspace):
            raise launch.workspace_missing(workspace)
        full_env = dict(os.environ)
        full_env.update(spec.env)
        # Set from the launcher's exec on (the launcher sets it too), so that a launcher whose
        # pid was never recorded is still found by its environment.
        full_env[procs.TASK_ENV] = task_id
        binary = shutil.which(argv[0], path=full_env.get("PATH", os.defpath))
        there = _present_but_not_runnable(argv[0], full_env.get("PATH", os.defpath), binary)
        if there:
            raise launch.agent_not_runnable(spec, there[1], self.config.name, why=there[0])
        if binary is None:
            raise launch.agent_missing(spec, self.config.name)
        if os.geteuid() == 0 and launch.refuses_root(spec, full_env):
            raise launch.root_refused(spec, self.config.name, full_env.get(spec.root_var or ""))
        task_dir = self.store.path(task_id)
        argv = [binary, *argv[1:]]
        # plumbum builds the argv (no shell string); the launcher leads a new
        # session, and every stream goes to a file, never a pipe.
        from openclaw.lazy import plumbum_local

        launcher = plumbum_local()["/bin/sh"].bound_command(
            str(package_file("launcher.sh")),
            str(task_dir),
            workspace,
            task_id,
            launch.timeout_arg(spec.timeout_s),
            "--",
            *argv,
        )
        if spec.on_exit:
            _write_on_exit(task_dir, spec, full_env)
        log_fd = os.open(task_dir / "launcher.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(log_fd, "ab") as log:
            # Spawned with subprocess, not launcher.popen(): plumbum's Popen wrapper
            # waits up to 0.2 s for the process when it is garbage-collected.
            proc = subprocess.Popen(
                launcher.formulate(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=str(task_dir),
                env=full_env,
                start_new_session=True,
                close_fds=True,
            )
        faults.point("local.spawned")
        pid_file = task_dir / "pid"
        deadline = time.monotonic() + LAUNCH_TIMEOUT_S
        record = None
        while time.monotonic() < deadline:
            try:
                record = read_pid_file(pid_file.read_text())
            except FileNotFoundError:
                record = None
            if record is not None or proc.poll() is not None:
                break
            time.sleep(0.001)
        if record is None:
            self._roll_back(task_id, proc)
            detail = (task_dir / "launcher.log").read_text(errors="replace").strip()
            raise StartError(
                "the launcher did not start the agent" + (f": {detail[-300:]}" if detail else ""),
                "see the task's launcher.log",
            )
        return dict(self._started(record), command=argv)

    @staticmethod
    def _started(record: PidRecord) -> dict[str, Any]:
        """The record fields a launch gives, from the launcher's pid file."""
        lpid, lstart, apid, _ = record
        return {
            "pid": lpid,
            "pid_start_time": lstart,
            "agent_pid": apid,
            "boot_id": procs.boot_id(),
            "host": os.uname().nodename,  # socket.gethostname(), without loading socket
            "home": os.path.expanduser("~"),
        }

    def _roll_back(self, task_id: str, proc: subprocess.Popen[bytes]) -> None:
        """Stop a launch that did not report its pid, and make sure nothing of it is left.

        Raises a pending :class:`StartError` when something survives SIGKILL:
        then the task is not over, and must not be recorded so.
        """
        st = procs.stat(proc.pid)
        start = st.start_time if st is not None else None
        procs.kill_task_processes(proc.pid, start, task_id, grace=1.0)
        proc.poll()
        left = procs.task_processes(proc.pid, start, task_id)
        if left:
            raise StartError(
                "the launcher did not report the agent's pid, and "
                f"{len(left)} process(es) of the task survived SIGKILL",
                "the task stays pending; 'openclaw-agent kill' tries again",
                pending=True,
            )

    def observe(self, metas: list[TaskRecord]) -> dict[str, Observation]:
        """Read each task's rc and pid files and check its launcher in /proc."""
        boot = procs.boot_id()
        return {m["task_id"]: self._observe_one(m, boot) for m in metas}

    def _observe_one(self, meta: TaskRecord, boot: str | None) -> Observation:
        task_id = meta["task_id"]
        finished = self._finished(task_id)
        if finished is not None:
            return finished
        started: dict[str, Any] | None = None
        record = None
        pid, start = meta.get("pid"), meta.get("pid_start_time")
        if pid is None:
            record = _pid_record(self.store, task_id)
            if record is not None:
                # Recorded by the launcher but not by start (interrupted): adopt it.
                started = dict(self._started(record), boot_id=boot)
                pid, start = record[0], record[1]
        if meta.get("boot_id") and boot and meta["boot_id"] != boot:
            return Observation(alive=False, reason="the machine rebooted while the task ran")
        if pid is not None and procs.is_alive(pid, start):
            return Observation(alive=True, started=started)
        # The launcher is gone (or never recorded): it may have written rc just before exiting.
        finished = self._finished(task_id)
        if finished is not None:
            return dataclasses.replace(finished, started=started)
        record = record or _pid_record(self.store, task_id)
        agent = (record[2], record[3]) if record is not None and record[2] else None
        left = procs.task_processes(pid, start, task_id, also=(agent,) if agent else ())
        if left:
            why = "the launcher is gone but processes of the task still run" if pid else None
            return Observation(alive=True, started=started, reason=why)
        if pid is None:
            return Observation(alive=False)  # never launched (or not yet): the manager judges which
        why = "the launcher was killed and the agent is gone, with no exit status recorded"
        return Observation(alive=False, started=started, reason=why)

    def _finished(self, task_id: str) -> Observation | None:
        """The outcome, when the launcher has written the agent's exit status."""
        rc_text = self._read("rc", task_id)
        if rc_text is None or not rc_text.strip().lstrip("-").isdigit():
            return None
        try:
            exited: str | None = stamp(os.stat(self.store.file(task_id, "rc")).st_mtime)
        except OSError:
            exited = None
        obs = launch.exited(
            int(rc_text),
            tail_bytes(self.store.file(task_id, "stdout"), RESULT_TAIL_BYTES),
            b"\n".join(tail_lines(self.store.file(task_id, "stderr"), 5)),
            exited,
        )
        return launch.with_changes(obs, self._read("changes", task_id))

    def _read(self, name: str, task_id: str) -> str | None:
        return _task_file(self.store, task_id, name)

    def watch(self, meta: TaskRecord, stream: str | None = None) -> TaskWatch | None:
        """inotify on the task directory and a pidfd of the launcher (see :mod:`openclaw.watch`)."""
        from openclaw.watch import watch_task

        if not meta.get("pid"):
            return None  # nothing to know its end by
        directory = str(self.store.path(meta["task_id"]))
        return watch_task(directory, meta.get("pid"), meta.get("pid_start_time"), stream is not None)

    def alarm(self, metas: list[TaskRecord], since: float) -> Alarm | None:
        """A pidfd of each launcher (one killed outright writes no ``rc``). Their ordinary
        ends need nothing here: each launcher appends to the store's ``.ended``, which serve
        follows by inotify."""
        from openclaw.watch import PidfdAlarm

        if not hasattr(os, "pidfd_open"):
            return None
        return PidfdAlarm({m["task_id"]: (m.get("pid"), m.get("pid_start_time")) for m in metas})

    def kill(self, meta: TaskRecord, grace: float) -> None:
        """Signal the launcher's group and session, the agent, their descendants and env-tagged processes.

        Works without a recorded pid too (a start that was interrupted): then
        the pid file, or else the task's environment tag, finds them.
        """
        if meta.get("boot_id") and meta["boot_id"] != procs.boot_id():
            return  # rebooted: nothing of it is left
        _kill(
            _pid_record(self.store, meta["task_id"]),
            meta.get("pid"),
            meta.get("pid_start_time"),
            meta["task_id"],
            grace,
        )

    def tail(self, meta: TaskRecord, stream: str, lines: int) -> list[bytes]:
        """The last lines of the task's stdout or stderr file."""
        return tail_lines(self.store.file(meta["task_id"], stream), lines)

    def read_from(self, meta: TaskRecord, stream: str, offset: int) -> tuple[bytes, int]:
        """New bytes of the task's stream since ``offset``."""
        return self.read_path(meta, str(self.store.file(meta["task_id"], stream)), offset)

    def read_path(self, meta: TaskRecord, path: str, offset: int) -> tuple[bytes, int]:
        """New bytes of a file on this machine since ``offset``."""
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return b"", offset
        return data, offset + len(data)

    def size(self, meta: TaskRecord, stream: str) -> int:
        """Size of the task's stream file (0 when it does not exist yet)."""
        try:
            return os.stat(self.store.file(meta["task_id"], stream)).st_size
        except FileNotFoundError:
            return 0


def _write_on_exit(task_dir: Path, spec: Launch, env: dict[str, str]) -> None:
    """The launcher's hook (``on-exit``, 0600): ``spec.on_exit``, run with this dispatcher's
    environment but not the task's: its tag and the values its executor set are unset."""
    import shlex

    added = sorted(n for n, v in spec.env.items() if os.environ.get(n) != v and n.isidentifier())
    lines = [
        "# written by openclaw-agent: the launcher runs this when the agent exits with tasks queued",
        f"unset {procs.TASK_ENV} {' '.join(added)}".rstrip(),
        f"exec {shlex.join(spec.on_exit)}",
    ]
    fd = os.open(task_dir / "on-exit", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
