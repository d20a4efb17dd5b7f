"""The SSH executor end to end, against a real OpenSSH server on 127.0.0.1.

The "remote" host is this machine seen through sshd, so the tests can check
the remote side (task directory, processes, what the fake claude recorded)
directly. When the tests run as root they log in as an unprivileged account
(see sshd_harness.ensure_login_user).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agent_views import (
    completes_streaming,
    fails_and_wait_exits_4,
    killed_view_says_who,
    raw_is_the_agents_own,
)
from conftest import FAKES, Env, blocked_command, wait_until, watched_idle
from sshd_harness import SSHD, Sshd, chown, commands_running, keygen, remove_tree, scratch_dir
from test_local_executor import HOSTILE

from openclaw import procs
from openclaw.errors import StartError
from openclaw.states import parse_time

pytestmark = pytest.mark.skipif(not os.path.exists(SSHD), reason="needs openssh-server (bash tests/run)")


@dataclass
class Remote:
    """The remote side of one test: a directory owned by the login user."""

    user: pwd.struct_passwd
    dir: Path
    ws: Path
    record: Path
    tasks: Path

    @property
    def fake_claude(self) -> Path:
        """The fake claude, copied where the login user can read it (the checkout may be 0700)."""
        return self.dir / "fakes" / "claude"


@dataclass
class SSHEnv:
    """An isolated openclaw user whose only executor, ``remote``, is an sshd on loopback."""

    oc: Env
    sshd: Sshd
    remote: Remote
    key: Path

    def trust(self, *servers: Sshd) -> None:
        """Put the servers' host keys (default: ours) in the user's known_hosts."""
        kh = self.oc.home / ".ssh" / "known_hosts"
        kh.parent.mkdir(mode=0o700, exist_ok=True)
        kh.write_text("".join(s.known_hosts_line() for s in servers or (self.sshd,)))

    def configure(self, env: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
        """Write a config with one ssh executor ``remote``; options set to None are left out."""
        opts: dict[str, Any] = {
            "name": "remote",
            "type": "ssh",
            "host": "127.0.0.1",
            "port": self.sshd.port,
            "user": self.remote.user.pw_name,
            "key_path": str(self.key),
            "claude_path": str(self.remote.fake_claude),
            "remote_root": str(self.remote.tasks),
            "connect_timeout": 5,
            "env": {"FAKE_CLAUDE_RECORD_DIR": str(self.remote.record), **(env or {})},
        }
        opts.update(options)
        opts = {k: v for k, v in opts.items() if v is not None}
        self.oc.write_config(json.dumps({"executors": [opts]}))
        return opts

    def recorded(self, task_id: str, suffix: str) -> bytes:
        """What the fake claude recorded on the remote side (``stdin``, ``cwd``, ``env.json``)."""
        return (self.remote.record / f"{task_id}.{suffix}").read_bytes()

    def task_dir(self, task_id: str) -> Path:
        return self.remote.tasks / task_id


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def own_sshd(session_dir: Path, authorized: Path) -> Iterator[Sshd]:
    """A server of the test's own, which the test may stop and restart."""
    server = Sshd(session_dir / f"sshd-{uuid.uuid4().hex[:8]}", authorized, log_level="DEBUG1")
    server.start()
    yield server
    server.stop()


def _kill_leftovers(remote: Remote) -> None:
    """Safety net: SIGKILL whatever a test left on the 'remote' side, by recorded pid only."""
    pids: set[int] = set()
    for f in remote.record.glob("*"):
        if f.suffix in (".pid", ".tool-pids", ".detached-pid"):
            pids.update(int(p) for p in f.read_text().split() if p.isdigit())
    for pid_file in remote.tasks.glob("*/pid"):
        parts = pid_file.read_text().split()
        if len(parts) == 4 and procs.is_alive(int(parts[0]), int(parts[1])):
            try:
                os.killpg(int(parts[0]), signal.SIGKILL)
            except OSError:
                pass
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if b"OPENCLAW_TASK_ID=" in environ:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def remote(session_dir: Path, login_user: pwd.struct_passwd) -> Iterator[Remote]:
    base = scratch_dir(session_dir / uuid.uuid4().hex, login_user)
    r = Remote(
        user=login_user,
        dir=base,
        ws=scratch_dir(base / "ws", login_user),
        record=scratch_dir(base / "record", login_user),
        tasks=base / "tasks",
    )
    scratch_dir(r.fake_claude.parent, login_user)
    shutil.copy(FAKES / "claude", r.fake_claude)
    r.fake_claude.chmod(0o755)
    yield r
    _kill_leftovers(r)
    projects = Path(login_user.pw_dir) / ".claude" / "projects"
    for p in projects.glob(f"*{base.name}*"):
        remove_tree(p)
    # Transcripts of tasks that ran in the login user's home (workspace ~).
    for f in r.record.glob("*.cwd"):
        for transcript in projects.glob(f"*/{f.name[: -len('.cwd')]}.jsonl"):
            transcript.unlink()
    remove_tree(base)


@pytest.fixture
def ssh(sshd: Sshd, remote: Remote, oc: Env, client_key: Path) -> SSHEnv:
    return _ssh_env(sshd, remote, oc, client_key)


def _ssh_env(server: Sshd, remote: Remote, oc: Env, key: Path) -> SSHEnv:
    oc.env.pop("SSH_AUTH_SOCK", None)
    env = SSHEnv(oc=oc, sshd=server, remote=remote, key=key)
    env.trust()
    env.configure()
    return env


# -- helpers ----------------------------------------------------------------------------------------
def live_task_processes(task_id: str) -> list[int]:
    """Processes on this machine carrying the task's OPENCLAW_TASK_ID (zombies excluded)."""
    needle = f"OPENCLAW_TASK_ID={task_id}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        st = procs.stat(int(name))
        if needle in env and st is not None and st.state not in ("Z", "X"):
            found.append(int(name))
    return found


