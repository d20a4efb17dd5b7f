"""The normalised output model every agent's parser produces, and what ``logs`` renders.

Each line of an agent's output becomes zero or more :class:`Entry` objects
of one of these kinds:

- ``system``: the agent's own bookkeeping; ``name`` says which (``init``
  carries model and session id in ``data``; ``api_retry`` carries attempt,
  max_retries, error_status, retry_delay_ms)
- ``message``: agent text; ``thinking``: agent thinking
- ``tool_call``: a tool use (``name``, ``input``)
- ``tool_result``: a tool's result (``is_error``, ``text``)
- ``error``: an API error or a failed turn the agent reported
- ``result``: the final result (``name`` is the outcome; ``data`` holds
  what the agent reports of turns, cost, duration, usage)
- ``prompt``: the user's prompt (transcripts only)
- ``output``: a line of a plain command's output, shown as it is
- ``raw``: anything unknown or malformed, kept as it was; never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Entry:
    """One normalised item of an agent's output."""

    kind: str
    text: str = ""
    name: str | None = None
    input: dict[str, Any] | None = None
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (the ``logs --json`` line shape), without empty fields."""
        out = {k: v for k, v in asdict(self).items() if v not in (None, "", {}, False)}
        out["kind"] = self.kind
        return out


def output_entries(lines: Iterable[bytes | str]) -> list[Entry]:
    """Plain output lines, one ``output`` entry each (a command's stdout)."""
    out = []
    for line in lines:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        out.append(Entry("output", text.rstrip("\n")))
    return out


def number(value: Any) -> float | int | None:
    """``value`` if it is a JSON number (not a bool), else None."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def integer(value: Any) -> int | None:
    """``value`` if it is a JSON integer (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def seq(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def json_events(lines: Iterable[bytes | str], handle: Callable[[dict[str, Any]], list[Entry]]) -> list[Entry]:
    """Lines of JSON events, each turned into entries by ``handle``; a line that is not a JSON
    object is one ``raw`` entry (never an exception)."""
    out: list[Entry] = []
    for line in lines:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        if not text.strip():
            continue
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        out.extend(handle(event) if isinstance(event, dict) else [Entry("raw", text.rstrip("\n"))])
    return out
