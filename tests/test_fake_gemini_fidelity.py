"""Fidelity of tests/fakes/gemini against the real Gemini CLI (0.61.0).

Each side-by-side scenario runs the real CLI against the scripted
FakeGeminiServer (tests/fakes/gemini_api.py) and the fake CLI with the
equivalent ``#fake`` directives, each in its own temporary 0700 HOME, TMPDIR
and cwd, and compares exit codes, stderr texts, the sequence of stream-json
events, key sets, files written, the prompt the model got, session files,
resume, and what signals do to the process tree.

The real CLI is found through $OPENCLAW_REAL_GEMINI, then
/work/main/.tools/gemini/node_modules/.bin/gemini (the repository's
.tools/gemini); without it those tests skip and the fake-only tests still run.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import default_signals, wait_until

REPO = Path(__file__).resolve().parent.parent
FAKES = Path(__file__).resolve().parent / "fakes"
FAKE_GEMINI = FAKES / "gemini"
sys.path.insert(0, str(FAKES))
from gemini_api import FakeGeminiServer  # noqa: E402


def _find_real_gemini() -> str | None:
    for cand in (
        os.environ.get("OPENCLAW_REAL_GEMINI"),
        str(REPO / ".tools" / "gemini" / "node_modules" / ".bin" / "gemini"),
        "/work/main/.tools/gemini/node_modules/.bin/gemini",
    ):
        if not cand or not os.path.isfile(cand) or not os.access(cand, os.X_OK):
            continue
        if Path(cand).resolve() == FAKE_GEMINI.resolve():
            continue
        try:
            out = subprocess.run(
                [cand, "--version"],
                capture_output=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ, GEMINI_CLI_NO_RELAUNCH="true"),
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.fullmatch(rb"\d+\.\d+\.\d+\n", out.stdout):
            return cand
    return None


REAL_GEMINI = _find_real_gemini()
needs_real = pytest.mark.skipif(
    REAL_GEMINI is None,
    reason="real gemini CLI not found (set OPENCLAW_REAL_GEMINI or npm install @google/gemini-cli@0.61.0 "
    "into .tools/gemini)",
)
real_slow = [pytest.mark.slow, needs_real]
MODEL = "gemini-2.5-flash"
STREAM = ["--output-format", "stream-json", "--skip-trust", "-m", MODEL]
YOLO = [*STREAM, "--yolo"]
TIMEOUT = 120
SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "general": {"sessionRetention": {"enabled": False}, "enableAutoUpdate": False},
    "privacy": {"usageStatisticsEnabled": False},
}


@dataclass
class Run:
    code: int
    out: str
    err: str
    env: Env
    server: FakeGeminiServer | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def first(self, type_: str) -> dict[str, Any]:
        return next(e for e in self.events if e["type"] == type_)

    @property
    def session_id(self) -> str:
        return str(self.first("init")["session_id"])


class Env:
    """A temporary 0700 HOME/TMPDIR/cwd triple for one CLI, reusable across runs."""

    def __init__(self, base: Path, name: str, settings: dict[str, Any] | None = None):
        base.chmod(0o700)  # the real CLI skips settings under a world-writable directory
        self.home = base / f"{name}-home"
        self.tmp = base / f"{name}-tmp"
        self.cwd = (base / f"{name}-cwd").resolve()
        for d in (self.home, self.tmp, self.cwd):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.write_settings(SETTINGS if settings is None else settings)

    def write_settings(self, settings: dict[str, Any]) -> None:
        gdir = self.home / ".gemini"
        gdir.mkdir(mode=0o700, exist_ok=True)
        (gdir / "settings.json").write_text(json.dumps(settings))

    def environ(self, base_url: str, extra: dict[str, str] | None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "GOOGLE_GEMINI_BASE_URL": base_url,
            "GEMINI_API_KEY": "fake-gemini-key",
        }
        env.update(extra or {})
        return {k: v for k, v in env.items() if v is not None}

    def sessions(self) -> list[Path]:
        return sorted(
            Path(p) for p in glob.glob(str(self.home / ".gemini" / "tmp" / "*" / "chats" / "*.jsonl"))
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def _start(
    exe: str,
    env: Env,
    args: list[str],
    script: list[dict[str, Any]] | None,
    extra_env: dict[str, str] | None,
    stdin: int | None = subprocess.PIPE,
) -> tuple[subprocess.Popen[bytes], FakeGeminiServer | None]:
    """The real CLI gets a scripted API server; the fake one the URL of a closed port
    (it must never call the network)."""
    server = FakeGeminiServer(script or []) if exe != str(FAKE_GEMINI) else None
    base_url = server.start().base_url if server is not None else "http://127.0.0.1:9"
    proc = subprocess.Popen(
        [exe, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=env.cwd,
        env=env.environ(base_url, extra_env),
        start_new_session=True,
        preexec_fn=default_signals,
    )
    return proc, server


def run_cli(
    exe: str,
    env: Env,
    args: list[str],
    *,
    stdin: bytes = b"",
    extra_env: dict[str, str] | None = None,
    script: list[dict[str, Any]] | None = None,
) -> Run:
    """Run one CLI to completion."""
    proc, server = _start(exe, env, args, script, extra_env)
    try:
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
    extra_env: dict[str, str] | None = None,
) -> tuple[Run, Run]:
    """The same prompt (the directives) on stdin to both; the real CLI's model is the script."""
    assert REAL_GEMINI is not None
    real = run_cli(REAL_GEMINI, envs[0], args, stdin=directives.encode(), script=script, extra_env=extra_env)
    fake = run_cli(str(FAKE_GEMINI), envs[1], args, stdin=directives.encode(), extra_env=extra_env)
    return real, fake


