"""A git worktree and branch per task: making it, what the task changed, applying and pushing it.

git runs on the host where the agent runs (this machine, an SSH host; for a
container, the host side of its bind mount), through the shipped
``worktree.sh`` functions, which every executor runs the same way
(:meth:`openclaw.executors.base.Executor.host_script`). A task's worktree is
``<tasks root>/.worktrees/<task id>`` on that host: beside the records, so a
reboot keeps it and the user's ``git status`` never sees it. Its branch is
``openclaw/<first 8 hex digits of the id>`` unless ``--branch`` names one.

The record keeps ``worktree`` (repository, path, branch, base commit) from the
start, ``changes`` (base, head, files, insertions, deletions) once the task
ended, and ``push`` when its branch is to be pushed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

from openclaw.errors import ExecutorError, OpenclawError, UsageError

if TYPE_CHECKING:
    from openclaw.executors.base import Executor
    from openclaw.executors.ssh.protocol import Answer
    from openclaw.task import TaskRecord

#: How long one git script may take on its host.
SCRIPT_TIMEOUT_S = 300.0
#: The isolation values of the config (``isolation:``).
ISOLATIONS = ("none", "worktree")


class WorktreeDirty(UsageError):
    """A task's worktree holds changes not yet committed to its branch: ``cleanup`` keeps it."""


class ApplyConflict(OpenclawError):
    """``apply`` met conflicts: the checkout is left as git leaves a failed merge."""

    def __init__(self, task_id: str, target: str, files: list[str], detail: str) -> None:
        self.files = files
        shown = ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
        if files:
            message = f"applying task {task_id} to {target} left conflicts in: {shown}"
            hint = "resolve them (git status shows them; the markers are in the files), then commit"
        else:
            message = f"task {task_id}'s change does not apply to {target}: {detail}"
            hint = "bring the checkout closer to the task's base (git log), or apply by hand from 'diff'"
        super().__init__(message, hint)


@dataclasses.dataclass(frozen=True)
class Changes:
    """What a task changed: its base and head commits, files changed, lines inserted and deleted."""

    base: str
    head: str
    files: int
    insertions: int
    deletions: int

    @classmethod
    def parse(cls, line: str | bytes | None) -> Changes | None:
        """The launcher's ``changes`` line (``BASE HEAD FILES INS DEL``); None when it is not one."""
        if isinstance(line, bytes):
            line = line.decode("ascii", "replace")
        parts = (line or "").split()
        if len(parts) != 5 or not all(p.isdigit() for p in parts[2:]):
            return None
        if not all(len(p) >= 40 and all(c in "0123456789abcdef" for c in p) for p in parts[:2]):
            return None
        return cls(parts[0], parts[1], int(parts[2]), int(parts[3]), int(parts[4]))

    def as_json(self) -> dict[str, Any]:
        """The record's ``changes`` field."""
        return dataclasses.asdict(self)


def summary(meta: TaskRecord) -> str | None:
    """One line for ``status``: the branch and what changed on it, and the push; None without a worktree."""
    tree = meta.get("worktree")
    if not tree:
        return None
    ch = meta.get("changes")
    if ch:
        line = (
            f"{ch['files']} file{'s' if ch['files'] != 1 else ''} changed, +{ch['insertions']} "
            f"-{ch['deletions']} on {tree['branch']} ({ch['base'][:8]}..{ch['head'][:8]})"
        )
    else:
        line = f"on {tree['branch']} from {tree['base'][:8]}"
    push = meta.get("push")
    if push:
        if push.get("ref"):
            line += f"; pushed to {push['remote']} {push['ref']}"
        elif push.get("error"):
            line += f"; push to {push['remote']} failed: {push['error']}"
        else:
            line += f"; to be pushed to {push['remote']} when it completes"
    return line


def branch_for(task_id: str, branch: str | None = None) -> str:
    """The task's branch: ``branch``, else ``openclaw/<short id>``."""
    return branch or f"openclaw/{task_id[:8]}"


