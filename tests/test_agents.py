"""Every agent behind one interface, on the local executor, against its faithful fake.

claude, codex, gemini, opencode and plain commands: start, status, logs,
wait and its exit codes, kill, resume; the task controls (timeout, model,
spend cap, the agents' own flags); and the bad input each refuses. The
fakes are tests/fakes/<agent> (see FAKE-*.md); the same scenarios run
against the real CLIs in test_real_agents.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Env, wait_until

from openclaw import procs
from openclaw.agents import AGENTS, get_agent
from openclaw.agents.base import Controls, timeout_reason
from openclaw.durations import format_duration, parse_duration
from openclaw.errors import UsageError

PROMPT_AGENTS = ["claude", "codex", "gemini", "opencode"]


@pytest.fixture
def ag(oc: Env, tmp_path: Path) -> Env:
    """``oc``, with what each fake agent needs to run offline (its home, settings, key)."""
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    (oc.home / ".gemini").mkdir()
    (oc.home / ".gemini" / "settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
    )
    oc.env.update(
        CODEX_HOME=str(codex_home),
        GEMINI_API_KEY="fake-key",
        FAKE_CODEX_RECORD_DIR=str(oc.record_dir),
        FAKE_GEMINI_RECORD_DIR=str(oc.record_dir),
        FAKE_OPENCODE_RECORD_DIR=str(oc.record_dir),
    )
    return oc


def finished(env: Env, agent: str, prompt: str, *args: str) -> dict[str, Any]:
    """Start ``prompt`` on ``agent`` and wait for it; its final record."""
    result = env.run("start", "--agent", agent, "--json", "--wait", f"--prompt={prompt}", *args)
    assert result.code in (0, 4), result.err
    meta: dict[str, Any] = result.json()
    return meta


@pytest.mark.parametrize("agent", PROMPT_AGENTS)
def test_each_agent_runs_a_real_tool_and_completes_with_its_result(ag: Env, agent: str) -> None:
    meta = finished(ag, agent, "#fake text working\n#fake write out.txt hi\n#fake bash echo ran")
    assert meta["status"] == "completed" and meta["agent"] == agent and meta["exit_code"] == 0
    assert (ag.workspace / "out.txt").read_text().startswith("hi")
    assert meta["result"]["subtype"] == "success" and not meta["result"]["is_error"]
    entries = [
        json.loads(line) for line in ag.ok("logs", "--task-id", meta["task_id"], "--json").out.splitlines()
    ]
    kinds = [e["kind"] for e in entries]
    assert "message" in kinds and "tool_call" in kinds and kinds[-1] == "result", kinds
    assert any(e["kind"] == "message" and "working" in e["text"] for e in entries)
    view = ag.ok("logs", "--task-id", meta["task_id"]).out
    assert "working" in view and "■ completed" in view
    assert ag.run("wait", "--task-id", meta["task_id"]).code == 0
    if agent in ("codex", "gemini"):  # they report no cost: none is shown, none made up
        assert meta["result"]["total_cost_usd"] is None
        assert ag.status(meta["task_id"])["result"]["total_cost_usd"] is None
        assert ag.ok("list", "--json").json()[0]["result"]["total_cost_usd"] is None
        status = ag.ok("status", "--task-id", meta["task_id"]).out
        listed = ag.ok("list").out
        assert "cost" not in status and "$" not in status + listed + view, (status, listed)


@pytest.mark.parametrize("agent", PROMPT_AGENTS)
def test_each_agent_gets_the_prompt_byte_exact_on_stdin_never_in_argv(ag: Env, agent: str) -> None:
    prompt = "#fake text hi\nline two with 'quotes' and $(not a command) and ünïcode\n"
    meta = finished(ag, agent, prompt)
    assert meta["status"] == "completed"
    assert all("line two" not in a for a in meta["command"])
    stdin = next(p for p in ag.record_dir.glob("*.stdin"))
    assert stdin.read_bytes().startswith(prompt.rstrip("\n").encode())


@pytest.mark.parametrize("agent", PROMPT_AGENTS)
def test_an_api_error_fails_the_task_with_the_agents_own_words(ag: Env, agent: str) -> None:
    meta = finished(ag, agent, "#fake api-error 400 model gpt-nope does not exist")
    assert meta["status"] == "failed"
    assert "does not exist" in meta["error"] or "400" in meta["error"], meta["error"]
    assert ag.run("wait", "--task-id", meta["task_id"]).code == 4


@pytest.mark.parametrize("agent", PROMPT_AGENTS)
def test_killing_any_agent_leaves_no_process_of_the_task(ag: Env, agent: str) -> None:
    meta = ag.start("#fake text going\n#fake bash echo start; sleep 60; echo slept", "--agent", agent)
    running = ag.wait_status(meta["task_id"], "running")
    wait_until(lambda: list(ag.record_dir.glob("*.tool-pids")))
    ag.ok("kill", "--task-id", meta["task_id"], "--grace", "2")
    killed = ag.status(meta["task_id"])
    assert killed["status"] == "killed"
    assert procs.task_processes(running["pid"], running["pid_start_time"], meta["task_id"]) == []
    assert ag.run("wait", "--task-id", meta["task_id"]).code == 5


def test_gemini_ending_0_without_a_result_event_is_not_completed(ag: Env) -> None:
    meta = finished(ag, "gemini", "#fake text partial\n#fake exit 0")
    assert meta["status"] == "failed" and meta["exit_code"] == 0
    assert "without a result event" in meta["error"]


@pytest.mark.parametrize("agent", ["codex", "gemini", "opencode"])
def test_resume_continues_the_agents_own_session(ag: Env, agent: str) -> None:
    first = finished(ag, agent, "#fake text first")
    assert first["status"] == "completed"
    second = ag.run("resume", "--task-id", first["task_id"], "--prompt=#fake text second", "--wait", "--json")
    assert second.code == 0, second.err
    child = second.json()
    assert child["agent"] == agent and child["parent_id"] == first["task_id"]
    argv = " ".join(child["command"])
    session = child["session_id"]
    assert session and session in argv, (session, argv)
    # Every agent's ended record keeps its session id, also one the agent picked and printed:
    # resume needs it after the output is gone (a container's goes with it).
    assert first["session_id"] and session == first["session_id"]
    if agent == "gemini":
        assert session == first["task_id"]


def test_claude_resume_forks_the_session_under_the_new_task_id(ag: Env) -> None:
    first = finished(ag, "claude", "#fake text first")
    child = ag.run(
        "resume", "--task-id", first["task_id"], "--prompt=#fake text more", "--wait", "--json"
    ).json()
    assert child["session_id"] == child["task_id"]
    assert ["--resume", first["task_id"], "--fork-session"] == child["command"][-5:-2]


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_resume_takes_its_own_timeout_and_model(ag: Env, agent: str) -> None:
    first = finished(ag, agent, "#fake text first")
    assert first["status"] == "completed" and first["timeout_s"] is None
    result = ag.run(
        "resume",
        "--task-id",
        first["task_id"],
        "--prompt=#fake text second",
        "--timeout",
        "30s",
        "--model",
        "mock/resumed-1",
        "--wait",
        "--json",
    )
    assert result.code == 0, result.err
    child = result.json()
    assert child["parent_id"] == first["task_id"] and child["status"] == "completed"
    assert child["timeout_s"] == 30 and child["model"] == "mock/resumed-1"
    argv = child["command"]
    assert argv[argv.index("--model") + 1] == "mock/resumed-1"
    assert ag.status(child["task_id"])["timeout_s"] == 30


# -- plain commands ------------------------------------------------------------------------------
def test_run_a_plain_command_success_is_exit_0_and_logs_are_its_output(ag: Env) -> None:
    result = ag.run("run", "--json", "--wait", "--", "sh", "-c", "echo out one; echo 'two  spaced'")
    assert result.code == 0, result.err
    meta = result.json()
    assert meta["agent"] == "command" and meta["status"] == "completed" and meta["max_turns"] is None
    assert meta["command"][1:] == ["-c", "echo out one; echo 'two  spaced'"]
    assert ag.ok("logs", "--task-id", meta["task_id"], "--raw").out.splitlines() == ["out one", "two  spaced"]
    # The view is the same lines, then the outcome, as every ended task's view ends.
    shown = ag.ok("logs", "--task-id", meta["task_id"]).out.splitlines()
    assert shown[:2] == ["out one", "two  spaced"] and shown[2].startswith("■ completed") and len(shown) == 3


def test_run_a_failing_command_is_failed_with_its_exit_status_and_last_stderr_line(ag: Env) -> None:
    result = ag.run("run", "--wait", "--cmd", "sh -c 'echo boom >&2; exit 3'")
    assert result.code == 4
    meta = ag.ok("list", "--json").json()[0]
    assert meta["status"] == "failed" and meta["exit_code"] == 3
    assert meta["error"] == "the command exited with code 3: boom"


def test_run_gives_the_command_its_description_on_stdin_and_then_end_of_file(ag: Env) -> None:
    meta = ag.run("run", "--json", "--wait", "--", "cat").json()
    assert meta["status"] == "completed"
    assert ag.ok("logs", "--task-id", meta["task_id"], "--raw").out == "$ cat\n"


def test_a_command_that_is_not_there_is_a_failed_record_that_names_it(ag: Env) -> None:
    result = ag.run("run", "--json", "--", "no-such-tool-here", "x")
    assert result.code == 1
    assert "no-such-tool-here not found" in result.err
    (meta,) = ag.ok("list", "--json").json()
    assert meta["status"] == "failed" and "no-such-tool-here not found" in meta["error"]


def test_a_missing_agent_binary_is_a_failed_record_with_how_to_install_it(ag: Env) -> None:
    ag.write_config("executors:\n  - {name: local, type: local, agent: codex, agent_path: /nowhere/codex}\n")
    result = ag.run("start", "--prompt", "hi")
    assert result.code == 1
    assert "codex not found at /nowhere/codex (agent_path: '/nowhere/codex')" in result.err
    assert "npm install -g @openai/codex" in result.err
    (meta,) = ag.ok("list", "--json").json()
    assert meta["status"] == "failed" and meta["agent"] == "codex"


# -- the wall-clock limit ------------------------------------------------------------------------
def test_timeout_stops_a_task_where_it_runs_even_with_nobody_watching(ag: Env) -> None:
    meta = ag.start("#fake text going\n#fake bash echo start; sleep 60; echo slept", "--timeout", "2s")
    assert meta["timeout_s"] == 2
    running = ag.wait_status(meta["task_id"], "running")
    time.sleep(4)  # nobody observes the task meanwhile: the launcher enforces the limit alone
    rc = ag.tasks_dir / meta["task_id"] / "rc"
    assert rc.read_text().strip() == "124"
    assert procs.task_processes(running["pid"], running["pid_start_time"], meta["task_id"]) == []
    final = ag.status(meta["task_id"])
    assert final["status"] == "failed" and final["error"] == "timed out after 2s"
    assert ag.run("wait", "--task-id", meta["task_id"]).code == 4


@pytest.mark.parametrize("agent", ["codex", "gemini", "opencode"])
def test_timeout_holds_for_every_agent_and_leaves_no_process_of_the_task(ag: Env, agent: str) -> None:
    meta = finished(ag, agent, "#fake bash echo start; sleep 60; echo slept", "--timeout", "2")
    assert meta["status"] == "failed" and meta["error"] == "timed out after 2s"
    (pids,) = ag.record_dir.glob("*.tool-pids")  # the tool was running when the limit struck
    tools = [int(p) for p in pids.read_text().split()]
    assert tools and not any(procs.is_alive(p, None) for p in tools)
    assert procs.task_processes(meta["pid"], meta["pid_start_time"], meta["task_id"]) == []


def test_timeout_from_the_config_and_shown_as_people_write_it(ag: Env) -> None:
    ag.write_config("defaults: {timeout: 1m30s}\nexecutors:\n  - {name: local, type: local}\n")
    meta = ag.start("#fake text hi")
    assert meta["timeout_s"] == 90
    ag.write_config("executors:\n  - {name: local, type: local, timeout: 1}\n")
    meta = finished(ag, "claude", "#fake sleep 30")
    assert meta["error"] == "timed out after 1s"


@pytest.mark.parametrize(
    ("written", "seconds", "shown"),
    [
        ("90s", 90, "1m30s"),
        ("30m", 1800, "30m"),
        ("2h", 7200, "2h"),
        ("1h30m", 5400, "1h30m"),
        ("1d2h", 93600, "1d2h"),
        ("45", 45, "45s"),
        (45, 45, "45s"),
        (" 2H ", 7200, "2h"),
        ("1.5s", 1.5, "1.5s"),
        ("0.5", 0.5, "0.5s"),
    ],
)
def test_durations_parse_as_people_write_them_and_show_the_same_way_back(
    written: object, seconds: float, shown: str
) -> None:
    assert parse_duration(written) == seconds
    assert format_duration(seconds) == shown and parse_duration(shown) == seconds
    # The launcher's last word, in seconds, becomes the record's reason as people write it.
    assert timeout_reason(f"openclaw-agent: timed out after {seconds:g}s") == f"timed out after {shown}"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("soon", "takes a duration"),
        ("", "takes a duration"),
        ("5y", "takes a duration"),
        ("h", "takes a duration"),
        ("30 m", "takes a duration"),
        ("-1m", "takes a duration"),
        ("1h-30m", "takes a duration"),
        (True, "takes a duration"),
        ("0", "more than 0"),
        ("0s", "more than 0"),
        (-5, "more than 0"),
        ("nan", "more than 0"),
        ("inf", "more than 0"),
        ("366d", "at most a year"),
    ],
)
def test_a_bad_duration_is_refused_naming_the_key_and_the_forms_it_takes(bad: object, words: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_duration(bad, "agents.codex.timeout")
    message = str(raised.value)
    assert words in message and "agents.codex.timeout" in message, message


# -- controls --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("agent", "flag"),
    [("claude", "--model"), ("codex", "--model"), ("gemini", "--model"), ("opencode", "--model")],
)
def test_model_goes_to_the_agents_own_model_flag(ag: Env, agent: str, flag: str) -> None:
    meta = finished(ag, agent, "#fake text hi", "--model", "mock/fancy-1")
    argv = meta["command"]
    assert argv[argv.index(flag) + 1] == "mock/fancy-1" and meta["model"] == "mock/fancy-1"


def test_claude_takes_the_spend_cap_tools_and_system_prompt(ag: Env) -> None:
    meta = ag.start(
        "#fake text hi",
        "--max-budget-usd",
        "2.5",
        "--allowed-tools",
        "Read, Bash",
        "--disallowed-tools",
        "WebFetch",
        "--append-system-prompt",
        "Be brief.",
        "--agent-arg=--effort",
        "--agent-arg=low",
    )
    argv = meta["command"]
    for flag, value in [
        ("--max-budget-usd", "2.5"),
        ("--allowedTools", "Read,Bash"),
        ("--disallowedTools", "WebFetch"),
        ("--append-system-prompt", "Be brief."),
        ("--effort", "low"),
    ]:
        assert argv[argv.index(flag) + 1] == value
    assert meta["controls"]["max_budget_usd"] == 2.5


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["start", "--agent", "nosuch", "--prompt", "x"], "unknown agent 'nosuch'"),
        (
            ["start", "--agent", "codex", "--max-budget-usd", "3", "--prompt", "x"],
            "does not support --max-budget-usd",
        ),
        (["start", "--agent", "gemini", "--max-turns", "3", "--prompt", "x"], "does not support --max-turns"),
        (["start", "--agent", "opencode", "--allowed-tools", "Bash", "--prompt", "x"], "--allowed-tools"),
        (["start", "--timeout", "soon", "--prompt", "x"], "--timeout takes a duration"),
        (["start", "--timeout", "0", "--prompt", "x"], "more than 0"),
        (["start", "--max-budget-usd", "-1", "--prompt", "x"], "--max-budget-usd"),
        (["start", "--agent", "command", "--prompt", "x"], "run -- CMD"),
        (["start", "--prompt", "x", "--", "ls"], "only 'run' takes a command after --"),
        (["run"], "no command to run"),
        (["run", "--timeout", "5y", "--", "true"], "--timeout takes a duration"),
    ],
)
def test_bad_agent_input_is_one_line_exit_2_and_no_record(ag: Env, args: list[str], words: str) -> None:
    result = ag.run(*args)
    assert result.code == 2, (result.code, result.err)
    assert words in result.err and result.err.count("\n") == 1 and "Traceback" not in result.err
    assert not ag.tasks_dir.is_dir() or [p for p in ag.tasks_dir.iterdir() if len(p.name) == 36] == []


# -- configuration ---------------------------------------------------------------------------------
def test_executor_agent_and_agents_section_pick_the_agent_its_path_and_model(ag: Env, tmp_path: Path) -> None:
    link = tmp_path / "bin" / "my-codex"
    link.parent.mkdir()
    link.symlink_to(REPO / "tests" / "fakes" / "codex")
    ag.write_config(
        "agents:\n"
        f"  codex: {{path: {link}, model: mock/from-config, args: [--ephemeral]}}\n"
        "executors:\n"
        "  - {name: local, type: local, agent: codex}\n"
    )
    meta = finished(ag, "codex", "#fake text hi")
    assert meta["command"][0] == str(link)
    assert meta["model"] == "mock/from-config" and "--ephemeral" in meta["command"]
    default = ag.start("#fake text hi")
    assert default["agent"] == "codex"
    claude = ag.start("#fake text hi", "--agent", "claude")
    assert claude["agent"] == "claude" and "--ephemeral" not in claude["command"]
    rows = ag.ok("executors", "--json").json()
    assert rows[0]["agent"] == "codex" and rows[0]["agents"]["codex"] == str(link)
    assert set(rows[0]["agents"]) == set(AGENTS)


def test_agents_section_env_reaches_the_agent_and_its_value_is_never_shown(ag: Env) -> None:
    secret = "sk-agent-0123456789abcdef"
    ag.write_config(
        f"agents:\n  codex: {{env: {{MY_AGENT_TOKEN: {secret}}}}}\n"
        "executors:\n  - {name: local, type: local}\n"
    )
    ag.env["FAKE_CODEX_RECORD_ENV"] = "MY_AGENT_TOKEN"
    ag.env["FAKE_CLAUDE_RECORD_ENV"] = "MY_AGENT_TOKEN"
    meta = finished(ag, "codex", '#fake bash echo "token=$MY_AGENT_TOKEN"\n#fake text done')
    assert meta["status"] == "completed"
    (seen,) = ag.record_dir.glob("*.env.json")
    assert json.loads(seen.read_text()) == {"MY_AGENT_TOKEN": secret}
    assert "MY_AGENT_TOKEN" in meta["env_names"]
    assert secret in (ag.tasks_dir / meta["task_id"] / "stdout").read_text()  # the agent printed it
    shown = [
        json.dumps(meta),
        (ag.tasks_dir / meta["task_id"] / ".meta.json").read_text(),
        ag.ok("status", "--task-id", meta["task_id"], "--json").out,
        ag.ok("status", "--task-id", meta["task_id"]).out,
        ag.ok("list", "--json").out,
        ag.ok("executors", "--json").out,
    ]
    for args in ([], ["--raw"], ["--json"]):
        shown.append(ag.ok("logs", "--task-id", meta["task_id"], *args).out)
    assert all(secret not in out for out in shown), [out for out in shown if secret in out]
    assert "[redacted]" in shown[-2]
    other = finished(ag, "claude", "#fake text hi")  # another agent does not get it
    assert json.loads(ag.recorded(other["task_id"], "env.json")) == {}
    assert "MY_AGENT_TOKEN" not in other["env_names"]


def test_agents_section_timeout_applies_to_that_agent_unless_the_task_sets_its_own(ag: Env) -> None:
    ag.write_config("agents:\n  codex: {timeout: 2s}\nexecutors:\n  - {name: local, type: local}\n")
    meta = finished(ag, "codex", "#fake bash echo start; sleep 60; echo slept")
    assert meta["timeout_s"] == 2
    assert meta["status"] == "failed" and meta["error"] == "timed out after 2s"
    assert ag.start("#fake text hi", "--agent", "codex", "--timeout", "30m")["timeout_s"] == 1800
    assert ag.start("#fake text hi", "--agent", "claude")["timeout_s"] is None


def test_agents_section_max_budget_usd_goes_to_claude_and_the_flag_overrides_it(ag: Env) -> None:
    ag.write_config(
        "agents:\n  claude: {max_budget_usd: 1.5}\n  codex: {max_budget_usd: 4}\n"
        "executors:\n  - {name: local, type: local}\n"
    )
    meta = ag.start("#fake text hi")
    argv = meta["command"]
    assert argv[argv.index("--max-budget-usd") + 1] == "1.5" and meta["controls"]["max_budget_usd"] == 1.5
    mine = ag.start("#fake text hi", "--max-budget-usd", "3")
    argv = mine["command"]
    assert argv[argv.index("--max-budget-usd") + 1] == "3" and mine["controls"]["max_budget_usd"] == 3
    codex = ag.start("#fake text hi", "--agent", "codex")  # it has no spend cap: the default is not its
    assert "--max-budget-usd" not in codex["command"] and "max_budget_usd" not in codex.get("controls", {})


def test_claude_path_still_names_the_claude_binary(ag: Env, tmp_path: Path) -> None:
    link = tmp_path / "bin" / "claude-x"
    link.parent.mkdir()
    link.symlink_to(REPO / "tests" / "fakes" / "claude")
    ag.write_config(f"executors:\n  - {{name: local, type: local, claude_path: {link}}}\n")
    assert ag.start("#fake text hi")["command"][0] == str(link)


def test_a_bad_config_timeout_or_agent_is_a_config_error(ag: Env) -> None:
    ag.write_config("executors:\n  - {name: local, type: local, timeout: soon}\n")
    assert ag.run("start", "--prompt", "x").code == 2
    ag.write_config("executors:\n  - {name: local, type: local, agent: eliza}\n")
    result = ag.run("start", "--prompt", "x")
    assert result.code == 2 and "eliza" in result.err


# -- structure -------------------------------------------------------------------------------------
def test_every_agent_is_in_the_schemas_and_builds_an_argv_without_the_prompt() -> None:
    config = json.loads((REPO / "schemas" / "config.schema.json").read_text())
    meta = json.loads((REPO / "schemas" / "task-meta.schema.json").read_text())
    assert (
        set(config["$defs"]["agent_name"]["enum"]) == set(AGENTS) == set(meta["properties"]["agent"]["enum"])
    )
    for name in AGENTS:
        agent = get_agent(name)
        controls = Controls(argv=("make", "test")) if name == "command" else Controls(model="m")
        argv = agent.command(agent.binary or "x", "sid", controls)
        assert argv and "PROMPT" not in " ".join(argv)


@pytest.mark.parametrize("agent", ["codex", "gemini", "opencode"])
def test_wait_follow_and_raw_logs_read_every_agents_output(ag: Env, agent: str) -> None:
    result = ag.run(
        "start", "--agent", agent, "--wait", "--follow", "--prompt=#fake text streaming\n#fake bash echo hi"
    )
    assert result.code == 0, result.err
    assert "streaming" in result.out and "■ completed" in result.out
    (meta,) = ag.ok("list", "--json").json()
    raw = ag.ok("logs", "--task-id", meta["task_id"], "--raw").out
    assert all(json.loads(line) for line in raw.splitlines())  # the agent's own events, as written
    assert ag.ok("cleanup", "--task-id", meta["task_id"]).code == 0
    assert ag.ok("list", "--json").json() == []


def test_codex_result_text_is_its_last_reply_and_opencode_counts_tokens_of_every_step(ag: Env) -> None:
    codex = finished(ag, "codex", "#fake bash true\n#fake text The answer is 42.")
    assert codex["result"]["text"] == "The answer is 42."
    opencode = finished(ag, "opencode", "#fake bash true\n#fake text ok")
    result = opencode["result"]
    assert result["num_turns"] == 2 and result["text"] == "ok"
    assert result["input_tokens"] > 0 and result["output_tokens"] > 0
    single = finished(ag, "opencode", "#fake text ok")["result"]
    assert result["input_tokens"] > single["input_tokens"], "tokens of both steps, not the last"
