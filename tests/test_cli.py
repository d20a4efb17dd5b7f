"""The program's surface: help, version, exit codes, and invoke's flags kept out of the way."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Env

COMMANDS = [
    "start",
    "status",
    "logs",
    "wait",
    "resume",
    "list",
    "kill",
    "cleanup",
    "dashboard",
    "executors",
    "config",
]

FLAGS = {
    "start": [
        "--executor",
        "--prompt",
        "--prompt-file",
        "--workspace",
        "--max-turns",
        "--json",
        "--wait",
        "--follow",
        "--timeout",
        "--wait-timeout",
        "--kill-on-timeout",
        "--agent",
        "--model",
        "--max-budget-usd",
        "--agent-arg",
    ],
    "wait": ["--task-id", "--timeout", "--follow", "--kill-on-timeout", "--json"],
    "resume": ["--task-id", "--prompt", "--prompt-file", "--max-turns", "--json", "--wait"],
    "status": ["--task-id", "--json"],
    "logs": ["--task-id", "--lines", "--follow", "--stderr", "--raw", "--json", "--source"],
    "list": ["--status", "--executor", "--json", "--jsonl"],
    "kill": ["--task-id", "--grace", "--json"],
    "cleanup": ["--task-id", "--force", "--finished"],
    "dashboard": ["--stream", "--watch"],
    "executors": ["--json"],
    "config": ["--init", "--force", "--path"],
}


def test_help_lists_every_command_with_one_line_help(oc: Env) -> None:
    out = oc.ok("--help").out
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s+\S", out, re.M), f"{name} missing from --help"
    assert "--config" in out
    for hidden in ("--pty", "--echo", "--dry", "--hide", "--write-pyc", "--list"):
        assert hidden not in out


def test_every_command_help_lists_its_flags_with_help(oc: Env) -> None:
    for name, flags in FLAGS.items():
        out = oc.ok(name, "--help").out
        for flag in flags:
            line = next((ln for ln in out.splitlines() if ln.strip().startswith(flag)), None)
            assert line is not None, f"{name} --help lacks {flag}"
            assert len(line.split()) > 1, f"{name} {flag} has no help text"


def test_version(oc: Env) -> None:
    from openclaw import __version__

    assert oc.ok("--version").out.strip() == f"openclaw-agent {__version__}"


def test_unknown_command_and_flag_are_usage_errors(oc: Env) -> None:
    for args in (["bogus"], ["list", "--bogus"], ["-f", "x.yaml", "list"]):
        result = oc.run(*args)
        assert result.code == 2, args
        assert "Traceback" not in result.err
        assert len(result.err.strip().splitlines()) == 1
        assert result.err.startswith("openclaw-agent: error:")
    assert "unknown command 'bogus' — see 'openclaw-agent --help'" in oc.run("bogus").err
    flag = oc.run("list", "--bogus").err
    assert "list has no flag --bogus — see 'openclaw-agent list --help'" in flag, flag


def test_bad_values_give_one_line_and_exit_2(oc: Env) -> None:
    for args in (
        ["start", "--prompt", "x", "--max-turns", "many"],
        ["start", "--prompt", "x", "--max-turns", "0"],
        ["start"],
        ["start", "--prompt", "x", "--prompt-file", "y"],
        ["start", "--prompt-file", "/nonexistent/prompt.md"],
        ["start", "--prompt", "x", "--executor", "nope"],
        ["list", "--status", "sleeping"],
        ["logs", "--task-id", "../etc"],
        ["status"],
        ["dashboard", "--watch", "soon"],
        ["dashboard", "--watch=inf"],
        ["kill", "--task-id", "0123abcd", "--grace=nan"],
        ["wait", "--task-id", "0123abcd", "--timeout=1e400"],
        ["logs", "--task-id", "0123abcd", "--lines=-5"],
        ["start", "--prompt", "x", "--wait", "--follow=abc"],
    ):
        result = oc.run(*args)
        assert result.code == 2, (args, result)
        assert "Traceback" not in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert result.out == ""


def test_unknown_task_exits_3(oc: Env) -> None:
    result = oc.run("status", "--task-id", "0123abcd")
    assert result.code == 3
    assert "no task with id '0123abcd'" in result.err
    assert oc.tasks_dir.exists() is False


def test_output_into_a_closed_pipe_is_quiet(oc: Env) -> None:
    import subprocess

    from conftest import console_script

    proc = subprocess.run(
        f"'{console_script()}' --help | head -1", shell=True, capture_output=True, env=oc.env
    )
    assert proc.returncode == 0
    assert b"Traceback" not in proc.stderr


def test_help_reads_like_a_cli_with_types_defaults_and_examples(oc: Env) -> None:
    for args in (["help", "logs"], ["logs", "--help"]):
        text = oc.ok(*args).out
        assert text.startswith("Usage: openclaw-agent logs [OPTIONS]")
        for internal in ("Docstring:", "[--core-opts]", "other tasks here", "=STRING"):
            assert internal not in text
        assert "--lines N" in text and "(default 50)" in text and "--follow[=SECS]" in text
        assert "Examples:\n  openclaw-agent logs --task-id" in text
    top = oc.ok("help").out
    assert top.startswith("Usage: openclaw-agent [--config PATH] COMMAND [OPTIONS]")
    assert "start" in top and "help COMMAND" in top
    unknown = oc.run("help", "nosuch")
    assert unknown.code == 2 and "nosuch" in unknown.err and "Traceback" not in unknown.err


def test_every_commands_help_has_usage_flags_with_types_and_examples_and_a_whole_summary(oc: Env) -> None:
    top = oc.ok("--help").out
    listing = top.split("Subcommands:")[1].split("Run '")[0]
    summaries = dict(re.findall(r"^  (\w+)\s+(.+(?:\n {4,}\S.*)*)", listing, re.M))
    assert set(COMMANDS) <= set(summaries), summaries
    for name, summary in summaries.items():
        summary = " ".join(summary.split())
        assert summary.endswith((".", ")")), f"{name}'s summary is cut short: {summary!r}"
        text = oc.ok(name, "--help").out
        assert text.startswith(f"Usage: openclaw-agent {name} [OPTIONS]"), name
        for internal in ("Docstring:", "[--core-opts]", "other tasks here", "=STRING", "=INT"):
            assert internal not in text, (name, internal)
        assert "\nOptions:\n" in text and "\nExamples:\n  " in text, name
        assert " VALUE" not in text, f"{name}: a flag without a named value"
    start = oc.ok("start", "--help").out
    assert "--agent-arg ARG" in start and "--label LABEL" in start and "(repeatable)" in start


def test_the_quick_exit_still_waits_for_threads_runs_atexit_handlers_and_flushes_output(
    oc: Env, tmp_path: Path
) -> None:
    """main() ends the process without the interpreter's teardown, after what an exit must
    do: a non-daemon thread is waited for, an atexit handler runs, buffered stdout is all
    written, and the exit code is the command's."""
    import subprocess
    import sys

    mark = tmp_path / "mark"
    code = (
        "import atexit, sys, threading, time\n"
        "from openclaw import program\n"
        f"mark = {str(mark)!r}\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        "    open(mark, 'a').write('thread ')\n"
        "threading.Thread(target=late).start()\n"
        "atexit.register(lambda: open(mark, 'a').write('atexit'))\n"
        "sys.stdout.write('x' * 200000)\n"
        "sys.argv = ['openclaw-agent', *sys.argv[1:]]\n"
        "program.main()\n"
    )
    ok = subprocess.run([sys.executable, "-c", code, "--version"], env=oc.env, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(b"x" * 200000) and ok.stdout.endswith(b"openclaw-agent 0.1.0\n")
    assert mark.read_text() == "thread atexit"
    mark.unlink()
    bad = subprocess.run([sys.executable, "-c", code, "status"], env=oc.env, capture_output=True)
    assert bad.returncode == 2 and b"--task-id is required" in bad.stderr
    assert mark.read_text() == "thread atexit"