# -- comparisons ------------------------------------------------------------


def shape(ev: dict[str, Any]) -> tuple[Any, ...]:
    """(type, role or tool name or status) of one stream-json event."""
    t = ev.get("type")
    detail = ev.get("role") or ev.get("tool_name") or ev.get("status")
    return (t, detail)


#: The keys openclaw-agent reads: the fake must have them wherever the real CLI does.
READ_KEYS = {
    "init": {"session_id", "model"},
    "result": {"status", "stats", "error"},
    "stats": {"total_tokens", "input_tokens", "output_tokens", "tool_calls", "models", "duration_ms"},
}


def _no_more(fake: Any, real: Any, what: Any) -> None:
    """The fake has no key the real CLI lacks (the real one may add keys in a newer version)."""
    extra = set(fake) - set(real)
    assert not extra, f"keys only the fake has for {what}: {extra}"


def assert_same_stream(real: Run, fake: Run) -> None:
    assert [shape(e) for e in fake.events] == [shape(e) for e in real.events], (
        f"\nreal: {[shape(e) for e in real.events]}\nfake: {[shape(e) for e in fake.events]}"
    )
    for r, f in zip(real.events, fake.events, strict=True):
        _no_more(f, r, shape(r))
        assert set(r) - set(f) <= {"timestamp"} - set(f), f"real-only keys in {shape(r)}: {set(r) - set(f)}"
        if r["type"] == "tool_use":
            assert f["parameters"] == r["parameters"]
        if r["type"] == "tool_result":
            assert {k: v for k, v in f.items() if k not in ("timestamp", "tool_id")} == {
                k: v for k, v in r.items() if k not in ("timestamp", "tool_id")
            }
        if r["type"] == "message":
            assert f["content"] == r["content"]
            assert f.get("delta") == r.get("delta")
    if real.types and real.types[-1] == "result":
        rr, fr = real.events[-1], fake.events[-1]
        for key in READ_KEYS["result"] & set(rr):
            assert key in fr, f"the fake's result lacks {key!r}, which openclaw reads"
        _no_more(fr["stats"], rr["stats"], "stats")
        for key in ("total_tokens", "input_tokens", "output_tokens", "tool_calls", "cached", "input"):
            assert fr["stats"][key] == rr["stats"][key], key
        assert fr["stats"]["models"] == rr["stats"]["models"]
        assert fr.get("error") == rr.get("error")
    ri, fi = real.first("init"), fake.first("init")
    assert fi["model"] == ri["model"]
    assert real.code == fake.code, (real.code, fake.code, real.err[-500:], fake.err[-500:])


def _line_kind(obj: dict[str, Any]) -> str:
    if "$set" in obj:
        return "$set:" + ",".join(sorted(obj["$set"]))
    if "type" not in obj:
        return "header"
    kind = str(obj["type"])
    if obj.get("toolCalls"):
        kind += "+toolCalls"
    if isinstance(obj.get("content"), list) and obj["content"] and "functionResponse" in obj["content"][0]:
        kind += ":functionResponse"
    return kind


def session_shape(path: Path) -> list[str]:
    return [_line_kind(json.loads(x)) for x in path.read_text().splitlines() if x.strip()]


def assert_same_session(real: Run, fake: Run) -> None:
    rs, fs = real.env.sessions(), fake.env.sessions()
    assert len(rs) == len(fs) == 1, (rs, fs)
    assert session_shape(fs[0]) == session_shape(rs[0])
    # the file name: session-<YYYY-MM-DDTHH-MM>-<first 8 of the id>.jsonl under tmp/<slug>/chats
    for run, path in ((real, rs[0]), (fake, fs[0])):
        assert re.fullmatch(
            r"session-\d{4}-\d\d-\d\dT\d\d-\d\d-" + run.session_id[:8] + r"\.jsonl", path.name
        )
        assert path.parent.parent.name == run.env.cwd.name
        projects = json.loads((run.env.home / ".gemini" / "projects.json").read_text())
        assert projects == {"projects": {str(run.env.cwd): run.env.cwd.name}}
        header = json.loads(path.read_text().splitlines()[0])
        assert header["sessionId"] == run.session_id and header["kind"] == "main"
    for r, f in zip(
        [json.loads(x) for x in rs[0].read_text().splitlines()],
        [json.loads(x) for x in fs[0].read_text().splitlines()],
        strict=True,
    ):
        assert set(f) == set(r), (set(r) - set(f), set(f) - set(r))


