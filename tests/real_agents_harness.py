"""What test_real_agents.py needs to drive each *real* agent CLI offline: where the CLI is,
its scripted API server, the files and variables that keep it offline, and the scripts
of the scenarios (a real tool call, an HTTP 400, a long shell command).

Nothing here starts openclaw; the tests do. Every server binds 127.0.0.1 only and is
stopped by its ``with`` block. Processes are found by their ``OPENCLAW_TASK_ID`` tag in
``/proc/<pid>/environ`` (never by name) and are only ever looked at here, not signalled.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import FAKES, REPO

sys.path.insert(0, str(FAKES))
from anthropic_api import FakeAnthropicServer
from gemini_api import FakeGeminiServer
from openai_chat_api import FakeOpenAIChatServer, opencode_config
from openai_responses_api import FakeResponsesServer, codex_config

TOOLS = REPO / ".tools"
#: Where each real CLI is looked for: the variable first, then the pinned install.
CANDIDATES = {
    "codex": ("OPENCLAW_REAL_CODEX", TOOLS / "codex" / "node_modules" / ".bin" / "codex"),
    "gemini": ("OPENCLAW_REAL_GEMINI", TOOLS / "gemini" / "node_modules" / ".bin" / "gemini"),
    "opencode": ("OPENCLAW_REAL_OPENCODE", TOOLS / "opencode" / "node_modules" / ".bin" / "opencode"),
    "claude": ("OPENCLAW_REAL_CLAUDE", TOOLS / "node_modules" / ".bin" / "claude"),
}
#: OpenCode's plugin version, which its config directory must look installed at (FAKE-OPENCODE.md).
OPENCODE_VERSION = "1.18.33"
GEMINI_MODEL = "gemini-2.5-flash"
#: What the scripted shell command leaves behind, and what it prints. No ``$(...)``/``$((...))``:
#: the real gemini refuses those ("Blocked: command substitution detected in shell command.").
SHELL_COMMAND = "echo 42 > shell.txt && echo made shell.txt"
LONG_COMMAND = "echo start; sleep 60; echo slept"
API_400 = "model gpt-nope does not exist"


def find_real(agent: str) -> str | None:
    """The real CLI for ``agent``: ``$OPENCLAW_REAL_<AGENT>``, then the pinned .tools install;
    never one of the fakes."""
    var, pinned = CANDIDATES[agent]
    for cand in (os.environ.get(var), str(pinned)):
        if not cand or not os.path.isfile(cand) or not os.access(cand, os.X_OK):
            continue
        if Path(cand).resolve().parent == FAKES.resolve():
            continue
        return cand
    return None


def skip_reason(agent: str) -> str:
    var, pinned = CANDIDATES[agent]
    return f"real {agent} CLI not found (set ${var}, or install it at {pinned.relative_to(REPO)})"


def give(path: Path, owner: pwd.struct_passwd) -> None:
    """Make ``path`` and everything under it ``owner``'s (a no-op unless root)."""
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), owner.pw_uid, owner.pw_gid)
    os.lchown(path, owner.pw_uid, owner.pw_gid)


@dataclass(frozen=True)
class Tagged:
    """A live process carrying ``OPENCLAW_TASK_ID=<id>`` in its environment."""

    pid: int
    uid: int
    argv: tuple[str, ...]
    session: int
    #: Its start time (clock ticks after boot), so that a reused pid is never taken for it.
    start: int

    def alive(self) -> bool:
        """Whether this very process still exists (a zombie does not count)."""
        fields = _stat(self.pid)
        return fields is not None and fields[0] != "Z" and int(fields[19]) == self.start


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def tagged(task_id: str) -> list[Tagged]:
    """Every live (non-zombie) process on this machine whose environment holds
    ``OPENCLAW_TASK_ID=task_id`` (needs root to see other users' processes)."""
    tag = b"\0OPENCLAW_TASK_ID=" + task_id.encode() + b"\0"
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        proc = Path("/proc") / entry
        try:
            environ = b"\0" + (proc / "environ").read_bytes()
            if tag not in environ + b"\0":
                continue
            status = (proc / "status").read_text()
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = _stat(int(entry))
        if fields is None or fields[0] == "Z":
            continue
        uid = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("Uid:"))
        words = tuple(a.decode("utf-8", "replace") for a in argv if a)
        out.append(Tagged(int(entry), uid, words, int(fields[3]), int(fields[19])))
    return out


def sleeping(task_id: str) -> list[Tagged]:
    """The task's ``sleep 60`` (the long shell command's), once it runs."""
    return [p for p in tagged(task_id) if p.argv[:2] == ("sleep", "60")]


