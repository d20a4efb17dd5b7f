"""The local executor end to end: real detached processes running the fake claude."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import Env, wait_until

from openclaw import procs


def proc_alive(pid: int) -> bool:
    st = procs.stat(pid)
    return st is not None and st.state not in ("Z", "X")


def test_start_returns_while_the_agent_runs_then_it_completes(oc: Env) -> None:
    began = time.monotonic()
    meta = oc.start("#fake sleep 3\n#fake text all done", "--workspace", str(oc.workspace))
    assert time.monotonic() - began < 2.5, "start must not wait for the agent"
    assert meta["status"] == "running"
    assert {"task_id", "status", "executor", "pid"} <= set(meta)
    assert meta["executor"] == "local" and meta["pid"] > 0
    assert proc_alive(meta["pid"])
    done = oc.wait_status(meta["task_id"], "completed", timeout=30)
    assert done["exit_code"] == 0 and done["error"] is None
    result = done["result"]
    assert result["subtype"] == "success" and result["is_error"] is False
    assert result["text"] == "all done"
    assert result["num_turns"] >= 2 and result["total_cost_usd"] is not None
    assert result["duration_ms"] is not None
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]


def test_agent_is_detached_in_its_own_session_and_survives_the_cli(oc: Env) -> None:
    meta = oc.start("#fake sleep 30")
    pid = meta["pid"]
    st = procs.stat(pid)
    assert st is not None
    assert st.session == pid and st.pgrp == pid, "launcher leads a new session and group"
    assert st.start_time == meta["pid_start_time"]
    agent = procs.stat(meta["agent_pid"])
    assert agent is not None and agent.pgrp == pid
    # stdin is the prompt file, not a terminal; stdout/stderr are the task's files.
    fd0 = os.readlink(f"/proc/{meta['agent_pid']}/fd/0")
    fd1 = os.readlink(f"/proc/{meta['agent_pid']}/fd/1")
    task_dir = oc.tasks_dir / meta["task_id"]
    assert fd0 == str(task_dir / "prompt")
    assert fd1 == str(task_dir / "stdout")
    # The CLI that started it has exited; the agent runs on.
    assert oc.status(meta["task_id"])["status"] == "running"


HOSTILE = [
    "it's \"quoted\" and 'single'",
    "$(touch /tmp/openclaw-pwned) `touch /tmp/openclaw-pwned2` ${HOME} $HOME",
    "line one\nline two\n\n  indented\ttab\r\nwindows",
    "-p --version --dangerously-skip-permissions",
    "--",
    "ünïcödé ✓ 日本語 🚀",
    "; rm -rf / ; && || | > < & * ? [ ] ~ ! #",
]


@pytest.mark.parametrize("prompt", HOSTILE)
def test_hostile_prompt_reaches_the_agent_byte_exact_via_flag(oc: Env, prompt: str) -> None:
    meta = oc.start(prompt)
    oc.wait_status(meta["task_id"], "completed")
    assert oc.recorded(meta["task_id"], "stdin") == prompt.encode()
    argv = json.loads(oc.recorded(meta["task_id"], "argv.json"))
    assert all(prompt not in arg for arg in argv[1:]) or prompt == "--"
    assert not Path("/tmp/openclaw-pwned").exists() and not Path("/tmp/openclaw-pwned2").exists()


def test_megabyte_prompt_from_file_and_stdin_is_byte_exact_and_never_in_argv(oc: Env) -> None:
    body = ("x$(y)`z`'\"\n" * 100_000).encode() + "ü".encode()  # > 1 MB
    prompt_file = oc.workspace / "prompt.md"
    prompt_file.write_bytes(body)
    by_file = oc.ok(
        "start", "--json", "--prompt-file", str(prompt_file), "--workspace", str(oc.workspace)
    ).json()
    by_stdin = oc.ok("start", "--json", "--prompt", "-", input=body).json()
    for meta in (by_file, by_stdin):
        oc.wait_status(meta["task_id"], "completed")
        assert oc.recorded(meta["task_id"], "stdin") == body
        assert meta["prompt_bytes"] == len(body)
        argv = json.loads(oc.recorded(meta["task_id"], "argv.json"))
        assert "-p" in argv and not any("x$(y)" in a for a in argv)
        stored = oc.tasks_dir / meta["task_id"] / "prompt"
        assert stored.read_bytes() == body and stored.stat().st_mode & 0o777 == 0o600


def test_prompt_never_appears_in_any_process_argv(oc: Env) -> None:
    secret = "SECRET-PROMPT-7f3a9"
    meta = oc.start(f"#fake sleep 30\n{secret}")
    wait_until(lambda: proc_alive(meta["agent_pid"]))
    for pid in (meta["pid"], meta["agent_pid"]):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert secret.encode() not in cmdline
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                assert secret.encode() not in Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                pass


def test_agent_command_line_matches_the_contract(oc: Env) -> None:
    oc.write_config("defaults: {max_turns: 9}\nexecutors:\n  - {name: local, type: local, max_turns: 4}\n")
    meta = oc.start("#fake text hi")
    oc.wait_status(meta["task_id"], "completed")
    argv = json.loads(oc.recorded(meta["task_id"], "argv.json"))
    assert argv[1:] == [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
        "--max-turns",
        "4",
        "--session-id",
        meta["task_id"],
    ]
    assert oc.recorded(meta["task_id"], "cwd").decode() == str(oc.workspace)
    flag = oc.start("#fake text hi", "--max-turns", "2")
    oc.wait_status(flag["task_id"], "completed")
    assert json.loads(oc.recorded(flag["task_id"], "argv.json"))[7] == "2"


def test_transcript_is_at_the_session_path(oc: Env, tmp_path: Path) -> None:
    ws = tmp_path / "enc test" / "a.b_c-d"
    ws.mkdir(parents=True)
    meta = oc.start("#fake text hi", "--workspace", str(ws))
    oc.wait_status(meta["task_id"], "completed")
    encoded = str(ws).replace("/", "-").replace(" ", "-").replace(".", "-").replace("_", "-")
    expected = oc.home / ".claude" / "projects" / encoded / f"{meta['task_id']}.jsonl"
    assert meta["transcript"] == str(expected)
    assert expected.exists()
    assert meta["session_id"] == meta["task_id"]


def test_workspace_defaults_to_the_current_directory(oc: Env) -> None:
    meta = oc.start("#fake text hi", cwd=oc.workspace)
    assert meta["workspace"] == str(oc.workspace)


@pytest.mark.parametrize(
    ("directives", "reason"),
    [
        ("#fake turns 5", "error_max_turns"),
        ("#fake api-error 400 model not found", "API Error: 400"),
        ("#fake exit 3", "exited with code 3"),
        ("#fake truncate", "exited with code 1"),
    ],
)
def test_failures_carry_the_exit_code_and_the_reason(oc: Env, directives: str, reason: str) -> None:
    meta = oc.start(directives, "--max-turns", "2")
    done = oc.wait_status(meta["task_id"], lambda s: s not in ("pending", "running"))
    assert done["status"] == "failed"
    assert done["exit_code"] != 0
    assert reason in done["error"], done
    table = oc.ok("status", "--task-id", meta["task_id"]).out
    assert "failed" in table and reason in table


def test_missing_claude_fails_start_and_records_the_task_failed(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: local, type: local, claude_path: /nowhere/claude}\n")
    result = oc.run("start", "--prompt", "hi", "--json")
    assert result.code == 1
    assert "claude not found at /nowhere/claude" in result.err
    assert len(result.err.strip().splitlines()) == 1
    meta = result.json()
    assert meta["status"] == "failed" and "claude not found" in meta["error"]
    listed = oc.ok("list", "--json").json()
    assert [m["status"] for m in listed] == ["failed"]
    oc.env["PATH"] = "/usr/bin:/bin"
    # A bare name on no PATH (not "claude": the machine may have a real one in /usr/bin).
    oc.write_config("executors:\n  - {name: local, type: local, claude_path: openclaw-test-no-such-claude}\n")
    on_path = oc.run("start", "--prompt", "hi")
    assert on_path.code == 1 and "claude not found at PATH" in on_path.err


def test_root_without_is_sandbox_is_refused_with_how_to_opt_in(oc: Env) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    del oc.env["IS_SANDBOX"]
    result = oc.run("start", "--prompt", "hi", "--json")
    assert result.code == 1
    assert "root" in result.err and "IS_SANDBOX=1" in result.err
    assert result.json()["status"] == "failed"
    # Opting in through the executor's env works, and the value never lands in the record.
    oc.write_config("executors:\n  - name: local\n    type: local\n    env: {IS_SANDBOX: '1'}\n")
    meta = oc.start("#fake text hi")
    assert oc.wait_status(meta["task_id"], "completed")["env_names"] == ["IS_SANDBOX"]


def test_the_fake_claude_itself_refuses_root_without_opt_in(oc: Env) -> None:
    """The refusal our pre-flight check guards against is real in the fake, too."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("needs root")
    env = {k: v for k, v in oc.env.items() if k != "IS_SANDBOX"}
    proc = subprocess.run(
        ["claude", "-p", "--dangerously-skip-permissions", "hi"], env=env, capture_output=True
    )
    assert proc.returncode == 1
    assert b"cannot be used with root/sudo privileges" in proc.stderr


