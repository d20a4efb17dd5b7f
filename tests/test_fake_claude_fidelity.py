"""Fidelity of tests/fakes/claude against the real Claude Code CLI.

Each scenario runs the real CLI against the scripted FakeAnthropicServer and
the fake CLI with equivalent ``#fake`` directives, each in its own temporary
HOME, TMPDIR and cwd, and compares exit codes, stderr texts, the sequence of
stream-json events, key sets, and the transcript.

Skips when no real claude is found: env OPENCLAW_REAL_CLAUDE, else
``claude`` on PATH, else /tmp/realclaude/node_modules/.bin/claude.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import default_signals, wait_until

FAKES = Path(__file__).resolve().parent / "fakes"
FAKE_CLAUDE = FAKES / "claude"
sys.path.insert(0, str(FAKES))
from anthropic_api import FakeAnthropicServer  # noqa: E402


def _find_real_claude() -> str | None:
    # Only the pinned CLI that 'bash tests/run' installs (or one named on purpose): a claude on
    # the machine's own PATH is another version, and the tests must not depend on it.
    for cand in (
        os.environ.get("OPENCLAW_REAL_CLAUDE"),
        str(Path(__file__).resolve().parent.parent / ".tools/node_modules/.bin/claude"),
    ):
        if not cand or not os.path.isfile(cand) or not os.access(cand, os.X_OK):
            continue
        if Path(cand).resolve() == FAKE_CLAUDE.resolve():
            continue
        try:
            out = subprocess.run(
                [cand, "--version"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and b"Claude Code" in out.stdout:
            return cand
    return None


REAL_CLAUDE = _find_real_claude()
#: Why the real-CLI tests skip, and what runs them.
NO_REAL_CLAUDE = (
    "real claude CLI not found: 'bash tests/run' installs the pinned one in .tools "
    "(or set OPENCLAW_REAL_CLAUDE)"
)
needs_real = pytest.mark.skipif(REAL_CLAUDE is None, reason=NO_REAL_CLAUDE)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
STREAM = ["-p", "--output-format", "stream-json", "--verbose"]
BYPASS = ["--dangerously-skip-permissions"]
TIMEOUT = 60


def encode_cwd(path: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]", "-", path)


@dataclass
class Run:
    code: int
    out: str
    err: str
    home: Path
    cwd: Path
    server: FakeAnthropicServer | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def event(self, type_: str, subtype: str | None = None) -> dict[str, Any]:
        for ev in self.events:
            if ev.get("type") == type_ and (subtype is None or ev.get("subtype") == subtype):
                return ev
        raise AssertionError(f"no {type_}/{subtype} event in {self.out!r}")

    @property
    def result(self) -> dict[str, Any]:
        return self.events[-1]

    @property
    def session_id(self) -> str:
        return str(self.result["session_id"])

    def transcript_path(self, sid: str | None = None) -> Path:
        return (
            self.home / ".claude" / "projects" / encode_cwd(str(self.cwd)) / f"{sid or self.session_id}.jsonl"
        )

    def transcript(self, sid: str | None = None) -> list[dict[str, Any]]:
        path = self.transcript_path(sid)
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Env:
    """A temporary HOME/TMPDIR/cwd triple for one CLI, reusable across runs."""

    def __init__(self, base: Path, name: str):
        self.home = base / f"{name}-home"
        self.tmp = base / f"{name}-tmp"
        self.cwd = (base / f"{name}-cwd").resolve()
        for d in (self.home, self.tmp, self.cwd):
            d.mkdir(parents=True, exist_ok=True)

    def environ(self, base_url: str, extra: dict[str, str] | None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "sk-fake-test",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_ERROR_REPORTING": "1",
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
) -> Run:
    """Run one CLI to completion. The real one gets a scripted API server; the
    fake one gets the URL of a closed port (it must never call the network)."""
    server = FakeAnthropicServer(script or []) if exe != str(FAKE_CLAUDE) else None
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
            cwd=env.cwd,
            env=env.environ(base_url, extra_env),
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
    return Run(proc.returncode, out.decode(), err.decode(), env.home, env.cwd, server)


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
    real_prompt: str = "go",
) -> tuple[Run, Run]:
    real_env, fake_env = envs
    assert REAL_CLAUDE is not None
    real = run_cli(REAL_CLAUDE, real_env, [*args, "--", real_prompt], script=script, extra_env=extra_env)
    fake = run_cli(str(FAKE_CLAUDE), fake_env, [*args, "--", directives], extra_env=extra_env)
    return real, fake


# -- comparisons ------------------------------------------------------------


def shape(ev: dict[str, Any]) -> tuple[Any, ...]:
    """(type, subtype, content block types) of one stream-json event."""
    blocks: tuple[str, ...] = ()
    msg = ev.get("message")
    if isinstance(msg, dict) and isinstance(msg.get("content"), list):
        blocks = tuple(b.get("type") for b in msg["content"])
    return (ev.get("type"), ev.get("subtype"), blocks)


# System events the real CLI may add that the fake does not emit.  None were
# seen with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1; hook / status events
# would go here.
REAL_ONLY = {("system", "hook_started"), ("system", "hook_response"), ("system", "status")}


#: The keys openclaw-agent reads: both CLIs must have them wherever the real one does.
READ_KEYS = {
    "init": {"session_id", "model", "cwd", "tools"},
    "result": {"subtype", "is_error", "num_turns", "total_cost_usd", "duration_ms", "session_id", "usage"},
}


#: What openclaw's transcript view reads of a line, and what a resumed session is chained by.
TRANSCRIPT_READ_KEYS = {"type", "message", "uuid", "parentUuid", "sessionId", "cwd", "timestamp"}


def _no_more(fake: Any, real: Any, what: Any) -> None:
    """The fake has no key the real CLI lacks. The real one may have more: a newer CLI adds keys,
    and that is no difference in behaviour (what openclaw reads is checked on its own)."""
    extra = set(fake) - set(real)
    assert not extra, f"keys only the fake has for {what}: {extra}"


def assert_same_stream(real: Run, fake: Run) -> None:
    real_shapes = [shape(e) for e in real.events if (e.get("type"), e.get("subtype")) not in REAL_ONLY]
    fake_shapes = [shape(e) for e in fake.events]
    assert fake_shapes == real_shapes, f"\nreal: {real_shapes}\nfake: {fake_shapes}"
    for r, f in zip(real.events, fake.events, strict=False):
        _no_more(f, r, shape(r))
        if isinstance(r.get("message"), dict):
            _no_more(f["message"], r["message"], shape(r))
            for rb, fb in zip(r["message"]["content"], f["message"]["content"], strict=False):
                _no_more(fb, rb, (shape(r), rb.get("type")))
    init_r, init_f = real.event("system", "init"), fake.event("system", "init")
    _no_more(init_f, init_r, "init")
    _no_more(fake.result, real.result, "result")
    _no_more(fake.result["usage"], real.result["usage"], "result.usage")
    for kind, event_r, event_f in (("init", init_r, init_f), ("result", real.result, fake.result)):
        for key in READ_KEYS[kind] & set(event_r):
            assert key in event_f, f"the fake's {kind} lacks {key!r}, which openclaw reads"
    for key in ("subtype", "is_error", "num_turns", "stop_reason", "terminal_reason", "api_error_status"):
        assert fake.result.get(key) == real.result.get(key), key
    for key in ("cwd", "tools", "model", "permissionMode", "apiKeySource"):
        if key == "cwd":
            assert init_f["cwd"] == str(fake.cwd) and init_r["cwd"] == str(real.cwd)
        else:
            assert init_f[key] == init_r[key], key
    assert real.code == fake.code


def transcript_shape(lines: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for ln in lines:
        if ln.get("type") not in ("user", "assistant"):
            continue
        content = ln["message"]["content"]
        kind = "prompt" if isinstance(content, str) else ",".join(b.get("type", "?") for b in content)
        out.append((ln["type"], kind))
    return out


def assert_same_transcript(
    real: Run, fake: Run, sid_real: str | None = None, sid_fake: str | None = None
) -> None:
    rp, fp = real.transcript_path(sid_real), fake.transcript_path(sid_fake)
    assert rp.is_file(), rp
    assert fp.is_file(), fp
    rl, fl = real.transcript(sid_real), fake.transcript(sid_fake)
    assert transcript_shape(fl) == transcript_shape(rl)
    for r, f in zip(
        [x for x in rl if x["type"] in ("user", "assistant")],
        [x for x in fl if x["type"] in ("user", "assistant")],
        strict=False,
    ):
        # The fake invents no key, and has every key openclaw or a resume reads; a newer CLI
        # may add keys (no difference in behaviour).
        _no_more(f, r, f"transcript line {r['type']}")
        _no_more(f["message"], r["message"], f"transcript message {r['type']}")
        for key in TRANSCRIPT_READ_KEYS & set(r):
            assert key in f, f"the fake's transcript line lacks {key!r}, which is read"
        for key in {"role", "content"} & set(r["message"]):
            assert key in f["message"], f"the fake's transcript message lacks {key!r}, which is read"
        for key in ("cwd", "sessionId"):
            assert f[key] == (str(fake.cwd) if key == "cwd" else fp.stem)
            assert r[key] == (str(real.cwd) if key == "cwd" else rp.stem)
    # parentUuid chains link every user/assistant line to an earlier line
    for lines in (rl, fl):
        seen = set()
        for ln in lines:
            if ln.get("type") in ("user", "assistant") and ln.get("parentUuid") is not None:
                assert ln["parentUuid"] in seen
            if ln.get("uuid"):
                seen.add(ln["uuid"])
    assert [x["type"] for x in fl if x["type"] in ("queue-operation", "last-prompt", "mode")] == [
        x["type"] for x in rl if x["type"] in ("queue-operation", "last-prompt", "mode")
    ]


# -- scenarios --------------------------------------------------------------


@needs_real
def test_success_with_write_tool(envs: tuple[Env, Env]) -> None:
    real_cwd = envs[0].cwd
    real, fake = both(
        envs,
        [*STREAM, *BYPASS],
        [
            {
                "text": "I will write it",
                "tool_use": {
                    "name": "Write",
                    "input": {"file_path": f"{real_cwd}/out.txt", "content": "hello\n"},
                },
            },
            {"text": "Wrote it."},
        ],
        "#fake text I will write it\n#fake write out.txt hello\n#fake text Wrote it.",
        extra_env={"IS_SANDBOX": "1"},
    )
    assert real.code == 0, real.err
    assert_same_stream(real, fake)
    assert_same_transcript(real, fake)
    assert (real.cwd / "out.txt").read_text() == "hello\n"
    assert (fake.cwd / "out.txt").read_text() == "hello"
    rr = next(e for e in real.events if e["type"] == "user")
    fr = next(e for e in fake.events if e["type"] == "user")
    assert set(fr["tool_use_result"]) == set(rr["tool_use_result"])
    assert fr["message"]["content"][0]["content"] == rr["message"]["content"][0]["content"].replace(
        str(real.cwd), str(fake.cwd)
    )
    assert fake.result["result"] == real.result["result"] == "Wrote it."


@needs_real
@pytest.mark.parametrize("command", ["echo hi; echo err >&2; exit 3", "printf 'a\\n\\n'"])
def test_bash_tool(envs: tuple[Env, Env], command: str) -> None:
    real, fake = both(
        envs,
        [*STREAM, *BYPASS],
        [
            {"tool_use": {"name": "Bash", "input": {"command": command, "description": "Run shell command"}}},
            {"text": "ok"},
        ],
        f"#fake bash {command}\n#fake text ok",
        extra_env={"IS_SANDBOX": "1"},
    )
    assert_same_stream(real, fake)
    assert_same_transcript(real, fake)
    rr = next(e for e in real.events if e["type"] == "user")
    fr = next(e for e in fake.events if e["type"] == "user")
    assert fr["message"]["content"][0] | {"tool_use_id": ""} == rr["message"]["content"][0] | {
        "tool_use_id": ""
    }
    assert fr["tool_use_result"] == rr["tool_use_result"]


@needs_real
def test_max_turns_exceeded(envs: tuple[Env, Env]) -> None:
    tool = {"tool_use": {"name": "Bash", "input": {"command": "true", "description": "Run true"}}}
    real, fake = both(
        envs,
        [*STREAM, *BYPASS, "--max-turns", "2"],
        [tool] * 4,
        "#fake turns 4",
        extra_env={"IS_SANDBOX": "1"},
    )
    assert real.code == 1
    assert_same_stream(real, fake)
    assert_same_transcript(real, fake)
    assert fake.result["errors"] == real.result["errors"] == ["Reached maximum number of turns (2)"]
    assert fake.result["num_turns"] == real.result["num_turns"] == 3


@needs_real
def test_max_turns_text_output(envs: tuple[Env, Env]) -> None:
    tool = {"tool_use": {"name": "Bash", "input": {"command": "true", "description": "Run true"}}}
    real, fake = both(
        envs, ["-p", *BYPASS, "--max-turns", "1"], [tool] * 3, "#fake turns 3", extra_env={"IS_SANDBOX": "1"}
    )
    assert (
        (fake.code, fake.out, fake.err)
        == (real.code, real.out, real.err)
        == (1, "Error: Reached max turns (1)", "")
    )


@needs_real
def test_api_error_400(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        STREAM,
        [{"error": {"status": 400, "type": "invalid_request_error", "message": "prompt is too long"}}],
        "#fake api-error 400 prompt is too long",
    )
    assert real.code == 1
    assert_same_stream(real, fake)
    assert_same_transcript(real, fake)
    assert fake.result["result"] == real.result["result"]
    assert real.result["result"].startswith("Prompt is too long")


@needs_real
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_api_error_400_other_formats(envs: tuple[Env, Env], fmt: str) -> None:
    real, fake = both(
        envs,
        ["-p", "--output-format", fmt],
        [{"error": {"status": 400, "message": "bad request"}}],
        "#fake api-error 400 bad request",
    )
    assert fake.code == real.code == 1
    if fmt == "text":
        assert fake.out == real.out == "API Error: 400 bad request\n"
    else:
        _no_more(json.loads(fake.out), json.loads(real.out), "the json result")


@needs_real
def test_api_retry_then_success(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        STREAM,
        [
            {"error": {"status": 500, "message": "boom"}},
            {"error": {"status": 529, "message": "busy"}},
            {"text": "recovered"},
        ],
        "#fake retry 1\n#fake retry 1 529\n#fake text recovered",
    )
    assert_same_stream(real, fake)
    for r, f in zip(
        [e for e in real.events if e.get("subtype") == "api_retry"],
        [e for e in fake.events if e.get("subtype") == "api_retry"],
        strict=False,
    ):
        for key in ("attempt", "max_retries", "error_status", "error"):
            assert f[key] == r[key], key
    assert fake.result["result"] == real.result["result"] == "recovered"


@needs_real
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_success_other_formats(envs: tuple[Env, Env], fmt: str) -> None:
    real, fake = both(
        envs, ["-p", "--output-format", fmt], [{"text": "hello world"}], "#fake text hello world"
    )
    assert fake.code == real.code == 0
    if fmt == "text":
        assert fake.out == real.out == "hello world\n"
    else:
        _no_more(json.loads(fake.out), json.loads(real.out), "the json result")


@needs_real
def test_permission_denied_without_bypass(envs: tuple[Env, Env]) -> None:
    real_cwd = envs[0].cwd
    real, fake = both(
        envs,
        STREAM,
        [
            {"tool_use": {"name": "Write", "input": {"file_path": f"{real_cwd}/x.txt", "content": "x"}}},
            {"text": "end"},
        ],
        "#fake write x.txt x\n#fake text end",
    )
    assert_same_stream(real, fake)
    assert len(fake.result["permission_denials"]) == len(real.result["permission_denials"]) == 1
    rr = next(e for e in real.events if e["type"] == "user")["message"]["content"][0]
    fr = next(e for e in fake.events if e["type"] == "user")["message"]["content"][0]
    assert fr["content"] == rr["content"].replace(str(real.cwd), str(fake.cwd))
    assert not (real.cwd / "x.txt").exists() and not (fake.cwd / "x.txt").exists()


@needs_real
def test_prompt_bytes_positional_and_stdin(envs: tuple[Env, Env], tmp_path: Path) -> None:
    """Positional prompt + stdin are joined with a newline; bytes pass through exactly."""
    assert REAL_CLAUDE is not None
    body = "  first line\n\nzweite Zeile \u00e9\u6f22\r\n\ttab\n\n".encode()
    sid = str(uuid.uuid4())
    real = run_cli(
        REAL_CLAUDE, envs[0], ["-p", "POS", "--session-id", sid], stdin=body, script=[{"text": "ok"}]
    )
    assert real.server is not None
    sent = real.server.main_requests[0]["body"]["messages"][0]["content"][-1]["text"]
    record = tmp_path / "record"
    fake = run_cli(
        str(FAKE_CLAUDE),
        envs[1],
        ["-p", "POS", "--session-id", sid],
        stdin=body,
        extra_env={"FAKE_CLAUDE_RECORD_DIR": str(record)},
    )
    assert real.code == fake.code == 0
    assert real.out == fake.out == "ok\n" or fake.out == "Done.\n"
    assert (record / f"{sid}.stdin").read_bytes() == sent.encode() == b"POS\n" + body
    real_prompt = next(x for x in real.transcript(sid) if x["type"] == "user")["message"]["content"]
    fake_prompt = next(x for x in fake.transcript(sid) if x["type"] == "user")["message"]["content"]
    assert real_prompt == fake_prompt == sent


@needs_real
def test_sigterm_leaves_tool_tree_running(envs: tuple[Env, Env]) -> None:
    """SIGTERM: exit 143 at once, no result line, and the Bash tool's process
    (its own session) keeps running; both CLIs alike."""
    assert REAL_CLAUDE is not None
    for exe, env in ((REAL_CLAUDE, envs[0]), (str(FAKE_CLAUDE), envs[1])):
        _signal_scenario(exe, env, signal.SIGTERM)


@needs_real
def test_sigint_kills_tool_tree(envs: tuple[Env, Env]) -> None:
    assert REAL_CLAUDE is not None
    shapes = []
    for exe, env in ((REAL_CLAUDE, envs[0]), (str(FAKE_CLAUDE), envs[1])):
        shapes.append(_signal_scenario(exe, env, signal.SIGINT))
    assert shapes[0] == shapes[1]


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return kids


def _runs_sleep(pid: int) -> bool:
    """Whether the tool ``pid`` is running its ``sleep``: itself (the fake's) or a child (a shell's)."""
    for p in (pid, *_children(pid)):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == "sleep":
                    return True
        except OSError:
            pass
    return False


def _session_leader(pid: int) -> bool:
    """Whether ``pid`` leads its own session; False for a child that already exited (the real
    CLI starts short-lived helpers too, which may be gone between listing and asking)."""
    try:
        return os.getsid(pid) == pid
    except ProcessLookupError:
        return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal_scenario(exe: str, env: Env, sig: int) -> list[tuple[Any, ...]]:
    script = [{"tool_use": {"name": "Bash", "input": {"command": "sleep 30", "description": "Sleep"}}}]
    server = FakeAnthropicServer(script) if exe != str(FAKE_CLAUDE) else None
    base_url = server.start().base_url if server else "http://127.0.0.1:9"
    tool_pids: list[int] = []
    try:
        proc = subprocess.Popen(
            [exe, *STREAM, *BYPASS, "--", "#fake sleep 30"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=env.cwd,
            env=env.environ(base_url, {"IS_SANDBOX": "1"}),
            start_new_session=True,
            preexec_fn=default_signals,
        )
        lines: list[bytes] = []
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, b"")), daemon=True)
        reader.start()
        try:
            deadline = time.time() + 20
            while time.time() < deadline and not tool_pids:
                time.sleep(0.1)
                tool_pids = [p for p in _children(proc.pid) if _session_leader(p)]
            assert tool_pids, "the Bash tool never started in its own session"
            # The CLI is waiting on the tool once it has printed the tool call and the tool
            # runs its command. A SIGINT before that ends the real CLI with 0 and no
            # result event (seen under load): wait for both, then give it a moment more.
            try:
                wait_until(lambda: any(b'"tool_use"' in ln for ln in lines), timeout=30)
            except AssertionError:
                raise AssertionError(f"{exe}: no tool call printed: {lines!r}") from None
            try:
                wait_until(lambda: any(_runs_sleep(p) for p in tool_pids), timeout=30)
            except AssertionError:
                raise AssertionError(f"{exe}: the tool's command never ran: {tool_pids}") from None
            time.sleep(1.0)
            proc.send_signal(sig)
            proc.wait(timeout=20)
            reader.join(timeout=10)
            out = b"".join(lines)
            err = proc.stderr.read() if proc.stderr else b""
        finally:
            if proc.poll() is None:
                _kill_group(proc)
                proc.communicate()
        events = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        if sig == signal.SIGTERM:
            assert proc.returncode == 143, (exe, proc.returncode)
            assert events[-1]["type"] == "assistant", exe
            assert all(_alive(p) for p in tool_pids), f"{exe}: tool tree should survive SIGTERM"
        else:
            # The real CLI exits 1 here, or, under load, 0 after the very same events (its exit
            # code races its abort; the result event is error_during_execution either way, and
            # that is what openclaw judges). The fake gives the usual 1.
            codes = (1,) if exe == str(FAKE_CLAUDE) else (0, 1)
            assert proc.returncode in codes, (exe, proc.returncode, err, [shape(e) for e in events][-4:])
            assert events[-1]["subtype"] == "error_during_execution"
            assert events[-1]["terminal_reason"] == "aborted_tools"
            deadline = time.time() + 5
            while time.time() < deadline and any(_alive(p) for p in tool_pids):
                time.sleep(0.05)
            assert not any(_alive(p) for p in tool_pids), f"{exe}: SIGINT should kill the tool tree"
        return [(*shape(e), e.get("num_turns"), e.get("terminal_reason")) for e in events]
    finally:
        for p in tool_pids:  # the tool's own process group (pgid == its pid)
            try:
                os.killpg(p, signal.SIGKILL)
            except OSError:
                pass
        if server:
            server.stop()


# -- sessions ---------------------------------------------------------------


@needs_real
def test_session_id_reuse_refused(envs: tuple[Env, Env]) -> None:
    sid = str(uuid.uuid4())
    first = both(envs, [*STREAM, "--session-id", sid], [{"text": "one"}], "#fake text one")
    assert first[0].code == first[1].code == 0
    assert first[0].transcript_path().is_file() and first[1].transcript_path().is_file()
    real, fake = both(envs, [*STREAM, "--session-id", sid], [{"text": "two"}], "#fake text two")
    assert (fake.code, fake.out, fake.err) == (real.code, real.out, real.err)
    assert real.err == f"Error: Session ID {sid} is already in use.\n"


@needs_real
def test_resume_fork_session(envs: tuple[Env, Env]) -> None:
    old = str(uuid.uuid4())
    new = str(uuid.uuid4())
    first = both(envs, [*STREAM, "--session-id", old], [{"text": "first answer"}], "#fake text first answer")
    assert first[0].code == first[1].code == 0
    args = [*STREAM, "--resume", old, "--fork-session", "--session-id", new]
    real, fake = both(envs, args, [{"text": "forked answer"}], "#fake text forked answer")
    assert real.code == 0, real.err
    assert_same_stream(real, fake)
    assert real.session_id == new and fake.session_id == new
    assert_same_transcript(real, fake, new, new)
    for run in (real, fake):
        old_lines = [x for x in run.transcript(old) if x["type"] in ("user", "assistant")]
        new_lines = [x for x in run.transcript(new) if x["type"] in ("user", "assistant")]
        assert [x["uuid"] for x in new_lines[: len(old_lines)]] == [x["uuid"] for x in old_lines]
        assert {x["sessionId"] for x in new_lines} == {new}
        assert new_lines[len(old_lines)]["parentUuid"] == old_lines[-1]["uuid"]
    # reusing the forked id is refused too
    real2, fake2 = both(envs, args, [{"text": "x"}], "#fake text x")
    assert (
        (fake2.code, fake2.err)
        == (real2.code, real2.err)
        == (1, f"Error: Session ID {new} is already in use.\n")
    )


# -- usage errors (no API call) -------------------------------------------------

SID = "11111111-2222-4333-8444-555555555555"
USAGE_CASES: list[tuple[str, list[str], bytes, dict[str, str]]] = [
    ("stream-json without --verbose", ["-p", "--output-format", "stream-json", "hi"], b"", {}),
    ("root refusal", ["-p", "--dangerously-skip-permissions", "hi"], b"", {}),
    ("root refusal, permission mode", ["-p", "--permission-mode", "bypassPermissions", "hi"], b"", {}),
    (
        "root refusal, IS_SANDBOX=true",
        ["-p", "--dangerously-skip-permissions", "hi"],
        b"",
        {"IS_SANDBOX": "true"},
    ),
    ("invalid session id", ["-p", "--session-id", "not-a-uuid", "hi"], b"", {}),
    ("session id needs fork", ["-p", "--session-id", SID, "--resume", SID, "hi"], b"", {}),
    ("resume not found", ["-p", "--resume", SID, "hi"], b"", {}),
    (
        "resume not found, stream-json",
        ["-p", "--output-format", "stream-json", "--resume", SID, "hi"],
        b"",
        {},
    ),
    ("resume not a uuid", ["-p", "--resume", "nope", "hi"], b"", {}),
    ("resume without value", ["-p", "--resume"], b"hi", {}),
    ("no prompt", ["-p"], b"", {}),
    ("no prompt, stream-json", ["-p", "--output-format", "stream-json"], b"", {}),
    ("whitespace prompt", ["-p"], b"  \n\n", {}),
    ("whitespace prompt, stream-json", [*STREAM], b"  \n", {}),
    ("unknown option", ["-p", "--bogus", "hi"], b"", {}),
    ("unknown short option", ["-pz", "hi"], b"", {}),
    ("missing argument", ["-p", "hi", "--max-turns"], b"", {}),
    ("invalid choice", ["-p", "--output-format", "xml", "hi"], b"", {}),
    ("invalid permission mode", ["-p", "--permission-mode", "yolo", "hi"], b"", {}),
    ("variadic option swallows the prompt", ["-p", "--allowedTools", "Bash", "hi"], b"", {}),
    ("version", ["-v"], b"", {}),
    ("version, combined", ["-pv"], b"", {}),
]


def _normalise(text: str) -> str:
    """Ids and the CLI's version number are no difference in behaviour."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    return re.sub(r"\b\d+\.\d+\.\d+\b", "<version>", text)


