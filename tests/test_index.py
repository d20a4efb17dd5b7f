"""The SQLite index beside the records: derived from the files, and never a reason to lose one.

The records stay the truth. These tests take the index away mid-flight,
corrupt it, leave it behind the files (as a crash between the two writes
would) and put rows in it that the files deny; every time, what the commands
show is what the files say, and ``doctor`` finds and rebuilds what differs.
"""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from conftest import Env, wait_until
from test_records import new_meta

from openclaw import states
from openclaw.records import TaskStore

INDEX = ".cache/index.sqlite"


def index_files(oc: Env) -> list[Path]:
    return list((oc.tasks_dir / ".cache").glob("index.sqlite*"))


def listed(oc: Env, *args: str) -> dict[str, dict[str, Any]]:
    return {r["task_id"]: r for r in oc.ok("list", "--json", *args).json()}


def on_disk(oc: Env) -> dict[str, str]:
    """Every record's status, read from the files themselves."""
    out = {}
    for d in oc.tasks_dir.iterdir():
        if len(d.name) == 36 and (d / ".meta.json").exists():
            out[d.name] = json.loads((d / ".meta.json").read_text())["status"]
    return out


def sql(oc: Env, statement: str, *args: object) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(oc.tasks_dir / INDEX)
    try:
        with db:
            return list(db.execute(statement, args))
    finally:
        db.close()


def test_every_record_write_updates_the_index_in_the_same_step(oc: Env) -> None:
    done = oc.start("#fake text one")
    oc.wait_status(done["task_id"], "completed")
    running = oc.start("#fake sleep 30")
    rows = dict(sql(oc, "SELECT task_id, status FROM tasks WHERE dirty = 0"))
    assert rows == {done["task_id"]: "completed", running["task_id"]: "running"}
    assert oc.ok("doctor").out.splitlines()[-1] == "index: in step with the records"
    oc.ok("kill", "--task-id", running["task_id"])
    assert dict(sql(oc, "SELECT task_id, status FROM tasks"))[running["task_id"]] == "killed"
    oc.ok("cleanup", "--task-id", running["task_id"])
    assert [r[0] for r in sql(oc, "SELECT task_id FROM tasks")] == [done["task_id"]]


def test_an_index_deleted_while_tasks_run_and_start_is_rebuilt_and_nothing_is_lost(oc: Env) -> None:
    stop = threading.Event()

    def delete_it() -> None:
        while not stop.is_set():
            if oc.tasks_dir.is_dir():
                for p in index_files(oc):
                    p.unlink(missing_ok=True)
            stop.wait(0.05)

    deleter = threading.Thread(target=delete_it)
    deleter.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            metas = list(pool.map(lambda i: oc.start(f"#fake text task {i}"), range(12)))
    finally:
        stop.set()
        deleter.join()
    ids = {m["task_id"] for m in metas}
    wait_until(lambda: {r["status"] for r in listed(oc).values()} == {"completed"}, timeout=60)
    assert set(on_disk(oc).values()) == {"completed"}
    shown = listed(oc)
    assert set(shown) == ids and {r["status"] for r in shown.values()} == {"completed"}
    report = oc.ok("doctor", "--json").json()
    assert report["records"] == 12 and report["corrupt"] == []
    assert oc.ok("doctor").out.splitlines()[-1] == "index: in step with the records"


def test_a_corrupt_index_is_rebuilt_from_the_records(oc: Env) -> None:
    metas = [oc.start("#fake text hi") for _ in range(3)]
    for m in metas:
        oc.wait_status(m["task_id"], "completed")
    for p in index_files(oc):
        p.unlink()
    (oc.tasks_dir / INDEX).write_bytes(b"this is not an sqlite database" * 100)
    shown = listed(oc)
    assert set(shown) == {m["task_id"] for m in metas}
    assert oc.ok("list").out.count("completed") == 3
    assert oc.ok("doctor").out.splitlines()[-1] == "index: in step with the records"


def test_a_row_left_dirty_by_a_crash_is_read_from_its_file(oc: Env) -> None:
    meta = oc.start("#fake text hi")
    oc.wait_status(meta["task_id"], "completed")
    # A crash after the row was written (dirty, saying running) and before the file was.
    sql(oc, "UPDATE tasks SET status = 'running', dirty = 1 WHERE task_id = ?", meta["task_id"])
    assert listed(oc, "--status", "completed")[meta["task_id"]]["status"] == "completed"
    assert "completed" in oc.ok("list").out
    assert sql(oc, "SELECT status, dirty FROM tasks") == [("completed", 0)], "the reader heals the row"


def test_a_row_that_differs_from_its_file_is_found_by_doctor_and_rebuilt(oc: Env) -> None:
    meta = oc.start("#fake text hi")
    oc.wait_status(meta["task_id"], "completed")
    sql(oc, "UPDATE tasks SET status = 'failed', note = 'made up' WHERE task_id = ?", meta["task_id"])
    report = oc.ok("doctor", "--json").json()
    assert report["rebuilt"] and report["index_problems"] == [
        f"row {meta['task_id']} differs from its record"
    ]
    assert "made up" not in oc.ok("list").out and "completed" in oc.ok("list").out


def test_entries_the_index_lacks_are_found_and_rows_without_entries_dropped(oc: Env) -> None:
    meta = oc.start("#fake text hi")
    oc.wait_status(meta["task_id"], "completed")
    planted = states.transition(states.transition(new_meta(), states.RUNNING), states.COMPLETED, exit_code=0)
    d = oc.tasks_dir / planted["task_id"]
    d.mkdir(mode=0o700)
    (d / ".meta.json").write_text(json.dumps(planted))  # behind the index's back
    sql(
        oc,
        "INSERT INTO tasks (task_id, status, executor, created_at, note, dirty, gen) "
        "VALUES ('00000000-0000-4000-8000-000000000000', 'completed', 'local', '2026', '', 0, 1)",
    )
    shown = listed(oc)
    assert set(shown) == {meta["task_id"], planted["task_id"]}
    assert {r[0] for r in sql(oc, "SELECT task_id FROM tasks")} == set(shown)


def test_list_of_active_tasks_reads_the_running_rows_not_the_history(oc: Env) -> None:
    store = TaskStore(oc.tasks_dir)
    for _ in range(50):
        store.create(
            states.transition(states.transition(new_meta(), states.RUNNING), states.COMPLETED, exit_code=0)
        )
    running = oc.start("#fake sleep 30")
    # A finished record the index already holds is not read again: spoil every one of them
    # (a read would report it corrupt).
    for d in oc.tasks_dir.iterdir():
        if len(d.name) == 36 and d.name != running["task_id"]:
            (d / ".meta.json").write_text("{spoilt")
    result = oc.ok("list", "--status", "running", "--json")
    assert [r["task_id"] for r in result.json()] == [running["task_id"]] and result.err == ""
    dash = json.loads(oc.ok("dashboard", "--stream").out)
    assert dash["counts"]["completed"] == 50 and dash["counts"]["running"] == 1
    assert len(dash["tasks"]) == 21, "the active tasks and the 20 newest finished ones"
    oc.ok("kill", "--task-id", running["task_id"])
