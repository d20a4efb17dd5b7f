"""The launch protocol every executor shares: the launcher's pid file, judging an exit, pre-flight wording.

Where an agent runs (this machine, an SSH host, a container) changes how
these facts are fetched, not what they mean: the pid file's format, how an
exit status and the agent's last output become an :class:`Observation`, and
the words a failed pre-flight check is reported in are written once, here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from openclaw.errors import StartError
from openclaw.states import Observation

if TYPE_CHECKING:
    from openclaw.agents.base import Launch


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


def exited(
    exit_code: int, stdout_tail: bytes, stderr_tail: bytes, finished_at: str | None = None
) -> Observation:
    """An agent that exited, with the ends of its output for its agent to judge."""
    return Observation(
        alive=False,
        exit_code=exit_code,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
        finished_at=finished_at,
    )


def with_changes(obs: Observation, line: str | bytes | None) -> Observation:
    """``obs`` with what the task changed in its worktree, from the launcher's ``changes`` line."""
    import dataclasses

    from openclaw.worktree import Changes

    changes = Changes.parse(line)
    return dataclasses.replace(obs, changes=changes.as_json()) if changes else obs


def timeout_arg(timeout_s: float | None) -> str:
    """The launcher's (and entry script's) TIMEOUT argument: seconds, ``0`` for none."""
    if timeout_s is None:
        return "0"
    return f"{timeout_s:.3f}".rstrip("0").rstrip(".")


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


def agent_missing(
    spec: Launch, executor: str, host: str | None = None, remote_path: str | None = None
) -> StartError:
    """The agent's binary is nowhere to be found."""
    path = spec.argv[0]
    where = "PATH" if "/" not in path else path
    name, key = spec.agent, spec.path_key
    # The fix comes first, how to install it before the rest: a record keeps the line's start.
    if not key:  # a plain command: no config key names it
        return StartError(
            f"{name} not found at {where}{_on(host)}",
            f"{spec.install}" + (f" (remote PATH: {remote_path})" if host else ""),
        )
    if host is None:
        return StartError(
            f"{name} not found at {where} ({key}: {path!r})",
            f"{spec.install} or set {key} for executor {executor!r} in the config file",
        )
    if "/" in path:
        return StartError(
            f"{name} not found at {path}{_on(host)} ({key})",
            f"{spec.install} on the host, or set {key} for executor {executor!r} to where it is",
        )
    return StartError(
        f"{name} not found on the PATH{_on(host)} ({key}: {path!r})",
        f"{spec.install} on the host, or set {key} for executor {executor!r} to its full path: a "
        f"non-interactive SSH shell has a shorter PATH than a login shell (run 'command -v {path}' in "
        f"a login shell there; remote PATH: {remote_path})",
    )


#: Why an agent that may be there cannot be run (the SSH pre-flight's "agent-perm" detail is
#: "WHY PATH"): not an executable file; executable but not readable (a script's interpreter
#: must read it); a directory on its path that cannot be entered (PATH is that directory).
NOT_RUNNABLE = ("noexec", "noread", "search")


def agent_not_runnable(
    spec: Launch, path: str, executor: str, host: str | None = None, why: str = "noexec"
) -> StartError:
    """The agent's binary is there (or may be), but cannot be run by whoever runs it; ``why``
    is one of :data:`NOT_RUNNABLE`."""
    who = "the login user" if host else "you"
    key = spec.path_key
    elsewhere = f", or set {key} of executor {executor!r} to one {who} can run" if key else ""
    if why == "search":
        needs = "needs" if host else "need"
        return StartError(
            f"{spec.agent} at {spec.argv[0]}{_on(host)} cannot be reached: {who} cannot enter "
            f"{path} (permission denied)",
            f"check that directory's permissions ({who} {needs} x on it: ls -ld {path}){elsewhere}",
        )
    if why == "noread":
        return StartError(
            f"{spec.agent} is at {path}{_on(host)}, but {who} cannot run it: it is executable but "
            f"not readable (permission denied), and a script's interpreter must read it",
            f"check its permissions (ls -lL {path}; chmod +r){elsewhere}",
        )
    return StartError(
        f"{spec.agent} is at {path}{_on(host)}, but {who} cannot run it (not executable, or not a file)",
        f"check its permissions (ls -l {path}; chmod +x){elsewhere}",
    )


def refuses_root(spec: Launch, env: dict[str, str]) -> bool:
    """Whether the agent, run as root with ``env``, refuses to start (Claude Code without IS_SANDBOX=1)."""
    return spec.root_var is not None and env.get(spec.root_var) != "1"


def root_refused(spec: Launch, executor: str, value: str | None, host: str | None = None) -> StartError:
    """The agent refuses to run as root unless its variable (IS_SANDBOX) is 1."""
    var = spec.root_var or ""
    counted = f" ({var}={value!r} does not count: only 1 does)" if value else ""
    who = f"logging in to {host} as root" if host else "running as root"
    fix = (
        f"if that host is a sandbox, opt in with env: {{{var}: '1'}} on executor {executor!r}, "
        "or log in as an ordinary user"
        if host
        else f"if this machine is a sandbox, opt in with {var}=1 (export it, or set "
        f"env: {{{var}: '1'}} on executor {executor!r})"
    )
    return StartError(f"{who}: {spec.agent} refuses to run as root without {var}=1{counted}", fix)
