"""The small interface every agent implements.

An agent knows *what* runs (Claude Code, Codex, Gemini CLI, OpenCode, a
plain command) and nothing about *where*: executors get a :class:`Launch`
(argv, environment, the pre-flight facts) and report an
:class:`~openclaw.states.Observation` holding the exit status and the tails
of the output; the agent turns those into a result summary and decides what
``completed`` means (:meth:`Agent.judge`).

Adding an agent: a module in ``openclaw/agents/`` with a subclass of
:class:`Agent`, registered in ``openclaw/agents/__init__.py``, its name in
the schemas' ``agent`` enums, and a fake in ``tests/fakes/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from openclaw.errors import UsageError
from openclaw.states import Observation

if TYPE_CHECKING:
    from openclaw.agents.entries import Entry

#: The last line the launcher (or a container's entry script) adds to the agent's stderr
#: when it stopped the agent at its wall-clock limit; the exit status is then TIMEOUT_RC.
TIMEOUT_MARK = "openclaw-agent: timed out after "
TIMEOUT_RC = 124


@dataclass(frozen=True)
class Controls:
    """What the user asked of one run, from flags and config defaults (None/empty: not asked)."""

    model: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    append_system_prompt: str | None = None
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    #: The agent's own flags, passed through as given (``--agent-arg``, ``args:`` in the config).
    extra_args: tuple[str, ...] = ()
    #: For the ``command`` agent: the argv to run.
    argv: tuple[str, ...] = ()

    def recorded(self) -> dict[str, Any]:
        """What the record keeps beside ``model``, ``max_turns`` and ``command``."""
        keep = ("max_budget_usd", "append_system_prompt", "allowed_tools", "disallowed_tools")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.asked().items() if k in keep}

    def asked(self) -> dict[str, Any]:
        """The controls that were set, by flag name (``model``, ``max_budget_usd``, ...)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value not in (None, ()):
                out[f.name] = value
        return out


@dataclass(frozen=True)
class Launch:
    """What an executor needs to start an agent, whichever agent it is."""

    argv: list[str]
    env: dict[str, str]
    #: The agent's name, for messages ("claude not found ...").
    agent: str
    #: The config key naming the binary, for the fix in messages.
    path_key: str
    #: How to install the binary, for the fix in messages.
    install: str
    #: The agent refuses to run as root unless this variable is "1" (Claude Code's IS_SANDBOX).
    root_var: str | None = None
    #: Wall-clock limit in seconds, enforced where the agent runs (None: none).
    timeout_s: float | None = None
    #: Files the agent needs beside it on that host, by name in the task directory (none so far).
    files: dict[str, bytes] = field(default_factory=dict)
    #: A command of the dispatcher's to run when the agent has exited and tasks are queued
    #: (the drain), where the executor runs agents on the dispatcher's own machine.
    on_exit: tuple[str, ...] = ()
    #: For a resumed task: where the agent keeps the session it continues (``Agent.session_state``,
    #: files or directories, ``~`` standing for the home of the user it runs as). An executor
    #: whose every task starts on a fresh file system (a container) carries them over from the
    #: parent task's; the others find them where they are.
    session_state: tuple[str, ...] = ()


