"""openclaw-agent driving the *real* codex, gemini and opencode CLIs (and claude over SSH),
offline, on the local executor and on the SSH executor (a real sshd on 127.0.0.1).

The same scenarios as test_agents.py runs against the fakes, with real tool calls
scripted by each CLI's API server (tests/fakes/*_api.py): a task that writes a file and
runs a shell command, an HTTP 400, a long shell command killed, and one stopped by
``--timeout``; and resume, on both executors. Over SSH the agent runs as the login
user (an unprivileged account when the tests run as root) with a HOME, TMPDIR and
agent settings of its own under the test's remote directory, given through the
executor's ``env``; it executes the CLIs from the repository's .tools (world-readable).

A CLI that is not installed skips its tests ($OPENCLAW_REAL_<AGENT>, else .tools).
"""

from __future__ import annotations

import json
import os
import pwd
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, wait_until
from real_agents_harness import (
    API_400,
    KITS,
    LONG_COMMAND,
    SHELL_COMMAND,
    Kit,
    Tagged,
    give,
    skip_reason,
    sleeping,
    tagged,
)
from sshd_harness import SSHD, scratch_dir
from test_ssh_executor import (  # noqa: F401  (fixtures, used by name)
    SSHEnv,
    remote,
    ssh,
)

from openclaw import procs

pytestmark = pytest.mark.slow

FINAL = ("completed", "failed", "killed", "lost")
#: How long one CLI run may take here (start-up included), in seconds.
RUN_S = 120


@dataclass
class Rig:
    """One executor (``local`` or ``ssh``) set up to run a real agent CLI offline."""

    executor: str
    oc: Env
    ws: Path
    #: The agent's own HOME-like directory (settings, CODEX_HOME, the OpenCode config).
    home: Path
    tmp: Path
    owner: pwd.struct_passwd
    ssh: SSHEnv | None = None
    kit: Kit | None = field(default=None)

    def use(self, kit: Kit, base_url: str) -> None:
        """Configure the executor to run ``kit``'s real CLI against the server at ``base_url``."""
        path = kit.path
        if path is None:
            pytest.skip(skip_reason(kit.name))
        self.kit = kit
        env = {**kit.offline(self.home, base_url), "TMPDIR": str(self.tmp)}
        if self.ssh is None:
            self.oc.write_config(
                json.dumps(
                    {
                        "executors": [
                            {
                                "name": "local",
                                "type": "local",
                                "agent": kit.name,
                                "agent_path": path,
                                "env": env,
                            }
                        ]
                    }
                )
            )
            return
        if kit.name != "claude":
            # Its own HOME (gemini settings, the OpenCode config and database); claude keeps the
            # login user's, where the record says its transcript is.
            env["HOME"] = str(self.home)
        give(self.home, self.owner)
        self.ssh.configure(env=env, agent=kit.name, agent_path=path, claude_path=None)

    def start(self, prompt: str, *args: str, wait: bool = False) -> tuple[int, dict[str, Any], str]:
        """``start`` the configured agent in the workspace; exit code, record, stderr."""
        assert self.kit is not None
        flags = ["--wait"] if wait else []
        result = self.oc.run(
            "start",
            "--json",
            f"--prompt={prompt}",
            "--workspace",
            str(self.ws),
            *self.kit.flags,
            *flags,
            *args,
            timeout=RUN_S + 30,
        )
        assert result.out.strip(), f"start exited {result.code} with no record: {result.err}"
        return result.code, result.json(), result.err

    def final(self, task_id: str, seen: list[Tagged] | None = None) -> dict[str, Any]:
        """Poll ``status`` until the task is final; ``seen`` collects its sleepers meanwhile."""
        deadline = time.monotonic() + RUN_S
        while True:
            if seen is not None:
                seen.extend(p for p in sleeping(task_id) if p not in seen)
            meta = self.oc.status(task_id)
            if meta["status"] in FINAL:
                return meta
            assert time.monotonic() < deadline, f"task {task_id} never ended: {meta}"
            time.sleep(0.2)

    def task_dir(self, task_id: str) -> Path:
        """The task's directory on the executor's host (this machine, either way)."""
        return self.ssh.task_dir(task_id) if self.ssh else self.oc.tasks_dir / task_id

    def tail(self, task_id: str) -> str:
        """The end of the task's stdout and stderr, for a failure's message."""
        d = self.task_dir(task_id)
        parts = [
            (d / name).read_text(errors="replace")[-2000:]
            for name in ("stdout", "stderr")
            if (d / name).exists()
        ]
        return "\n".join(parts)

    def until_sleeping(self, task_id: str) -> list[Tagged]:
        """The task's running ``sleep 60``, once there is one; fails at once if the agent ended."""

        def check() -> list[Tagged]:
            found = sleeping(task_id)
            rc = self.task_dir(task_id) / "rc"
            if not found and rc.exists():
                raise AssertionError(f"the agent ended before its tool ran: {self.tail(task_id)}")
            return found

        found: list[Tagged] = wait_until(check, timeout=RUN_S, interval=0.1)
        return found

    def entries(self, task_id: str) -> list[dict[str, Any]]:
        out = self.oc.ok("logs", "--task-id", task_id, "--json", timeout=60).out
        return [json.loads(line) for line in out.splitlines()]

    def wait_code(self, task_id: str) -> int:
        return self.oc.run("wait", "--task-id", task_id, "--timeout", "30", timeout=60).code

    def assert_no_process_left(self, meta: dict[str, Any], sleepers: list[Tagged]) -> None:
        """Nothing of the task lives: by pid and start time, session, descendants and tag
        (procs.task_processes, on this machine) and, on any executor, no process on the
        host carries its OPENCLAW_TASK_ID."""
        task_id = meta["task_id"]
        assert tagged(task_id) == [], f"processes carrying OPENCLAW_TASK_ID={task_id} remain"
        if self.ssh is None and meta.get("pid"):
            assert procs.task_processes(meta["pid"], meta["pid_start_time"], task_id) == []
        survivors = [p for p in sleepers if p.alive()]
        assert survivors == [], f"the tool's sleep survived: {survivors}"