# -- running the scripts -------------------------------------------------------------------
def run_here(tail: str, values: dict[str, str | int], root: str, timeout: float = SCRIPT_TIMEOUT_S) -> Answer:
    """Run ``worktree.sh`` and ``tail`` on this machine (``root``: the tasks directory), as an
    SSH host would: the same prelude, the same framed answer."""
    from openclaw.executors.ssh.protocol import Answer, render, whole
    from openclaw.scripts import worktree

    script = whole(
        render("secure", values={"remote_root": root, **values}, pre=worktree(), tail=tail) + "\nend\n"
    )
    try:
        proc = subprocess.run(
            ["/bin/sh", "-s"], input=script.encode(), capture_output=True, timeout=timeout, cwd="/"
        )
    except subprocess.TimeoutExpired:
        raise ExecutorError("local", f"git took longer than {timeout:g} s") from None
    try:
        return Answer.parse(proc.stdout, proc.stderr)
    except ValueError as exc:
        raise ExecutorError("local", f"unreadable answer from git's script: {exc}") from None


def _where(backend: Executor) -> str:
    host = backend.git_host()
    return f" on {host}" if host else ""


#: What a script's ``fail`` frame means to a user: the message and the fix, formatted with the
#: frame's ``detail``, ``where`` (" on HOST") and ``doing`` (what was asked).
_FAILURES: dict[str, tuple[str, str]] = {
    "nogit": (
        "git is not installed{where} (PATH: {detail})",
        "install git there, or start without --worktree",
    ),
    "norepo": (
        "{detail}{where} is not in a git repository",
        "make it one (cd {detail} && git init && git add -A && git commit -m 'first commit'), "
        "or start without --worktree",
    ),
    "nostart": (
        "the task has no change to show: it ran without --worktree, in a workspace that was not "
        "a git checkout (or where git was missing, or on an executor that does not keep its start)",
        "start it with --worktree (or in a git checkout) to see what it changes",
    ),
    "gone": ("cannot {doing}: {detail}{where} is gone (cleaned up?)", ""),
    "nobase": ("cannot {doing}: commit {detail}{where} is not in the repository any more", ""),
}
#: ... and what it means while the worktree is being made (``start --worktree``).
_CREATE_FAILURES: dict[str, tuple[str, str]] = {
    "workspace": ("workspace not found{where}: {detail}", "pass an existing directory with --workspace"),
    "norepo": ("--worktree: " + _FAILURES["norepo"][0], _FAILURES["norepo"][1]),
    "nocommits": (
        "--worktree: the repository {detail}{where} has no commits yet",
        "a worktree branches from a commit: commit something first (git add -A && git commit -m "
        "'first commit'), or start without --worktree",
    ),
    "nobase": (
        "--base {detail!r} is not a commit in the repository{where}",
        "pass a branch, tag or commit that exists there (git branch -a; git log --oneline)",
    ),
    "badbranch": ("--branch {detail!r} is not a valid branch name", "see 'git check-ref-format --branch'"),
    "branch": (
        "branch {detail!r} already exists in the repository{where}",
        "pass another --branch, or delete it first (git branch -D {detail})",
    ),
}


def _failed(
    answer: Answer, backend: Executor, doing: str, meanings: dict[str, tuple[str, str]] | None = None
) -> None:
    """Raise what a script's ``fail`` frame means: a :class:`UsageError` for what the user can
    fix (``meanings`` first, then :data:`_FAILURES`), else an :class:`ExecutorError`."""
    kind = answer.text("fail")
    if not kind:
        return
    facts = {"detail": answer.text("detail") or "", "where": _where(backend), "doing": doing}
    known = (meanings or {}).get(kind) or _FAILURES.get(kind)
    if known is not None:
        raise UsageError(known[0].format(**facts), known[1].format(**facts) or None)
    raise ExecutorError(
        backend.config.name, f"cannot {doing}{facts['where']}: {kind} {facts['detail']}".strip()
    )


# -- start ---------------------------------------------------------------------------------
def create(
    backend: Executor, task_id: str, workspace: str, base: str | None, branch: str | None
) -> tuple[dict[str, str], str]:
    """Make task ``task_id``'s worktree from ``workspace`` (a checkout, or a directory in one) at
    ``base`` (default: its HEAD) on a new ``branch``; the record's ``worktree`` and the agent's
    working directory. Bad input is a :class:`UsageError`; nothing half-made is left."""
    name = branch_for(task_id, branch)
    values: dict[str, str | int] = {
        "workspace": workspace,
        "base": base or "",
        "branch": name,
        "name": task_id,
    }
    answer = backend.host_script("wt_create\n", values)
    _failed(answer, backend, "make the task's worktree", _CREATE_FAILURES)
    repo, commit, path, cwd = (answer.text(k) for k in ("repo", "base", "path", "cwd"))
    if not (repo and commit and path and cwd):
        raise ExecutorError(backend.config.name, f"unexpected answer making the worktree: {answer.shown()}")
    return {"repo": repo, "path": path, "branch": name, "base": commit}, cwd.rstrip("/") or "/"


