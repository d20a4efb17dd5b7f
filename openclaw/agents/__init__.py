"""Agents: how to run a coding agent and read what it printed, not where it runs.

Each agent is one module behind the :class:`~openclaw.agents.base.Agent`
interface; this registry is the only place that names them all.
"""

from __future__ import annotations

from openclaw.agents.base import Agent
from openclaw.errors import UsageError

#: Agent name -> "module:Class", imported on first use (a command that never starts a task
#: never imports an agent).
AGENTS = {
    "claude": "openclaw.agents.claude:ClaudeAgent",
    "codex": "openclaw.agents.codex:CodexAgent",
    "gemini": "openclaw.agents.gemini:GeminiAgent",
    "opencode": "openclaw.agents.opencode:OpenCodeAgent",
    "command": "openclaw.agents.command:CommandAgent",
}
DEFAULT_AGENT = "claude"


def get_agent(name: str = DEFAULT_AGENT) -> Agent:
    """The agent called ``name``; a :class:`UsageError` naming the known ones otherwise."""
    import importlib

    try:
        target = AGENTS[name]
    except KeyError:
        raise UsageError(
            f"unknown agent {name!r}", f"use one of: {', '.join(sorted(AGENTS))} (--agent NAME)"
        ) from None
    module, _, cls = target.partition(":")
    agent: Agent = getattr(importlib.import_module(module), cls)()
    return agent
