"""A small fleet from one dispatcher: routing by label, a cap per executor, and the queue.

Several local executors stand for hosts here (the routing and the queue do
not care where an executor runs); the agents are the fake claude's real
processes, counted in /proc to prove a cap held.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import threading
import time
from typing import Any

import pytest
from conftest import Env, wait_until

FLEET = """\
executors:
  - {name: a, type: local, labels: [rust, fast], max_concurrent: 1}
  - {name: b, type: local, labels: [rust], max_concurrent: 1}
  - {name: local, type: local}
"""


@pytest.fixture
def fleet(oc: Env) -> Env:
    oc.write_config(FLEET)
    return oc


def records(oc: Env) -> list[dict[str, Any]]:
    """Every record as ``list --json`` shows it (which also lets the queue flow)."""
    out: list[dict[str, Any]] = oc.ok("list", "--json").json()
    return out


def live_agents(oc: Env) -> dict[str, int]:
    """How many agent processes (pid recorded, still in /proc) each executor has right now."""
    from openclaw import procs

    counts: dict[str, int] = {}
    for d in oc.tasks_dir.iterdir() if oc.tasks_dir.is_dir() else []:
        try:
            meta = json.loads((d / ".meta.json").read_text())
            pid_line = (d / "pid").read_text().split()
        except (OSError, ValueError):
            continue
        if len(pid_line) == 4 and pid_line[2] != "0":
            st = procs.stat(int(pid_line[2]))
            if st is not None and st.start_time == int(pid_line[3]) and st.state not in ("Z", "X"):
                counts[meta["executor"]] = counts.get(meta["executor"], 0) + 1
    return counts


def test_a_label_routes_to_the_executor_with_the_most_free_slots_and_says_why(fleet: Env) -> None:
    dry = fleet.ok("start", "--dry-run", "--label", "rust", "--json").json()
    assert dry["candidates"] == ["a", "b"] and dry["picked"] == "a" and dry["labels"] == ["rust"]
    assert not fleet.tasks_dir.exists() or not [p for p in fleet.tasks_dir.iterdir() if len(p.name) == 36]
    first = fleet.start("#fake sleep 5", "--label", "rust")
    assert first["executor"] == "a" and first["routing"]["picked"] == "a"
    assert first["routing"]["candidates"] == ["a", "b"] and first["routing"]["labels"] == ["rust"]
    second = fleet.start("#fake sleep 5", "--label", "rust")
    assert second["executor"] == "b", "a is full: b has the free slot"
    assert fleet.status(second["task_id"])["routing"]["picked"] == "b"
    only_fast = fleet.ok("start", "--dry-run", "--label", "rust", "--label", "fast").out
    assert "none now: it would be queued" in only_fast


def test_tasks_beyond_the_cap_queue_and_start_as_slots_free(fleet: Env) -> None:
    metas = [fleet.start("#fake sleep 4", "--label", "rust") for _ in range(6)]
    assert [m["status"] for m in metas].count("running") == 2
    queued = [m for m in metas if m["status"] == "queued"]
    assert len(queued) == 4 and all(m["pid"] is None for m in queued)
    rows = {r["name"]: r for r in fleet.ok("executors", "--json").json()}
    assert (
        rows["a"]["active_tasks"] == 1 and rows["a"]["max_concurrent"] == 1 and rows["a"]["queued_tasks"] == 4
    )
    peak: dict[str, int] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for name, n in live_agents(fleet).items():
                peak[name] = max(peak.get(name, 0), n)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for m in queued:  # wait lets the queue flow too
            assert fleet.run("wait", "--task-id", m["task_id"], timeout=90).code == 0
    finally:
        stop.set()
        watcher.join()
    assert {r["status"] for r in records(fleet)} == {"completed"}
    assert peak and max(peak.values()) <= 1, peak
    assert {m["executor"] for m in records(fleet)} == {"a", "b"}


def test_the_cap_holds_under_twenty_concurrent_clis(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: box, type: local, labels: [x], max_concurrent: 2}\n")
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, live_agents(oc).get("box", 0))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            results = list(
                pool.map(lambda i: oc.run("start", "--label", "x", "--prompt", "#fake sleep 1"), range(20))
            )
        assert all(r.code == 0 for r in results), [r.err for r in results if r.code]
        wait_until(lambda: all(r["status"] == "completed" for r in records(oc)), timeout=120, interval=0.5)
    finally:
        stop.set()
        watcher.join()
    assert peak == 2, f"at most 2 agents at once, and the cap was used: {peak}"


def test_higher_priority_goes_first_then_first_come(fleet: Env) -> None:
    fleet.write_config("executors:\n  - {name: one, type: local, labels: [q], max_concurrent: 1}\n")
    busy = fleet.start("#fake sleep 2", "--label", "q")
    low = fleet.start("#fake text low", "--label", "q")
    high = fleet.start("#fake text high", "--label", "q", "--priority", "5")
    later = fleet.start("#fake text later", "--label", "q")
    assert [m["status"] for m in (busy, low, high, later)] == ["running", "queued", "queued", "queued"]
    for m in (later,):
        assert fleet.run("wait", "--task-id", m["task_id"], timeout=60).code == 0
    done = {r["task_id"]: r for r in records(fleet)}
    order = sorted((high, low, later), key=lambda m: done[m["task_id"]]["started_at"])
    assert [m["task_id"] for m in order] == [high["task_id"], low["task_id"], later["task_id"]]


def test_a_queued_task_is_killed_without_starting_and_cleaned_up(fleet: Env) -> None:
    fleet.start("#fake sleep 3", "--label", "rust", "--label", "fast")
    queued = fleet.start("#fake text never", "--label", "rust", "--label", "fast")
    assert queued["status"] == "queued"
    assert fleet.ok("kill", "--task-id", queued["task_id"]).out.startswith("killed")
    killed = fleet.status(queued["task_id"])
    assert killed["status"] == "killed" and killed["pid"] is None and killed["started_at"] is None
    other = fleet.start("#fake text bye", "--label", "rust", "--label", "fast")
    assert fleet.ok("cleanup", "--task-id", other["task_id"]).code == 0
    assert other["task_id"] not in {r["task_id"] for r in records(fleet)}


def test_start_wait_waits_through_the_queue(fleet: Env) -> None:
    fleet.start("#fake sleep 2", "--label", "fast")
    result = fleet.run(
        "start", "--label", "fast", "--prompt", "#fake text after", "--wait", "--json", timeout=60
    )
    assert result.code == 0, result.err
    assert result.json()["status"] == "completed"


def test_a_lost_queue_marker_is_found_again_and_nothing_is_lost(fleet: Env) -> None:
    fleet.start("#fake sleep 2", "--label", "fast")
    queued = fleet.start("#fake text still here", "--label", "fast")
    shutil.rmtree(fleet.tasks_dir / ".queue")

    def done() -> bool:  # list reads every record: it marks the queued task again, and drains
        return {r["task_id"]: r for r in records(fleet)}[queued["task_id"]]["status"] == "completed"

    wait_until(done, timeout=60, interval=0.3)


@pytest.mark.parametrize(
    ("config", "args", "words"),
    [
        (FLEET, ["start", "--label", "gpu", "--prompt", "x"], "labels in the config: fast, rust"),
        (FLEET, ["start", "--label", "rust", "--executor", "a", "--prompt", "x"], "not both"),
        (FLEET, ["start", "--label", "rust", "--priority", "high", "--prompt", "x"], "--priority"),
        (
            "executors:\n  - {name: a, type: local, max_concurrent: 0}\n",
            ["start", "--prompt", "x"],
            "max_concurrent",
        ),
    ],
)
def test_bad_fleet_input_is_one_line_exit_2_and_nothing_recorded(
    oc: Env, config: str, args: list[str], words: str
) -> None:
    oc.write_config(config)
    result = oc.run(*args)
    assert result.code == 2 and words in result.err and result.err.count("\n") == 1, result.err
    assert not oc.tasks_dir.exists() or not [p for p in oc.tasks_dir.iterdir() if len(p.name) == 36]


def test_a_queued_task_whose_start_died_before_saving_the_prompt_fails_with_why(fleet: Env) -> None:
    fleet.start("#fake sleep 2", "--label", "fast")
    queued = fleet.start("#fake text lost prompt", "--label", "fast")
    (fleet.tasks_dir / queued["task_id"] / "prompt").unlink()  # as a kill -9 right after the record
    assert fleet.run("wait", "--task-id", queued["task_id"], timeout=60).code == 4
    final = fleet.status(queued["task_id"])
    assert final["status"] == "failed" and "prompt" in final["error"] and final["pid"] is None


def test_start_wait_follow_of_a_queued_task_follows_it_once_dispatched(fleet: Env) -> None:
    fleet.start("#fake sleep 2", "--label", "fast")
    result = fleet.run(
        "start", "--label", "fast", "--prompt", "#fake text followed", "--wait", "--follow", timeout=60
    )
    assert result.code == 0, result.err
    assert "followed" in result.out and "■ completed" in result.out


# -- --after -------------------------------------------------------------------------------------
def test_after_starts_a_task_only_once_its_dependency_completed(oc: Env) -> None:
    first = oc.start("#fake sleep 2")
    second = oc.start("#fake text second", "--after", first["task_id"][:8])
    third = oc.start("#fake text third", "--after", second["task_id"])
    assert second["status"] == third["status"] == "queued" and second["after"] == first["task_id"]
    assert "waiting for task" in second["routing"]["why"]
    assert oc.run("wait", "--task-id", third["task_id"], timeout=60).code == 0
    done = {r["task_id"]: r for r in records(oc)}
    starts = [done[m["task_id"]]["started_at"] for m in (first, second, third)]
    ends = [done[m["task_id"]]["finished_at"] for m in (first, second, third)]
    assert starts[1] >= ends[0] and starts[2] >= ends[1], (starts, ends)


@pytest.mark.parametrize(("how", "state"), [("fail", "failed"), ("kill", "killed")])
def test_a_dependency_that_does_not_complete_fails_its_dependents_saying_why(
    oc: Env, how: str, state: str
) -> None:
    first = oc.start("#fake exit 3" if how == "fail" else "#fake sleep 30")
    second = oc.start("#fake text never", "--after", first["task_id"])
    if how == "kill":
        oc.ok("kill", "--task-id", first["task_id"])
    assert oc.run("wait", "--task-id", second["task_id"], timeout=60).code == 4
    final = oc.status(second["task_id"])
    assert final["status"] == "failed" and final["error"] == f"dependency {first['task_id']} {state}"
    assert final["pid"] is None and final["started_at"] is None


def test_after_an_unknown_task_is_one_line_exit_2_and_nothing_recorded(oc: Env) -> None:
    result = oc.run("start", "--prompt", "x", "--after", "0123abcd")
    assert result.code == 2 and "--after" in result.err and result.err.count("\n") == 1, result.err
    assert not oc.tasks_dir.exists() or not [p for p in oc.tasks_dir.iterdir() if len(p.name) == 36]


# -- the queue flows by itself, and shows its order ---------------------------------------------------
def on_disk(oc: Env, task_id: str) -> dict[str, Any]:
    """The record as stored, read without running openclaw-agent (which would drain the queue)."""
    out: dict[str, Any] = json.loads((oc.tasks_dir / task_id / ".meta.json").read_text())
    return out


def test_a_local_queue_flows_when_an_agent_exits_with_nobody_watching(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: one, type: local, labels: [q], max_concurrent: 1}\n")
    busy = oc.start("#fake sleep 3", "--label", "q")
    queued = oc.start("#fake text next", "--label", "q")
    after = oc.start("#fake text after", "--after", busy["task_id"])
    assert queued["status"] == after["status"] == "queued"
    # No openclaw-agent command runs from here on: the launcher of the busy task drains.
    wait_until(lambda: on_disk(oc, queued["task_id"])["status"] != "queued", timeout=60, interval=0.1)
    wait_until(lambda: on_disk(oc, after["task_id"])["status"] != "queued", timeout=60, interval=0.1)
    assert on_disk(oc, queued["task_id"])["dispatched_at"] >= on_disk(oc, busy["task_id"])["created_at"]
    hook = (oc.tasks_dir / busy["task_id"] / "on-exit").read_text()
    assert "unset OPENCLAW_TASK_ID" in hook and " drain --quiet" in hook


def test_list_status_queued_shows_each_tasks_position(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: one, type: local, labels: [q], max_concurrent: 1}\n")
    busy = oc.start("#fake sleep 5", "--label", "q")
    low = oc.start("#fake text low", "--label", "q")
    high = oc.start("#fake text high", "--label", "q", "--priority", "3")
    listed = oc.ok("list", "--status", "queued", "--json").json()
    positions = [(r["task_id"], r["queue_position"]) for r in listed]
    assert positions == [(high["task_id"], 1), (low["task_id"], 2)]
    table = oc.ok("list", "--status", "queued").out
    assert f"{high['task_id'][:8]}  queued #1" in table and f"{low['task_id'][:8]}  queued #2" in table
    oc.ok("kill", "--task-id", busy["task_id"])


def test_drain_dispatches_what_fits_and_says_what_it_dispatched(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: one, type: local, labels: [q], max_concurrent: 1}\n")
    busy = oc.start("#fake sleep 30", "--label", "q")
    queued = oc.start("#fake text next", "--label", "q")
    assert oc.ok("drain", "--json").json() == []
    oc.ok("kill", "--task-id", busy["task_id"])
    # kill refreshed nothing queued; drain frees the slot and dispatches
    moved = oc.ok("drain", "--json").json()
    assert moved in ([queued["task_id"]], []), moved
    wait_until(lambda: oc.status(queued["task_id"])["status"] == "completed", timeout=30)


# -- batch ------------------------------------------------------------------------------------------
def test_start_from_a_batch_starts_every_line_and_prints_one_json_line_each(oc: Env) -> None:
    oc.write_config(
        "executors:\n  - {name: local, type: local}\n  - {name: capped, type: local, labels: [c], "
        "max_concurrent: 1}\n"
    )
    (oc.workspace / "review.md").write_text("#fake text from a file")
    lines = [
        {"name": "build", "prompt": "#fake sleep 1"},
        {"prompt_file": "review.md", "after": "build", "priority": 2},
        {"prompt": "#fake sleep 1", "labels": ["c"]},
        {"prompt": "#fake text queued behind", "labels": ["c"]},
        {"prompt": "#fake text plain", "executor": "local", "workspace": str(oc.workspace)},
    ]
    batch = oc.workspace / "tasks.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = oc.run("start", "--from", str(batch), timeout=60)
    assert result.code == 0, result.err
    out = [json.loads(x) for x in result.out.splitlines()]
    assert len(out) == 5
    assert out[1]["after"] == out[0]["task_id"] and out[1]["status"] == "queued"
    assert [out[n]["status"] for n in (0, 2, 4)] == ["running", "running", "running"]
    assert out[3]["status"] == "queued" and out[3]["executor"] == "capped"
    for meta in out:
        assert oc.run("wait", "--task-id", meta["task_id"], timeout=60).code == 0
    assert oc.recorded(out[1]["task_id"], "stdin") == b"#fake text from a file"


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (['{"prompt": "x"}', '{"prompt": "y", "executor": "nowhere"}'], "tasks.jsonl:2: unknown executor"),
        (['{"prompt": "x"}', "{not json"], "tasks.jsonl:2: not valid JSON"),
        (['{"prompt": "x", "colour": "red"}'], "tasks.jsonl:1: (top level): unknown key 'colour'"),
        (['{"prompt": "x", "labels": ["gpu"]}'], "tasks.jsonl:1: no executor carries the labels gpu"),
        (['{"prompt": "x", "executor": "local", "labels": ["a"]}'], "tasks.jsonl:1: give either"),
        (['{"prompt": "x", "after": "0123abcd"}'], "tasks.jsonl:1: after '0123abcd'"),
        (
            ['{"name": "a", "prompt": "x", "after": "b"}', '{"name": "b", "prompt": "y", "after": "a"}'],
            "a dependency cycle: a -> b -> a",
        ),
        (['{"name": "a", "prompt": "x", "after": "a"}'], "a dependency cycle: a -> a"),
        (['{"prompt_file": "missing.md"}'], "tasks.jsonl:1: prompt_file"),
    ],
)
def test_a_bad_batch_line_refuses_the_whole_batch_naming_the_line(
    oc: Env, lines: list[str], words: str
) -> None:
    batch = oc.workspace / "tasks.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    result = oc.run("start", "--from", str(batch))
    assert result.code == 2 and words in result.err and result.err.count("\n") == 1, result.err
    assert not oc.tasks_dir.exists() or not [p for p in oc.tasks_dir.iterdir() if len(p.name) == 36]


def test_dashboard_shows_each_executors_load_and_the_queue(fleet: Env) -> None:
    fleet.start("#fake sleep 5", "--label", "rust", "--label", "fast")
    fleet.start("#fake sleep 5", "--label", "rust")
    queued = fleet.start("#fake text waits", "--label", "rust")
    assert queued["status"] == "queued"
    snap = json.loads(fleet.ok("dashboard", "--stream").out)
    load = {r["name"]: r for r in snap["executors"]}
    assert (load["a"]["active_tasks"], load["a"]["max_concurrent"], load["a"]["queued_tasks"]) == (1, 1, 1)
    assert (load["b"]["active_tasks"], load["b"]["max_concurrent"], load["b"]["queued_tasks"]) == (1, 1, 1)
    assert snap["counts"]["queued"] == 1 and snap["counts"]["running"] == 2
    text = fleet.ok("dashboard").out
    assert "executors: a 1/1 (1 queued), b 1/1 (1 queued), local 0/-" in text
    assert "queued #1" in text
