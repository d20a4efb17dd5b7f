"""Batch submit: ``start --from tasks.jsonl``, one task per line.

Each line is one JSON object (``schemas/task-batch.schema.json``)::

    {"name": "build", "prompt": "Fix the build", "labels": ["rust"]}
    {"prompt_file": "review.md", "executor": "gpu-box", "agent": "codex", "after": "build"}

Every line is read and checked before anything is recorded: a bad line
refuses the whole batch with its line number (:class:`~openclaw.errors.UsageError`).
``after`` names a task id (or prefix), or the ``name`` of another line; a
cycle among the lines is refused too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from openclaw.agents.base import Controls
from openclaw.errors import UsageError
from openclaw.schema import first_problem

BATCH_SCHEMA = "task-batch.schema.json"
#: A batch file larger than this is refused (it is read whole, and checked first).
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class BatchTask:
    """One line of a batch, checked for form."""

    #: ``FILE:LINE``, for messages.
    where: str
    name: str | None
    prompt: bytes
    executor: str | None
    labels: list[str]
    workspace: str | None
    agent: str | None
    controls: Controls
    max_turns: int | None
    timeout_s: float | None
    priority: int
    after: str | None


def read_batch(path: str) -> list[BatchTask]:
    """The tasks of the batch file ``path`` (``-``: stdin), every line checked.

    Raises :class:`UsageError` naming the first bad line; nothing has been recorded then.
    """
    import sys

    shown = "stdin" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(
            f"--from {shown}: {exc.strerror or exc}", "give a JSON-lines file of tasks"
        ) from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"--from {shown}: larger than {MAX_BYTES >> 20} MiB", "split the batch")
    base = Path(path).parent if path != "-" else Path.cwd()
    tasks: list[BatchTask] = []
    names: dict[str, str] = {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        where = f"{shown}:{number}"
        task = _line(raw, where, base)
        if task.name is not None:
            if task.name in names:
                raise UsageError(f"{where}: the name {task.name!r} is taken by {names[task.name]}")
            names[task.name] = where
        tasks.append(task)
    if not tasks:
        raise UsageError(f"--from {shown}: no tasks in it", "one JSON object per line")
    return tasks


def _line(raw: bytes, where: str, base: Path) -> BatchTask:
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc})", "one JSON object per line") from None
    return task_of(obj, where, base)


def task_of(obj: object, where: str, base: Path | None) -> BatchTask:
    """One task from a decoded batch line (or an API request of the same shape), checked;
    ``base`` is where a ``prompt_file`` is read from (None: none may be given)."""
    from openclaw.durations import parse_duration

    found = first_problem(BATCH_SCHEMA, obj)
    if found:
        raise UsageError(f"{where}: {found[0]}: {found[1]}", "see the batch format in the README")
    assert isinstance(obj, dict)  # the schema says so
    if base is None and "prompt_file" in obj:
        raise UsageError(f"{where}: prompt_file is not taken here", "send the prompt's text as prompt")
    if ("prompt" in obj) == ("prompt_file" in obj):
        raise UsageError(f"{where}: give either prompt or prompt_file")
    if "executor" in obj and "labels" in obj:
        raise UsageError(f"{where}: give either executor or labels, not both", "labels pick the executor")
    if "prompt" in obj:
        prompt = obj["prompt"].encode()
    else:
        file = (base or Path.cwd()) / obj["prompt_file"]
        try:
            prompt = file.read_bytes()
        except OSError as exc:
            raise UsageError(f"{where}: prompt_file {str(file)!r}: {exc.strerror or exc}") from None
    if not prompt.strip():
        raise UsageError(f"{where}: the prompt is empty")
    budget = obj.get("max_budget_usd")
    if budget is not None and (not math.isfinite(budget) or budget <= 0):
        raise UsageError(f"{where}: max_budget_usd must be an amount above 0")
    timeout = obj.get("timeout")
    try:
        timeout_s = None if timeout is None else parse_duration(str(timeout), "timeout")
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", exc.hint) from None

    def tools(key: str) -> tuple[str, ...]:
        return tuple(t.strip() for t in obj.get(key, "").split(",") if t.strip())

    controls = Controls(
        model=obj.get("model"),
        max_budget_usd=budget,
        append_system_prompt=obj.get("append_system_prompt"),
        allowed_tools=tools("allowed_tools"),
        disallowed_tools=tools("disallowed_tools"),
        extra_args=tuple(obj.get("agent_args", ())),
    )
    return BatchTask(
        where=where,
        name=obj.get("name"),
        prompt=prompt,
        executor=obj.get("executor"),
        labels=list(obj.get("labels", [])),
        workspace=obj.get("workspace"),
        agent=obj.get("agent"),
        controls=controls,
        max_turns=obj.get("max_turns"),
        timeout_s=timeout_s,
        priority=int(obj.get("priority", 0)),
        after=obj.get("after"),
    )


def order(tasks: list[BatchTask]) -> list[int]:
    """Indexes of ``tasks`` with every line after the line it waits for (by name); raises
    :class:`UsageError` naming a line of a dependency cycle."""
    by_name = {t.name: n for n, t in enumerate(tasks) if t.name}
    done: list[int] = []
    state: dict[int, str] = {}
    for start in range(len(tasks)):
        stack = [start]
        while stack:
            n = stack[-1]
            if state.get(n) == "done":
                stack.pop()
                continue
            state[n] = "visiting"
            dep = by_name.get(tasks[n].after or "")
            if dep is not None and state.get(dep) != "done":
                if state.get(dep) == "visiting":
                    cycle = " -> ".join(str(tasks[i].name) for i in [*stack[stack.index(dep) :], dep])
                    raise UsageError(
                        f"{tasks[n].where}: a dependency cycle: {cycle}", "no task can wait for itself"
                    )
                stack.append(dep)
                continue
            state[n] = "done"
            done.append(n)
            stack.pop()
    return done
