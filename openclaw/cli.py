"""The commands, as invoke tasks: parse flags, call :class:`~openclaw.manager.Manager`, render.

The same collection serves the ``openclaw-agent`` program and ``inv`` in a
checkout (tasks.py). :func:`command` is the single error boundary: every
:class:`~openclaw.errors.OpenclawError` becomes a one-line message and its
exit code, for both.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from openclaw.errors import (
    OUTCOME_CODES,
    ExitCode,
    OpenclawError,
    StartError,
    UnknownTaskError,
    UsageError,
    WaitTimeout,
)
from openclaw.manager import DEFAULT_GRACE_S, MAX_SECONDS, Manager
from openclaw.records import UUID_RE

if TYPE_CHECKING:
    from openclaw.agents.base import Controls
    from openclaw.task import TaskRecord

F = TypeVar("F", bound=Callable[..., Any])

PROG = "openclaw-agent"
#: ``--follow`` without a value: how often the output is polled, in seconds.
FOLLOW_INTERVAL_S = 0.2


def command(**task_kwargs: Any) -> Callable[[F], Any]:
    """Make ``fn`` an invoke task whose user errors exit cleanly with one line.

    Automatic short flags are off: invoke would give ``--prompt`` ``-p`` and
    ``--follow`` ``-f``, colliding with its core flags.
    """

    def decorate(fn: F) -> Any:
        @functools.wraps(fn)
        def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(c, *args, **kwargs)
            except OpenclawError as exc:
                raise Exit(f"{PROG}: error: {exc.one_line()}", code=int(exc.exit_code)) from None
            except KeyboardInterrupt:
                raise Exit(code=int(ExitCode.INTERRUPTED)) from None
            except BrokenPipeError:
                # The reader went away (| head): stop quietly, as a filter should.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                raise Exit(code=0) from None

        return task(auto_shortflags=False, **task_kwargs)(wrapper)

    return decorate


def _manager(c: Context) -> Manager:
    from openclaw.config import load

    path = c.config.get("openclaw", {}).get("config") if "openclaw" in c.config else None
    return Manager(lambda: load(path))


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _int(value: Any, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} takes a whole number, not {_shown(value)}", f"e.g. {flag}=10") from None


def _shown(value: Any) -> str:
    """``value`` for an error line: repr, cut short (a flag value may be of any length)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _seconds(value: Any, flag: str, default: float, zero: bool = False) -> float:
    """A flag's number of seconds: finite, more than 0 (or 0 too, with ``zero``), at most a year.

    ``None`` (flag not given) and ``True`` (given without a value) mean ``default``.
    """
    if value is None or value is True:
        return default
    hint = f"e.g. {flag}=5, or {flag}=0 for none" if zero else f"e.g. {flag}=5 or {flag}=0.5"
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        if isinstance(value, str) and value[-1:] in ("s", "m", "h", "d") and value[:1].isdigit():
            from openclaw.durations import parse_duration

            return parse_duration(value, flag)  # 90s, 30m, 2h
        raise UsageError(f"{flag} takes a number of seconds, not {_shown(value)}", hint) from None
    if not math.isfinite(seconds):
        raise UsageError(f"{flag} takes a finite number of seconds, not {_shown(value)}", hint)
    if seconds < 0 or (seconds == 0 and not zero):
        rule = "must not be negative" if zero else "must be more than 0 seconds"
        raise UsageError(f"{flag} {rule}, not {_shown(value)}", hint)
    if seconds > MAX_SECONDS:
        raise UsageError(
            f"{flag} must be at most {MAX_SECONDS:.0f} seconds (a year), not {_shown(value)}", hint
        )
    return seconds


def _read_prompt(prompt: str | None, prompt_file: str | None) -> bytes:
    if prompt is not None and prompt_file is not None:
        raise UsageError("give either --prompt or --prompt-file, not both")
    if prompt == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError(
                "--prompt - reads the prompt from stdin, but stdin is a terminal",
                "pipe the prompt in, or use --prompt TEXT / --prompt-file PATH",
            )
        return sys.stdin.buffer.read()
    if prompt is not None:
        return os.fsencode(prompt)  # the exact bytes given, even if not UTF-8
    if prompt_file is not None:
        try:
            with open(os.path.expanduser(prompt_file), "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read --prompt-file {prompt_file}: {exc.strerror}") from None
    raise UsageError("no prompt given", "pass --prompt TEXT, --prompt-file PATH or --prompt -")


def _warn_corrupt(bad: list[OpenclawError]) -> None:
    for exc in bad:
        _err(f"{PROG}: warning: {exc.one_line()} (skipped)")


