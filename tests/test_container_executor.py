"""The container executor end to end, against real engines: podman, and the docker CLI
talking to ``podman system service``. Every test that takes ``box`` runs once per runtime.

The image is the offline test image of container_harness.py (busybox-static,
python, the faithful fake claude). Each test's containers are removed by name
at teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import container_harness
import pytest
from agent_views import (
    completes_streaming,
    fails_and_wait_exits_4,
    killed_view_says_who,
    raw_is_the_agents_own,
)
from conftest import Env, console_script, default_signals, wait_until
from container_harness import Runtime

from openclaw.errors import StartError, UsageError
from openclaw.executors.container import (
    ContainerExecutor,
    LogFollower,
    container_name,
    env_file_text,
    observation_from_state,
    volume_args,
)
from openclaw.states import parse_time

# The harness's session fixtures, made visible to this module.
containers_conf = container_harness.containers_conf
container_image = container_harness.container_image
podman_service = container_harness.podman_service
runtime = container_harness.runtime

LINE_ERROR = "openclaw-agent: error: "


@dataclass
class Box:
    """An isolated openclaw user whose executor ``box`` is a container on one runtime."""

    oc: Env
    rt: Runtime
    #: Host directory mounted at /work (the workspace).
    ws: Path
    #: Host directory mounted at /record (where the fake claude records argv, stdin, env).
    record: Path
    #: Where the runtime wrapper logs each call's argv (see :meth:`spy`).
    calls: Path
    options: dict[str, Any] = field(default_factory=dict)

    def configure(self, **options: Any) -> None:
        """Write the config: executor ``box`` with the test image and the given keys."""
        ex: dict[str, Any] = {
            "name": "box",
            "type": "container",
            "image": self.rt.image,
            "runtime": self.rt.name,
            "volumes": [f"{self.ws}:/work", f"{self.record}:/record"],
            "env": {"FAKE_CLAUDE_RECORD_DIR": "/record"},
            "labels": ["sandbox"],
        }
        for key, value in options.items():
            if value is None:
                ex.pop(key, None)
            else:
                ex[key] = value
        self.options = ex
        self.oc.write_config(json.dumps({"executors": [ex]}))  # JSON is YAML

    def start(self, prompt: str, *args: str, **kwargs: Any) -> dict[str, Any]:
        """``start --executor box --workspace /work`` and return the record."""
        if "--workspace" not in args:
            args = (*args, "--workspace", "/work")
        return self.oc.start(prompt, "--executor", "box", *args, **kwargs)

    def inspect(self, task_id: str) -> dict[str, Any]:
        """The container's ``inspect`` entry, through the runtime under test."""
        out = self.rt.run("inspect", "--type", "container", container_name(task_id)).stdout
        entry: dict[str, Any] = json.loads(out)[0]
        return entry

    def exists(self, task_id: str) -> bool:
        """Whether the task's container still exists."""
        return self.rt.run("inspect", container_name(task_id), check=False).returncode == 0

    def spy(self) -> None:
        """Put a wrapper of the runtime binary first on PATH that logs every call's argv."""
        bindir = self.calls.parent / "spybin"
        bindir.mkdir(exist_ok=True)
        real = shutil.which(self.rt.name)
        wrapper = bindir / self.rt.name
        wrapper.write_text(
            "#!/bin/sh\n"
            f"f={self.calls}/$(date +%s%N)-$$\n"
            'for a in "$@"; do printf \'%s\\0\' "$a"; done >"$f.tmp" && mv "$f.tmp" "$f"\n'
            f'exec {real} "$@"\n'
        )
        wrapper.chmod(0o755)
        self.oc.env["PATH"] = f"{bindir}:{self.oc.env['PATH']}"

    def logged_calls(self) -> list[list[str]]:
        """The argv of every runtime call logged so far, oldest first."""
        out = []
        for f in sorted(self.calls.iterdir(), key=lambda p: (len(p.name), p.name)):
            if not f.name.endswith(".tmp"):
                out.append(f.read_bytes().decode().split("\0")[:-1])
        return out

    def clear_calls(self) -> None:
        for f in self.calls.iterdir():
            f.unlink()


@pytest.fixture
def box(oc: Env, runtime: Runtime, tmp_path: Path) -> Iterator[Box]:
    """``oc`` with executor ``box`` configured on ``runtime``; removes the test's containers after."""
    ws = tmp_path / "cws"
    record = tmp_path / "crecord"
    calls = tmp_path / "calls"
    for d in (ws, record, calls):
        d.mkdir()
        d.chmod(0o777)
    oc.env.update(runtime.env)
    b = Box(oc=oc, rt=runtime, ws=ws, record=record, calls=calls)
    b.configure()
    yield b
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