def launcher_file(meta: TaskRecord) -> bytes | None:
    """The task directory's ``worktree`` file (``BASE BRANCH``) that has the launcher commit at
    exit; None for a task without a worktree."""
    tree = meta.get("worktree")
    return f"{tree['base']} {tree['branch']}\n".encode() if tree else None


def finish(backend: Executor, meta: TaskRecord) -> Changes | None:
    """Commit what task ``meta`` left in its worktree and measure its change: for an ended task
    whose launcher did not (a container; a launcher killed outright)."""
    tree = meta.get("worktree") or {}
    tail = (
        'if [ -d "$path" ]; then wt_unlock "$path"; wt_commit "$path" "$task_id" "$why"; src=$path\n'
        "else src=$repo; fi\n"
        'f changes "$(wt_changes "$src" "$base" 2>/dev/null)"\n'
    )
    values: dict[str, str | int] = {
        "path": tree["path"],
        "repo": tree["repo"],
        "base": tree["base"],
        "task_id": meta["task_id"],
        "why": f"the task ended {meta['status']}",
    }
    return Changes.parse(backend.host_script(tail, values).get("changes"))


# -- diff --------------------------------------------------------------------------------------
def _source(meta: TaskRecord) -> dict[str, str | int]:
    """Where a task's change lies, for the scripts: its worktree; or its workspace, and the commit
    it started from (which the launcher kept in the task directory on its host)."""
    tree = meta.get("worktree")
    if tree:
        return {"path": tree["path"], "repo": tree["repo"], "base": tree["base"], "branch": tree["branch"]}
    ws = meta["workspace"]
    return {"path": ws, "repo": ws, "base": "", "branch": "", "task_id": meta["task_id"]}


def diff(backend: Executor, meta: TaskRecord, mode: str) -> bytes | list[dict[str, Any]]:
    """What the task changed since its base, up to now (a running task's uncommitted work
    included): a patch, ``--stat``, ``--name-only`` (bytes), or for ``json`` one entry per file."""
    values = dict(_source(meta), mode=mode)
    answer = backend.host_script("wt_diff\n", values)
    _failed(answer, backend, "diff the task")
    if mode != "json":
        return answer.get("data") or b""
    return _files(answer.get("numstat") or b"", answer.get("data") or b"")


def _files(numstat: bytes, name_status: bytes) -> list[dict[str, Any]]:
    """``diff -z --numstat`` and ``diff -z --name-status`` as one entry per file."""
    statuses: dict[str, str] = {}
    fields = name_status.split(b"\0")
    i = 0
    while i < len(fields) and fields[i]:
        code = fields[i].decode()
        if code[:1] in "RC":
            statuses[os.fsdecode(fields[i + 2])] = code
            i += 3
        else:
            statuses[os.fsdecode(fields[i + 1])] = code
            i += 2
    names = {
        "A": "added",
        "M": "modified",
        "D": "deleted",
        "R": "renamed",
        "C": "copied",
        "T": "type changed",
    }
    out: list[dict[str, Any]] = []
    parts = numstat.split(b"\0")
    i = 0
    while i < len(parts) and parts[i]:
        added, deleted, path = parts[i].split(b"\t", 2)
        old = None
        if path == b"":  # a rename: the old and new paths follow
            old, path = os.fsdecode(parts[i + 1]), parts[i + 2]
            i += 3
        else:
            i += 1
        name = os.fsdecode(path)
        code = statuses.get(name, "M")
        entry: dict[str, Any] = {
            "path": name,
            "status": names.get(code[:1], code),
            "insertions": None if added == b"-" else int(added),
            "deletions": None if deleted == b"-" else int(deleted),
            "binary": added == b"-",
        }
        if old is not None:
            entry["old_path"] = old
        out.append(entry)
    return out