# -- side by side: runs -------------------------------------------------------


# the pause orders the two pipes whose lines gemini merges
SHELL = "echo hi; sleep 0.3; echo err >&2; exit 3"


@pytest.mark.slow
@needs_real
def test_success_with_write_file_and_shell_tools_matches(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        YOLO,
        [
            {
                "text": "I will write it",
                "function_call": {"name": "write_file", "args": {"file_path": "out.txt", "content": "hello"}},
            },
            {
                "function_call": {
                    "name": "run_shell_command",
                    "args": {"command": SHELL},
                }
            },
            {"function_call": {"name": "run_shell_command", "args": {"command": "printf '  a\\n\\n'"}}},
            {"text": "All done."},
        ],
        f"#fake text I will write it\n#fake write out.txt hello\n#fake bash {SHELL}\n"
        "#fake bash printf '  a\\n\\n'\n#fake text All done.",
    )
    assert real.code == 0, real.err
    assert real.types == ["init", "message", "message", "tool_use", "tool_result"] + [
        "tool_use",
        "tool_result",
    ] * 2 + ["message", "result"]
    assert_same_stream(real, fake)
    assert_same_session(real, fake)
    assert (real.env.cwd / "out.txt").read_text() == (fake.env.cwd / "out.txt").read_text() == "hello"
    # a failing command is still a successful tool call; output is stdout+stderr, trimmed
    outputs = [e.get("output") for e in real.events if e["type"] == "tool_result"]
    assert outputs == [None, "hi\nerr", "a"]


@pytest.mark.slow
@needs_real
def test_api_error_400_exits_144_with_an_error_result(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        YOLO,
        [{"error": {"status": 400, "message": "bad thing happened"}}],
        "#fake api-error 400 bad thing happened",
    )
    assert real.code == fake.code == 144
    assert_same_stream(real, fake)
    assert real.types == ["init", "message", "result"]
    assert real.events[-1]["status"] == "error"
    assert real.events[-1]["error"]["message"].startswith("[API Error: ")


@pytest.mark.slow
@needs_real
@pytest.mark.parametrize(("fmt", "code"), [("text", 1), ("json", 144)])
def test_api_error_400_exit_code_by_output_format(envs: tuple[Env, Env], fmt: str, code: int) -> None:
    args = ["--output-format", fmt, "--skip-trust", "-m", MODEL]
    real, fake = both(envs, args, [{"error": {"status": 400, "message": "nope"}}], "#fake api-error 400 nope")
    assert real.code == fake.code == code
    assert real.out == fake.out == ""
    assert real.err.strip().splitlines()[-1] == fake.err.strip().splitlines()[-1]


@pytest.mark.slow
@needs_real
def test_api_error_after_a_tool_call_keeps_the_tokens_spent(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        YOLO,
        [
            {"function_call": {"name": "run_shell_command", "args": {"command": "true"}}},
            {"error": {"status": 400, "message": "later"}},
        ],
        "#fake turns 1\n#fake api-error 400 later",
    )
    assert real.code == 144
    assert_same_stream(real, fake)


@pytest.mark.slow
@needs_real
def test_text_output_prints_the_reply(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs, ["--skip-trust", "-m", MODEL], [{"text": "Hello there"}], "#fake text Hello there"
    )
    assert (real.code, real.out) == (fake.code, fake.out) == (0, "Hello there\n")


@pytest.mark.slow
@needs_real
def test_without_yolo_write_and_shell_tools_are_not_registered(envs: tuple[Env, Env]) -> None:
    script = [
        {"function_call": {"name": "write_file", "args": {"file_path": "o.txt", "content": "x"}}},
        {"function_call": {"name": "run_shell_command", "args": {"command": "true"}}},
        {"text": "end"},
    ]
    real, fake = both(envs, STREAM, script, "#fake write o.txt x\n#fake turns 1\n#fake text end")
    assert real.code == 0
    assert_same_stream(real, fake)
    assert [e.get("status") for e in real.events if e["type"] == "tool_result"] == ["error", "error"]
    assert not (real.env.cwd / "o.txt").exists() and not (fake.env.cwd / "o.txt").exists()
    # auto_edit registers write_file only
    real, fake = both(
        envs,
        [*STREAM, "--approval-mode", "auto_edit"],
        script,
        "#fake write o.txt x\n#fake turns 1\n#fake text end",
    )
    assert_same_stream(real, fake)
    assert [e.get("status") for e in real.events if e["type"] == "tool_result"] == ["success", "error"]


# -- side by side: the prompt -----------------------------------------------------


