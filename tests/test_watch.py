"""Waking on a change, not a timer: ``openclaw.watch`` and the local ``wait`` and ``logs --follow``.

The watch is held against real files, real renames and real processes; the commands are
run as processes, and whether they sleep is read from the kernel's own count of their
context switches (``/proc/PID/status``), never from a timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import Env, blocked_command, watched_idle

from openclaw.watch import TaskWatch, start_time, state_changed, watch_task

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfd_open: Linux 5.3+")


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def test_a_watch_wakes_on_a_renamed_rc_and_on_output_only_when_asked(tmp_path: Path) -> None:
    proc = _sleeper()
    (tmp_path / "stdout").touch()  # made by the launcher before anyone watches
    try:
        began = start_time(proc.pid)
        with TaskWatch(str(tmp_path), proc.pid, began, output=False) as quiet:
            assert quiet.wait(0.05) == set(), "nothing changed: the time is up"
            with open(tmp_path / "stdout", "ab") as fh:
                fh.write(b"a line\n")
            assert quiet.wait(0.05) == set(), "output does not wake a waiter"
            (tmp_path / "rc.tmp").write_text("0\n")
            os.replace(tmp_path / "rc.tmp", tmp_path / "rc")
            changed = quiet.wait(5)
            assert "rc" in changed and state_changed(changed)
        with TaskWatch(str(tmp_path), proc.pid, began, output=True) as loud:
            with open(tmp_path / "stdout", "ab") as fh:
                fh.write(b"another\n")
            changed = loud.wait(5)
            assert changed == {"stdout"} and not state_changed(changed)
    finally:
        proc.kill()
        proc.wait()


def test_a_watch_wakes_when_the_launcher_exits_however_it_exits(tmp_path: Path) -> None:
    proc = _sleeper()
    with TaskWatch(str(tmp_path), proc.pid, start_time(proc.pid)) as watch:
        assert not watch.launcher_gone
        os.kill(proc.pid, signal.SIGKILL)  # no rc is written
        assert watch.wait(5) == {"launcher"}
        assert watch.launcher_gone
        proc.wait()
        assert watch.wait(0.05) == set(), "a launcher gone is not selected on again"


def test_the_watchs_own_start_time_is_the_one_psutil_gives_and_none_for_a_zombie() -> None:
    from openclaw import procs

    proc = _sleeper()
    try:
        st = procs.stat(proc.pid)
        assert st is not None and start_time(proc.pid) == st.start_time
        proc.kill()
        assert _wait_zombie(proc.pid)
        assert start_time(proc.pid) is None
    finally:
        proc.kill()
        proc.wait()


def _wait_zombie(pid: int) -> bool:
    from conftest import wait_until

    def zombie() -> bool:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"

    return bool(wait_until(zombie))


def test_a_pid_that_started_at_another_time_is_not_the_launcher(tmp_path: Path) -> None:
    proc = _sleeper()
    try:
        with TaskWatch(str(tmp_path), proc.pid, (start_time(proc.pid) or 0) + 1) as watch:
            assert watch.launcher_gone, "a reused pid is never watched"
    finally:
        proc.kill()
        proc.wait()


def test_removing_the_task_directory_wakes_the_watch(tmp_path: Path) -> None:
    directory = tmp_path / "task"
    directory.mkdir()
    with watch_task(str(directory), None, None) as watch:  # type: ignore[union-attr]
        directory.rmdir()
        assert "" in watch.wait(5)


@pytest.mark.parametrize("command", [("wait",), ("logs", "--follow")])
def test_an_idle_local_task_is_watched_without_waking_and_its_end_is_seen(
    oc: Env, command: tuple[str, ...]
) -> None:
    meta = oc.start("#fake bash until test -e gate; do sleep 0.05; done\n#fake text through")
    task_id = meta["task_id"]
    out = watched_idle(oc, command, task_id, oc.workspace / "gate")
    if command != ("wait",):
        assert b"through" in out
    assert oc.status(task_id)["status"] == "completed"


def test_a_wait_blocked_on_a_local_task_sees_a_kill_made_by_another_process(oc: Env) -> None:
    meta = oc.start("#fake sleep 60")
    waiter = blocked_command(oc, "wait", "--task-id", meta["task_id"], "--json")
    try:
        oc.ok("kill", "--task-id", meta["task_id"], "--grace", "1")
        out, _ = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode != 0
    assert b'"killed"' in out


def test_a_follower_whose_launcher_is_killed_outright_falls_back_to_looking(oc: Env) -> None:
    meta = oc.start("#fake sleep 3\n#fake text survived")
    follower = blocked_command(oc, "logs", "--follow", "--task-id", meta["task_id"])
    try:
        os.kill(meta["pid"], signal.SIGKILL)  # the launcher alone; the agent runs on, then ends
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert b"survived" in out, err.decode()
    assert oc.status(meta["task_id"])["status"] != "running"


@pytest.mark.parametrize("how", ["wait", "follow"])
def test_a_watch_that_never_wakes_still_lets_wait_and_follow_see_the_end_by_a_periodic_look(
    oc: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str
) -> None:
    """What no watch sees (an SSH connection dead without a close, a runtime follow that
    outlives its container) must not block a waiter forever: it still looks now and then."""
    from openclaw import manager as manager_module
    from openclaw.config import load
    from openclaw.executors.local import LocalExecutor
    from openclaw.records import TaskStore

    config = oc.write_config("executors: [{name: local, type: local}]\n")
    meta = oc.start("#fake sleep 1\n#fake text seen")
    deaf = tmp_path / "deaf"
    deaf.mkdir()
    monkeypatch.setattr(manager_module, "WATCH_LOOK_S", 0.5)
    monkeypatch.setattr(LocalExecutor, "watch", lambda *_: TaskWatch(str(deaf), None, None, output=False))
    manager = manager_module.Manager(load(str(config)), TaskStore(oc.tasks_dir))

    def hung(*_: object) -> None:
        raise AssertionError("blocked on a watch that never wakes")

    # No --timeout: nothing but the periodic look can end them (a hang fails by the alarm).
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        if how == "wait":
            assert manager.wait(meta["task_id"])["status"] == "completed"
        else:
            assert b"seen" in b"".join(manager.follow(meta, 0.1))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert oc.status(meta["task_id"])["status"] == "completed"
