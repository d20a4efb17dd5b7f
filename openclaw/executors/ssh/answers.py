"""The host's answers, read: what the start and observe scripts printed, as record fields,
observations, or the :class:`~openclaw.errors.StartError` they mean.

Pure functions of a framed :class:`~.protocol.Answer` (or of one task's frames of the
observe answer, see :func:`~.protocol.observations`): no connection is used here. The
executor (:mod:`.executor`) and the batch start (:mod:`.batch`) run the scripts and read
what came back with these.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, Protocol

from openclaw import launch
from openclaw.errors import StartError
from openclaw.executors.ssh.protocol import DEFAULT_REMOTE_ROOT, Answer
from openclaw.launch import read_pid_file
from openclaw.states import FINAL, Observation, stamp

if TYPE_CHECKING:
    from openclaw.agents.base import Launch
    from openclaw.config import ExecutorConfig
    from openclaw.task import TaskRecord


class Origin(Protocol):
    """Where an answer came from, for what its errors say: the executor (its config's name),
    its host and its ``remote_root`` (an :class:`~.executor.SSHExecutor`)."""

    host: str
    remote_root: str

    @property
    def config(self) -> ExecutorConfig: ...


def split_answers(answer: Answer, names: list[str]) -> dict[str, bytes]:
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


def prepared(answer: Answer, spec: Launch, origin: Origin) -> tuple[str, str, str, str]:
    """The prepare script's answer: task dir, home, workspace and agent; or the StartError it means."""
    host, name = origin.host, origin.config.name
    kind = answer.text("fail")
    detail = answer.text("detail") or ""
    if kind == "workspace":
        raise launch.workspace_missing(detail, host)
    if kind == "agent":
        raise launch.agent_missing(spec, name, host, remote_path=detail)
    if kind == "agent-perm":  # its detail is "WHY PATH" (prepare.sh)
        why, _, path = detail.partition(" ")
        if why not in launch.NOT_RUNNABLE or not path:
            why, path = "noexec", detail
        raise launch.agent_not_runnable(spec, path, name, host, why=why)
    if kind == "root":
        raise launch.root_refused(spec, name, None if detail in ("", "(unset)") else detail, host)
    if kind == "insecure":
        raise StartError(
            f"refusing remote_root on {host}: {detail}",
            f"other users of that host could read or replace the task's files; fix it (the "
            f"directory must be yours or root's, and writable by no one else: chmod go-w, or "
            f"remove it), or set remote_root of executor {name!r} to a directory of "
            f"your own, such as the default {DEFAULT_REMOTE_ROOT}",
        )
    if kind == "mkdir":
        raise StartError(
            f"cannot create the task directory on {host}: {detail}",
            f"check remote_root ({origin.remote_root}) of executor {name!r}",
        )
    values = [answer.text(k) for k in ("dir", "home", "ws", "agent")]
    if kind or not all(values):
        raise StartError(f"unexpected answer from {host} while preparing the task: {answer.shown()}")
    task_dir, home, workspace, agent_abs = (str(v) for v in values)
    return task_dir, home, workspace, agent_abs


def launched(answer: Answer, task_dir: str, origin: Origin) -> dict[str, Any]:
    """The launch's answer as record fields; or the StartError it means."""
    if answer.text("fail"):
        raise StartError(
            f"cannot launch on {origin.host}: {answer.text('fail')} {answer.text('detail') or ''}".strip(),
            f"check remote_root ({origin.remote_root}) of executor {origin.config.name!r}",
        )
    record = read_pid_file(answer.text("pid") or "")
    if record is None:
        log = " ".join((answer.text("log") or "").split())
        raise StartError(
            "the launcher did not start the agent" + (f": {log}" if log else ""),
            f"see {task_dir}/launcher.log on {origin.host}",
        )
    lpid, lstart, apid, _ = record
    return {
        "pid": lpid,
        "pid_start_time": lstart,
        "agent_pid": apid,
        "boot_id": (answer.text("boot") or "").strip() or None,
        "host": origin.host,
    }


def adopt(meta: TaskRecord, seen: dict[str, bytes] | None, boot: str | None, origin: Origin) -> Observation:
    """:func:`judge`, plus what ``start`` missed of a task whose launch answer it lost.

    The launch left its answer in the task directory (``launched``); it
    gives the fields ``start`` would have recorded (pid, start times, boot
    id, ...), so a task recorded pending can be followed and killed.
    """
    obs = judge(meta, seen, boot, origin)
    if meta.get("pid") is not None or meta["status"] in FINAL or not seen:
        return obs
    answer = seen.get("launched")
    try:
        if answer:
            found = Answer.parse(answer)
            fields = launched(found, "the task directory", origin)
            started = dict(
                fields,
                home=found.text("home"),
                workspace=found.text("ws"),
                command=[found.text("agent") or "", *(meta.get("command") or [])[1:]],
            )
            return dataclasses.replace(obs, started=started)
    except (StartError, ValueError, EOFError):  # EOFError: CutShort, e.g. over ff's size cap
        return obs  # the launcher did not start the agent: judged as never started
    # No answer written (its script was cut off after the launch): the pid file still says.
    record = read_pid_file(seen.get("pidfile", b"").decode("utf-8", "replace"))
    if record is None:
        return obs
    lpid, lstart, apid, _ = record
    pids = {"pid": lpid, "pid_start_time": lstart, "agent_pid": apid, "boot_id": boot, "host": origin.host}
    return dataclasses.replace(obs, started=pids)


def judge(meta: TaskRecord, seen: dict[str, bytes] | None, boot: str | None, origin: Origin) -> Observation:
    """One task, from its frames of the observe answer (None: the host said nothing of it) and
    the host's boot id: its exit (status, output tails, time), else whether it still runs."""
    host = origin.host
    if seen is None:
        return Observation(alive=None, reason=f"no answer from {host} about this task")
    rc = seen.get("rc", b"").decode("ascii", "replace").strip()
    if rc.lstrip("-").isdigit():
        when = (seen.get("rctime") or b"").decode("ascii", "replace").strip()
        exited = stamp(float(when)) if re.fullmatch(r"\d+(\.\d+)?", when) else None
        obs = launch.exited(int(rc), seen.get("stdout", b""), seen.get("stderr", b""), exited)
        return launch.with_changes(obs, seen.get("changes"))
    if meta.get("boot_id") and boot and meta["boot_id"] != boot:
        return Observation(alive=False, reason=f"{host} rebooted while the task ran")
    if seen.get("alive") == b"1":
        return Observation(alive=True)
    left = seen.get("left", b"0").strip()
    if left not in (b"", b"0"):
        why = f"the launcher is gone but {left.decode()} process(es) of the task still run on {host}"
        return Observation(alive=True, reason=why)
    if seen.get("dir") == b"0" and meta.get("pid") is not None:
        return Observation(alive=False, reason=f"the task directory on {host} is gone")
    if meta.get("pid") is not None:
        why = "the launcher was killed and the agent is gone, with no exit status recorded"
        return Observation(alive=False, reason=why)
    return Observation(alive=False)
