"""Claude Code (``claude -p``): its command line, its transcript path, its result event.

Nothing here knows where the agent runs; executors do that.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Claude Code refuses these as root unless IS_SANDBOX=1 is set.
SANDBOX_VAR = "IS_SANDBOX"

_ALNUM = re.compile(r"[A-Za-z0-9]")


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


class ClaudeAgent:
    """The Claude Code CLI in headless mode, streaming JSON events on stdout."""

    name = "claude"

    def command(
        self,
        claude_path: str,
        session_id: str,
        max_turns: int,
        resume: str | None = None,
    ) -> list[str]:
        """The argv that runs one task. The prompt is *not* in it: it goes to stdin.

        ``claude -p`` with no positional prompt reads the prompt from stdin,
        byte-exact. The task id is the session id, which fixes the transcript
        path. ``resume`` forks an earlier session under the new id.
        """
        argv = [
            claude_path,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
            "--max-turns",
            str(max_turns),
        ]
        if resume:
            argv += ["--resume", resume, "--fork-session"]
        argv += ["--session-id", session_id]
        return argv

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

    def transcript(self, home: str, workspace: str, session_id: str) -> str:
        """Where Claude Code writes the session transcript (JSONL) on that host."""
        return f"{home.rstrip('/')}/.claude/projects/{self.project_dir(workspace)}/{session_id}.jsonl"

    @staticmethod
    def refuses_as_root(env: dict[str, str]) -> bool:
        """True when Claude Code, run as root with this environment, will refuse to start."""
        return env.get(SANDBOX_VAR) != "1"

    @staticmethod
    def summarize(output_tail: bytes) -> dict[str, Any] | None:
        """The ``result`` summary of the last stream-json result event in ``output_tail``.

        Lines that are not JSON (a truncated last line, stray output) are
        skipped. None when there is no result event.
        """
        for line in reversed(output_tail.splitlines()):
            if b'"result"' not in line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("type") == "result":
                return summarize_event(event)
        return None


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def summarize_event(event: dict[str, Any]) -> dict[str, Any]:
    """The stored summary of one stream-json ``result`` event."""
    text = event.get("result")
    turns = event.get("num_turns")
    return {
        "subtype": str(event.get("subtype") or "unknown"),
        "is_error": bool(event.get("is_error", False)),
        "num_turns": turns if isinstance(turns, int) and not isinstance(turns, bool) else None,
        "total_cost_usd": _number(event.get("total_cost_usd")),
        "duration_ms": _number(event.get("duration_ms")),
        "text": text if isinstance(text, str) else None,
    }
