"""A notification for an SSH task that ends while ``serve`` runs."""

from __future__ import annotations

import json
import time
from typing import Any

import test_notify as notes
import test_ssh_executor as sshmod
from conftest import wait_until
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
