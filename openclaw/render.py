"""Turning records into text for people (tabulate tables) and for programs (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from openclaw.states import parse_time

if TYPE_CHECKING:
    from openclaw.index import Row
    from openclaw.task import Observed, TaskRecord

SHORT_ID = 8


def dumps(obj: Any) -> str:
    """One compact JSON document on one line (the shape of ``--json`` and ``--jsonl`` output)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def short(text: str | None, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def age(stamp: str | None, now: datetime | None = None) -> str:
    """How long ago ``stamp`` was, compactly: ``42s``, ``5m``, ``3h``, ``2d``."""
    if not stamp:
        return ""
    seconds = int(((now or datetime.now(timezone.utc)) - parse_time(stamp)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _cost(meta: TaskRecord) -> str:
    cost = (meta.get("result") or {}).get("total_cost_usd")
    return f"${cost:.4f}" if isinstance(cost, (int, float)) else ""


def _turns(meta: TaskRecord) -> str:
    turns = (meta.get("result") or {}).get("num_turns")
    return str(turns) if turns is not None else ""


def _note(view: Observed) -> str:
    """What the last column says: the error, the reason it is unknown, or the prompt."""
    meta = view.record
    if view.unknown:
        return f"(was {meta['status']}) {view.reason or ''}"
    if meta["status"] in ("failed", "lost"):
        return str(meta.get("error") or "")
    return str(meta["prompt"])


def task_rows(items: Sequence[Observed | Row]) -> list[list[str]]:
    """The rows of the task table, one per task: a record beside its observation, or a
    finished task's index row (which holds what the table shows)."""
    from openclaw.task import Observed

    now = datetime.now(timezone.utc)
    out = []
    for i in items:
        if isinstance(i, Observed):
            m = i.record
            shown = i.status if i.position is None else f"{i.status} #{i.position}"
            cells = [m["task_id"], shown, m["executor"], m["created_at"], _turns(m), _cost(m), _note(i)]
        else:
            turns = "" if i.turns is None else str(i.turns)
            cost = "" if i.cost is None else f"${i.cost:.4f}"
            cells = [i.task_id, str(i.status), i.executor, i.created_at, turns, cost, i.note]
        cells[0] = cells[0][:SHORT_ID]
        cells[3] = age(cells[3], now)
        cells[6] = short(cells[6], 48)
        out.append(cells)
    return out


TASK_HEADERS = ["ID", "STATUS", "EXECUTOR", "AGE", "TURNS", "COST", "PROMPT / ERROR"]


def simple_table(rows: list[list[str]], headers: list[str]) -> str:
    """``rows`` as tabulate's ``simple`` format (strings, no number parsing) draws them, for
    tables too long for tabulate's per-cell type inference: 10,000 rows take it ~0.4 s.
    The tests hold the two to the same output."""
    widths = [len(h) + 2 for h in headers]
    for row in rows:
        for n, cell in enumerate(row):
            if len(cell) > widths[n]:
                widths[n] = len(cell)

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def task_table(items: Sequence[Observed | Row]) -> str:
    """The ``list`` table, newest first as given."""
    if not items:
        return "no tasks"
    return simple_table(task_rows(items), TASK_HEADERS)


def _outcome(meta: TaskRecord) -> str:
    """What the tool decided (the state), with the agent's own word for it when that differs."""
    if meta["status"] not in ("completed", "failed", "killed", "lost"):
        return ""
    subtype = (meta.get("result") or {}).get("subtype")
    is_error = (meta.get("result") or {}).get("is_error")
    if subtype and subtype != "success":
        return f"{meta['status']} ({subtype})"
    if subtype == "success" and is_error:
        return f"{meta['status']} (the agent reported an error)"
    return str(meta["status"])


def task_detail(view: Observed) -> str:
    """The ``status`` view of one task: a two-column table."""
    from tabulate import tabulate

    meta = view.record
    result = meta.get("result") or {}
    duration = result.get("duration_ms")
    rows: list[tuple[str, Any]] = [
        ("task", meta["task_id"]),
        ("status", view.status),
        ("last known", meta["status"] if view.unknown else ""),
        ("why unknown" if view.unknown else "note", view.reason or ""),
        ("executor", f"{meta['executor']} ({meta['executor_type']})"),
        ("host", meta.get("host") or ""),
        ("pid", meta.get("pid") or ""),
        ("workspace", meta["workspace"]),
        ("repository", (meta.get("worktree") or {}).get("repo") or ""),
        ("changes", worktree_summary(meta) or ""),
        ("notified", notify_summary(meta) or ""),
        ("prompt", short(meta["prompt"], 72)),
        ("max turns", meta["max_turns"]),
        ("created", meta["created_at"]),
        ("started", meta.get("started_at") or ""),
        ("finished", meta.get("finished_at") or ""),
        ("exit code", "" if meta.get("exit_code") is None else meta["exit_code"]),
        ("error", meta.get("error") or ""),
        ("outcome", _outcome(meta)),
        ("turns", _turns(meta)),
        ("cost", _cost(meta)),
        ("duration", f"{duration / 1000:.1f}s" if isinstance(duration, (int, float)) else ""),
        ("result", short(result.get("text"), 200)),
        ("transcript", meta.get("transcript") or ""),
        ("parent", meta.get("parent_id") or ""),
    ]
    return tabulate([(k, v) for k, v in rows if v != ""], tablefmt="plain", disable_numparse=True)


def worktree_summary(meta: TaskRecord) -> str | None:
    """The one line ``status`` shows of a worktree task's branch, change and push."""
    from openclaw.worktree import summary

    return summary(meta)


def notify_summary(meta: TaskRecord) -> str | None:
    """The one line ``status`` shows of who was told that the task ended, and how it went."""
    from openclaw.notify import summary

    return summary(meta)


def counts_line(counts: dict[str, int], total_cost: float) -> str:
    """``3 running, 10 completed, 1 failed · $0.1234`` (zero counts left out)."""
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    return (", ".join(parts) or "no tasks") + f" · total cost ${total_cost:.4f}"


def capacity_line(rows: list[dict[str, Any]]) -> str:
    """``executors: crib 2/2 (3 queued), local 1/-``: each executor's active tasks, its cap
    (``-``: none) and the queued tasks that may go to it."""
    parts = []
    for r in rows:
        queued = f" ({r['queued_tasks']} queued)" if r["queued_tasks"] else ""
        parts.append(f"{r['name']} {r['active_tasks']}/{r['max_concurrent'] or '-'}{queued}")
    return "executors: " + ", ".join(parts)


def executor_table(rows: list[dict[str, Any]]) -> str:
    """The ``executors`` table."""
    from tabulate import tabulate

    def where(r: dict[str, Any]) -> str:
        o = r["options"]
        if r["type"] == "ssh":
            user = f"{o['user']}@" if o.get("user") else ""
            port = f":{o['port']}" if o.get("port") else ""
            return f"{user}{o['host']}{port}"
        if r["type"] == "container":
            return f"{o.get('runtime', 'docker')}: {o['image']}"
        return "this machine"

    table = [
        [
            r["name"],
            r["type"],
            where(r),
            ",".join(r["labels"]),
            f"{r['agent']} ({r['agents'].get(r['agent']) or '-'})",
            r["max_turns"],
            f"{r['active_tasks']}/{r['max_concurrent'] or '-'}",
            r["queued_tasks"],
        ]
        for r in rows
    ]
    headers = ["NAME", "TYPE", "WHERE", "LABELS", "AGENT", "MAX TURNS", "ACTIVE/MAX", "QUEUED"]
    return tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True)


# -- the human view of an agent's output (logs) ---------------------------------------
_COLORS = {"red": "31", "green": "32", "yellow": "33", "dim": "2", "bold": "1", "cyan": "36"}


def use_color(stream: Any) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    import os

    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def _paint(text: str, color: str, on: bool) -> str:
    return f"\x1b[{_COLORS[color]}m{text}\x1b[0m" if on else text


def _tool_summary(name: str, tool_input: dict[str, Any]) -> str:
    for key in ("command", "file_path", "path", "notebook_path", "pattern", "url", "query", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return short(value, 160)
    return short(dumps(tool_input), 160) if tool_input else ""


def outcome_line(
    status: str, subtype: str | None, turns: Any, cost: Any, duration_ms: Any, color: bool
) -> str:
    """The closing line: ``■ completed · 5 turns · $0.0123 · 42.0s``."""
    label = status if not subtype or subtype == "success" else f"{status} ({subtype})"
    parts = [f"■ {label}"]
    if isinstance(turns, int):
        parts.append(f"{turns} turn{'s' if turns != 1 else ''}")
    if isinstance(cost, (int, float)):
        parts.append(f"${cost:.4f}")
    if isinstance(duration_ms, (int, float)):
        parts.append(f"{duration_ms / 1000:.1f}s")
    return _paint(" · ".join(parts), "green" if status == "completed" else "red", color)


def entry_lines(entry: Any, color: bool = False) -> list[str]:
    """How one :class:`~openclaw.agents.stream.Entry` reads in ``logs`` (possibly nothing)."""
    kind = entry.kind
    if kind == "output":
        return [entry.text]
    if kind == "message":
        return [entry.text] if entry.text.strip() else []
    if kind == "prompt":
        return [_paint("› " + short(entry.text, 200), "bold", color)]
    if kind == "thinking":
        return [_paint("✻ " + short(entry.text, 160), "dim", color)] if entry.text.strip() else []
    if kind == "tool_call":
        return [
            _paint(f"→ {entry.name}: {_tool_summary(entry.name or '', entry.input or {})}", "cyan", color)
        ]
    if kind == "tool_result":
        if not entry.is_error:
            return []
        return [_paint(f"  ✗ tool failed: {short(entry.text, 200)}", "red", color)]
    if kind == "error":
        return [_paint(f"✗ {short(entry.text, 300)}", "red", color)]
    if kind == "system":
        d = entry.data
        if entry.name == "init":
            return [
                _paint(
                    f"● session {d.get('session_id', '?')} · model {d.get('model', '?')} · "
                    f"{d.get('cwd', '')}",
                    "dim",
                    color,
                )
            ]
        if entry.name == "api_retry":
            delay = d.get("retry_delay_ms")
            wait = f", retrying in {delay / 1000:.1f}s" if isinstance(delay, (int, float)) else ""
            return [
                _paint(
                    f"⟳ API retry {d.get('attempt', '?')}/{d.get('max_retries', '?')}: "
                    f"{d.get('error_status', '')} {d.get('error', '')}{wait}",
                    "yellow",
                    color,
                )
            ]
        return [_paint(f"● {entry.name}{_system_summary(d)}", "dim", color)]
    if kind == "result":
        d = entry.data
        ok = not entry.is_error and entry.name == "success"
        lines = []
        if not ok and d.get("errors"):
            lines.append(_paint("✗ " + "; ".join(str(e) for e in d["errors"]), "red", color))
        lines.append(
            outcome_line(
                "completed" if ok else "failed",
                entry.name,
                d.get("num_turns"),
                d.get("total_cost_usd"),
                d.get("duration_ms"),
                color,
            )
        )
        return lines
    return [_paint("? " + short(entry.text, 200), "dim", color)]


#: Fields of a system event that say nothing to a reader of the log.
_SYSTEM_NOISE = {"type", "subtype", "session_id", "uuid", "parent_tool_use_id", "timestamp"}


def _system_summary(data: dict[str, Any]) -> str:
    """``: key=value ...`` for the first few short plain fields of a system event (task_started, ...)."""
    parts = []
    for key, value in data.items():
        if key in _SYSTEM_NOISE or isinstance(value, (dict, list)) or value in (None, ""):
            continue
        parts.append(f"{key}={short(str(value), 60)}")
        if len(parts) == 3:
            break
    return (": " + " ".join(parts)) if parts else ""


def closing_from_meta(meta: TaskRecord, color: bool = False) -> str:
    """The closing line for a task that ended without a result event (killed, lost, ...), with why."""
    result = meta.get("result") or {}
    line = outcome_line(
        meta["status"],
        result.get("subtype"),
        result.get("num_turns"),
        result.get("total_cost_usd"),
        result.get("duration_ms"),
        color,
    )
    why = meta.get("error")
    if not why and meta["status"] == "killed":
        when = meta.get("kill_requested_at")
        why = "stopped by 'openclaw-agent kill'" + (f" (requested {when})" if when else "")
    return line + (f" · {why}" if why else "")