# ---------------------------------------------------------------------------- commands
_WAIT_HELP = {
    "wait": "block until the task ends; the exit code mirrors the outcome (see README)",
    "follow": "print the agent's output while waiting; --follow=SECS polls every SECS",
    "wait_timeout": "with --wait: give up waiting after SECS (exit 7); the task keeps running",
    "kill_on_timeout": "with --wait-timeout: kill the task when it passes",
}
_CONTROL_HELP = {
    "timeout": "wall-clock limit (90s, 30m, 2h), enforced where the agent runs: then it is "
    "stopped and the task fails 'timed out after ...'",
    "model": "the model, passed to the agent's own model flag",
    "max_budget_usd": "spend cap in USD (claude: --max-budget-usd); other agents refuse it",
    "append_system_prompt": "text added to the agent's system prompt (claude)",
    "allowed_tools": "tools allowed without asking, comma-separated (claude)",
    "disallowed_tools": "tools removed, comma-separated (claude)",
    "agent_arg": "one of the agent's own flags, passed as it is (repeat for several); "
    "argv is visible to every user of the host: never a secret",
}


def _controls(
    model: str | None = None,
    max_budget_usd: str | None = None,
    append_system_prompt: str | None = None,
    allowed_tools: str | None = None,
    disallowed_tools: str | None = None,
    agent_arg: list[str] | None = None,
    argv: tuple[str, ...] = (),
) -> Controls:
    """The task controls given as flags, checked for form (the agent checks which it has)."""
    from openclaw.agents.base import Controls

    budget = None
    if max_budget_usd is not None:
        try:
            budget = float(max_budget_usd)
        except ValueError:
            budget = math.nan
        if not math.isfinite(budget) or budget <= 0:
            raise UsageError(
                f"--max-budget-usd takes an amount of US dollars above 0, not {_shown(max_budget_usd)}",
                "e.g. --max-budget-usd 2.50",
            )
    if model is not None and (not model.strip() or model.startswith("-")):
        raise UsageError(f"--model takes a model name, not {_shown(model)}", "e.g. --model sonnet")

    def tools(value: str | None) -> tuple[str, ...]:
        return tuple(t.strip() for t in (value or "").split(",") if t.strip())

    return Controls(
        model=model,
        max_budget_usd=budget,
        append_system_prompt=append_system_prompt,
        allowed_tools=tools(allowed_tools),
        disallowed_tools=tools(disallowed_tools),
        extra_args=tuple(agent_arg or ()),
        argv=argv,
    )


_NOTIFY_HELP = (
    "POST the final record to this http(s) URL when the task ends (repeat for more), "
    "beside the config's notify:"
)

_GIT_HELP = {
    "worktree": "run the task in a git worktree and branch of its own (openclaw/<short id>), made "
    "from the workspace's checkout; 'diff', 'apply' and 'push' act on it",
    "base": "with --worktree: the commit, branch or tag to start from (default: the workspace's HEAD)",
    "branch": "with --worktree: the branch to make (default: openclaw/<short id>)",
    "push": "with --worktree: push the task's branch to REMOTE (default origin) when it completes, "
    "from the host where it ran",
}


def _git(worktree: bool, base: str | None, branch: str | None, push: Any) -> dict[str, Any]:
    """The worktree flags as :meth:`Manager.start` takes them."""
    if push is True:
        push = "origin"
    if isinstance(push, str) and (not push.strip() or push.startswith("-")):
        raise UsageError(f"--push takes a remote name or URL, not {_shown(push)}", "e.g. --push origin")
    return {"worktree": True if worktree else None, "base": base, "branch": branch, "push": push or None}


def _timeout(value: str | None) -> float | None:
    from openclaw.durations import parse_duration

    return None if value is None else parse_duration(value, "--timeout")


@command(
    help={
        "executor": "executor name (default: 'local', else the only one configured)",
        "label": "route to an executor carrying this label (repeat: all must match); not with --executor",
        "priority": "queue order when executors are full: higher first (default 0)",
        "after": "start only once task ID has completed (it fails if ID fails, is killed or lost)",
        "from": "start every task of a JSON-lines file (- for stdin), one object per line; prints one "
        "JSON line per task",
        "dry_run": "show which executor would take the task, and start nothing",
        "agent": "the agent: claude, codex, gemini, opencode (default: the executor's, then claude)",
        "prompt": "the prompt text, or - to read it from stdin",
        "prompt_file": "read the prompt from this file",
        "workspace": "the agent's working directory (default: the current directory)",
        "max_turns": "Claude Code --max-turns (default: from the executor, then defaults)",
        "json": "print the task record as one JSON object",
        "notify": _NOTIFY_HELP,
        **_GIT_HELP,
        **_CONTROL_HELP,
        **_WAIT_HELP,
    },
    optional=["follow", "push"],
    iterable=["agent_arg", "label", "notify"],
)
def start(
    c: Context,
    executor: str | None = None,
    label: list[str] | None = None,
    priority: str | None = None,
    after: str | None = None,
    from_: str | None = None,
    dry_run: bool = False,
    agent: str | None = None,
    prompt: str | None = None,
    prompt_file: str | None = None,
    workspace: str | None = None,
    max_turns: str | None = None,
    timeout: str | None = None,
    model: str | None = None,
    max_budget_usd: str | None = None,
    append_system_prompt: str | None = None,
    allowed_tools: str | None = None,
    disallowed_tools: str | None = None,
    agent_arg: list[str] | None = None,
    json: bool = False,
    worktree: bool = False,
    base: str | None = None,
    branch: str | None = None,
    push: Any = None,
    notify: list[str] | None = None,
    wait: bool = False,
    follow: Any = None,
    wait_timeout: str | None = None,
    kill_on_timeout: bool = False,
) -> None:
    """Start a coding task on an executor; returns as soon as the agent runs (or, with --wait, ends)."""
    if agent == "command":
        raise UsageError(
            "the command agent runs a command, not a prompt", "use: openclaw-agent run -- CMD..."
        )
    if from_ is not None:
        for flag, value in (
            ("--worktree", worktree),
            ("--base", base),
            ("--branch", branch),
            ("--push", push),
        ):
            if value:
                raise UsageError(f"--from takes each task's settings from its line, not {flag}")
        _batch(c, from_, prompt, prompt_file, executor, label, after, dry_run, wait)
        return
    git = _git(worktree, base, branch, push)
    waiting = _wait_options(wait, follow, wait_timeout, kill_on_timeout)
    limit = _timeout(timeout)
    controls = _controls(
        model, max_budget_usd, append_system_prompt, allowed_tools, disallowed_tools, agent_arg
    )
    turns = _int(max_turns, "--max-turns")
    rank = _int(priority, "--priority") or 0
    labels = list(label or [])
    manager = _manager(c)
    if dry_run:
        _dry_run(manager, executor, labels, agent, json)
        return
    data = _read_prompt(prompt, prompt_file)
    _dispatch(
        manager,
        json,
        waiting,
        lambda: manager.start(
            data,
            executor,
            workspace,
            turns,
            agent=agent,
            controls=controls,
            timeout_s=limit,
            labels=labels,
            priority=rank,
            after=after,
            notify=_notify_urls(notify),
            **git,
        ),
    )


