"""Turning records into text for people (tabulate tables) and for programs (JSON)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from openclaw.states import parse_time

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


def _cost(meta: dict[str, Any]) -> str:
    cost = (meta.get("result") or {}).get("total_cost_usd")
    return f"${cost:.4f}" if isinstance(cost, (int, float)) else ""


def _turns(meta: dict[str, Any]) -> str:
    turns = (meta.get("result") or {}).get("num_turns")
    return str(turns) if turns is not None else ""


def _note(meta: dict[str, Any]) -> str:
    """What the last column says: the error, the reason it is unknown, or the prompt."""
    if meta["status"] in ("failed", "lost"):
        return str(meta.get("error") or "")
    if meta["status"] == "unknown":
        return f"(was {meta.get('recorded_status')}) {meta.get('status_reason') or ''}"
    return str(meta["prompt"])


def task_rows(metas: list[dict[str, Any]]) -> list[list[str]]:
    """The rows of the task table, one per record."""
    now = datetime.now(timezone.utc)
    return [
        [
            m["task_id"][:SHORT_ID],
            m["status"],
            m["executor"],
            age(m["created_at"], now),
            _turns(m),
            _cost(m),
            short(_note(m), 48),
        ]
        for m in metas
    ]


TASK_HEADERS = ["ID", "STATUS", "EXECUTOR", "AGE", "TURNS", "COST", "PROMPT / ERROR"]


def task_table(metas: list[dict[str, Any]]) -> str:
    """The ``list`` table, newest first as given."""
    from tabulate import tabulate

    if not metas:
        return "no tasks"
    return tabulate(task_rows(metas), headers=TASK_HEADERS, tablefmt="simple", disable_numparse=True)


def task_detail(meta: dict[str, Any]) -> str:
    """The ``status`` view of one task: a two-column table."""
    from tabulate import tabulate

    result = meta.get("result") or {}
    duration = result.get("duration_ms")
    rows = [
        ("task", meta["task_id"]),
        ("status", meta["status"]),
        ("last known", meta.get("recorded_status") or ""),
        ("why unknown", meta.get("status_reason") or ""),
        ("executor", f"{meta['executor']} ({meta['executor_type']})"),
        ("host", meta.get("host") or ""),
        ("pid", meta.get("pid") or ""),
        ("workspace", meta["workspace"]),
        ("prompt", short(meta["prompt"], 72)),
        ("max turns", meta["max_turns"]),
        ("created", meta["created_at"]),
        ("started", meta.get("started_at") or ""),
        ("finished", meta.get("finished_at") or ""),
        ("exit code", "" if meta.get("exit_code") is None else meta["exit_code"]),
        ("error", meta.get("error") or ""),
        ("outcome", result.get("subtype", "")),
        ("turns", _turns(meta)),
        ("cost", _cost(meta)),
        ("duration", f"{duration / 1000:.1f}s" if isinstance(duration, (int, float)) else ""),
        ("result", short(result.get("text"), 200)),
        ("transcript", meta.get("transcript") or ""),
        ("parent", meta.get("parent_id") or ""),
    ]
    return tabulate([(k, v) for k, v in rows if v != ""], tablefmt="plain", disable_numparse=True)


def counts_line(counts: dict[str, int], total_cost: float) -> str:
    """``3 running, 10 completed, 1 failed · $0.1234`` (zero counts left out)."""
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    return (", ".join(parts) or "no tasks") + f" · total cost ${total_cost:.4f}"


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
            r["claude_path"],
            r["max_turns"],
            r["active_tasks"],
        ]
        for r in rows
    ]
    headers = ["NAME", "TYPE", "WHERE", "LABELS", "CLAUDE", "MAX TURNS", "ACTIVE"]
    return tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True)
