"""Google's Gemini CLI (``gemini --output-format stream-json``): command line, events, verdict.

Facts (checked against 0.61.0, tests/fakes/FAKE-GEMINI.md):

- The prompt is stdin, with no ``-p`` (with both, stdin comes first and the
  two are joined). It waits only 500 ms for stdin's first byte: the
  launcher's prompt file is there at once.
- ``--yolo`` registers the write and shell tools in headless mode;
  ``--skip-trust`` keeps an untrusted folder from ending the run (exit 55).
- ``--session-id ID`` fixes the session id (any string; a reused one exits
  42); ``-r ID`` resumes it under the same id. The two exclude each other.
- Events: ``init``, ``message`` (``role``, ``content``, ``delta``),
  ``tool_use``, ``tool_result`` (``status``), then ``result`` (``status``
  success or error, ``stats`` with tokens). No cost is reported.
- A SIGTERM to its process group ends it with exit 0 and **no result
  event**: success is exit 0 *and* a ``result`` whose status is success.
- By default the started process relaunches itself as a child and ignores
  SIGTERM; ``GEMINI_CLI_NO_RELAUNCH=true`` keeps it one process, which a
  kill stops at once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from openclaw.agents.base import Agent, Controls, env_dir, json_lines, result_verdict
from openclaw.agents.entries import Entry, integer, json_events, number, obj
from openclaw.states import Observation

#: What its own exit codes mean (0.61.0).
EXIT_MEANINGS = {
    41: "authentication is not set up (set GEMINI_API_KEY, or security.auth.selectedType in "
    "~/.gemini/settings.json)",
    42: "bad input or session (a reused --session-id, or an unknown session to resume)",
    55: "the workspace folder is not trusted",
    144: "the API answered 400",
}
#: Lines it prints on stderr in every run, which say nothing about a failure.
_NOISE = ("YOLO mode is enabled",)


class GeminiAgent(Agent):
    """The Gemini CLI in headless stream-json mode."""

    name = "gemini"
    binary = "gemini"
    install = "install the Gemini CLI (npm install -g @google/gemini-cli)"
    supports = frozenset({"model", "extra_args"})
    resumable = True

    def command(self, path: str, session_id: str, controls: Controls, resume: str | None = None) -> list[str]:
        """``gemini --output-format stream-json --yolo ...``; the prompt is stdin."""
        argv = [path, "--output-format", "stream-json", "--yolo", "--skip-trust"]
        if controls.model:
            argv += ["--model", controls.model]
        argv += list(controls.extra_args)
        argv += ["--resume", resume] if resume else ["--session-id", session_id]
        return argv

    def environment(self) -> dict[str, str]:
        """One process (no relaunched child ignoring SIGTERM), and no colour codes in the events."""
        return {"GEMINI_CLI_NO_RELAUNCH": "true", "NO_COLOR": "1"}

    def session_id(self, task_id: str, resume: str | None = None) -> str | None:
        """The task id (``--session-id``); a resumed task keeps its parent's session."""
        return resume or task_id

    def session_state(
        self, home: str, workspace: str, session_id: str, env: Mapping[str, str] | None = None
    ) -> list[str]:
        """``~/.gemini/tmp`` (``$GEMINI_CLI_HOME/.gemini/tmp`` where that is set): ``--resume``
        looks for ``<project slug>/chats/session-*-<id8>.jsonl`` there. The slug of the
        workspace comes back from the ``.project_root`` marker in ``tmp/<slug>`` when
        ``projects.json`` does not have it (0.61.0)."""
        base = env_dir(env, "GEMINI_CLI_HOME", workspace) or home
        return [f"{base.rstrip('/')}/.gemini/tmp"]

    def summarize(self, stdout_tail: bytes) -> dict[str, Any] | None:
        """From the last ``result`` event: outcome, tokens, duration, and the last reply's text."""
        events = list(json_lines(stdout_tail))  # last first
        for i, event in enumerate(events):
            if event.get("type") != "result":
                continue
            status = str(event.get("status") or "unknown")
            stats = obj(event.get("stats"))
            error = obj(event.get("error"))
            reply: list[str] = []
            for before in events[i + 1 :]:
                if before.get("type") != "message" or before.get("role") != "assistant":
                    break
                reply.insert(0, str(before.get("content") or ""))
            failed = status != "success"
            return {
                "subtype": status,
                "is_error": failed,
                "num_turns": None,
                "total_cost_usd": None,
                "duration_ms": number(stats.get("duration_ms")),
                "text": str(error.get("message") or status) if failed else "".join(reply) or None,
                "input_tokens": integer(stats.get("input_tokens")),
                "output_tokens": integer(stats.get("output_tokens")),
            }
        return None

    def judge(self, obs: Observation) -> Observation:
        """As :meth:`Agent.judge`; a failure without a result event says what its exit code
        means and its last words (on stderr, else stdout), never its YOLO notice."""
        judged = super().judge(obs)
        if judged.succeeded or judged.result is not None or (judged.reason or "").startswith("timed out"):
            return judged
        words = [
            ln.decode("utf-8", "replace").strip()
            for ln in [*(obs.stdout_tail or b"").splitlines(), *(obs.stderr_tail or b"").splitlines()]
            if ln.strip() and not ln.lstrip().startswith(b"{")
        ]
        words = [w for w in words if not w.startswith(_NOISE)]
        meaning = EXIT_MEANINGS.get(obs.exit_code or 0)
        if obs.exit_code == 0:
            meaning = "it exited 0 without a result event (stopped by a signal?)"
        parts = [p for p in (meaning, words[-1][:4000] if words else None) if p]
        return dataclasses.replace(judged, reason=": ".join(parts) if parts else judged.reason)

    def outcome(self, exit_code: int | None, result: dict[str, Any] | None) -> tuple[bool, str | None]:
        """Completed: exit 0 and a ``result`` with status success (exit 0 alone may be a SIGTERM)."""
        return result_verdict(exit_code, result, "the agent reported an error")

    def entries(self, lines: Iterable[bytes], transcript: bool = False) -> list[Entry]:
        """stream-json events as entries; an assistant reply streamed in deltas is one message."""
        out: list[Entry] = []
        for entry in json_events(lines, _event):
            if entry.kind == "message" and entry.data.get("delta") and out and out[-1].data.get("delta"):
                out[-1].text += entry.text  # the same reply, one more piece
            else:
                out.append(entry)
        return out


