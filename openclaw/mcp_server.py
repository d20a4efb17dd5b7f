"""``openclaw-agent mcp``: the commands as MCP tools, over stdio, for an AI that dispatches work.

Built on the official ``mcp`` SDK (its ``MCPServer``), imported only by this
command. Each tool is a thin call of the same :class:`~openclaw.manager.Manager`
method the CLI calls, and returns the same JSON object its ``--json`` prints.
A user error is an MCP tool error carrying the one-line message (and its
fix); the server itself never stops for one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from openclaw.errors import OpenclawError

T = TypeVar("T")

INSTRUCTIONS = """\
openclaw-agent runs coding agents (Claude Code, Codex, Gemini CLI, OpenCode, plain commands) as
tasks on executors: this machine, SSH hosts, containers. Use it to hand a coding job to another
agent and read what it did.

The usual flow: call `start` with a prompt (it returns at once with the task's record and its
`task_id`), then `wait` for it to end (or poll `status`), then read `logs` (the agent's messages,
tool calls and its final result) and, for a --worktree task, `diff`. `list` shows the tasks,
`executors` where they can run. A task's `status` is one of queued, pending, running (active),
completed, failed, killed, lost (final); `completed` means the agent itself reported success.
Task ids may be given as any unique prefix."""


def _call(fn: Callable[[], T]) -> T:
    """Run ``fn``; a user error becomes a tool error with its one-line message."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return fn()
    except OpenclawError as exc:
        raise ToolError(exc.one_line()) from None


def build(config_path: str | None = None) -> Any:
    """The MCP server, its tools bound to the configuration at ``config_path`` (default: the usual)."""
    from mcp.server.mcpserver import MCPServer

    from openclaw import __version__, api
    from openclaw.config import load
    from openclaw.manager import Manager

    def manager() -> Manager:
        return Manager(lambda: load(config_path))

    server = MCPServer("openclaw-agent", instructions=INSTRUCTIONS, version=__version__)

    @server.tool(
        description="Start a coding task: an agent gets the prompt and works in the workspace, detached. "
        "Returns at once with the task's record (task_id, status: running, or queued when its executor "
        "is full). Pick where with `executor` (see the executors tool) or with `labels` (every one must "
        "match; the freest executor carrying them is chosen). `worktree: true` runs it in a git worktree "
        "and branch of its own, so parallel tasks on one repository never collide; `diff` then shows "
        "its change. `timeout` is a wall-clock limit such as '30m'."
    )
    def start(
        prompt: str,
        executor: str | None = None,
        labels: list[str] | None = None,
        agent: str | None = None,
        workspace: str | None = None,
        model: str | None = None,
        max_turns: int | None = None,
        timeout: str | None = None,
        worktree: bool = False,
        after: str | None = None,
        priority: int = 0,
    ) -> dict[str, Any]:
        def go() -> dict[str, Any]:
            from openclaw.agents.base import Controls
            from openclaw.durations import parse_duration

            limit = None if timeout is None else parse_duration(timeout, "timeout")
            return dict(
                manager().start(
                    prompt.encode(),
                    executor,
                    workspace,
                    max_turns,
                    agent=agent,
                    controls=Controls(model=model),
                    timeout_s=limit,
                    labels=list(labels or []),
                    priority=priority,
                    after=after,
                    worktree=True if worktree else None,
                )
            )

        return _call(go)

    @server.tool(
        description="A task's current record: status (queued, pending, running, completed, failed, "
        "killed, lost, or unknown when its executor cannot be reached), executor, workspace, times, "
        "exit_code, error, and once it ended, result (the agent's final text, turns and cost) and, "
        "for a worktree task, changes; chain: the ids of its resume chain. Looks at the task's "
        "process first, so it is up to date."
    )
    def status(task_id: str) -> dict[str, Any]:
        return _call(lambda: api.status(manager(), task_id))

    @server.tool(
        description="Block until the task ends (completed, failed, killed or lost) and return its final "
        "record, or fail after `timeout_s` seconds (default 600) with the task still running: then call "
        "wait again, or kill it. Use it after start instead of polling status."
    )
    def wait(task_id: str, timeout_s: float = 600) -> dict[str, Any]:
        def go() -> dict[str, Any]:
            from openclaw.errors import WaitTimeout

            try:
                return dict(manager().wait(task_id, timeout=timeout_s))
            except WaitTimeout as exc:
                raise OpenclawError(
                    f"task {exc.meta['task_id']} is still {exc.meta['status']} after {timeout_s:g} s",
                    "call wait again, or kill it",
                ) from None

        return _call(go)

    @server.tool(
        description="What the agent did, as normalised entries (kind: message, tool_call, tool_result, "
        "error, result, ...; text; and for tools their name, input and output), read incrementally: "
        "pass the returned next_offset as offset to get only what came since. `source` is stdout (the "
        "agent's event stream, default), stderr, or transcript (Claude Code's session file). At most "
        "`limit` lines of output per call; `done` is true once the task ended and all was read."
    )
    def logs(task_id: str, offset: int = 0, source: str = "stdout", limit: int = 200) -> dict[str, Any]:
        return _call(lambda: api.logs(manager(), task_id, offset, source, limit))

    @server.tool(
        description="Stop a task: SIGTERM to every process of it, SIGKILL after `grace` seconds. Returns "
        "its record (status killed; a task that had already ended is left as it was)."
    )
    def kill(task_id: str, grace: float = 10) -> dict[str, Any]:
        return _call(lambda: api.kill(manager(), task_id, grace))

    @server.tool(
        description="Continue a finished task's conversation with a new prompt, as a new task (same "
        "executor, workspace, agent and, for a worktree task, the same worktree and branch). Returns the "
        "new task's record; its parent_id is the old one."
    )
    def resume(task_id: str, prompt: str) -> dict[str, Any]:
        return _call(lambda: api.resume(manager(), task_id, prompt))

    @server.tool(
        name="list",
        description="The tasks, newest first, as {tasks: [record, ...], total}: each record as status "
        "gives it. Filter by `status` (queued, pending, running, completed, failed, killed, lost, "
        "unknown) and `executor`; at most `limit` records (total counts them all).",
    )
    def list_tasks(status: str | None = None, executor: str | None = None, limit: int = 50) -> dict[str, Any]:
        return _call(lambda: api.tasks(manager(), status, executor, limit=max(0, limit)))

    @server.tool(
        description="The configured executors (where tasks can run), as {executors: [...]}: each with "
        "name, type, host or image, labels, agent, and load (active tasks, max_concurrent, queued)."
    )
    def executors() -> dict[str, Any]:
        return _call(lambda: api.executors(manager()))

    @server.tool(
        description="What a task changed in its git repository since it started: `mode` stat (a "
        "diffstat, default), patch (the unified diff), name-only, or files (each file's path, status, "
        "insertions and deletions). For a --worktree task, its branch against its base; for another "
        "task in a git checkout, the checkout now against the commit it started from."
    )
    def diff(task_id: str, mode: str = "stat") -> dict[str, Any]:
        return _call(lambda: api.diff(manager(), task_id, mode))

    return server


def run(config_path: str | None = None) -> None:
    """Serve the tools on stdin and stdout until the client goes."""
    build(config_path).run("stdio")
