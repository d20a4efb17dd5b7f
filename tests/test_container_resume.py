"""Resume on the container executor, for every agent that has it: each task runs in a container
of its own, so the session the agent continues is carried out of the parent's container (the
paths ``Agent.session_state`` names) and put in place in the child's before its agent starts.

The end-to-end tests run the faithful fakes in the offline test image (container_harness.py),
on podman and on the docker CLI (through podman's API service). Each fake finds its sessions
where the real CLI does and refuses an unknown one as it does (codex: "no rollout found",
gemini: exit 42, opencode: "Session not found"), and records each run under its session id.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import test_container_executor as containers
from test_container_executor import Box, assert_one_line_error

from openclaw.agents import get_agent
from openclaw.errors import StartError
from openclaw.executors.container import container_name
from openclaw.executors.container.staging import unpack

containers_conf, container_image = containers.containers_conf, containers.container_image
podman_service, runtime, box = containers.podman_service, containers.runtime, containers.box

#: Each agent's executor env in the test image (the fakes record into the /record volume).
AGENT_ENV: dict[str, dict[str, str]] = {
    "codex": {"FAKE_CODEX_RECORD_DIR": "/record"},
    "gemini": {
        "FAKE_GEMINI_RECORD_DIR": "/record",
        "GEMINI_API_KEY": "fake-key",
        "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/record/gemini-settings.json",
    },
    "opencode": {"FAKE_OPENCODE_RECORD_DIR": "/record"},
}
#: Where each keeps its sessions in the container, as root with the env above.
SESSION_PATHS = {
    "codex": ["/root/.codex/sessions"],
    "gemini": ["/root/.gemini/tmp"],
    "opencode": ["/root/.local/share/opencode/opencode.db", "/root/.local/share/opencode/opencode.db-wal"],
}


def use(box: Box, agent: str, **options: Any) -> None:
    """Executor ``box`` running ``agent``, its sessions nowhere but in its containers."""
    env = {**AGENT_ENV[agent], **options.pop("env", {})}
    box.configure(agent=agent, env=env, **options)
    (box.record / "gemini-settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
    )


def recorded_sessions(box: Box) -> dict[str, list[str]]:
    """The argv the fake last ran under each session id (it records every run by its session)."""
    return {
        f.name.removesuffix(".argv.json"): json.loads(f.read_text()) for f in box.record.glob("*.argv.json")
    }


def copied(box: Box, task_id: str, path: str) -> bytes:
    """What ``cp`` gives of ``path`` in the task's (exited) container: a tar stream; b"" for none."""
    return subprocess.run(
        [box.rt.name, "cp", f"{container_name(task_id)}:{path}", "-"],
        capture_output=True,
        env={**os.environ, **box.rt.env},
        timeout=120,
        check=False,
    ).stdout


def in_container(box: Box, task_id: str, paths: list[str]) -> bytes:
    """``paths`` of the task's container as tar streams, one after the other (a file's bytes are
    whole in them, which is all the tests look for)."""
    return b"".join(copied(box, task_id, path) for path in paths)


def resume(box: Box, task_id: str, prompt: str) -> dict[str, Any]:
    result = box.oc.ok("resume", "--task-id", task_id, "--prompt", prompt, "--json")
    child: dict[str, Any] = result.json()
    return child


@pytest.mark.parametrize("agent", ["codex", "gemini", "opencode"])
def test_resume_in_a_container_continues_the_parents_own_session(box: Box, agent: str) -> None:
    use(box, agent)
    first = box.start("#fake text remember the pelican")
    assert box.oc.wait_status(first["task_id"], "completed", timeout=60)["agent"] == agent
    [session] = recorded_sessions(box)
    child = resume(box, first["task_id"], "#fake text which bird was it?")
    assert child["parent_id"] == first["task_id"] and child["session_id"] == session
    done = box.oc.wait_status(child["task_id"], "completed", timeout=60)
    assert done["exit_code"] == 0, done
    runs = recorded_sessions(box)
    assert list(runs) == [session], "the child ran under the parent's session, no new one"
    assert session in runs[session][runs[session].index("/usr/local/bin/" + agent) + 1 :], runs[session]
    held = in_container(box, child["task_id"], SESSION_PATHS[agent])
    assert b"remember the pelican" in held and b"which bird was it?" in held, (
        "the child's session holds the parent's conversation and its own turn"
    )
    assert b"which bird was it?" not in in_container(box, first["task_id"], SESSION_PATHS[agent])


def test_a_resumed_codex_session_moved_by_codex_home_is_carried_from_there(box: Box) -> None:
    use(box, "codex", env={"CODEX_HOME": "/tmp"})
    first = box.start("#fake text remember the pelican")
    box.oc.wait_status(first["task_id"], "completed", timeout=60)
    child = resume(box, first["task_id"], "#fake text which bird was it?")
    done = box.oc.wait_status(child["task_id"], "completed", timeout=60)
    # Usage is the whole thread's: the child's turn counts the parent's too.
    assert done["result"]["input_tokens"] == 20, done["result"]
    held = in_container(box, child["task_id"], ["/tmp/sessions"])
    assert b"remember the pelican" in held and b"which bird was it?" in held


