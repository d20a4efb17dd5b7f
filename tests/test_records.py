"""Task records: validated, atomic, locked, and never silently rewritten when corrupt."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Env

from openclaw import states
from openclaw.agents.claude import ClaudeAgent
from openclaw.errors import CorruptRecordError, StoreError, UnknownTaskError, UsageError
from openclaw.records import TaskStore
from openclaw.task import TaskRecord, new_record, with_fields


def entries(root: Path) -> list[str]:
    """The entries of a tasks directory, but for the index's (derived, rebuilt when lost)."""
    return [n for n in os.listdir(root) if n != ".cache"]


def new_meta(**over: Any) -> TaskRecord:
    """A pending task's record, as ``start`` makes it, with ``over`` set (valid or not)."""
    meta = new_record(
        task_id=str(uuid.uuid4()),
        executor="local",
        executor_type="local",
        agent="claude",
        prompt=b"p",
        workspace="/tmp",
        command=["claude", "-p"],
        max_turns=3,
    )
    return with_fields(meta, **over)


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


def exited(code: int, event: dict[str, Any] | None = None, **found: Any) -> states.Observation:
    """An exited Claude Code run whose stdout ends with ``event``, judged by its agent."""
    tail = json.dumps(dict(event, type="result")).encode() if event else b""
    obs = states.Observation(alive=False, exit_code=code, stdout_tail=tail, **found)
    return ClaudeAgent().judge(obs)


def test_unknown_observation_changes_nothing_and_final_states_stay() -> None:
    running = states.transition(new_meta(), states.RUNNING, pid=5)
    assert states.settle(running, states.Observation(alive=None, reason="host down")) is None
    done = states.transition(running, states.COMPLETED)
    assert states.settle(done, states.Observation(alive=False)) is None
    ok = {"subtype": "success", "is_error": False}
    completed = states.settle(running, exited(0, ok))
    assert completed is not None and completed["status"] == "completed"
    err = {"subtype": "success", "is_error": True, "result": "API Error: 400"}
    failed = states.settle(running, exited(0, err))
    assert failed is not None and failed["status"] == "failed" and "API Error: 400" in (failed["error"] or "")
    no_result = states.settle(running, exited(0))
    assert no_result is not None and no_result["status"] == "failed"


def test_an_unjudged_exit_is_never_completed() -> None:
    """states.settle takes the agent's verdict: an exit nobody judged is not a success."""
    running = states.transition(new_meta(), states.RUNNING, pid=5)
    ok = {"subtype": "success", "is_error": False}
    settled = states.settle(running, states.Observation(alive=False, exit_code=0, result=ok))
    assert settled is not None and settled["status"] == "failed"


def test_a_pending_task_whose_start_lost_its_answer_is_adopted_with_what_the_executor_found() -> None:
    pending = dict(new_meta(), error="lost the connection while starting")
    found = {"pid": 41, "pid_start_time": 7, "agent_pid": 42, "boot_id": "b", "host": "h"}
    running = states.settle(pending, states.Observation(alive=True, started=found))
    assert running is not None and running["status"] == "running"
    assert {k: running[k] for k in found} == found and running["error"] is None
    ok = {"subtype": "success", "is_error": False}
    done = states.settle(pending, exited(0, ok, started=found))
    assert done is not None and done["status"] == "completed" and done["pid"] == 41 and done["started_at"]
    # Without anything found, a pending task with no pid waits while a launch may still land,
    # then is lost (never completed).
    assert states.settle(pending, states.Observation(alive=False, in_flight=True)) is None
    lost = states.settle(pending, states.Observation(alive=False))
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


def test_cleanup_force_of_a_running_task_whose_record_is_corrupt_stops_its_processes(oc: Env) -> None:
    import psutil
    from conftest import wait_until

    meta = oc.start("#fake sleep 60")
    (oc.tasks_dir / meta["task_id"] / ".meta.json").write_bytes(b"{not json")
    launcher = psutil.Process(meta["pid"])
    oc.ok("cleanup", "--task-id", meta["task_id"], "--force")
    # Its pid file, written by the launcher where it runs, still finds what the record no longer says.
    assert wait_until(lambda: not launcher.is_running() or launcher.status() == psutil.STATUS_ZOMBIE)
    assert not (oc.tasks_dir / meta["task_id"]).exists()


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


