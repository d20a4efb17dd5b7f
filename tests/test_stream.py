"""The stream-json parser, over output captured from the real Claude Code CLI."""

from __future__ import annotations

import json
from pathlib import Path

from openclaw.agents.claude import ClaudeAgent
from openclaw.agents.stream import parse_line, parse_lines
from openclaw.render import entry_lines

FIXTURES = Path(__file__).parent / "fixtures" / "stream"


def load(name: str) -> list[bytes]:
    return (FIXTURES / name).read_bytes().splitlines()


def kinds(entries: list) -> list[str]:  # type: ignore[type-arg]
    return [e.kind for e in entries]


def test_success_run_gives_init_messages_tool_calls_results_and_result() -> None:
    entries = parse_lines(load("success_tools.jsonl"))
    assert entries[0].kind == "system" and entries[0].name == "init"
    init = entries[0].data
    assert init["session_id"] and init["model"] and "Bash" in init["tools"]
    calls = [e for e in entries if e.kind == "tool_call"]
    assert [c.name for c in calls] == ["Write", "Bash", "Bash", "Edit"]
    assert calls[1].input == {"command": "python3 hello.py", "description": "run it"}
    results = [e for e in entries if e.kind == "tool_result"]
    assert [r.is_error for r in results] == [False, True, True, False]
    assert "thinking" in kinds(entries)
    assert [e.text for e in entries if e.kind == "message"] == [
        "I'll create the file.",
        "Created hello.py and ran it.",
    ]
    result = entries[-1]
    assert result.kind == "result" and result.name == "success" and not result.is_error
    assert result.text == "Created hello.py and ran it."
    for key in ("num_turns", "total_cost_usd", "duration_ms", "usage", "session_id"):
        assert key in result.data


def test_max_turns_result_has_no_text_but_its_errors() -> None:
    entries = parse_lines(load("max_turns.jsonl"))
    result = entries[-1]
    assert result.kind == "result" and result.name == "error_max_turns" and result.is_error
    assert result.data["errors"] == ["Reached maximum number of turns (2)"]
    view = entry_lines(result)
    assert "Reached maximum number of turns" in view[0]
    assert view[-1].startswith("■ failed (error_max_turns) · 3 turns")


def test_api_retries_and_api_error_are_kept_and_highlighted() -> None:
    entries = parse_lines(load("api_error_retries.jsonl"))
    retries = [e for e in entries if e.kind == "system" and e.name == "api_retry"]
    assert [r.data["attempt"] for r in retries] == [1, 2]
    assert retries[0].data["error_status"] == 500 and retries[0].data["max_retries"] == 10
    errors = [e for e in entries if e.kind == "error"]
    assert errors and errors[0].text == "API Error: 400 model: not found"
    assert entries[-1].is_error and entries[-1].data["api_error_status"] == 400
    assert entry_lines(retries[0])[0].startswith("⟳ API retry 1/10: 500")
    assert entry_lines(errors[0]) == ["✗ API Error: 400 model: not found"]


def test_truncated_last_line_and_unknown_events_are_raw_never_a_crash() -> None:
    lines = load("success_tools.jsonl")
    truncated = [*lines[:-1], lines[-1][: len(lines[-1]) // 2]]
    entries = parse_lines(truncated)
    assert entries[-1].kind == "raw"
    assert ClaudeAgent().summarize(b"\n".join(truncated)) is None
    assert parse_line(b'{"type":"brand_new","x":1}')[0].kind == "raw"
    assert parse_line(b"not json at all")[0].text == "not json at all"
    assert parse_line(b"[1,2]")[0].kind == "raw"
    assert parse_line(b'{"type":"assistant","message":"odd"}')[0].kind == "raw"
    assert parse_line(b"") == []
    assert parse_line(b"\xff\xfe garbage")[0].kind == "raw"


def test_view_has_one_line_per_tool_call_and_marks_failures() -> None:
    lines = [ln for e in parse_lines(load("success_tools.jsonl")) for ln in entry_lines(e)]
    assert "→ Write: /tmp/genfix-ws/hello.py" in lines
    assert "→ Bash: python3 hello.py" in lines
    assert "→ Edit: /tmp/genfix-ws/hello.py" in lines
    assert sum(1 for ln in lines if ln.startswith("  ✗ tool failed: Exit code")) == 2
    assert lines[-1] == "■ completed · 5 turns · $0.0009 · 0.2s"


def test_transcript_lines_parse_to_the_same_model() -> None:
    entries = parse_lines(load("success_tools.transcript.jsonl"), transcript=True)
    assert entries[0].kind == "prompt" and entries[0].text == "do it"
    assert [e.name for e in entries if e.kind == "tool_call"] == ["Write", "Bash", "Bash", "Edit"]
    assert not [e for e in entries if e.kind == "raw"], [e.text[:80] for e in entries if e.kind == "raw"]


def test_entry_json_shape_is_small_and_stable() -> None:
    entry = parse_lines(load("success_tools.jsonl"))[2]
    data = entry.to_json()
    assert data["kind"] == "tool_call" and data["name"] == "Write"
    assert set(data) <= {"kind", "text", "name", "input", "is_error", "data"}
    json.dumps(data)


def test_every_result_subtype_is_summarised_and_judged() -> None:
    base = json.loads(load("max_turns.jsonl")[-1])
    for subtype in ("error_during_execution", "error_max_budget_usd", "error_max_turns"):
        event = dict(base, subtype=subtype, errors=[f"{subtype} happened"])
        (entry,) = parse_line(json.dumps(event))
        assert entry.kind == "result" and entry.name == subtype and entry.is_error
        summary = ClaudeAgent().summarize(json.dumps(event).encode())
        assert summary is not None and summary["subtype"] == subtype and summary["is_error"]
        assert entry_lines(entry)[-1].startswith(f"■ failed ({subtype})")