@pytest.mark.slow
@needs_real
def test_prompt_from_stdin_alone_and_joined_with_p(envs: tuple[Env, Env]) -> None:
    """stdin alone is the prompt, byte for byte (trailing newline kept); with -p too, the
    prompt is STDIN + "\\n\\n" + P; a positional prompt joins the same way."""
    body = "#fake text ok\nquotes ' \" $(x) `y` ünïcode ✓\n\n"
    for args, want in (
        ([], body),
        (["-p", "from p"], body + "\n\nfrom p"),
        (["positional words"], body + "\n\npositional words"),
    ):
        real, fake = both(envs, [*YOLO, *args], [{"text": "ok"}], body)
        assert real.code == fake.code == 0, real.err
        assert real.events[1]["content"] == fake.events[1]["content"] == want
        assert real.server is not None
        parts = real.server.main_requests[0]["body"]["contents"][0]["parts"]
        assert parts[-1]["text"] == want, "the prompt reached the model as sent"


@pytest.mark.slow
@needs_real
def test_prompt_with_only_p_and_closed_stdin(envs: tuple[Env, Env]) -> None:
    assert REAL_GEMINI is not None
    runs = []
    for exe, env in ((REAL_GEMINI, envs[0]), (str(FAKE_GEMINI), envs[1])):
        proc, server = _start(
            exe, env, [*YOLO, "-p", "#fake text ok"], [{"text": "ok"}], None, subprocess.DEVNULL
        )
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if server:
                server.stop()
        runs.append(Run(proc.returncode, out.decode(), err.decode(), env, server))
    assert_same_stream(*runs)
    assert runs[0].events[1]["content"] == "#fake text ok"


@pytest.mark.slow
@needs_real
def test_open_silent_stdin_is_given_up_after_half_a_second(envs: tuple[Env, Env]) -> None:
    """A stdin pipe nobody writes to: after 500 ms the CLI goes on with -p alone, silently."""
    assert REAL_GEMINI is not None
    runs = []
    for exe, env in ((REAL_GEMINI, envs[0]), (str(FAKE_GEMINI), envs[1])):
        read_fd, write_fd = os.pipe()
        try:
            proc, server = _start(exe, env, [*YOLO, "-p", "#fake text ok"], [{"text": "ok"}], None, read_fd)
            os.close(read_fd)
            try:
                out, err = proc.communicate(timeout=TIMEOUT)
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
                    proc.communicate()
                if server:
                    server.stop()
        finally:
            os.close(write_fd)
        runs.append(Run(proc.returncode, out.decode(), err.decode(), env, server))
    assert_same_stream(*runs)
    assert runs[0].code == 0 and runs[0].events[1]["content"] == "#fake text ok"
    assert "stdin" not in runs[0].err


# -- side by side: errors without a model call ----------------------------------------

SID = "11111111-2222-4333-8444-555555555555"
USAGE_CASES: list[tuple[str, list[str], bytes, dict[str, str]]] = [
    ("unknown option", ["-p", "hi", "--bogus"], b"", {}),
    ("unknown options", ["--bogus", "--zap", "-p", "hi"], b"", {}),
    ("unknown short option", ["-p", "hi", "-z"], b"", {}),
    ("missing argument", ["-p", "hi", "-m"], b"", {}),
    ("invalid output format", ["-p", "hi", "--output-format", "xml"], b"", {}),
    ("resume and session id", ["-p", "hi", "--session-id", SID, "-r", SID], b"", {}),
    ("positional and -p", ["-p", "hi", "extra"], b"", {}),
    ("yolo and approval mode", ["-p", "hi", "-y", "--approval-mode", "yolo"], b"", {}),
    ("no input", [*STREAM], b"", {}),
    ("empty -p and no stdin", [*STREAM, "-p", ""], b"", {}),
    ("resume with no sessions", [*STREAM, "-r", SID, "-p", "hi"], b"", {}),
    ("resume index with no sessions", [*STREAM, "-r", "3", "-p", "hi"], b"", {}),
    ("untrusted folder", ["--output-format", "stream-json", "-p", "hi"], b"", {}),
    ("untrusted folder, yolo", ["--output-format", "stream-json", "-y", "-p", "hi"], b"", {}),
    ("no api key", [*STREAM, "-p", "hi"], b"", {"GEMINI_API_KEY": ""}),
    ("version", ["--version"], b"", {}),
    ("help", ["--help"], b"", {}),
]


def _last_line(text: str) -> str:
    lines = [x for x in text.splitlines() if x.strip()]
    return lines[-1] if lines else ""