@pytest.fixture
def rig(request: pytest.FixtureRequest, oc: Env, tmp_path: Path) -> Iterator[Rig]:
    """Parametrised with the executor's type: ``local`` or ``ssh``."""
    executor = request.param
    if executor == "local":
        home, tmp = oc.home, tmp_path / "agent-tmp"
        tmp.mkdir()
        yield Rig(executor, oc, oc.workspace, home, tmp, pwd.getpwuid(os.geteuid()))
        return
    if not os.path.exists(SSHD):
        pytest.skip("needs openssh-server (bash tests/run)")
    env: SSHEnv = request.getfixturevalue("ssh")
    user = env.remote.user
    home = scratch_dir(env.remote.dir / "agent-home", user)
    tmp = scratch_dir(env.remote.dir / "agent-tmp", user)
    yield Rig(executor, oc, env.remote.ws, home, tmp, user, ssh=env)


AGENTS = ["codex", "gemini", "opencode"]
ON_BOTH = [pytest.param(e, a, id=f"{e}-{a}") for e in ("local", "ssh") for a in AGENTS]


def session_in_output(rig: Rig, task_id: str) -> str | None:
    """The session id the agent printed (codex's thread id, OpenCode's ``ses_...``)."""
    for line in rig.oc.ok("logs", "--task-id", task_id, "--raw").out.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        for key in ("thread_id", "sessionID", "session_id"):
            if isinstance(event.get(key), str):
                return str(event[key])
    return None


def kinds_of(entries: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in entries]