def test_missing_workspace_fails_start(oc: Env) -> None:
    result = oc.run("start", "--prompt", "hi", "--workspace", "/no/such/dir", "--json")
    assert result.code == 1 and "workspace not found: /no/such/dir" in result.err
    assert result.json()["status"] == "failed"


def test_secrets_in_executor_env_never_reach_argv_or_meta(oc: Env) -> None:
    oc.write_config(
        "executors:\n  - name: local\n    type: local\n"
        "    env: {MY_TOKEN: s3cr3t-value}\n    pass_env: [PASSED_TOKEN]\n"
    )
    meta = oc.start(
        "#fake sleep 30",
        env={"PASSED_TOKEN": "pa55ed-value", "FAKE_CLAUDE_RECORD_ENV": "MY_TOKEN,PASSED_TOKEN"},
    )
    wait_until((oc.record_dir / f"{meta['task_id']}.env.json").exists)
    seen = json.loads(oc.recorded(meta["task_id"], "env.json"))
    assert seen == {"MY_TOKEN": "s3cr3t-value", "PASSED_TOKEN": "pa55ed-value"}
    raw = (oc.tasks_dir / meta["task_id"] / ".meta.json").read_text()
    assert "s3cr3t-value" not in raw and "pa55ed-value" not in raw
    assert json.loads(raw)["env_names"] == ["MY_TOKEN", "PASSED_TOKEN"]
    for pid in (meta["pid"], meta["agent_pid"]):
        assert b"s3cr3t" not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_process_gone_without_exit_status_is_lost_never_completed(oc: Env) -> None:
    meta = oc.start("#fake sleep 30")
    wait_until(lambda: proc_alive(meta["agent_pid"]))
    # Simulate a crash that takes the launcher down before it records anything:
    # SIGKILL the recorded process group (the launcher and the agent).
    os.killpg(meta["pid"], signal.SIGKILL)
    wait_until(lambda: not proc_alive(meta["pid"]))
    lost = oc.wait_status(meta["task_id"], "lost")
    assert lost["exit_code"] is None and "no exit status" in lost["error"]
    assert oc.status(meta["task_id"])["status"] == "lost"


