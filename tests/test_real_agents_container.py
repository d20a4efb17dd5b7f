"""openclaw-agent driving each *real* agent CLI (codex, gemini, opencode, claude) end to end,
offline, on the **container** executor: podman, and the docker CLI talking to ``podman
system service``.

The image (tests/real_image_harness.py) holds busybox, bash and the host's node with their
shared libraries; each CLI's npm install is bind-mounted read-only at its own path. The
CLI talks to a scripted API server (tests/fakes/*_api.py) on the host's 127.0.0.1, which
the container reaches through ``network: host``; nothing else is contacted (checked once
with ``strace -f -e connect`` over ``podman run``: every AF_INET connect of the four CLIs
went to 127.0.0.1; the offline settings are those of tests/fakes/FAKE-*.md). Each test's
workspace is a host directory mounted at /work, and its per-test agent settings (codex's
CODEX_HOME, OpenCode's config, both naming the server's port) one mounted at /agent; the
rest goes through the executor's ``env:`` (the 0600 env file the entry script sources).

Every test is ``slow``, runs once per runtime (the two about bugs in reading the agents'
output: podman only), and skips when its CLI, podman or runc is missing. Containers are
removed by their exact names (those of the test's own tasks); the image at the session's end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import container_harness
import pytest
import real_image_harness
from conftest import Env, wait_until
from container_harness import Runtime
from real_image_harness import FAKES, find_cli, mounts

sys.path.insert(0, str(FAKES))
from anthropic_api import FakeAnthropicServer
from gemini_api import FakeGeminiServer
from openai_chat_api import FakeOpenAIChatServer, opencode_config
from openai_responses_api import FakeResponsesServer, codex_config

from openclaw.executors.container import container_name

pytestmark = pytest.mark.slow

# The harnesses' session fixtures, made visible to this module.
containers_conf = container_harness.containers_conf
podman_service = container_harness.podman_service
real_image = real_image_harness.real_image

AGENTS = ["codex", "gemini", "opencode", "claude"]
CLIS = {name: find_cli(name) for name in AGENTS}
#: The path each CLI runs at in the container: its real path, inside its read-only mount (a
#: ``.bin`` link or a link on PATH may lie outside it).
IN_CONTAINER = {name: os.path.realpath(cli) for name, cli in CLIS.items() if cli}
#: Seconds a real CLI may take to finish a short scripted run in a container.
RUN_TIMEOUT = 90
#: The long run: a marker first (so the test knows the tool runs), then a long sleep.
LONG_COMMAND = "echo started >/work/started; sleep 300"
GEMINI_MODEL = "gemini-2.5-flash"


@dataclass(frozen=True)
class Agent:
    """What one real CLI needs: its scripted server, settings, and the scripts of the scenarios."""

    name: str
    server: Callable[[list[dict[str, Any]]], Any]
    #: The executor's env for a server at this base URL.
    env: Callable[[str], dict[str, str]]
    #: A write of /work/hello.txt (the text given), a shell command, a final reply.
    work: list[dict[str, Any]]
    #: The HTTP 400 reply.
    bad_request: list[dict[str, Any]]
    #: A shell tool call running LONG_COMMAND.
    long: list[dict[str, Any]]
    #: What the file written by ``work`` holds.
    written: str
    #: Files for the /agent volume, for a server at this base URL.
    files: Callable[[str], dict[str, str]] = field(default=lambda url: {})


SHELL = "echo ran >/work/ran.txt; echo shell-ok"

CODEX = Agent(
    name="codex",
    server=FakeResponsesServer,
    env=lambda url: {"CODEX_HOME": "/agent/codex"},
    files=lambda url: {"codex/config.toml": codex_config(url)},
    work=[
        {"text": "Writing it.", "write": {"path": "hello.txt", "content": "hello from codex"}},
        {"exec": SHELL},
        {"text": "All done."},
    ],
    bad_request=[{"error": {"status": 400, "message": "model: not found"}}],
    # exec_command hands back after yield_time_ms (default 10 s): ask for the most.
    long=[{"exec": {"cmd": LONG_COMMAND, "yield_time_ms": 30000}}],
    written="hello from codex\n",  # an Add File line always ends with a newline
)
GEMINI = Agent(
    name="gemini",
    server=FakeGeminiServer,
    env=lambda url: {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": "fake-gemini-key"},
    work=[
        {
            "text": "Writing it.",
            "function_call": {
                "name": "write_file",
                "args": {"file_path": "/work/hello.txt", "content": "hello from gemini"},
            },
        },
        {"function_call": {"name": "run_shell_command", "args": {"command": SHELL}}},
        {"text": "All done."},
    ],
    bad_request=[{"error": {"status": 400, "message": "model: not found"}}],
    long=[{"function_call": {"name": "run_shell_command", "args": {"command": LONG_COMMAND}}}],
    written="hello from gemini",
)
OPENCODE = Agent(
    name="opencode",
    server=FakeOpenAIChatServer,
    env=lambda url: {
        "OPENCODE_CONFIG": "/agent/opencode.json",
        "OPENCODE_DISABLE_MODELS_FETCH": "true",
        "OPENCODE_DISABLE_AUTOUPDATE": "true",
        # The image's ~/.config/opencode is seeded so that no plugin install runs; if that
        # ever stops sufficing, fail on 127.0.0.1 rather than reach registry.npmjs.org.
        "npm_config_registry": "http://127.0.0.1:9/",
    },
    files=lambda url: {"opencode.json": json.dumps(opencode_config(url))},
    work=[
        {
            "text": "Writing it.",
            "tool_call": {
                "name": "write",
                "arguments": {"filePath": "/work/hello.txt", "content": "hello from opencode"},
            },
        },
        {"tool_call": {"name": "bash", "arguments": {"command": SHELL, "description": "Run it"}}},
        {"text": "All done."},
    ],
    bad_request=[{"error": {"status": 400, "message": "model: not found"}}],
    long=[{"tool_call": {"name": "bash", "arguments": {"command": LONG_COMMAND, "description": "Wait"}}}],
    written="hello from opencode",
)
CLAUDE = Agent(
    name="claude",
    server=FakeAnthropicServer,
    env=lambda url: {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-fake-test",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    },
    work=[
        {
            "text": "Writing it.",
            "tool_use": {
                "name": "Write",
                "input": {"file_path": "/work/hello.txt", "content": "hello from claude"},
            },
        },
        {"tool_use": {"name": "Bash", "input": {"command": SHELL, "description": "Run it"}}},
        {"text": "All done."},
    ],
    bad_request=[{"error": {"status": 400, "type": "invalid_request_error", "message": "model: not found"}}],
    long=[{"tool_use": {"name": "Bash", "input": {"command": LONG_COMMAND, "description": "Wait"}}}],
    written="hello from claude",
)
BY_NAME = {a.name: a for a in (CODEX, GEMINI, OPENCODE, CLAUDE)}


@pytest.fixture(params=["podman", "docker"])
def runtime(request: pytest.FixtureRequest, containers_conf: Path, real_image: str) -> Runtime:
    """Each runtime in turn: podman directly, and the docker CLI through podman's Docker API."""
    env = {"CONTAINERS_CONF": str(containers_conf)}
    if request.param == "docker":
        env["DOCKER_HOST"] = request.getfixturevalue("podman_service")
    return Runtime(name=request.param, env=env, image=real_image)


