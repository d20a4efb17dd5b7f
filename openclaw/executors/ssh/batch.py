"""Starting several tasks on one host at once: :meth:`.executor.SSHExecutor.start_many`.

Three steps for all of them, on one connection: one exec prepares every task
(each task's own prepare script, in a ``sh`` of its own), one SFTP session puts
every task's files, one exec launches them all. The scripts are the executor's
own (those :meth:`~.executor.SSHExecutor.start` sends one task at a time); what
comes back is read by :mod:`.answers`.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from openclaw import faults
from openclaw.errors import StartError
from openclaw.executors.ssh import answers
from openclaw.executors.ssh.protocol import LAUNCH_TIMEOUT_S, Answer, bad_env_name, check_id, task_files
from openclaw.executors.ssh.session import Unreachable, is_connection_error, put
from openclaw.scripts import standalone_launcher

if TYPE_CHECKING:
    from openclaw.agents.base import Launch
    from openclaw.executors.ssh.executor import SSHExecutor
    from openclaw.task import TaskRecord


def start_many(ex: SSHExecutor, items: list[tuple[TaskRecord, Launch]]) -> list[dict[str, Any] | StartError]:
    """Start ``items`` on ``ex``'s host in one prepare exec, one SFTP session and one launch
    exec. Each task's outcome is its own, as :meth:`~.executor.SSHExecutor.start` would give
    it; a connection lost during the launches is read back per task, so a task whose launch
    may have landed stays pending; a host that cannot be reached fails every task so."""
    try:
        return _start_many(ex, items)
    except Unreachable as exc:
        return [
            StartError(
                f"executor {ex.config.name!r}: {exc.problem}",
                exc.hint,
                task_id=m["task_id"],
                unreachable=True,
            )
            for m, _ in items
        ]


def _start_many(ex: SSHExecutor, items: list[tuple[TaskRecord, Launch]]) -> list[dict[str, Any] | StartError]:
    out: list[dict[str, Any] | StartError | None] = [None] * len(items)
    scripts: dict[int, str] = {}
    for n, (meta, spec) in enumerate(items):
        task_id = check_id(meta["task_id"])
        bad = bad_env_name(spec.env)
        if bad is not None:
            out[n] = StartError(f"not a valid environment variable name: {bad!r}", task_id=task_id)
        else:
            scripts[n] = ex._prepare_script(task_id, meta, spec)
    # 1. one exec: every task's checks and private directory.
    prepared: dict[int, tuple[str, str, str, str]] = {}
    timeout = ex.session.connect_timeout + 30 + len(scripts)
    found = _nested(ex, scripts, timeout, head=("secure", "batchroot"), share="root_ok")
    for n, answer in found.items():
        try:
            prepared[n] = answers.prepared(answer, items[n][1], ex)
        except StartError as exc:
            out[n] = exc
    faults.point("ssh.prepared")
    # 2. one SFTP session: every prepared task's prompt, env file and launcher.
    conn = ex.session.open()
    launcher = standalone_launcher()
    sftp: Any = None
    try:
        sftp = conn.client.open_sftp()
        for n, (task_dir, _, _, _) in prepared.items():
            meta, spec = items[n]
            prompt = ex.store.file(meta["task_id"], "prompt").read_bytes()
            for name, data in task_files(meta, spec.env, prompt, launcher):
                put(sftp, f"{task_dir}/{name}", data)
        faults.point("ssh.uploaded")
    except Exception as exc:
        if not is_connection_error(exc) and not isinstance(exc, (OSError, EOFError)):
            raise
        # Nothing was launched: take every task's files back (best effort), and say so.
        ex.session.close()
        for n, (task_dir, _, _, _) in prepared.items():
            gone = ex._remove_dir(task_dir)
            out[n] = StartError(
                f"lost the connection to {ex.host} before the launch: {type(exc).__name__}: {exc}",
                "start the task again" if gone else f"remove {task_dir} on {ex.host} by hand",
            )
        prepared = {}
    # 3. one exec: every launch, then every launch's answer once its pid is there. The
    # launchers start up side by side, so the waits for their pids overlap.
    scripts = {
        2 * n: ex._launch_script(task_dir, items[n][0]["task_id"], ws, agent_abs, items[n][1])
        for n, (task_dir, _, ws, agent_abs) in prepared.items()
    }
    scripts.update(
        (2 * n + 1, ex._collect_script(task_dir, home, ws, agent_abs))
        for n, (task_dir, home, ws, agent_abs) in prepared.items()
    )
    try:
        both = _nested(ex, scripts, 60 + LAUNCH_TIMEOUT_S * len(prepared), once=True)
        launched = {}
        for n, (task_dir, _, _, _) in prepared.items():
            try:
                launched[n] = _launch_outcome(ex, task_dir, both[2 * n], both[2 * n + 1])
            except StartError as failed:
                out[n] = failed
    except Unreachable as exc:
        launched = {}
        for n, (task_dir, _, _, _) in prepared.items():
            try:
                launched[n] = ex._launch_answer(task_dir, exc)
            except StartError as failed:
                out[n] = failed
    for n, answer in launched.items():
        task_dir, home, ws, agent_abs = prepared[n]
        meta, spec = items[n]
        try:
            fields = answers.launched(answer, task_dir, ex)
        except StartError as exc:
            out[n] = exc
            continue
        out[n] = dict(fields, home=home, workspace=ws, command=[agent_abs, *spec.argv[1:]])
        mirror = json.dumps(dict(meta, **fields, status="running"), indent=2).encode() + b"\n"
        try:  # the host's copy of the record is a convenience, not a reason to fail
            sftp = sftp or ex.session.open().client.open_sftp()
            put(sftp, f"{task_dir}/.meta.json", mirror)
        except Exception as exc:
            if not isinstance(exc, Unreachable) and not is_connection_error(exc):
                raise
            sftp = None
    if sftp is not None:
        with contextlib.suppress(Exception):
            sftp.close()
    return [o if o is not None else StartError("the start did not finish") for o in out]


def _launch_outcome(ex: SSHExecutor, task_dir: str, spawned: Answer, collected: Answer) -> Answer:
    """Which answer of a batch launch says what happened: a pid collected always wins; a
    launch that failed answers itself (its collect found nothing launched); a collect
    answer that cannot be read is read back from the host (``launched``)."""
    if collected.text("pid"):
        return collected
    if spawned.text("fail") not in (None, "answer"):
        return spawned
    if collected.text("fail") == "answer":
        return ex._launch_answer(task_dir, ValueError("its answer could not be read"))
    return collected


def _nested(
    ex: SSHExecutor,
    scripts: dict[int, str],
    timeout: float,
    once: bool = False,
    head: tuple[str, ...] = (),
    share: str = "",
) -> dict[int, Answer]:
    """Run several scripts in one exec on ``ex``'s host, in order, each in a subshell of its
    own (its values, exports and exit its own), and return each one's own framed answer.

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
    script = ex._script(*head, values={}, tail=body)
    if once:
        try:
            out_bytes, err_bytes = ex.session.exec(ex.session.open(), script, timeout)
            answer = Answer.parse(out_bytes, err_bytes)
        except Unreachable:
            raise
        except Exception as exc:
            if not is_connection_error(exc) and not isinstance(exc, (ValueError, EOFError)):
                raise
            ex.session.close()
            raise Unreachable(
                f"lost the connection to {ex.host} while starting: {type(exc).__name__}: {exc}",
                "check the host; the tasks may need 'openclaw-agent cleanup'",
            ) from None
    else:
        answer = ex.session.run(script, timeout)
    if answer.text("fail"):
        raise Unreachable(f"cannot run scripts on {ex.host}: mktemp failed", "check /tmp on that host")
    out: dict[int, Answer] = {}
    parts = answers.split_answers(answer, [str(n) for n in scripts])
    for n in scripts:
        try:
            out[n] = Answer.parse(parts[str(n)])
        except (ValueError, EOFError) as exc:  # CutShort: that task's script did not finish
            out[n] = Answer((("fail", b"answer"), ("detail", str(exc).encode())))
    return out
