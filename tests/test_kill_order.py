"""The kill order: a killed task's agent gets its SIGTERM before the rest of the task does.

The agent's own process group (the launcher's: the launcher and the agent) is signalled
first, then the task's other processes: the tool commands the agent started in sessions of
their own. Were a tool signalled first, the agent could see it fail, end its turn and exit 0
before its own signal came. Locally procs.kill_task_processes does it; on a host
taskprocs.sh (sent with the kill script).

How the order is seen, with no timing in it: the test stops the agent (SIGSTOP), so the
SIGTERM sent to it stays pending in its ``/proc/PID/status`` from the moment it is sent
until the test lets it go on (SIGCONT). The tool is :data:`TOOL`: it blocks SIGTERM, puts
children of its own in sessions of their own, and each of them, once its own SIGTERM has
come, reads whether the agent's is pending already. In the right order every one of them
finds it pending, however slowly it wakes; in the wrong order the ones signalled before the
agent find it not yet sent (unless they wake only after the killer has gone on to the
agent: then the test misses the wrong order, it never fails the right one).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import test_ssh_executor as sshmod
from conftest import Env, console_script, wait_until
from test_ssh_executor import SSHEnv, live_task_processes

remote, ssh = sshmod.remote, sshmod.ssh

#: How many processes of the tool watch for their SIGTERM: the tool and its children, each
#: in a session of its own (the more of them, the more of them come before the agent in a
#: wrong order, and the surer the test is to see it).
WATCHERS = 4

#: The tool command (``python3 kill_order_tool.py WATCHERS`` in the workspace). Files, in
#: ``$FAKE_CLAUDE_RECORD_DIR``, named by the session id (the task id): ``<sid>.ready.N``
#: ("PID AGENT_PID", once SIGTERM is blocked) and ``<sid>.agent-term.N`` (what watcher N saw
#: of the agent's SIGTERM when its own came: "pending", "not yet" or "gone").
TOOL = """\
import os, signal, sys

record = os.path.join(os.environ["FAKE_CLAUDE_RECORD_DIR"], os.environ["CLAUDE_CODE_SESSION_ID"])
agent = os.getppid()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def put(name, text):
    with open(record + name + ".tmp", "w") as f:
        f.write(text)
    os.rename(record + name + ".tmp", record + name)


n = 0
for i in range(1, int(sys.argv[1])):
    if os.fork() == 0:
        os.setsid()
        n = i
        break
put(f".ready.{n}", f"{os.getpid()} {agent}\\n")
signal.sigwaitinfo({signal.SIGTERM})
pending = 0
try:
    with open(f"/proc/{agent}/status") as f:
        for line in f:
            if line.startswith(("SigPnd:", "ShdPnd:")):
                pending |= int(line.split()[1], 16)
    seen = "pending" if pending >> (signal.SIGTERM - 1) & 1 else "not yet"
except OSError:
    seen = "gone"
put(f".agent-term.{n}", seen + "\\n")
"""


def proc_state(pid: int) -> str:
    """The state letter of ``/proc/PID/stat`` ("" when there is no such process)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def assert_agent_signalled_before_its_tools(oc: Env, ws: Path, record: Path, *start: str) -> dict[str, Any]:
    """Start the tool in ``ws`` (the fake records into ``record``), stop the agent, kill the task
    and check what every watcher saw; return the killed record."""
    script = ws / "kill_order_tool.py"
    script.write_text(TOOL)
    script.chmod(0o644)
    meta = oc.start(f"#fake bash exec python3 kill_order_tool.py {WATCHERS}", *start)
    task_id = meta["task_id"]
    ready = [record / f"{task_id}.ready.{n}" for n in range(WATCHERS)]
    wait_until(lambda: all(f.exists() for f in ready), 60)
    agent = int((record / f"{task_id}.pid").read_text())
    for f in ready:
        pid, parent = map(int, f.read_text().split())
        assert parent == agent
        assert os.getsid(pid) == pid != os.getsid(agent), "each watcher leads a session of its own"
    os.kill(agent, signal.SIGSTOP)
    wait_until(lambda: proc_state(agent) == "T")
    killer = subprocess.Popen(
        [console_script(), "kill", "--task-id", task_id, "--grace", "30", "--json"],
        env=oc.env,
        cwd=oc.workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = [record / f"{task_id}.agent-term.{n}" for n in range(WATCHERS)]
        wait_until(lambda: all(f.exists() for f in seen), 60)
    finally:
        os.kill(agent, signal.SIGCONT)  # its SIGTERM, pending all along, now ends it
        out, err = killer.communicate(timeout=120)
    assert killer.returncode == 0, err.decode()
    assert json.loads(out)["status"] == "killed"
    assert [f.read_text() for f in seen] == ["pending\n"] * WATCHERS, "a tool was signalled before the agent"
    killed: dict[str, Any] = oc.status(task_id)
    assert killed["status"] == "killed" and killed["exit_code"] == 143, "the agent ended by its own SIGTERM"
    assert live_task_processes(task_id) == []
    return killed


def test_kill_signals_the_agents_group_before_the_tools_in_sessions_of_their_own_locally(oc: Env) -> None:
    assert_agent_signalled_before_its_tools(oc, oc.workspace, oc.record_dir)


def test_kill_signals_the_agents_group_before_the_tools_in_sessions_of_their_own_over_ssh(
    ssh: SSHEnv,
) -> None:
    r = ssh.remote
    killed = assert_agent_signalled_before_its_tools(ssh.oc, r.ws, r.record, "--workspace", str(r.ws))
    assert killed["executor"] == "remote"