@pytest.fixture(params=AGENTS)
def agent(request: pytest.FixtureRequest) -> Agent:
    """Each real CLI in turn; skipped when it is not installed."""
    name = request.param
    if CLIS[name] is None:
        pytest.skip(
            f"real {name} CLI not found: set $OPENCLAW_REAL_{name.upper()} or install it under .tools "
            "(see tests/fakes/FAKE-*.md)"
        )
    return BY_NAME[name]


@dataclass
class RealBox:
    """An isolated openclaw user whose executor ``box`` runs the real ``agent`` in a container."""

    oc: Env
    rt: Runtime
    agent: Agent
    #: Host directory mounted at /work (the workspace).
    ws: Path
    #: Host directory mounted at /agent (per-test agent settings, CODEX_HOME).
    settings: Path
    #: The scripted servers started so far (stopped at teardown).
    servers: list[Any] = field(default_factory=list)

    def configure(self, base_url: str, adjust: Callable[[dict[str, Any]], None] | None = None) -> None:
        """The config: executor ``box`` on the runtime, its agent talking to ``base_url``
        (``adjust`` changes the executor's entry before it is written)."""
        for rel, text in self.agent.files(base_url).items():
            (self.settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.settings / rel).write_text(text)
        clis = [c for c in CLIS.values() if c]
        agents: dict[str, Any] = {name: {"path": path} for name, path in IN_CONTAINER.items()}
        agents.setdefault("gemini", {})["model"] = GEMINI_MODEL
        ex = {
            "name": "box",
            "type": "container",
            "image": self.rt.image,
            "runtime": self.rt.name,
            "network": "host",
            "volumes": [*mounts(clis), f"{self.ws}:/work", f"{self.settings}:/agent"],
            "env": {"LANG": "C.UTF-8", "TMPDIR": "/tmp", **self.agent.env(base_url)},
            "agent": self.agent.name,
        }
        if adjust is not None:
            adjust(ex)
        self.oc.write_config(json.dumps({"agents": agents, "executors": [ex]}))  # JSON is YAML

    def start(self, script: list[dict[str, Any]], *args: str) -> tuple[dict[str, Any], Any]:
        """Start a server with ``script`` and a task on it; the record and the running server."""
        server = self.agent.server(script).start()
        self.servers.append(server)
        self.configure(server.base_url)
        meta = self.oc.start("Do the scripted work.", "--executor", "box", "--workspace", "/work", *args)
        return meta, server

    def wait(self, task_id: str) -> int:
        """``openclaw-agent wait`` (which asks the runtime ever less often); its exit code."""
        return self.oc.run(
            "wait", "--task-id", task_id, "--timeout", f"{RUN_TIMEOUT}s", timeout=RUN_TIMEOUT + 30
        ).code

    def final(self, task_id: str) -> tuple[int, dict[str, Any]]:
        """``wait``'s exit code and the task's record once it is final."""
        code = self.wait(task_id)
        return code, self.oc.status(task_id)

    def inspect(self, task_id: str) -> dict[str, Any]:
        out = self.rt.run("inspect", "--type", "container", container_name(task_id)).stdout
        entry: dict[str, Any] = json.loads(out)[0]
        return entry