@pytest.mark.slow
@needs_real
@pytest.mark.parametrize(("name", "args", "stdin", "extra"), USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_usage_errors_match(
    envs: tuple[Env, Env], name: str, args: list[str], stdin: bytes, extra: dict[str, str]
) -> None:
    assert REAL_GEMINI is not None
    extra = {k: v for k, v in extra.items()}
    if extra.get("GEMINI_API_KEY") == "":
        extra["GEMINI_API_KEY"] = None  # type: ignore[assignment]
    real = run_cli(REAL_GEMINI, envs[0], args, stdin=stdin, extra_env=extra, script=[])
    fake = run_cli(str(FAKE_GEMINI), envs[1], args, stdin=stdin, extra_env=extra)
    assert real.server is not None and not real.server.main_requests, "real CLI reached the model"
    assert fake.code == real.code, (real.code, real.err[-800:])
    assert fake.out == real.out
    if "Usage: gemini" in real.err:  # an argument error: the message, then the full help
        assert fake.err == real.err
    else:
        norm = str(envs[0].home), str(envs[1].home)
        assert _last_line(fake.err).replace(norm[1], "HOME") == _last_line(real.err).replace(norm[0], "HOME")


@pytest.mark.slow
@needs_real
def test_without_auth_setting_the_base_url_means_gateway_auth_and_exit_41(envs: tuple[Env, Env]) -> None:
    for env in envs:
        env.write_settings({})
    real = run_cli(REAL_GEMINI or "", envs[0], [*YOLO, "-p", "hi"], script=[])
    fake = run_cli(str(FAKE_GEMINI), envs[1], [*YOLO, "-p", "hi"])
    assert real.code == fake.code == 41
    # (the real CLI writes it and the YOLO warning from two places; their order varies)
    assert "Invalid auth method selected." in real.err.splitlines()
    assert "Invalid auth method selected." in fake.err.splitlines()


# -- side by side: sessions and resume --------------------------------------------


@pytest.mark.slow
@needs_real
def test_session_id_resume_and_reuse(envs: tuple[Env, Env]) -> None:
    # A session file is named by the minute it was made in. Across a minute boundary the real
    # CLI was once seen (CI, under load) to leave a second file where the fake appends to the
    # first; which run makes it is not known yet (FAKE-GEMINI.md): keep the runs in one minute.
    if time.time() % 60 > 30:
        time.sleep(60.5 - time.time() % 60)
    first = both(envs, [*YOLO, "--session-id", SID], [{"text": "one"}], "#fake text one")
    for run in first:
        assert run.code == 0 and run.session_id == SID
    assert_same_session(*first)
    # reusing the id is refused
    real, fake = both(envs, [*YOLO, "--session-id", SID], [{"text": "x"}], "#fake text x")
    assert real.code == fake.code == 42
    assert _last_line(real.err) == _last_line(fake.err)
    # resume by id, "latest" and index: the same id, appended to the same file
    for ident in (SID, "latest", "1"):
        real, fake = both(envs, [*YOLO, "-r", ident], [{"text": "two"}], "#fake text two")
        assert_same_stream(real, fake)
        assert real.session_id == fake.session_id == SID
        assert_same_session(real, fake)
    assert real.server is not None
    contents = real.server.main_requests[0]["body"]["contents"]
    assert len(contents) == 1 + 2 * 3, "the resumed history (3 earlier exchanges) went to the model"
    # an unknown id
    other = str(uuid.uuid4())
    real, fake = both(envs, [*YOLO, "-r", other], [{"text": "x"}], "#fake text x")
    assert real.code == fake.code == 42
    assert real.err.splitlines()[-3:][0].replace(str(envs[0].home), "H") == fake.err.splitlines()[-3:][
        0
    ].replace(str(envs[1].home), "H")


@pytest.mark.slow
@needs_real
def test_resume_latest_without_sessions_starts_a_new_one(envs: tuple[Env, Env]) -> None:
    real, fake = both(envs, [*YOLO, "-r", "latest"], [{"text": "x"}], "#fake text x")
    assert real.code == fake.code == 0
    assert_same_stream(real, fake)
    assert "No previous sessions found for this project." in real.err
    assert "No previous sessions found for this project." in fake.err


# -- side by side: processes and signals --------------------------------------------


def _proc_table() -> dict[int, tuple[int, int, int, bytes]]:
    """pid -> (ppid, pgid, sid, argv0 basename)"""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                rest = fh.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                argv0 = fh.read().split(b"\0")[0]
        except OSError:
            continue
        table[int(name)] = (int(rest[1]), int(rest[2]), int(rest[3]), os.path.basename(argv0))
    return table


def _descendants(root: int) -> dict[int, tuple[int, int, int, bytes]]:
    table = _proc_table()
    fam = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, *_rest) in table.items():
            if ppid in fam and pid not in fam:
                fam.add(pid)
                grew = True
    return {p: table[p] for p in fam if p in table}


@dataclass
class Tree:
    """The process tree of a CLI while its shell tool runs ``sleep``."""

    launcher: int
    workers: list[int]  # CLI processes below the launcher (the relaunched child)
    shell_leader: int
    sleeper: int
    leader_sid: int
    leader_pgid: int


def _start_sleeping(
    exe: str, env: Env, seconds: int, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], FakeGeminiServer | None, Tree]:
    cmd = f"echo start; sleep {seconds}; echo slept"
    script = [{"function_call": {"name": "run_shell_command", "args": {"command": cmd}}}, {"text": "fin"}]
    proc, server = _start(exe, env, [*YOLO, "-p", f"#fake bash {cmd}\n#fake text fin"], script, extra_env)
    assert proc.stdin is not None
    proc.stdin.close()
    proc.stdin = None

    def sleeping() -> Tree | None:
        fam = _descendants(proc.pid)
        sleepers = [p for p, v in fam.items() if v[3] == b"sleep"]
        if not sleepers:
            return None
        leaders = [p for p, v in fam.items() if v[2] == p and p != proc.pid]
        workers = [p for p, v in fam.items() if v[1] == proc.pid and p != proc.pid]
        if not leaders:
            return None
        lead = leaders[0]
        return Tree(proc.pid, workers, lead, sleepers[0], fam[lead][2], fam[lead][1])

    tree = wait_until(sleeping, timeout=90, interval=0.1)
    return proc, server, tree


