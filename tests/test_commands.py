"""status, logs, list, dashboard and executors as a user and a program see them."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from conftest import REPO, Env, console_script, default_signals, wait_until


def test_list_is_newest_first_filters_and_rejects_unknown_status(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: local, type: local}\n  - {name: other, type: local}\n")
    first = oc.start("#fake text one")
    second = oc.start("#fake sleep 60", "--executor", "other")
    third = oc.start("#fake exit 2")
    oc.wait_status(first["task_id"], "completed")
    oc.wait_status(third["task_id"], "failed")
    listed = oc.ok("list", "--json").json()
    assert [m["task_id"] for m in listed] == [third["task_id"], second["task_id"], first["task_id"]]
    assert [m["task_id"] for m in oc.ok("list", "--status", "running", "--json").json()] == [
        second["task_id"]
    ]
    assert [m["task_id"] for m in oc.ok("list", "--executor", "other", "--json").json()] == [
        second["task_id"]
    ]
    assert oc.ok("list", "--status", "killed", "--json").json() == []
    bad = oc.run("list", "--status", "done")
    assert bad.code == 2 and "unknown status 'done'" in bad.err and "completed" in bad.err
    lines = oc.ok("list", "--jsonl").out.splitlines()
    assert [json.loads(ln)["task_id"] for ln in lines] == [m["task_id"] for m in listed]
    table = oc.ok("list").out.splitlines()
    assert table[0].split()[:3] == ["ID", "STATUS", "EXECUTOR"]
    assert table[2].startswith(third["task_id"][:8]) and "failed" in table[2]


def test_json_output_holds_only_json_on_stdout(oc: Env) -> None:
    meta = oc.start("#fake text hi")
    oc.wait_status(meta["task_id"], "completed")
    (oc.tasks_dir / "00000000-0000-4000-8000-000000000000").mkdir()  # corrupt: no record
    for args in (
        ["list", "--json"],
        ["list", "--jsonl"],
        ["status", "--task-id", meta["task_id"], "--json"],
        ["dashboard", "--stream"],
        ["executors", "--json"],
        ["kill", "--task-id", meta["task_id"], "--json"],
    ):
        result = oc.ok(*args)
        lines = result.out.splitlines()
        assert lines, f"{args} printed nothing"
        docs = [json.loads(line) for line in lines]
        if args[-1] == "--jsonl":
            assert [d["task_id"] for d in docs] == [meta["task_id"]]
        elif args[0] in ("list",):
            assert len(docs) == 1 and [d["task_id"] for d in docs[0]] == [meta["task_id"]]
        elif args[0] in ("status", "kill"):
            assert len(docs) == 1 and docs[0]["task_id"] == meta["task_id"]
        elif args[0] == "dashboard":
            assert len(docs) == 1 and docs[0]["total"] == 1 and docs[0]["corrupt"]
        else:
            assert len(docs) == 1 and docs[0][0]["name"] == "local"


def test_status_shows_state_process_and_result(oc: Env) -> None:
    meta = oc.start("#fake text the answer is 42")
    oc.wait_status(meta["task_id"], "completed")
    out = oc.ok("status", "--task-id", meta["task_id"][:6]).out
    for expected in (meta["task_id"], "completed", "local", "the answer is 42", str(oc.workspace)):
        assert expected in out
    assert "outcome     completed" in out, "the outcome the tool decided"


def test_logs_raw_prints_the_last_lines_of_the_stream_json(oc: Env) -> None:
    meta = oc.start("#fake turns 3\n#fake text bye", "--max-turns", "10")
    oc.wait_status(meta["task_id"], "completed")
    stdout = (oc.tasks_dir / meta["task_id"] / "stdout").read_text().splitlines()
    assert len(stdout) > 4
    assert oc.ok("logs", "--task-id", meta["task_id"], "--raw").out.splitlines() == stdout[-50:]
    last2 = oc.ok("logs", "--task-id", meta["task_id"], "--lines", "2", "--raw").out.splitlines()
    assert last2 == stdout[-2:]
    assert json.loads(last2[-1])["type"] == "result"
    assert oc.ok("logs", "--task-id", meta["task_id"], "--lines", "0", "--raw").out == ""


def test_logs_follow_streams_until_the_task_ends(oc: Env) -> None:
    meta = oc.start("#fake sleep 1\n#fake sleep 1\n#fake text finished")
    proc = subprocess.Popen(
        [console_script(), "logs", "--task-id", meta["task_id"], "--lines", "0", "--follow=0.2", "--raw"],
        env=oc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [json.loads(ln) for ln in out.decode().splitlines()]
    assert events and events[-1]["type"] == "result" and events[-1]["result"] == "finished"
    assert oc.status(meta["task_id"])["status"] == "completed"


def test_dashboard_stream_is_one_jsonl_snapshot_with_counts(oc: Env) -> None:
    done = oc.start("#fake text a")
    oc.start("#fake sleep 60")
    oc.wait_status(done["task_id"], "completed")
    out = oc.ok("dashboard", "--stream").out.splitlines()
    assert len(out) == 1
    snap = json.loads(out[0])
    assert snap["total"] == 2
    assert snap["counts"] == {
        "queued": 0,
        "pending": 0,
        "running": 1,
        "completed": 1,
        "failed": 0,
        "killed": 0,
        "lost": 0,
        "unknown": 0,
    }
    assert len(snap["tasks"]) == 2 and snap["total_cost_usd"] > 0


def test_dashboard_watch_refreshes_until_ctrl_c_and_ends_cleanly(oc: Env) -> None:
    oc.start("#fake text a")
    proc = subprocess.Popen(
        [console_script(), "dashboard", "--watch", "0.2"],
        preexec_fn=default_signals,
        env=oc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    seen = b""
    while seen.count(b"openclaw-agent \xc2\xb7") < 3:  # three refreshes, then Ctrl-C
        line = proc.stdout.readline()
        assert line, "dashboard --watch ended on its own"
        seen += line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


def test_executors_lists_the_configured_ones(oc: Env) -> None:
    oc.ok("config", "--init")
    rows = oc.ok("executors", "--json").json()
    assert [(r["name"], r["type"]) for r in rows] == [
        ("crib", "ssh"),
        ("builder", "container"),
        ("local", "local"),
    ]
    table = oc.ok("executors").out
    assert "dev@crib.local" in table and "docker: openclaw/claude-code:latest" in table


def test_invoke_tasks_from_a_checkout_run_the_same_commands(oc: Env) -> None:
    inv = str(REPO / ".venv" / "bin" / "inv") if (REPO / ".venv" / "bin" / "inv").exists() else "inv"
    listing = subprocess.run([inv, "--list"], cwd=REPO, env=oc.env, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    for name in (
        "start",
        "status",
        "logs",
        "list",
        "kill",
        "cleanup",
        "dashboard",
        "executors",
        "config",
        "dev.test",
    ):
        assert name in listing.stdout
    started = subprocess.run(
        [
            inv,
            "start",
            "--executor",
            "local",
            "--prompt",
            "#fake text via inv",
            "--workspace",
            str(oc.workspace),
            "--json",
        ],
        cwd=REPO,
        env=oc.env,
        capture_output=True,
        text=True,
    )
    assert started.returncode == 0, started.stderr
    task_id = json.loads(started.stdout)["task_id"]
    oc.wait_status(task_id, "completed")
    bad = subprocess.run(
        [inv, "status", "--task-id", "ffff"], cwd=REPO, env=oc.env, capture_output=True, text=True
    )
    assert bad.returncode == 3 and "Traceback" not in bad.stderr


def test_unpiped_task_survives_the_terminal_going_away(oc: Env) -> None:
    """The starting CLI's session is torn down (SIGHUP to its group); the task runs on."""
    proc = subprocess.Popen(
        ["setsid", "sh", "-c", f"'{console_script()}' start --json --prompt='#fake sleep 30'; sleep 30"],
        preexec_fn=default_signals,
        env=oc.env,
        cwd=oc.workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    meta = json.loads(line)
    import os

    os.killpg(proc.pid, signal.SIGHUP)
    proc.wait(10)
    # A negative check: nothing to wait for, so give a wrongly delivered hangup time to land.
    time.sleep(0.3)
    assert wait_until(lambda: oc.status(meta["task_id"])["status"] == "running")


def test_ambiguous_prefix_lists_the_candidates(oc: Env) -> None:
    from test_records import new_meta

    from openclaw.records import TaskStore

    store = TaskStore(oc.tasks_dir)
    ids = ["abcd0000-0000-4000-8000-000000000001", "abcd1111-0000-4000-8000-000000000002"]
    for task_id in ids:
        store.create(new_meta(task_id=task_id, status="completed"))
    result = oc.run("status", "--task-id", "abcd")
    assert result.code == 3 and "ambiguous" in result.err
    assert ids[0] in result.err and ids[1] in result.err
    assert oc.ok("status", "--task-id", "ABCD1", "--json").json()["task_id"] == ids[1]
