"""A record tells the truth about the task's processes, and keeps its secrets (the review's findings).

Against real processes, the real sshd (with a second, hostile user of the
host) and the real launcher.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest
import test_ssh_executor as sshmod
from conftest import Env, console_script, wait_until
from test_ssh_executor import SSHEnv, live_task_processes, one_line_error

from openclaw import procs

remote, ssh = sshmod.remote, sshmod.ssh

HOSTILE_USER = "openclaw-hostile"


def hostile_user() -> pwd.struct_passwd:
    """A second unprivileged account on the host (made when missing; tests run as root)."""
    try:
        return pwd.getpwnam(HOSTILE_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", HOSTILE_USER], check=True)
        return pwd.getpwnam(HOSTILE_USER)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a second user of the host needs root to make")


# -------------------------------------------------------------- 3: lost and failed mean gone
def test_sigkill_of_the_launcher_alone_keeps_the_task_running_and_kill_stops_the_agent(oc: Env) -> None:
    meta = oc.start("#fake sleep 60")
    task_id = meta["task_id"]
    wait_until(lambda: len(live_task_processes(task_id)) >= 3)
    os.kill(meta["pid"], signal.SIGKILL)
    wait_until(lambda: not procs.is_alive(meta["pid"], meta["pid_start_time"]))
    seen = oc.status(task_id)
    assert seen["status"] == "running", "the agent and its tool still run: not lost"
    assert "launcher is gone" in seen["status_reason"]
    assert live_task_processes(task_id)
    killed = oc.ok("kill", "--task-id", task_id, "--grace", "1", "--json").json()
    assert killed["status"] == "killed"
    assert live_task_processes(task_id) == []


def test_a_failed_agent_leaves_no_tool_process_behind(oc: Env) -> None:
    meta = oc.start("#fake detached-child 60\n#fake exit 3")
    task_id = meta["task_id"]
    done = oc.wait_status(task_id, "failed", timeout=30)
    assert done["exit_code"] == 3
    detached = int(oc.recorded(task_id, "detached-pid").split()[0])
    st = procs.stat(detached)
    assert st is None or st.state in ("Z", "X"), "the detached tool went with the agent"
    assert live_task_processes(task_id) == []


def test_cleanup_force_stops_a_process_a_finished_task_left_behind(oc: Env) -> None:
    meta = oc.start("#fake text quick")
    task_id = meta["task_id"]
    oc.wait_status(task_id, "completed")
    # Something of the task that escaped (it carries the task's id in its environment).
    stray = subprocess.Popen(
        ["sleep", "60"], env=dict(os.environ, OPENCLAW_TASK_ID=task_id), start_new_session=True
    )
    try:
        oc.ok("cleanup", "--task-id", task_id, "--force")
        assert stray.wait(timeout=15) != 0
    finally:
        if stray.poll() is None:
            stray.kill()


def test_kill_finds_a_running_agent_whose_task_directory_was_deleted(oc: Env) -> None:
    meta = oc.start("#fake sleep 60")
    task_id = meta["task_id"]
    wait_until(lambda: len(live_task_processes(task_id)) >= 3)
    subprocess.run(["rm", "-rf", str(oc.tasks_dir / task_id)], check=True)
    listed = oc.ok("list", "--json").json()
    assert listed == []
    out = oc.ok("kill", "--task-id", task_id, "--grace", "1")
    assert "no record" in out.out
    assert live_task_processes(task_id) == []


# -------------------------------------------------------------- 6: secrets stay secret
def start_leaky_agent(oc: Env, tmp_path: Path, stderr_command: str, secret: str) -> str:
    """Start an 'agent' that runs ``stderr_command`` to stderr and exits 2, with MY_TOKEN=secret passed."""
    leaky = tmp_path / "leaky-agent"
    leaky.write_text(f"#!/bin/sh\n{stderr_command} >&2\nexit 2\n")
    leaky.chmod(0o755)
    config = {"name": "local", "type": "local", "pass_env": ["MY_TOKEN"], "claude_path": str(leaky)}
    oc.write_config(json.dumps({"executors": [config]}))
    task_id: str = oc.start("#fake text hi", env={"MY_TOKEN": secret})["task_id"]
    return task_id


def test_a_secret_the_agent_prints_on_stderr_is_redacted_in_the_record_status_and_list(
    oc: Env, tmp_path: Path
) -> None:
    secret = "sk-live-0123456789abcdef"
    task_id = start_leaky_agent(oc, tmp_path, 'echo "auth failed for token $MY_TOKEN"', secret)
    # Observed from a shell that does not have the variable: the record must not get it either.
    done = oc.wait_status(task_id, "failed")
    assert secret not in json.dumps(done) and "[redacted]" in done["error"]
    assert secret not in (oc.tasks_dir / task_id / ".meta.json").read_text()
    assert secret not in oc.ok("list").out
    assert secret not in oc.ok("list", "--json").out
    assert secret not in oc.ok("status", "--task-id", task_id).out


# -------------------------------------------------------------- 1: a shared SSH host
@needs_root
@pytest.mark.parametrize("attack", ["world-writable", "owned-by-another", "symlink"])
def test_a_remote_root_another_user_controls_is_refused_and_nothing_is_written_there(
    ssh: SSHEnv, attack: str
) -> None:
    hostile = hostile_user()
    root = ssh.remote.dir / "shared-tasks"
    theirs = ssh.remote.dir / "theirs"
    if attack == "world-writable":
        root.mkdir()
        root.chmod(0o777)
        os.chown(root, ssh.remote.user.pw_uid, ssh.remote.user.pw_gid)
        root.chmod(0o777)
    elif attack == "owned-by-another":
        root.mkdir(mode=0o755)
        os.chown(root, hostile.pw_uid, hostile.pw_gid)
    else:
        theirs.mkdir(mode=0o777)
        os.chown(theirs, hostile.pw_uid, hostile.pw_gid)
        root.symlink_to(theirs)
        os.lchown(root, hostile.pw_uid, hostile.pw_gid)
    ssh.configure(remote_root=str(root))
    result = ssh.oc.run("start", "--json", "--prompt=#fake text hi", "--workspace", str(ssh.remote.ws))
    assert result.code == 1
    line = one_line_error(result.err)
    assert "refusing remote_root" in line and str(root) in line
    assert "chmod go-w" in line or "remove it" in line
    target = theirs if attack == "symlink" else root
    assert list(target.iterdir()) == [], "no prompt, env file or launcher may land there"
    task_id = result.json()["task_id"]
    assert ssh.oc.status(task_id)["status"] == "failed"


def test_task_directories_on_the_host_are_private_and_made_fresh(ssh: SSHEnv) -> None:
    meta = ssh.oc.start("#fake sleep 5", "--workspace", str(ssh.remote.ws))
    d = ssh.task_dir(meta["task_id"])
    st = d.stat()
    assert st.st_mode & 0o777 == 0o700 and st.st_uid == ssh.remote.user.pw_uid
    for name in ("prompt", "env", "launcher.sh"):
        assert (d / name).stat().st_mode & 0o077 == 0, name
    ssh.oc.ok("kill", "--task-id", meta["task_id"], "--grace", "1", timeout=60)


def test_the_default_remote_root_is_private_to_the_login_user(ssh: SSHEnv) -> None:
    ssh.configure(remote_root=None)
    meta = ssh.oc.start("#fake text hi", "--workspace", str(ssh.remote.ws))
    home = Path(ssh.remote.user.pw_dir)
    d = home / ".cache" / "openclaw" / "tasks" / meta["task_id"]
    try:
        assert d.is_dir() and d.stat().st_uid == ssh.remote.user.pw_uid
        ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
        ssh.oc.ok("cleanup", "--task-id", meta["task_id"], timeout=60)
        assert not d.exists()
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=False)


# -------------------------------------------------------------- 4: a framed protocol
def test_a_newline_in_the_remote_workspace_path_starts_and_completes(ssh: SSHEnv) -> None:
    ws = ssh.remote.ws / "two\nlines ws"
    ws.mkdir()
    os.chown(ws, ssh.remote.user.pw_uid, ssh.remote.user.pw_gid)
    meta = ssh.oc.start("#fake write out.txt made\n#fake text ok", "--workspace", str(ws))
    assert meta["status"] == "running" and meta["workspace"] == str(ws)
    done = ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    assert done["result"]["text"] == "ok"
    assert (ws / "out.txt").read_text() == "made"


def test_a_noisy_shell_start_up_file_on_the_host_changes_nothing(ssh: SSHEnv) -> None:
    bashrc = Path(ssh.remote.user.pw_dir) / ".bashrc"
    old = bashrc.read_bytes() if bashrc.exists() else None
    bashrc.write_text("echo 'f fail 9'; echo 'chmod: warning: noise' >&2; printf '@@OPENCLAW-END@@\\n'\n")
    try:
        meta = ssh.oc.start("#fake sleep 1\n#fake text quiet", "--workspace", str(ssh.remote.ws))
        assert meta["status"] == "running"
        done = ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
        assert done["result"]["text"] == "quiet"
    finally:
        if old is None:
            bashrc.unlink()
        else:
            bashrc.write_bytes(old)


def test_an_answer_cut_short_is_never_read_as_a_finished_one() -> None:
    from openclaw.executors.ssh import MARK, Answer, CutShort

    whole = MARK + b"f 1\nx\nalive 1\n1\n@@OPENCLAW-END@@\n"
    assert Answer.parse(whole).text("alive") == "1"
    for cut in range(len(whole) - 1):
        with pytest.raises((CutShort, ValueError)):
            Answer.parse(whole[:cut])
    started = time.monotonic()
    assert time.monotonic() - started < 5


def test_a_remote_claude_that_is_there_but_not_executable_is_not_called_missing(ssh: SSHEnv) -> None:
    noexec = ssh.remote.dir / "claude"
    noexec.write_text("#!/bin/sh\n")
    noexec.chmod(0o644)
    ssh.configure(claude_path=str(noexec))
    result = ssh.oc.run("start", "--prompt", "hi", "--workspace", str(ssh.remote.ws))
    assert result.code == 1
    line = one_line_error(result.err)
    assert f"claude is at {noexec}" in line and "cannot run it" in line and "not found" not in line


@needs_root
def test_a_remote_claude_in_a_directory_closed_to_the_login_user_is_not_called_missing(ssh: SSHEnv) -> None:
    locked = ssh.remote.dir / "locked"
    locked.mkdir(mode=0o700)  # root's: the login user cannot enter it
    os.chmod(locked, 0o700)
    (locked / "bin").mkdir()
    claude = locked / "bin" / "claude"
    claude.write_bytes(ssh.remote.fake_claude.read_bytes())
    claude.chmod(0o755)
    ssh.configure(claude_path=str(claude))
    result = ssh.oc.run("start", "--prompt", "hi", "--workspace", str(ssh.remote.ws))
    assert result.code == 1
    line = one_line_error(result.err)
    assert f"claude at {claude}" in line and f"cannot enter {locked} (permission denied)" in line
    assert f"ls -ld {locked}" in line and "not found" not in line


@needs_root
def test_a_remote_claude_that_is_executable_but_not_readable_is_not_called_missing(ssh: SSHEnv) -> None:
    claude = ssh.remote.dir / "claude"
    claude.write_bytes(ssh.remote.fake_claude.read_bytes())
    claude.chmod(0o711)  # root's: the login user may run it, but its interpreter cannot read it
    ssh.configure(claude_path=str(claude))
    result = ssh.oc.run("start", "--prompt", "hi", "--workspace", str(ssh.remote.ws))
    assert result.code == 1
    line = one_line_error(result.err)
    assert f"claude is at {claude}" in line and "executable but not readable" in line
    assert "chmod +r" in line and "not found" not in line


# -------------------------------------------------------------- found by a second reader
def test_kill_of_a_task_whose_cut_short_start_may_still_launch_refuses_rather_than_lie(ssh: SSHEnv) -> None:
    """A start killed after sending its work leaves a launch that may still land: no 'killed' yet."""
    env = dict(ssh.oc.env, OPENCLAW_FAULTS="ssh.uploaded:kill")
    subprocess.run(
        [console_script(), "start", "--prompt=#fake sleep 30", "--workspace", str(ssh.remote.ws)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    (task_id,) = [n for n in os.listdir(ssh.oc.tasks_dir) if len(n) == 36]
    refused = ssh.oc.run("kill", "--task-id", task_id)
    assert refused.code == 1 and "may still be launching" in one_line_error(refused.err)
    record = json.loads((ssh.oc.tasks_dir / task_id / ".meta.json").read_text())
    assert record["status"] == "pending" and record["kill_requested_at"] is None
    forced = ssh.oc.run("cleanup", "--task-id", task_id, "--force", timeout=60)
    assert forced.code == 0 and "may still be launching" in forced.err
    assert not ssh.task_dir(task_id).exists()


def test_env_names_like_the_scripts_own_variables_change_nothing_on_the_host(ssh: SSHEnv) -> None:
    ssh.configure(env={"task_id": "not-the-task", "dir": "/nowhere", "workspace": "/nowhere"})
    meta = ssh.oc.start("#fake sleep 30", "--workspace", str(ssh.remote.ws))
    assert meta["status"] == "running"
    wait_until(
        lambda: len(live_task_processes(meta["task_id"])) >= 2
    )  # agent and tool, tagged with the real id
    killed = ssh.oc.ok("kill", "--task-id", meta["task_id"], "--grace", "1", "--json", timeout=60).json()
    assert killed["status"] == "killed" and live_task_processes(meta["task_id"]) == []


def test_an_unusable_remote_root_fails_the_start_instead_of_leaving_it_pending(ssh: SSHEnv) -> None:
    ssh.configure(remote_root="relative/tasks")
    result = ssh.oc.run("start", "--json", "--prompt=hi", "--workspace", str(ssh.remote.ws))
    assert result.code == 2 and "remote_root" in one_line_error(result.err)
    (task_id,) = [n for n in os.listdir(ssh.oc.tasks_dir) if len(n) == 36]
    assert ssh.oc.status(task_id)["status"] == "failed"


def test_openclaw_task_id_cannot_be_set_in_an_executors_env(oc: Env) -> None:
    oc.write_config(
        json.dumps({"executors": [{"name": "local", "type": "local", "env": {"OPENCLAW_TASK_ID": "x"}}]})
    )
    result = oc.run("start", "--prompt", "hi")
    assert result.code == 2 and "OPENCLAW_TASK_ID is set by openclaw-agent itself" in result.err
    assert not oc.tasks_dir.is_dir() or not [n for n in os.listdir(oc.tasks_dir) if len(n) == 36]


def test_a_secret_across_the_errors_length_limit_is_still_redacted_whole(oc: Env, tmp_path: Path) -> None:
    secret = "sk-live-" + "0123456789abcdef" * 4
    task_id = start_leaky_agent(oc, tmp_path, 'printf "%0290d $MY_TOKEN\\n" 0', secret)
    done = oc.wait_status(task_id, "failed")
    assert secret[:8] not in done["error"] and len(done["error"]) <= 300