def container_pids(task_pid: int) -> list[int]:
    """Host pids of every process in the same pid namespace as ``task_pid``."""
    ns = os.readlink(f"/proc/{task_pid}/ns/pid")
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == ns:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def strings(obj: Any) -> Iterator[str]:
    """Every string anywhere in a JSON document."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert lines[0].startswith(LINE_ERROR) and " — " in lines[0], lines[0]
    assert "Traceback" not in err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"


def only_record(box: Box) -> dict[str, Any]:
    (task_id,) = [n for n in os.listdir(box.oc.tasks_dir) if len(n) == 36]
    meta: dict[str, Any] = json.loads((box.oc.tasks_dir / task_id / ".meta.json").read_text())
    return meta


# -------------------------------------------------------------------------------- start


def test_start_runs_claude_in_a_labelled_container_that_is_kept_after_it_completes(box: Box) -> None:
    began = time.monotonic()
    meta = box.start("#fake sleep 2\n#fake write made.txt hello\n#fake text all done")
    assert time.monotonic() - began < 10, "start must not wait for the agent"
    task_id = meta["task_id"]
    assert meta["status"] == "running" and meta["executor_type"] == "container"
    assert meta["host"] == f"openclaw-{task_id}" and meta["labels"] == ["sandbox"]
    info = box.inspect(task_id)
    assert info["Config"]["Labels"]["openclaw.task-id"] == task_id
    assert info["Config"]["Labels"]["openclaw.executor"] == "box"
    assert "IS_SANDBOX=1" in info["Config"]["Env"], "a container is a sandbox: IS_SANDBOX=1"
    done = box.oc.wait_status(task_id, "completed", timeout=60)
    assert done["exit_code"] == 0 and done["error"] is None
    assert done["result"]["text"] == "all done" and done["result"]["num_turns"] >= 3
    # It ran as root in /work (a mounted volume) and really worked there.
    assert (box.ws / "made.txt").read_text() == "hello"
    assert (box.record / f"{task_id}.cwd").read_text() == "/work"
    # Not auto-removed: the exit status stays readable until cleanup.
    assert box.exists(task_id)
    assert box.inspect(task_id)["State"]["ExitCode"] == 0
    assert done["transcript"] == f"/root/.claude/projects/-work/{task_id}.jsonl"


def test_agent_command_line_matches_the_contract_and_workspace_defaults_to_home(box: Box) -> None:
    meta = box.oc.start("#fake text hi", "--executor", "box", "--max-turns", "4")
    task_id = meta["task_id"]
    assert (
        meta["workspace"] == "/root" and meta["transcript"] == f"/root/.claude/projects/-root/{task_id}.jsonl"
    )
    box.oc.wait_status(task_id, "completed", timeout=60)
    argv = json.loads((box.record / f"{task_id}.argv.json").read_text())
    assert argv[1:] == [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
        "--max-turns",
        "4",
        "--session-id",
        task_id,
    ]
    assert (box.record / f"{task_id}.cwd").read_text() == "/root"


HOSTILE = [
    "it's \"quoted\" and 'single' $(touch /tmp/pwned) `touch /tmp/pwned2` ${HOME}",
    "line one\nline two\n\n  indented\ttab\r\nwindows\n",
    "-p --version --dangerously-skip-permissions",
    "ünïcödé ✓ 日本語 🚀 ; rm -rf / ; && || | > < & * ? [ ] ~ !",
]


def test_hostile_prompts_reach_claude_byte_exact_and_never_argv_or_inspect(box: Box) -> None:
    box.spy()
    metas = [box.start(p) for p in HOSTILE]
    big = ("x$(y)`z`'\"\n" * 60_000).encode() + "ü".encode()
    (box.oc.workspace / "big.md").write_bytes(big)
    metas.append(
        box.oc.ok(
            "start", "--json", "--executor", "box", "--workspace", "/work", "--prompt-file", "big.md"
        ).json()
    )
    for meta, prompt in zip(metas, [p.encode() for p in HOSTILE] + [big], strict=True):
        task_id = meta["task_id"]
        box.oc.wait_status(task_id, "completed", timeout=60)
        assert (box.record / f"{task_id}.stdin").read_bytes() == prompt
        staged = box.oc.tasks_dir / task_id / "container" / "prompt"
        assert stat.S_IMODE(staged.stat().st_mode) == 0o600
        probe = prompt.decode().strip()[:20]
        assert not any(probe in s for s in strings(box.inspect(task_id)))
        argv = json.loads((box.record / f"{task_id}.argv.json").read_text())
        assert not any(probe in a for a in argv)
    runs = [c for c in box.logged_calls() if c[0] == "run"]
    assert len(runs) == len(metas) and all(c[:2] == ["run", "-d"] for c in runs)
    for call in box.logged_calls():
        for prompt in [*HOSTILE, big.decode()[:30]]:
            assert not any(prompt.strip()[:20] in a for a in call)


def test_secrets_reach_the_agent_but_never_argv_inspect_meta_or_logs(box: Box) -> None:
    secret = "s3cr3t-'quoted' $(value) \"x\"\nnext-line"
    passed = "passed-val-9f2c"
    box.configure(
        env={
            "FAKE_CLAUDE_RECORD_DIR": "/record",
            "FAKE_CLAUDE_RECORD_ENV": "MY_SECRET,PASSED_TOKEN",
            "MY_SECRET": secret,
        },
        pass_env=["PASSED_TOKEN"],
    )
    box.spy()
    meta = box.start("#fake text hi", env={"PASSED_TOKEN": passed})
    task_id = meta["task_id"]
    box.oc.wait_status(task_id, "completed", timeout=60)
    got = json.loads((box.record / f"{task_id}.env.json").read_text())
    assert got == {"MY_SECRET": secret, "PASSED_TOKEN": passed}
    needles = [passed, "s3cr3t"]
    inspected = box.rt.run("inspect", container_name(task_id)).stdout
    meta_text = (box.oc.tasks_dir / task_id / ".meta.json").read_text()
    logs = (
        box.oc.ok("logs", "--task-id", task_id, "--raw").out
        + box.rt.run("logs", container_name(task_id)).stdout
    )
    for needle in needles:
        assert needle not in inspected
        assert needle not in meta_text
        assert needle not in logs
        for call in box.logged_calls():
            assert not any(needle in a for a in call), call
    assert sorted(json.loads(meta_text)["env_names"]) == [
        "FAKE_CLAUDE_RECORD_DIR",
        "FAKE_CLAUDE_RECORD_ENV",
        "MY_SECRET",
        "PASSED_TOKEN",
    ]
    env_file = box.oc.tasks_dir / task_id / "container" / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_network_user_and_extra_args_reach_the_container(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    box.configure(
        network="none", user="1000:1000", extra_args=["--label", "extra=yes", "--hostname", "boxhost"]
    )
    meta = box.start("#fake sleep 1\n#fake bash id -u >uid; hostname >host\n#fake text ok")
    task_id = meta["task_id"]
    assert meta["transcript"] == f"/home/agent/.claude/projects/-work/{task_id}.jsonl"
    box.oc.wait_status(task_id, "completed", timeout=60)
    assert (box.ws / "uid").read_text().strip() == "1000"
    assert (box.ws / "host").read_text().strip() == "boxhost"
    info = box.inspect(task_id)
    assert info["Config"]["Labels"]["extra"] == "yes"
    assert info["HostConfig"]["NetworkMode"] == "none"
    assert info["Config"]["User"] == "1000:1000"
    data, _ = executor_for(box, monkeypatch).read_path(
        dict(meta, host=container_name(task_id)), meta["transcript"], 0
    )
    assert task_id.encode() in data


# ------------------------------------------------------------------------------ status


def test_exit_codes_and_failures_are_recorded_from_inspect(box: Box) -> None:
    exit3 = box.start("#fake text partial\n#fake exit 3")
    api = box.start("#fake api-error 400 bad request body")
    turns = box.start("#fake turns 5", "--max-turns", "2")
    lost_ws = box.start("#fake text hi", "--workspace", "/no/such/dir")
    m = box.oc.wait_status(exit3["task_id"], "failed", timeout=60)
    assert m["exit_code"] == 3 and "exited with code 3" in m["error"]
    m = box.oc.wait_status(api["task_id"], "failed", timeout=60)
    assert m["exit_code"] == 1 and "API Error: 400" in m["error"]
    m = box.oc.wait_status(turns["task_id"], "failed", timeout=60)
    assert m["error"] == "error_max_turns" and m["result"]["subtype"] == "error_max_turns"
    m = box.oc.wait_status(lost_ws["task_id"], "failed", timeout=60)
    assert m["exit_code"] == 127 and "workspace not found" in m["error"] and "/no/such/dir" in m["error"]


def test_finished_at_is_when_the_container_exited_not_when_someone_next_looked(box: Box) -> None:
    meta = box.start("#fake text quick")
    task_id = meta["task_id"]
    wait_until(lambda: box.inspect(task_id)["State"]["Status"] == "exited", timeout=60)
    seen_exited = time.time()  # the runtime says it has exited: it did by now
    time.sleep(2)  # nobody looks for a while
    done = box.oc.status(task_id)
    assert done["status"] == "completed"
    exited = parse_time(done["finished_at"]).timestamp()
    # The fake recorded its prompt (on the host, through /record) before it exited.
    prompt_read = os.stat(box.record / f"{task_id}.stdin").st_mtime
    assert prompt_read - 0.01 < exited <= seen_exited
    assert done["finished_at"] >= done["started_at"]


def test_memory_limit_kill_is_noted_as_oom(box: Box) -> None:
    box.configure(
        claude_path="/usr/local/bin/memory-hog", extra_args=["--memory", "64m", "--memory-swap", "64m"]
    )
    meta = box.start("eat")
    m = box.oc.wait_status(meta["task_id"], "failed", timeout=90)
    assert m["exit_code"] == 137
    assert "out of memory" in m["error"] and "oom" in m["error"].lower()


def test_container_removed_behind_our_back_is_lost(box: Box) -> None:
    meta = box.start("#fake sleep 60")
    box.rt.run("rm", "-f", container_name(meta["task_id"]))
    m = box.oc.wait_status(meta["task_id"], "lost", timeout=30)
    assert "gone" in m["error"]


def test_list_and_dashboard_use_one_runtime_call_for_all_containers(box: Box) -> None:
    metas = [box.start(f"#fake sleep 6\n#fake text t{i}") for i in range(3)]
    box.spy()
    box.oc.ok("list")
    calls = box.logged_calls()
    assert len(calls) == 1 and calls[0][0] == "inspect", calls
    assert sorted(calls[0][3:]) == sorted(container_name(m["task_id"]) for m in metas)
    box.clear_calls()
    box.oc.ok("dashboard")
    assert [c[0] for c in box.logged_calls()] == ["inspect"]
    for m in metas:
        wait_until(lambda m=m: box.inspect(m["task_id"])["State"]["Status"] == "exited", timeout=60)
    box.clear_calls()
    listed = box.oc.ok("list", "--json").json()
    assert {t["status"] for t in listed} == {"completed"}
    # One inspect for all; then each exited container's output tail is read once, for its result.
    assert [c[0] for c in box.logged_calls()] == ["inspect", "logs", "logs", "logs"]
    box.clear_calls()
    box.oc.ok("list")
    assert box.logged_calls() == [], "final tasks are never observed again"


@pytest.mark.parametrize("command", [("wait",), ("logs", "--follow")])
def test_watching_a_container_task_blocks_in_one_runtime_stream_not_inspect_polling(
    box: Box, command: tuple[str, ...]
) -> None:
    meta = box.start("#fake sleep 5\n#fake text done")
    box.spy()
    out = box.oc.ok(*command, "--task-id", meta["task_id"], timeout=60).out
    calls = box.logged_calls()
    names = [c[0] for c in calls]
    follows = [i for i, c in enumerate(calls) if c[:2] == ["logs", "--follow"]]
    if command[0] == "wait":
        assert names.count("wait") == 1 and not follows, calls
        blocked = names.index("wait")
    else:
        # The logs stream --follow reads is its signal of the end too: no runtime wait beside it.
        assert "wait" not in names and len(follows) == 1, calls
        blocked = follows[0]
        assert "done" in out
    # While that stream blocks, nothing asks the runtime: once the container ended, one look,
    # and (--follow) one check that its logs stream ended with it; a poll every second, or
    # every 2 s backing off, made 3-6 over the 5 s.
    assert names[blocked + 1 :].count("inspect") <= 2, calls
    assert box.oc.status(meta["task_id"])["status"] == "completed"


def test_missing_runtime_binary_shows_unknown_and_keeps_the_record(box: Box) -> None:
    meta = box.start("#fake sleep 4\n#fake text back")
    task_id = meta["task_id"]
    before = (box.oc.tasks_dir / task_id / ".meta.json").read_bytes()
    bare = box.calls.parent / "emptybin"
    bare.mkdir()
    seen = box.oc.ok("status", "--task-id", task_id, "--json", env={"PATH": str(bare)}).json()
    assert seen["status"] == "unknown" and seen["recorded_status"] == "running"
    assert f"{box.rt.name!r} not found" in seen["status_reason"]
    listed = box.oc.ok("list", env={"PATH": str(bare)}).out
    assert "unknown" in listed
    assert (box.oc.tasks_dir / task_id / ".meta.json").read_bytes() == before
    assert box.oc.wait_status(task_id, "completed", timeout=60)["result"]["text"] == "back"


def test_docker_daemon_unreachable_shows_unknown_never_failed(
    oc: Env, containers_conf: Path, container_image: str, podman_service: str, tmp_path: Path
) -> None:
    rt = Runtime(
        "docker", {"CONTAINERS_CONF": str(containers_conf), "DOCKER_HOST": podman_service}, container_image
    )
    oc.env.update(rt.env)
    ws = tmp_path / "w"
    ws.mkdir()
    oc.write_config(
        json.dumps(
            {"executors": [{"name": "box", "type": "container", "image": rt.image, "runtime": "docker"}]}
        )
    )
    meta = oc.start("#fake sleep 3\n#fake text ok", "--executor", "box")
    task_id = meta["task_id"]
    try:
        down = {"DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"}
        seen = oc.ok("status", "--task-id", task_id, "--json", env=down).json()
        assert seen["status"] == "unknown" and seen["recorded_status"] == "running"
        assert "Cannot connect to the Docker daemon" in seen["status_reason"]
        assert json.loads((oc.tasks_dir / task_id / ".meta.json").read_text())["status"] == "running"
        refused = oc.run("start", "--executor", "box", "--prompt", "hi", env=down)
        assert refused.code == 1
        assert_one_line_error(refused.err, "Cannot connect to the Docker daemon", "DOCKER_HOST")
        failed = oc.ok("list", "--json", "--status", "failed").json()
        assert len(failed) == 1 and "Cannot connect" in failed[0]["error"]
        killed = oc.run("kill", "--task-id", task_id, env=down)
        assert killed.code == 1
        assert_one_line_error(killed.err, "cannot stop")
        assert oc.wait_status(task_id, "completed", timeout=60)["result"]["text"] == "ok"
    finally:
        rt.run("rm", "-f", container_name(task_id), check=False)
        shutil.rmtree(oc.tasks_dir)


# -------------------------------------------------------------------------------- logs


def test_logs_tail_stdout_and_stderr_and_follow_until_the_end(box: Box) -> None:
    meta = box.start("#fake stderr warn-on-stderr\n#fake sleep 2\n#fake text finished")
    task_id = meta["task_id"]
    followed = box.oc.ok("logs", "--task-id", task_id, "--raw", "--lines", "1", "--follow=0.2", timeout=90)
    events = [json.loads(ln) for ln in followed.out.splitlines() if ln.strip()]
    assert events[-1]["type"] == "result" and events[-1]["result"] == "finished"
    assert box.oc.status(task_id)["status"] == "completed"
    last = box.oc.ok("logs", "--task-id", task_id, "--raw", "--lines", "2").out.splitlines()
    assert len(last) == 2 and json.loads(last[-1])["type"] == "result"
    # The container's stdout is exactly what logs shows.
    assert box.rt.run("logs", container_name(task_id)).stdout.splitlines()[-2:] == last
    err = box.oc.ok("logs", "--task-id", task_id, "--stderr", "--lines", "5").out
    assert "warn-on-stderr" in err and "finished" not in err


def runtime_follows(name: str) -> list[int]:
    """Pids of the ``<runtime> logs --follow NAME`` processes now running (read from /proc)."""
    needle = b"\0logs\0--follow\0" + name.encode() + b"\0"
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and needle in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_follow_reads_through_one_runtime_follow_not_a_logs_call_per_poll(box: Box) -> None:
    meta = box.start("#fake sleep 3\n#fake text finished")
    box.spy()
    followed = box.oc.ok("logs", "--task-id", meta["task_id"], "--raw", "--follow=0.1", timeout=90)
    assert json.loads(followed.out.splitlines()[-1])["result"] == "finished"
    calls = box.logged_calls()
    follows = [c for c in calls if c[:2] == ["logs", "--follow"]]
    others = [c for c in calls if c[0] == "logs" and c[:2] != ["logs", "--follow"]]
    inspects = [c for c in calls if c[0] == "inspect"]
    # ~30 polls over the 3 s sleep: one runtime follow carries them all. The one-off
    # reads: the opening tail (and the whole log when it is shorter than asked), the
    # size to follow from, and the result once the container exited. Status is asked
    # once a second.
    assert len(follows) == 1, calls
    assert len(others) <= 4, others
    assert len(inspects) <= 8, inspects


def test_ctrl_c_on_follow_stops_the_runtime_follow_it_started(box: Box) -> None:
    meta = box.start("#fake sleep 60")
    name = container_name(meta["task_id"])
    proc = subprocess.Popen(
        [console_script(), "logs", "--task-id", meta["task_id"], "--follow=0.1"],
        preexec_fn=default_signals,
        env=box.oc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_until(lambda: runtime_follows(name), timeout=30)
        proc.send_signal(signal.SIGINT)  # to the CLI alone, not its process group
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"Traceback" not in err
    assert wait_until(lambda: not runtime_follows(name), timeout=10), "the runtime follow outlived the CLI"
    assert box.oc.status(meta["task_id"])["status"] == "running"


def test_transcript_is_read_inside_the_container_while_it_exists(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = box.start("#fake sleep 1\n#fake text in transcript")
    task_id = meta["task_id"]
    box.oc.wait_status(task_id, "completed", timeout=60)
    executor = executor_for(box, monkeypatch)
    data, offset = executor.read_path(meta, meta["transcript"], 0)
    lines = [json.loads(ln) for ln in data.splitlines()]
    assert {ln.get("sessionId") for ln in lines if "sessionId" in ln} == {task_id}
    assert offset == len(data)
    assert executor.read_path(meta, meta["transcript"], offset) == (b"", offset)
    assert executor.read_path(meta, "/root/no-such-file.jsonl", 0) == (b"", 0)
    raw = box.oc.ok("logs", "--task-id", task_id, "--source", "transcript", "--raw", "--lines", "100").out
    assert raw.encode().splitlines() == data.splitlines()
    box.oc.ok("cleanup", "--task-id", task_id)
    with pytest.raises(Exception, match="gone"):
        executor.read_path(meta, meta["transcript"], 0)


def executor_for(box: Box, monkeypatch: pytest.MonkeyPatch) -> ContainerExecutor:
    """A ContainerExecutor in this process, with the runtime's environment."""
    from openclaw.config import ExecutorConfig
    from openclaw.records import TaskStore

    for name, value in box.rt.env.items():
        monkeypatch.setenv(name, value)
    options = {k: v for k, v in box.options.items() if k not in ("name", "type", "env")}
    cfg = ExecutorConfig(name="box", type="container", claude_path="claude", max_turns=5, options=options)
    return ContainerExecutor(cfg, TaskStore(box.oc.tasks_dir))


