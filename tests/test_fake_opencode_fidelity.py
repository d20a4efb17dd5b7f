"""Fidelity of tests/fakes/opencode against the real OpenCode CLI (``opencode run``).

Each scenario runs the real CLI against the scripted FakeOpenAIChatServer
(tests/fakes/openai_chat_api.py) and the fake CLI with equivalent ``#fake``
directives, each in its own temporary HOME, TMPDIR and cwd, and compares exit
codes, stderr texts, the sequence of JSON events, key sets, files written,
prompt handling, the SQLite session store and resume.

The real CLI is found through ``$OPENCLAW_REAL_OPENCODE``, then
``.tools/opencode/node_modules/.bin/opencode`` (``npm install --prefix
.tools/opencode opencode-ai@1.18.33``). Without it the real-CLI tests skip and
the fake-only tests still run. Nothing here reaches beyond 127.0.0.1: see
``Env.environ`` for the offline recipe.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import default_signals, wait_until

REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"
FAKE_OPENCODE = FAKES / "opencode"
sys.path.insert(0, str(FAKES))
from openai_chat_api import FakeOpenAIChatServer, opencode_config  # noqa: E402

VERSION = "1.18.33"


def _find_real_opencode() -> str | None:
    for cand in (
        os.environ.get("OPENCLAW_REAL_OPENCODE"),
        str(REPO / ".tools" / "opencode" / "node_modules" / ".bin" / "opencode"),
    ):
        if not cand or not os.path.isfile(cand) or not os.access(cand, os.X_OK):
            continue
        if Path(cand).resolve() == FAKE_OPENCODE.resolve():
            continue
        try:
            out = subprocess.run(
                [cand, "--version"],
                capture_output=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"},
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.fullmatch(rb"\d+\.\d+\.\d+\n", out.stdout):
            return cand
    return None


REAL_OPENCODE = _find_real_opencode()
_skip_without_real = pytest.mark.skipif(
    REAL_OPENCODE is None,
    reason="real opencode CLI not found (set OPENCLAW_REAL_OPENCODE, or "
    "npm install --prefix .tools/opencode opencode-ai@1.18.33)",
)


def real_cli(fn: Any) -> Any:
    """A side-by-side test: slow, and skipped without the real CLI."""
    return pytest.mark.slow(_skip_without_real(fn))


JSON = ["run", "--format", "json"]
TIMEOUT = 90
SID_RE = re.compile(r"ses_[0-9a-f]{12}[0-9A-Za-z]{14}")


@dataclass
class Run:
    code: int
    out: str
    err: str
    env: Env
    server: FakeOpenAIChatServer | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def first(self, type_: str) -> dict[str, Any]:
        for ev in self.events:
            if ev["type"] == type_:
                return ev
        raise AssertionError(f"no {type_} event in {self.out!r}")

    @property
    def session_id(self) -> str:
        return str(self.events[0]["sessionID"])


class Env:
    """A temporary HOME/TMPDIR/cwd triple for one CLI, reusable across runs."""

    def __init__(self, base: Path, name: str):
        self.home = base / f"{name}-home"
        self.tmp = base / f"{name}-tmp"
        self.cwd = (base / f"{name}-cwd").resolve()
        for d in (self.home, self.tmp, self.cwd):
            d.mkdir(parents=True, exist_ok=True)
        self.config = self.home / "opencode-test.json"
        self.seed()

    def seed(self) -> None:
        """Make the global config dir look installed, so OpenCode does not run its
        background ``npm install @opencode-ai/plugin`` (a registry lookup) in it."""
        d = self.home / ".config" / "opencode"
        (d / "node_modules").mkdir(parents=True, exist_ok=True)
        deps = {"@opencode-ai/plugin": VERSION}
        (d / "package.json").write_text(json.dumps({"dependencies": deps}))
        (d / "package-lock.json").write_text(
            json.dumps({"lockfileVersion": 3, "packages": {"": {"dependencies": deps}}})
        )

    @property
    def db(self) -> Path:
        return self.home / ".local" / "share" / "opencode" / "opencode.db"

    def sessions(self) -> dict[str, dict[str, Any]]:
        """session id -> {directory, title, messages, parent_id} from the SQLite store."""
        con = sqlite3.connect(self.db)
        try:
            rows = con.execute("SELECT id, directory, title, parent_id FROM session").fetchall()
            counts = dict(
                con.execute("SELECT session_id, count(*) FROM message GROUP BY session_id").fetchall()
            )
        finally:
            con.close()
        return {
            r[0]: {"directory": r[1], "title": r[2], "parent_id": r[3], "messages": counts.get(r[0], 0)}
            for r in rows
        }

    def environ(
        self, base_url: str, extra: dict[str, str] | None, cost: dict[str, float] | None
    ) -> dict[str, str]:
        self.config.write_text(json.dumps(opencode_config(base_url, cost=cost)))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
            "OPENCODE_CONFIG": str(self.config),
            "OPENCODE_DISABLE_MODELS_FETCH": "true",
            "OPENCODE_DISABLE_AUTOUPDATE": "true",
            # if the seed above ever stops sufficing, fail on 127.0.0.1 rather than
            # reach registry.npmjs.org
            "npm_config_registry": "http://127.0.0.1:9/",
        }
        env.update(extra or {})
        return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def run_cli(
    exe: str,
    env: Env,
    args: list[str],
    *,
    stdin: bytes = b"",
    extra_env: dict[str, str] | None = None,
    script: list[dict[str, Any]] | None = None,
    cost: dict[str, float] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run one CLI to completion. The real one gets a scripted API server; the
    fake one gets the URL of a closed port (it must never call the network)."""
    server = FakeOpenAIChatServer(script or []) if exe != str(FAKE_OPENCODE) else None
    base_url = "http://127.0.0.1:9"
    if server is not None:
        server.start()
        base_url = server.base_url
    try:
        proc = subprocess.Popen(
            [exe, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd or env.cwd,
            env=env.environ(base_url, extra_env, cost),
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


def both(
    envs: tuple[Env, Env],
    args: list[str],
    script: list[dict[str, Any]],
    directives: str,
    *,
    extra_env: dict[str, str] | None = None,
    cost: dict[str, float] | None = None,
) -> tuple[Run, Run]:
    """The real CLI with ``script`` and the fake with ``directives``, both prompted on stdin."""
    assert REAL_OPENCODE is not None
    real = run_cli(REAL_OPENCODE, envs[0], args, stdin=b"go", script=script, extra_env=extra_env, cost=cost)
    fake = run_cli(
        str(FAKE_OPENCODE), envs[1], args, stdin=directives.encode(), extra_env=extra_env, cost=cost
    )
    return real, fake


# -- comparisons ------------------------------------------------------------

#: What openclaw-agent reads from the events: both CLIs must have these keys.
READ_KEYS = {
    "step_start": {"sessionID", "part.type"},
    "text": {"sessionID", "part.text"},
    "tool_use": {"part.tool", "part.callID", "part.state.status", "part.state.input"},
    "step_finish": {"part.reason", "part.cost", "part.tokens.input", "part.tokens.output"},
    "error": {"error.name", "error.data.message"},
}


def _get(ev: dict[str, Any], dotted: str) -> Any:
    cur: Any = ev
    for k in dotted.split("."):
        if not isinstance(cur, dict) or k not in cur:
            raise KeyError(dotted)
        cur = cur[k]
    return cur


def _no_more(fake: Any, real: Any, what: str) -> None:
    """The fake has no key the real CLI lacks, recursively through dicts. The real one
    may have more (a newer CLI adds keys; a git repo adds ``snapshot``)."""
    if not isinstance(fake, dict) or not isinstance(real, dict):
        return
    extra = set(fake) - set(real)
    assert not extra, f"keys only the fake has in {what}: {extra}"
    for k in fake:
        if k not in ("input", "responseHeaders"):
            _no_more(fake[k], real[k], f"{what}.{k}")


def _swap(value: Any, real: Run, fake: Run) -> Any:
    """``value`` from the real run, with its cwd replaced by the fake run's cwd."""
    text = json.dumps(value).replace(str(real.env.cwd), str(fake.env.cwd))
    text = text.replace(str(real.env.cwd).lstrip("/"), str(fake.env.cwd).lstrip("/"))
    return json.loads(text)


def assert_same_stream(real: Run, fake: Run) -> None:
    assert fake.types == real.types, f"\nreal: {real.types}\nfake: {fake.types}\nreal err: {real.err}"
    for r, f in zip(real.events, fake.events, strict=True):
        _no_more(f, r, r["type"])
        for key in READ_KEYS[r["type"]]:
            _get(r, key)
            _get(f, key)
        assert SID_RE.fullmatch(f["sessionID"]) and SID_RE.fullmatch(r["sessionID"])
        if "part" in r:
            for key in ("type", "tool", "reason", "text", "tokens", "cost"):
                assert f["part"].get(key) == r["part"].get(key), (r["type"], key)
            if r["type"] == "tool_use":
                rs, fs = r["part"]["state"], f["part"]["state"]
                assert fs["status"] == rs["status"]
                assert fs["input"] == _swap(rs["input"], real, fake)
                for key in ("output", "error", "title"):
                    assert fs.get(key) == _swap(rs.get(key), real, fake), key
                if "metadata" in rs:
                    for key in ("exit", "exists", "filepath", "output", "truncated"):
                        assert fs["metadata"].get(key) == _swap(rs["metadata"].get(key), real, fake), key
        if r["type"] == "error":
            assert f["error"]["name"] == r["error"]["name"]
            for key in ("message", "statusCode", "isRetryable"):
                assert f["error"]["data"].get(key) == r["error"]["data"].get(key), key
    assert len({e["sessionID"] for e in real.events}) <= 1
    assert len({e["sessionID"] for e in fake.events}) <= 1
    assert real.code == fake.code


def _normalise(text: str) -> str:
    return SID_RE.sub("<sid>", text)


# -- scenarios against the real CLI ---------------------------------------------


@real_cli
def test_text_reply_is_step_start_text_step_finish_and_exit_0(envs: tuple[Env, Env]) -> None:
    real, fake = both(envs, JSON, [{"text": "hello world"}], "#fake text hello world")
    assert real.code == 0, real.err
    assert real.types == ["step_start", "text", "step_finish"]
    assert_same_stream(real, fake)
    assert real.first("step_finish")["part"]["reason"] == "stop"
    assert real.err == fake.err == ""


@real_cli
def test_write_and_bash_tools_give_the_same_events_and_files(envs: tuple[Env, Env]) -> None:
    real_cwd = envs[0].cwd
    command = "echo out; sleep 0.3; echo err >&2; exit 3"  # the pause orders two pipes
    real, fake = both(
        envs,
        JSON,
        [
            {
                "text": "I will write it",
                "tool_call": {
                    "name": "write",
                    "arguments": {"filePath": f"{real_cwd}/out.txt", "content": "hello"},
                },
            },
            {
                "tool_call": {
                    "name": "bash",
                    "arguments": {"command": command, "description": "Run shell command"},
                }
            },
            {
                "tool_call": {
                    "name": "bash",
                    "arguments": {"command": "true", "description": "Run shell command"},
                }
            },
            {"text": "Wrote it."},
        ],
        f"#fake text I will write it\n#fake write out.txt hello\n#fake bash {command}\n#fake bash true\n"
        "#fake text Wrote it.",
    )
    assert real.code == 0, real.err
    assert (real_cwd / "out.txt").read_text() == (envs[1].cwd / "out.txt").read_text() == "hello"
    assert_same_stream(real, fake)
    bash = [
        e["part"]["state"] for e in real.events if e["type"] == "tool_use" and e["part"]["tool"] == "bash"
    ]
    assert bash[0]["output"] == "out\nerr\n" and bash[0]["metadata"]["exit"] == 3
    assert bash[0]["status"] == "completed", "a failing command is still a completed tool call"
    assert bash[1]["output"] == "(no output)"
    assert [e["part"]["reason"] for e in real.events if e["type"] == "step_finish"] == [
        "tool-calls",
        "tool-calls",
        "tool-calls",
        "stop",
    ]


@real_cli
def test_api_error_400_is_one_error_event_and_exit_1(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        JSON,
        [{"error": {"status": 400, "message": "bad request"}}],
        "#fake api-error 400 bad request",
    )
    assert real.code == 1
    assert real.types == ["error"]
    assert_same_stream(real, fake)
    data = real.first("error")["error"]["data"]
    assert data["statusCode"] == 400 and data["isRetryable"] is False
    assert json.loads(fake.first("error")["error"]["data"]["responseBody"]) == json.loads(
        data["responseBody"]
    )


@real_cli
def test_api_error_after_a_tool_step_keeps_the_finished_steps(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        JSON,
        [
            {"tool_call": {"name": "bash", "arguments": {"command": "true", "description": "Run true"}}},
            {"error": {"status": 401, "message": "bad key"}},
        ],
        "#fake turns 1\n#fake api-error 401 bad key",
    )
    assert real.types == ["step_start", "tool_use", "step_finish", "error"]
    assert_same_stream(real, fake)
    assert real.code == 1


@real_cli
def test_unknown_model_is_an_unknown_error_event_and_exit_1(envs: tuple[Env, Env]) -> None:
    for model in ("mock/nope", "nope"):
        real, fake = both(envs, [*JSON, "-m", model], [], "#fake text x")
        assert real.types == ["error"] and real.code == 1
        assert_same_stream(real, fake)
        assert real.server is not None and not real.server.main_requests


@real_cli
def test_prompt_on_stdin_is_byte_exact_and_follows_the_positional_words(
    envs: tuple[Env, Env], tmp_path: Path
) -> None:
    """stdin is read to EOF and sent as is (invalid UTF-8 becomes U+FFFD; NUL, CR and
    trailing newlines are kept); positional words come first, joined with a newline;
    a word holding a space is wrapped in double quotes, inner quotes escaped."""
    assert REAL_OPENCODE is not None
    record = tmp_path / "record"
    cases = [
        ([], b"  first line\n\nzweite Zeile \xc3\xa9\r\n\ttab\n\n"),
        ([], b"bad \xff utf8 and nul \x00 end"),
        (["POS"], b"  \n"),
        (["a b", 'say "hi" now', "c", "--", "-d"], b""),
        (["two\nlines"], b"x"),
    ]
    for words, body in cases:
        real = run_cli(REAL_OPENCODE, envs[0], [*JSON, *words], stdin=body, script=[{"text": "ok"}])
        assert real.server is not None
        sent = real.server.main_requests[0]["body"]["messages"][1]["content"]
        fake = run_cli(
            str(FAKE_OPENCODE),
            envs[1],
            [*JSON, *words],
            stdin=body,
            extra_env={"FAKE_OPENCODE_RECORD_DIR": str(record)},
        )
        assert real.code == fake.code == 0, (real.err, fake.err)
        recorded = (record / f"{fake.session_id}.stdin").read_bytes()
        assert recorded.decode("utf-8", "replace") == sent, (words, body)
    assert sent == "two\nlines\nx"


@real_cli
def test_open_stdin_pipe_blocks_the_run_until_it_closes(envs: tuple[Env, Env]) -> None:
    """Unlike claude, there is no stdin timeout: an open pipe holds the run forever."""
    assert REAL_OPENCODE is not None
    for exe, env in ((REAL_OPENCODE, envs[0]), (str(FAKE_OPENCODE), envs[1])):
        server = FakeOpenAIChatServer([{"text": "ok"}]) if exe == REAL_OPENCODE else None
        base_url = server.start().base_url if server else "http://127.0.0.1:9"
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                [exe, *JSON, "hello"],
                stdin=read_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=env.cwd,
                env=env.environ(base_url, None, None),
                start_new_session=True,
            )
            os.close(read_fd)
            try:
                time.sleep(6)
                assert proc.poll() is None, f"{exe} did not wait for stdin"
                assert server is None or not server.requests
                os.write(write_fd, b"late")
                os.close(write_fd)
                write_fd = -1
                out, _ = proc.communicate(timeout=TIMEOUT)
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
                    proc.communicate()
            assert proc.returncode == 0
            assert [json.loads(x)["type"] for x in out.decode().splitlines()] == [
                "step_start",
                "text",
                "step_finish",
            ]
            if server:
                assert server.main_requests[0]["body"]["messages"][1]["content"] == "hello\nlate"
        finally:
            if write_fd >= 0:
                os.close(write_fd)
            if server:
                server.stop()


USAGE_CASES: list[tuple[str, list[str], bytes]] = [
    ("no message", [*JSON], b""),
    ("whitespace message", [*JSON], b"  \n\n"),
    ("unknown option", [*JSON, "--bogus", "hi"], b""),
    ("unknown short option", [*JSON, "-z", "hi"], b""),
    ("invalid format", ["run", "--format", "xml", "hi"], b""),
    ("fork without session", [*JSON, "--fork", "hi"], b""),
    ("session not found", [*JSON, "-s", "ses_0000000000000000000000000", "hi"], b""),
    ("session not an id", [*JSON, "--session", "garbage", "hi"], b""),
    ("session without a message", [*JSON, "-s", "garbage"], b""),
    ("session value missing", [*JSON, "-s"], b""),
    ("version", ["--version"], b""),
    ("run version", ["run", "-v"], b""),
    ("run help", ["run", "--help"], b""),
]


@real_cli
@pytest.mark.parametrize(("name", "args", "stdin"), USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_usage_errors_have_the_real_text_and_exit_code(
    envs: tuple[Env, Env], name: str, args: list[str], stdin: bytes
) -> None:
    assert REAL_OPENCODE is not None
    real = run_cli(REAL_OPENCODE, envs[0], args, stdin=stdin, script=[])
    fake = run_cli(str(FAKE_OPENCODE), envs[1], args, stdin=stdin)
    assert real.server is not None and not real.server.main_requests, "real CLI reached the model"
    assert (fake.code, fake.out, fake.err) == (real.code, real.out, real.err)


@real_cli
def test_resume_with_session_keeps_the_id_and_appends_to_the_sqlite_store(envs: tuple[Env, Env]) -> None:
    first = both(envs, JSON, [{"text": "one"}], "#fake text one")
    sids = [r.session_id for r in first]
    for r, env in zip(first, envs, strict=True):
        assert r.code == 0, r.err
        assert env.db.is_file(), "sessions live in ~/.local/share/opencode/opencode.db"
        assert env.sessions()[r.session_id]["directory"] == str(env.cwd)
        assert env.sessions()[r.session_id]["messages"] == 2
    assert_same_stream(*first)

    real = run_cli(
        REAL_OPENCODE or "", envs[0], [*JSON, "-s", sids[0]], stdin=b"again", script=[{"text": "two"}]
    )
    fake = run_cli(str(FAKE_OPENCODE), envs[1], [*JSON, "-s", sids[1]], stdin=b"#fake text two")
    assert_same_stream(real, fake)
    assert (real.session_id, fake.session_id) == tuple(sids)
    assert real.server is not None
    history = real.server.main_requests[0]["body"]["messages"][1:]
    assert [m["role"] for m in history] == ["user", "assistant", "user"], "the old turn was sent again"
    assert envs[0].sessions()[sids[0]]["messages"] == envs[1].sessions()[sids[1]]["messages"] == 4

    # -c takes the latest session of this directory
    real = run_cli(REAL_OPENCODE or "", envs[0], [*JSON, "-c"], stdin=b"third", script=[{"text": "3"}])
    fake = run_cli(str(FAKE_OPENCODE), envs[1], [*JSON, "--continue"], stdin=b"#fake text 3")
    assert_same_stream(real, fake)
    assert (real.session_id, fake.session_id) == tuple(sids)

    # --fork copies the history into a new session
    real = run_cli(
        REAL_OPENCODE or "", envs[0], [*JSON, "-s", sids[0], "--fork"], stdin=b"4", script=[{"text": "4"}]
    )
    fake = run_cli(str(FAKE_OPENCODE), envs[1], [*JSON, "-s", sids[1], "--fork"], stdin=b"#fake text 4")
    assert_same_stream(real, fake)
    for r, env, old in zip((real, fake), envs, sids, strict=True):
        assert r.session_id != old
        new = env.sessions()[r.session_id]
        assert new["messages"] == 8 and new["parent_id"] is None
        assert new["title"].endswith(" (fork #1)")
        assert env.sessions()[old]["messages"] == 6


@real_cli
def test_continue_in_another_directory_starts_a_new_session(envs: tuple[Env, Env]) -> None:
    first = both(envs, JSON, [{"text": "one"}], "#fake text one")
    for r, env in zip(first, envs, strict=True):
        other = env.cwd.parent / (env.cwd.name + "-other")
        other.mkdir()
        exe = REAL_OPENCODE if r is first[0] else str(FAKE_OPENCODE)
        again = run_cli(
            exe or "", env, [*JSON, "-c"], stdin=b"#fake text two", script=[{"text": "two"}], cwd=other
        )
        assert again.code == 0 and again.session_id != r.session_id
        assert env.sessions()[again.session_id]["directory"] == str(other)


@real_cli
def test_resume_from_another_directory_runs_but_never_prints_nor_exits(envs: tuple[Env, Env]) -> None:
    """A real 1.18.33 bug: ``-s ID`` from a cwd other than the session's runs the
    turn (in the session's directory) but prints nothing and never exits."""
    first = both(envs, JSON, [{"text": "one"}], "#fake text one")
    for r, env in zip(first, envs, strict=True):
        is_real = r is first[0]
        other = env.cwd.parent / (env.cwd.name + "-elsewhere")
        other.mkdir()
        server = FakeOpenAIChatServer([{"text": "two"}]) if is_real else None
        base_url = server.start().base_url if server else "http://127.0.0.1:9"
        try:
            proc = subprocess.Popen(
                [(REAL_OPENCODE if is_real else str(FAKE_OPENCODE)) or "", *JSON, "-s", r.session_id],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=other,
                env=env.environ(base_url, None, None),
                start_new_session=True,
            )
            try:
                with pytest.raises(subprocess.TimeoutExpired):
                    proc.communicate(b"#fake text two", timeout=12)
                if server:
                    assert server.main_requests, "the turn did run"
            finally:
                _kill_group(proc)
                out, _ = proc.communicate()
            assert out == b""
            assert env.sessions()[r.session_id]["messages"] == 4
        finally:
            if server:
                server.stop()


@real_cli
def test_write_outside_the_cwd_is_auto_rejected_and_ends_the_run_with_exit_0(
    envs: tuple[Env, Env], tmp_path: Path
) -> None:
    """external_directory permission is "ask"; ``run`` auto-rejects it (unless --auto),
    says so on stderr, and stops after that step, still exiting 0."""
    targets = []
    for name in ("real", "fake"):
        (tmp_path / f"outside-{name}").mkdir()
        targets.append(tmp_path / f"outside-{name}" / "x.txt")
    script = [
        {"tool_call": {"name": "write", "arguments": {"filePath": str(targets[0]), "content": "x"}}},
        {"text": "after"},
    ]
    directives = f"#fake write {targets[1]} x\n#fake text after"

    def same_paths(run: Run) -> None:
        events = run.events
        for ev in events:  # the targets differ only in the directory name
            if ev["type"] == "tool_use":
                state = json.dumps(ev["part"]["state"]).replace("outside-real", "outside-fake")
                ev["part"]["state"] = json.loads(state)
        run.out = "\n".join(json.dumps(ev) for ev in events)

    real, fake = both(envs, JSON, script, directives)
    assert real.types == ["step_start", "tool_use", "step_finish"]
    same_paths(real)
    assert_same_stream(real, fake)
    assert real.err.replace("outside-real", "outside-fake") == fake.err
    assert "permission requested: external_directory" in real.err
    assert not targets[0].exists() and not targets[1].exists()
    assert real.first("tool_use")["part"]["state"]["status"] == "error"

    real, fake = both(envs, [*JSON, "--auto"], script, directives)
    assert real.types == ["step_start", "tool_use", "step_finish", "step_start", "text", "step_finish"]
    same_paths(real)
    assert_same_stream(real, fake)
    assert targets[0].read_text() == targets[1].read_text() == "x"


@real_cli
def test_step_cost_is_priced_from_the_config_model_per_million_tokens(envs: tuple[Env, Env]) -> None:
    real, fake = both(envs, JSON, [{"text": "hi"}], "#fake text hi", cost={"input": 3, "output": 15})
    assert_same_stream(real, fake)  # compares part.cost and part.tokens
    assert real.first("step_finish")["part"]["cost"] == pytest.approx((10 * 3 + 5 * 15) / 1e6)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal_scenario(exe: str, env: Env, sig: int, *, group: bool) -> None:
    """A bash tool runs ``sleep``; the CLI is signalled (alone, or its process group)."""
    is_real = exe != str(FAKE_OPENCODE)
    cmd = "echo start; sleep 30; echo slept"
    server = (
        FakeOpenAIChatServer(
            [{"tool_call": {"name": "bash", "arguments": {"command": cmd, "description": "x"}}}]
        )
        if is_real
        else None
    )
    base_url = server.start().base_url if server else "http://127.0.0.1:9"
    tools: list[int] = []
    prompt = env.tmp / "prompt"
    prompt.write_text(f"#fake bash {cmd}")
    try:
        with prompt.open("rb") as stdin:
            proc = subprocess.Popen(
                [exe, *JSON],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=env.cwd,
                env=env.environ(base_url, None, None),
                start_new_session=True,
                preexec_fn=default_signals,
            )
        try:
            tools = wait_until(
                lambda: [p for p in _children(proc.pid) if os.getsid(p) == p and _children(p)], timeout=30
            )
            assert all(os.getpgid(p) == p for p in tools), "the bash tool leads its own session and group"
            tools += [k for p in tools for k in _children(p)]
            time.sleep(0.3)
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
                proc.communicate()
        assert proc.returncode == -sig, (exe, proc.returncode, err)
        assert [json.loads(x)["type"] for x in out.decode().splitlines()] == ["step_start"]
        time.sleep(0.3)
        assert all(_alive(p) for p in tools), "the tool's tree outlives the CLI"
    finally:
        for p in tools:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if server:
            server.stop()


@real_cli
@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, False), (signal.SIGHUP, False)],
    ids=["sigterm", "sigterm-group", "sigint", "sighup"],
)
def test_signals_kill_the_cli_but_leave_the_bash_tool_running(
    envs: tuple[Env, Env], sig: int, group: bool
) -> None:
    """The CLI is one native process that dies of the signal (no handler, no more
    output); the bash tool runs in a session of its own and is orphaned."""
    assert REAL_OPENCODE is not None
    for exe, env in ((REAL_OPENCODE, envs[0]), (str(FAKE_OPENCODE), envs[1])):
        _signal_scenario(exe, env, sig, group=group)