def one_line_error(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("openclaw-agent: error: "), text
    assert "Traceback" not in text
    return lines[0]


# -- start, status, logs, kill, cleanup --------------------------------------------------------
def test_start_returns_at_once_then_status_logs_and_cleanup_work_remotely(ssh: SSHEnv) -> None:
    oc = ssh.oc
    began = time.monotonic()
    meta = oc.start("#fake sleep 2\n#fake text remote done", "--workspace", str(ssh.remote.ws))
    assert time.monotonic() - began < 5, "start must not wait for the agent"
    task_id = meta["task_id"]
    assert meta["status"] == "running" and meta["executor"] == "remote"
    assert meta["host"] == "127.0.0.1" and meta["pid"] > 0 and meta["boot_id"] == procs.boot_id()
    # The launcher leads its own session on the host, as the login user, and outlived the SSH call.
    st = procs.stat(meta["pid"])
    assert st is not None and st.session == meta["pid"] and st.start_time == meta["pid_start_time"]
    assert os.stat(f"/proc/{meta['pid']}").st_uid == ssh.remote.user.pw_uid
    # The remote task directory: 0700, prompt/env 0600, launcher and a .meta.json copy.
    d = ssh.task_dir(task_id)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for name in ("prompt", "env"):
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o600
    assert (d / "launcher.sh").is_file()
    remote_meta = json.loads((d / ".meta.json").read_text())
    assert remote_meta["task_id"] == task_id and remote_meta["pid"] == meta["pid"]
    local_meta = json.loads((oc.tasks_dir / task_id / ".meta.json").read_text())
    assert local_meta["task_id"] == task_id and local_meta["executor_type"] == "ssh"
    # The agent got the prompt file as stdin and stdout as the remote stdout file.
    fd0 = os.readlink(f"/proc/{meta['agent_pid']}/fd/0")
    assert fd0 == str(d / "prompt")
    assert oc.status(task_id)["status"] == "running"

    done = oc.wait_status(task_id, "completed", timeout=60)
    assert done["exit_code"] == 0 and done["result"]["text"] == "remote done"
    logs = oc.ok("logs", "--task-id", task_id, "--raw", "--lines", "3").out.strip().splitlines()
    assert len(logs) == 3 and json.loads(logs[-1])["type"] == "result"
    assert "remote done" in logs[-1]
    listed = oc.ok("list", "--json").json()
    assert [m["status"] for m in listed] == ["completed"]

    oc.ok("cleanup", "--task-id", task_id)
    assert not d.exists()
    assert not (oc.tasks_dir / task_id).exists()


def test_finished_at_is_when_the_agent_exited_on_the_host_not_when_someone_next_looked(
    ssh: SSHEnv,
) -> None:
    meta = ssh.oc.start("#fake text quick")
    rc = ssh.task_dir(meta["task_id"]) / "rc"
    wait_until(rc.exists, 60)
    time.sleep(2)  # nobody looks for a while
    looked = time.time()
    done = ssh.oc.status(meta["task_id"])
    assert done["status"] == "completed"
    exited = parse_time(done["finished_at"]).timestamp()
    assert abs(exited - os.stat(rc).st_mtime) < 0.01, "the rc file's time on the host"
    assert looked - exited > 1.5
    assert done["finished_at"] >= done["started_at"]


def test_follow_streams_new_lines_until_the_task_ends(ssh: SSHEnv) -> None:
    meta = ssh.oc.start("#fake sleep 2\n#fake text followed to the end")
    began = time.monotonic()
    out = ssh.oc.ok("logs", "--task-id", meta["task_id"], "--raw", "--lines", "0", "--follow", timeout=90).out
    assert time.monotonic() - began > 1, "follow returned before the task ended"
    events = [json.loads(line) for line in out.strip().splitlines()]
    assert events[-1]["type"] == "result" and events[-1]["result"] == "followed to the end"
    assert any(e["type"] == "assistant" for e in events)
    assert ssh.oc.status(meta["task_id"])["status"] == "completed"


@pytest.mark.parametrize("command", [("wait",), ("logs", "--follow")])
def test_an_idle_ssh_task_is_watched_without_a_round_trip_and_its_end_is_seen(
    ssh: SSHEnv, command: tuple[str, ...]
) -> None:
    ws = ssh.remote.ws
    meta = ssh.oc.start(
        "#fake bash until test -e gate; do sleep 0.05; done\n#fake text through", "--workspace", str(ws)
    )
    # Its SSH connection sleeps too (paramiko's transport thread would wake 10 times a second).
    out = watched_idle(ssh.oc, command, meta["task_id"], ws / "gate", wakes=2)
    if command != ("wait",):
        assert b"through" in out
    assert ssh.oc.status(meta["task_id"])["status"] == "completed"


def _host_watches(leader: int) -> list[int]:
    """The watches running on the host (this machine, through sshd) for the task whose launcher
    is ``leader``: its ``tail --pid``."""
    return commands_running(b"tail", f"--pid={leader}".encode())


def test_the_watch_on_the_host_ends_with_its_watcher(ssh: SSHEnv) -> None:
    meta = ssh.oc.start("#fake sleep 120")
    watcher = blocked_command(ssh.oc, "logs", "--follow", "--task-id", meta["task_id"])
    try:
        assert len(_host_watches(meta["pid"])) == 1
    finally:
        watcher.kill()  # no goodbye: its connection just drops
        watcher.wait()
    wait_until(lambda: not _host_watches(meta["pid"]), 15)
    assert ssh.oc.status(meta["task_id"])["status"] == "running"
    ssh.oc.ok("kill", "--task-id", meta["task_id"])


def test_kill_leaves_no_process_of_the_task_on_the_host_including_detached_tool_children(
    ssh: SSHEnv,
) -> None:
    meta = ssh.oc.start("#fake detached-child 120\n#fake sleep 120")
    task_id = meta["task_id"]
    detached = ssh.remote.record / f"{task_id}.detached-pid"
    wait_until(lambda: detached.exists() and (ssh.remote.record / f"{task_id}.tool-pids").exists(), 30)
    wait_until(lambda: len((ssh.remote.record / f"{task_id}.tool-pids").read_text().split()) >= 2, 30)
    child = int(detached.read_text())
    st = procs.stat(child)
    assert st is not None and st.session not in (meta["pid"],), "the tool child escaped the group"
    assert len(live_task_processes(task_id)) >= 3
    result = ssh.oc.ok("kill", "--task-id", task_id, "--grace", "2", "--json", timeout=90)
    assert result.json()["status"] == "killed"
    assert live_task_processes(task_id) == []
    assert not procs.is_alive(child, st.start_time)
    assert not procs.is_alive(meta["pid"], meta["pid_start_time"])
    assert ssh.oc.status(task_id)["status"] == "killed"
    # Killing again changes nothing.
    assert ssh.oc.ok("kill", "--task-id", task_id, "--json").json()["status"] == "killed"


# -- prompt, workspace, env ------------------------------------------------------------------------
def test_hostile_prompts_reach_the_remote_agent_byte_exact(ssh: SSHEnv) -> None:
    body = "\n".join(HOSTILE).encode() + b"\n\x01 trailing\r\n\n"
    started = [ssh.oc.start(p) for p in HOSTILE]
    by_stdin = ssh.oc.ok("start", "--json", "--prompt", "-", input=body).json()
    for meta, want in [*zip(started, [p.encode() for p in HOSTILE], strict=True), (by_stdin, body)]:
        ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
        assert ssh.recorded(meta["task_id"], "stdin") == want
        assert (ssh.task_dir(meta["task_id"]) / "prompt").read_bytes() == want
    assert not Path("/tmp/openclaw-pwned").exists() and not Path("/tmp/openclaw-pwned2").exists()


def test_workspace_with_spaces_and_with_tilde_work_on_the_host(ssh: SSHEnv) -> None:
    spaced = scratch_dir(ssh.remote.ws / "my work space", ssh.remote.user)
    home = Path(ssh.remote.user.pw_dir)
    tilde_name = f"oc-ws-{ssh.remote.dir.name}"
    tilde = home / tilde_name
    tilde.mkdir()
    chown(tilde, ssh.remote.user)
    try:
        a = ssh.oc.start("#fake text a", "--workspace", str(spaced))
        b = ssh.oc.start("#fake text b", "--workspace", f"~/{tilde_name}")
        for meta, where in ((a, spaced), (b, tilde)):
            done = ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
            assert ssh.recorded(meta["task_id"], "cwd").decode() == str(where)
            assert done["workspace"] == str(where)
            encoded = "".join(c if c.isalnum() else "-" for c in str(where))
            assert done["transcript"] == f"{home}/.claude/projects/{encoded}/{meta['task_id']}.jsonl"
            assert Path(done["transcript"]).is_file()
    finally:
        remove_tree(tilde)
        for p in (home / ".claude" / "projects").glob(f"*{tilde_name}*"):
            remove_tree(p)


def test_env_values_reach_the_agent_through_a_0600_file_never_argv_meta_or_logs(ssh: SSHEnv) -> None:
    # Shell-hostile, but nothing JSON escapes (the manager redacts the raw bytes).
    secret = "s3cr3t-'$(id)`x` ;|&-value"
    ssh.configure(
        env={"OC_SECRET": secret, "FAKE_CLAUDE_RECORD_ENV": "OC_SECRET,OC_PASSED"}, pass_env=["OC_PASSED"]
    )
    ssh.oc.env["OC_PASSED"] = "passed along\nwith a newline"
    meta = ssh.oc.start("#fake sleep 1\n#fake bash printenv OC_SECRET")
    task_id = meta["task_id"]
    wait_until(lambda: procs.stat(meta["agent_pid"]) is not None)
    for pid in (meta["pid"], meta["agent_pid"]):
        assert secret.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ssh.oc.wait_status(task_id, "completed", timeout=60)
    assert json.loads(ssh.recorded(task_id, "env.json")) == {
        "OC_SECRET": secret,
        "OC_PASSED": "passed along\nwith a newline",
    }
    env_file = ssh.task_dir(task_id) / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    for meta_file in (ssh.task_dir(task_id) / ".meta.json", ssh.oc.tasks_dir / task_id / ".meta.json"):
        text = meta_file.read_text()
        assert secret not in text and "OC_SECRET" in text
    logs = ssh.oc.ok("logs", "--task-id", task_id, "--raw").out
    assert secret not in logs and "[redacted]" in logs


# -- reconciling -------------------------------------------------------------------------------------
def test_task_finishing_while_nobody_polls_is_reconciled_later(ssh: SSHEnv) -> None:
    meta = ssh.oc.start("#fake sleep 1\n#fake text finished alone")
    rc = ssh.task_dir(meta["task_id"]) / "rc"
    wait_until(rc.exists, 60)
    record = json.loads((ssh.oc.tasks_dir / meta["task_id"] / ".meta.json").read_text())
    assert record["status"] == "running"
    done = ssh.oc.status(meta["task_id"])
    assert done["status"] == "completed" and done["result"]["text"] == "finished alone"


def test_failed_remote_agent_carries_the_exit_code_and_reason(ssh: SSHEnv) -> None:
    meta = ssh.oc.start("#fake api-error 400 model not found")
    done = ssh.oc.wait_status(meta["task_id"], lambda s: s not in ("pending", "running"), timeout=60)
    assert done["status"] == "failed" and done["exit_code"] == 1
    assert "API Error: 400" in done["error"]


def test_sshd_stopped_mid_task_shows_unknown_then_the_final_state_after_restart(
    own_sshd: Sshd, remote: Remote, oc: Env, client_key: Path
) -> None:
    ssh = _ssh_env(own_sshd, remote, oc, client_key)
    meta = oc.start("#fake sleep 3\n#fake text survived the outage")
    task_id = meta["task_id"]
    record_file = oc.tasks_dir / task_id / ".meta.json"
    before = record_file.read_bytes()
    own_sshd.stop()
    seen = oc.status(task_id)
    assert seen["status"] == "unknown" and seen["recorded_status"] == "running"
    assert "refused" in seen["status_reason"]
    table = oc.ok("list").out
    assert "unknown" in table
    assert record_file.read_bytes() == before, "an unreachable host must not change the record"
    for args in (["logs", "--task-id", task_id], ["kill", "--task-id", task_id]):
        failed = oc.run(*args)
        assert failed.code == 1 and "refused" in one_line_error(failed.err)
    # The task runs on and finishes while the host is unreachable.
    wait_until((ssh.task_dir(task_id) / "rc").exists, 60)
    assert oc.status(task_id)["status"] == "unknown"
    own_sshd.start()
    done = oc.status(task_id)
    assert done["status"] == "completed" and done["result"]["text"] == "survived the outage"


def test_cleanup_of_an_unreachable_host_keeps_the_record_unless_forced_and_says_what_remains(
    own_sshd: Sshd, remote: Remote, oc: Env, client_key: Path
) -> None:
    ssh = _ssh_env(own_sshd, remote, oc, client_key)
    config = json.loads(oc.config_file.read_text())
    oc.write_config(json.dumps({"executors": [*config["executors"], {"name": "here", "type": "local"}]}))
    here = oc.start("#fake text local", "--executor", "here")
    done = oc.start("#fake text finished", "--executor", "remote")
    oc.wait_status(here["task_id"], "completed")
    oc.wait_status(done["task_id"], "completed")
    running = oc.start("#fake sleep 60", "--executor", "remote")
    own_sshd.stop()
    try:
        # --finished removes what it can and says what it kept.
        swept = oc.run("cleanup", "--finished")
        assert swept.code == 1 and "removed 1 finished task(s)" in swept.out, swept
        assert f"task {done['task_id']} kept" in swept.err and "refused" in swept.err
        assert not (oc.tasks_dir / here["task_id"]).exists()
        for meta in (done, running):
            kept = oc.run("cleanup", "--task-id", meta["task_id"])
            assert kept.code in (1, 2) and "--force" in one_line_error(kept.err)
            assert (oc.tasks_dir / meta["task_id"] / ".meta.json").is_file()
        forced = oc.run("cleanup", "--task-id", done["task_id"], "--force")
        assert forced.code == 0, forced
        assert "files on the executor remain" in forced.err and "refused" in forced.err
        forced = oc.run("cleanup", "--task-id", running["task_id"], "--force")
        assert forced.code == 0, forced
        assert "processes of the task may still run" in forced.err
        assert not (oc.tasks_dir / done["task_id"]).exists()
        assert not (oc.tasks_dir / running["task_id"]).exists()
        assert ssh.task_dir(running["task_id"]).is_dir(), "the host was never reached"
    finally:
        own_sshd.start()
        _kill_leftovers(remote)


def test_a_rebooted_host_makes_the_task_lost(ssh: SSHEnv) -> None:
    from openclaw.records import TaskStore

    meta = ssh.oc.start("#fake sleep 60")
    store = TaskStore(ssh.oc.tasks_dir)
    store.update(meta["task_id"], lambda m: dict(m, boot_id=str(uuid.uuid4())))
    lost = ssh.oc.status(meta["task_id"])
    assert lost["status"] == "lost" and "rebooted" in lost["error"]
    _kill_leftovers(ssh.remote)


def test_listing_many_tasks_is_one_ssh_round_trip(
    own_sshd: Sshd, remote: Remote, oc: Env, client_key: Path
) -> None:
    ssh = _ssh_env(own_sshd, remote, oc, client_key)
    ids = [oc.start("#fake sleep 60")["task_id"] for _ in range(5)]
    log_size = own_sshd.log.stat().st_size
    listed = oc.ok("list", "--json").json()
    assert sorted(m["task_id"] for m in listed) == sorted(ids)
    assert {m["status"] for m in listed} == {"running"}
    log = own_sshd.log.read_bytes()[log_size:].decode()
    assert log.count("Accepted publickey") == 1, log
    assert log.count("Starting session") == 1, log
    for task_id in ids:
        oc.ok("kill", "--task-id", task_id, "--grace", "1", timeout=60)
    assert all(live_task_processes(t) == [] for t in ids)
    del ssh


def test_one_look_judges_running_finished_and_orphaned_tasks_each_by_its_own_rule(ssh: SSHEnv) -> None:
    """The look's fast path (one awk pass for the tasks whose launcher runs as recorded) and
    its per-task path (an exit status, a launcher gone) answer in the same round trip."""
    oc = ssh.oc
    running = [oc.start("#fake sleep 60")["task_id"] for _ in range(3)]
    finished = oc.start("#fake text done")["task_id"]
    orphan = oc.start("#fake sleep 60")
    wait_until((ssh.task_dir(finished) / "rc").exists, 30)
    wait_until(lambda: len(live_task_processes(orphan["task_id"])) >= 2, 30)
    os.kill(orphan["pid"], signal.SIGKILL)  # the launcher alone: its agent runs on
    wait_until(lambda: not procs.is_alive(orphan["pid"], orphan["pid_start_time"]), 30)
    listed = {m["task_id"]: m for m in oc.ok("list", "--json").json()}
    assert [listed[t]["status"] for t in running] == ["running"] * 3
    assert all("status_reason" not in listed[t] for t in running)
    assert listed[finished]["status"] == "completed"
    assert listed[finished]["result"]["text"] == "done"
    assert listed[orphan["task_id"]]["status"] == "running"
    assert "launcher is gone" in listed[orphan["task_id"]]["status_reason"]
    for task_id in [*running, orphan["task_id"]]:
        oc.ok("kill", "--task-id", task_id, "--grace", "1", timeout=60)
    assert all(live_task_processes(t) == [] for t in [*running, orphan["task_id"]])


def test_read_path_reads_the_remote_transcript_from_an_offset(
    ssh: SSHEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openclaw.config import load
    from openclaw.executors import get_executor
    from openclaw.records import TaskStore

    meta = ssh.oc.start("#fake text transcript please")
    done = ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    monkeypatch.setenv("HOME", str(ssh.oc.home))
    executor = get_executor(load(str(ssh.oc.config_file)).executor("remote"), TaskStore(ssh.oc.tasks_dir))
    want = Path(done["transcript"]).read_bytes()
    assert want
    assert executor.read_path(done, done["transcript"], 0) == (want, len(want))
    assert executor.read_path(done, done["transcript"], 10) == (want[10:], len(want))
    assert executor.read_path(done, done["transcript"], len(want)) == (b"", len(want))
    assert executor.size(done, "stdout") == (ssh.task_dir(meta["task_id"]) / "stdout").stat().st_size
    # And through the CLI: logs --source transcript.
    shown = ssh.oc.ok("logs", "--task-id", meta["task_id"], "--source", "transcript", "--raw", "--lines", "2")
    assert shown.out.encode().splitlines() == want.splitlines()[-2:]


def test_resume_continues_the_session_on_the_same_host(ssh: SSHEnv) -> None:
    first = ssh.oc.start("#fake text remember 42")
    ssh.oc.wait_status(first["task_id"], "completed", timeout=60)
    second = ssh.oc.ok(
        "resume", "--task-id", first["task_id"], "--prompt", "#fake text and?", "--json"
    ).json()
    assert second["parent_id"] == first["task_id"] and second["executor"] == "remote"
    done = ssh.oc.wait_status(second["task_id"], "completed", timeout=60)
    assert done["result"]["text"] == "and?"
    shown = ssh.oc.ok(
        "logs", "--task-id", second["task_id"], "--source", "transcript", "--raw", "--lines", "500"
    )
    assert "remember 42" in shown.out, "the fork carries the earlier conversation"


# -- a connection dropped during the launch ----------------------------------------------------------
def _drop_the_launch(ssh: SSHEnv, monkeypatch: pytest.MonkeyPatch, run_it: bool, then: Any = None) -> None:
    """In this process, make the launch's connection drop after (or before) the script runs."""
    from openclaw.executors.ssh import Session

    real = Session.exec

    def dropping(conn: Any, script: str, timeout: float) -> tuple[int, bytes]:
        if "setsid nohup" in script:
            if run_it:
                real(conn, script, timeout)  # the agent is launched ...
            if then is not None:
                then()
            raise EOFError("the connection dropped")  # ... and the answer is lost
        return real(conn, script, timeout)

    monkeypatch.setattr(Session, "exec", staticmethod(dropping))
    for name, value in ssh.oc.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


def _start_dropping_the_launch(
    ssh: SSHEnv, monkeypatch: pytest.MonkeyPatch, prompt: str, run_it: bool, then: Any = None
) -> dict[str, Any]:
    """Start in this process, the launch's connection dropping; the record, or the StartError raised."""
    from openclaw.config import load
    from openclaw.manager import Manager
    from openclaw.records import TaskStore

    _drop_the_launch(ssh, monkeypatch, run_it, then)
    manager = Manager(load(str(ssh.oc.config_file)), TaskStore(ssh.oc.tasks_dir))
    return manager.start(prompt.encode(), executor="remote")


def test_start_wait_that_lost_its_launch_answer_and_the_host_exits_1_in_one_line(
    own_sshd: Sshd,
    remote: Remote,
    oc: Env,
    client_key: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from openclaw.program import program

    ssh = _ssh_env(own_sshd, remote, oc, client_key)
    try:
        _drop_the_launch(ssh, monkeypatch, run_it=True, then=own_sshd.stop)
        monkeypatch.chdir(oc.workspace)
        with pytest.raises(SystemExit) as exited:
            program.run(
                ["openclaw-agent", "start", "--prompt", "#fake sleep 60", "--wait", "--wait-timeout", "5"]
            )
        assert exited.value.code == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and "stays pending" in one_line_error(err)
    finally:
        if own_sshd.proc is None:
            own_sshd.start()
        _kill_leftovers(remote)


def test_launch_answer_lost_to_a_dropped_connection_is_read_back_and_the_task_runs(
    ssh: SSHEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = _start_dropping_the_launch(ssh, monkeypatch, "#fake sleep 1\n#fake text made it", run_it=True)
    assert meta["status"] == "running" and meta["pid"] and meta["boot_id"] and meta["transcript"]
    assert (ssh.task_dir(meta["task_id"]) / "launched").is_file()
    done = ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    assert done["result"]["text"] == "made it"


def test_launch_script_that_never_arrived_fails_the_task_and_leaves_no_prompt_on_the_host(
    ssh: SSHEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StartError) as raised:
        _start_dropping_the_launch(ssh, monkeypatch, "#fake text never", run_it=False)
    assert "the agent was not started" in raised.value.one_line()
    task_id = raised.value.task_id
    assert task_id and ssh.oc.status(task_id)["status"] == "failed"
    assert not ssh.task_dir(task_id).exists(), "the prompt and env file must not stay on the host"


@pytest.mark.parametrize("answer_written", [True, False])
def test_launch_with_no_way_back_to_the_host_stays_pending_until_the_host_answers(
    own_sshd: Sshd,
    remote: Remote,
    oc: Env,
    client_key: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer_written: bool,
) -> None:
    ssh = _ssh_env(own_sshd, remote, oc, client_key)
    try:
        with pytest.raises(StartError) as raised:
            _start_dropping_the_launch(ssh, monkeypatch, "#fake sleep 60", run_it=True, then=own_sshd.stop)
        line = raised.value.one_line()
        assert "could not reconnect" in line and "stays pending" in line
        task_id = raised.value.task_id
        assert task_id is not None
        record = json.loads((oc.tasks_dir / task_id / ".meta.json").read_text())
        assert record["status"] == "pending" and record["pid"] is None and record["host"] == "127.0.0.1"
        assert oc.status(task_id)["status"] == "unknown"  # the host is still down
        # A kill now cannot tell which processes are the task's: it says so, and changes nothing.
        blind = oc.run("kill", "--task-id", task_id)
        assert blind.code == 1 and "cannot" in one_line_error(blind.err)
        assert json.loads((oc.tasks_dir / task_id / ".meta.json").read_text())["status"] == "pending"
        if not answer_written:  # the launch script was cut off after the launch: only the pid file says
            (ssh.task_dir(task_id) / "launched").unlink()
        own_sshd.start()
        # What the launch left on the host gives what start missed: the task is adopted.
        seen = oc.status(task_id)
        assert seen["status"] == "running" and seen["error"] is None
        assert seen["pid"] and seen["pid_start_time"] and seen["boot_id"]
        assert bool(seen["transcript"]) == answer_written
        assert len(live_task_processes(task_id)) >= 2
        killed = oc.ok("kill", "--task-id", task_id, "--grace", "1", "--json", timeout=60).json()
        assert killed["status"] == "killed"
        assert live_task_processes(task_id) == []
    finally:
        if own_sshd.proc is None:
            own_sshd.start()
        _kill_leftovers(remote)


def test_a_script_cut_short_runs_none_of_its_commands(tmp_path: Path) -> None:
    from openclaw.executors.ssh import whole

    marker = tmp_path / "ran"
    script = whole(f"touch {marker}\nrm -rf -- {tmp_path}/important\n")
    for cut in (len(script) // 3, len(script) // 2, len(script) - 3):
        subprocess.run(["/bin/sh", "-s"], input=script[:cut].encode(), capture_output=True, timeout=10)
        assert not marker.exists(), f"cut at {cut}: {script[:cut]!r} ran"
    subprocess.run(["/bin/sh", "-s"], input=script.encode(), capture_output=True, timeout=10, check=True)
    assert marker.exists()


# -- host keys -----------------------------------------------------------------------------------------
def test_unknown_host_key_is_refused_with_how_to_accept_it(ssh: SSHEnv) -> None:
    (ssh.oc.home / ".ssh" / "known_hosts").write_text("")
    result = ssh.oc.run("start", "--prompt", "hi", "--json")
    assert result.code == 1
    line = one_line_error(result.err)
    assert f"[127.0.0.1]:{ssh.sshd.port}" in line and "unknown" in line
    assert "ssh-keyscan" in line and "accept_new_host_keys" in line
    assert result.json()["status"] == "failed"
    assert not ssh.remote.tasks.exists() or not any(ssh.remote.tasks.iterdir())


def test_changed_host_key_is_refused_even_with_accept_new(ssh: SSHEnv, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other_host_key")
    kh = ssh.oc.home / ".ssh" / "known_hosts"
    kh.write_text(ssh.sshd.known_hosts_line(other))
    for accept in (False, True):
        ssh.configure(accept_new_host_keys=accept)
        result = ssh.oc.run("start", "--prompt", "hi", "--json")
        assert result.code == 1
        line = one_line_error(result.err)
        assert "CHANGED" in line and f"[127.0.0.1]:{ssh.sshd.port}" in line and "ssh-keygen -R" in line
        assert result.json()["status"] == "failed"
    assert kh.read_text() == ssh.sshd.known_hosts_line(other), "a changed key must never be saved"


def test_accept_new_host_keys_accepts_and_saves_an_unknown_key(ssh: SSHEnv) -> None:
    kh = ssh.oc.home / ".ssh" / "known_hosts"
    kh.unlink()
    ssh.configure(accept_new_host_keys=True)
    meta = ssh.oc.start("#fake text hi")
    assert ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    assert kh.read_text() == ssh.sshd.known_hosts_line()
    assert stat.S_IMODE(kh.stat().st_mode) == 0o600


# -- ssh_config, ProxyJump ---------------------------------------------------------------------------
def _ssh_config(ssh: SSHEnv, text: str) -> None:
    cfg = ssh.oc.home / ".ssh" / "config"
    cfg.write_text(text)
    cfg.chmod(0o600)


@pytest.mark.parametrize("setting", ["accept-new", "no"])
def test_strict_host_key_checking_from_ssh_config_is_honoured_unless_the_executor_says(
    ssh: SSHEnv, setting: str
) -> None:
    kh = ssh.oc.home / ".ssh" / "known_hosts"
    kh.unlink()
    _ssh_config(ssh, f"Host 127.0.0.1\n    StrictHostKeyChecking {setting}\n")
    ssh.configure(accept_new_host_keys=False)  # the executor's own setting wins
    refused = ssh.oc.run("start", "--prompt", "hi", "--json")
    assert refused.code == 1 and "unknown" in one_line_error(refused.err)
    assert not kh.exists()
    ssh.configure()  # unset: as ~/.ssh/config says
    meta = ssh.oc.start("#fake text hi")
    assert ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    assert kh.read_text() == ssh.sshd.known_hosts_line()


def test_host_alias_from_ssh_config_with_default_keys(ssh: SSHEnv) -> None:
    # No key_path, user or port: HostName, Port and User come from ~/.ssh/config, the key
    # from the default ~/.ssh/id_ed25519.
    default_key = ssh.oc.home / ".ssh" / "id_ed25519"
    default_key.write_bytes(ssh.key.read_bytes())
    default_key.chmod(0o600)
    _ssh_config(
        ssh,
        f"Host crib\n  HostName 127.0.0.1\n  Port {ssh.sshd.port}\n  User {ssh.remote.user.pw_name}\n",
    )
    ssh.configure(host="crib", port=None, user=None, key_path=None)
    meta = ssh.oc.start("#fake text via alias")
    assert meta["host"] == "crib"
    done = ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    assert done["result"]["text"] == "via alias"


def test_proxyjump_through_a_second_sshd(ssh: SSHEnv, own_sshd: Sshd) -> None:
    jump = own_sshd
    user = ssh.remote.user.pw_name
    _ssh_config(
        ssh,
        f"Host jump\n  HostName 127.0.0.1\n  Port {jump.port}\n  User {user}\n  IdentityFile {ssh.key}\n"
        f"Host target\n  HostName 127.0.0.1\n  Port {ssh.sshd.port}\n  User {user}\n"
        f"  IdentityFile {ssh.key}\n  ProxyJump jump\n",
    )
    ssh.configure(host="target", port=None, user=None, key_path=None)
    ssh.trust(ssh.sshd)  # the jump host's key is not known yet: refused
    refused = ssh.oc.run("start", "--prompt", "hi")
    assert refused.code == 1 and f"[127.0.0.1]:{jump.port}" in one_line_error(refused.err)
    ssh.trust(ssh.sshd, jump)
    meta = ssh.oc.start("#fake text jumped")
    done = ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    assert done["result"]["text"] == "jumped"
    log = jump.log.read_text()
    assert f"port {ssh.sshd.port}" in log and "direct-tcpip" in log, log[-3000:]


# -- errors --------------------------------------------------------------------------------------------
@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says anything."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("auth", "authentication to"),
        ("refused", "refused"),
        ("dns", "cannot resolve host name 'nonexistent.invalid'"),
        ("timeout", "timed out"),
    ],
)
def test_connection_problems_give_one_line_and_a_failed_task(
    ssh: SSHEnv, tmp_path: Path, silent_port: int, case: str, expect: str
) -> None:
    if case == "auth":
        ssh.configure(key_path=str(keygen(tmp_path / "stranger")))
    elif case == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        ssh.configure(port=closed)
    elif case == "dns":
        ssh.configure(host="nonexistent.invalid")
    else:
        ssh.configure(port=silent_port, connect_timeout=1)
    began = time.monotonic()
    result = ssh.oc.run("start", "--prompt", "hi", "--json")
    assert time.monotonic() - began < 20
    assert result.code == 1
    line = one_line_error(result.err)
    assert expect in line, line
    meta = result.json()
    assert meta["status"] == "failed" and expect in meta["error"]
    assert ssh.oc.status(meta["task_id"])["status"] == "failed"


def test_missing_claude_and_missing_workspace_fail_start_with_one_line(ssh: SSHEnv) -> None:
    ssh.configure(claude_path="/nowhere/claude")
    result = ssh.oc.run("start", "--prompt", "hi", "--json")
    assert result.code == 1
    line = one_line_error(result.err)
    assert "claude not found at /nowhere/claude on 127.0.0.1 (claude_path)" in line
    assert "npm install" in line and "set claude_path" in line and result.json()["status"] == "failed"

    # A bare name not on the remote non-interactive PATH (not "claude": the host may have a real one).
    ssh.configure(claude_path="openclaw-test-no-such-claude")
    on_path = ssh.oc.run("start", "--prompt", "hi")
    said = one_line_error(on_path.err)
    assert on_path.code == 1 and "claude not found on the PATH on 127.0.0.1" in said, said
    assert "non-interactive SSH shell has a shorter PATH" in said and "remote PATH: " in said

    ssh.configure()
    missing = str(ssh.remote.dir / "no such dir")
    result = ssh.oc.run("start", "--prompt", "hi", "--json", "--workspace", missing)
    assert result.code == 1
    assert f"workspace not found on 127.0.0.1: {missing}" in one_line_error(result.err)
    assert result.json()["status"] == "failed"
    statuses = [m["status"] for m in ssh.oc.ok("list", "--json").json()]
    assert statuses == ["failed"] * 3


def test_root_login_without_is_sandbox_is_refused_with_how_to_opt_in(ssh: SSHEnv) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to log in as root")
    ssh.configure(user="root")
    result = ssh.oc.run("start", "--prompt", "hi", "--json")
    assert result.code == 1
    line = one_line_error(result.err)
    assert "as root" in line and "IS_SANDBOX" in line
    assert result.json()["status"] == "failed"


def test_hosts_are_polled_in_parallel_each_bounded_by_connect_timeout(
    ssh: SSHEnv, own_sshd: Sshd, silent_port: int
) -> None:
    first = ssh.configure()
    second = dict(first, name="other", port=own_sshd.port)
    ssh.trust(ssh.sshd, own_sshd)
    ssh.oc.write_config(json.dumps({"executors": [first, second]}))
    a = ssh.oc.start("#fake sleep 60", "--executor", "remote")
    b = ssh.oc.start("#fake sleep 60", "--executor", "other")
    # Both hosts now hang (TCP accepted, no SSH banner): list waits for both at once.
    hung = [dict(e, port=silent_port, connect_timeout=3) for e in (first, second)]
    ssh.oc.write_config(json.dumps({"executors": hung}))
    began = time.monotonic()
    listed = ssh.oc.ok("list", "--json", timeout=60).json()
    took = time.monotonic() - began
    assert {m["status"] for m in listed} == {"unknown"}
    assert all("timed out" in m["status_reason"] for m in listed)
    assert 3 <= took < 5.5, f"two hung hosts took {took:.1f}s: not polled in parallel"
    ssh.oc.write_config(json.dumps({"executors": [first, second]}))
    assert {ssh.oc.status(t["task_id"])["status"] for t in (a, b)} == {"running"}


def test_commands_on_finished_ssh_tasks_load_no_ssh_library(ssh: SSHEnv) -> None:
    from test_imports import imported_modules

    meta = ssh.oc.start("#fake text hi")
    ssh.oc.wait_status(meta["task_id"], "completed", timeout=60)
    for args in (["list"], ["status", "--task-id", meta["task_id"]], ["--help"]):
        loaded = imported_modules(ssh.oc, *args)
        assert "openclaw" in loaded and not loaded & {"fabric", "paramiko"}, args
    assert {"paramiko", "fabric"} <= imported_modules(ssh.oc, "logs", "--task-id", meta["task_id"])


def test_invalid_task_ids_are_refused_before_any_remote_path_is_built(tmp_path: Path) -> None:
    from openclaw.config import ExecutorConfig
    from openclaw.errors import ExecutorError
    from openclaw.executors.ssh import SSHExecutor
    from openclaw.records import TaskStore

    cfg = ExecutorConfig(
        name="remote", type="ssh", claude_path="claude", max_turns=1, options={"host": "nonexistent.invalid"}
    )
    executor = SSHExecutor(cfg, TaskStore(tmp_path))
    for bad in ("../../etc", "", "*", "0" * 36, "a b"):
        meta = {"task_id": bad, "pid": 1, "pid_start_time": 1}
        with pytest.raises(ExecutorError, match="invalid task id"):
            executor.cleanup(meta)
        with pytest.raises(ExecutorError, match="invalid task id"):
            executor.kill(meta, 1)
        with pytest.raises(ExecutorError, match="invalid task id"):
            executor.tail(meta, "stdout", 5)
    assert executor.session._conn is None, "nothing may connect for an invalid id"


# -- every agent, and the wall-clock limit, on the host ----------------------------------------------
def _agent_on_host(ssh: SSHEnv, agent: str) -> None:
    """Put the fake ``agent`` beside the fake claude and make it the executor's agent."""
    r = ssh.remote
    binary = r.fake_claude.parent / agent
    shutil.copy(FAKES / agent, binary)
    binary.chmod(0o755)
    home = scratch_dir(r.dir / f"{agent}-home", r.user)
    gemini = scratch_dir(home / ".gemini", r.user)
    (gemini / "settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
    )
    chown(gemini / "settings.json", r.user)
    ssh.configure(
        agent=agent,
        agent_path=str(binary),
        env={
            "CODEX_HOME": str(home),
            "GEMINI_CLI_HOME": str(home),
            "GEMINI_API_KEY": "fake-key",
            "XDG_DATA_HOME": str(home),
        },
    )


@pytest.mark.parametrize("agent", ["codex", "gemini", "opencode"])
def test_every_agent_runs_on_the_host_and_is_judged_by_its_own_rules(ssh: SSHEnv, agent: str) -> None:
    _agent_on_host(ssh, agent)
    oc = ssh.oc
    ws = ["--workspace", str(ssh.remote.ws)]
    done = oc.run("start", "--json", "--wait", "--prompt=#fake text remote\n#fake write out.txt hi", *ws)
    assert done.code == 0, done.err
    meta = done.json()
    assert meta["agent"] == agent and meta["status"] == "completed" and meta["command"][0].endswith(agent)
    assert (ssh.remote.ws / "out.txt").read_text().startswith("hi")
    kinds = [
        json.loads(ln)["kind"]
        for ln in oc.ok("logs", "--task-id", meta["task_id"], "--json").out.splitlines()
    ]
    assert "tool_call" in kinds and kinds[-1] == "result"
    failed = oc.run("start", "--json", "--wait", "--prompt=#fake api-error 400 no such model", *ws)
    assert failed.code == 4 and failed.json()["status"] == "failed"
    long = oc.start("#fake bash echo start; sleep 60; echo slept", *ws)
    oc.wait_status(long["task_id"], "running")
    wait_until(lambda: live_task_processes(long["task_id"]))
    oc.ok("kill", "--task-id", long["task_id"], "--grace", "2")
    assert oc.status(long["task_id"])["status"] == "killed"
    assert live_task_processes(long["task_id"]) == []


HOST_AGENTS = ["codex", "gemini", "opencode"]
NPM_PACKAGES = {"codex": "@openai/codex", "gemini": "@google/gemini-cli", "opencode": "opencode-ai"}


@pytest.mark.parametrize("agent", HOST_AGENTS)
def test_every_agent_on_the_host_streams_and_shows_its_text_and_wait_exits_0_4_5_by_outcome(
    ssh: SSHEnv, agent: str
) -> None:
    _agent_on_host(ssh, agent)
    oc = ssh.oc
    ws = ["--workspace", str(ssh.remote.ws)]
    task_id = completes_streaming(oc, ws, agent, "streamed from the host")
    # --raw is the agent's own output on the host, line for line.
    raw_is_the_agents_own(oc, task_id, (ssh.task_dir(task_id) / "stdout").read_text())

    fails_and_wait_exits_4(oc, ws)

    # Killed: wait exits 5, and logs --follow closes with who stopped it.
    long = oc.start("#fake text going\n#fake bash echo start; sleep 60; echo slept", *ws)
    oc.wait_status(long["task_id"], "running")
    wait_until(lambda: live_task_processes(long["task_id"]))
    oc.ok("kill", "--task-id", long["task_id"], "--grace", "2", timeout=60)
    killed_view_says_who(oc, long["task_id"], "going")
    assert live_task_processes(long["task_id"]) == []


@pytest.mark.parametrize("agent", HOST_AGENTS)
def test_cleanup_of_every_agents_task_removes_its_record_and_its_directory_on_the_host(
    ssh: SSHEnv, agent: str
) -> None:
    _agent_on_host(ssh, agent)
    oc = ssh.oc
    ws = ["--workspace", str(ssh.remote.ws)]
    done = oc.run("start", "--json", "--wait", "--prompt=#fake text to be cleaned", *ws)
    assert done.code == 0, done.err
    killed = oc.start("#fake bash sleep 60", *ws)
    wait_until(lambda: live_task_processes(killed["task_id"]))
    oc.ok("kill", "--task-id", killed["task_id"], "--grace", "2", timeout=60)
    for task_id in (done.json()["task_id"], killed["task_id"]):
        assert ssh.task_dir(task_id).is_dir() and (oc.tasks_dir / task_id).is_dir()
        oc.ok("cleanup", "--task-id", task_id)
        assert not ssh.task_dir(task_id).exists(), "the task's files on the host"
        assert not (oc.tasks_dir / task_id).exists(), "the task's record"
        assert oc.run("status", "--task-id", task_id).code != 0
    assert oc.ok("list", "--json").json() == []


@pytest.mark.parametrize("agent", HOST_AGENTS)
def test_a_missing_agent_binary_on_the_host_fails_the_start_naming_it_and_how_to_install_it(
    ssh: SSHEnv, agent: str
) -> None:
    missing = f"/nowhere/{agent}"
    ssh.configure(agent=agent, agent_path=missing)
    result = ssh.oc.run("start", "--prompt", "hi", "--json", "--workspace", str(ssh.remote.ws))
    assert result.code == 1
    line = one_line_error(result.err)
    assert f"{agent} not found at {missing} on 127.0.0.1 (agent_path)" in line, line
    assert f"npm install -g {NPM_PACKAGES[agent]}" in line, line
    meta = result.json()
    assert meta["status"] == "failed" and meta["agent"] == agent
    assert f"{agent} not found at {missing}" in meta["error"]
    assert f"npm install -g {NPM_PACKAGES[agent]}" in meta["error"], "the record keeps how to install it"
    (listed,) = ssh.oc.ok("list", "--json").json()
    assert listed["status"] == "failed" and listed["task_id"] == meta["task_id"]
    assert not ssh.task_dir(meta["task_id"]).exists(), "nothing of the task stays on the host"


def test_a_plain_command_on_the_host_completes_on_0_fails_on_non_zero_and_wait_mirrors_it(
    ssh: SSHEnv,
) -> None:
    oc = ssh.oc
    run = ["run", "--executor", "remote", "--workspace", str(ssh.remote.ws)]
    failing = oc.run(*run, "--json", "--wait", "--", "sh", "-c", "echo hi; echo boom >&2; exit 3")
    assert failing.code == 4, failing
    failed = failing.json()
    assert failed["agent"] == "command" and failed["executor"] == "remote"
    assert failed["status"] == "failed" and failed["exit_code"] == 3
    assert failed["error"] == "the command exited with code 3: boom"
    assert "hi" in oc.ok("logs", "--task-id", failed["task_id"]).out.splitlines()
    assert oc.ok("logs", "--task-id", failed["task_id"], "--raw").out == "hi\n"
    assert oc.run("wait", "--task-id", failed["task_id"]).code == 4

    followed = oc.run(*run, "--wait", "--follow", "--", "sh", "-c", "echo fine; echo and dandy")
    assert followed.code == 0, followed
    assert "fine" in followed.out and "and dandy" in followed.out
    ok = next(m for m in oc.ok("list", "--json").json() if m["task_id"] != failed["task_id"])
    assert ok["status"] == "completed" and ok["exit_code"] == 0
    assert oc.ok("logs", "--task-id", ok["task_id"], "--raw").out.splitlines() == ["fine", "and dandy"]
    shown = oc.ok("logs", "--task-id", ok["task_id"]).out.splitlines()
    assert shown[:2] == ["fine", "and dandy"] and shown[2].startswith("■ completed") and len(shown) == 3
    assert oc.run("wait", "--task-id", ok["task_id"]).code == 0

    long = oc.ok(*run, "--json", "--", "sh", "-c", "echo start; sleep 60").json()
    wait_until(lambda: live_task_processes(long["task_id"]))
    oc.ok("kill", "--task-id", long["task_id"], "--grace", "2", timeout=60)
    assert oc.run("wait", "--task-id", long["task_id"]).code == 5
    assert live_task_processes(long["task_id"]) == []

    for task_id in (failed["task_id"], ok["task_id"], long["task_id"]):
        oc.ok("cleanup", "--task-id", task_id)
        assert not ssh.task_dir(task_id).exists() and not (oc.tasks_dir / task_id).exists()


def test_a_plain_command_missing_on_the_host_is_a_failed_record_that_names_it(ssh: SSHEnv) -> None:
    result = ssh.oc.run("run", "--json", "--executor", "remote", "--", "no-such-tool-here", "x")
    assert result.code == 1
    line = one_line_error(result.err)
    assert "no-such-tool-here not found at PATH on 127.0.0.1" in line, line
    (meta,) = ssh.oc.ok("list", "--json").json()
    assert meta["status"] == "failed" and "no-such-tool-here not found" in meta["error"]


def test_timeout_is_enforced_on_the_host_with_nobody_watching(ssh: SSHEnv) -> None:
    oc = ssh.oc
    meta = oc.start(
        "#fake bash echo start; sleep 60; echo slept", "--workspace", str(ssh.remote.ws), "--timeout", "2"
    )
    assert meta["timeout_s"] == 2
    wait_until(lambda: (ssh.task_dir(meta["task_id"]) / "rc").exists(), timeout=20)
    assert (ssh.task_dir(meta["task_id"]) / "rc").read_text().strip() == "124"
    assert live_task_processes(meta["task_id"]) == []
    final = oc.status(meta["task_id"])
    assert final["status"] == "failed" and final["error"] == "timed out after 2s"