# ------------------------------------------------------------------------ kill, cleanup


def test_transcript_follow_copies_the_file_out_ever_less_often_while_it_does_not_grow(box: Box) -> None:
    meta = box.start("#fake sleep 4\n#fake text all done")
    box.spy()
    followed = box.oc.ok(
        "logs", "--task-id", meta["task_id"], "--source", "transcript", "--raw", "--follow=0.1", timeout=90
    )
    assert "all done" in followed.out
    copies = [c for c in box.logged_calls() if c[0] == "cp"]
    # ~40 polls over the 4 s sleep; a copy every 0.2 s backing off to every 2 s makes ~6.
    assert len(copies) <= 12, len(copies)


def test_resume_carries_the_session_into_the_new_container(box: Box) -> None:
    first = box.start("#fake text remember 42")
    box.oc.wait_status(first["task_id"], "completed", timeout=60)
    second = box.oc.ok(
        "resume", "--task-id", first["task_id"], "--prompt", "#fake text what was it?", "--json"
    ).json()
    assert second["parent_id"] == first["task_id"] and second["workspace"] == first["workspace"]
    done = box.oc.wait_status(second["task_id"], "completed", timeout=60)
    assert done["result"]["text"] == "what was it?"
    shown = box.oc.ok(
        "logs", "--task-id", second["task_id"], "--source", "transcript", "--raw", "--lines", "500"
    )
    assert "remember 42" in shown.out, "the fork carries the earlier conversation"
    # The session lives in the parent's container: without it there is nothing to resume.
    box.rt.run("rm", "-f", container_name(first["task_id"]))
    gone = box.oc.run("resume", "--task-id", first["task_id"], "--prompt", "#fake text again")
    assert gone.code == 1
    assert_one_line_error(gone.err, "cannot resume", "before cleaning it up")


