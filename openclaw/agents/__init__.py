"""Agents: how to run a coding agent and read what it printed, not where it runs."""

from __future__ import annotations

from openclaw.agents.claude import ClaudeAgent
from openclaw.errors import UsageError

AGENTS = {"claude": ClaudeAgent}


def get_agent(name: str = "claude") -> ClaudeAgent:
    """The agent called ``name``."""
    try:
        return AGENTS[name]()
    except KeyError:
        raise UsageError(f"unknown agent {name!r}", f"use one of: {', '.join(AGENTS)}") from None