def _finish(proc: subprocess.Popen[bytes], server: FakeGeminiServer | None) -> tuple[int, str, float]:
    t = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.communicate()
        if server:
            server.stop()
    return proc.returncode, out.decode(), time.monotonic() - t


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _types(out: str) -> list[str]:
    return [json.loads(x)["type"] for x in out.splitlines() if x.strip()]


@pytest.mark.slow
@needs_real
@pytest.mark.parametrize("relaunch", [True, False], ids=["relaunch", "no-relaunch"])
def test_sigterm_to_the_group_exits_0_with_no_result_and_the_shell_tool_lives_on(
    envs: tuple[Env, Env], relaunch: bool
) -> None:
    assert REAL_GEMINI is not None
    extra = None if relaunch else {"GEMINI_CLI_NO_RELAUNCH": "true"}
    seen = []
    for exe, env in ((REAL_GEMINI, envs[0]), (str(FAKE_GEMINI), envs[1])):
        proc, server, tree = _start_sleeping(exe, env, 60, extra)
        try:
            # one CLI process below the launcher when relaunching, none otherwise
            assert len(tree.workers) == (1 if relaunch else 0), tree
            assert tree.leader_sid == tree.leader_pgid == tree.shell_leader != proc.pid
            os.killpg(proc.pid, signal.SIGTERM)
            code, out, _took = _finish(proc, server)
            time.sleep(0.3)
            seen.append((code, _types(out), _alive(tree.sleeper), len(tree.workers)))
        finally:
            _kill(tree.sleeper)
            _kill(tree.shell_leader)
    assert seen[0] == seen[1], seen
    assert seen[0][:3] == (0, ["init", "message", "tool_use"], True)


@pytest.mark.slow
@needs_real
def test_sigterm_to_the_launcher_pid_alone_is_ignored_and_the_run_completes(envs: tuple[Env, Env]) -> None:
    assert REAL_GEMINI is not None
    seen = []
    for exe, env in ((REAL_GEMINI, envs[0]), (str(FAKE_GEMINI), envs[1])):
        proc, server, tree = _start_sleeping(exe, env, 3)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            os.kill(proc.pid, sig)
        code, out, _took = _finish(proc, server)
        seen.append((code, _types(out)[-1], _alive(tree.sleeper)))
    assert seen[0] == seen[1] == (0, "result", False)


@pytest.mark.slow
@needs_real
def test_sigkill_of_the_worker_makes_the_launcher_exit_1(envs: tuple[Env, Env]) -> None:
    assert REAL_GEMINI is not None
    seen = []
    for exe, env in ((REAL_GEMINI, envs[0]), (str(FAKE_GEMINI), envs[1])):
        proc, server, tree = _start_sleeping(exe, env, 60)
        try:
            worker = next(p for p, v in _descendants(proc.pid).items() if v[0] == proc.pid and v[2] != p)
            os.kill(worker, signal.SIGKILL)
            code, out, _took = _finish(proc, server)
            seen.append((code, _types(out)[-1], _alive(tree.sleeper)))
        finally:
            _kill(tree.sleeper)
            _kill(tree.shell_leader)
    assert seen[0] == seen[1] == (1, "tool_use", True)


@pytest.mark.slow
@needs_real
def test_a_long_model_call_can_be_killed_by_group_sigterm(envs: tuple[Env, Env]) -> None:
    """While the CLI waits on the model (the server delays), SIGTERM to the group ends it:
    exit 0, no result."""
    assert REAL_GEMINI is not None
    seen = []
    for exe, env in ((REAL_GEMINI, envs[0]), (str(FAKE_GEMINI), envs[1])):
        proc, server = _start(
            exe, env, [*YOLO, "-p", "#fake delay 30\n#fake text late"], [{"delay": 30, "text": "late"}], None
        )
        assert proc.stdin is not None
        proc.stdin.close()
        proc.stdin = None
        assert proc.stdout is not None
        early = b""
        while b"\n" not in early:  # the init line: the run has started (read the fd, not a buffer)
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, "no output"
            early += chunk
        time.sleep(1.5)
        os.killpg(proc.pid, signal.SIGTERM)
        code, out, took = _finish(proc, server)
        out = early.decode() + out
        seen.append((code, _types(out), took < 15))
    assert seen[0] == seen[1] == (0, ["init", "message"], True)


# -- the fake on its own (no real CLI needed) -------------------------------