def test_kill_stops_the_container_and_its_whole_process_tree(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = box.start("#fake detached-child 120\n#fake sleep 120")
    task_id = meta["task_id"]
    wait_until(lambda: (box.record / f"{task_id}.tool-pids").exists(), timeout=60)
    wait_until(lambda: len((box.record / f"{task_id}.tool-pids").read_text().split()) >= 2, timeout=60)
    # The transcript is readable inside the running container.
    transcript, _ = executor_for(box, monkeypatch).read_path(meta, meta["transcript"], 0)
    assert json.loads(transcript.splitlines()[0])["sessionId"] == task_id
    pid1 = box.inspect(task_id)["State"]["Pid"]
    pids = container_pids(pid1)
    assert len(pids) >= 4, "entry sh, claude, the tool and its detached child"
    began = time.monotonic()
    killed = box.oc.ok("kill", "--task-id", task_id, "--grace", "3", "--json").json()
    assert time.monotonic() - began < 30
    assert killed["status"] == "killed"
    assert box.oc.status(task_id)["status"] == "killed"
    assert not [p for p in pids if pid_alive(p)], "every process of the container is gone"
    assert box.inspect(task_id)["State"]["Status"] == "exited"
    # Killing again changes nothing.
    assert box.oc.ok("kill", "--task-id", task_id, "--json").json()["status"] == "killed"


def test_cleanup_removes_the_container_its_anonymous_volumes_and_the_record(box: Box) -> None:
    box.configure(volumes=[f"{box.ws}:/work", f"{box.record}:/record", "/scratch"])
    meta = box.start("#fake bash echo data >/scratch/f\n#fake text ok")
    task_id = meta["task_id"]
    box.oc.wait_status(task_id, "completed", timeout=60)
    mounts = box.inspect(task_id)["Mounts"]
    (volume,) = [m["Name"] for m in mounts if m["Type"] == "volume"]
    assert box.rt.run("volume", "inspect", volume, check=False).returncode == 0
    box.oc.ok("cleanup", "--task-id", task_id)
    assert not box.exists(task_id)
    assert box.rt.run("volume", "inspect", volume, check=False).returncode != 0
    assert not (box.oc.tasks_dir / task_id).exists()
    # A running task needs --force: it is killed, then removed.
    running = box.start("#fake sleep 60")
    refused = box.oc.run("cleanup", "--task-id", running["task_id"])
    assert refused.code == 2 and box.exists(running["task_id"])
    box.oc.ok("cleanup", "--task-id", running["task_id"], "--force")
    assert not box.exists(running["task_id"])


# -------------------------------------------------------------------------------- errors


def test_missing_runtime_binary_is_a_one_line_start_error_with_a_failed_record(box: Box) -> None:
    bare = box.calls.parent / "emptybin"
    bare.mkdir(exist_ok=True)
    result = box.oc.run(
        "start", "--executor", "box", "--prompt", "hi", "--workspace", "/work", env={"PATH": str(bare)}
    )
    assert result.code == 1
    assert_one_line_error(result.err, f"{box.rt.name!r} not found", "install")
    meta = only_record(box)
    assert meta["status"] == "failed" and "not found" in meta["error"]


def test_missing_image_says_how_to_build_or_pull_it(box: Box) -> None:
    box.configure(image="localhost/openclaw-no-such-image:nope")
    result = box.oc.run("start", "--executor", "box", "--prompt", "hi", "--workspace", "/work")
    assert result.code == 1
    assert_one_line_error(
        result.err, "not found", "build", f"{box.rt.name} pull localhost/openclaw-no-such-image:nope"
    )
    meta = only_record(box)
    assert meta["status"] == "failed" and "build" in meta["error"]
    assert not box.exists(meta["task_id"])


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("relative/dir:/work", "neither an absolute host path nor a volume name"),
        ("/tmp:work", "not an absolute container path"),
        ("/no/such/host/dir:/work", "does not exist"),
        ("/tmp:/a:ro:extra", "too many"),
    ],
)
def test_bad_volume_spec_is_a_one_line_start_error(box: Box, spec: str, needle: str) -> None:
    box.configure(volumes=[spec])
    result = box.oc.run("start", "--executor", "box", "--prompt", "hi", "--workspace", "/work")
    assert result.code == 1
    assert_one_line_error(result.err, "bad volume spec", needle)
    meta = only_record(box)
    assert meta["status"] == "failed" and needle in meta["error"]
    assert not box.exists(meta["task_id"])


