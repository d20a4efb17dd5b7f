"""Fidelity of tests/fakes/codex against the real OpenAI Codex CLI (``codex exec``, 0.169.0).

Each scenario runs the real CLI against the scripted FakeResponsesServer
(tests/fakes/openai_responses_api.py) and the fake CLI with equivalent
``#fake`` directives, each with its own CODEX_HOME and cwd, and compares exit
codes, stderr texts, the JSONL event sequence, item types and key sets, the
files written, the prompt as sent, resume and the rollout file, and signals.

The real CLI is found through ``$OPENCLAW_REAL_CODEX``, then
``.tools/codex/node_modules/.bin/codex`` in the repository; without it the
side-by-side tests skip and the fake-only tests still run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import default_signals, wait_until

REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"
FAKE_CODEX = FAKES / "codex"
sys.path.insert(0, str(FAKES))
from openai_responses_api import FakeResponsesServer, codex_config  # noqa: E402

HEADLESS = ["exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]
TIMEOUT = 90
CLOSED_PORT_URL = "http://127.0.0.1:9"  # the fake never calls the network


def _find_real_codex() -> str | None:
    for cand in (
        os.environ.get("OPENCLAW_REAL_CODEX"),
        str(REPO / ".tools" / "codex" / "node_modules" / ".bin" / "codex"),
    ):
        if not cand or not os.path.isfile(cand) or not os.access(cand, os.X_OK):
            continue
        if Path(cand).resolve() == FAKE_CODEX.resolve():
            continue
        # a private CODEX_HOME: even --version creates $CODEX_HOME/tmp (default ~/.codex)
        with tempfile.TemporaryDirectory(prefix="codex-home-") as home:
            env = dict(os.environ, CODEX_HOME=home)
            try:
                out = subprocess.run(
                    [cand, "--version"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL, env=env
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
        if out.returncode == 0 and out.stdout.startswith(b"codex-cli "):
            return cand
    return None


REAL_CODEX = _find_real_codex()
needs_real = pytest.mark.skipif(
    REAL_CODEX is None,
    reason="real codex CLI not found ($OPENCLAW_REAL_CODEX or .tools/codex/node_modules/.bin/codex)",
)


# -- running the CLIs ---------------------------------------------------------


class Env:
    """A CODEX_HOME and a cwd for one CLI, reusable across runs (for resume)."""

    def __init__(self, base: Path, name: str):
        self.home = (base / f"{name}-codex-home").resolve()
        self.cwd = (base / f"{name}-cwd").resolve()
        self.user_home = base / f"{name}-home"
        for d in (self.home, self.cwd, self.user_home):
            d.mkdir(parents=True, exist_ok=True)

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.user_home),
            "CODEX_HOME": str(self.home),
            "LANG": "C.UTF-8",
        }
        env.update(extra or {})
        return env

    def rollouts(self) -> list[Path]:
        return sorted((self.home / "sessions").glob("*/*/*/rollout-*.jsonl"))


@dataclass
class Run:
    code: int
    out: str
    err: str
    env: Env
    server: FakeResponsesServer | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    @property
    def thread_id(self) -> str:
        return str(self.events[0]["thread_id"])

    def items(self, type_: str) -> list[dict[str, Any]]:
        return [
            e["item"] for e in self.events if e["type"] == "item.completed" and e["item"]["type"] == type_
        ]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def _write_config(env: Env, base_url: str) -> None:
    (env.home / "config.toml").write_text(codex_config(base_url))


def run_cli(
    exe: str,
    env: Env,
    args: list[str],
    *,
    stdin: bytes = b"",
    extra_env: dict[str, str] | None = None,
    script: list[dict[str, Any]] | None = None,
) -> Run:
    """Run one CLI to completion. The real one gets a scripted server; the fake one a
    config naming a closed port."""
    server = FakeResponsesServer(script or []) if exe != str(FAKE_CODEX) else None
    if server is not None:
        server.start()
    _write_config(env, server.base_url if server else CLOSED_PORT_URL)
    try:
        proc = subprocess.Popen(
            [exe, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=env.cwd,
            env=env.environ(extra_env),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(stdin, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            raise
    finally:
        if server is not None:
            server.stop()
    return Run(proc.returncode, out.decode(), err.decode(), env, server)


@pytest.fixture
def envs(tmp_path: Path) -> tuple[Env, Env]:
    return Env(tmp_path, "real"), Env(tmp_path, "fake")


@pytest.fixture
def fake_env(tmp_path: Path) -> Env:
    return Env(tmp_path, "fake")


def both(
    envs: tuple[Env, Env],
    args: list[str],
    script: list[dict[str, Any]],
    directives: str,
    *,
    stdin: bytes = b"",
    extra_env: dict[str, str] | None = None,
    real_prompt: str = "go",
) -> tuple[Run, Run]:
    assert REAL_CODEX is not None
    real = run_cli(REAL_CODEX, envs[0], [*args, real_prompt], script=script, stdin=stdin, extra_env=extra_env)
    fake = run_cli(str(FAKE_CODEX), envs[1], [*args, directives], stdin=stdin, extra_env=extra_env)
    return real, fake


# -- comparisons ----------------------------------------------------------------


def shape(ev: dict[str, Any]) -> tuple[str, str | None]:
    item = ev.get("item")
    return (ev["type"], item.get("type") if isinstance(item, dict) else None)


def _no_more(fake: Any, real: Any, what: Any) -> None:
    """The fake has no key the real CLI lacks (the real one may add keys)."""
    extra = set(fake) - set(real)
    assert not extra, f"keys only the fake has for {what}: {extra}"


#: What openclaw reads: both CLIs must have these wherever the real one does.
READ_KEYS = {
    "thread.started": {"thread_id"},
    "turn.completed": {"usage"},
    "turn.failed": {"error"},
    "error": {"message"},
    "agent_message": {"id", "type", "text"},
    "command_execution": {"id", "type", "command", "aggregated_output", "exit_code", "status"},
    "file_change": {"id", "type", "changes", "status"},
}


#: Command outputs that differ from run to run (pids).
VARIES = re.compile(r"^\d+\n$")


def assert_same_stream(real: Run, fake: Run) -> None:
    real_shapes = [shape(e) for e in real.events]
    fake_shapes = [shape(e) for e in fake.events]
    assert fake_shapes == real_shapes, f"\nreal: {real_shapes}\nfake: {fake_shapes}"
    for r, f in zip(real.events, fake.events, strict=True):
        _no_more(f, r, shape(r))
        for key in READ_KEYS.get(r["type"], set()) & set(r):
            assert key in f, (shape(r), key)
        if "item" in r:
            _no_more(f["item"], r["item"], shape(r))
            assert f["item"]["id"] == r["item"]["id"]
            for key in READ_KEYS.get(r["item"]["type"], set()) & set(r["item"]):
                assert key in f["item"], (shape(r), key)
            for key in ("status", "exit_code", "text"):
                assert f["item"].get(key) == r["item"].get(key), (shape(r), key)
            out = str(r["item"].get("aggregated_output"))
            if "aggregated_output" in r["item"] and not VARIES.search(out):
                # stdout and stderr are two pipes merged as they are read: lines written to each
                # at nearly the same moment come in either order (seen under load). Same lines.
                mine = str(f["item"].get("aggregated_output")).splitlines()
                assert sorted(mine) == sorted(out.splitlines()), (shape(r), "aggregated_output")
        if r["type"] == "turn.completed":
            _no_more(f["usage"], r["usage"], "usage")
            assert f["usage"] == r["usage"], "token counts (10 in, 5 out per model response)"
    assert fake.code == real.code


def _normalise(text: str) -> str:
    """Ports, request ids, thread ids and temporary paths are no difference in behaviour."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"req_fake[0-9a-f]+", "REQ", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    text = re.sub(r"(?:real|fake)-(codex-home|cwd)", r"X-\1", text)
    return re.sub(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ", "", text, flags=re.M)


def sent_prompt(server: FakeResponsesServer | None) -> str:
    """The user's prompt as the real CLI sent it: the last user input_text of the first turn."""
    assert server is not None and server.main_requests
    users = [i for i in server.main_requests[0]["body"]["input"] if i.get("role") == "user"]
    return str(users[-1]["content"][-1]["text"])


# -- side by side: events, tools, errors -----------------------------------------


@pytest.mark.slow
@needs_real
def test_text_reply_gives_the_same_events_and_usage(envs: tuple[Env, Env]) -> None:
    real, fake = both(envs, HEADLESS, [{"text": "hello world"}], "#fake text hello world")
    assert real.code == 0, real.err
    assert_same_stream(real, fake)
    assert [e["type"] for e in real.events] == [
        "thread.started",
        "turn.started",
        "item.completed",
        "turn.completed",
    ]
    assert fake.items("agent_message")[0]["text"] == real.items("agent_message")[0]["text"] == "hello world"


@pytest.mark.slow
@needs_real
def test_shell_command_and_file_write_run_for_real_and_report_alike(envs: tuple[Env, Env]) -> None:
    command = "echo hi; echo err >&2; exit 3"
    real, fake = both(
        envs,
        HEADLESS,
        [
            {"reasoning": "thinking", "text": "Running it", "exec": command},
            {"write": {"path": "out.txt", "content": "hello"}},
            {"text": "Wrote it."},
        ],
        f"#fake reasoning thinking\n#fake text Running it\n#fake bash {command}\n"
        "#fake write out.txt hello\n#fake text Wrote it.",
    )
    assert real.code == 0, real.err
    assert_same_stream(real, fake)
    for run in (real, fake):
        cmd = run.items("command_execution")[0]
        assert cmd["command"] == f"/bin/bash -lc '{command}'"
        assert (cmd["exit_code"], cmd["status"]) == (3, "failed")
        # stdout and stderr are two pipes merged as read: the lines may come in either order
        assert sorted(cmd["aggregated_output"].splitlines(keepends=True)) == ["err\n", "hi\n"]
        change = run.items("file_change")[0]
        assert change["changes"] == [{"path": str(run.env.cwd / "out.txt"), "kind": "add"}]
        assert (run.env.cwd / "out.txt").read_bytes() == b"hello\n", "an Add File line ends with a newline"


@pytest.mark.slow
@needs_real
def test_long_shell_command_polled_to_completion_is_one_item(envs: tuple[Env, Env]) -> None:
    """exec_command hands back after yield_time_ms; polled with write_stdin, the real CLI
    still reports one command_execution item, as the fake does for its blocking run."""
    command = "echo start; sleep 2; echo slept"
    real, fake = both(
        envs,
        HEADLESS,
        [{"exec": {"cmd": command, "yield_time_ms": 300}}, {"poll": 10000}, {"text": "ok"}],
        f"#fake bash {command}\n#fake text ok",
    )
    assert real.code == 0, real.err
    assert [shape(e) for e in fake.events] == [shape(e) for e in real.events]
    assert real.items("command_execution")[0]["aggregated_output"] == "start\nslept\n"
    assert fake.items("command_execution")[0]["aggregated_output"] == "start\nslept\n"
    # usage differs by the extra poll response: 3 model responses against 2


@pytest.mark.slow
@needs_real
def test_api_error_400_ends_with_error_and_turn_failed_and_exit_1(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        HEADLESS,
        [{"error": {"status": 400, "message": "model: not found"}}],
        "#fake api-error 400 model: not found",
    )
    assert real.code == 1
    assert_same_stream(real, fake)
    assert [e["type"] for e in real.events][-2:] == ["error", "turn.failed"]
    assert fake.events[-1] == real.events[-1]
    assert json.loads(real.events[-1]["error"]["message"])["error"]["message"] == "model: not found"


@pytest.mark.slow
@needs_real
@pytest.mark.parametrize("status", [401, 404, 429, 500, 503])
def test_other_http_errors_fail_alike_without_retries(envs: tuple[Env, Env], status: int) -> None:
    real, fake = both(
        envs,
        HEADLESS,
        [{"error": {"status": status, "message": "boom"}}],
        f"#fake api-error {status} boom",
    )
    assert real.code == 1
    assert_same_stream(real, fake)
    assert _normalise(fake.events[-1]["error"]["message"]) == _normalise(real.events[-1]["error"]["message"])


@pytest.mark.slow
@needs_real
def test_read_only_sandbox_rejects_a_write_silently_and_exits_0(envs: tuple[Env, Env]) -> None:
    """Without the bypass flag the default sandbox is read-only: no file_change item at
    all, nothing written, an ERROR log line on stderr, and exit 0."""
    real, fake = both(
        envs,
        ["exec", "--json", "--skip-git-repo-check"],
        [{"write": {"path": "x.txt", "content": "x"}}, {"text": "end"}],
        "#fake write x.txt x\n#fake text end",
    )
    assert real.code == 0
    assert_same_stream(real, fake)
    assert not real.items("file_change") and not (real.env.cwd / "x.txt").exists()
    assert not (fake.env.cwd / "x.txt").exists()
    for run in (real, fake):
        assert "error=patch rejected: writing is blocked by read-only sandbox" in run.err


@pytest.mark.slow
@needs_real
def test_workspace_write_sandbox_allows_writes_to_the_cwd_and_tmp_only(
    envs: tuple[Env, Env], tmp_path: Path
) -> None:
    """-s workspace-write: the cwd and /tmp are writable, elsewhere a patch is rejected (no event)."""
    in_tmp = tmp_path / "in-tmp.txt"
    outside = Path(f"/var/tmp/openclaw-codex-test-{os.getpid()}.txt")
    try:
        real, fake = both(
            envs,
            ["exec", "--json", "--skip-git-repo-check", "-s", "workspace-write"],
            [
                {"write": {"path": "in.txt", "content": "x"}},
                {"write": {"path": str(in_tmp), "content": "x"}},
                {"write": {"path": str(outside), "content": "x"}},
                {"text": "end"},
            ],
            f"#fake write in.txt x\n#fake write {in_tmp} x\n#fake write {outside} x\n#fake text end",
        )
        assert real.code == 0
        assert_same_stream(real, fake)
        assert not outside.exists() and in_tmp.read_text() == "x\n"
        for run in (real, fake):
            assert (run.env.cwd / "in.txt").read_text() == "x\n"
            assert "error=patch rejected: writing outside of the project" in run.err
    finally:
        outside.unlink(missing_ok=True)


@pytest.mark.slow
@needs_real
def test_shell_commands_get_their_own_session_and_codex_variables(envs: tuple[Env, Env]) -> None:
    command = "ps -o pid=,pgid=,sid= -p $$; env | grep -o '^CODEX_[A-Z_]*' | sort; tty || true"
    real, fake = both(
        envs, HEADLESS, [{"exec": command}, {"text": "ok"}], f"#fake bash {command}\n#fake text ok"
    )
    outs = []
    for run in (real, fake):
        out = run.items("command_execution")[0]["aggregated_output"].splitlines()
        pid, pgid, sid = out[0].split()
        assert pid == pgid == sid, "pid = pgid = sid: a new session"
        assert out[-1] == "not a tty"
        outs.append({v for v in out[1:-1] if not v.startswith("CODEX_MANAGED")})
    assert outs[0] == outs[1]
    assert {"CODEX_THREAD_ID", "CODEX_CI", "CODEX_TOOL_CALL_ID"} <= outs[0]


@pytest.mark.slow
@needs_real
def test_output_last_message_and_plain_output(envs: tuple[Env, Env], tmp_path: Path) -> None:
    args = ["exec", "--skip-git-repo-check", "-o"]
    real = run_cli(
        REAL_CODEX or "", envs[0], [*args, str(tmp_path / "r.txt"), "go"], script=[{"text": "final"}]
    )
    fake = run_cli(str(FAKE_CODEX), envs[1], [*args, str(tmp_path / "f.txt"), "#fake text final"])
    assert real.code == fake.code == 0
    assert real.out == fake.out == "final\n"
    assert (tmp_path / "r.txt").read_text() == (tmp_path / "f.txt").read_text() == "final"


# -- prompt and stdin --------------------------------------------------------------

STDIN_BODY = "  first line\n\nzweite Zeile \u00e9\u6f22\r\n\ttab\n\n".encode()
STDIN_CASES: list[tuple[str, list[str], bytes]] = [
    ("dash reads stdin", ["-"], STDIN_BODY),
    ("no prompt reads stdin", [], STDIN_BODY),
    ("prompt plus stdin", ["POS"], STDIN_BODY),
    ("prompt plus stdin without final newline", ["POS"], b"abc"),
    ("prompt plus blank stdin", ["POS"], b"  \n\n"),
    ("prompt plus empty stdin", ["POS"], b""),
    ("blank stdin only", [], b"  \n"),
    ("empty stdin with dash", ["-"], b""),
    ("invalid utf-8 stdin", ["-"], b"caf\xe9 \xff\n"),
    ("invalid utf-8 extra stdin", ["POS"], b"caf\xe9\n"),
]


@pytest.mark.slow
@needs_real
@pytest.mark.parametrize(("name", "prompt", "stdin"), STDIN_CASES, ids=[c[0] for c in STDIN_CASES])
def test_prompt_and_stdin_are_combined_alike(
    envs: tuple[Env, Env], tmp_path: Path, name: str, prompt: list[str], stdin: bytes
) -> None:
    assert REAL_CODEX is not None
    args = ["exec", "--json", "--skip-git-repo-check", *prompt]
    real = run_cli(REAL_CODEX, envs[0], args, stdin=stdin, script=[{"text": "ok"}])
    record = tmp_path / "record"
    fake = run_cli(
        str(FAKE_CODEX), envs[1], args, stdin=stdin, extra_env={"FAKE_CODEX_RECORD_DIR": str(record)}
    )
    assert fake.code == real.code
    assert _normalise(fake.err) == _normalise(real.err)
    if real.code == 0:
        recorded = next(record.glob("*.stdin")).read_bytes().decode()
        assert recorded == sent_prompt(real.server)
        if name == "prompt plus stdin":
            assert recorded == "POS\n\n<stdin>\n" + STDIN_BODY.decode() + "</stdin>"


@pytest.mark.slow
@needs_real
def test_open_stdin_pipe_blocks_a_prompt_argument_until_eof(envs: tuple[Env, Env]) -> None:
    """With a prompt argument and a stdin pipe nobody closes, both wait (no timeout),
    and go on with the stdin appended once it closes."""
    assert REAL_CODEX is not None
    for exe, env in ((REAL_CODEX, envs[0]), (str(FAKE_CODEX), envs[1])):
        server = FakeResponsesServer([{"text": "ok"}]) if exe == REAL_CODEX else None
        _write_config(env, server.start().base_url if server else CLOSED_PORT_URL)
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                [exe, *HEADLESS, "#fake text ok"],
                stdin=read_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=env.cwd,
                env=env.environ(),
                start_new_session=True,
            )
            os.close(read_fd)
            time.sleep(4)
            assert proc.poll() is None, f"{exe} did not wait for stdin"
            os.write(write_fd, b"late\n")
            os.close(write_fd)
            write_fd = -1
            out, _err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0
            assert json.loads(out.splitlines()[-1])["type"] == "turn.completed"
            if server:
                assert sent_prompt(server) == "#fake text ok\n\n<stdin>\nlate\n</stdin>"
        finally:
            if write_fd >= 0:
                os.close(write_fd)
            if proc.poll() is None:
                _kill_group(proc)
            if server:
                server.stop()


