"""``openclaw-agent mcp``: the tools, driven by two real MCP clients over stdio.

1. The official SDK's own client (``mcp.client.stdio``), through every tool.
2. The real Claude Code CLI as the client, the "brain": a scripted Messages
   API makes it call start, wait and logs, so that one Claude Code run
   dispatches another agent (the fake claude) through openclaw-agent and reads
   its result.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import Env, console_script
from real_agents_harness import _claude_offline as claude_offline
from test_fake_claude_fidelity import NO_REAL_CLAUDE, REAL_CLAUDE, FakeAnthropicServer


@asynccontextmanager
async def client(oc: Env) -> AsyncIterator[Any]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=console_script(), args=["mcp"], env=oc.env, cwd=str(oc.workspace))
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def call(session: Any, tool: str, **args: Any) -> Any:
    """A tool's JSON result; AssertionError with its message when it is a tool error."""
    result = await session.call_tool(tool, args)
    text = result.content[0].text if result.content else ""
    assert not result.is_error, f"{tool} failed: {text}"
    return json.loads(text)


async def error(session: Any, tool: str, **args: Any) -> str:
    result = await session.call_tool(tool, args)
    assert result.is_error, f"{tool} did not fail: {result.content}"
    return str(result.content[0].text)


def run(oc: Env, scenario: Callable[[Any], Any]) -> None:
    async def main() -> None:
        async with client(oc) as session:
            await scenario(session)

    anyio.run(main)


def test_the_sdk_client_lists_tools_written_for_a_model(oc: Env) -> None:
    async def scenario(s: Any) -> None:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == {
            "start",
            "status",
            "wait",
            "logs",
            "kill",
            "resume",
            "list",
            "executors",
            "diff",
        }
        for tool in tools.values():
            assert len(tool.description) > 80, tool.name
        assert tools["start"].input_schema["required"] == ["prompt"]
        assert "task_id" in tools["wait"].input_schema["required"]

    run(oc, scenario)


def test_start_wait_logs_status_through_the_sdk_client_give_the_clis_json(oc: Env) -> None:
    seen: dict[str, Any] = {}

    async def scenario(s: Any) -> None:
        started = await call(
            s, "start", prompt="#fake text first words\n#fake text all done", workspace=str(oc.workspace)
        )
        assert started["status"] in ("running", "pending", "completed")
        done = await call(s, "wait", task_id=started["task_id"][:8], timeout_s=60)
        assert done["status"] == "completed" and done["result"]["text"] == "all done"
        seen["status"] = await call(s, "status", task_id=started["task_id"])
        first = await call(s, "logs", task_id=started["task_id"], limit=2)
        assert len(first["entries"]) >= 1 and first["next_offset"] > 0 and not first["done"]
        rest = await call(s, "logs", task_id=started["task_id"], offset=first["next_offset"])
        kinds = [e["kind"] for e in first["entries"] + rest["entries"]]
        assert kinds[-1] == "result" and "message" in kinds
        end = await call(s, "logs", task_id=started["task_id"], offset=rest["next_offset"])
        assert end["entries"] == [] and end["done"] is True
        listed = await call(s, "list")
        assert [t["task_id"] for t in listed["tasks"]] == [started["task_id"]] and listed["total"] == 1
        assert [e["name"] for e in (await call(s, "executors"))["executors"]] == ["local"]
        seen["id"] = started["task_id"]

    run(oc, scenario)
    assert seen["status"] == oc.status(seen["id"]), "the same JSON object as status --json"


def test_kill_resume_and_diff_through_the_sdk_client(oc: Env) -> None:
    from test_worktree import make_repo

    repo = make_repo(oc.workspace / "repo")

    async def scenario(s: Any) -> None:
        sleeping = await call(s, "start", prompt="#fake sleep 60", workspace=str(oc.workspace))
        killed = await call(s, "kill", task_id=sleeping["task_id"], grace=1)
        assert killed["status"] == "killed"
        first = await call(
            s, "start", prompt="#fake write note.txt hello", workspace=str(repo), worktree=True
        )
        await call(s, "wait", task_id=first["task_id"], timeout_s=60)
        changed = await call(s, "diff", task_id=first["task_id"], mode="files")
        assert [f["path"] for f in changed["files"]] == ["note.txt"]
        patch = await call(s, "diff", task_id=first["task_id"], mode="patch")
        assert "+hello" in patch["diff"]
        again = await call(s, "resume", task_id=first["task_id"], prompt="#fake text again")
        assert again["parent_id"] == first["task_id"] and again["worktree"] == first["worktree"]
        assert (await call(s, "wait", task_id=again["task_id"], timeout_s=60))["status"] == "completed"

    run(oc, scenario)