def test_runtime_error_is_a_one_line_start_error_and_leaves_no_container(box: Box) -> None:
    box.configure(extra_args=["--bogus-flag"])
    result = box.oc.run("start", "--executor", "box", "--prompt", "hi", "--workspace", "/work")
    assert result.code == 1
    assert_one_line_error(result.err, "could not start the container", "bogus")
    meta = only_record(box)
    assert meta["status"] == "failed"
    assert not box.exists(meta["task_id"])


def test_relative_workspace_is_a_usage_error(box: Box) -> None:
    result = box.oc.run("start", "--executor", "box", "--prompt", "hi", "--workspace", "rel/dir")
    assert result.code == 2
    assert_one_line_error(result.err, "not an absolute path", "inside the container")


# ------------------------------------------------------------------- pure functions (no engine)


def test_env_file_quotes_every_value_so_sh_reads_it_back_exactly(tmp_path: Path) -> None:
    env = {"A": 'it\'s $(x) `y` "z"\nline2', "B": "", "C": "'"}
    f = tmp_path / "env"
    f.write_text(env_file_text(env))
    out = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; printf "%s\\0" "$A" "$B" "$C"', "sh", str(f)],
        capture_output=True,
        check=True,
    ).stdout
    assert out.split(b"\0")[:-1] == [v.encode() for v in env.values()]


