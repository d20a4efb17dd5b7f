"""Claude Code (``claude -p``): its command line, its transcript path, its result event.

Nothing here knows where the agent runs; executors do that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from openclaw.agents.base import Agent, Controls, json_lines
from openclaw.agents.entries import integer, number

if TYPE_CHECKING:
    from openclaw.agents.entries import Entry

#: Claude Code refuses these as root unless IS_SANDBOX=1 is set.
SANDBOX_VAR = "IS_SANDBOX"

_ALNUM = re.compile(r"[A-Za-z0-9]")


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


class ClaudeAgent(Agent):
    """The Claude Code CLI in headless mode, streaming JSON events on stdout."""

    name = "claude"
    binary = "claude"
    install = "install Claude Code (npm install -g @anthropic-ai/claude-code)"
    supports = frozenset(
        {
            "model",
            "max_turns",
            "max_budget_usd",
            "append_system_prompt",
            "allowed_tools",
            "disallowed_tools",
            "extra_args",
        }
    )
    resumable = True
    root_var = SANDBOX_VAR

    def command(self, path: str, session_id: str, controls: Controls, resume: str | None = None) -> list[str]:
        """The argv that runs one task. The prompt is *not* in it: it goes to stdin.

        ``claude -p`` with no positional prompt reads the prompt from stdin,
        byte-exact. The task id is the session id, which fixes the transcript
        path. ``resume`` forks an earlier session under the new id.
        """
        argv = [path, "-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"]
        if controls.max_turns is not None:
            argv += ["--max-turns", str(controls.max_turns)]
        if controls.model:
            argv += ["--model", controls.model]
        if controls.max_budget_usd is not None:
            argv += ["--max-budget-usd", f"{controls.max_budget_usd:g}"]
        if controls.append_system_prompt:
            argv += ["--append-system-prompt", controls.append_system_prompt]
        if controls.allowed_tools:
            argv += ["--allowedTools", ",".join(controls.allowed_tools)]
        if controls.disallowed_tools:
            argv += ["--disallowedTools", ",".join(controls.disallowed_tools)]
        argv += list(controls.extra_args)
        if resume:
            argv += ["--resume", resume, "--fork-session"]
        argv += ["--session-id", session_id]
        return argv

    def session_id(self, task_id: str, resume: str | None = None) -> str | None:
        """The task id: ``--session-id`` fixes it (a resume forks under it), and with it the
        transcript's path."""
        return task_id

    @staticmethod
    def project_dir(workspace: str) -> str:
        """Claude Code's project directory name for a (symlink-free) working directory.

        Every UTF-16 code unit that is not an ASCII letter or digit becomes
        ``-`` (so an emoji gives ``--``): ``/tmp/enc test/a.b_c-d`` is
        ``-tmp-enc-test-a-b-c-d``. A name over 200 characters is cut to 200
        and gets ``-<hash>``: the JavaScript string hash of the path, base 36.
        """
        units = _utf16_units(workspace)
        encoded = "".join(chr(u) if _ALNUM.match(chr(u)) else "-" for u in units)
        if len(encoded) <= 200:
            return encoded
        h = 0
        for u in units:
            h = ((h << 5) - h + u) & 0xFFFFFFFF
        h = abs(h - 0x100000000 if h >= 0x80000000 else h)
        digits = ""
        while True:
            h, r = divmod(h, 36)
            digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
            if not h:
                break
        return f"{encoded[:200]}-{digits}"

    def transcript(self, home: str, workspace: str, session_id: str) -> str | None:
        """Where Claude Code writes the session transcript (JSONL) on that host."""
        return f"{home.rstrip('/')}/.claude/projects/{self.project_dir(workspace)}/{session_id}.jsonl"

    def session_state(
        self, home: str, workspace: str, session_id: str, env: Mapping[str, str] | None = None
    ) -> list[str]:
        """The session's transcript: ``--resume ID --fork-session`` reads that one file."""
        path = self.transcript(home, workspace, session_id)
        return [path] if path else []

    def summarize(self, stdout_tail: bytes) -> dict[str, Any] | None:
        """The ``result`` summary of the last stream-json result event in ``stdout_tail``.

        Lines that are not JSON (a truncated last line, stray output) are
        skipped. None when there is no result event.
        """
        for event in json_lines(stdout_tail):
            if event.get("type") == "result":
                return summarize_event(event)
        return None

    def outcome(self, exit_code: int | None, result: dict[str, Any] | None) -> tuple[bool, str | None]:
        """Completed: exit 0 and a result event that is not an error."""
        if result is not None:
            if exit_code == 0 and not result["is_error"] and result["subtype"] == "success":
                return True, None
            if result["subtype"] != "success":
                return False, str(result["subtype"])
            if result["is_error"]:
                text = (result.get("text") or "").strip().splitlines()
                return False, text[0][:4000] if text else "the agent reported an error"
        return False, None

    def entries(self, lines: Iterable[bytes], transcript: bool = False) -> list[Entry]:
        """stream-json events (or transcript lines) as entries: see :mod:`openclaw.agents.stream`."""
        from openclaw.agents.stream import parse_lines

        return parse_lines(lines, transcript=transcript)


def summarize_event(event: dict[str, Any]) -> dict[str, Any]:
    """The stored summary of one stream-json ``result`` event."""
    text = event.get("result")
    return {
        "subtype": str(event.get("subtype") or "unknown"),
        "is_error": bool(event.get("is_error", False)),
        "num_turns": integer(event.get("num_turns")),
        "total_cost_usd": number(event.get("total_cost_usd")),
        "duration_ms": number(event.get("duration_ms")),
        "text": text if isinstance(text, str) else None,
    }