@pytest.mark.parametrize("user", ["1000:1000", "agent"])
def test_a_resumed_session_is_the_container_users_own_and_no_one_elses(box: Box, user: str) -> None:
    use(box, "codex", user=user)
    first = box.start("#fake text remember the pelican")
    box.oc.wait_status(first["task_id"], "completed", timeout=60)
    child = resume(box, first["task_id"], "#fake text which bird was it?")
    assert box.oc.wait_status(child["task_id"], "completed", timeout=60)["exit_code"] == 0
    archive = copied(box, child["task_id"], "/home/agent/.codex")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(".codex/sessions")]
    assert any(m.isfile() and m.name.endswith(".jsonl") for m in members), [m.name for m in members]
    for m in members:
        assert (m.uid, m.gid) == (1000, 1000), (m.name, m.uid, m.gid)
        assert m.mode & 0o077 == 0, f"{m.name} is {oct(m.mode)}: for its user alone"


@pytest.mark.parametrize("agent", ["codex", "gemini", "opencode"])
def test_resume_of_a_task_whose_container_was_removed_says_resume_before_cleanup(
    box: Box, agent: str
) -> None:
    # Gemini's session id is known up front; Codex's and OpenCode's, printed by them, are
    # recorded when the task ends, before the container (and its output) can go.
    use(box, agent)
    first = box.start("#fake text remember the pelican")
    box.oc.wait_status(first["task_id"], "completed", timeout=60)
    box.rt.run("rm", "-f", container_name(first["task_id"]))
    gone = box.oc.run("resume", "--task-id", first["task_id"], "--prompt", "#fake text again")
    assert gone.code == 1
    assert_one_line_error(gone.err, "cannot resume", "before cleaning it up")


# -- no container: what each agent names, and how the staging takes an archive ------------------
@pytest.mark.parametrize(
    ("agent", "env", "paths"),
    [
        ("claude", {}, ["/home/u/.claude/projects/-work/S.jsonl"]),
        ("codex", {}, ["/home/u/.codex/sessions"]),
        ("codex", {"CODEX_HOME": "/opt/codex"}, ["/opt/codex/sessions"]),
        ("codex", {"CODEX_HOME": "ch"}, ["/work/ch/sessions"]),
        ("gemini", {}, ["/home/u/.gemini/tmp"]),
        ("gemini", {"GEMINI_CLI_HOME": "/g"}, ["/g/.gemini/tmp"]),
        (
            "opencode",
            {},
            ["/home/u/.local/share/opencode/opencode.db", "/home/u/.local/share/opencode/opencode.db-wal"],
        ),
        ("opencode", {"XDG_DATA_HOME": "/x"}, ["/x/opencode/opencode.db", "/x/opencode/opencode.db-wal"]),
        ("opencode", {"OPENCODE_DB": "/db/s.db"}, ["/db/s.db", "/db/s.db-wal"]),
        ("opencode", {"OPENCODE_DB": ":memory:"}, []),
        ("command", {}, []),
    ],
)
def test_each_agent_names_where_a_resume_finds_its_session(
    agent: str, env: dict[str, str], paths: list[str]
) -> None:
    assert get_agent(agent).session_state("/home/u", "/work", "S", env) == paths


def _tar(*entries: tuple[str, str, bytes]) -> bytes:
    """A tar stream of ``(kind, name, data)``: kind file, dir, symlink (data: target) or fifo."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for kind, name, data in entries:
            info = tarfile.TarInfo(name)
            info.mode = 0o777
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return out.getvalue()


def test_staging_takes_only_files_and_directories_under_the_paths_own_name(tmp_path: Path) -> None:
    archive = _tar(
        ("dir", "sessions", b""),
        ("dir", "sessions/2026", b""),
        ("file", "sessions/2026/rollout.jsonl", b"the session\n"),
        ("symlink", "sessions/2026/escape", b"/etc/shadow"),
        ("fifo", "sessions/pipe", b""),
        ("file", "sessions/../../outside", b"no"),
        ("file", "/abs", b"no"),
        ("file", "other/x", b"no"),
    )
    root = tmp_path / "resume"
    made = unpack(archive, "/root/.codex/sessions", root)
    on_disk = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert on_disk == [
        "root",
        "root/.codex",
        "root/.codex/sessions",
        "root/.codex/sessions/2026",
        "root/.codex/sessions/2026/rollout.jsonl",
    ]
    assert sorted(made) == sorted([root, *root.rglob("*")])
    assert (root / "root/.codex/sessions/2026/rollout.jsonl").read_bytes() == b"the session\n"
    for p in made:
        assert p.stat().st_mode & 0o777 == (0o700 if p.is_dir() else 0o600), p
    assert not (tmp_path / "outside").exists()
    # A second path beside the first (OpenCode's database and its log) shares the directories.
    more = unpack(_tar(("file", "s.db-wal", b"wal")), "/root/.codex/s.db-wal", root)
    assert more == [root / "root/.codex/s.db-wal"]


def test_staging_refuses_a_path_that_is_not_absolute(tmp_path: Path) -> None:
    with pytest.raises(StartError, match="not an absolute path"):
        unpack(_tar(("file", "x", b"")), "relative/x", tmp_path / "resume")