def test_volume_specs_are_checked_before_the_runtime_sees_them(tmp_path: Path) -> None:
    assert volume_args([f"{tmp_path}:/w:ro", "named_vol:/data", "/anon"], "x") == [
        "-v",
        f"{tmp_path}:/w:ro",
        "-v",
        "named_vol:/data",
        "-v",
        "/anon",
    ]
    for bad in ("a b:/x", "/x:/y:ro;rm", ":/x"):
        with pytest.raises(StartError, match="bad volume spec"):
            volume_args([bad], "x")


def test_oom_killed_state_is_noted_in_the_reason() -> None:
    obs = observation_from_state({"State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True}}, None)
    assert obs.alive is False and obs.exit_code == 137 and "OOM-killed" in (obs.reason or "")
    assert observation_from_state({"State": {"Status": "running"}}, None).alive is True


def test_workspace_must_be_a_container_path() -> None:
    from openclaw.config import ExecutorConfig
    from openclaw.records import TaskStore

    cfg = ExecutorConfig(
        name="b", type="container", claude_path="claude", max_turns=1, options={"image": "i"}
    )
    ex = ContainerExecutor(cfg, TaskStore(Path("/nonexistent")))
    assert ex.normalize_workspace(None) == "~"
    assert ex.normalize_workspace("/work//x/../y/") == "/work/y"
    assert ex.normalize_workspace("~/src/") == "~/src"
    with pytest.raises(UsageError):
        ex.normalize_workspace("work")


def test_log_follower_keeps_one_stream_from_any_offset_and_drains_to_the_end() -> None:
    # A stand-in for `<runtime> logs --follow`: both streams, a pause, a partial last line.
    script = "printf 'a\\n'; printf 'e1\\n' >&2; sleep 0.3; printf 'bc\\nd'; printf 'e2' >&2"
    proc = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    follower = LogFollower(proc, "stdout")
    try:

        def first_line_after_offset_1() -> bool:
            follower.pump()
            return follower.read_from(1)[0] == b"\n"

        assert wait_until(first_line_after_offset_1, timeout=10)
        assert follower.read_from(2) == (b"", 2)  # nothing new yet
        follower.pump(timeout=10)  # waits until the process has written everything
        assert follower.ended and proc.returncode == 0
        assert follower.read_from(2) == (b"bc\nd", 6)
        assert follower.read_from(6) == (b"", 6)
    finally:
        follower.close()
    # Bytes before the offset asked for are dropped as they arrive, not held.
    skipping = LogFollower(
        subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE), "stdout"
    )
    skipping.pump(timeout=10, skip_to=4)
    assert skipping.held == 2
    assert skipping.read_from(4) == (b"\nd", 6)
    skipping.close()
    errs = LogFollower(
        subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE), "stderr"
    )
    errs.pump(timeout=10)
    assert errs.read_from(0) == (b"e1\ne2", 5)
    errs.close()


