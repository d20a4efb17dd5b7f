"""What commands tell a person: times, outcomes, reasons and wording that do not mislead."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import Env

from openclaw import render
from openclaw.agents.stream import Entry
from openclaw.states import parse_time


def test_finished_at_is_when_the_agent_exited_not_when_someone_next_looked(oc: Env) -> None:
    meta = oc.start("#fake text quick")
    rc = oc.tasks_dir / meta["task_id"] / "rc"
    deadline = time.monotonic() + 15
    while not rc.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(2)  # nobody looks for a while
    done = oc.status(meta["task_id"])
    assert done["status"] == "completed"
    exited = parse_time(done["finished_at"]).timestamp()
    assert abs(exited - os.stat(rc).st_mtime) < 0.01
    assert done["finished_at"] >= done["started_at"]


def test_status_shows_the_outcome_the_tool_decided_not_the_agents_subtype(oc: Env) -> None:
    meta = oc.start("#fake api-error 400 bad request")
    done = oc.wait_status(meta["task_id"], "failed")
    assert done["result"]["subtype"] == "success" and done["result"]["is_error"]
    shown = oc.ok("status", "--task-id", meta["task_id"]).out
    outcome = next(line for line in shown.splitlines() if line.startswith("outcome"))
    assert "failed" in outcome and "success" not in outcome


def test_is_sandbox_other_than_1_is_named_in_the_root_refusal(oc: Env) -> None:
    if os.geteuid() != 0:
        pytest.skip("the root rule applies to root only: run the suite as root to check it")
    result = oc.run("start", "--prompt", "hi", env={"IS_SANDBOX": "yes"})
    assert result.code == 1
    assert "IS_SANDBOX='yes' does not count: only 1 does" in result.err


@pytest.mark.parametrize("follow", [["--follow"], []], ids=["follow", "plain"])
def test_the_closing_line_of_a_killed_task_says_who_stopped_it(oc: Env, follow: list[str]) -> None:
    meta = oc.start("#fake sleep 30")
    oc.ok("kill", "--task-id", meta["task_id"], "--grace", "1")
    shown = oc.ok("logs", "--task-id", meta["task_id"], *follow).out
    last = shown.strip().splitlines()[-1]
    assert last.startswith("■ killed") and "stopped by 'openclaw-agent kill'" in last


def test_other_system_events_are_shown_with_what_they_say() -> None:
    entry = Entry(
        kind="system",
        name="task_started",
        data={"type": "system", "subtype": "task_started", "session_id": "s", "description": "run tests"},
    )
    assert render.entry_lines(entry) == ["● task_started: description=run tests"]
    bare = Entry(kind="system", name="task_notification", data={"type": "system"})
    assert render.entry_lines(bare) == ["● task_notification"]


def test_config_init_help_speaks_the_users_language(oc: Env) -> None:
    text = oc.ok("config", "--help").out
    assert "seed" not in text and "starter config" in text


def test_dashboard_stream_counts_unknown_as_the_readme_says(oc: Env) -> None:
    snap = json.loads(oc.ok("dashboard", "--stream").out)
    states = ["queued", "pending", "running", "completed", "failed", "killed", "lost", "unknown"]
    assert list(snap["counts"]) == states
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "counts: {" + ", ".join(states) + "}" in readme


def test_a_claude_that_is_there_but_not_executable_is_not_called_missing(oc: Env, tmp_path: Path) -> None:
    noexec = tmp_path / "claude"
    noexec.write_text("#!/bin/sh\n")
    noexec.chmod(0o644)
    oc.write_config(
        json.dumps({"executors": [{"name": "local", "type": "local", "claude_path": str(noexec)}]})
    )
    result = oc.run("start", "--prompt", "hi")
    assert result.code == 1
    assert f"claude is at {noexec}, but you cannot run it" in result.err and "chmod +x" in result.err
    assert "not found" not in result.err


#: Root enters every directory and reads every file: these permission problems are not root's.
not_as_root = pytest.mark.skipif(
    os.geteuid() == 0, reason="root enters every directory and reads every file (run as another user)"
)


@not_as_root
def test_a_claude_in_a_directory_you_cannot_enter_is_not_called_missing(oc: Env, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    (locked / "bin").mkdir(parents=True)
    claude = locked / "bin" / "claude"
    claude.write_text("#!/bin/sh\n")
    claude.chmod(0o755)
    locked.chmod(0o600)  # no search (x): what is in it cannot be reached
    try:
        oc.write_config(
            json.dumps({"executors": [{"name": "local", "type": "local", "claude_path": str(claude)}]})
        )
        result = oc.run("start", "--prompt", "hi")
    finally:
        locked.chmod(0o755)
    assert result.code == 1
    assert f"claude at {claude} cannot be reached" in result.err
    assert f"you cannot enter {locked} (permission denied)" in result.err
    assert f"ls -ld {locked}" in result.err and "not found" not in result.err


@not_as_root
def test_a_claude_that_is_executable_but_not_readable_is_not_called_missing(oc: Env, tmp_path: Path) -> None:
    noread = tmp_path / "claude"
    noread.write_text("#!/bin/sh\n")
    noread.chmod(0o311)  # its interpreter could not read it
    oc.write_config(
        json.dumps({"executors": [{"name": "local", "type": "local", "claude_path": str(noread)}]})
    )
    result = oc.run("start", "--prompt", "hi")
    assert result.code == 1
    assert f"claude is at {noread}, but you cannot run it: it is executable but not readable" in result.err
    assert "chmod +r" in result.err and "not found" not in result.err
