"""openclaw-agent driving the *real* Claude Code CLI, offline, through the local executor.

The real CLI talks to a scripted Messages-API server on 127.0.0.1
(tests/fakes/anthropic_api.py), so real tool calls happen: a Write, a Bash
``sleep``. Skipped when the real CLI is not installed (tests/run installs it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Env, wait_until
from test_fake_claude_fidelity import NO_REAL_CLAUDE, REAL_CLAUDE, FakeAnthropicServer

from openclaw import procs

pytestmark = pytest.mark.skipif(REAL_CLAUDE is None, reason=NO_REAL_CLAUDE)


@pytest.fixture
def real(oc: Env, tmp_path: Path) -> Iterator[Env]:
    """``oc`` with the real claude as claude_path and the offline variables set."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    oc.write_config(f"executors:\n  - {{name: local, type: local, claude_path: '{REAL_CLAUDE}'}}\n")
    oc.env.update(
        ANTHROPIC_API_KEY="sk-fake-test",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_ERROR_REPORTING="1",
        TMPDIR=str(tmp),
    )
    yield oc


def test_real_claude_task_completes_with_a_real_tool_call(real: Env) -> None:
    script = [
        {
            "text": "Writing it.",
            "tool_use": {
                "name": "Write",
                "input": {"file_path": str(real.workspace / "hello.txt"), "content": "hello from claude\n"},
            },
        },
        {"text": "I wrote hello.txt."},
    ]
    with FakeAnthropicServer(script) as api:
        real.env["ANTHROPIC_BASE_URL"] = api.base_url
        prompt = "Write hello.txt. Quotes ' \" $(x) `y` and ünïcode ✓"
        meta = real.start(prompt)
        done = real.wait_status(meta["task_id"], lambda s: s not in ("pending", "running"), timeout=90)
        sent = json.dumps(api.main_requests[0]["body"]["messages"])
    assert done["status"] == "completed", done
    assert (real.workspace / "hello.txt").read_text() == "hello from claude\n"
    result = done["result"]
    assert result["subtype"] == "success" and result["is_error"] is False
    assert result["text"] == "I wrote hello.txt." and result["num_turns"] == 2
    assert Path(done["transcript"]).exists(), "the transcript is where the record says"
    assert json.dumps(prompt)[1:-1] in sent, "the prompt reached the API byte-exact"


def test_real_claude_failures_are_recorded_as_failed(real: Env) -> None:
    with FakeAnthropicServer(
        [{"error": {"status": 400, "type": "invalid_request_error", "message": "model: not found"}}]
    ) as api:
        real.env["ANTHROPIC_BASE_URL"] = api.base_url
        meta = real.start("hi")
        done = real.wait_status(meta["task_id"], lambda s: s not in ("pending", "running"), timeout=90)
    assert done["status"] == "failed" and done["exit_code"] == 1
    assert "API Error: 400" in done["error"]

    script = [{"tool_use": {"name": "Bash", "input": {"command": "true"}}}] * 3
    with FakeAnthropicServer(script) as api:
        real.env["ANTHROPIC_BASE_URL"] = api.base_url
        meta = real.start("loop", "--max-turns", "1")
        done = real.wait_status(meta["task_id"], lambda s: s not in ("pending", "running"), timeout=90)
    assert done["status"] == "failed" and done["error"] == "error_max_turns"


def test_kill_stops_real_claude_and_its_tool_that_runs_in_its_own_session(real: Env) -> None:
    script = [{"tool_use": {"name": "Bash", "input": {"command": "sleep 120", "description": "wait"}}}]
    with FakeAnthropicServer(script) as api:
        real.env["ANTHROPIC_BASE_URL"] = api.base_url
        meta = real.start("sleep please")
        task = (meta["pid"], meta["pid_start_time"], meta["task_id"])

        def cmdline(pid: int) -> bytes:
            try:
                return Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:  # a short-lived helper of claude's that has just exited
                return b""

        def sleeping() -> list[procs.ProcStat]:
            return [p for p in procs.task_processes(*task) if cmdline(p.pid).startswith(b"sleep\0")]

        sleepers = wait_until(sleeping, timeout=60)
        assert sleepers[0].session != meta["pid"], "the real Bash tool runs in a new session"
        real.ok("kill", "--task-id", meta["task_id"], "--grace", "3")
    assert procs.task_processes(*task) == []
    for p in sleepers:
        st = procs.stat(p.pid)
        assert st is None or st.state == "Z" or st.start_time != p.start_time
    assert real.status(meta["task_id"])["status"] == "killed"


def test_real_claude_without_is_sandbox_is_stopped_before_it_starts(real: Env) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    del real.env["IS_SANDBOX"]
    result = real.run("start", "--prompt", "hi")
    assert result.code == 1 and "IS_SANDBOX=1" in result.err