def test_bad_arguments_are_tool_errors_and_the_server_keeps_serving(oc: Env) -> None:
    async def scenario(s: Any) -> None:
        assert "not a task id or prefix" in await error(s, "status", task_id="zz-not-an-id")
        assert "no task" in (await error(s, "status", task_id="abcdef12")).lower()
        assert "task_id" in await error(s, "wait")  # a required argument missing
        assert "unknown mode" in await error(s, "diff", task_id="abcdef12", mode="everything")
        assert "the prompt is empty" in await error(s, "start", prompt="   ")
        assert "unknown executor" in (await error(s, "start", prompt="x", executor="nowhere")).lower()
        assert (await call(s, "list"))["tasks"] == []  # still serving

    run(oc, scenario)


def test_wait_past_its_timeout_is_a_tool_error_and_the_task_runs_on(oc: Env) -> None:
    async def scenario(s: Any) -> None:
        started = await call(s, "start", prompt="#fake sleep 30", workspace=str(oc.workspace))
        message = await error(s, "wait", task_id=started["task_id"], timeout_s=0.5)
        assert "still running" in message and "wait again" in message
        assert (await call(s, "status", task_id=started["task_id"]))["status"] == "running"
        await call(s, "kill", task_id=started["task_id"], grace=1)

    run(oc, scenario)


# -- the real Claude Code as the client ---------------------------------------------------------
def tool_result(body: dict[str, Any]) -> str:
    """The text of the last tool_result in a Messages API request."""
    for message in reversed(body["messages"]):
        content = message.get("content")
        for block in reversed(content if isinstance(content, list) else []):
            if block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    return "".join(b.get("text", "") for b in inner)
                return str(inner)
    raise AssertionError("no tool_result in the request")


@pytest.mark.skipif(REAL_CLAUDE is None, reason=NO_REAL_CLAUDE)
def test_the_real_claude_code_as_the_brain_dispatches_a_task_through_mcp_and_reads_its_result(
    oc: Env, tmp_path: Path
) -> None:
    mcp_config = tmp_path / "mcp.json"
    server_env = {k: oc.env[k] for k in ("HOME", "PATH", "IS_SANDBOX", "FAKE_CLAUDE_RECORD_DIR")}
    mcp_config.write_text(
        json.dumps(
            {"mcpServers": {"openclaw": {"command": console_script(), "args": ["mcp"], "env": server_env}}}
        )
    )
    ids: list[str] = []

    def wait_for_it(body: dict[str, Any]) -> dict[str, Any]:
        ids.append(json.loads(tool_result(body))["task_id"])
        return {"tool_use": {"name": "mcp__openclaw__wait", "input": {"task_id": ids[0], "timeout_s": 60}}}

    def read_logs(body: dict[str, Any]) -> dict[str, Any]:
        assert json.loads(tool_result(body))["status"] == "completed"
        return {"tool_use": {"name": "mcp__openclaw__logs", "input": {"task_id": ids[0]}}}

    def conclude(body: dict[str, Any]) -> dict[str, Any]:
        entries = json.loads(tool_result(body))["entries"]
        said = next(e["text"] for e in entries if e["kind"] == "result")
        return {"text": f"The other agent said: {said}"}

    script = [
        {
            "text": "Dispatching it.",
            "tool_use": {
                "name": "mcp__openclaw__start",
                "input": {"prompt": "#fake text forty-two", "workspace": str(oc.workspace)},
            },
        },
        wait_for_it,
        read_logs,
        conclude,
    ]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with FakeAnthropicServer(script) as api:
        env = dict(oc.env, **claude_offline(tmp, api.base_url), TMPDIR=str(tmp))
        proc = subprocess.run(
            [
                str(REAL_CLAUDE), "-p", "--output-format", "stream-json", "--verbose",
                "--mcp-config", str(mcp_config), "--strict-mcp-config",
                "--dangerously-skip-permissions",
            ],
            input=b"Ask another agent for the answer and tell me what it said.",
            capture_output=True,
            env=env,
            cwd=oc.workspace,
            timeout=180,
        )  # fmt: skip
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith(b"{")]
    result = events[-1] if events else {}
    assert proc.returncode == 0, (proc.stderr.decode()[-2000:], events[-3:])
    assert result.get("type") == "result" and result.get("is_error") is False, result
    assert result["result"] == "The other agent said: forty-two"
    assert len(ids) == 1
    dispatched = oc.status(ids[0])
    assert dispatched["status"] == "completed" and dispatched["result"]["text"] == "forty-two"