# -- resume and the rollout ------------------------------------------------------


def rollout_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.slow
@needs_real
def test_resume_keeps_the_thread_id_appends_to_the_rollout_and_usage_is_cumulative(
    envs: tuple[Env, Env],
) -> None:
    first = both(envs, HEADLESS, [{"text": "one"}], "#fake text one")
    assert first[0].code == first[1].code == 0
    ids = [r.thread_id for r in first]
    for run, tid in zip(first, ids, strict=True):
        (path,) = run.env.rollouts()
        assert re.fullmatch(rf"rollout-\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\d-{tid}\.jsonl", path.name)
        assert path.parent.relative_to(run.env.home / "sessions").parts == tuple(
            path.name[8:18].split("-")
        ), "sessions/YYYY/MM/DD"
        meta = rollout_lines(path)[0]
        assert meta["type"] == "session_meta" and meta["payload"]["id"] == tid
        assert meta["payload"]["cwd"] == str(run.env.cwd)
    real_types = {(x["type"], x["payload"].get("type")) for x in rollout_lines(first[0].env.rollouts()[0])}
    fake_types = {(x["type"], x["payload"].get("type")) for x in rollout_lines(first[1].env.rollouts()[0])}
    assert fake_types <= real_types, fake_types - real_types
    metas = [rollout_lines(run.env.rollouts()[0])[0]["payload"] for run in first]
    _no_more(metas[1], metas[0], "session_meta")

    assert REAL_CODEX is not None
    args = [*HEADLESS, "resume"]
    real = run_cli(REAL_CODEX, envs[0], [*args, ids[0], "two"], stdin=b"ignored", script=[{"text": "two"}])
    fake = run_cli(str(FAKE_CODEX), envs[1], [*args, ids[1], "#fake text two"], stdin=b"ignored")
    assert_same_stream(real, fake)
    assert real.thread_id == ids[0] and fake.thread_id == ids[1]
    assert real.events[-1]["usage"]["input_tokens"] == 20, "usage after a resume counts the whole thread"
    assert sent_prompt(real.server) == "two", "resume with a prompt argument does not read stdin"
    assert "Reading" not in real.err and "Reading" not in fake.err
    for run in (real, fake):
        (path,) = run.env.rollouts()
        lines = rollout_lines(path)
        assert [x["ordinal"] for x in lines] == list(range(len(lines)))
        assert sum(x["type"] == "session_meta" for x in lines) == 1
        done = [x for x in lines if x["payload"].get("type") == "task_complete"]
        assert [d["payload"]["last_agent_message"] for d in done] == ["one", "two"]


