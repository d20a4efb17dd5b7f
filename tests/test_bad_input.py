"""Hostile input: bad flag values and hostile config files.

Each is refused with one line (``openclaw-agent: error: <problem> — <how to
fix>``) and exit code 2, quickly, without a traceback, and before anything is
started or recorded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Env, Result

ERROR = "openclaw-agent: error: "


def assert_refused(result: Result, *words: str) -> str:
    """Exit 2, exactly one stderr line of the documented form, naming ``words``; return the line."""
    assert result.code == 2, result
    assert "Traceback" not in result.err, result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    line = lines[0]
    assert line.startswith(ERROR), line
    assert " — " in line, f"no hint in: {line}"
    for word in words:
        assert word in line, f"{word!r} not in: {line}"
    return line


def task_dirs(oc: Env) -> list[str]:
    if not oc.tasks_dir.is_dir():
        return []
    return sorted(p.name for p in oc.tasks_dir.iterdir() if p.is_dir())


# ---------------------------------------------------------------------------------- flags


def test_kill_grace_nan_is_refused_before_any_kill_is_requested(oc: Env) -> None:
    meta = oc.start("#fake sleep 60")
    task_id = meta["task_id"]
    oc.wait_status(task_id, "running")
    for grace in ("nan", "inf", "-inf", "1e400", "-1", "abc", "", "99999999999"):
        assert_refused(oc.run("kill", "--task-id", task_id, f"--grace={grace}"), "--grace", repr(grace))
        after = oc.status(task_id)
        assert after["status"] == "running", grace
        assert not after.get("kill_requested_at"), f"a refused kill (--grace={grace}) was recorded"


def test_kill_grace_zero_is_allowed_and_kills_at_once(oc: Env) -> None:
    meta = oc.start("#fake sleep 60")
    oc.wait_status(meta["task_id"], "running")
    killed = oc.ok("kill", "--task-id", meta["task_id"], "--grace=0", "--json").json()
    assert killed["status"] == "killed"


BAD_SECONDS = ["nan", "inf", "-inf", "1e400", "31536001", "1e12", "abc", "0", "-1"]


@pytest.mark.parametrize("value", BAD_SECONDS)
@pytest.mark.parametrize(
    ("flag", "args"),
    [
        ("--follow", ["start", "--prompt=#fake text hi", "--wait"]),
        ("--wait-timeout", ["start", "--prompt=#fake text hi", "--wait"]),
        ("--follow", ["resume", "--task-id", "0123abcd", "--prompt=more", "--wait"]),
        ("--wait-timeout", ["resume", "--task-id", "0123abcd", "--prompt=more", "--wait"]),
    ],
)
def test_start_and_resume_refuse_bad_follow_and_timeout_before_any_task_is_recorded(
    oc: Env, flag: str, args: list[str], value: str
) -> None:
    assert_refused(oc.run(*args, f"{flag}={value}"), flag, repr(value))
    assert task_dirs(oc) == [], "a bad flag must not leave a task behind"


@pytest.mark.parametrize("value", BAD_SECONDS)
@pytest.mark.parametrize(
    ("flag", "args"),
    [
        ("--timeout", ["wait", "--task-id", "0123abcd"]),
        ("--follow", ["wait", "--task-id", "0123abcd"]),
        ("--follow", ["logs", "--task-id", "0123abcd"]),
        ("--watch", ["dashboard"]),
    ],
)
def test_wait_logs_and_dashboard_refuse_non_finite_zero_or_huge_seconds(
    oc: Env, flag: str, args: list[str], value: str
) -> None:
    # Refused before the task id is even looked up (that would be exit 3).
    assert_refused(oc.run(*args, f"{flag}={value}", timeout=20), flag, repr(value))


def test_seconds_beyond_a_year_are_refused_naming_the_limit(oc: Env) -> None:
    line = assert_refused(oc.run("wait", "--task-id", "0123abcd", "--timeout=31536001"))
    assert "at most 31536000 seconds" in line


def test_start_wait_follow_abc_is_refused_before_the_task_starts(oc: Env) -> None:
    result = oc.run("start", "--prompt=#fake text hi", "--wait", "--follow=abc")
    assert_refused(result, "--follow takes a number of seconds, not 'abc'")
    assert task_dirs(oc) == []
    assert not list(oc.record_dir.iterdir()), "the agent must not have run"


def test_resume_wait_follow_abc_is_refused_before_the_new_task_starts(oc: Env) -> None:
    parent = oc.start("#fake text first")
    oc.wait_status(parent["task_id"], "completed")
    before = task_dirs(oc)
    result = oc.run("resume", "--task-id", parent["task_id"], "--prompt=more", "--wait", "--follow=abc")
    assert_refused(result, "--follow takes a number of seconds, not 'abc'")
    assert task_dirs(oc) == before


def test_logs_negative_lines_names_the_value_given(oc: Env) -> None:
    meta = oc.start("#fake text hi")
    oc.wait_status(meta["task_id"], "completed")
    assert_refused(
        oc.run("logs", "--task-id", meta["task_id"], "--lines=-5"), "--lines must not be negative, not -5"
    )
    assert_refused(
        oc.run("logs", "--task-id", meta["task_id"], "--lines=many"), "--lines takes a whole number"
    )


def test_follow_alone_and_follow_with_seconds_still_work(oc: Env) -> None:
    meta = oc.start("#fake text hello there")
    oc.wait_status(meta["task_id"], "completed")
    for follow in ("--follow", "--follow=0.5"):
        result = oc.ok("logs", "--task-id", meta["task_id"], follow, timeout=30)
        assert "hello there" in result.out
    waited = oc.ok(
        "start", "--prompt=#fake text waited", "--wait", "--follow=0.5", "--timeout=60", timeout=90
    )
    assert "waited" in waited.out


def test_a_very_long_bad_flag_value_gives_a_short_line(oc: Env) -> None:
    line = assert_refused(oc.run("dashboard", "--watch=" + "x" * 100_000), "--watch")
    assert len(line) < 300


# ---------------------------------------------------------------------------------- config

HOSTILE = [
    pytest.param(
        b"executors:\n  - name: a\n    type: local\n    labels: [caf\xe9]\n",
        ["not valid UTF-8", "byte offset 55", "line 4"],
        id="invalid-utf8",
    ),
    pytest.param(
        b"executors: " + b"[" * 3000 + b"]" * 3000 + b"\n",
        ["nested more than 64 levels deep"],
        id="deep-lists",
    ),
    pytest.param(
        b"defaults: " + b"{a: " * 3000 + b"b" + b"}" * 3000 + b"\n",
        ["nested more than 64 levels deep"],
        id="deep-mappings",
    ),
    pytest.param(
        b"defaults:\n" + b"".join(b"  " * (i + 1) + b"k:\n" for i in range(200)) + b"  " * 201 + b"v\n",
        ["nested more than 64 levels deep"],
        id="deep-block-mappings",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: local, env: {TOKEN: "se\\0cret"}}\n',
        ["executors[0].env.TOKEN", "NUL character"],
        id="nul-in-env-value",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: ssh, host: "box\\x00.example"}\n',
        ["executors[0].host", "NUL character"],
        id="nul-in-host",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: container, image: "img\\0"}\n',
        ["executors[0].image", "NUL character"],
        id="nul-in-image",
    ),
    pytest.param(
        b'defaults: {claude_path: "/bin/claude\\0"}\n',
        ["defaults.claude_path", "NUL character"],
        id="nul-in-claude-path",
    ),
    pytest.param(
        b"executors:\n  - {name: a, type: ssh, host: h, connect_timeout: .nan}\n",
        ["executors[0].connect_timeout", ".nan is not a finite number"],
        id="nan-connect-timeout",
    ),
    pytest.param(
        b"executors:\n  - {name: a, type: ssh, host: h, connect_timeout: .inf}\n",
        ["executors[0].connect_timeout", ".inf is not a finite number"],
        id="inf-connect-timeout",
    ),
    pytest.param(
        b"executors:\n  - {name: a, type: local, env: {X: -.inf}}\n",
        ["executors[0].env.X", "-.inf is not a finite number"],
        id="minus-inf-env-value",
    ),
    pytest.param(
        b"executors:\n  - {name: a, type: ssh, host: h, connect_timeout: 7200}\n",
        ["executors[0].connect_timeout", "3600"],
        id="connect-timeout-over-an-hour",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: container, image: "--privileged"}\n',
        ["executors[0].image", "'--privileged'", "may not start with '-'"],
        id="image-as-a-flag",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: container, image: x, network: "-host"}\n',
        ["executors[0].network", "may not start with '-'"],
        id="network-as-a-flag",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: container, image: x, user: "--privileged"}\n',
        ["executors[0].user", "may not start with '-'"],
        id="container-user-as-a-flag",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: ssh, host: "-oProxyCommand=sh"}\n',
        ["executors[0].host", "may not start with '-'"],
        id="ssh-host-as-a-flag",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: ssh, host: h, user: "-l"}\n',
        ["executors[0].user", "may not start with '-'"],
        id="ssh-user-as-a-flag",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: ssh, host: h, remote_root: "-rf"}\n',
        ["executors[0].remote_root", "may not start with '-'"],
        id="remote-root-as-a-flag",
    ),
    pytest.param(
        b'executors:\n  - {name: a, type: local, claude_path: "--help"}\n',
        ["executors[0].claude_path", "may not start with '-'"],
        id="claude-path-as-a-flag",
    ),
    pytest.param(b"defaults: &d {x: *d}\n", ["line 1", "recursive"], id="recursive-alias"),
    pytest.param(
        b"defaults:\n  max_turns: " + b"7" * 5000 + b"\n",
        ["line 2", "as an integer (too many digits)"],
        id="integer-of-5000-digits",
    ),
    pytest.param(
        b"defaults:\n  claude_path: 2024-13-45\n", ["line 2", "as a date or time"], id="impossible-date"
    ),
    pytest.param(b"? [a, b]\n: 1\n", ["line 1", "a mapping key must be a plain value"], id="list-as-a-key"),
    pytest.param(b"executors:\n  - {name: a, type: local}\x00\n", ["line 2", "#x0000"], id="raw-nul-byte"),
]


@pytest.mark.parametrize(("text", "words"), HOSTILE)
def test_a_hostile_config_file_is_refused_in_one_line_before_any_task_is_recorded(
    oc: Env, text: bytes, words: list[str]
) -> None:
    oc.config_file.parent.mkdir(parents=True, exist_ok=True)
    oc.config_file.write_bytes(text)
    for args in (["executors"], ["start", "--prompt=#fake text hi"], ["config"]):
        line = assert_refused(oc.run(*args, timeout=20), *words)
        assert line.startswith(f"{ERROR}{oc.config_file}: ")
    assert task_dirs(oc) == []


def billion_laughs(levels: int = 9) -> str:
    lines = ["x-lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x-lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_quickly_without_expanding_it(oc: Env) -> None:
    oc.write_config(billion_laughs(9))  # 10**9 leaves, if expanded
    result = oc.run("executors", timeout=20)
    assert_refused(result, "expands to more than 100000 values (YAML aliases?)")
    # Inside a valid place in the file, too.
    oc.write_config(
        "executors:\n  - {name: a, type: local, labels: &l0 [x, x, x, x, x, x, x, x, x, x]}\n"
        + "".join(
            f"  - {{name: b{i}, type: local, labels: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]}}\n"
            for i in range(1, 8)
        )
    )
    assert_refused(
        oc.run("start", "--prompt=#fake text hi", timeout=20), "expands to more than 100000 values"
    )
    assert task_dirs(oc) == []


def test_an_alias_chain_deeper_than_the_limit_is_refused(oc: Env) -> None:
    text = "executors:\n  - &e0 {name: a, type: local}\n" + "".join(
        f"  - &e{i} [*e{i - 1}]\n" for i in range(1, 100)
    )
    oc.write_config(text)
    assert_refused(oc.run("executors", timeout=20), "nested more than 64 levels deep")


def test_many_values_without_aliases_are_refused_before_they_are_all_built(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: a, type: local, labels: [" + ",".join(["x"] * 200_000) + "]}\n")
    assert_refused(oc.run("executors", timeout=20), "more than 100000 values")


def test_a_100_mb_config_file_is_refused_after_reading_at_most_1_mib(oc: Env, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    chunk = b"# padding padding padding padding padding padding padding padding padding padding\n" * 12_800
    with open(big, "wb") as fh:
        fh.write(b"executors:\n  - {name: a, type: local}\n")
        for _ in range(100):
            fh.write(chunk)  # ~1 MB each
    assert big.stat().st_size > 100_000_000
    result = oc.run("--config", str(big), "executors", timeout=20)
    assert_refused(result, str(big), "larger than 1048576 bytes (1 MiB)")


def test_a_config_file_just_under_the_size_limit_is_read(oc: Env) -> None:
    head = "executors:\n  - {name: near-limit, type: local}\n"
    padding = "#" * 1000 + "\n"
    text = head + padding * ((1024 * 1024 - len(head)) // len(padding))
    assert len(text.encode()) <= 1024 * 1024
    oc.write_config(text)
    assert [r["name"] for r in oc.ok("executors", "--json").json()] == ["near-limit"]


@pytest.mark.parametrize(
    "text",
    [
        'executors:\n  - {name: a, type: local, env: {X: "a\\0b"}}\n',
        "executors:\n  - {name: a, type: ssh, host: h, connect_timeout: .nan}\n",
        "executors:\n  - {name: a, type: local, labels: [x]}\n" + billion_laughs(8),
        "executors: " + "[" * 200 + "]" * 200 + "\n",
    ],
    ids=["nul", "nan", "alias-bomb", "deep"],
)
def test_a_memoised_digest_never_lets_a_hostile_file_through(oc: Env, text: str) -> None:
    from openclaw.paths import schema_file
    from openclaw.schema import CONFIG_SCHEMA, digest

    oc.write_config(text)
    # As if this very text had once been found valid: the checks outside the schema still run.
    memo = oc.home / ".local" / "share" / "openclaw" / "config.validated"
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(f"{digest(schema_file(CONFIG_SCHEMA).read_bytes())}\n{digest(text.encode())}\n")
    result = oc.run("executors", timeout=20)
    assert_refused(result)


def test_a_memoised_config_with_anchors_and_merge_keys_loads_without_jsonschema(oc: Env) -> None:
    oc.write_config(
        "executors:\n"
        "  - &box {name: one, type: container, image: img:1, runtime: podman, labels: [box]}\n"
        "  - <<: *box\n"
        "    name: two\n"
    )
    assert [r["name"] for r in oc.ok("executors", "--json").json()] == ["one", "two"]  # validated, memoised
    code = (
        "import sys\n"
        "from openclaw.program import program\n"
        "try:\n"
        "    program.run(['openclaw-agent', 'executors'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "assert 'jsonschema' not in sys.modules, 'the memo fast path imported jsonschema'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=oc.env, capture_output=True, text=True, cwd=oc.workspace, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
