"""The commands as calls that take and give JSON, shared by the MCP server and the web API.

Each function is a thin call of one :class:`~openclaw.manager.Manager` method,
and returns the object the CLI's ``--json`` prints for it (or, for a listing,
``{"tasks": [...], "total": N}``), so that the CLI, ``openclaw-agent mcp``
and ``serve --http`` give one shape. Bad input raises the library's own
:class:`~openclaw.errors.UsageError`, with its one-line message and fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from openclaw import states
from openclaw.errors import UsageError

if TYPE_CHECKING:
    from openclaw.manager import Manager
    from openclaw.task import Observed

#: ``diff`` modes by the name the API takes; the value is :meth:`Manager.diff`'s.
DIFF_MODES = {"stat": "stat", "patch": "patch", "name-only": "name-only", "files": "json"}


def start(manager: Manager, request: object) -> dict[str, Any]:
    """Start one task described as a line of ``start --from`` (``schemas/task-batch.schema.json``,
    the prompt as text): its record."""
    from openclaw.batch import task_of

    task = task_of(request, "request", None)
    return dict(
        manager.start(
            task.prompt,
            task.executor,
            task.workspace,
            task.max_turns,
            agent=task.agent,
            controls=task.controls,
            timeout_s=task.timeout_s,
            labels=task.labels,
            priority=task.priority,
            after=task.after,
        )
    )


def status(manager: Manager, task_id: str) -> dict[str, Any]:
    """``status --json``: the task's record, observed now, and its resume chain."""
    view = manager.observe(task_id)
    return dict(view.as_json(), chain=manager.chain(view.record))


def logs(
    manager: Manager, task_id: str, offset: int = 0, source: str = "stdout", limit: int = 200
) -> dict[str, Any]:
    """The task's normalised entries from byte ``offset`` of ``source`` on (``logs --json``'s
    entries), with the offset to ask for next and whether all was read of an ended task."""
    meta, entries, after = manager.entries_from(task_id, offset, source, limit)
    return {
        "task_id": meta["task_id"],
        "status": meta["status"],
        "entries": [e.to_json() for e in entries],
        "offset": offset,
        "next_offset": after,
        "done": meta["status"] in states.FINAL and after == offset and not entries,
    }


def tasks(
    manager: Manager,
    status: str | None = None,
    executor: str | None = None,
    label: str | None = None,
    limit: int | None = None,
    looked: Mapping[str, Observed] | None = None,
) -> dict[str, Any]:
    """``list --json``, newest first, as ``{tasks, total}``; ``label`` keeps the tasks whose
    executor carries it or that were routed by it; ``total`` counts before ``limit``."""
    if limit is not None and limit < 0:
        raise UsageError(f"limit must be 0 or more, not {limit}")
    views, _ = manager.list_tasks(status, executor, looked)
    shown = [v.as_json() for v in views]
    if label:
        shown = [t for t in shown if label in labels_of(t)]
    return {"tasks": shown if limit is None else shown[:limit], "total": len(shown)}


def labels_of(record: Mapping[str, Any]) -> set[str]:
    """The labels a task is known by: its executor's, and those it was routed by."""
    return {*(record.get("labels") or ()), *((record.get("routing") or {}).get("labels") or ())}


def executors(manager: Manager) -> dict[str, Any]:
    """``executors --json`` as ``{executors}``: each with its agents, labels and load."""
    return {"executors": manager.executors()}


def kill(manager: Manager, task_id: str, grace: float = 10) -> dict[str, Any]:
    """Stop the task (SIGTERM, SIGKILL after ``grace``): its record, with ``killed`` saying
    whether this call stopped it (false: it had already ended)."""
    meta, killed = manager.kill(task_id, grace)
    return dict(meta, killed=killed)


def resume(manager: Manager, task_id: str, prompt: str) -> dict[str, Any]:
    """Continue a finished task's conversation: the new task's record."""
    if not prompt.strip():
        raise UsageError("the prompt is empty", "say what the agent should do next")
    return dict(manager.resume(task_id, prompt.encode()))


def cleanup(
    manager: Manager, task_id: str, force: bool = False, delete_branch: bool = False
) -> dict[str, Any]:
    """Remove the task's record and files: the id removed and what was left behind."""
    removed, left = manager.cleanup(task_id, force, delete_branch=delete_branch)
    return {"removed": removed, "warnings": list(left)}


def diff(manager: Manager, task_id: str, mode: str = "stat") -> dict[str, Any]:
    """What the task changed: a diffstat, the patch, the names, or each file (``mode``)."""
    if mode not in DIFF_MODES:
        raise UsageError(f"unknown mode {mode!r}", f"use one of: {', '.join(DIFF_MODES)}")
    meta, out = manager.diff(task_id, DIFF_MODES[mode])
    if isinstance(out, list):
        return {"task_id": meta["task_id"], "files": out}
    return {"task_id": meta["task_id"], "diff": out.decode("utf-8", "replace")}