@real_cli
def test_detached_child_escapes_like_a_real_bash_tool(envs: tuple[Env, Env], tmp_path: Path) -> None:
    cmd = "setsid sleep 30 >/dev/null 2>&1 </dev/null & echo $!"
    record = tmp_path / "record"
    real, fake = both(
        envs,
        JSON,
        [{"tool_call": {"name": "bash", "arguments": {"command": cmd, "description": "x"}}}, {"text": "ok"}],
        "#fake detached-child 30\n#fake text ok",
        extra_env={"FAKE_OPENCODE_RECORD_DIR": str(record)},
    )
    pids = []
    try:
        for run in (real, fake):
            assert run.code == 0, run.err
            pids.append(int(run.first("tool_use")["part"]["state"]["output"]))
        assert (record / f"{fake.session_id}.detached-pid").read_text().strip() == str(pids[1])
        for pid in pids:
            wait_until(lambda pid=pid: _alive(pid) or any(_alive(k) for k in _children(pid)), timeout=10)
        real.first("tool_use")["part"]["state"]["input"]["description"] = "Start a detached sleeper"
        fake.first("tool_use")  # same shape
        assert real.types == fake.types
    finally:
        for pid in pids:
            for p in [pid, *_children(pid)]:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass


@real_cli
def test_seeded_config_dir_keeps_the_real_cli_off_the_npm_registry(
    envs: tuple[Env, Env], tmp_path: Path
) -> None:
    """At start-up OpenCode runs a background ``npm install @opencode-ai/plugin`` in
    ~/.config/opencode (GET <registry>/@opencode-ai%2fplugin) unless that dir looks
    installed. Point the registry at a local recorder to see it, without the internet."""
    assert REAL_OPENCODE is not None
    with FakeOpenAIChatServer([]) as registry:
        env = {"npm_config_registry": registry.base_url + "/"}
        seeded = run_cli(REAL_OPENCODE, envs[0], JSON, stdin=b"hi", script=[{"text": "ok"}], extra_env=env)
        assert seeded.code == 0 and registry.requests == []
        bare = Env(tmp_path, "bare")
        for p in sorted((bare.home / ".config" / "opencode").rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        unseeded = run_cli(REAL_OPENCODE, bare, JSON, stdin=b"hi", script=[{"text": "ok"}], extra_env=env)
        assert unseeded.code == 0, "a failed plugin install is only a warning"
        assert [r["path"] for r in registry.requests] == ["/@opencode-ai%2fplugin"]


# -- the fake on its own (no real CLI needed) -------------------------------


@pytest.fixture
def fake_env(tmp_path: Path) -> Env:
    return Env(tmp_path, "fake")


def fake(env: Env, args: list[str], stdin: bytes = b"", **kw: Any) -> Run:
    return run_cli(str(FAKE_OPENCODE), env, args, stdin=stdin, **kw)


def test_fake_records_invocation_prompt_bytes_and_tool_pids(fake_env: Env, tmp_path: Path) -> None:
    record = tmp_path / "rec"
    body = b"\xe2\x82\xac line\r\n" * 50_000 + b"#fake bash echo $PPID\n#fake sleep 0.1\n#fake text big\n"
    run = fake(
        fake_env,
        [*JSON, "-m", "mock/fake-model", "POS"],
        body,
        extra_env={
            "FAKE_OPENCODE_RECORD_DIR": str(record),
            "FAKE_OPENCODE_RECORD_ENV": "SECRET_A,ABSENT",
            "SECRET_A": "s3cr3t",
        },
    )
    assert run.code == 0, run.err
    sid = run.session_id
    assert (record / f"{sid}.stdin").read_bytes() == b"POS\n" + body
    assert json.loads((record / f"{sid}.argv.json").read_text())[1:] == [
        *JSON,
        "-m",
        "mock/fake-model",
        "POS",
    ]
    assert (record / f"{sid}.cwd").read_text() == str(fake_env.cwd)
    assert int((record / f"{sid}.pid").read_text()) > 0
    assert json.loads((record / f"{sid}.env.json").read_text()) == {"SECRET_A": "s3cr3t"}
    pids = [int(x) for x in (record / f"{sid}.tool-pids").read_text().split()]
    assert len(pids) == 2 and not any(_alive(p) for p in pids)
    assert run.events[-2]["part"]["text"] == "big"


def test_fake_event_stream_for_tools_and_final_text(fake_env: Env) -> None:
    run = fake(fake_env, JSON, b"#fake text a\n#fake write d/f.txt hi\n#fake bash printf x\n#fake text b\n")
    assert run.code == 0, run.err
    step1 = ["step_start", "text", "tool_use", "step_finish"]
    step2 = ["step_start", "tool_use", "step_finish"]
    assert run.types == [*step1, *step2, "step_start", "text", "step_finish"]
    assert (fake_env.cwd / "d" / "f.txt").read_text() == "hi"
    write, bash = (e["part"] for e in run.events if e["type"] == "tool_use")
    assert (
        write["state"]["metadata"]["exists"] is False
        and write["state"]["output"] == "Wrote file successfully."
    )
    assert bash["state"]["output"] == "x" and bash["state"]["metadata"]["exit"] == 0
    fin = run.events[-1]["part"]
    assert fin["reason"] == "stop" and fin["tokens"]["input"] == 10 and fin["cost"] == 0
    assert SID_RE.fullmatch(run.session_id)


def test_fake_without_directives_replies_done(fake_env: Env) -> None:
    run = fake(fake_env, JSON, b"just a prompt")
    assert run.types == ["step_start", "text", "step_finish"] and run.events[1]["part"]["text"] == "Done."


def test_fake_quotes_positional_words_like_the_real_cli(fake_env: Env) -> None:
    """So a ``#fake`` directive passed as one positional word with spaces is no directive."""
    run = fake(fake_env, [*JSON, "#fake text hi"])
    assert run.events[1]["part"]["text"] == "Done."


def test_fake_api_error_exit_delay_stderr_and_truncate(fake_env: Env) -> None:
    run = fake(fake_env, JSON, b"#fake api-error 500 overloaded")
    assert run.code == 1 and run.types == ["error"]
    assert run.events[0]["error"]["data"]["isRetryable"] is True

    t = time.time()
    run = fake(fake_env, JSON, b"#fake delay 0.3\n#fake stderr oops\n#fake text partial\n#fake exit 7")
    assert time.time() - t >= 0.3
    assert run.code == 7 and run.err == "oops\n" and run.types == ["step_start", "text"]

    run = fake(fake_env, JSON, b"#fake turns 1\n#fake truncate")
    assert run.code == 1 and not run.out.endswith("\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(run.out.split("\n")[-1])


def test_fake_rejects_unknown_directive(fake_env: Env) -> None:
    run = fake(fake_env, JSON, b"#fake fly away")
    assert run.code == 2 and "bad directive" in run.err


def test_fake_sessions_resume_continue_and_fork_in_sqlite(fake_env: Env) -> None:
    first = fake(fake_env, JSON, b"#fake text one")
    sid = first.session_id
    assert fake_env.sessions()[sid]["messages"] == 2
    again = fake(fake_env, [*JSON, "-s", sid], b"#fake text two")
    assert again.session_id == sid and fake_env.sessions()[sid]["messages"] == 4
    cont = fake(fake_env, [*JSON, "-c"], b"#fake text three")
    assert cont.session_id == sid
    forked = fake(fake_env, [*JSON, "-c", "--fork"], b"#fake text four")
    assert forked.session_id != sid and fake_env.sessions()[forked.session_id]["messages"] == 8
    missing = fake(fake_env, [*JSON, "-s", "ses_nope"], b"x")
    assert missing.code == 1 and missing.err.endswith("Session not found\n")


def test_fake_usage_errors(fake_env: Env) -> None:
    assert fake(fake_env, JSON).err.endswith("You must provide a message or a command\n")
    bad = fake(fake_env, [*JSON, "--bogus"])
    assert bad.code == 1 and bad.err.startswith("opencode run [message..]") and not bad.err.endswith("\n")
    assert fake(fake_env, ["--version"]).out == f"{VERSION}\n"


def test_fake_sigterm_leaves_the_bash_tool_running(fake_env: Env) -> None:
    _signal_scenario(str(FAKE_OPENCODE), fake_env, signal.SIGTERM, group=True)


def test_fake_startup_is_fast(fake_env: Env) -> None:
    t = time.time()
    for _ in range(5):
        run = fake(fake_env, JSON, b"#fake text hi")
        assert run.code == 0 and run.types == ["step_start", "text", "step_finish"]
    assert (time.time() - t) / 5 < 0.5