def _notify_urls(urls: list[str] | None) -> list[str]:
    from openclaw.notify import check_url

    return [check_url(u) for u in urls or []]


def _batch(
    c: Context,
    path: str,
    prompt: str | None,
    prompt_file: str | None,
    executor: str | None,
    label: list[str] | None,
    after: str | None,
    dry_run: bool,
    wait: bool,
) -> None:
    """``start --from FILE``: every line checked, then all started; one JSON line each."""
    from openclaw import render
    from openclaw.batch import read_batch

    given = [
        flag
        for flag, value in (
            ("--prompt", prompt),
            ("--prompt-file", prompt_file),
            ("--executor", executor),
            ("--label", label),
            ("--after", after),
            ("--dry-run", dry_run),
            ("--wait", wait),
        )
        if value
    ]
    if given:
        raise UsageError(f"--from takes each task's settings from its line, not {given[0]}")
    tasks = read_batch(path)
    results = _manager(c).start_batch(tasks)
    failed = 0
    for item, got in zip(tasks, results, strict=True):
        if isinstance(got, OpenclawError):
            failed += 1
            _err(f"{PROG}: error: {item.where}: {got.one_line()}")
            task_id = getattr(got, "task_id", None)
            _out(render.dumps({"line": item.where, "task_id": task_id, "error": got.one_line()}))
        else:
            _out(render.dumps(got))
    if failed:
        raise Exit(code=int(ExitCode.ERROR))


def _dry_run(
    manager: Manager, executor: str | None, labels: list[str], agent: str | None, json: bool
) -> None:
    """Where a task would go now; nothing is recorded."""
    from openclaw import render

    choice = manager.route(executor, labels, agent)
    if json:
        _out(render.dumps(dict(choice.as_json(), free=choice.free)))
        return
    free = ", ".join(f"{n}: {'unlimited' if f is None else f} free" for n, f in choice.free.items())
    picked = choice.picked or "none now: it would be queued"
    _out(f"would start on {picked} ({choice.why}; candidates {free})")


@command(
    help={
        "executor": "executor name (default: 'local', else the only one configured)",
        "cmd": "the command as one string, split like a shell would (or give it after --)",
        "workspace": "the working directory (default: the current directory)",
        "after": "start only once task ID has completed (it fails if ID fails, is killed or lost)",
        "timeout": _CONTROL_HELP["timeout"],
        "json": "print the task record as one JSON object",
        "notify": _NOTIFY_HELP,
        **_GIT_HELP,
        **_WAIT_HELP,
    },
    optional=["follow", "push"],
    iterable=["notify"],
)
def run(
    c: Context,
    executor: str | None = None,
    cmd: str | None = None,
    workspace: str | None = None,
    after: str | None = None,
    timeout: str | None = None,
    json: bool = False,
    worktree: bool = False,
    base: str | None = None,
    branch: str | None = None,
    push: Any = None,
    notify: list[str] | None = None,
    wait: bool = False,
    follow: Any = None,
    wait_timeout: str | None = None,
    kill_on_timeout: bool = False,
) -> None:
    """Run a plain command as a task (no agent): 'run -- make test'; success is exit 0."""
    import shlex

    argv = list(c.config.get("openclaw", {}).get("argv") or []) if "openclaw" in c.config else []
    if cmd is not None:
        if argv:
            raise UsageError("give the command either with --cmd or after --, not both")
        try:
            argv = shlex.split(cmd)
        except ValueError as exc:
            raise UsageError(f"--cmd cannot be split into words: {exc}", "check its quotes") from None
    if not argv:
        raise UsageError("no command to run", f"give it after --: {PROG} run -- make test")
    git = _git(worktree, base, branch, push)
    waiting = _wait_options(wait, follow, wait_timeout, kill_on_timeout)
    limit = _timeout(timeout)
    # The record shows what runs; the prompt file (the command's stdin) says it once more.
    data = ("$ " + shlex.join(argv) + "\n").encode()
    manager = _manager(c)
    controls = _controls(argv=tuple(argv))
    _dispatch(
        manager,
        json,
        waiting,
        lambda: manager.start(
            data,
            executor,
            workspace,
            agent="command",
            controls=controls,
            timeout_s=limit,
            after=after,
            notify=_notify_urls(notify),
            **git,
        ),
    )