def test_wiped_task_files_make_a_running_task_lost_not_completed(oc: Env) -> None:
    meta = oc.start("#fake text quick")
    oc.wait_status(meta["task_id"], "completed")
    other = oc.start("#fake sleep 30")
    task_dir = oc.tasks_dir / other["task_id"]
    os.killpg(other["pid"], signal.SIGKILL)
    wait_until(lambda: not proc_alive(other["pid"]))
    for name in ("rc", "stdout"):
        (task_dir / name).unlink(missing_ok=True)
    assert oc.wait_status(other["task_id"], lambda s: s != "running")["status"] == "lost"


def test_reused_pid_is_not_mistaken_for_the_task(oc: Env) -> None:
    meta = oc.start("#fake sleep 30")
    path = oc.tasks_dir / meta["task_id"] / ".meta.json"
    os.killpg(meta["pid"], signal.SIGKILL)
    wait_until(lambda: not proc_alive(meta["pid"]))
    # Point the record at a live process (this test) with the wrong start time.
    record = json.loads(path.read_text())
    record["pid"] = os.getpid()
    path.write_text(json.dumps(record))
    assert oc.wait_status(meta["task_id"], lambda s: s != "running")["status"] == "lost"


def test_kill_stops_every_process_including_detached_tool_children(oc: Env) -> None:
    meta = oc.start("#fake detached-child 60\n#fake sleep 60")
    task_id = meta["task_id"]
    detached_file = oc.record_dir / f"{task_id}.detached-pid"
    wait_until(detached_file.exists)
    detached = int(wait_until(lambda: detached_file.read_text().strip()))
    assert proc_alive(detached)
    assert procs.stat(detached).pgrp != meta["pid"]  # type: ignore[union-attr]
    group = [s.pid for s in procs.task_processes(meta["pid"], meta["pid_start_time"], task_id)]
    assert len(group) >= 3
    result = oc.ok("kill", "--task-id", task_id[:8], "--grace", "2")
    assert f"killed {task_id}" in result.out
    for pid in [*group, detached]:
        assert not proc_alive(pid), f"pid {pid} survived kill"
    assert procs.task_processes(meta["pid"], meta["pid_start_time"], task_id) == []
    final = oc.status(task_id)
    assert final["status"] == "killed" and final["kill_requested_at"]