# -- 1. a real tool call, a shell command, completed ------------------------------------------------
@pytest.mark.parametrize(
    ("rig", "agent"), [*ON_BOTH, pytest.param("ssh", "claude", id="ssh-claude")], indirect=["rig"]
)
def test_real_agent_writes_a_file_runs_a_command_and_completes(rig: Rig, agent: str) -> None:
    kit = KITS[agent]
    target = rig.ws / "hello.txt"
    with kit.server(kit.work_script(target, f"hello from {agent}\n")) as api:
        rig.use(kit, api.base_url)
        code, meta, err = rig.start("Write hello.txt, then run the command.", wait=True)
    assert code == 0, (err, meta)
    assert meta["status"] == "completed" and meta["agent"] == agent and meta["exit_code"] == 0, meta
    assert meta["executor"] == ("remote" if rig.ssh else "local")
    assert target.read_text() == f"hello from {agent}\n"
    assert (rig.ws / "shell.txt").read_text() == "42\n", "the shell command ran in the workspace"
    if rig.ssh is not None:
        assert target.stat().st_uid == rig.owner.pw_uid, "the agent ran as the login user"
    assert meta["result"]["is_error"] is False
    assert meta["result"]["text"] == "All done.", meta["result"]
    entries = rig.entries(meta["task_id"])
    kinds = kinds_of(entries)
    assert {"message", "tool_call", "tool_result"} <= set(kinds) and kinds[-1] == "result", kinds
    view = rig.oc.ok("logs", "--task-id", meta["task_id"], timeout=60).out
    assert "Writing it." in view and "■ completed" in view, view
    assert any(e["kind"] == "message" and "Writing it." in e.get("text", "") for e in entries), entries
    assert any(e["kind"] == "tool_result" and "made shell.txt" in e.get("text", "") for e in entries), entries
    assert rig.wait_code(meta["task_id"]) == 0
    if agent == "claude":
        assert Path(meta["transcript"]).is_file(), "the transcript is where the record says"


# -- 2. an HTTP 400 -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("rig", "agent"), ON_BOTH, indirect=["rig"])
def test_real_agent_api_400_fails_the_task_with_the_agents_own_words(rig: Rig, agent: str) -> None:
    kit = KITS[agent]
    with kit.server(kit.error_script()) as api:
        rig.use(kit, api.base_url)
        code, meta, err = rig.start("Say hi.", wait=True)
    assert code == 4, (err, meta)
    assert meta["status"] == "failed", meta
    assert API_400 in meta["error"], meta["error"]
    assert rig.wait_code(meta["task_id"]) == 4


# -- 3. kill --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rig", "agent"), ON_BOTH, indirect=["rig"])
def test_killing_a_real_agent_mid_command_leaves_no_process_of_the_task(rig: Rig, agent: str) -> None:
    kit = KITS[agent]
    with kit.server(kit.long(LONG_COMMAND)) as api:
        rig.use(kit, api.base_url)
        _, meta, _ = rig.start("Run the long command.")
        task_id = meta["task_id"]
        sleepers = rig.until_sleeping(task_id)
        assert all(p.session not in (meta["pid"], meta["agent_pid"]) for p in sleepers), (
            "the real CLI runs its shell tool in a session of its own: only the sweep finds it"
        )
        if rig.ssh is not None:
            assert {p.uid for p in sleepers} == {rig.owner.pw_uid}, "the tool runs as the login user"
        assert rig.oc.status(task_id)["status"] == "running"
        rig.oc.ok("kill", "--task-id", task_id, "--grace", "2", timeout=60)
        killed = rig.oc.status(task_id)
    assert killed["status"] == "killed", killed
    rig.assert_no_process_left(killed, sleepers)
    assert rig.wait_code(task_id) == 5


# -- 4. --timeout ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rig", "agent"), ON_BOTH, indirect=["rig"])
def test_timeout_stops_a_real_agent_mid_command_as_failed_leaving_no_process(rig: Rig, agent: str) -> None:
    kit = KITS[agent]
    with kit.server(kit.long(LONG_COMMAND)) as api:
        rig.use(kit, api.base_url)
        began = time.monotonic()
        _, meta, _ = rig.start("Run the long command.", "--timeout", "3s")
        seen: list[Tagged] = []
        done = rig.final(meta["task_id"], seen)
        took = time.monotonic() - began
    assert meta["timeout_s"] == 3
    assert done["status"] == "failed" and done["error"] == "timed out after 3s", done
    assert took < 3 + 5 + 10, f"the limit held late: {took:.1f}s"
    rig.assert_no_process_left(done, seen)
    assert rig.wait_code(meta["task_id"]) == 4