def _dispatch(
    manager: Manager, json: bool, waiting: dict[str, Any] | None, launch: Callable[[], TaskRecord]
) -> None:
    """Start a task with ``launch``, then report it (and wait for it, if asked)."""
    from openclaw import render

    try:
        meta = launch()
    except StartError as exc:
        if exc.task_id and (json or waiting):
            failed = manager.store.read(exc.task_id)
            if json:
                _out(render.dumps(failed))
            if waiting:
                # failed (4); or, when its launch answer was lost, still pending: an error (1).
                _err(f"{PROG}: error: {exc.one_line()}")
                raise Exit(code=int(OUTCOME_CODES.get(failed["status"], ExitCode.ERROR))) from None
        raise
    _started(manager, meta, json, waiting)


def _wait_options(
    wait: bool, follow: Any, timeout: str | None, kill_on_timeout: bool, flag: str = "--wait-timeout"
) -> dict[str, Any] | None:
    if not wait:
        if follow is not None or timeout is not None or kill_on_timeout:
            raise UsageError(f"--follow, {flag} and --kill-on-timeout go with --wait")
        return None
    seconds = None if timeout is None else _seconds(timeout, flag, 0)
    if kill_on_timeout and seconds is None:
        raise UsageError(f"--kill-on-timeout needs {flag} SECS")
    # Checked here, before the task is started: a bad --follow=SECS must not leave a task behind.
    interval = None if follow is None else _seconds(follow, "--follow", FOLLOW_INTERVAL_S)
    return {"follow": interval, "timeout": seconds, "kill": kill_on_timeout}


def _started(manager: Manager, meta: TaskRecord, json: bool, waiting: dict[str, Any] | None) -> None:
    from openclaw import render

    if waiting is None:
        if json:
            _out(render.dumps(meta))
        elif meta["status"] == "queued":
            routing = meta.get("routing") or {}
            on = ", ".join(routing.get("candidates") or [meta["executor"]])
            _out(f"queued {meta['task_id']} for {on} (every slot is taken)")
            _out(f"  wait: {PROG} wait --task-id {meta['task_id'][:8]}")
        else:
            where = f"pid {meta['pid']}" if meta.get("pid") else meta.get("host") or meta["status"]
            _out(f"started {meta['task_id']} on {meta['executor']} ({where})")
            _out(f"  follow: {PROG} logs --task-id {meta['task_id'][:8]} --follow")
        return
    if not json:
        _err(f"started {meta['task_id']} on {meta['executor']}")
    _wait_for(manager, meta, json=json, **waiting)


def _wait_for(
    manager: Manager,
    meta: TaskRecord,
    json: bool,
    follow: float | None,
    timeout: float | None,
    kill: bool,
) -> None:
    """Block until the task ends (following its output if asked), then exit with its outcome code."""
    from openclaw import render

    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        if follow is not None:  # the interval, checked by _wait_options
            view = LogView(render.use_color(sys.stdout), lambda ls: manager.entries(meta, ls))
            for chunk in manager.follow(meta, follow, deadline=deadline, from_start=True):
                view.feed(chunk)
            view.close(manager.get(meta["task_id"]))
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        meta = manager.wait(meta["task_id"], remaining)
    except WaitTimeout as exc:
        if kill:
            meta, _ = manager.kill(meta["task_id"])
            _err(f"{PROG}: timed out; killed task {meta['task_id']}")
            if json:
                _out(render.dumps(meta))
            raise Exit(code=int(ExitCode.TIMEOUT)) from None
        if json:
            _out(render.dumps(exc.meta))
        raise
    if json:
        _out(render.dumps(meta))
    elif follow is None:
        result = meta.get("result") or {}
        line = render.outcome_line(
            meta["status"],
            result.get("subtype"),
            result.get("num_turns"),
            result.get("total_cost_usd"),
            result.get("duration_ms"),
            False,
        )
        _err(f"{meta['task_id'][:8]} {line}" + (f" · {meta['error']}" if meta.get("error") else ""))
    raise Exit(code=int(OUTCOME_CODES[meta["status"]]))