def test_kill_escalates_to_sigkill_after_the_grace_period(oc: Env) -> None:
    meta = oc.start("#fake bash trap '' TERM; sleep 60; echo slept")
    # launcher, claude, the tool's bash and its sleep: then the trap is set.
    wait_until(lambda: len(procs.task_processes(meta["pid"], meta["pid_start_time"], meta["task_id"])) >= 4)
    began = time.monotonic()
    oc.ok("kill", "--task-id", meta["task_id"], "--grace", "1")
    assert time.monotonic() - began >= 1
    assert procs.task_processes(meta["pid"], meta["pid_start_time"], meta["task_id"]) == []
    assert oc.status(meta["task_id"])["status"] == "killed"


def test_kill_of_a_finished_task_says_so_and_changes_nothing(oc: Env) -> None:
    meta = oc.start("#fake text hi")
    oc.wait_status(meta["task_id"], "completed")
    path = oc.tasks_dir / meta["task_id"] / ".meta.json"
    before = path.read_bytes()
    result = oc.ok("kill", "--task-id", meta["task_id"])
    assert "already completed" in result.out and "nothing to kill" in result.out
    assert path.read_bytes() == before


def test_concurrent_status_and_kill_on_one_task_lose_no_update(oc: Env) -> None:
    import subprocess

    from conftest import console_script

    meta = oc.start("#fake sleep 60")
    task_id = meta["task_id"]
    procs_ = [
        subprocess.Popen(
            [console_script(), *args], env=oc.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for args in (
            ["kill", "--task-id", task_id, "--grace", "1"],
            ["status", "--task-id", task_id, "--json"],
            ["kill", "--task-id", task_id, "--grace", "1"],
            ["status", "--task-id", task_id, "--json"],
            ["list", "--json"],
        )
    ]
    for p in procs_:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    final = oc.status(task_id)
    assert final["status"] == "killed" and final["kill_requested_at"] and final["finished_at"]
    json.loads((oc.tasks_dir / task_id / ".meta.json").read_text())  # intact


def test_twenty_concurrent_starts_are_all_recorded(oc: Env) -> None:
    import subprocess

    from conftest import console_script

    starters = [
        subprocess.Popen(
            [console_script(), "start", "--json", "--prompt", f"#fake text n{i}"],
            env=oc.env,
            cwd=oc.workspace,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(20)
    ]
    ids = set()
    for p in starters:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        ids.add(json.loads(out)["task_id"])
    assert len(ids) == 20
    wait_until(lambda: {m["status"] for m in oc.ok("list", "--json").json()} == {"completed"}, timeout=60)
    listed = oc.ok("list", "--json").json()
    assert {m["task_id"] for m in listed} == ids
    assert sorted(m["result"]["text"] for m in listed) == sorted(f"n{i}" for i in range(20))


def test_cleanup_refuses_a_running_task_unless_forced(oc: Env) -> None:
    meta = oc.start("#fake sleep 60")
    task_id = meta["task_id"]
    refused = oc.run("cleanup", "--task-id", task_id)
    assert refused.code == 2 and "running" in refused.err and "--force" in refused.err
    assert (oc.tasks_dir / task_id).is_dir()
    oc.ok("cleanup", "--task-id", task_id, "--force")
    assert not (oc.tasks_dir / task_id).exists()
    assert not proc_alive(meta["pid"]) and not proc_alive(meta["agent_pid"])
    assert oc.run("status", "--task-id", task_id).code == 3


def test_cleanup_removes_a_finished_record_and_finished_removes_all_finished(oc: Env) -> None:
    a = oc.start("#fake text a")
    b = oc.start("#fake text b")
    running = oc.start("#fake sleep 60")
    oc.wait_status(a["task_id"], "completed")
    oc.wait_status(b["task_id"], "completed")
    oc.ok("cleanup", "--task-id", a["task_id"])
    assert not (oc.tasks_dir / a["task_id"]).exists()
    assert "removed 1" in oc.ok("cleanup", "--finished").out
    assert [m["task_id"] for m in oc.ok("list", "--json").json()] == [running["task_id"]]


def test_transcript_path_matches_claude_for_symlinks_emoji_and_long_names(oc: Env, tmp_path: Path) -> None:
    real = tmp_path / ("d" * 120) / ("é🚀" + "x" * 120)
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    meta = oc.start("#fake text hi", "--workspace", str(link))
    oc.wait_status(meta["task_id"], "completed")
    assert meta["workspace"] == str(real)
    assert Path(meta["transcript"]).exists(), meta["transcript"]
    assert "--" in Path(meta["transcript"]).parent.name  # é and the emoji's two UTF-16 units


def test_start_times_from_psutil_are_the_launchers_clock_ticks(oc: Env) -> None:
    """The dispatcher (psutil) and the launcher (sh reading /proc) agree on a process's identity."""
    meta = oc.start("#fake sleep 5")
    st = procs.stat(meta["pid"])
    assert st is not None and st.start_time == meta["pid_start_time"]
    raw = Path(f"/proc/{meta['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    assert int(raw[19]) == st.start_time and int(raw[2]) == st.pgrp and int(raw[3]) == st.session


def test_the_local_executor_on_another_system_says_it_needs_linux(
    oc: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from openclaw.config import load
    from openclaw.errors import StartError
    from openclaw.manager import Manager
    from openclaw.records import TaskStore

    monkeypatch.setattr(procs, "supported", lambda: False)
    manager = Manager(
        load(str(oc.write_config("executors: [{name: local, type: local}]\n"))), TaskStore(tmp_path)
    )
    with pytest.raises(StartError) as raised:
        manager.start(b"hi", workspace=str(oc.workspace))
    assert "Linux only" in raised.value.one_line() and "ssh or container" in raised.value.one_line()