def test_transcript_copies_are_skipped_only_when_the_caller_has_all_of_the_last_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openclaw.config import ExecutorConfig
    from openclaw.records import TaskStore

    cfg = ExecutorConfig(
        name="b", type="container", claude_path="claude", max_turns=1, options={"image": "i"}
    )
    ex = ContainerExecutor(cfg, TaskStore(Path("/nonexistent")))
    content = [b"line one\n"]
    copies: list[int] = []

    def copy_out(meta: dict[str, Any], path: str) -> bytes:  # stands in for '<runtime> cp'
        copies.append(1)
        return content[0]

    monkeypatch.setattr(ex, "_copy_out", copy_out)
    meta = {"task_id": "t", "status": "running", "host": "c"}
    assert ex.read_path(meta, "/t.jsonl", 0) == (b"line one\n", 9)  # a tail
    assert ex.read_path(meta, "/t.jsonl", 0) == (b"line one\n", 9), "a follow from 0 right after it"
    assert ex.read_path(meta, "/t.jsonl", 9) == (b"", 9) and len(copies) == 2  # has it all: skipped
    content[0] += b"line two\n"
    assert ex.read_path(dict(meta, status="completed"), "/t.jsonl", 9) == (b"line two\n", 18)


# -- every agent, and the wall-clock limit, in a container -------------------------------------------
@pytest.mark.parametrize("agent", ["codex", "gemini", "opencode"])
def test_every_agent_runs_in_a_container_and_is_judged_by_its_own_rules(box: Box, agent: str) -> None:
    _agent_in_box(box, agent)
    oc = box.oc
    done = oc.run(
        "start",
        "--json",
        "--wait",
        "--workspace",
        "/work",
        "--prompt=#fake text boxed\n#fake write out.txt hi",
    )
    assert done.code == 0, done.err
    meta = done.json()
    assert meta["agent"] == agent and meta["status"] == "completed"
    assert (box.ws / "out.txt").read_text().startswith("hi")
    failed = oc.run(
        "start", "--json", "--wait", "--workspace", "/work", "--prompt=#fake api-error 400 no such model"
    )
    assert failed.code == 4 and failed.json()["status"] == "failed"


def test_timeout_is_enforced_inside_the_container(box: Box) -> None:
    oc = box.oc
    meta = oc.start("#fake bash echo start; sleep 60; echo slept", "--workspace", "/work", "--timeout", "2")
    final = oc.wait_status(meta["task_id"], lambda s: s not in ("pending", "running"), timeout=40)
    assert final["status"] == "failed" and final["error"] == "timed out after 2s"
    assert final["exit_code"] == 124