# -- apply -------------------------------------------------------------------------------------
def apply(backend: Executor, meta: TaskRecord, target: str | None, force: bool, root: str) -> str:
    """Bring the task's change into a checkout by a three-way merge: ``target`` on this machine,
    or by default the checkout it was started from, on its host. Returns the checkout applied to.

    A checkout with uncommitted changes is refused unless ``force``; a conflict raises
    :class:`ApplyConflict` naming the files, the checkout left as git leaves it."""
    task_id = meta["task_id"]
    flag = 1 if force else 0
    if target is None:
        tree = meta.get("worktree")
        into = tree["repo"] if tree else meta["workspace"]
        values = dict(_source(meta), target=into, force=flag)
        tail = (
            'patch=$(mktemp) || wt_fail tmp ""\n'
            'wt_source\nwt_git "$src" diff --binary --full-index "$base" "$tree" -- >"$patch"\n'
            'wt_apply\nrm -f -- "$patch"\n'
        )
        answer = backend.host_script(tail, values)
        where = _where(backend)
    else:
        into = os.path.realpath(os.path.expanduser(target))
        patch = diff(backend, meta, "binary")
        assert isinstance(patch, bytes)
        import tempfile

        with tempfile.NamedTemporaryFile(prefix="openclaw-patch-") as fh:
            fh.write(patch)
            fh.flush()
            answer = run_here("wt_apply\n", {"target": into, "force": flag, "patch": fh.name}, root)
        where = ""
    kind = answer.text("fail")
    detail = answer.text("detail") or ""
    if kind == "target":
        raise UsageError(
            f"cannot apply to {detail}{where}: no such directory", "pass an existing checkout with --to"
        )
    if kind == "dirty":
        lines = detail.splitlines()
        shown = (lines[0].strip() if lines else "") + (", ..." if len(lines) > 1 else "")
        raise UsageError(
            f"{into}{where} has uncommitted changes ({shown})",
            "commit or stash them first (git stash), or pass --force to apply on top of them",
        )
    _failed(answer, backend, "apply the task's change")
    if answer.text("empty"):
        raise UsageError(f"task {task_id} changed nothing: there is nothing to apply")
    if answer.text("rc") != "0":
        conflicts = [ln for ln in (answer.text("conflicts") or "").splitlines() if ln]
        out = " ".join((answer.text("out") or "").split())[-300:]
        raise ApplyConflict(task_id, into + where, conflicts, out)
    return into + where


# -- push --------------------------------------------------------------------------------------
def push(backend: Executor, meta: TaskRecord, remote: str) -> dict[str, Any]:
    """Push the task's branch to ``remote`` from the host where it ran, with that host's
    credentials; the record's ``push`` field (``ref`` when it worked, else ``error``)."""
    from openclaw.states import now

    tree = meta.get("worktree")
    if not tree:
        raise UsageError(
            f"task {meta['task_id']} has no branch of its own to push: it ran without --worktree",
            "start it with --worktree (and --push) to push what it changes",
        )
    values: dict[str, str | int] = {
        "path": tree["path"],
        "repo": tree["repo"],
        "branch": tree["branch"],
        "remote": remote,
    }
    answer = backend.host_script("wt_push\n", values)
    _failed(answer, backend, "push the task's branch")
    out = " ".join((answer.text("out") or "").split())
    ref = f"refs/heads/{tree['branch']}"
    if answer.text("rc") == "0":
        return {"remote": remote, "ref": ref, "head": None, "pushed_at": now(), "error": None}
    return {
        "remote": remote,
        "ref": None,
        "head": None,
        "pushed_at": None,
        "error": out[-300:] or "git push failed",
    }


# -- cleanup -----------------------------------------------------------------------------------
def remove(backend: Executor, meta: TaskRecord, force: bool, delete_branch: bool) -> None:
    """Remove the task's worktree (its branch too with ``delete_branch``). A worktree with changes
    not yet committed to the branch is kept, unless ``force``."""
    tree = meta.get("worktree") or {}
    values: dict[str, str | int] = {
        "path": tree["path"],
        "repo": tree["repo"],
        "branch": tree["branch"],
        "force": 1 if force else 0,
        "delete": 1 if delete_branch else 0,
    }
    answer = backend.host_script("wt_remove\n", values)
    if answer.text("fail") == "dirty":
        detail = answer.text("detail") or ""
        raise WorktreeDirty(
            f"task {meta['task_id']}'s worktree {tree['path']}{_where(backend)} has changes not "
            f"committed to {tree['branch']}: {json.dumps(detail.splitlines()[:3])}",
            "commit them in the worktree, or pass --force to remove it anyway (they are lost)",
        )
    _failed(answer, backend, "remove the task's worktree")