@command(
    help={
        "task_id": "task id, or any unique prefix of one",
        "timeout": "give up after SECS (exit 7); the task keeps running",
        "follow": "print the agent's output while waiting; --follow=SECS polls every SECS",
        "kill_on_timeout": "kill the task when the timeout passes",
        "json": "print the final task record as one JSON object",
    },
    optional=["follow"],
)
def wait(
    c: Context,
    task_id: str | None = None,
    timeout: str | None = None,
    follow: Any = None,
    kill_on_timeout: bool = False,
    json: bool = False,
) -> None:
    """Block until a task ends; exit 0 completed, 4 failed, 5 killed, 6 lost, 7 timed out."""
    options = _wait_options(True, follow, timeout, kill_on_timeout, "--timeout")
    assert options is not None
    manager = _manager(c)
    meta = manager.get(_required(task_id))
    _wait_for(manager, meta, json=json, **options)


@command(
    help={
        "task_id": "the finished task whose conversation to continue (id or unique prefix)",
        "prompt": "the follow-up prompt, or - to read it from stdin",
        "prompt_file": "read the follow-up prompt from this file",
        "max_turns": "Claude Code --max-turns (default: from the executor, then defaults)",
        "json": "print the new task record as one JSON object",
        **_CONTROL_HELP,
        **_WAIT_HELP,
    },
    optional=["follow"],
    iterable=["agent_arg"],
)
def resume(
    c: Context,
    task_id: str | None = None,
    prompt: str | None = None,
    prompt_file: str | None = None,
    max_turns: str | None = None,
    timeout: str | None = None,
    model: str | None = None,
    max_budget_usd: str | None = None,
    append_system_prompt: str | None = None,
    allowed_tools: str | None = None,
    disallowed_tools: str | None = None,
    agent_arg: list[str] | None = None,
    json: bool = False,
    wait: bool = False,
    follow: Any = None,
    wait_timeout: str | None = None,
    kill_on_timeout: bool = False,
) -> None:
    """Continue a task's conversation as a new task on the same executor, workspace and agent."""
    waiting = _wait_options(wait, follow, wait_timeout, kill_on_timeout)
    limit = _timeout(timeout)
    controls = _controls(
        model, max_budget_usd, append_system_prompt, allowed_tools, disallowed_tools, agent_arg
    )
    turns = _int(max_turns, "--max-turns")
    data = _read_prompt(prompt, prompt_file)
    manager = _manager(c)
    _dispatch(
        manager,
        json,
        waiting,
        lambda: manager.resume(_required(task_id), data, turns, controls=controls, timeout_s=limit),
    )


@command(
    help={
        "task_id": "task id, or any unique prefix of one",
        "json": "print the task record as one JSON object (plus 'chain': the resume chain's ids)",
    }
)
def status(c: Context, task_id: str | None = None, json: bool = False) -> None:
    """Show one task's state, process, result and resume chain."""
    from openclaw import render

    manager = _manager(c)
    view = manager.observe(_required(task_id))
    chain = manager.chain(view.record)
    if json:
        _out(render.dumps(dict(view.as_json(), chain=chain)))
    else:
        _out(render.task_detail(view))
        if len(chain) > 1:
            _out("chain      " + " → ".join(i[:8] for i in chain))


def _required(task_id: str | None) -> str:
    if not task_id:
        raise UsageError("--task-id is required", "run 'openclaw-agent list' to see task ids")
    return task_id


class LogView:
    """Turns an agent's output (or transcript) bytes into the human log view, line by line."""

    def __init__(
        self,
        color: bool,
        parse: Callable[[list[bytes]], list[Any]],
        mode: str = "view",
    ) -> None:
        self.color = color
        #: The task's agent's parser (Manager.entries): lines to normalised entries.
        self.parse = parse
        self.mode = mode
        self.saw_result = False

    def entries(self, entries: list[Any]) -> None:
        """Print already parsed entries."""
        from openclaw import render

        out = []
        for entry in entries:
            self.saw_result = self.saw_result or entry.kind == "result"
            if self.mode == "json":
                out.append(render.dumps(entry.to_json()))
            else:
                out.extend(render.entry_lines(entry, self.color))
        if out:
            sys.stdout.write("".join(line + "\n" for line in out))
            sys.stdout.flush()

    def feed(self, chunk: bytes) -> None:
        """Print what a chunk of complete lines holds."""
        if self.mode == "raw":
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        self.entries(self.parse(chunk.splitlines()))

    def close(self, meta: TaskRecord) -> None:
        """At the end of the view of an ended task: a closing line if its output had no result
        event (killed, lost, a plain command, an agent that wrote none)."""
        from openclaw import render

        if self.mode == "view" and not self.saw_result and meta["status"] not in ("pending", "running"):
            _out(render.closing_from_meta(meta, self.color))