# -- serve ------------------------------------------------------------------------------------------
def test_serve_watches_container_tasks_by_one_runtime_event_stream_and_sees_their_end(
    box: Box, tmp_path: Path
) -> None:
    from test_notify import Serve, logged

    box.spy()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [console_script(), "serve", "--interval", "3600", "--log", str(log)],  # no look on a timer
        env=box.oc.env,
        cwd=box.oc.workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    s = Serve(proc, log)
    try:
        wait_until(lambda: log.exists() and "watching" in log.read_text(), timeout=20)
        metas = [box.start(f"#fake delay {n}\n#fake text done") for n in (3, 5)]
        for meta in metas:
            logged(s, meta["task_id"], "completed", timeout=60)
        names = [c[0] for c in box.logged_calls()]
        # One event stream for the executor's two tasks; a look (one inspect of both) per wake,
        # not per second: the tasks ran 5 s.
        assert names.count("events") == 1, names
        assert names.count("inspect") <= 8, names
        assert s.stop() < 1.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_container_event_alarm_replays_an_end_it_missed_since_the_last_look(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openclaw.config import load
    from openclaw.manager import Manager
    from openclaw.records import TaskStore

    since = time.time()
    meta = box.start("#fake text quick")
    box.oc.wait_status(meta["task_id"], "completed", timeout=60)
    for key, value in box.rt.env.items():
        monkeypatch.setenv(key, value)
    manager = Manager(load(str(box.oc.config_file)), TaskStore(box.oc.tasks_dir))
    alarm = manager.executor_for("box").alarm([meta], since)
    assert alarm is not None
    try:
        import select

        # The runtime writes the replayed events as it finds them (create, start, ... die):
        # one read may hold only the first; the alarm rings on the one that ends the task.
        deadline, rang = time.monotonic() + 20, False
        while not rang and time.monotonic() < deadline:
            ready, _, _ = select.select(alarm.fds(), [], [], max(0.0, deadline - time.monotonic()))
            rang = bool(ready) and alarm.take()
        assert rang, "the died event from before the alarm was replayed"
    finally:
        alarm.close()


# -- a plain command, and every agent's views, in a container ----------------------------------------
def _processes_of(box: Box, task_id: str) -> list[int]:
    """Host pids of every process in the task's running container (its PID 1's namespace)."""
    pid1 = box.inspect(task_id)["State"]["Pid"]
    return container_pids(pid1) if pid1 else []


def _kill_and_check_nothing_is_left(box: Box, task_id: str) -> None:
    """Kill the running task; its container is stopped and every process of it gone."""
    pids = _processes_of(box, task_id)
    assert pids, "the container runs"
    box.oc.ok("kill", "--task-id", task_id, "--grace", "2", timeout=60)
    assert box.inspect(task_id)["State"]["Status"] == "exited"
    assert not [p for p in pids if pid_alive(p)], "every process of the container is gone"


def _cleanup_removes_record_and_container(box: Box, task_id: str) -> None:
    assert box.exists(task_id) and (box.oc.tasks_dir / task_id).is_dir()
    box.oc.ok("cleanup", "--task-id", task_id)
    assert not box.exists(task_id), "the task's container"
    assert not (box.oc.tasks_dir / task_id).exists(), "the task's record"
    assert box.oc.run("status", "--task-id", task_id).code != 0


@pytest.mark.parametrize("runtime", ["podman"], indirect=True)
def test_a_plain_command_in_a_container_fails_completes_is_killed_and_cleaned_up(box: Box) -> None:
    oc = box.oc
    run = ["run", "--executor", "box", "--workspace", "/work"]
    failing = oc.run(*run, "--json", "--wait", "--", "sh", "-c", "echo hi; echo boom >&2; exit 3")
    assert failing.code == 4, failing
    failed = failing.json()
    assert failed["agent"] == "command" and failed["executor"] == "box"
    assert failed["status"] == "failed" and failed["exit_code"] == 3
    assert failed["error"] == "the command exited with code 3: boom"
    assert oc.ok("logs", "--task-id", failed["task_id"], "--raw").out == "hi\n"
    assert "hi" in oc.ok("logs", "--task-id", failed["task_id"]).out.splitlines()
    assert oc.run("wait", "--task-id", failed["task_id"]).code == 4

    followed = oc.run(*run, "--wait", "--follow", "--", "sh", "-c", "echo fine; echo and dandy")
    assert followed.code == 0, followed
    assert "fine" in followed.out and "and dandy" in followed.out
    ok = next(m for m in oc.ok("list", "--json").json() if m["task_id"] != failed["task_id"])
    assert ok["status"] == "completed" and ok["exit_code"] == 0 and ok["error"] is None
    assert oc.ok("logs", "--task-id", ok["task_id"], "--raw").out == "fine\nand dandy\n"
    assert oc.run("wait", "--task-id", ok["task_id"]).code == 0

    long = oc.ok(*run, "--json", "--", "sh", "-c", "echo start; sleep 60").json()
    oc.wait_status(long["task_id"], "running")
    wait_until(lambda: "start" in oc.ok("logs", "--task-id", long["task_id"], "--raw").out, timeout=60)
    _kill_and_check_nothing_is_left(box, long["task_id"])
    assert oc.run("wait", "--task-id", long["task_id"]).code == 5
    assert oc.status(long["task_id"])["status"] == "killed"

    for task_id in (failed["task_id"], ok["task_id"], long["task_id"]):
        _cleanup_removes_record_and_container(box, task_id)
    assert oc.ok("list", "--json").json() == []


def _agent_in_box(box: Box, agent: str, **options: Any) -> None:
    """Make the fake ``agent`` (in the image) the executor's agent, as it needs to run headless."""
    box.configure(
        agent=agent,
        env={
            "CODEX_HOME": "/tmp",
            "GEMINI_API_KEY": "fake-key",
            "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/record/gemini-settings.json",
        },
        **options,
    )
    (box.record / "gemini-settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
    )


BOX_AGENTS = ["codex", "gemini", "opencode"]


@pytest.mark.parametrize("runtime", ["podman"], indirect=True)
@pytest.mark.parametrize("agent", BOX_AGENTS)
def test_every_agent_in_a_container_streams_and_shows_its_text_and_wait_exits_0_4_5_by_outcome(
    box: Box, agent: str
) -> None:
    _agent_in_box(box, agent)
    oc = box.oc
    ws = ["--workspace", "/work"]
    task_id = completes_streaming(oc, ws, agent, "streamed from the box")
    # --raw is the agent's own output in the container, line for line.
    raw_is_the_agents_own(oc, task_id, box.rt.run("logs", container_name(task_id)).stdout)

    fails_and_wait_exits_4(oc, ws)

    # Killed: wait exits 5, logs --follow closes with who stopped it, and nothing of it runs.
    long = oc.start("#fake text going\n#fake bash echo start; sleep 60; echo slept", *ws)
    oc.wait_status(long["task_id"], "running")
    wait_until(lambda: "going" in oc.ok("logs", "--task-id", long["task_id"], "--raw").out, timeout=60)
    _kill_and_check_nothing_is_left(box, long["task_id"])
    killed_view_says_who(oc, long["task_id"], "going")


@pytest.mark.parametrize("runtime", ["podman"], indirect=True)
@pytest.mark.parametrize("agent", BOX_AGENTS)
def test_cleanup_of_every_agents_task_removes_its_record_and_its_container(box: Box, agent: str) -> None:
    _agent_in_box(box, agent)
    oc = box.oc
    ws = ["--workspace", "/work"]
    done = oc.run("start", "--json", "--wait", "--prompt=#fake text to be cleaned", *ws)
    assert done.code == 0, done
    killed = oc.start("#fake text going\n#fake bash sleep 60", *ws)
    wait_until(lambda: "going" in oc.ok("logs", "--task-id", killed["task_id"], "--raw").out, timeout=60)
    oc.ok("kill", "--task-id", killed["task_id"], "--grace", "2", timeout=60)
    for task_id in (done.json()["task_id"], killed["task_id"]):
        _cleanup_removes_record_and_container(box, task_id)
    assert oc.ok("list", "--json").json() == []


@pytest.mark.parametrize("runtime", ["podman"], indirect=True)
def test_a_missing_agent_binary_in_a_container_fails_naming_it_and_how_to_install_it(box: Box) -> None:
    missing = "/nowhere/codex"
    _agent_in_box(box, "codex", agent_path=missing)
    result = box.oc.run("start", "--json", "--wait", "--prompt", "hi", "--workspace", "/work")
    assert result.code == 4, result
    meta = result.json()
    assert meta["status"] == "failed" and meta["agent"] == "codex" and meta["exit_code"] == 127
    # The binary, then how to install it, early in the line: the record keeps 300 characters.
    assert meta["error"] == (
        f"openclaw: {missing} not found in the container: install the Codex CLI "
        "(npm install -g @openai/codex) in the image, or set agent_path of executor 'box'"
    )
    assert box.oc.run("wait", "--task-id", meta["task_id"]).code == 4
    # A plain command has no install hint of its own; and the hint never reaches what runs.
    run = ["run", "--json", "--wait", "--executor", "box", "--workspace", "/work", "--"]
    absent = box.oc.run(*run, "no-such-tool-here", "x")
    assert absent.code == 4, absent
    assert absent.json()["error"] == (
        "the command exited with code 127: openclaw: no-such-tool-here not found in the container: "
        "install it in the image, or give its full path"
    )
    shown = box.oc.run(*run, "sh", "-c", "echo ${OPENCLAW_AGENT_FIX-unset}")
    assert shown.code == 0, shown
    assert box.oc.ok("logs", "--task-id", shown.json()["task_id"], "--raw").out == "unset\n"
