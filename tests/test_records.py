"""Task records: validated, atomic, locked, and never silently rewritten when corrupt."""

from __future__ import annotations

import json
import multiprocessing
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Env

from openclaw import states
from openclaw.errors import CorruptRecordError, UnknownTaskError, UsageError
from openclaw.records import TaskStore


def new_meta(**over: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "schema_version": 1,
        "task_id": str(uuid.uuid4()),
        "executor": "local",
        "executor_type": "local",
        "agent": "claude",
        "status": "pending",
        "pid": None,
        "prompt": "p",
        "workspace": "/tmp",
        "created_at": states.now(),
        "started_at": None,
        "finished_at": None,
        "exit_code": None,
        "error": None,
        "max_turns": 3,
        "parent_id": None,
        "result": None,
    }
    meta.update(over)
    return meta


def test_write_validates_and_is_atomic(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    meta = new_meta()
    store.create(meta)
    assert store.read(meta["task_id"]) == meta
    with pytest.raises(CorruptRecordError):
        store.write(dict(meta, status="sleeping"))
    assert store.read(meta["task_id"]) == meta, "an invalid write changes nothing"
    leftovers = [p.name for p in (tmp_path / meta["task_id"]).iterdir()]
    assert leftovers == [".meta.json"], "no temp files left behind"
    assert (tmp_path / meta["task_id"]).stat().st_mode & 0o777 == 0o700


def test_ids_are_validated_before_any_path_is_built(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    for bad in ("../x", "/etc", "a/b", "xyz", ""):
        with pytest.raises(UsageError):
            store.resolve(bad)
    with pytest.raises(UsageError):
        store.path("../../etc")


def test_prefix_resolution_like_git(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    a = new_meta(task_id="abcd0000-0000-4000-8000-000000000001")
    b = new_meta(task_id="abcd1111-0000-4000-8000-000000000002")
    store.create(a)
    store.create(b)
    assert store.resolve("abcd0") == a["task_id"]
    assert store.resolve(b["task_id"]) == b["task_id"]
    with pytest.raises(UnknownTaskError) as amb:
        store.resolve("abcd")
    assert a["task_id"] in str(amb.value) and b["task_id"] in str(amb.value)
    with pytest.raises(UnknownTaskError):
        store.resolve("ffff")


def _bump(root: str, task_id: str, n: int) -> None:
    store = TaskStore(Path(root))
    for _ in range(n):
        store.update(task_id, lambda m: dict(m, max_turns=m["max_turns"] + 1))


def test_locked_read_modify_write_loses_no_update(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    meta = new_meta(max_turns=1)
    store.create(meta)
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_bump, args=(str(tmp_path), meta["task_id"], 50)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert store.read(meta["task_id"])["max_turns"] == 1 + 4 * 50


def test_transitions_only_follow_the_diagram() -> None:
    meta = new_meta()
    running = states.transition(meta, states.RUNNING)
    assert running["started_at"]
    done = states.transition(running, states.COMPLETED)
    assert done["finished_at"]
    for final in states.FINAL:
        for target in states.ALL:
            if target != final:
                with pytest.raises(states.InvalidTransition):
                    states.transition(dict(done, status=final), target)
    with pytest.raises(states.InvalidTransition):
        states.transition(running, states.PENDING)


def test_unknown_observation_changes_nothing_and_final_states_stay() -> None:
    running = states.transition(new_meta(), states.RUNNING, pid=5)
    assert states.settle(running, states.Observation(alive=None, reason="host down")) is None
    done = states.transition(running, states.COMPLETED)
    assert states.settle(done, states.Observation(alive=False)) is None
    ok = {"subtype": "success", "is_error": False}
    assert (
        states.settle(running, states.Observation(alive=False, exit_code=0, result=ok))["status"]
        == "completed"
    )  # type: ignore[index]
    err = {"subtype": "success", "is_error": True, "text": "API Error: 400"}
    failed = states.settle(running, states.Observation(alive=False, exit_code=0, result=err))
    assert failed is not None and failed["status"] == "failed" and "API Error: 400" in failed["error"]
    no_result = states.settle(running, states.Observation(alive=False, exit_code=0))
    assert no_result is not None and no_result["status"] == "failed"


def test_a_pending_task_whose_start_lost_its_answer_is_adopted_with_what_the_executor_found() -> None:
    pending = dict(new_meta(), error="lost the connection while starting")
    found = {"pid": 41, "pid_start_time": 7, "agent_pid": 42, "boot_id": "b", "host": "h"}
    running = states.settle(pending, states.Observation(alive=True, started=found))
    assert running is not None and running["status"] == "running"
    assert {k: running[k] for k in found} == found and running["error"] is None
    ok = {"subtype": "success", "is_error": False}
    done = states.settle(pending, states.Observation(alive=False, exit_code=0, result=ok, started=found))
    assert done is not None and done["status"] == "completed" and done["pid"] == 41 and done["started_at"]
    # Without anything found, a pending task with no pid waits, then is lost (never completed).
    assert states.settle(pending, states.Observation(alive=False)) is None
    old = dict(pending, created_at="2020-01-01T00:00:00.000Z")
    lost = states.settle(old, states.Observation(alive=False))
    assert lost is not None and lost["status"] == "lost"


def plant_corrupt(oc: Env, content: bytes) -> tuple[str, Path]:
    task_id = str(uuid.uuid4())
    d = oc.tasks_dir / task_id
    d.mkdir(parents=True)
    (d / ".meta.json").write_bytes(content)
    return task_id, d / ".meta.json"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", json.dumps({"task_id": "x"}).encode(), b""],
)
def test_corrupt_record_is_reported_by_id_skipped_and_never_rewritten(oc: Env, content: bytes) -> None:
    good = oc.start("#fake text fine")
    bad_id, path = plant_corrupt(oc, content)
    before = path.read_bytes()
    listed = oc.run("list", "--json")
    assert listed.code == 0
    assert [m["task_id"] for m in listed.json()] == [good["task_id"]]
    assert bad_id in listed.err and "corrupt" in listed.err
    table = oc.ok("list")
    assert good["task_id"][:8] in table.out and bad_id in table.err
    status = oc.run("status", "--task-id", bad_id)
    assert status.code == 1 and "Traceback" not in status.err
    assert len(status.err.strip().splitlines()) == 1 and bad_id in status.err
    assert oc.run("kill", "--task-id", bad_id).code == 1
    assert path.read_bytes() == before, "a corrupt record is never rewritten"
    snap = json.loads(oc.ok("dashboard", "--stream").out)
    assert snap["corrupt"] == [bad_id]
    oc.ok("cleanup", "--task-id", bad_id, "--force")
    assert not path.exists()


def test_schema_invalid_record_written_by_hand_is_corrupt(oc: Env) -> None:
    meta = oc.start("#fake text fine")
    oc.wait_status(meta["task_id"], "completed")
    path = oc.tasks_dir / meta["task_id"] / ".meta.json"
    record = json.loads(path.read_text())
    record["status"] = "done"
    path.write_text(json.dumps(record))
    result = oc.run("status", "--task-id", meta["task_id"])
    assert result.code == 1 and "status: 'done' is not one of" in result.err
    assert json.loads(path.read_text())["status"] == "done"


def test_meta_file_is_private(oc: Env) -> None:
    meta = oc.start("#fake text fine")
    d = oc.tasks_dir / meta["task_id"]
    assert d.stat().st_mode & 0o777 == 0o700
    for name in (".meta.json", "prompt", "pid"):
        assert os.stat(d / name).st_mode & 0o077 == 0, name
