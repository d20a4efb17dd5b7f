"""Test harness: the real console script in a temporary HOME, with the fake claude on PATH.

Every test gets its own HOME (so its own config, task records and Claude
transcripts). Tasks a test leaves running are killed at teardown through
``openclaw-agent kill``, i.e. by their recorded pid and process group, never
by name.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sshd_harness

REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"

#: A test that uses one of these starts a real engine (sshd, podman or the docker CLI, a real
#: agent CLI, a fresh Debian root): it is marked ``slow``. ``bash tests/run --fast`` leaves
#: those out (pytest -m 'not slow'); everything else runs against the fakes.
SLOW_FIXTURES = frozenset(
    {
        "sshd",
        "own_sshd",
        "runtime",
        "container_image",
        "podman_service",
        "rootfs",
        "real",
        "envs",
        "browser",
        "ray_cluster",
    }
)
#: Modules whose every test drives real engines.
SLOW_MODULES = frozenset({"test_start_faults", "test_real_claude", "test_fresh_install"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need a real engine ``slow`` (see :data:`SLOW_FIXTURES`)."""
    for item in items:
        module = getattr(item, "module", None)
        name = module.__name__ if module is not None else ""
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def console_script() -> str:
    """The installed ``openclaw-agent`` next to this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("openclaw-agent")
    if beside.exists():
        return str(beside)
    found = shutil.which("openclaw-agent")
    if not found:
        pytest.exit("openclaw-agent is not installed: run 'bash tests/run'", returncode=2)
    return found


@dataclass
class Result:
    """A finished CLI run."""

    args: list[str]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as one JSON document."""
        return json.loads(self.out)


@dataclass
class Env:
    """An isolated user: HOME, environment and helpers to run the CLI in it."""

    home: Path
    env: dict[str, str]
    record_dir: Path
    workspace: Path
    started: list[str] = field(default_factory=list)

    @property
    def tasks_dir(self) -> Path:
        return self.home / ".local" / "share" / "openclaw" / "tasks"

    @property
    def config_file(self) -> Path:
        return self.home / ".config" / "openclaw" / "coding-agent.yaml"

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        cwd: Path | None = None,
    ) -> Result:
        """Run ``openclaw-agent ARGS`` and capture its output (never raises on exit codes)."""
        full_env = dict(self.env, **(env or {}))
        proc = subprocess.run(
            [console_script(), *args],
            input=input if input is not None else b"",
            capture_output=True,
            env=full_env,
            timeout=timeout,
            cwd=cwd or self.workspace,
        )
        result = Result(list(args), proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        if args and args[0] == "start" and "--json" in args and result.out.strip():
            try:
                self.started.append(result.json()["task_id"])
            except (ValueError, KeyError):
                pass
        return result

    def ok(self, *args: str, **kwargs: Any) -> Result:
        """Like :meth:`run`, asserting exit code 0."""
        result = self.run(*args, **kwargs)
        assert result.code == 0, f"{args} exited {result.code}\nstdout: {result.out}\nstderr: {result.err}"
        return result

    def start(self, prompt: str = "#fake text hello", *args: str, **kwargs: Any) -> dict[str, Any]:
        """Start a task on the default executor and return its record."""
        result = self.ok("start", "--json", f"--prompt={prompt}", *args, **kwargs)
        meta: dict[str, Any] = result.json()
        return meta

    def status(self, task_id: str) -> dict[str, Any]:
        """The task's record as ``status --json`` reports it."""
        meta: dict[str, Any] = self.ok("status", "--task-id", task_id, "--json").json()
        return meta

    def wait_status(
        self, task_id: str, want: Callable[[str], bool] | str, timeout: float = 30
    ) -> dict[str, Any]:
        """Poll ``status`` until the task's status matches ``want``."""
        check = want if callable(want) else (lambda s: s == want)
        deadline = time.monotonic() + timeout
        meta = self.status(task_id)
        while not check(meta["status"]):
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} stayed {meta['status']}: {meta}")
            time.sleep(0.05)
            meta = self.status(task_id)
        return meta

    def recorded(self, task_id: str, suffix: str) -> bytes:
        """What the fake claude recorded for the task (``stdin``, ``argv.json``, ...)."""
        return (self.record_dir / f"{task_id}.{suffix}").read_bytes()

    def write_config(self, text: str) -> Path:
        """Write the default config file."""
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(text)
        return self.config_file


