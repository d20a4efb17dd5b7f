"""OpenCode (``opencode run --format json``): its command line, its events, its verdict.

Facts (checked against 1.18.33, tests/fakes/FAKE-OPENCODE.md):

- The prompt is stdin, read to end of file (positional words are re-quoted
  and would change it); the launcher gives it the prompt file.
- ``--auto`` approves the permissions it would otherwise ask for; headless,
  an unapproved one is auto-rejected and the run stops with exit 0.
- Events, one JSON object per line, each with ``sessionID``:
  ``step_start``, ``text``, ``tool_use`` (once the tool finished),
  ``step_finish`` (``reason`` tool-calls or stop, ``tokens``, ``cost``),
  ``error``. There is no final result event: a run completed when it exits
  0 after a ``step_finish`` whose reason is ``stop``.
- The session id (``ses_...``) is OpenCode's own; ``-s ID`` resumes it, from
  the session's own directory (the task's workspace).
- Cost is reported per step (from the configured model's prices).
- It is one process; bash tools run in sessions of their own, which the
  launcher and the kill sweep by the task's environment tag.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from openclaw.agents.base import Agent, Controls, env_dir, json_lines
from openclaw.agents.entries import Entry, integer, json_events, number, obj


class OpenCodeAgent(Agent):
    """OpenCode's headless ``run --format json``."""

    name = "opencode"
    binary = "opencode"
    install = "install OpenCode (npm install -g opencode-ai)"
    supports = frozenset({"model", "extra_args"})
    resumable = True

    def command(self, path: str, session_id: str, controls: Controls, resume: str | None = None) -> list[str]:
        """``opencode run --format json --auto ...``; the prompt is stdin."""
        argv = [path, "run", "--format", "json", "--auto"]
        if controls.model:
            argv += ["--model", controls.model]
        argv += list(controls.extra_args)
        if resume:
            argv += ["--session", resume]
        return argv

    def session_id(self, task_id: str, resume: str | None = None) -> str | None:
        """OpenCode picks the session id; a resumed task keeps its parent's."""
        return resume

    def session_state(
        self, home: str, workspace: str, session_id: str, env: Mapping[str, str] | None = None
    ) -> list[str]:
        """Its SQLite database and the database's write-ahead log: ``opencode.db`` and
        ``opencode.db-wal`` in ``$XDG_DATA_HOME/opencode`` (default ``~/.local/share``), or
        where ``OPENCODE_DB`` puts it. The WAL is not optional: when ``run`` exits, the
        session's rows are still in it (1.18.33: a 4 KiB database beside a 780 KiB WAL)."""
        data = env_dir(env, "XDG_DATA_HOME", workspace) or f"{home.rstrip('/')}/.local/share"
        db = (env or {}).get("OPENCODE_DB") or "opencode.db"
        if db == ":memory:":
            return []
        path = posixpath.join(data, "opencode", db)  # an absolute OPENCODE_DB stands alone
        return [path, path + "-wal"]

    def session_from_output(self, stdout_head: bytes) -> str | None:
        """The ``sessionID`` its events carry."""
        for event in reversed(list(json_lines(stdout_head))):
            if isinstance(event.get("sessionID"), str):
                return str(event["sessionID"])
        return None

    def summarize(self, stdout_tail: bytes) -> dict[str, Any] | None:
        """From the events at the end of its output: the last step's reason, the cost and tokens
        of the steps seen, the last text, or the error that ended it."""
        events = list(json_lines(stdout_tail))  # last first
        if not events:
            return None
        last = events[0]
        if last.get("type") == "error":
            error = obj(last.get("error"))
            message = str(obj(error.get("data")).get("message") or error.get("name") or "error")
            return {
                "subtype": str(error.get("name") or "error"),
                "is_error": True,
                "num_turns": None,
                "total_cost_usd": None,
                "duration_ms": None,
                "text": message,
            }
        finish = next((e for e in events if e.get("type") == "step_finish"), None)
        if finish is None:
            return None
        part = obj(finish.get("part"))
        parts = [(e.get("type"), obj(e.get("part"))) for e in events]
        text = next((str(p.get("text") or "") for kind, p in parts if kind == "text"), None)
        finished = [p for kind, p in parts if kind == "step_finish"]
        cost = sum(number(p.get("cost")) or 0.0 for p in finished)
        steps = [obj(p.get("tokens")) for p in finished]
        stopped = part.get("reason") == "stop" and last.get("type") == "step_finish"
        return {
            "subtype": "success" if stopped else str(part.get("reason") or "unfinished"),
            "is_error": False,
            "num_turns": len(finished),
            "total_cost_usd": cost,
            "duration_ms": None,
            "text": text,
            "input_tokens": sum(integer(t.get("input")) or 0 for t in steps),
            "output_tokens": sum(integer(t.get("output")) or 0 for t in steps),
        }

    def outcome(self, exit_code: int | None, result: dict[str, Any] | None) -> tuple[bool, str | None]:
        """Completed: exit 0 and a last ``step_finish`` whose reason is ``stop``."""
        if result is None:
            return False, None
        if result["is_error"]:
            return False, (result.get("text") or "the agent reported an error")[:4000]
        if result["subtype"] != "success":
            return False, f"the run stopped after a step that ended with {result['subtype']!r}"
        return exit_code == 0, None

    def entries(self, lines: Iterable[bytes], transcript: bool = False) -> list[Entry]:
        """OpenCode's JSON events as entries; anything else is ``raw``."""
        return json_events(lines, _event)


def _event(event: dict[str, Any]) -> list[Entry]:
    kind = event.get("type")
    part = obj(event.get("part"))
    if kind == "step_start":
        return []
    if kind == "text":
        return [Entry("message", str(part.get("text") or ""))]
    if kind == "tool_use":
        state = obj(part.get("state"))
        tool_input = obj(state.get("input"))
        failed = state.get("status") == "error"
        output = str(state.get("output") or state.get("error") or "")
        return [
            Entry(
                "tool_call",
                name=str(part.get("tool") or "?"),
                input=tool_input,
                data={"id": part.get("callID")},
            ),
            Entry("tool_result", output, is_error=failed, data={"id": part.get("callID")}),
        ]
    if kind == "step_finish":
        if part.get("reason") != "stop":
            return []
        data = {"usage": obj(part.get("tokens")), "total_cost_usd": number(part.get("cost"))}
        return [Entry("result", name="success", data=data)]
    if kind == "error":
        error = obj(event.get("error"))
        message = str(obj(error.get("data")).get("message") or error.get("name") or "error")
        return [Entry("error", message, is_error=True)]
    return [Entry("raw", json.dumps(event))]
