"""Fault injection on the start path: a start cut short anywhere never leaves a record that lies.

Every named fault point of ``start`` (``openclaw/faults.py``) is swept on
every executor (this machine, a real sshd, real podman), with a SIGKILL of
the starting CLI (a crash, ``kill -9``), a Ctrl-C, and, over SSH, a cut
connection. After each, and then after the next observation, the record must
tell the truth:

- a final state only when no process of the task lives (none carries its
  ``OPENCLAW_TASK_ID``), so nothing that runs is ever recorded over;
- whatever runs can be stopped with ``kill``, and ``cleanup --force``
  leaves no process and no record.

A second sweep SIGKILLs the CLI after a range of delays, to hit the points
between the named ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest
import test_container_executor as containers
import test_ssh_executor as sshmod
from conftest import Env, console_script, wait_until
from test_container_executor import Box
from test_ssh_executor import SSHEnv, live_task_processes

from openclaw import faults
from openclaw.states import FINAL

# The fixtures of the SSH and container tests, made visible to this module.
remote, ssh = sshmod.remote, sshmod.ssh
containers_conf, container_image = containers.containers_conf, containers.container_image
podman_service, runtime, box = containers.podman_service, containers.runtime, containers.box

PROMPT = "#fake sleep 30\n#fake text done"

LOCAL_POINTS = ["start.recorded", "start.prompt", "local.spawned", "start.launched"]
SSH_POINTS = [
    "start.recorded",
    "start.prompt",
    "ssh.prepared",
    "ssh.uploaded",
    "ssh.launch-sent",
    "start.launched",
]
CONTAINER_POINTS = ["start.recorded", "start.prompt", "container.created", "start.launched"]


def test_every_fault_point_is_swept() -> None:
    assert set(LOCAL_POINTS + SSH_POINTS + CONTAINER_POINTS) == set(faults.POINTS)


def _only_task(oc: Env) -> str:
    ids = [n for n in os.listdir(oc.tasks_dir) if len(n) == 36] if oc.tasks_dir.is_dir() else []
    assert len(ids) == 1, ids
    return ids[0]


def _recorded(oc: Env, task_id: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((oc.tasks_dir / task_id / ".meta.json").read_text())
    return meta


def _start_with_fault(oc: Env, point: str, action: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(oc.env, OPENCLAW_FAULTS=f"{point}:{action}")
    return subprocess.run(
        [console_script(), "start", "--json", f"--prompt={PROMPT}", *args],
        capture_output=True,
        env=env,
        cwd=oc.workspace,
        timeout=120,
    )


def _assert_truthful(oc: Env, task_id: str, status: str) -> None:
    """A final state only with no process of the task left."""
    if status in FINAL:
        assert live_task_processes(task_id) == [], f"{status} while processes of the task live"


def _settle_and_stop(oc: Env, task_id: str, launched: bool | None) -> None:
    """Observe, check the truth, then kill and clean up; nothing may be left."""
    _assert_truthful(oc, task_id, _recorded(oc, task_id)["status"])
    seen = oc.status(task_id)
    shown = seen.get("recorded_status") or seen["status"]
    _assert_truthful(oc, task_id, shown)
    if launched is None:  # it depends on how far the cut-off script got: the processes say
        launched = bool(live_task_processes(task_id))
    if launched:
        seen = oc.wait_status(task_id, "running", timeout=30)
        assert seen["pid"] or seen["host"], "an adopted task can be followed and killed"
        assert live_task_processes(task_id), "it runs"
        killed = oc.ok("kill", "--task-id", task_id, "--grace", "1", "--json", timeout=90).json()
        assert killed["status"] == "killed"
        assert live_task_processes(task_id) == []
    elif launched is False:
        assert live_task_processes(task_id) == []
        assert shown in ("pending", "lost", "failed"), shown
    result = oc.run("cleanup", "--task-id", task_id, "--force", timeout=120)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert live_task_processes(task_id) == []
    assert not (oc.tasks_dir / task_id).exists()


def _check_interrupt_line(proc: subprocess.CompletedProcess[bytes], action: str) -> None:
    if action == "kill":
        assert proc.returncode == -signal.SIGKILL
    elif action == "int":
        err = proc.stderr.decode()
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and "stays pending" in lines[0], err


# -------------------------------------------------------------------------------- local
@pytest.mark.parametrize("action", ["kill", "int"])
@pytest.mark.parametrize("point", LOCAL_POINTS)
def test_local_start_cut_short_at_any_point_never_leaves_a_lying_record(
    oc: Env, point: str, action: str
) -> None:
    proc = _start_with_fault(oc, point, action)
    _check_interrupt_line(proc, action)
    task_id = _only_task(oc)
    assert _recorded(oc, task_id)["status"] == "pending", "cut short: never failed, never running"
    launched = point in ("local.spawned", "start.launched")
    if not launched:
        # Its start is gone and nothing was launched: the first observation says so at once.
        assert oc.status(task_id)["status"] == "lost"
    _settle_and_stop(oc, task_id, launched)


@pytest.mark.parametrize("delay_ms", [0, 40, 80, 120, 160, 200, 260, 330])
def test_local_start_killed_after_any_delay_never_leaves_a_lying_record(oc: Env, delay_ms: int) -> None:
    proc = subprocess.Popen(
        [console_script(), "start", "--json", f"--prompt={PROMPT}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=oc.env,
        cwd=oc.workspace,
    )
    time.sleep(delay_ms / 1000)
    proc.kill()
    proc.wait()
    if not oc.tasks_dir.is_dir() or not [n for n in os.listdir(oc.tasks_dir) if len(n) == 36]:
        return  # killed before the record was made: nothing to tell
    task_id = _only_task(oc)
    status = oc.status(task_id)["status"]
    _assert_truthful(oc, task_id, status)
    if live_task_processes(task_id):
        assert status == "running"
    _settle_and_stop(oc, task_id, None)


# -------------------------------------------------------------------------------- ssh
@pytest.mark.parametrize(
    ("point", "action"),
    [(p, a) for p in SSH_POINTS for a in ("kill", "int")] + [("ssh.launch-sent", "cut")],
)
def test_ssh_start_cut_short_at_any_point_never_leaves_a_lying_record(
    ssh: SSHEnv, point: str, action: str
) -> None:
    oc = ssh.oc
    proc = _start_with_fault(oc, point, action, "--workspace", str(ssh.remote.ws))
    task_id = _only_task(oc)
    if action == "cut":
        # start reads the launch's answer back over a new connection. Whether the script ran
        # depends on how much of it sshd passed on before the cut; either way start knows.
        if proc.returncode == 0:
            assert _recorded(oc, task_id)["status"] == "running"
            _settle_and_stop(oc, task_id, True)
        else:
            assert proc.returncode == 1 and "the agent was not started" in proc.stderr.decode()
            assert _recorded(oc, task_id)["status"] == "failed"
            assert not ssh.task_dir(task_id).exists(), "the prompt and env file are taken back"
            _settle_and_stop(oc, task_id, False)
        return
    _check_interrupt_line(proc, action)
    assert _recorded(oc, task_id)["status"] == "pending"
    if point == "start.launched":
        _settle_and_stop(oc, task_id, True)
    elif point == "ssh.launch-sent":
        # The script reached the host; how far it ran once its connection was gone varies. Give
        # it the time it takes, then the host's processes and files say whether it launched.
        wait_until(
            lambda: (
                not (ssh.task_dir(task_id) / "launcher.log").exists()
                or (ssh.task_dir(task_id) / "launched").exists()
            ),
            timeout=20,
        )
        _settle_and_stop(oc, task_id, None)
    else:
        _settle_and_stop(oc, task_id, False)


def test_ssh_cleanup_of_an_interrupted_start_takes_its_files_off_the_host(ssh: SSHEnv) -> None:
    oc = ssh.oc
    _start_with_fault(oc, "ssh.uploaded", "kill", "--workspace", str(ssh.remote.ws))
    task_id = _only_task(oc)
    assert (ssh.task_dir(task_id) / "env").exists()
    oc.ok("cleanup", "--task-id", task_id, "--force", timeout=60)
    assert not ssh.task_dir(task_id).exists(), "the prompt and env file must not stay on the host"


# -------------------------------------------------------------------------------- container
@pytest.mark.parametrize("runtime", ["podman"], indirect=True)
@pytest.mark.parametrize("action", ["kill", "int"])
@pytest.mark.parametrize("point", CONTAINER_POINTS)
def test_container_start_cut_short_at_any_point_never_leaves_a_lying_record(
    box: Box, point: str, action: str
) -> None:
    oc = box.oc
    proc = _start_with_fault(oc, point, action, "--executor", "box", "--workspace", "/work")
    _check_interrupt_line(proc, action)
    task_id = _only_task(oc)
    assert _recorded(oc, task_id)["status"] == "pending"
    _settle_and_stop(oc, task_id, point == "start.launched")


@pytest.mark.parametrize("runtime", ["podman"], indirect=True)
def test_container_created_but_never_started_is_removed_and_the_task_lost(box: Box) -> None:
    """``run -d`` cut between create and start: the container sits "created", never running."""
    from openclaw.executors.container import container_name

    oc = box.oc
    proc = _start_with_fault(oc, "container.created", "kill", "--executor", "box", "--workspace", "/work")
    assert proc.returncode == -signal.SIGKILL
    task_id = _only_task(oc)
    name = container_name(task_id)
    # What the interrupted `run -d` left: the container created, never started.
    box.rt.run("create", "--name", name, "--label", f"openclaw.task-id={task_id}", box.rt.image, "true")
    assert box.inspect(task_id)["State"]["Status"] == "created"
    assert oc.status(task_id)["status"] == "pending", "a create may be a start in progress"
    # Past the window, the next observation removes it, and only then says the task is over.
    meta = _recorded(oc, task_id)
    meta["created_at"] = "2020-01-01T00:00:00.000Z"
    (oc.tasks_dir / task_id / ".meta.json").write_text(json.dumps(meta))
    seen = oc.status(task_id)
    assert seen["status"] == "lost" and "was removed" in seen["error"]
    assert not box.exists(task_id)


# -------------------------------------------------------------------------------- a full disk
@pytest.mark.parametrize("batch", [False, True], ids=["start", "start --from"])
def test_a_disk_error_mid_start_gives_one_line_naming_the_store_and_leaves_tasks_pending(
    oc: Env, batch: bool
) -> None:
    if batch:
        lines = "".join(json.dumps({"prompt": f"#fake text {n}"}) + "\n" for n in range(3))
        (oc.workspace / "batch.jsonl").write_text(lines)
        args = ["start", "--from", str(oc.workspace / "batch.jsonl")]
    else:
        args = ["start", f"--prompt={PROMPT}"]
    env = dict(oc.env, OPENCLAW_FAULTS="start.prompt:nospace")
    proc = subprocess.run(
        [console_script(), *args], capture_output=True, text=True, env=env, cwd=oc.workspace
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(oc.tasks_dir) in lines[0] and "space" in lines[0], lines
    ids = [n for n in os.listdir(oc.tasks_dir) if len(n) == 36]
    assert ids, "the task was recorded before the disk filled"
    for task_id in ids:
        meta = _recorded(oc, task_id)
        assert meta["status"] == "pending", "cut short: never failed, never running"
        assert "start was interrupted" in meta["error"]
        assert live_task_processes(task_id) == []
        assert oc.status(task_id)["status"] == "lost", "nothing was launched, and the next look says so"
