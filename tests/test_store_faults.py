"""The task records' directory under faults: concurrent removal, broken or shared directories.

Every test drives the real console script. A broken records directory gives
one line naming the path and the fix, never a traceback; a task removed by
another process simply disappears from what the others show; and whatever
the umask, what the tool creates is private.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, Result, console_script, wait_until
from test_records import new_meta

from openclaw import states
from openclaw.records import TaskStore


def one_line_error(result: Result, *needles: str) -> None:
    """``result`` failed with exit 1 and a single stderr line that holds every needle."""
    assert "Traceback" not in result.err, result.err
    assert result.code == 1, (result.args, result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, (result.args, result.err)
    for needle in needles:
        assert needle in lines[0], (result.args, needle, lines[0])


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def running_record(pid: int) -> dict[str, Any]:
    """A running local task whose process is gone: the next observation settles it (lost)."""
    return states.transition(new_meta(), states.RUNNING, pid=pid, pid_start_time=0)


def plant_tasks(oc: Env, count: int) -> list[str]:
    """``count`` records written straight through the store: every other one running (to settle)."""
    store = TaskStore(oc.tasks_dir)
    pid = dead_pid()
    ids = []
    for n in range(count):
        meta = running_record(pid) if n % 2 else states.transition(new_meta(), states.RUNNING)
        if not n % 2:
            meta = states.transition(meta, states.COMPLETED, exit_code=0)
        store.create(meta)
        ids.append(meta["task_id"])
    return ids


def tasks_dir_entries(oc: Env) -> list[str]:
    """The tasks directory's entries, but for .cache (derived data: the memo, the index) and
    .ended (the launchers' list of ends, which serve follows)."""
    return sorted(n for n in os.listdir(oc.tasks_dir) if n not in (".cache", ".ended"))


# -- 1. concurrent cleanup ------------------------------------------------------------------


def test_list_and_dashboard_never_fail_while_another_process_cleans_up_with_force(oc: Env) -> None:
    ids = plant_tasks(oc, 30)
    stop = threading.Event()
    readers: list[Result] = []
    cleaners: list[Result] = []

    def read_loop(args: tuple[str, ...]) -> None:
        while not stop.is_set():
            readers.append(oc.run(*args))

    def produce() -> None:
        # New tasks keep arriving (each needing an update when listed) while others go.
        store = TaskStore(oc.tasks_dir)
        pid = dead_pid()
        for _ in range(15):
            meta = running_record(pid)
            store.create(meta)
            ids.append(meta["task_id"])
            time.sleep(0.1)

    threads = [
        threading.Thread(target=read_loop, args=(("list", "--json"),)),
        threading.Thread(target=read_loop, args=(("dashboard", "--stream"),)),
        threading.Thread(target=read_loop, args=(("list",),)),
        threading.Thread(target=produce),
    ]
    for t in threads:
        t.start()
    try:
        removed = 0
        deadline = time.monotonic() + 120
        while removed < 45 and time.monotonic() < deadline:
            for task_id in [i for i in ids if (oc.tasks_dir / i).exists()]:
                cleaners.append(oc.run("cleanup", "--task-id", task_id, "--force"))
                removed += 1
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert removed == 45
    assert len(readers) >= 6, "the readers ran while tasks were being removed"
    for result in readers + cleaners:
        assert "Traceback" not in result.err, (result.args, result.err)
        assert result.code == 0, (result.args, result.code, result.err)
        assert "warning" not in result.err, (result.args, result.err)
    for result in readers:
        if result.args[0] == "dashboard" or "--json" in result.args:
            json.loads(result.out)
    assert tasks_dir_entries(oc) == [], "no task, staging or trash entry is left"
    assert oc.ok("list", "--json").json() == []


def test_a_second_cleanup_of_a_task_being_removed_says_no_such_task_not_a_traceback(oc: Env) -> None:
    ids = plant_tasks(oc, 12)
    procs = [
        subprocess.Popen(
            [console_script(), "cleanup", "--task-id", task_id, "--force"],
            env=oc.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for task_id in ids
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err, err
        assert proc.returncode in (0, 3), err
        if proc.returncode == 3:
            assert b"no task with id" in err and len(err.strip().splitlines()) == 1
    assert tasks_dir_entries(oc) == []


@pytest.mark.parametrize(
    "kind",
    ["empty directory", "directory holding only .lock", "plain file", "dangling symlink"],
)
def test_an_entry_that_is_no_task_is_reported_corrupt_and_the_suggested_command_removes_it(
    oc: Env, kind: str
) -> None:
    good = oc.start("#fake text fine")
    oc.wait_status(good["task_id"], "completed")
    bad_id = str(uuid.uuid4())
    entry = oc.tasks_dir / bad_id
    if kind == "plain file":
        entry.write_text("not a task\n")
    elif kind == "dangling symlink":
        entry.symlink_to(oc.tasks_dir / "nowhere")
    else:
        entry.mkdir()
        if kind == "directory holding only .lock":
            (entry / ".lock").touch()
    listed = oc.run("list", "--json")
    assert listed.code == 0 and [m["task_id"] for m in listed.json()] == [good["task_id"]]
    assert bad_id in listed.err and "corrupt" in listed.err and "Traceback" not in listed.err
    snap = json.loads(oc.ok("dashboard", "--stream").out)
    assert snap["corrupt"] == [bad_id]
    status = oc.run("status", "--task-id", bad_id)
    one_line_error(status, bad_id, "corrupt")  # corrupt (1), not "no task with id" (3)
    # The warning names the command that removes it: that command works.
    suggested = re.search(r"'openclaw-agent (cleanup [^']+)'", listed.err)
    assert suggested is not None, listed.err
    removed = oc.run(*suggested.group(1).split())
    assert removed.code == 0 and "Traceback" not in removed.err, removed.err
    assert not os.path.lexists(entry)
    after = oc.ok("list", "--json")
    assert after.err == "" and [m["task_id"] for m in after.json()] == [good["task_id"]]
    assert tasks_dir_entries(oc) == [good["task_id"]]


def test_leftover_staging_and_trash_entries_are_never_listed_and_go_once_a_minute_old(oc: Env) -> None:
    good = oc.start("#fake text fine")
    oc.wait_status(good["task_id"], "completed")
    staged = new_meta()
    staging = oc.tasks_dir / f".new-{staged['task_id']}"
    staging.mkdir()
    (staging / ".meta.json").write_text(json.dumps(staged))
    trash = oc.tasks_dir / f".trash-{uuid.uuid4()}-0badcafe"
    (trash / "sub").mkdir(parents=True)
    (trash / "sub" / "stdout").write_text("x")
    (trash / ".meta.json").write_text("{}")
    for _ in range(2):
        listed = oc.ok("list", "--json")
        assert [m["task_id"] for m in listed.json()] == [good["task_id"]] and listed.err == ""
    assert staging.exists() and trash.exists(), "young ones may belong to a process at work"
    old = time.time() - 120
    for path in (staging, trash):
        os.utime(path, (old, old))
    listed = oc.ok("list", "--json")
    assert [m["task_id"] for m in listed.json()] == [good["task_id"]] and listed.err == ""
    assert tasks_dir_entries(oc) == [good["task_id"]]


def _kill_tagged(task_id: str, launcher: int | None) -> None:
    """SIGKILL the launcher's group and every process tagged with the task's id."""
    if launcher:
        try:
            os.killpg(launcher, signal.SIGKILL)
        except OSError:
            pass
    tag = f"OPENCLAW_TASK_ID={task_id}".encode()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                env = Path(f"/proc/{name}/environ").read_bytes()
            except OSError:
                continue
            if tag in env.split(b"\0"):
                try:
                    os.kill(int(name), signal.SIGKILL)
                except OSError:
                    pass


def test_a_task_whose_directory_is_deleted_while_its_agent_runs_is_simply_gone(oc: Env) -> None:
    other = oc.start("#fake text fine")
    oc.wait_status(other["task_id"], "completed")
    meta = oc.start("#fake sleep 30")
    try:
        shutil.rmtree(oc.tasks_dir / meta["task_id"])
        for args in (["list", "--json"], ["list"], ["dashboard", "--stream"]):
            result = oc.run(*args)
            assert result.code == 0 and "Traceback" not in result.err, (args, result.err)
            assert meta["task_id"][:8] not in result.out
        status = oc.run("status", "--task-id", meta["task_id"])
        assert status.code == 3 and "Traceback" not in status.err
        assert len(status.err.strip().splitlines()) == 1 and "no task with id" in status.err
        assert oc.run("logs", "--task-id", meta["task_id"]).code == 3
    finally:
        _kill_tagged(meta["task_id"], meta.get("pid"))


# -- 2. a broken records directory ------------------------------------------------------------

#: The commands every broken-directory test runs; TASK is replaced by a task id.
COMMANDS = [
    ["list"],
    ["list", "--json"],
    ["dashboard", "--stream"],
    ["dashboard"],
    ["executors"],
    ["status", "--task-id", "TASK"],
    ["cleanup", "--task-id", "TASK", "--force"],
    ["start", "--prompt", "#fake text hi"],
]


def _args(args: list[str], task_id: str) -> list[str]:
    return [task_id if a == "TASK" else a for a in args]


@pytest.mark.parametrize("where", ["tasks", "data", "share"])
def test_a_records_path_that_is_a_file_gives_one_line_naming_it_for_every_command(
    oc: Env, where: str
) -> None:
    blocker = {
        "tasks": oc.tasks_dir,
        "data": oc.tasks_dir.parent,
        "share": oc.tasks_dir.parent.parent,
    }[where]
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way\n")
    task_id = str(uuid.uuid4())
    for args in COMMANDS:
        result = oc.run(*_args(args, task_id))
        one_line_error(result, str(blocker), "not a directory", "mkdir -m 700")
    assert blocker.read_text() == "in the way\n", "nothing was changed"


@pytest.mark.parametrize("how", ["read-only bind mount", "immutable (chattr +i)"])
def test_a_read_only_tasks_directory_gives_one_line_naming_it_and_the_fix(oc: Env, how: str) -> None:
    done = oc.start("#fake text fine")
    oc.wait_status(done["task_id"], "completed")
    oc.ok("list")  # the validation memo is up to date
    tasks = str(oc.tasks_dir)
    if how == "read-only bind mount":
        if not shutil.which("unshare"):
            pytest.skip("no unshare(1) to make a private mount namespace")
        # A private mount namespace per command: nothing leaks out of the test.
        wrap = [
            "unshare",
            "-m",
            "sh",
            "-c",
            'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"',
            tasks,
        ]
        probe = subprocess.run([*wrap, "touch", f"{tasks}/probe"], capture_output=True, text=True)
        if "Read-only file system" not in probe.stderr:
            pytest.skip(f"cannot make a read-only bind mount here: {probe.stderr.strip()}")
        needle = "read-only file system"
    else:
        flag = subprocess.run(["chattr", "+i", tasks], capture_output=True, text=True)
        if flag.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {flag.stderr.strip()}")
        wrap = []
        needle = "chattr -i"
    try:
        results = {}
        for args in COMMANDS:
            argv = [*wrap, console_script(), *_args(args, done["task_id"])]
            proc = subprocess.run(argv, env=oc.env, capture_output=True, text=True, cwd=oc.workspace)
            results[args[0] + " " + " ".join(args[1:2])] = Result(
                args, proc.returncode, proc.stdout, proc.stderr
            )
    finally:
        if not wrap:
            subprocess.run(["chattr", "-i", tasks], check=True)
    for result in results.values():
        assert "Traceback" not in result.err, (result.args, result.err)
    # Reading needs no writing: those work.
    for key in ("list ", "list --json", "dashboard --stream", "dashboard ", "executors ", "status --task-id"):
        assert results[key].code == 0 and results[key].err == "", (key, results[key].err)
    assert done["task_id"] in results["list --json"].out
    # Writing does not: one line, naming the directory and the way out.
    one_line_error(results["start --prompt"], tasks, needle)
    one_line_error(results["cleanup --task-id"], tasks, needle)
    assert oc.status(done["task_id"])["status"] == "completed", "the task is untouched"
    assert tasks_dir_entries(oc) == [done["task_id"]]


def test_a_task_to_settle_in_a_read_only_tasks_directory_fails_in_one_line(oc: Env) -> None:
    store = TaskStore(oc.tasks_dir)
    meta = running_record(dead_pid())
    store.create(meta)
    tasks = str(oc.tasks_dir)
    subprocess.run(["chattr", "+i", tasks, f"{tasks}/{meta['task_id']}"], check=True)
    try:
        for args in (["list"], ["status", "--task-id", meta["task_id"]]):
            one_line_error(oc.run(*args), meta["task_id"], "chattr -i")
    finally:
        subprocess.run(["chattr", "-i", tasks, f"{tasks}/{meta['task_id']}"], check=True)
    assert oc.status(meta["task_id"])["status"] == "lost"


# -- 3. private modes and strict ownership ------------------------------------------------------


def _walk_modes(root: Path) -> dict[str, int]:
    modes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            modes[str(path.relative_to(root))] = path.lstat().st_mode
    return modes


def test_with_umask_000_every_directory_created_is_0700_and_every_file_0600(oc: Env, tmp_path: Path) -> None:
    env: dict[str, str] = {}

    def run(*args: str) -> Result:
        proc = subprocess.run(
            ["sh", "-c", 'umask 000; exec "$@"', "sh", console_script(), *args],
            env=dict(oc.env, **env),
            capture_output=True,
            text=True,
            cwd=oc.workspace,
        )
        result = Result(list(args), proc.returncode, proc.stdout, proc.stderr)
        assert result.code == 0, (args, result.err)
        return result

    def status(meta: dict[str, Any]) -> str:
        found: str = json.loads(run("status", "--json", "--task-id", meta["task_id"]).out)["status"]
        return found

    assert not (oc.home / ".local").exists()
    # The first command on a fresh HOME (no config file) makes ~/.local, ~/.local/share, ...
    first = json.loads(run("start", "--json", "--prompt", "#fake text hi").out)
    second = json.loads(run("start", "--json", "--prompt", "#fake text bye").out)
    wait_until(lambda: status(first) == "completed" and status(second) == "completed")
    run("list")
    run("dashboard", "--stream")
    run("cleanup", "--task-id", second["task_id"])
    config = tmp_path / "config.yaml"  # outside HOME: the test, not the tool, made it
    config.write_text("executors:\n  - {name: local, type: local}\n")
    env["OPENCLAW_CONFIG"] = str(config)
    run("executors")  # validates the config: writes its memo in the data directory
    modes = _walk_modes(oc.home)
    assert ".local/share/openclaw/config.validated" in modes
    assert f".local/share/openclaw/tasks/{first['task_id']}/.meta.json" in modes
    assert ".local/share/openclaw/tasks/.cache/validated" in modes
    for path, mode in modes.items():
        if os.path.isdir(oc.home / path):
            assert mode & 0o777 == 0o700, (path, oct(mode))
        else:
            assert mode & 0o777 == 0o600, (path, oct(mode))


@pytest.mark.parametrize(
    "case",
    [
        "data dir 0777",
        "data dir 0770",
        "tasks dir 0722",
        "tasks dir of another user",
        "data dir of another user",
    ],
)
def test_a_records_directory_others_can_write_or_own_is_refused_with_the_fix(oc: Env, case: str) -> None:
    meta = oc.start("#fake text fine")
    oc.wait_status(meta["task_id"], "completed")
    target = oc.tasks_dir.parent if case.startswith("data") else oc.tasks_dir
    if "another user" in case:
        os.chown(target, 4242, -1)
        fix = f"chown {os.geteuid()} {target}"
    else:
        os.chmod(target, int(case.split()[-1], 8))
        fix = f"chmod 700 {target}"
    for args in COMMANDS:
        one_line_error(oc.run(*_args(args, meta["task_id"])), str(target), fix)
    os.chown(target, os.geteuid(), -1)
    os.chmod(target, 0o700)
    assert oc.status(meta["task_id"])["status"] == "completed", "fixed as told, it works again"


def test_with_umask_000_the_config_memo_alone_makes_private_directories_and_file(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: here, type: local}\n")
    proc = subprocess.run(
        ["sh", "-c", 'umask 000; exec "$@"', "sh", console_script(), "executors"],
        env=oc.env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    data = oc.tasks_dir.parent
    assert (data / "config.validated").stat().st_mode & 0o777 == 0o600
    for directory in (oc.home / ".local", oc.home / ".local" / "share", data):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
