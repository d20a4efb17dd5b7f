"""The launch protocol every executor shares: the launcher's pid file, judging an exit, pre-flight wording.

Where an agent runs (this machine, an SSH host, a container) changes how
these facts are fetched, not what they mean: the pid file's format, how an
exit status and the agent's last output become an :class:`Observation`, and
the words a failed pre-flight check is reported in are written once, here.
"""

from __future__ import annotations

from typing import NamedTuple

from openclaw.agents.claude import SANDBOX_VAR, ClaudeAgent
from openclaw.errors import StartError
from openclaw.states import Observation


class PidRecord(NamedTuple):
    """The launcher's ``pid`` file: its own pid and start time, and the agent's (None before it runs)."""

    pid: int
    start: int
    agent_pid: int | None
    agent_start: int | None


def read_pid_file(text: str) -> PidRecord | None:
    """Parse ``"<launcher pid> <start time> <agent pid> <start time>"``; None when it is not that."""
    parts = text.split()
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return None
    lpid, lstart, apid, astart = (int(p) for p in parts)
    return PidRecord(lpid, lstart, apid or None, astart if apid else None)


def judge_exit(
    exit_code: int, stdout_tail: bytes, stderr_tail: bytes, finished_at: str | None = None
) -> Observation:
    """An agent that exited: its result event (from the end of its stdout), or else its last stderr line."""
    result = ClaudeAgent.summarize(stdout_tail)
    reason = None
    if result is None:
        err = [ln for ln in stderr_tail.splitlines() if ln.strip()]
        # Long enough for a secret across the record's 300-character cut to be redacted whole first.
        reason = err[-1].decode("utf-8", "replace").strip()[:4000] if err else None
    return Observation(
        alive=False, exit_code=exit_code, result=result, reason=reason, finished_at=finished_at
    )


# -- pre-flight failures, in the same words on every executor ----------------------------------
def _on(host: str | None) -> str:
    return f" on {host}" if host else ""


def workspace_missing(path: str, host: str | None = None) -> StartError:
    """The workspace does not exist (or is not a directory) where the agent would run."""
    there = " on that host" if host else ""
    return StartError(
        f"workspace not found{_on(host)}: {path}",
        f"create the directory{there} or pass an existing one with --workspace",
    )


def claude_missing(
    claude_path: str, executor: str, host: str | None = None, remote_path: str | None = None
) -> StartError:
    """The agent's binary is nowhere to be found."""
    where = "PATH" if "/" not in claude_path else claude_path
    install = "install Claude Code (npm install -g @anthropic-ai/claude-code)"
    if host is None:
        return StartError(
            f"claude not found at {where} (claude_path: {claude_path!r})",
            f"{install} or set claude_path for executor {executor!r} in the config file",
        )
    return StartError(
        f"claude not found at {where}{_on(host)} (claude_path: {claude_path!r}; remote PATH: {remote_path})",
        "a non-interactive SSH shell has a shorter PATH than a login shell: set claude_path "
        f"for executor {executor!r} to the full path (run 'command -v claude' in a "
        f"login shell there), or {install}",
    )


def claude_not_runnable(path: str, executor: str, host: str | None = None) -> StartError:
    """The agent's binary is there, but cannot be run by whoever runs it."""
    who = "the login user" if host else "you"
    return StartError(
        f"claude is at {path}{_on(host)}, but {who} cannot run it (not executable, or not a file)",
        f"check its permissions (ls -l {path}; chmod +x), or set claude_path of executor "
        f"{executor!r} to one {who} can run",
    )


def root_refused(executor: str, value: str | None, host: str | None = None) -> StartError:
    """Claude Code refuses to skip permissions as root unless IS_SANDBOX=1."""
    counted = f" ({SANDBOX_VAR}={value!r} does not count: only 1 does)" if value else ""
    who = f"logging in to {host} as root" if host else "running as root"
    fix = (
        f"if that host is a sandbox, opt in with env: {{{SANDBOX_VAR}: '1'}} on executor {executor!r}, "
        "or log in as an ordinary user"
        if host
        else f"if this machine is a sandbox, opt in with {SANDBOX_VAR}=1 (export it, or set "
        f"env: {{{SANDBOX_VAR}: '1'}} on executor {executor!r})"
    )
    return StartError(f"{who}: Claude Code refuses --dangerously-skip-permissions as root{counted}", fix)
