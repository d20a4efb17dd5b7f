"""OpenAI's Codex CLI (``codex exec --json``): its command line, its events, its verdict.

Facts (checked against 0.169.0, tests/fakes/FAKE-CODEX.md):

- The prompt is stdin, with ``-`` as the prompt argument: byte-exact, and
  never an open pipe (with a prompt argument it would read stdin to EOF and
  append it). The launcher gives it the prompt file.
- ``--dangerously-bypass-approvals-and-sandbox`` is headless full-auto:
  without it the sandbox is read-only and an edit is silently rejected while
  the run still exits 0.
- Events, one JSON object per line: ``thread.started{thread_id}``,
  ``turn.started``, ``item.started``/``item.completed`` (``agent_message``,
  ``reasoning``, ``command_execution``, ``file_change``), then
  ``turn.completed{usage}`` or ``error`` + ``turn.failed{error}``.
- No cost is reported; usage is the whole thread's, resumes included.
- The thread id is Codex's own (a UUIDv7), learnt from ``thread.started``;
  ``codex exec resume <id> -`` continues it under the same id.
- Shell commands run in sessions of their own: a kill must sweep them (the
  launcher and the kill do, by the task's environment tag).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from openclaw.agents.base import Agent, Controls, env_dir, json_lines, result_verdict
from openclaw.agents.entries import Entry, integer, json_events, obj, seq


class CodexAgent(Agent):
    """The Codex CLI in headless ``exec --json`` mode."""

    name = "codex"
    binary = "codex"
    install = "install the Codex CLI (npm install -g @openai/codex)"
    supports = frozenset({"model", "extra_args"})
    resumable = True

    def command(self, path: str, session_id: str, controls: Controls, resume: str | None = None) -> list[str]:
        """``codex exec --json ... -``: the prompt is stdin. ``resume`` continues that thread."""
        argv = [path, "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]
        if controls.model:
            argv += ["--model", controls.model]
        argv += list(controls.extra_args)
        if resume:
            argv += ["resume", resume]
        argv.append("-")
        return argv

    def session_id(self, task_id: str, resume: str | None = None) -> str | None:
        """Codex picks the thread id; a resumed task keeps its parent's."""
        return resume

    def session_state(
        self, home: str, workspace: str, session_id: str, env: Mapping[str, str] | None = None
    ) -> list[str]:
        """``$CODEX_HOME/sessions`` (default ``~/.codex``): ``exec resume ID`` looks for the
        thread's rollout there (``YYYY/MM/DD/rollout-...-ID.jsonl``), and needs nothing else of
        CODEX_HOME (0.169.0: its sqlite state files are made afresh)."""
        codex_home = env_dir(env, "CODEX_HOME", workspace) or f"{home.rstrip('/')}/.codex"
        return [f"{codex_home.rstrip('/')}/sessions"]

    def session_from_output(self, stdout_head: bytes) -> str | None:
        """The ``thread_id`` of ``thread.started``."""
        for event in reversed(list(json_lines(stdout_head))):
            if event.get("type") == "thread.started" and isinstance(event.get("thread_id"), str):
                return str(event["thread_id"])
        return None

    def summarize(self, stdout_tail: bytes) -> dict[str, Any] | None:
        """From the last ``turn.completed`` or ``turn.failed``: outcome, tokens, and the last
        ``agent_message`` before it (the reply)."""
        events = list(json_lines(stdout_tail))  # last first
        for i, event in enumerate(events):
            kind = event.get("type")
            if kind not in ("turn.completed", "turn.failed"):
                continue
            failed = kind == "turn.failed"
            usage = obj(event.get("usage"))
            error = obj(event.get("error"))
            replies = (obj(e.get("item")) for e in events[i + 1 :] if e.get("type") == "item.completed")
            text = next((str(it["text"]) for it in replies if it.get("type") == "agent_message"), None)
            return {
                "subtype": "error" if failed else "success",
                "is_error": failed,
                "num_turns": None,
                "total_cost_usd": None,
                "duration_ms": None,
                "text": str(error.get("message") or "") if failed else text,
                "input_tokens": integer(usage.get("input_tokens")),
                "output_tokens": integer(usage.get("output_tokens")),
            }
        return None

    def outcome(self, exit_code: int | None, result: dict[str, Any] | None) -> tuple[bool, str | None]:
        """Completed: exit 0 and a final ``turn.completed`` (not ``turn.failed``)."""
        return result_verdict(exit_code, result, "the turn failed")

    def entries(self, lines: Iterable[bytes], transcript: bool = False) -> list[Entry]:
        """Codex's JSONL events as entries; anything else is ``raw``."""
        return json_events(lines, _event)


def _event(event: dict[str, Any]) -> list[Entry]:
    kind = event.get("type")
    item = obj(event.get("item")) or None
    if kind == "thread.started":
        return [Entry("system", name="init", data={"session_id": event.get("thread_id")})]
    if kind == "turn.started":
        return []
    if kind in ("item.started", "item.completed", "item.updated") and item is not None:
        return _item(kind, item)
    if kind == "turn.completed":
        usage = obj(event.get("usage"))
        return [Entry("result", name="success", data={"usage": usage})]
    if kind == "turn.failed":
        error = obj(event.get("error"))
        message = str(error.get("message") or "")
        return [Entry("result", message, name="error", is_error=True, data={"errors": [message]})]
    if kind == "error":
        return [Entry("error", str(event.get("message") or ""), is_error=True)]
    return [Entry("raw", json.dumps(event))]


def _item(kind: str, item: dict[str, Any]) -> list[Entry]:
    what = item.get("type")
    done = kind == "item.completed"
    if what == "agent_message":
        return [Entry("message", str(item.get("text") or ""))] if done else []
    if what == "reasoning":
        return [Entry("thinking", str(item.get("text") or ""))] if done else []
    if what == "command_execution":
        if not done:
            return [Entry("tool_call", name="shell", input={"command": item.get("command")})]
        code = item.get("exit_code")
        failed = item.get("status") == "failed" or (isinstance(code, int) and code != 0)
        output = str(item.get("aggregated_output") or "")
        return [Entry("tool_result", output, is_error=failed, data={"id": item.get("id"), "exit_code": code})]
    if what == "file_change":
        changes = seq(item.get("changes"))
        paths = [str(c.get("path")) for c in changes if isinstance(c, dict)]
        if not done:
            return [Entry("tool_call", name="apply_patch", input={"path": ", ".join(paths)})]
        failed = item.get("status") == "failed"
        return [Entry("tool_result", ", ".join(paths), is_error=failed, data={"id": item.get("id")})]
    if done:
        return [Entry("raw", json.dumps(item))]
    return []
