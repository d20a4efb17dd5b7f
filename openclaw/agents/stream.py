"""Claude Code's stream-json and session transcripts, parsed into entries (:mod:`openclaw.agents.entries`).

Each line becomes zero or more :class:`Entry` objects of one of these kinds:

- ``system``: ``system`` events; ``name`` is the subtype (``init`` carries
  model, tools and session_id in ``data``; ``api_retry`` carries attempt,
  max_retries, error_status, retry_delay_ms)
- ``message``: agent text; ``thinking``: agent thinking
- ``tool_call``: a tool use (``name``, ``input``)
- ``tool_result``: a tool's result (``is_error``, ``text``)
- ``error``: an API error the CLI reported as a synthetic message
- ``result``: the final result (``data`` holds subtype, is_error, num_turns,
  total_cost_usd, duration_ms, usage, session_id; ``text`` the result text)
- ``prompt``: the user's prompt (transcripts only)
- ``raw``: anything unknown or malformed, kept as it was; never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from openclaw.agents.entries import Entry

__all__ = ["Entry", "parse_event", "parse_line", "parse_lines"]

#: Transcript bookkeeping lines that carry nothing to show.
_TRANSCRIPT_QUIET = frozenset(
    {
        "queue-operation",
        "last-prompt",
        "attachment",
        "cost-state",
        "summary",
        "create",
        "mode",
        "file-history-snapshot",
        "system",
    }
)
_RESULT_KEYS = (
    "subtype",
    "is_error",
    "num_turns",
    "total_cost_usd",
    "duration_ms",
    "usage",
    "session_id",
    "errors",
    "api_error_status",
)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
        return "\n".join(p for p in parts if p)
    return ""


def _assistant(event: dict[str, Any]) -> list[Entry]:
    message = event.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return [Entry("raw", json.dumps(event))]
    synthetic = message.get("model") == "<synthetic>"
    out = []
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text = str(block.get("text", ""))
            if synthetic or event.get("error") or text.startswith("API Error"):
                out.append(Entry("error", text, is_error=True))
            else:
                out.append(Entry("message", text))
        elif kind == "thinking":
            out.append(Entry("thinking", str(block.get("thinking", ""))))
        elif kind == "tool_use":
            tool_input = block.get("input")
            out.append(
                Entry(
                    "tool_call",
                    name=str(block.get("name", "?")),
                    input=tool_input if isinstance(tool_input, dict) else {},
                    data={"id": block.get("id")},
                )
            )
    return out


def _user(event: dict[str, Any], transcript: bool) -> list[Entry]:
    message = event.get("message")
    if not isinstance(message, dict):
        return [Entry("raw", json.dumps(event))]
    content = message.get("content")
    if isinstance(content, str):
        return [Entry("prompt", content)] if transcript else []
    out = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            out.append(
                Entry(
                    "tool_result",
                    _content_text(block.get("content")),
                    is_error=bool(block.get("is_error")),
                    data={"id": block.get("tool_use_id")},
                )
            )
        elif isinstance(block, dict) and block.get("type") == "text" and transcript:
            out.append(Entry("prompt", str(block.get("text", ""))))
    return out


def parse_event(event: Any, transcript: bool = False) -> list[Entry]:
    """The entries of one decoded stream-json event (or transcript line)."""
    if not isinstance(event, dict):
        return [Entry("raw", json.dumps(event))]
    kind = event.get("type")
    if kind == "assistant":
        return _assistant(event)
    if kind == "user":
        return _user(event, transcript)
    if kind == "result":
        text = event.get("result")
        return [
            Entry(
                "result",
                text if isinstance(text, str) else "",
                name=str(event.get("subtype", "")),
                is_error=bool(event.get("is_error")),
                data={k: event[k] for k in _RESULT_KEYS if k in event},
            )
        ]
    if kind == "system" and not transcript:
        subtype = str(event.get("subtype", ""))
        keep = {
            k: v
            for k, v in event.items()
            if k
            not in ("type", "subtype", "uuid", "slash_commands", "skills", "agents", "plugins", "mcp_servers")
        }
        return [Entry("system", name=subtype, data=keep, is_error=subtype == "api_retry")]
    if transcript and kind in _TRANSCRIPT_QUIET:
        return []
    return [Entry("raw", json.dumps(event))]


def parse_line(line: bytes | str, transcript: bool = False) -> list[Entry]:
    """The entries of one line; a malformed line is one ``raw`` entry."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    if not text.strip():
        return []
    try:
        event = json.loads(text)
    except ValueError:
        return [Entry("raw", text.rstrip("\n"))]
    return parse_event(event, transcript)


def parse_lines(lines: Iterable[bytes | str], transcript: bool = False) -> list[Entry]:
    """The entries of many lines, in order."""
    return [e for line in lines for e in parse_line(line, transcript)]