@needs_real
@pytest.mark.parametrize(("name", "args", "stdin", "extra"), USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_usage_errors_match(
    envs: tuple[Env, Env], name: str, args: list[str], stdin: bytes, extra: dict[str, str]
) -> None:
    if "root refusal" in name and not IS_ROOT:
        pytest.skip("root refusal needs root")
    assert REAL_CLAUDE is not None
    # no server at all: these must fail (or print) before any API call
    real = run_cli(REAL_CLAUDE, envs[0], args, stdin=stdin, extra_env=extra, script=[])
    fake = run_cli(str(FAKE_CLAUDE), envs[1], args, stdin=stdin, extra_env=extra)
    assert real.server is not None and not real.server.main_requests, "real CLI reached the model"
    assert fake.code == real.code
    assert _normalise(fake.err) == _normalise(real.err)
    if real.out.startswith("{"):
        _no_more(json.loads(fake.out), json.loads(real.out), name)
        assert _normalise(json.dumps(json.loads(fake.out)["errors"])) == _normalise(
            json.dumps(json.loads(real.out)["errors"])
        )
    else:
        assert _normalise(fake.out) == _normalise(real.out)


def test_fake_startup_is_fast(envs: tuple[Env, Env]) -> None:
    t = time.time()
    for _ in range(5):
        run = run_cli(str(FAKE_CLAUDE), envs[1], ["-p", "#fake text hi"])
        assert run.code == 0 and run.out == "hi\n"
    assert (time.time() - t) / 5 < 0.5


# -- more fidelity ----------------------------------------------------------


@needs_real
def test_json_verbose_is_an_array_of_events(envs: tuple[Env, Env]) -> None:
    tool = {"tool_use": {"name": "Bash", "input": {"command": "true", "description": "Run true"}}}
    real, fake = both(
        envs,
        ["-p", "--output-format", "json", "--verbose", *BYPASS],
        [tool, {"text": "fin"}],
        "#fake turns 1\n#fake text fin",
        extra_env={"IS_SANDBOX": "1"},
    )
    assert fake.code == real.code == 0
    assert real.out.startswith("[") and real.out.endswith("]\n") and real.out.count("\n") == 1
    assert fake.out.startswith("[") and fake.out.endswith("]\n") and fake.out.count("\n") == 1
    assert [shape(e) for e in json.loads(fake.out)] == [shape(e) for e in json.loads(real.out)]


@needs_real
def test_write_to_existing_unread_file_is_refused(envs: tuple[Env, Env]) -> None:
    for env in envs:
        (env.cwd / "exists.txt").write_text("old\n")
    real_cwd = envs[0].cwd
    real, fake = both(
        envs,
        [*STREAM, *BYPASS],
        [
            {
                "tool_use": {
                    "name": "Write",
                    "input": {"file_path": f"{real_cwd}/exists.txt", "content": "new"},
                }
            },
            {"text": "x"},
        ],
        "#fake write exists.txt new\n#fake text x",
        extra_env={"IS_SANDBOX": "1"},
    )
    assert_same_stream(real, fake)
    rr = next(e for e in real.events if e["type"] == "user")
    fr = next(e for e in fake.events if e["type"] == "user")
    assert fr["message"]["content"][0]["content"] == rr["message"]["content"][0]["content"]
    assert fr["tool_use_result"] == rr["tool_use_result"]
    assert (real.cwd / "exists.txt").read_text() == (fake.cwd / "exists.txt").read_text() == "old\n"


@needs_real
def test_disallowed_tool(envs: tuple[Env, Env]) -> None:
    real, fake = both(
        envs,
        [*STREAM, *BYPASS, "--disallowedTools", "Bash"],
        [
            {"tool_use": {"name": "Bash", "input": {"command": "true", "description": "Run true"}}},
            {"text": "x"},
        ],
        "#fake turns 1\n#fake text x",
        extra_env={"IS_SANDBOX": "1"},
    )
    assert_same_stream(real, fake)  # includes init "tools" (Glob/Grep appear without Bash)
    rr = next(e for e in real.events if e["type"] == "user")
    fr = next(e for e in fake.events if e["type"] == "user")
    assert fr["message"]["content"][0]["content"] == rr["message"]["content"][0]["content"]
    assert fr["tool_use_result"] == rr["tool_use_result"]


@needs_real
def test_project_dir_encoding(tmp_path: Path) -> None:
    """Same cwd for both (a long, non-ASCII path): the same project directory name,
    under CLAUDE_CONFIG_DIR when that is set."""
    assert REAL_CLAUDE is not None
    cwd = tmp_path / "caf\u00e9 \U0001f600 x.y_z" / ("a" * 120) / ("b" * 100)
    cwd.mkdir(parents=True)
    names = []
    for exe, name in ((REAL_CLAUDE, "real"), (str(FAKE_CLAUDE), "fake")):
        env = Env(tmp_path, name)
        env.cwd = cwd
        config = tmp_path / f"{name}-config"
        run = run_cli(exe, env, ["-p", "#fake text hi"], extra_env={"CLAUDE_CONFIG_DIR": str(config)})
        assert run.code == 0, run.err
        assert not (env.home / ".claude" / "projects").exists()
        names.append(sorted(p.name for p in (config / "projects").iterdir()))
    assert names[0] == names[1]
    assert len(names[0][0]) > 200 and "-caf----" in names[0][0]


@needs_real
def test_resume_appends_to_the_same_transcript(envs: tuple[Env, Env]) -> None:
    sid = str(uuid.uuid4())
    first = both(envs, [*STREAM, "--session-id", sid], [{"text": "one"}], "#fake text one")
    assert first[0].code == first[1].code == 0
    real, fake = both(envs, [*STREAM, "--resume", sid], [{"text": "two"}], "#fake text two")
    assert_same_stream(real, fake)
    assert real.session_id == fake.session_id == sid
    assert_same_transcript(real, fake, sid, sid)
    assert [x["type"] for x in fake.transcript(sid)].count("last-prompt") == 2


@needs_real
def test_open_silent_stdin_waits_three_seconds(envs: tuple[Env, Env]) -> None:
    """With a prompt argument and a stdin pipe nobody writes to or closes, the
    real CLI waits 3 s, warns on stderr and goes on without stdin."""
    assert REAL_CLAUDE is not None
    results = []
    for exe, env in ((REAL_CLAUDE, envs[0]), (str(FAKE_CLAUDE), envs[1])):
        server = FakeAnthropicServer([{"text": "ok"}]) if exe == REAL_CLAUDE else None
        base_url = server.start().base_url if server else "http://127.0.0.1:9"
        read_fd, write_fd = os.pipe()
        try:
            t = time.time()
            proc = subprocess.Popen(
                [exe, "-p", "#fake text ok"],
                stdin=read_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=env.cwd,
                env=env.environ(base_url, None),
                start_new_session=True,
            )
            os.close(read_fd)
            try:
                out, err = proc.communicate(timeout=TIMEOUT)
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
                    proc.communicate()
            results.append((proc.returncode, out.decode(), err.decode(), time.time() - t))
        finally:
            os.close(write_fd)
            if server:
                server.stop()
    (rc_r, out_r, err_r, dt_r), (rc_f, out_f, err_f, dt_f) = results
    assert rc_r == rc_f == 0
    assert out_r == out_f == "ok\n"
    assert err_f == err_r
    assert err_r.startswith("Warning: no stdin data received in 3s")
    assert dt_r >= 2.9 and dt_f >= 2.9


@needs_real
def test_detached_child_escapes_like_a_real_bash_tool(envs: tuple[Env, Env], tmp_path: Path) -> None:
    """The Bash command behind '#fake detached-child N' behaves the same under the
    real CLI: the grandchild gets its own session and outlives the run."""
    assert REAL_CLAUDE is not None
    cmd = "setsid sleep 30 >/dev/null 2>&1 </dev/null & echo $!"
    record = tmp_path / "record"
    sid = str(uuid.uuid4())
    real, fake = both(
        envs,
        [*STREAM, *BYPASS, "--session-id", sid],
        [{"tool_use": {"name": "Bash", "input": {"command": cmd, "description": "x"}}}, {"text": "ok"}],
        "#fake detached-child 30\n#fake text ok",
        extra_env={"IS_SANDBOX": "1", "FAKE_CLAUDE_RECORD_DIR": str(record)},
    )
    pids = []
    try:
        for run in (real, fake):
            assert run.code == 0, run.err
            tr = next(e for e in run.events if e["type"] == "user")
            pids.append(int(tr["message"]["content"][0]["content"]))
        assert (record / f"{sid}.detached-pid").read_text().strip() == str(pids[1])
        for pid in pids:
            # `$!` is setsid's pid; setsid forks first when it happens to lead a
            # process group, and then the session leader is its child (which, on a
            # loaded machine, may call setsid a moment later).
            def leads_a_session(pid: int = pid) -> bool:
                family = [pid] + [int(n) for n in os.listdir("/proc") if n.isdigit() and _ppid(int(n)) == pid]
                return any(_alive(p) and _sid(p) == p for p in family)

            wait_until(leads_a_session, timeout=10)
        assert_same_stream(real, fake)
    finally:
        for pid in pids:
            for p in [pid] + [int(n) for n in os.listdir("/proc") if n.isdigit() and _ppid(int(n)) == pid]:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


# -- the fake on its own (no real CLI needed) -------------------------------


@pytest.fixture
def fake_env(tmp_path: Path) -> Env:
    return Env(tmp_path, "fake")


def test_fake_records_invocation(fake_env: Env, tmp_path: Path) -> None:
    record = tmp_path / "rec"
    sid = str(uuid.uuid4())
    body = b"\xe2\x82\xac line\n" * 100_000 + b"#fake text big\n"  # ~1 MB, arbitrary UTF-8
    run = run_cli(
        str(FAKE_CLAUDE),
        fake_env,
        ["-p", "--session-id", sid, "--model", "sonnet"],
        stdin=body,
        extra_env={
            "FAKE_CLAUDE_RECORD_DIR": str(record),
            "FAKE_CLAUDE_RECORD_ENV": "SECRET_A,ABSENT",
            "SECRET_A": "s3cr3t",
            "OTHER": "x",
        },
    )
    assert run.code == 0 and run.out == "big\n", run.err
    assert (record / f"{sid}.stdin").read_bytes() == body
    assert json.loads((record / f"{sid}.argv.json").read_text())[1:] == [
        "-p",
        "--session-id",
        sid,
        "--model",
        "sonnet",
    ]
    assert (record / f"{sid}.cwd").read_text() == str(fake_env.cwd)
    assert int((record / f"{sid}.pid").read_text()) > 0
    assert json.loads((record / f"{sid}.env.json").read_text()) == {"SECRET_A": "s3cr3t"}
    prompt = next(
        x for x in Run(0, "", "", fake_env.home, fake_env.cwd).transcript(sid) if x["type"] == "user"
    )
    assert prompt["message"]["content"].encode() == body


def test_fake_exit_and_truncate(fake_env: Env) -> None:
    run = run_cli(str(FAKE_CLAUDE), fake_env, [*STREAM, "#fake text partial\n#fake exit 7"])
    assert run.code == 7
    assert [shape(e) for e in run.events] == [("system", "init", ()), ("assistant", None, ("text",))]
    run = run_cli(str(FAKE_CLAUDE), fake_env, [*STREAM, "#fake turns 1\n#fake truncate"])
    assert run.code == 1
    last = run.out.split("\n")[-1]
    assert last and not run.out.endswith("\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(last)


def test_fake_tool_children_and_delay(fake_env: Env, tmp_path: Path) -> None:
    record = tmp_path / "rec"
    sid = str(uuid.uuid4())
    t = time.time()
    run = run_cli(
        str(FAKE_CLAUDE),
        fake_env,
        [
            *STREAM,
            *BYPASS,
            "--session-id",
            sid,
            "#fake sleep 0.2\n#fake delay 0.2\n#fake bash echo $PPID\n#fake text end",
        ],
        extra_env={"FAKE_CLAUDE_RECORD_DIR": str(record), "IS_SANDBOX": "1"},
    )
    assert run.code == 0 and time.time() - t >= 0.4
    assert run.result["num_turns"] == 3 and run.result["result"] == "end"
    pids = [int(x) for x in (record / f"{sid}.tool-pids").read_text().split()]
    assert len(pids) == 2
    assert not any(_alive(p) for p in pids)


def test_fake_rejects_unknown_directive(fake_env: Env) -> None:
    run = run_cli(str(FAKE_CLAUDE), fake_env, ["-p", "#fake fly away"])
    assert run.code == 2 and "bad directive" in run.err