@command(
    help={
        "task_id": "task id, or any unique prefix of one",
        "lines": "how many of the last entries (lines with --raw) to print (default 50)",
        "follow": "then print new output until the task ends; --follow=SECS polls every SECS",
        "raw": "print the stream-json exactly as written",
        "json": "print normalised entries, one JSON object per line",
        "source": "stdout (default), stderr, or transcript (Claude's session JSONL)",
        "stderr": "same as --source stderr",
    },
    optional=["follow"],
)
def logs(
    c: Context,
    task_id: str | None = None,
    lines: str = "50",
    follow: Any = None,
    raw: bool = False,
    json: bool = False,
    source: str = "stdout",
    stderr: bool = False,
) -> None:
    """Show a task's output: the agent's messages, tool calls, errors and outcome."""
    from openclaw import render

    if raw and json:
        raise UsageError("give either --raw or --json, not both")
    source = "stderr" if stderr else source
    count = _int(lines, "--lines") or 0
    if count < 0:
        raise UsageError(f"--lines must not be negative, not {count}", "give 0 or more, e.g. --lines=50")
    interval = None if follow is None else _seconds(follow, "--follow", FOLLOW_INTERVAL_S)
    manager = _manager(c)
    mode = "raw" if raw or source == "stderr" else "json" if json else "view"
    transcript = source == "transcript"
    if mode == "raw":
        meta, tail = manager.tail(_required(task_id), count, source)
        view = LogView(render.use_color(sys.stdout), lambda ls: [], mode)
        view.feed(b"".join(line + b"\n" for line in tail))
    else:
        meta, entries = manager.tail_entries(_required(task_id), count, source)
        view = LogView(render.use_color(sys.stdout), lambda ls: manager.entries(meta, ls, transcript), mode)
        view.entries(entries)
    if interval is None:
        view.close(meta)  # an ended task's view ends with its outcome, as after following
        return
    try:
        for chunk in manager.follow(meta, interval, source):
            view.feed(chunk)
    except KeyboardInterrupt:
        return  # Ctrl-C ends the viewing, never the task
    view.close(manager.get(meta["task_id"]))


@command(
    name="list",
    help={
        "status": "only tasks in this state: queued|pending|running|completed|failed|killed|lost|unknown",
        "executor": "only tasks on this executor",
        "json": "print a JSON array of task records",
        "jsonl": "print one task record per line",
    },
)
def list_(
    c: Context,
    status: str | None = None,
    executor: str | None = None,
    json: bool = False,
    jsonl: bool = False,
) -> None:
    """List tasks, newest first."""
    from openclaw import render

    if json and jsonl:
        raise UsageError("give either --json or --jsonl, not both")
    if not (json or jsonl):
        items, bad = _manager(c).listing(status, executor)
        _warn_corrupt(list(bad))
        _out(render.task_table(items))
        return
    views, bad = _manager(c).list_tasks(status, executor)
    _warn_corrupt(list(bad))
    if json:
        _out(render.dumps([v.as_json() for v in views]))
    else:
        sys.stdout.write("".join(render.dumps(v.as_json()) + "\n" for v in views))


@command(
    help={
        "task_id": "task id, or any unique prefix of one",
        "grace": f"seconds between SIGTERM and SIGKILL (default {DEFAULT_GRACE_S:g}; 0: SIGKILL at once)",
        "json": "print the task record as one JSON object",
    }
)
def kill(c: Context, task_id: str | None = None, grace: str | None = None, json: bool = False) -> None:
    """Stop a task: SIGTERM to all its processes, SIGKILL after a grace period."""
    from openclaw import render

    # 0 is allowed: SIGKILL at once.
    seconds = _seconds(grace, "--grace", DEFAULT_GRACE_S, zero=True)
    manager = _manager(c)
    try:
        meta, killed = manager.kill(_required(task_id), seconds)
    except UnknownTaskError:
        # No record (its directory was deleted while it ran): its processes here still carry its id.
        ref = (task_id or "").strip().lower()
        if UUID_RE.match(ref):
            count = manager.kill_orphans(ref, seconds)
            if count:
                _out(f"task {ref} has no record; stopped {count} process(es) here that carry its id")
                return
        raise
    if json:
        _out(render.dumps(meta))
    elif killed:
        _out(f"killed {meta['task_id']}")
    else:
        _out(f"task {meta['task_id']} is already {meta['status']}; nothing to kill")


@command(
    help={
        "task_id": "task id, or any unique prefix of one",
        "force": "kill the task first if it is still running (and remove a corrupt record)",
        "finished": "remove every task in a final state (completed, failed, killed, lost)",
        "delete_branch": "also delete the task's git branch (a --worktree task's worktree always goes)",
    }
)
def cleanup(
    c: Context,
    task_id: str | None = None,
    force: bool = False,
    finished: bool = False,
    delete_branch: bool = False,
) -> None:
    """Remove a task's record and files (and its worktree; its branch stays unless --delete-branch)."""
    manager = _manager(c)
    if finished:
        if task_id:
            raise UsageError("give either --task-id or --finished, not both")
        if delete_branch:
            raise UsageError("--delete-branch goes with --task-id", "delete branches one task at a time")
        done, failures = manager.cleanup_finished()
        for tid, exc in failures:
            _err(f"{PROG}: warning: task {tid} kept: {exc.one_line()}")
        _out(f"removed {len(done)} finished task(s)")
        if failures:
            raise OpenclawError(
                f"{len(failures)} finished task(s) could not be removed (see the warnings above)",
                "try again later, or drop a record with 'cleanup --task-id ID --force'",
            )
        return
    removed, left = manager.cleanup(_required(task_id), force, delete_branch=delete_branch)
    for warning in left:
        _err(f"{PROG}: warning: task {removed}: {warning}")
    _out(f"removed {removed}")