def test_fake_success_run_writes_runs_and_reports(fake_env: Env) -> None:
    run = run_cli(
        str(FAKE_GEMINI),
        fake_env,
        YOLO,
        stdin=b"#fake text hi\n#fake write sub/out.txt hello\n#fake bash echo a; echo b >&2\n#fake text bye",
    )
    assert run.code == 0, run.err
    tools = ["tool_use", "tool_result"] * 2
    assert run.types == ["init", "message", "message", *tools, "message", "result"]
    assert (fake_env.cwd / "sub" / "out.txt").read_text() == "hello"
    res = run.events[-1]
    assert res["status"] == "success" and res["stats"]["tool_calls"] == 2
    assert res["stats"]["models"] == {MODEL: {"total_tokens": 45, "input_tokens": 30, "output_tokens": 15,
                                              "cached": 0, "input": 30}}  # fmt: skip
    assert run.events[6]["output"] == "a\nb"
    assert len(fake_env.sessions()) == 1


def test_fake_records_invocation(fake_env: Env, tmp_path: Path) -> None:
    record = tmp_path / "rec"
    sid = str(uuid.uuid4())
    body = b"\xe2\x82\xac line\n" * 100_000 + b"#fake text big\n"  # ~1 MB, arbitrary UTF-8
    run = run_cli(
        str(FAKE_GEMINI),
        fake_env,
        [*YOLO, "--session-id", sid],
        stdin=body,
        extra_env={
            "FAKE_GEMINI_RECORD_DIR": str(record),
            "FAKE_GEMINI_RECORD_ENV": "SECRET_A,ABSENT",
            "SECRET_A": "s3cr3t",
        },
    )
    assert run.code == 0, run.err
    assert (record / f"{sid}.stdin").read_bytes() == body
    assert (record / f"{sid}.prompt").read_bytes() == body
    assert json.loads((record / f"{sid}.argv.json").read_text())[1:] == [*YOLO, "--session-id", sid]
    assert (record / f"{sid}.cwd").read_text() == str(fake_env.cwd)
    launcher = int((record / f"{sid}.pid").read_text())
    worker = int((record / f"{sid}.worker-pid").read_text())
    assert launcher != worker, "the recorded pid is the launcher's, the worker is its child"
    assert json.loads((record / f"{sid}.env.json").read_text()) == {"SECRET_A": "s3cr3t"}


def test_fake_joins_stdin_and_p_like_the_real_cli(fake_env: Env, tmp_path: Path) -> None:
    run = run_cli(str(FAKE_GEMINI), fake_env, [*YOLO, "-p", "tail"], stdin=b"head\n")
    assert run.events[1]["content"] == "head\n\n\ntail"
    run = run_cli(str(FAKE_GEMINI), fake_env, YOLO, stdin=b"")
    assert run.code == 42 and run.out == ""
    assert _last_line(run.err).startswith("No input provided via stdin.")


def test_fake_api_error_exit_codes(fake_env: Env) -> None:
    run = run_cli(str(FAKE_GEMINI), fake_env, YOLO, stdin=b"#fake api-error 400 bad")
    assert run.code == 144 and run.types == ["init", "message", "result"]
    assert run.events[-1]["status"] == "error" and "bad" in run.events[-1]["error"]["message"]
    run = run_cli(str(FAKE_GEMINI), fake_env, ["--skip-trust"], stdin=b"#fake api-error 400 bad")
    assert run.code == 1 and run.out == ""


def test_fake_exit_stderr_delay_and_bad_directive(fake_env: Env) -> None:
    t = time.monotonic()
    run = run_cli(
        str(FAKE_GEMINI),
        fake_env,
        YOLO,
        stdin=b"#fake delay 0.3\n#fake stderr oops\n#fake text part\n#fake exit 7",
    )
    assert run.code == 7 and time.monotonic() - t >= 0.3
    assert run.types == ["init", "message", "message"] and "oops\n" in run.err
    run = run_cli(str(FAKE_GEMINI), fake_env, YOLO, stdin=b"#fake fly away")
    assert run.code == 2 and "bad directive" in run.err


def test_fake_auth_trust_and_usage_errors(fake_env: Env) -> None:
    run = run_cli(str(FAKE_GEMINI), fake_env, ["--output-format", "stream-json", "-p", "hi"])
    assert run.code == 55 and "not running in a trusted directory" in run.err
    run = run_cli(str(FAKE_GEMINI), fake_env, [*STREAM, "-p", "hi"], extra_env={"GEMINI_API_KEY": None})  # type: ignore[dict-item]
    assert run.code == 41
    run = run_cli(str(FAKE_GEMINI), fake_env, ["-p", "hi", "--bogus"])
    assert run.code == 1 and run.err.startswith("Unknown argument: bogus\nUsage: gemini")
    run = run_cli(str(FAKE_GEMINI), fake_env, ["--version"])
    assert (run.code, run.out) == (0, "0.61.0\n")