@pytest.fixture
def rbox(oc: Env, runtime: Runtime, agent: Agent, tmp_path: Path) -> Iterator[RealBox]:
    """``oc`` with executor ``box`` for ``agent`` on ``runtime``; its containers and servers go after."""
    ws = tmp_path / "cws"
    settings = tmp_path / "agent"
    for d in (ws, settings):
        d.mkdir()
    oc.env.update(runtime.env)
    box = RealBox(oc=oc, rt=runtime, agent=agent, ws=ws, settings=settings)
    yield box
    if oc.tasks_dir.is_dir():
        names = [container_name(t) for t in os.listdir(oc.tasks_dir) if len(t) == 36]
        if names:
            subprocess.run(
                ["podman", "rm", "-f", "-v", "-t", "0", *names],
                capture_output=True,
                env={**os.environ, **runtime.env},
                timeout=120,
            )
        shutil.rmtree(oc.tasks_dir)  # nothing left for oc's own teardown to kill
    for server in box.servers:
        server.stop()


def container_pids(pid1: int) -> list[int]:
    """Host pids of every process in the pid namespace of ``pid1`` (a container's PID 1)."""
    ns = os.readlink(f"/proc/{pid1}/ns/pid")
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == ns:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# ------------------------------------------------------------------------------------ tests


def test_real_agent_writes_a_file_in_the_mounted_workspace_runs_a_shell_command_and_completes(
    rbox: RealBox,
) -> None:
    meta, server = rbox.start(rbox.agent.work)
    task_id = meta["task_id"]
    assert meta["agent"] == rbox.agent.name and meta["host"] == container_name(task_id)
    assert meta["command"][0] == IN_CONTAINER[rbox.agent.name], "the real CLI, from its read-only mount"
    code, done = rbox.final(task_id)
    assert done["status"] == "completed", done
    assert code == 0, "wait exits 0 for a completed task"
    assert done["exit_code"] == 0 and done["error"] is None
    assert done["result"]["subtype"] == "success" and not done["result"]["is_error"]
    if rbox.agent.name != "codex":  # codex: see test_codex_result_text_is_its_last_agent_message
        assert done["result"]["text"] == "All done."
    assert (rbox.ws / "hello.txt").read_text() == rbox.agent.written
    assert (rbox.ws / "ran.txt").read_text() == "ran\n", "the shell command ran in /work"
    assert len(server.main_requests) >= 3, "each scripted reply was asked for"
    entries = [
        json.loads(line) for line in rbox.oc.ok("logs", "--task-id", task_id, "--json").out.splitlines()
    ]
    kinds = [e["kind"] for e in entries]
    assert "message" in kinds and "tool_call" in kinds and "tool_result" in kinds, kinds
    assert kinds[-1] == "result", kinds
    assert any(e["kind"] == "message" and "Writing it." in (e.get("text") or "") for e in entries)
    assert rbox.inspect(task_id)["State"]["ExitCode"] == 0


def test_real_agent_http_400_is_a_failed_task_and_wait_exits_4(rbox: RealBox) -> None:
    meta, _ = rbox.start(rbox.agent.bad_request)
    code, done = rbox.final(meta["task_id"])
    assert done["status"] == "failed", done
    assert code == 4, "wait exits 4 for a failed task"
    assert done["exit_code"] not in (None, 0)
    assert "400" in done["error"] or "not found" in done["error"], done["error"]