def default_signals() -> None:
    """``preexec_fn``: the child starts with the default signal dispositions.

    A test runner started under ``nohup`` (SIGHUP ignored) or as a background
    job of a non-interactive shell (SIGINT ignored) passes the ignore on to
    every child, and a test that signals its child must not depend on that.
    """
    import signal

    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


def wait_until(predicate: Callable[[], Any], timeout: float = 15, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def context_switches(pid: int) -> int:
    """The voluntary and involuntary context switches of every thread of ``pid`` so far (every
    wake of any of them counts)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue  # a thread that just ended
        total += sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches:" in line)
    return total


def blocked_command(oc: Env, *args: str) -> subprocess.Popen[bytes]:
    """``openclaw-agent ARGS`` running in the background, once it is blocked (no thread of it
    on a CPU) after starting up."""
    proc = subprocess.Popen(
        [console_script(), *args],
        env=oc.env,
        cwd=oc.workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def settled() -> bool:
        first = context_switches(proc.pid)
        time.sleep(0.3)
        return context_switches(proc.pid) - first <= 1

    wait_until(settled, 30)
    return proc


def watched_idle(oc: Env, command: tuple[str, ...], task_id: str, gate: Path, wakes: int = 1) -> bytes:
    """Run ``openclaw-agent COMMAND --task-id TASK_ID`` on a task that waits for ``gate``;
    assert that, once started up, it wakes at most ``wakes`` times in 1.5 s (the agent's own
    loop polls; its watcher must not); then create ``gate`` and return its stdout once it
    has exited 0 with the task."""
    watcher = blocked_command(oc, *command, "--task-id", task_id)
    try:
        before = context_switches(watcher.pid)
        time.sleep(1.5)
        assert context_switches(watcher.pid) - before <= wakes, "the watcher woke while the task was idle"
        gate.touch()
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, err.decode()
    return out


@pytest.fixture
def oc(tmp_path: Path) -> Iterator[Env]:
    """An isolated openclaw user with the fake claude first on PATH."""
    home = tmp_path / "home"
    home.mkdir()
    record = tmp_path / "record"
    record.mkdir()
    workspace = tmp_path / "ws"
    workspace.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "OPENCLAW_", "ANTHROPIC_", "CLAUDE", "FAKE_CLAUDE", "IS_SANDBOX"))
    }
    env.update(
        HOME=str(home),
        PATH=f"{FAKES}:{env.get('PATH', os.defpath)}",
        IS_SANDBOX="1",
        FAKE_CLAUDE_RECORD_DIR=str(record),
        NO_COLOR="1",
    )
    e = Env(home=home, env=env, record_dir=record, workspace=workspace)
    yield e
    # Stop whatever the test left running, by recorded pid/process group.
    if e.tasks_dir.is_dir():
        for task_id in os.listdir(e.tasks_dir):
            if len(task_id) == 36:
                e.run("kill", "--task-id", task_id, "--grace", "1", timeout=60)


# -- SSH: one login user, key and scratch directory per session (test_ssh_executor, test_fleet_ssh)
#: Where the SSH tests' remote roots and authorized_keys live (world-traversable for sshd).
SSH_SCRATCH = Path("/tmp/openclaw-ssh-tests")


@pytest.fixture(scope="session")
def login_user() -> pwd.struct_passwd:
    return sshd_harness.ensure_login_user()


@pytest.fixture(scope="session")
def session_dir(login_user: pwd.struct_passwd) -> Iterator[Path]:
    path = sshd_harness.scratch_dir(SSH_SCRATCH / uuid.uuid4().hex, login_user)
    yield path
    sshd_harness.remove_tree(path)


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sshd_harness.keygen(tmp_path_factory.mktemp("client") / "id_ed25519")


@pytest.fixture(scope="session")
def authorized(session_dir: Path, client_key: Path) -> Path:
    # sshd reads it as the login user: it lives in a world-readable place.
    path = session_dir / "authorized_keys"
    path.write_text(client_key.with_suffix(".pub").read_text())
    path.chmod(0o644)
    return path


@pytest.fixture(scope="session")
def sshd(session_dir: Path, authorized: Path) -> Iterator[sshd_harness.Sshd]:
    """One real sshd on loopback for the whole session (the SSH executor's tests share it)."""
    with sshd_harness.Sshd(session_dir / "sshd-main", authorized) as server:
        yield server