def test_a_task_directory_without_a_record_reads_as_corrupt_not_unknown(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    task_id = str(uuid.uuid4())
    (tmp_path / task_id).mkdir()
    with pytest.raises(CorruptRecordError, match=r"no \.meta\.json"):
        store.read(task_id)
    (tmp_path / task_id).rmdir()
    (tmp_path / task_id).write_text("x")
    with pytest.raises(CorruptRecordError, match="not a task directory"):
        store.read(task_id)
    with store.lock(task_id):  # a file holds no record to guard: nothing to wait for
        store.remove(task_id)
    assert entries(tmp_path) == []
    with pytest.raises(UnknownTaskError):
        store.read(task_id)


def test_locking_a_removed_task_is_unknown_and_recreates_nothing(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    meta = new_meta()
    store.create(meta)
    with store.lock(meta["task_id"]):
        store.remove(meta["task_id"])
    for attempt in (
        lambda: store.lock(meta["task_id"]).__enter__(),
        lambda: store.update(meta["task_id"], lambda m: m),
        lambda: store.remove(meta["task_id"]),
    ):
        with pytest.raises(UnknownTaskError):
            attempt()
    assert entries(tmp_path) == []


def _update_until_gone(root: str, ids: list[str]) -> None:
    """Update the first task of ``ids`` not removed yet, over and over, until all are gone."""
    store = TaskStore(Path(root))
    for task_id in ids:
        while True:
            try:
                store.update(task_id, lambda m: dict(m, max_turns=m["max_turns"] + 1))
            except UnknownTaskError:
                break


def test_removal_is_atomic_while_other_processes_lock_and_update_the_task(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    ids = []
    for _ in range(100):
        meta = new_meta()
        store.create(meta)
        ids.append(meta["task_id"])
    ctx = multiprocessing.get_context("fork")
    workers = [
        ctx.Process(target=_update_until_gone, args=(str(tmp_path), ids), daemon=True) for _ in range(3)
    ]
    for w in workers:
        w.start()
    removed = False
    try:
        for task_id in ids:  # a lock file re-created by a late updater never breaks this
            time.sleep(0.005)
            with store.lock(task_id):
                store.remove(task_id)
        removed = True
    finally:
        for w in workers:
            w.join(30 if removed else 0)  # else they would wait for a task that stays
            w.kill()
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert entries(tmp_path) == []
    assert store.all() == ([], [])


def test_an_invalid_first_record_leaves_no_staging_directory(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    with pytest.raises(CorruptRecordError):
        store.create(new_meta(status="sleeping"))
    assert entries(tmp_path) == []


def test_the_store_makes_its_directory_and_missing_parents_0700_whatever_the_umask(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "tasks"
    old = os.umask(0)
    try:
        TaskStore(root).create(new_meta())
    finally:
        os.umask(old)
    for directory in (tmp_path / "a", tmp_path / "a" / "b", root):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    for path in root.rglob("*"):
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path


def test_a_tasks_directory_others_can_write_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    meta = new_meta()
    store.create(meta)
    tmp_path.chmod(0o775)
    with pytest.raises(StoreError) as refused:
        TaskStore(tmp_path).read(meta["task_id"])
    assert f"{tmp_path}: group or others can write to it" in refused.value.one_line()
    assert f"chmod 700 {tmp_path}" in refused.value.one_line()
    tmp_path.chmod(0o700)
    assert TaskStore(tmp_path).read(meta["task_id"]) == meta


def test_exit_0_with_a_non_success_subtype_is_never_completed() -> None:
    running = dict(new_meta(), status="running", started_at="2026-01-01T00:00:00.000Z", pid=4)
    odd = {"subtype": "error_max_turns", "is_error": False}
    settled = states.settle(running, exited(0, odd))
    assert settled is not None and settled["status"] == "failed" and settled["error"] == "error_max_turns"


def test_an_observation_made_of_a_stale_record_never_settles_the_newer_one(oc: Env) -> None:
    """A refresh that read the task pending (no pid) must not call it lost once another
    process has recorded it running: the observation was of a record that moved on."""
    from openclaw.config import load
    from openclaw.manager import Manager

    meta = oc.start("#fake sleep 5")
    assert meta["status"] == "running" and meta["pid"]
    stale = with_fields(meta, status="pending", pid=None, pid_start_time=None, started_at=None)
    manager = Manager(lambda: load(None), TaskStore(oc.tasks_dir))
    nothing_seen = states.Observation(alive=False)  # what a look at the stale record could say
    kept = manager._apply(stale, nothing_seen)
    assert kept is not None and kept["status"] == "running" and kept["pid"] == meta["pid"]
    assert oc.status(meta["task_id"])["status"] == "running"


# -- the generated record check (openclaw.meta_check) ------------------------------------------
def test_the_generated_record_check_is_the_schema_as_it_is_now() -> None:
    """openclaw/meta_check.py is what tests/schema_codegen.py makes of today's schema."""
    import schema_codegen

    assert schema_codegen.TARGET.read_text(encoding="utf-8") == schema_codegen.generate(), (
        "the schema changed: run python tests/schema_codegen.py"
    )


def _breaks(value: Any, depth: int = 0) -> Any:
    """Every document one change away from ``value``: each key removed, each value replaced by
    each kind of wrong value (down to three levels), and an unknown key added."""
    odd: list[Any] = [None, 0, -1, 1.5, 10**20, True, "", "x", "a" * 300, "ok\n"]
    odd += [[], [1], (), ("x",), {}, {"k": 1}]
    if isinstance(value, dict):
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
            for other in odd:
                yield {**value, key: other}
            if depth < 3:
                for inner in _breaks(value[key], depth + 1):
                    yield {**value, key: inner}
        yield {**value, "unknown_key": 1}
    elif isinstance(value, list) and value and depth < 3:
        for inner in _breaks(value[0], depth + 1):
            yield [inner, *value[1:]]


def test_the_generated_record_check_never_passes_what_jsonschema_fails(oc: Env) -> None:
    """The fast check decides alone only when it passes a record: it must never pass one that
    jsonschema fails (a record it fails goes to jsonschema). Held over records of real tasks
    in several states, and every document one change away from them."""
    from openclaw import meta_check, schema

    done = oc.start("#fake text hi")
    oc.wait_status(done["task_id"], "completed")
    failed = oc.start("#fake exit 3")
    oc.wait_status(failed["task_id"], "failed")
    killed = oc.start("#fake sleep 60")
    oc.ok("kill", "--task-id", killed["task_id"])
    records = [
        json.loads((oc.tasks_dir / m["task_id"] / ".meta.json").read_text()) for m in (done, failed, killed)
    ]
    validator = schema._validator(schema.META_SCHEMA)

    def fast_passes(doc: Any) -> bool:
        try:
            meta_check.validate(doc)
            return True
        except Exception:
            return False

    checked = rejected = 0
    for record in records:
        assert validator.is_valid(record) and fast_passes(record), "a real record passes both"
        for doc in _breaks(record):
            checked += 1
            if fast_passes(doc):
                assert validator.is_valid(doc), doc
            else:
                rejected += 1
                # And the verdict given is jsonschema's own.
                assert schema.first_problem(schema.META_SCHEMA, doc) == (
                    None if validator.is_valid(doc) else schema.problems(schema.META_SCHEMA, doc)[0]
                )
    assert checked > 1000 and rejected > checked // 4, (checked, rejected)


def test_a_generated_check_of_another_schema_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Edited schema, check not regenerated: records are checked by jsonschema alone."""
    from openclaw import meta_check, schema

    monkeypatch.setattr(meta_check, "SCHEMA_DIGEST", "0" * 32)
    schema._fast_check.cache_clear()
    try:
        assert schema._fast_check(schema.META_SCHEMA) is None
        assert schema.first_problem(schema.META_SCHEMA, dict(new_meta())) is None
        assert schema.first_problem(schema.META_SCHEMA, {**new_meta(), "status": "napping"}) is not None
    finally:
        schema._fast_check.cache_clear()


def test_a_store_that_looks_again_remembers_unchanged_records_and_rereads_changed_ones(
    tmp_path: Path,
) -> None:
    """records_of: a process's first look reads (no stat per task: most processes never look
    again); from its second look on it remembers what it read, by each file's stamp."""
    store = TaskStore(tmp_path)
    metas = [new_meta() for _ in range(3)]
    for meta in metas:
        store.create(meta)
    rows, _ = store.catalogue(None)
    assert sorted(m["task_id"] for m in store.records_of(rows)) == sorted(m["task_id"] for m in metas)
    assert store._recent == {}, "the first look stamps and remembers nothing"
    store.records_of(rows)
    assert set(store._recent) == {m["task_id"] for m in metas}
    changed = with_fields(metas[0], priority=7)
    store.write(changed)
    rows, _ = store.catalogue(None)
    again = {m["task_id"]: m for m in store.records_of(rows)}
    assert again[changed["task_id"]]["priority"] == 7, "a changed file is read again"
    assert again[metas[1]["task_id"]] == metas[1]