def test_fake_resume_appends_to_the_same_session_file(fake_env: Env) -> None:
    first = run_cli(str(FAKE_GEMINI), fake_env, YOLO, stdin=b"#fake text one")
    sid = first.session_id
    again = run_cli(str(FAKE_GEMINI), fake_env, [*YOLO, "-r", "latest"], stdin=b"#fake text two")
    assert again.code == 0 and again.session_id == sid
    (path,) = fake_env.sessions()
    kinds = session_shape(path)
    assert kinds.count("header") == 2 and "$set:sessionId" in kinds
    bad = run_cli(str(FAKE_GEMINI), fake_env, [*YOLO, "-r", "nope"], stdin=b"#fake text x")
    assert bad.code == 42 and 'Invalid session identifier "nope"' in bad.err


def _fake_tree(fake_env: Env, extra_env: dict[str, str] | None) -> tuple[subprocess.Popen[bytes], Tree]:
    proc, _server, tree = _start_sleeping(str(FAKE_GEMINI), fake_env, 60, extra_env)
    return proc, tree


@pytest.mark.parametrize("relaunch", [True, False], ids=["relaunch", "no-relaunch"])
def test_fake_process_tree_and_group_sigterm(fake_env: Env, relaunch: bool) -> None:
    proc, tree = _fake_tree(fake_env, None if relaunch else {"GEMINI_CLI_NO_RELAUNCH": "true"})
    try:
        fam = _descendants(proc.pid)
        cli = [p for p, v in fam.items() if v[2] == proc.pid]  # processes in the CLI's session
        assert len(cli) == (2 if relaunch else 1), fam
        assert tree.leader_sid == tree.shell_leader, "the shell tool's bash leads a session of its own"
        os.kill(proc.pid, signal.SIGTERM)
        if relaunch:
            time.sleep(0.3)
            assert proc.poll() is None, "the launcher ignores SIGTERM"
            os.killpg(proc.pid, signal.SIGTERM)
        code, out, _took = _finish(proc, None)
        assert code == 0 and _types(out) == ["init", "message", "tool_use"]
        assert _alive(tree.sleeper), "the tool outlives the CLI"
    finally:
        _kill(tree.sleeper)
        _kill(tree.shell_leader)


def test_fake_detached_child_is_recorded(fake_env: Env, tmp_path: Path) -> None:
    record = tmp_path / "rec"
    sid = str(uuid.uuid4())
    run = run_cli(
        str(FAKE_GEMINI),
        fake_env,
        [*YOLO, "--session-id", sid],
        stdin=b"#fake detached-child 30\n#fake text ok",
        extra_env={"FAKE_GEMINI_RECORD_DIR": str(record)},
    )
    pid = int((record / f"{sid}.detached-pid").read_text())
    try:
        assert run.code == 0
        assert len((record / f"{sid}.tool-pids").read_text().split()) == 1
        wait_until(lambda: _alive(pid), timeout=5)
    finally:
        for p in [pid] + [q for q, v in _proc_table().items() if v[0] == pid]:
            _kill(p)


def test_fake_startup_is_fast(fake_env: Env) -> None:
    t = time.time()
    for _ in range(5):
        run = run_cli(str(FAKE_GEMINI), fake_env, ["--skip-trust", "-p", "#fake text hi"])
        assert run.code == 0 and run.out == "hi\n", run.err
    assert (time.time() - t) / 5 < 1.5  # includes the 0.5 s wait for piped stdin


def test_server_speaks_the_gemini_api_to_a_plain_client() -> None:
    """The scripted server alone: SSE chunks, function calls, errors, the router call."""
    import urllib.error
    import urllib.request

    script = [
        {"function_call": {"name": "write_file", "args": {"file_path": "a", "content": "b"}}, "text": "t"},
        {"error": {"status": 400, "message": "no"}},
    ]
    with FakeGeminiServer(script) as srv:
        url = f"{srv.base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        body = json.dumps({"contents": [], "tools": [{"functionDeclarations": []}]}).encode()
        req = urllib.request.Request(url, body, {"x-goog-api-key": "k", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            chunks = [
                json.loads(x[6:]) for x in resp.read().decode().split("\r\n\r\n") if x.startswith("data: ")
            ]
        parts = [c["candidates"][0]["content"]["parts"][0] for c in chunks]
        assert parts == [
            {"text": "t"},
            {"functionCall": {"name": "write_file", "args": {"file_path": "a", "content": "b"}}},
        ]
        assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=10)
        assert exc.value.code == 400
        router = urllib.request.Request(
            f"{srv.base_url}/v1beta/models/gemini-3.5-flash-lite:generateContent",
            json.dumps(
                {
                    "generationConfig": {
                        "responseJsonSchema": {"properties": {"complexity_score": {"type": "INTEGER"}}}
                    }
                }
            ).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(router, timeout=10) as resp:
            reply = json.loads(resp.read())
        answer = json.loads(reply["candidates"][0]["content"]["parts"][0]["text"])
        assert isinstance(answer["complexity_score"], int)
        assert [r["kind"] for r in srv.requests] == ["main", "main", "router"]
        assert {k.lower(): v for k, v in srv.requests[0]["headers"].items()}["x-goog-api-key"] == "k"