def test_kill_of_a_long_real_agent_run_stops_its_container_and_records_killed(rbox: RealBox) -> None:
    meta, _ = rbox.start(rbox.agent.long)
    task_id = meta["task_id"]
    wait_until(lambda: (rbox.ws / "started").exists(), timeout=RUN_TIMEOUT, interval=0.2)
    pids = container_pids(rbox.inspect(task_id)["State"]["Pid"])
    assert len(pids) >= 3, "the entry script, the agent and its shell tool"
    began = time.monotonic()
    killed = rbox.oc.ok("kill", "--task-id", task_id, "--grace", "3", "--json", timeout=60).json()
    assert time.monotonic() - began < 30
    assert killed["status"] == "killed"
    assert rbox.oc.status(task_id)["status"] == "killed"
    assert rbox.inspect(task_id)["State"]["Status"] == "exited", "the container is stopped"
    assert not [p for p in pids if pid_alive(p)], "every process of the container is gone"
    assert rbox.wait(task_id) == 5, "wait exits 5 for a killed task"


def test_timeout_stops_a_long_real_agent_run_in_its_container_and_fails_it(rbox: RealBox) -> None:
    meta, _ = rbox.start(rbox.agent.long, "--timeout", "3s")
    assert meta["timeout_s"] == 3
    code, done = rbox.final(meta["task_id"])
    assert done["status"] == "failed", done
    assert done["error"] == "timed out after 3s"
    assert done["exit_code"] == 124 and code == 4
    assert rbox.inspect(meta["task_id"])["State"]["Status"] == "exited"


def _sessions_in_the_container(rbox: RealBox) -> Callable[[dict[str, Any]], None]:
    """Keep the agent's sessions off the volumes: codex's CODEX_HOME is the default ~/.codex in
    the container, with only its config.toml mounted there (read-only). Gemini's ~/.gemini and
    OpenCode's ~/.local/share/opencode are in the image's /root already."""

    def adjust(ex: dict[str, Any]) -> None:
        if rbox.agent.name == "codex":
            del ex["env"]["CODEX_HOME"]
            ex["volumes"].append(f"{rbox.settings / 'codex' / 'config.toml'}:/root/.codex/config.toml:ro")

    return adjust


def test_resume_continues_the_real_agents_own_session_carried_from_the_parents_container(
    rbox: RealBox,
) -> None:
    server = rbox.agent.server([{"text": "first answer"}, {"text": "second answer"}]).start()
    rbox.servers.append(server)
    rbox.configure(server.base_url, _sessions_in_the_container(rbox))
    first = rbox.oc.start("Remember the word pelican.", "--executor", "box", "--workspace", "/work")
    code, first = rbox.final(first["task_id"])
    assert code == 0 and first["status"] == "completed", first
    result = rbox.oc.run(
        "resume",
        "--task-id",
        first["task_id"],
        "--prompt=Which word?",
        "--wait",
        "--json",
        timeout=RUN_TIMEOUT + 30,
    )
    assert result.code == 0, result.err
    child = result.json()
    assert child["status"] == "completed" and child["parent_id"] == first["task_id"], child
    assert child["host"] != first["host"], "a container of its own"
    session = child["session_id"] or ""
    assert session and session in child["command"], child["command"]
    if rbox.agent.name != "claude":  # claude forks the session under the child's own id
        assert session in rbox.oc.ok("logs", "--task-id", first["task_id"], "--raw").out, (
            "the child continues the parent's session"
        )
    history = json.dumps(server.main_requests[-1]["body"])
    assert "pelican" in history and "Which word?" in history, "the model got the whole conversation"
    assert child["result"]["text"] == "second answer", child["result"]


# ----------------------------------------------------------- reading the agents' output
# Found as bugs by these tests and fixed; about reading output, not the runtime: podman only.


def _completed(rbox: RealBox, script: list[dict[str, Any]]) -> dict[str, Any]:
    meta, _ = rbox.start(script)
    code, done = rbox.final(meta["task_id"])
    if code != 0 or done["status"] != "completed":
        raise RuntimeError(f"the run did not complete: {done}")
    return done


@pytest.mark.parametrize("runtime", ["podman"], indirect=True)
@pytest.mark.parametrize("agent", ["codex"], indirect=True)
def test_codex_result_text_is_its_last_agent_message(rbox: RealBox) -> None:
    done = _completed(rbox, [{"text": "The answer is 42."}])
    assert done["result"]["text"] == "The answer is 42."


@pytest.mark.parametrize("runtime", ["podman"], indirect=True)
@pytest.mark.parametrize("agent", ["opencode"], indirect=True)
def test_opencode_result_tokens_count_every_step_like_its_cost(rbox: RealBox) -> None:
    bash = {"name": "bash", "arguments": {"command": "true", "description": "Run true"}}
    done = _completed(rbox, [{"tool_call": bash}, {"text": "ok"}])
    if done["result"]["num_turns"] != 2:
        raise RuntimeError(f"expected two steps: {done['result']}")
    # The scripted server reports 10 prompt and 5 completion tokens per response.
    assert (done["result"]["input_tokens"], done["result"]["output_tokens"]) == (20, 10)