@pytest.mark.slow
@needs_real
def test_resume_of_an_unknown_uuid_fails_but_an_unknown_name_starts_a_new_thread(
    envs: tuple[Env, Env],
) -> None:
    missing = "01a221da-0000-7611-9ae4-040082f77e29"
    real, fake = both(envs, [*HEADLESS, "resume", missing], [{"text": "x"}], "#fake text x", real_prompt="x")
    assert fake.code == real.code == 1
    assert _normalise(fake.err) == _normalise(real.err)
    assert "no rollout found for thread id" in real.err
    real, fake = both(envs, [*HEADLESS, "resume", "no-such-name"], [{"text": "x"}], "#fake text x")
    assert fake.code == real.code == 0
    assert_same_stream(real, fake)
    assert len(real.env.rollouts()) == len(fake.env.rollouts()) == 1


@pytest.mark.slow
@needs_real
def test_resume_last_picks_the_newest_thread_of_this_cwd(envs: tuple[Env, Env]) -> None:
    first = both(envs, HEADLESS, [{"text": "a"}], "#fake text a")
    second = both(envs, HEADLESS, [{"text": "b"}], "#fake text b")
    real, fake = both(envs, [*HEADLESS, "resume", "--last"], [{"text": "c"}], "#fake text c")
    assert real.thread_id == second[0].thread_id != first[0].thread_id
    assert fake.thread_id == second[1].thread_id != first[1].thread_id