def _event(event: dict[str, Any]) -> list[Entry]:
    return [_entry(event)]


def _entry(event: dict[str, Any]) -> Entry:
    kind = event.get("type")
    if kind == "init":
        return Entry("system", name="init", data={k: event.get(k) for k in ("session_id", "model")})
    if kind == "message":
        content = str(event.get("content") or "")
        if event.get("role") == "user":
            return Entry("prompt", content)
        return Entry("message", content, data={"delta": True} if event.get("delta") else {})
    if kind == "tool_use":
        params = event.get("parameters")
        return Entry(
            "tool_call",
            name=str(event.get("tool_name") or "?"),
            input=params if isinstance(params, dict) else {},
            data={"id": event.get("tool_id")},
        )
    if kind == "tool_result":
        error = obj(event.get("error"))
        failed = event.get("status") != "success"
        text = str(event.get("output") or error.get("message") or "")
        return Entry("tool_result", text, is_error=failed, data={"id": event.get("tool_id")})
    if kind == "result":
        status = str(event.get("status") or "")
        error = obj(event.get("error"))
        stats = obj(event.get("stats"))
        data: dict[str, Any] = {"usage": stats}
        if isinstance(stats.get("duration_ms"), (int, float)):
            data["duration_ms"] = stats["duration_ms"]
        if error.get("message"):
            data["errors"] = [error["message"]]
        return Entry(
            "result", str(error.get("message") or ""), name=status, is_error=status != "success", data=data
        )
    if kind == "error":
        return Entry("error", str(event.get("message") or ""), is_error=True)
    return Entry("raw", json.dumps(event))