class Agent:
    """A coding agent run headless: its argv, its output, and what success means for it."""

    #: The ``agent`` value in the config, on the command line and in records.
    name: ClassVar[str] = ""
    #: The binary when no path is configured.
    binary: ClassVar[str] = ""
    #: How to install it.
    install: ClassVar[str] = ""
    #: Which :class:`Controls` it honours (the rest are refused with a one-line error).
    supports: ClassVar[frozenset[str]] = frozenset({"extra_args"})
    #: Whether a finished task's conversation can be continued (``resume``).
    resumable: ClassVar[bool] = False
    #: See :attr:`Launch.root_var`.
    root_var: ClassVar[str | None] = None

    # -- start ---------------------------------------------------------------------
    def label(self, argv: list[str]) -> str:
        """What messages call the program ``argv`` runs: the agent's name."""
        return self.name

    def check(self, controls: Controls) -> None:
        """Refuse a control this agent does not have, with the flag's name and the fix."""
        for key in controls.asked():
            if key not in self.supports:
                flag = "--" + key.replace("_", "-")
                if key == "argv":
                    raise UsageError(
                        f"agent {self.name!r} takes a prompt, not a command",
                        "use 'openclaw-agent run -- CMD...' (the command agent) to run a command",
                    )
                raise UsageError(
                    f"agent {self.name!r} does not support {flag}",
                    f"drop {flag}, or pick an agent that has it with --agent",
                )

    def command(self, path: str, session_id: str, controls: Controls, resume: str | None = None) -> list[str]:
        """The argv that runs one task; the prompt is never in it (it is the agent's stdin)."""
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        """Variables the agent needs set to run headless (beside the executor's ``env``)."""
        return {}

    def session_id(self, task_id: str, resume: str | None = None) -> str | None:
        """The session id the task will have, when it is known up front (None: the agent
        picks it, and prints it); ``resume`` is the session being continued, if any."""
        return None

    def session_from_output(self, stdout_head: bytes) -> str | None:
        """The session id the agent printed (for an agent that chooses its own), if any."""
        return None

    def transcript(self, home: str, workspace: str, session_id: str) -> str | None:
        """Where the agent keeps the session's transcript on its host, if it is one known file."""
        return None

    def session_state(
        self, home: str, workspace: str, session_id: str, env: Mapping[str, str] | None = None
    ) -> list[str]:
        """The paths on its host (absolute; files or directories) that hold what a resume of
        ``session_id`` needs, as the agent runs in ``workspace`` as a user whose home is
        ``home``, with ``env`` set (a variable may move them: ``CODEX_HOME`` and the like).
        A path that does not exist there is passed over. None for an agent without resume."""
        return []

    # -- reading what it printed -----------------------------------------------------
    def summarize(self, stdout_tail: bytes) -> dict[str, Any] | None:
        """The result summary (schema ``result``) from the end of its stdout; None without one."""
        return None

    def judge(self, obs: Observation) -> Observation:
        """``obs`` of an exited agent, with ``result``, ``succeeded`` and ``reason`` decided.

        The executor filled ``exit_code`` and the output tails. A run
        stopped at its wall-clock limit is a failure, whatever it printed.
        """
        last = last_line(obs.stderr_tail)
        result = self.summarize(obs.stdout_tail or b"")
        if obs.exit_code == TIMEOUT_RC and last.startswith(TIMEOUT_MARK):
            return dataclasses.replace(obs, result=result, succeeded=False, reason=timeout_reason(last))
        succeeded, reason = self.outcome(obs.exit_code, result)
        if not succeeded and reason is None and last:
            # Long enough for a secret across the record's 300-character cut to be redacted whole first.
            reason = last[:4000]
        # Without a reason, the record says what the exit status means (states.failure_reason).
        return dataclasses.replace(obs, result=result, succeeded=succeeded, reason=reason)

    def outcome(self, exit_code: int | None, result: dict[str, Any] | None) -> tuple[bool, str | None]:
        """Whether the run succeeded, and if not, why (None: say what stderr said)."""
        return exit_code == 0, None

    def entries(self, lines: Iterable[bytes], transcript: bool = False) -> list[Entry]:
        """Its output (or transcript) lines as normalised entries; never raises."""
        from openclaw.agents.entries import output_entries

        return output_entries(lines)


def env_dir(env: Mapping[str, str] | None, name: str, workspace: str) -> str | None:
    """The directory variable ``name`` of ``env`` names, a relative one taken from the agent's
    working directory ``workspace``; None when it is unset or empty."""
    import posixpath

    value = (env or {}).get(name)
    return posixpath.normpath(posixpath.join(workspace, value)) if value else None


def result_verdict(
    exit_code: int | None, result: dict[str, Any] | None, failed: str
) -> tuple[bool, str | None]:
    """The verdict of an agent whose summary says whether it failed: an error result fails with
    the first line of its text (else ``failed``); otherwise exit 0 with a result completes."""
    if result is not None and result["is_error"]:
        text = (result.get("text") or "").strip().splitlines()
        return False, text[0][:4000] if text else failed
    return exit_code == 0 and result is not None, None


def timeout_reason(mark: str) -> str:
    """``timed out after 30m`` from the launcher's ``openclaw-agent: timed out after 1800s``."""
    from openclaw.durations import format_duration

    secs = mark[len(TIMEOUT_MARK) :].strip().removesuffix("s")
    try:
        return f"timed out after {format_duration(float(secs))}"
    except ValueError:
        return mark.removeprefix("openclaw-agent: ")


def last_line(data: bytes | None) -> str:
    """The last non-blank line of ``data``, decoded and stripped ("" when there is none)."""
    lines = [ln for ln in (data or b"").splitlines() if ln.strip()]
    return lines[-1].decode("utf-8", "replace").strip() if lines else ""


def json_lines(data: bytes) -> Iterable[dict[str, Any]]:
    """The JSON objects among ``data``'s lines, last first; other lines are skipped."""
    import json

    for line in reversed(data.splitlines()):
        line = line.strip()
        if not line.startswith(b"{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj
