"""A notification for an SSH task that ends while ``serve`` runs, and serve's watch of an SSH host."""

from __future__ import annotations

import json
import select
import time
from typing import Any

import pytest
import test_notify as notes
import test_ssh_executor as sshmod
from conftest import context_switches, wait_until
from sshd_harness import commands_running
from test_notify import Receiver
from test_ssh_executor import SSHEnv

remote, ssh = sshmod.remote, sshmod.ssh
receiver, serve = notes.receiver, notes.serve


def test_an_ssh_task_ending_while_serve_runs_is_told_within_two_intervals(
    ssh: SSHEnv, receiver: Receiver, serve: Any
) -> None:
    opts = ssh.configure()
    opts["notify"] = [{"webhook": receiver.url}]
    ssh.oc.write_config(json.dumps({"executors": [opts]}))
    interval = 1.0
    serve("--interval", str(interval))
    meta = ssh.oc.ok("start", "--json", "--prompt", "#fake sleep 1\n#fake text done", timeout=60).json()
    rc = ssh.task_dir(meta["task_id"]) / "rc"
    wait_until(rc.exists, timeout=30)
    ended = rc.stat().st_mtime
    wait_until(lambda: receiver.posts, timeout=30)
    assert receiver.posts[0]["at"] - ended <= 2 * interval + 0.5
    body = json.loads(receiver.posts[0]["body"])
    assert (
        body["task_id"] == meta["task_id"] and body["status"] == "completed" and body["host"] == "127.0.0.1"
    )
    time.sleep(interval * 2)
    assert len(receiver.posts) == 1


def _ended_watches(ssh: SSHEnv) -> list[int]:
    """The watches of the host's ``.ended`` running there (this machine, through sshd)."""
    return commands_running(b"tail", str(ssh.remote.tasks / ".ended").encode())


def test_serve_watches_an_ssh_host_by_one_quiet_command_and_sees_its_tasks_end_without_a_timer(
    ssh: SSHEnv, serve: Any
) -> None:
    s = serve("--interval", "3600")  # a look on the interval would come in an hour
    ws = ssh.remote.ws
    gate = "#fake bash until test -e {}; do sleep 0.05; done\n#fake text through"
    metas = [ssh.oc.start(gate.format(g), "--workspace", str(ws)) for g in ("g1", "g2")]
    for meta in metas:
        notes.logged(s, meta["task_id"], "running", timeout=30)
    wait_until(lambda: len(_ended_watches(ssh)) == 1, timeout=15)
    time.sleep(0.5)
    before = context_switches(s.proc.pid)
    time.sleep(1.5)
    # Its SSH connection sleeps too (paramiko's transport thread would wake 10 times a second).
    assert context_switches(s.proc.pid) - before <= 2, "serve woke while the host's tasks idled"
    (ws / "g1").touch()
    notes.logged(s, metas[0]["task_id"], "completed", timeout=30)
    (ws / "g2").touch()
    notes.logged(s, metas[1]["task_id"], "completed", timeout=30)
    assert len(_ended_watches(ssh)) <= 1
    assert s.stop() < 1.0
    wait_until(lambda: not _ended_watches(ssh), timeout=15)


def test_an_ssh_host_alarm_rings_at_once_for_a_task_that_ended_before_it_began(
    ssh: SSHEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openclaw.config import load
    from openclaw.manager import Manager
    from openclaw.records import TaskStore

    meta = ssh.oc.start("#fake text quick")
    ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    monkeypatch.setenv("HOME", ssh.oc.env["HOME"])  # its known_hosts
    manager = Manager(load(str(ssh.oc.config_file)), TaskStore(ssh.oc.tasks_dir))
    executor = manager.executor_for(meta["executor"])
    alarm = executor.alarm([meta], time.time() - 60)  # it ran when the last look saw it
    assert alarm is not None
    try:
        # At once: with the watch's answer, or (another packet) on the channel right after.
        rang = alarm.lost or bool(select.select(alarm.fds(), [], [], 10)[0] and alarm.take())
        assert rang and not alarm.broken, "a task whose rc is already there rings the alarm at once"
    finally:
        alarm.close()
    quiet = executor.alarm([], time.time())
    assert quiet is not None
    try:
        assert quiet.fds() and not select.select(quiet.fds(), [], [], 0.5)[0]
    finally:
        quiet.close()
