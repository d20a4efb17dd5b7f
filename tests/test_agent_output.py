"""Understanding the agent end to end: log view, follow, wait exit codes, transcript, resume."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time

import pytest
from conftest import Env, console_script, default_signals, wait_until


def finished(oc: Env, prompt: str, *args: str) -> dict:  # type: ignore[type-arg]
    meta = oc.start(prompt, *args)
    return oc.wait_status(meta["task_id"], lambda s: s not in ("pending", "running"))


def test_logs_default_view_shows_text_tool_calls_failures_and_a_closing_line(oc: Env) -> None:
    meta = finished(
        oc, "#fake text Looking.\n#fake write notes.txt hi\n#fake bash exit 3\n#fake text All done."
    )
    out = oc.ok("logs", "--task-id", meta["task_id"]).out.splitlines()
    assert out[0].startswith("● session " + meta["task_id"])
    assert "Looking." in out
    assert f"→ Write: {oc.workspace}/notes.txt" in out
    assert "→ Bash: exit 3" in out
    assert any(ln.startswith("  ✗ tool failed: Exit code 3") for ln in out)
    assert "All done." in out
    assert out[-1].startswith("■ completed · 3 turns · $")
    assert "\x1b[" not in "".join(out), "no colour when stdout is not a terminal"


def test_logs_json_prints_normalised_entries_and_lines_counts_entries(oc: Env) -> None:
    meta = finished(oc, "#fake turns 3\n#fake text bye", "--max-turns", "9")
    entries = [
        json.loads(ln) for ln in oc.ok("logs", "--task-id", meta["task_id"], "--json").out.splitlines()
    ]
    assert entries[0]["kind"] == "system" and entries[-1]["kind"] == "result"
    assert [e["kind"] for e in entries].count("tool_call") == 3
    last3 = oc.ok("logs", "--task-id", meta["task_id"], "--json", "--lines", "3").out.splitlines()
    assert [json.loads(ln)["kind"] for ln in last3] == ["tool_result", "message", "result"]
    view2 = oc.ok("logs", "--task-id", meta["task_id"], "--lines", "2").out.splitlines()
    assert view2[0] == "bye" and view2[1].startswith("■ completed")


def test_logs_view_colours_only_a_terminal_and_honours_no_color(oc: Env) -> None:
    meta = finished(oc, "#fake bash exit 1\n#fake text ok")

    def on_tty(extra: dict[str, str]) -> bytes:
        env = {k: v for k, v in oc.env.items() if k != "NO_COLOR"}
        env.update(extra)
        pid, fd = pty.fork()
        if pid == 0:  # child: runs the CLI on the pty
            os.execve(console_script(), [console_script(), "logs", "--task-id", meta["task_id"]], env)
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.waitpid(pid, 0)
        return b"".join(chunks)

    assert b"\x1b[31m" in on_tty({})
    assert b"\x1b[" not in on_tty({"NO_COLOR": "1"})


def test_follow_with_no_value_streams_entries_promptly_and_ends_with_the_outcome(oc: Env) -> None:
    meta = oc.start("#fake text first\n#fake sleep 2\n#fake text second")
    proc = subprocess.Popen(
        [console_script(), "logs", "--task-id", meta["task_id"], "--follow"],
        preexec_fn=default_signals,
        env=oc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    seen: list[tuple[float, str]] = []
    for raw in proc.stdout:
        seen.append((time.monotonic(), raw.decode().rstrip("\n")))
    proc.wait(30)
    assert proc.returncode == 0
    lines = [ln for _, ln in seen]
    assert "→ Bash: sleep 2" in lines and "second" in lines
    assert lines[-1].startswith("■ completed")
    # Written-to-shown latency: the line after the 2 s sleep arrives within ~0.5 s of
    # the tool call line plus the sleep (the fake writes it right after the sleep).
    t_call = next(t for t, ln in seen if ln == "→ Bash: sleep 2")
    t_after = next(t for t, ln in seen if ln == "second")
    assert t_after - t_call < 2 + 1.5


def test_ctrl_c_ends_the_viewing_not_the_task(oc: Env) -> None:
    meta = oc.start("#fake sleep 30")
    proc = subprocess.Popen(
        [console_script(), "logs", "--task-id", meta["task_id"], "--follow"],
        env=oc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_signals,  # as from a terminal, even when the suite runs with SIGINT ignored
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # it shows what there is, then follows: its Ctrl-C handler is in place
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert b"Traceback" not in err
    assert oc.status(meta["task_id"])["status"] == "running"


@pytest.mark.parametrize(
    ("prompt", "code", "status"),
    [
        ("#fake text fine", 0, "completed"),
        ("#fake exit 2", 4, "failed"),
        ("#fake turns 5", 4, "failed"),
    ],
)
def test_wait_and_start_wait_exit_codes_mirror_the_outcome(
    oc: Env, prompt: str, code: int, status: str
) -> None:
    waited = oc.run("start", f"--prompt={prompt}", "--max-turns", "2", "--wait", "--json")
    assert waited.code == code, waited
    assert waited.json()["status"] == status
    again = oc.run("wait", "--task-id", waited.json()["task_id"])
    assert again.code == code and status in again.err


def test_wait_exit_codes_for_killed_lost_and_timeout(oc: Env) -> None:
    killed = oc.start("#fake sleep 60")
    waiter = subprocess.Popen(
        [console_script(), "wait", "--task-id", killed["task_id"]],
        env=oc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    oc.ok("kill", "--task-id", killed["task_id"], "--grace", "1")  # whenever wait looks, it is killed
    waiter.communicate(timeout=30)
    assert waiter.returncode == 5

    # Its tool (sleep) in the launcher's process group too, so that killing the group leaves
    # nothing of the task alive: lost. (In a session of its own, as Claude Code runs tools, a
    # sleep already started would outlive the group, and the task rightly stays running.)
    lost = oc.start("#fake sleep 60", env={"FAKE_CLAUDE_TOOL_SAME_PGRP": "1"})
    os.killpg(lost["pid"], signal.SIGKILL)
    assert oc.run("wait", "--task-id", lost["task_id"], "--timeout", "20").code == 6

    slow = oc.start("#fake sleep 60")
    began = time.monotonic()
    timed_out = oc.run("wait", "--task-id", slow["task_id"], "--timeout", "1")
    assert timed_out.code == 7 and "timed out" in timed_out.err and "--kill-on-timeout" in timed_out.err
    assert 1 <= time.monotonic() - began < 10
    assert oc.status(slow["task_id"])["status"] == "running", "a timed-out wait leaves the task running"
    killed_on_timeout = oc.run("wait", "--task-id", slow["task_id"], "--timeout", "0.5", "--kill-on-timeout")
    assert killed_on_timeout.code == 7
    assert oc.status(slow["task_id"])["status"] == "killed"


def test_start_wait_follow_for_ci_streams_then_fails_the_build(oc: Env) -> None:
    prompt_file = oc.workspace / "task.md"
    prompt_file.write_text(
        "#fake text working on it\n#fake bash true\n#fake api-error 400 model: not found\n"
    )
    result = oc.run("start", "--prompt-file", str(prompt_file), "--wait", "--follow")
    assert result.code == 4
    assert "working on it" in result.out
    assert "✗ API Error: 400 model: not found" in result.out
    assert result.out.splitlines()[-1].startswith("■ failed")


def test_start_wait_on_a_task_that_cannot_start_exits_with_the_failed_code(oc: Env) -> None:
    result = oc.run("start", "--prompt", "x", "--workspace", "/no/such", "--wait")
    assert result.code == 4 and "workspace not found" in result.err


def test_wait_flags_need_wait(oc: Env) -> None:
    assert oc.run("start", "--prompt", "x", "--wait-timeout", "3").code == 2
    assert oc.run("wait", "--task-id", "abc", "--kill-on-timeout").code == 2


def test_logs_source_transcript_renders_the_session_jsonl(oc: Env) -> None:
    meta = finished(oc, "#fake write a.txt x\n#fake text wrote it")
    out = oc.ok("logs", "--task-id", meta["task_id"], "--source", "transcript").out.splitlines()
    assert out[0].startswith("› #fake write a.txt x")
    assert f"→ Write: {oc.workspace}/a.txt" in out
    assert "wrote it" in out
    raw = oc.ok("logs", "--task-id", meta["task_id"], "--source", "transcript", "--raw").out
    assert raw.splitlines()[-1] == open(meta["transcript"]).read().splitlines()[-1]
    assert oc.run("logs", "--task-id", meta["task_id"], "--source", "elsewhere").code == 2


def test_resume_continues_the_conversation_as_a_linked_task(oc: Env) -> None:
    first = finished(oc, "#fake text remember 42")
    second = oc.ok(
        "resume", "--task-id", first["task_id"][:8], "--prompt", "#fake text what was it?", "--json"
    ).json()
    assert second["parent_id"] == first["task_id"] and second["workspace"] == first["workspace"]
    assert second["executor"] == first["executor"]
    done = oc.wait_status(second["task_id"], "completed")
    argv = json.loads(oc.recorded(second["task_id"], "argv.json"))
    i = argv.index("--resume")
    assert argv[i : i + 3] == ["--resume", first["task_id"], "--fork-session"]
    assert argv[argv.index("--session-id") + 1] == second["task_id"]
    transcript = open(done["transcript"]).read()
    assert "remember 42" in transcript, "the fork carries the earlier conversation"
    third = oc.ok("resume", "--task-id", second["task_id"], "--prompt", "#fake text and again", "--wait").code
    assert third == 0
    newest = oc.ok("list", "--json").json()[0]
    chain = oc.ok("status", "--task-id", newest["task_id"], "--json").json()["chain"]
    assert chain == [first["task_id"], second["task_id"], newest["task_id"]]
    assert " → ".join(i[:8] for i in chain) in oc.ok("status", "--task-id", newest["task_id"]).out


def test_resume_of_a_running_task_is_refused(oc: Env) -> None:
    running = oc.start("#fake sleep 30")
    result = oc.run("resume", "--task-id", running["task_id"], "--prompt", "more")
    assert result.code == 2 and "still running" in result.err


def test_secret_values_are_redacted_from_logs(oc: Env) -> None:
    oc.write_config(
        "executors:\n  - name: local\n    type: local\n    env: {MY_TOKEN: 'tok-\"12345\"-secret'}\n"
    )
    meta = finished(oc, '#fake bash echo "$MY_TOKEN"\n#fake text done')
    assert 'tok-\\"12345\\"-secret' in (oc.tasks_dir / meta["task_id"] / "stdout").read_text()
    for args in ([], ["--raw"], ["--json"]):
        out = oc.ok("logs", "--task-id", meta["task_id"], *args).out
        assert "12345" not in out
        assert "[redacted]" in out or not args  # the view hides successful tool output


def test_status_and_list_show_the_result_summary(oc: Env) -> None:
    meta = finished(oc, "#fake turns 2\n#fake text The answer", "--max-turns", "5")
    status = oc.ok("status", "--task-id", meta["task_id"], "--json").json()
    assert status["result"]["num_turns"] == 3 and status["result"]["total_cost_usd"] > 0
    table = oc.ok("status", "--task-id", meta["task_id"]).out
    assert "The answer" in table and "turns" in table and "$" in table
    listed = oc.ok("list", "--json").json()[0]
    assert listed["result"]["num_turns"] == 3
    snap = json.loads(oc.ok("dashboard", "--stream").out)
    assert snap["total_cost_usd"] == pytest.approx(listed["result"]["total_cost_usd"])


def test_follow_timeout_is_bounded(oc: Env) -> None:
    meta = oc.start("#fake sleep 60")
    began = time.monotonic()
    result = oc.run("wait", "--task-id", meta["task_id"], "--follow", "--timeout", "1")
    assert result.code == 7 and time.monotonic() - began < 10
    wait_until(lambda: oc.status(meta["task_id"])["status"] == "running")