#: A limit that is reached while the tool runs: OpenCode takes 3-5 s to start here (over
#: 10 s under load), gemini 2-4 s; codex reaches its tool within the 3 s above.
TOOL_LIMIT = {"gemini": 10, "opencode": 20}


@pytest.mark.parametrize(
    ("rig", "agent"),
    [pytest.param(e, a, id=f"{e}-{a}") for e in ("local", "ssh") for a in TOOL_LIMIT],
    indirect=["rig"],
)
def test_timeout_reached_while_the_tool_runs_stops_the_tool_too(rig: Rig, agent: str) -> None:
    """A 3 s limit may stop gemini or opencode before their tool runs; this one is reached
    while the tool's ``sleep 60`` runs in a session of its own, which the launcher sweeps."""
    kit = KITS[agent]
    limit = TOOL_LIMIT[agent]
    with kit.server(kit.long(LONG_COMMAND)) as api:
        rig.use(kit, api.base_url)
        _, meta, _ = rig.start("Run the long command.", "--timeout", f"{limit}s")
        seen: list[Tagged] = []
        done = rig.final(meta["task_id"], seen)
        output = rig.tail(meta["task_id"])
    assert seen, f"the tool never ran before the limit: {output}"
    assert done["status"] == "failed" and done["error"] == f"timed out after {limit}s", done
    rig.assert_no_process_left(done, seen)


# -- 5. resume ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rig", "agent"), ON_BOTH, indirect=["rig"])
def test_resume_continues_the_real_agents_own_session(rig: Rig, agent: str) -> None:
    kit = KITS[agent]
    with kit.server([{"text": "first answer"}, {"text": "second answer"}]) as api:
        rig.use(kit, api.base_url)
        code, first, err = rig.start("Remember the word pelican.", wait=True)
        assert code == 0 and first["status"] == "completed", (err, first)
        session = first["session_id"] or session_in_output(rig, first["task_id"])
        assert session, first
        result = rig.oc.run(
            "resume", "--task-id", first["task_id"], "--prompt=Which word?", "--wait", "--json", timeout=RUN_S
        )
        history = json.dumps(api.main_requests[-1]["body"])
    assert result.code == 0, result.err
    child = result.json()
    assert child["status"] == "completed" and child["parent_id"] == first["task_id"], child
    assert child["session_id"] == session, "the child continues the parent's session"
    assert session in child["command"], child["command"]
    assert "pelican" in history and "Which word?" in history, "the model got the whole conversation"
    assert child["result"]["text"] == "second answer", child["result"]


# -- 7. in a worktree of its own -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rig", "agent"), [*ON_BOTH, pytest.param("ssh", "claude", id="ssh-claude")], indirect=["rig"]
)
def test_real_agent_in_a_worktree_of_its_own_leaves_its_change_on_the_task_branch(
    rig: Rig, agent: str
) -> None:
    from test_worktree import checkout_state, git, make_repo, show

    kit = KITS[agent]
    repo = make_repo(rig.ws / "repo")
    give(repo, rig.owner)
    before = checkout_state(repo)
    rig.ws = repo
    with kit.server([kit.shell(SHELL_COMMAND), {"text": "All done."}]) as api:
        rig.use(kit, api.base_url)
        code, meta, err = rig.start("Run the command.", "--worktree", wait=True)
    assert code == 0 and meta["status"] == "completed", (err, meta, rig.tail(meta["task_id"]))
    tree = meta["worktree"]
    assert meta["workspace"] == tree["path"] and tree["repo"] == str(repo)
    assert show(repo, tree["branch"], "shell.txt") == "42\n", "the agent's shell ran in its worktree"
    assert meta["changes"]["files"] == 1
    assert git(repo, "diff", "--name-only", tree["base"], tree["branch"]).split() == ["shell.txt"]
    assert checkout_state(repo) == before, "the user's checkout is untouched"