@command(
    help={
        "task_id": "task id, or any unique prefix of one",
        "stat": "a diffstat instead of the patch",
        "name_only": "only the names of the files changed",
        "json": "one JSON object: the task id, base and files (path, status, insertions, deletions)",
    }
)
def diff(
    c: Context, task_id: str | None = None, stat: bool = False, name_only: bool = False, json: bool = False
) -> None:
    """Show what a task changed since it started.

    A --worktree task: its branch against its base; any other task in a git checkout: its
    workspace against the commit it started from.
    """
    from openclaw import render

    modes = [m for m, on in (("stat", stat), ("name-only", name_only), ("json", json)) if on]
    if len(modes) > 1:
        raise UsageError(
            f"give one of --stat, --name-only and --json, not {' and '.join('--' + m for m in modes)}"
        )
    meta, out = _manager(c).diff(_required(task_id), modes[0] if modes else "patch")
    if isinstance(out, list):
        tree = meta.get("worktree") or {}
        _out(render.dumps({"task_id": meta["task_id"], "branch": tree.get("branch"), "files": out}))
        return
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()


@command(
    help={
        "task_id": "task id, or any unique prefix of one",
        "to": "a git checkout on this machine (default: the one the task was started from, on its host)",
        "force": "apply even though the checkout has uncommitted changes",
    }
)
def apply(c: Context, task_id: str | None = None, to: str | None = None, force: bool = False) -> None:
    """Bring a task's change into a checkout by a three-way merge (staged, not committed)."""
    meta, into = _manager(c).apply(_required(task_id), to, force)
    _out(f"applied task {meta['task_id']} to {into}: its change is staged (git diff --cached)")


@command(
    help={
        "task_id": "task id, or any unique prefix of one",
        "remote": "the remote (name or URL) to push to (default: the one --push named, else origin)",
        "json": "print the task record as one JSON object",
    }
)
def push(c: Context, task_id: str | None = None, remote: str | None = None, json: bool = False) -> None:
    """Push a worktree task's branch from the host where it ran, with that host's git credentials."""
    from openclaw import render

    meta = _manager(c).push(_required(task_id), remote)
    if json:
        _out(render.dumps(meta))
    else:
        pushed = meta.get("push") or {}
        _out(f"pushed {pushed.get('ref')} to {pushed.get('remote')}")


@command(
    help={
        "stream": "print one JSON snapshot (all tasks, counts per status); with --watch, one per interval",
        "watch": "refresh every SECS seconds until Ctrl-C",
    }
)
def dashboard(c: Context, stream: bool = False, watch: str | None = None) -> None:
    """Show active, queued and recently finished tasks, counts per status and each executor's load."""
    from openclaw import render

    interval = None if watch is None else _seconds(watch, "--watch", 2.0)
    manager = _manager(c)
    tty = sys.stdout.isatty()
    try:
        while True:
            snap = manager.snapshot()
            for tid in snap.corrupt:
                _err(f"{PROG}: warning: task {tid}: corrupt .meta.json (skipped)")
            if stream:
                _out(render.dumps(snap.as_json()))
            else:
                if tty and interval is not None:
                    sys.stdout.write("\x1b[H\x1b[2J")
                _out(
                    f"{PROG} · {snap.generated_at} · " + render.counts_line(snap.counts, snap.total_cost_usd)
                )
                if snap.capacity:
                    _out(render.capacity_line(snap.capacity))
                _out(render.task_table(snap.views))
            if interval is None:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


@command(help={})
def mcp(c: Context) -> None:
    """Serve the commands as MCP tools on stdin/stdout, for an AI client (Claude Code, ...)."""
    from openclaw import mcp_server

    config = c.config.get("openclaw", {}).get("config") if "openclaw" in c.config else None
    mcp_server.run(config)


@command(
    help={
        "interval": "seconds between two looks at the tasks (default 2)",
        "log": "append the log to this file instead of stderr",
        "print_unit": "print a systemd user unit that runs this serve, and exit",
        "http": "also serve the web dashboard and its JSON API on [ADDR:]PORT (default 127.0.0.1:8787)",
        "tls_cert": "with --http: serve HTTPS with this certificate (PEM), and --tls-key",
        "tls_key": "with --http: the certificate's private key (PEM)",
        "url": "print the dashboard's URL with its token, and exit",
    },
    optional=["http"],
)
def serve(
    c: Context,
    interval: str | None = None,
    log: str | None = None,
    print_unit: bool = False,
    http: Any = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    url: bool = False,
) -> None:
    """Watch every task until stopped: refresh them, drain the queue, send notifications.

    With --http it also serves the web dashboard and its JSON API.
    """
    from openclaw import serve as supervisor

    every = supervisor.DEFAULT_INTERVAL_S if interval is None else _seconds(interval, "--interval", 0)
    if print_unit:
        config = c.config.get("openclaw", {}).get("config") if "openclaw" in c.config else None
        sys.stdout.write(supervisor.unit(every if interval is not None else None, config))
        return
    server = supervisor.Server(_manager(c), every)
    if http is not None or url or tls_cert or tls_key:
        _web(c, server, http, tls_cert, tls_key, url)
        if url:
            return
    supervisor.configure_logging(log)
    server.run()