# -- usage errors (no model call) ------------------------------------------------

USAGE_CASES: list[tuple[str, list[str], dict[str, str]]] = [
    ("no --full-auto", ["exec", "--full-auto", "hi"], {}),
    ("unknown option", ["exec", "--bogus", "hi"], {}),
    ("unknown short option", ["exec", "-z", "hi"], {}),
    ("unknown option of resume", ["exec", "resume", "--bogus"], {}),
    ("missing value", ["exec", "-m"], {}),
    ("invalid sandbox", ["exec", "-s", "yolo", "hi"], {}),
    ("value for a flag", ["exec", "--json=1", "hi"], {}),
    ("bad -c override", ["exec", "-c", "notkv", "hi"], {}),
    ("outside a git repo", ["exec", "--json", "hi"], {}),
    (
        "missing CODEX_HOME",
        ["exec", "--json", "--skip-git-repo-check", "hi"],
        {"CODEX_HOME": "/nonexistent/x"},
    ),
    ("version", ["--version"], {}),
]


@pytest.mark.slow
@needs_real
@pytest.mark.parametrize(("name", "args", "extra"), USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_usage_errors_match(envs: tuple[Env, Env], name: str, args: list[str], extra: dict[str, str]) -> None:
    assert REAL_CODEX is not None
    real = run_cli(REAL_CODEX, envs[0], args, extra_env=extra, script=[])
    fake = run_cli(str(FAKE_CODEX), envs[1], args, extra_env=extra)
    assert real.server is not None and not real.server.main_requests, "the real CLI reached the model"
    assert fake.code == real.code
    assert _normalise(fake.err) == _normalise(real.err)
    assert fake.out == real.out


@pytest.mark.slow
@needs_real
def test_missing_cd_directory_fails_alike(envs: tuple[Env, Env]) -> None:
    args = [*HEADLESS, "-C", "/nonexistent/dir", "hi"]
    real = run_cli(REAL_CODEX or "", envs[0], args, script=[])
    fake = run_cli(str(FAKE_CODEX), envs[1], args)
    assert fake.code == real.code == 1
    # the real one adds a stack backtrace after this line
    assert _normalise(fake.err).splitlines()[-1] in _normalise(real.err).splitlines()


@pytest.mark.slow
@needs_real
def test_cd_option_sets_the_working_root(envs: tuple[Env, Env]) -> None:
    for env in envs:
        (env.cwd / "sub").mkdir()
    real, fake = both(envs, [*HEADLESS, "-C", "sub"], [{"exec": "pwd"}, {"text": "ok"}], "#fake bash pwd")
    for run in (real, fake):
        assert run.items("command_execution")[0]["aggregated_output"] == f"{run.env.cwd / 'sub'}\n"


# -- signals ---------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(x) for x in f.read().split()]
                out.extend(kids)
                todo.extend(kids)
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _signal_scenario(exe: str, env: Env, sig: int) -> tuple[int, list[str], bool]:
    """Start a shell command `sleep 30`, send ``sig`` to the CLI's pid: (returncode,
    event types, whether the sleep survived)."""
    command = "echo start; sleep 30; echo slept"
    script = [{"exec": {"cmd": command, "yield_time_ms": 30000}}]
    server = FakeResponsesServer(script) if exe != str(FAKE_CODEX) else None
    _write_config(env, server.start().base_url if server else CLOSED_PORT_URL)
    sleepers: list[int] = []
    try:
        proc = subprocess.Popen(
            [exe, *HEADLESS, f"#fake bash {command}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=env.cwd,
            env=env.environ(),
            start_new_session=True,
            preexec_fn=default_signals,
        )
        try:
            sleepers = wait_until(lambda: [p for p in _descendants(proc.pid) if _comm(p) == "sleep"], 30)
            assert os.getsid(sleepers[0]) != proc.pid, "the command runs in a session of its own"
            time.sleep(0.3)
            proc.send_signal(sig)
            out, _err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
                proc.communicate()
        time.sleep(0.5)
        survived = any(_alive(p) for p in sleepers)
        return (
            proc.returncode,
            [json.loads(x)["type"] for x in out.decode().splitlines() if x.strip()],
            survived,
        )
    finally:
        for p in sleepers:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if server:
            server.stop()


@pytest.mark.slow
@needs_real
def test_sigterm_kills_the_cli_by_signal_and_orphans_the_running_command(envs: tuple[Env, Env]) -> None:
    """SIGTERM: the CLI dies of the signal (returncode -15, a shell says 143), writes no
    turn.completed/turn.failed, and the command (its own session) keeps running."""
    assert REAL_CODEX is not None
    exes = (REAL_CODEX, str(FAKE_CODEX))
    results = [_signal_scenario(exe, env, signal.SIGTERM) for exe, env in zip(exes, envs, strict=True)]
    assert (
        results[0]
        == results[1]
        == (-signal.SIGTERM, ["thread.started", "turn.started", "item.started"], True)
    )


@pytest.mark.slow
@needs_real
def test_sigint_kills_the_running_command_and_exits_1(envs: tuple[Env, Env]) -> None:
    assert REAL_CODEX is not None
    exes = (REAL_CODEX, str(FAKE_CODEX))
    results = [_signal_scenario(exe, env, signal.SIGINT) for exe, env in zip(exes, envs, strict=True)]
    assert results[0] == results[1] == (1, ["thread.started", "turn.started", "item.started"], False)


@pytest.mark.slow
@needs_real
def test_sigterm_while_waiting_on_a_slow_model_kills_by_signal(envs: tuple[Env, Env]) -> None:
    assert REAL_CODEX is not None
    codes = []
    for exe, env in ((REAL_CODEX, envs[0]), (str(FAKE_CODEX), envs[1])):
        server = FakeResponsesServer([{"delay": 30, "text": "late"}]) if exe == REAL_CODEX else None
        _write_config(env, server.start().base_url if server else CLOSED_PORT_URL)
        try:
            proc = subprocess.Popen(
                [exe, *HEADLESS, "#fake delay 30\n#fake text late"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=env.cwd,
                env=env.environ(),
                start_new_session=True,
                preexec_fn=default_signals,
            )
            if server:
                wait_until(lambda server=server: server.requests, 30)
            time.sleep(1)
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
            codes.append((proc.returncode, [json.loads(x)["type"] for x in out.decode().splitlines()]))
        finally:
            if proc.poll() is None:
                _kill_group(proc)
            if server:
                server.stop()
    assert codes[0] == codes[1] == (-signal.SIGTERM, ["thread.started", "turn.started"])


@pytest.mark.slow
@needs_real
def test_detached_child_escapes_like_under_the_real_cli(envs: tuple[Env, Env], tmp_path: Path) -> None:
    cmd = "setsid sleep 30 >/dev/null 2>&1 </dev/null & echo $!"
    record = tmp_path / "record"
    real, fake = both(
        envs,
        HEADLESS,
        [{"exec": cmd}, {"text": "ok"}],
        "#fake detached-child 30\n#fake text ok",
        extra_env={"FAKE_CODEX_RECORD_DIR": str(record)},
    )
    pids = []
    try:
        assert_same_stream(real, fake)
        for run in (real, fake):
            item = run.items("command_execution")[0]
            assert item["command"] == f"/bin/bash -lc {cmd!r}"
            pids.append(int(item["aggregated_output"]))
        assert (record / f"{fake.thread_id}.detached-pid").read_text().strip() == str(pids[1])
        for pid in pids:
            assert wait_until(lambda pid=pid: _alive(pid) or any(_alive(k) for k in _descendants(pid)), 10)
    finally:
        for pid in pids:
            for p in [pid, *_descendants(pid)]:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass


# -- the fake on its own (no real CLI needed) ------------------------------------


def test_fake_records_invocation_and_exact_prompt(fake_env: Env, tmp_path: Path) -> None:
    record = tmp_path / "rec"
    body = b"\xe2\x82\xac line\n" * 50_000 + b"#fake text big\n"
    run = run_cli(
        str(FAKE_CODEX),
        fake_env,
        [*HEADLESS, "-m", "gpt-x", "-"],
        stdin=body,
        extra_env={
            "FAKE_CODEX_RECORD_DIR": str(record),
            "FAKE_CODEX_RECORD_ENV": "SECRET_A,ABSENT",
            "SECRET_A": "s3cr3t",
        },
    )
    assert run.code == 0, run.err
    tid = run.thread_id
    assert run.items("agent_message")[0]["text"] == "big"
    assert (record / f"{tid}.stdin").read_bytes() == body
    assert json.loads((record / f"{tid}.argv.json").read_text())[1:] == [*HEADLESS, "-m", "gpt-x", "-"]
    assert (record / f"{tid}.cwd").read_text() == str(fake_env.cwd)
    assert int((record / f"{tid}.pid").read_text()) > 0
    assert json.loads((record / f"{tid}.env.json").read_text()) == {"SECRET_A": "s3cr3t"}


def test_fake_runs_tools_in_new_sessions_and_records_their_pids(fake_env: Env, tmp_path: Path) -> None:
    record = tmp_path / "rec"
    t = time.time()
    run = run_cli(
        str(FAKE_CODEX),
        fake_env,
        [*HEADLESS, "#fake sleep 0.2\n#fake delay 0.2\n#fake bash ps -o sid= -p $$\n#fake write a/b.txt x y"],
        extra_env={"FAKE_CODEX_RECORD_DIR": str(record)},
    )
    assert run.code == 0 and time.time() - t >= 0.4
    pids = [int(x) for x in (record / f"{run.thread_id}.tool-pids").read_text().split()]
    assert len(pids) == 2 and not any(_alive(p) for p in pids)
    assert run.items("command_execution")[1]["aggregated_output"].strip() == str(pids[1])
    assert (fake_env.cwd / "a" / "b.txt").read_text() == "x y\n"
    assert run.events[-1]["usage"]["input_tokens"] == 40, "4 model responses, 10 tokens each"


def test_fake_exit_and_truncate(fake_env: Env) -> None:
    run = run_cli(str(FAKE_CODEX), fake_env, [*HEADLESS, "#fake text partial\n#fake exit 7"])
    assert run.code == 7
    assert [shape(e) for e in run.events] == [
        ("thread.started", None),
        ("turn.started", None),
        ("item.completed", "agent_message"),
    ]
    run = run_cli(str(FAKE_CODEX), fake_env, [*HEADLESS, "#fake turns 1\n#fake truncate"])
    assert run.code == 1 and not run.out.endswith("\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(run.out.split("\n")[-1])


def test_fake_api_error_and_stderr(fake_env: Env) -> None:
    run = run_cli(str(FAKE_CODEX), fake_env, [*HEADLESS, "#fake stderr oops\n#fake api-error 400 bad"])
    assert run.code == 1 and "oops\n" in run.err
    assert [e["type"] for e in run.events][-2:] == ["error", "turn.failed"]


def test_fake_sigterm_dies_by_signal_and_leaves_the_command_running(fake_env: Env) -> None:
    code, types, survived = _signal_scenario(str(FAKE_CODEX), fake_env, signal.SIGTERM)
    assert (code, types, survived) == (
        -signal.SIGTERM,
        ["thread.started", "turn.started", "item.started"],
        True,
    )


def test_fake_resume_keeps_thread_and_cumulative_usage(fake_env: Env) -> None:
    first = run_cli(str(FAKE_CODEX), fake_env, [*HEADLESS, "#fake text one"])
    again = run_cli(str(FAKE_CODEX), fake_env, [*HEADLESS, "resume", first.thread_id, "#fake text two"])
    assert again.code == 0 and again.thread_id == first.thread_id
    assert again.events[-1]["usage"]["input_tokens"] == 20
    assert len(fake_env.rollouts()) == 1


def test_fake_rejects_unknown_directive(fake_env: Env) -> None:
    run = run_cli(str(FAKE_CODEX), fake_env, [*HEADLESS, "#fake fly away"])
    assert run.code == 2 and "bad directive" in run.err


def test_fake_rejects_full_auto_like_the_real_cli(fake_env: Env) -> None:
    run = run_cli(str(FAKE_CODEX), fake_env, ["exec", "--full-auto", "hi"])
    assert run.code == 2 and "\nerror: unexpected argument '--full-auto' found\n" in run.err


def test_fake_startup_is_fast(fake_env: Env) -> None:
    t = time.time()
    for _ in range(5):
        run = run_cli(str(FAKE_CODEX), fake_env, [*HEADLESS, "#fake text hi"])
        assert run.code == 0
    assert (time.time() - t) / 5 < 0.5


# -- the scripted server on its own ----------------------------------------------


def _post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _sse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_server_streams_script_entries_and_errors_on_loopback() -> None:
    script = [
        {"text": "hi", "exec": "ls"},
        {"write": {"path": "a.txt", "content": "x\ny\n"}},
        {"error": {"status": 400, "message": "nope"}},
        {"delay": 0.3, "text": "slow"},
    ]
    with FakeResponsesServer(script) as srv:
        assert srv.base_url.startswith("http://127.0.0.1:")
        url = srv.base_url + "/v1/responses"
        main = {"model": "m", "stream": True, "tools": [{"type": "function", "name": "exec_command"}]}
        status, text = _post(url, main)
        events = _sse(text)
        assert status == 200
        assert events[0]["type"] == "response.created"
        assert (
            events[-1]["type"] == "response.completed"
            and events[-1]["response"]["usage"]["input_tokens"] == 10
        )
        done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        assert [i["type"] for i in done] == ["message", "function_call"]
        assert json.loads(done[1]["arguments"]) == {"cmd": "ls"}
        patch = next(e["item"] for e in _sse(_post(url, main)[1]) if e["type"] == "response.output_item.done")
        assert patch["type"] == "custom_tool_call" and patch["name"] == "apply_patch"
        assert patch["input"] == "*** Begin Patch\n*** Add File: a.txt\n+x\n+y\n*** End Patch"
        status, text = _post(url, main)
        assert status == 400 and json.loads(text)["error"]["message"] == "nope"
        t = time.time()
        _post(url, main)
        assert time.time() - t >= 0.3
        assert _post(url, {"input": []})[0] == 200, "a request without tools is a side request"
        assert srv.consumed == 4 and len(srv.main_requests) == 4 and len(srv.requests) == 5


def test_server_command_line_prints_its_port(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"text": "from file"}]))
    proc = subprocess.Popen(
        [sys.executable, str(FAKES / "openai_responses_api.py"), "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        _, text = _post(f"http://127.0.0.1:{port}/v1/responses", {"tools": [{"type": "x"}]})
        done = [e for e in _sse(text) if e["type"] == "response.output_item.done"]
        assert done[0]["item"]["content"][0]["text"] == "from file"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