# -- the agents -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kit:
    """One real agent CLI and what it takes to run it offline against its scripted server."""

    name: str
    server: Callable[[list[dict[str, Any]]], AbstractContextManager[Any]]
    #: Writes the agent's offline files under ``home`` and returns its variables.
    offline: Callable[[Path, str], dict[str, str]]
    write: Callable[[Path, str], dict[str, Any]]
    shell: Callable[[str], dict[str, Any]]
    #: A long shell command, left running (as long as the model lets it).
    long: Callable[[str], list[dict[str, Any]]]
    #: ``start`` flags the agent is given in every scenario.
    flags: tuple[str, ...] = ()

    @property
    def path(self) -> str | None:
        return find_real(self.name)

    def work_script(self, target: Path, content: str) -> list[dict[str, Any]]:
        """Say something, write ``target`` with a real tool, run SHELL_COMMAND, then finish."""
        return [
            {"text": "Writing it.", **self.write(target, content)},
            self.shell(SHELL_COMMAND),
            {"text": "All done."},
        ]

    @staticmethod
    def error_script() -> list[dict[str, Any]]:
        return [{"error": {"status": 400, "message": API_400}}]


def _codex_offline(home: Path, base_url: str) -> dict[str, str]:
    codex_home = home / "codex-home"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(base_url))
    return {"CODEX_HOME": str(codex_home)}


def _gemini_offline(home: Path, base_url: str) -> dict[str, str]:
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "general": {"sessionRetention": {"enabled": False}, "enableAutoUpdate": False},
        "privacy": {"usageStatisticsEnabled": False},
    }
    gdir = home / ".gemini"
    gdir.mkdir(parents=True, exist_ok=True)
    (gdir / "settings.json").write_text(json.dumps(settings))
    return {"GOOGLE_GEMINI_BASE_URL": base_url, "GEMINI_API_KEY": "fake-gemini-key"}


def _opencode_offline(home: Path, base_url: str) -> dict[str, str]:
    # The global config dir looks installed, so OpenCode runs no background npm install.
    d = home / ".config" / "opencode"
    (d / "node_modules").mkdir(parents=True, exist_ok=True)
    deps = {"@opencode-ai/plugin": OPENCODE_VERSION}
    (d / "package.json").write_text(json.dumps({"dependencies": deps}))
    (d / "package-lock.json").write_text(
        json.dumps({"lockfileVersion": 3, "packages": {"": {"dependencies": deps}}})
    )
    config = home / "opencode-test.json"
    config.write_text(json.dumps(opencode_config(base_url)))
    return {
        "OPENCODE_CONFIG": str(config),
        "OPENCODE_DISABLE_MODELS_FETCH": "true",
        "OPENCODE_DISABLE_AUTOUPDATE": "true",
        # should the seed above ever stop sufficing: fail on 127.0.0.1, never reach the registry
        "npm_config_registry": "http://127.0.0.1:9/",
    }


def _claude_offline(home: Path, base_url: str) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-fake-test",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }


KITS: dict[str, Kit] = {
    "codex": Kit(
        name="codex",
        server=FakeResponsesServer,
        offline=_codex_offline,
        write=lambda p, c: {"write": {"path": str(p), "content": c}},
        shell=lambda cmd: {"exec": cmd},
        # exec_command hands back after yield_time_ms; 30 s (its maximum) keeps the model waiting.
        long=lambda cmd: [
            {"text": "Running it.", "exec": {"cmd": cmd, "yield_time_ms": 30000}},
            {"poll": 30000},
        ],
    ),
    "gemini": Kit(
        name="gemini",
        server=FakeGeminiServer,
        offline=_gemini_offline,
        write=lambda p, c: {
            "function_call": {"name": "write_file", "args": {"file_path": str(p), "content": c}}
        },
        shell=lambda cmd: {"function_call": {"name": "run_shell_command", "args": {"command": cmd}}},
        long=lambda cmd: [
            {"text": "Running it.", "function_call": {"name": "run_shell_command", "args": {"command": cmd}}}
        ],
        flags=("--model", GEMINI_MODEL),
    ),
    "opencode": Kit(
        name="opencode",
        server=FakeOpenAIChatServer,
        offline=_opencode_offline,
        write=lambda p, c: {"tool_call": {"name": "write", "arguments": {"filePath": str(p), "content": c}}},
        shell=lambda cmd: {
            "tool_call": {"name": "bash", "arguments": {"command": cmd, "description": "Run it"}}
        },
        long=lambda cmd: [
            {
                "text": "Running it.",
                "tool_call": {"name": "bash", "arguments": {"command": cmd, "description": "Run it"}},
            }
        ],
    ),
    "claude": Kit(
        name="claude",
        server=FakeAnthropicServer,
        offline=_claude_offline,
        write=lambda p, c: {"tool_use": {"name": "Write", "input": {"file_path": str(p), "content": c}}},
        shell=lambda cmd: {"tool_use": {"name": "Bash", "input": {"command": cmd, "description": "Run it"}}},
        long=lambda cmd: [{"tool_use": {"name": "Bash", "input": {"command": cmd, "description": "Run it"}}}],
    ),
}