def _web(c: Context, server: Any, http: Any, cert: str | None, key: str | None, url_only: bool) -> None:
    """Set ``serve --http`` up: the address bound, the token, the board fed by the looks."""
    from openclaw.web import app as web
    from openclaw.web.board import Board

    host, port = web.parse_address(http)
    if bool(cert) != bool(key):
        raise UsageError("--tls-cert and --tls-key go together", "give both, or neither")
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if path and not os.access(path, os.R_OK):
            raise UsageError(f"{flag} {path!r} cannot be read", "give a PEM file this user can read")
    root = str(server.manager.store.root)
    token, made = web.load_token(root)
    if url_only:
        _out(web.url(host, port, bool(cert), token))
        return
    server.hold()  # a second serve is refused before it takes the port
    sock = web.listen(host, port)
    port = sock.getsockname()[1]
    board = Board()
    server.on_look = lambda views: board.saw(server.manager, views)
    site = web.Web(lambda: _manager(c), board, token, server.interval, f"openclaw_token_{port}", bool(cert))
    server.front = lambda: site.run(sock, cert, key)
    if not web.loopback(host) and not cert:
        _err(
            f"{PROG}: warning: --http {host}:{port} is reachable from other machines without TLS: "
            "anyone on the network path can read the token and the tasks; give --tls-cert and --tls-key"
        )
    if made:
        _out(f"{PROG}: dashboard at {web.url(host, port, bool(cert), token)}")
    else:
        _out(
            f"{PROG}: dashboard at {web.url(host, port, bool(cert))} "
            f"(its token: '{PROG} serve --url', or the file {os.path.join(root, web.TOKEN_FILE)})"
        )


@command(
    help={
        "json": "print the ids dispatched as a JSON array",
        "quiet": "print nothing (the launcher's hook uses it)",
    }
)
def drain(c: Context, json: bool = False, quiet: bool = False) -> None:
    """Dispatch queued tasks to free slots now (every command that refreshes tasks does it too)."""
    from openclaw import render

    moved = _manager(c).drain()
    if quiet:
        return
    if json:
        _out(render.dumps(moved))
    else:
        _out("\n".join(f"dispatched {t}" for t in moved) or "nothing to dispatch")


@command(
    help={
        "rebuild": "rebuild the index from the records even when it is in step with them",
        "json": "print what was found as one JSON object",
    }
)
def doctor(c: Context, rebuild: bool = False, json: bool = False) -> None:
    """Check the task records and their index; rebuild the index when it differs from them."""
    from openclaw import render

    found = _manager(c).doctor(rebuild)
    if json:
        _out(render.dumps(found))
        return
    _out(f"tasks: {found['records']} records in {found['tasks_dir']}")
    for task_id in found["corrupt"]:
        _out(f"corrupt: {task_id} (remove it with '{PROG} cleanup --task-id {task_id} --force')")
    for problem in found["index_problems"]:
        _out(f"index: {problem}")
    if found["rebuilt"]:
        _out(f"index: rebuilt from the records ({found['why']})")
    else:
        _out("index: in step with the records")


@command(help={"json": "print a JSON array of executors"})
def executors(c: Context, json: bool = False) -> None:
    """List the configured executors."""
    from openclaw import render

    rows = _manager(c).executors()
    _out(render.dumps(rows) if json else render.executor_table(rows))


@command(
    name="config",
    help={
        "init": "write a commented starter config: this machine, an SSH host and a container (edit to suit)",
        "force": "with --init, overwrite an existing file",
        "path": "print the path of the config file in use",
    },
)
def config_(c: Context, init: bool = False, force: bool = False, path: bool = False) -> None:
    """Show, locate or create the configuration file."""
    from openclaw import config as cfgmod
    from openclaw.paths import config_path

    explicit = c.config.get("openclaw", {}).get("config") if "openclaw" in c.config else None
    file, source = config_path(explicit)
    if init:
        cfgmod.write_sample(file, force)
        _out(f"wrote {file}")
        return
    if path:
        _out(str(file))
        return
    loaded = cfgmod.load(explicit)
    import yaml

    state = "" if loaded.exists else " (no file: using the built-in default)"
    _out(f"# {loaded.path} [{source}]{state}")
    sys.stdout.write(yaml.safe_dump(loaded.raw, sort_keys=False))


COMMANDS = [
    start,
    run,
    status,
    logs,
    wait,
    resume,
    list_,
    kill,
    cleanup,
    diff,
    apply,
    push,
    dashboard,
    serve,
    mcp,
    drain,
    doctor,
    executors,
    config_,
]


def collection() -> Collection:
    """The invoke collection of every ``openclaw-agent`` command."""
    return Collection(*COMMANDS)
