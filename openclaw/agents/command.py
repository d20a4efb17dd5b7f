"""A plain command (``openclaw-agent run -- make test``): no model, no events, success is exit 0.

The argv is the command as given; the task's prompt file (a one-line
description of the command) is its stdin, so a command that reads stdin
sees that and then end of file, never a terminal or an open pipe. Its
output is shown as it is.
"""

from __future__ import annotations

import dataclasses

from openclaw.agents.base import Agent, Controls, last_line
from openclaw.errors import UsageError
from openclaw.states import Observation


class CommandAgent(Agent):
    """Any argv, run as the task's process."""

    name = "command"
    binary = ""
    install = "install it on that host, or give its full path"
    supports = frozenset({"argv"})

    def label(self, argv: list[str]) -> str:
        """The command's own name (``make``), for messages."""
        return argv[0].rsplit("/", 1)[-1] if argv else "the command"

    def check(self, controls: Controls) -> None:
        """Refuse the agents' controls, and a run with no command."""
        super().check(controls)
        if not controls.argv:
            raise UsageError("no command to run", "give it after --: openclaw-agent run -- make test")

    def command(self, path: str, session_id: str, controls: Controls, resume: str | None = None) -> list[str]:
        """The command itself: ``controls.argv``."""
        return list(controls.argv)

    def judge(self, obs: Observation) -> Observation:
        """Completed when it exits 0; otherwise the exit status, and the last line of stderr."""
        judged = super().judge(obs)
        if judged.succeeded or (judged.reason or "").startswith("timed out after"):
            return judged
        code = obs.exit_code
        what = (
            f"the command was killed by signal {code - 128}"
            if code is not None and code > 128
            else f"the command exited with code {code}"
        )
        last = last_line(obs.stderr_tail)
        return dataclasses.replace(judged, reason=f"{what}: {last[:4000]}" if last else what)
