"""The configuration file: where it is found, what it may hold, and how errors read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, Env

LOCAL_ONLY = "executors:\n  - name: {name}\n    type: local\n"


def names(oc: Env, *args: str, **kw: object) -> list[str]:
    return [e["name"] for e in oc.ok(*args, "executors", "--json", **kw).json()]  # type: ignore[arg-type]


def test_no_file_means_one_builtin_local_executor(oc: Env) -> None:
    rows = oc.ok("executors", "--json").json()
    assert [(r["name"], r["type"]) for r in rows] == [("local", "local")]
    assert rows[0]["claude_path"] == "claude" and rows[0]["max_turns"] == 30
    assert "built-in default" in oc.ok("config").out


def test_default_path_honours_xdg_config_home(oc: Env, tmp_path: Path) -> None:
    assert oc.ok("config", "--path").out.strip() == str(oc.config_file)
    xdg = tmp_path / "xdg"
    (xdg / "openclaw").mkdir(parents=True)
    (xdg / "openclaw" / "coding-agent.yaml").write_text(LOCAL_ONLY.format(name="from-xdg"))
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert oc.ok("config", "--path", env=env).out.strip() == str(xdg / "openclaw" / "coding-agent.yaml")
    assert names(oc, env=env) == ["from-xdg"]


def test_env_var_and_global_flag_override_in_that_order(oc: Env, tmp_path: Path) -> None:
    oc.write_config(LOCAL_ONLY.format(name="default-file"))
    by_env = tmp_path / "env.yaml"
    by_env.write_text(LOCAL_ONLY.format(name="by-env"))
    by_flag = tmp_path / "flag.yaml"
    by_flag.write_text(LOCAL_ONLY.format(name="by-flag"))
    assert names(oc) == ["default-file"]
    env = {"OPENCLAW_CONFIG": str(by_env)}
    assert names(oc, env=env) == ["by-env"]
    assert names(oc, "--config", str(by_flag), env=env) == ["by-flag"]
    assert oc.ok("--config", str(by_flag), "config", "--path", env=env).out.strip() == str(by_flag)


def test_explicit_missing_file_is_an_error(oc: Env, tmp_path: Path) -> None:
    result = oc.run("--config", str(tmp_path / "nope.yaml"), "executors")
    assert result.code == 2
    assert "nope.yaml: no such file (named by --config)" in result.err


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("executors:\n  - name: a\n    type: local\n    hostt: x\n", "executors[0]", "unknown key 'hostt'"),
        (
            "executors:\n  - name: a\n    type: local\n    max_turns: ten\n",
            "executors[0].max_turns",
            "wrong type",
        ),
        (
            "executors:\n  - name: a\n    type: sssh\n",
            "executors[0].type",
            "'sssh' is not one of: ssh | container | local",
        ),
        (
            "executors:\n  - {name: a, type: local}\n  - {name: a, type: local}\n",
            "executors[1].name",
            "duplicate executor name 'a'",
        ),
        ("executors:\n  - name: a\n    type: ssh\n", "executors[0]", "missing key: 'host'"),
        (
            "executors:\n  - name: a\n    type: local\n    env: {API_KEY: [1]}\n",
            "executors[0].env.API_KEY",
            "wrong type",
        ),
        ("defaults:\n  max_turns: 0\n", "defaults.max_turns", ""),
        ("bogus: 1\n", "(top level)", "unknown key 'bogus'"),
        ("executors:\n  - name: a\n    name: b\n    type: local\n", "line 3", "duplicate key 'name'"),
        ("executors: [\n", "line", "not valid YAML"),
        ("- just\n- a list\n", "", "must hold a mapping"),
    ],
)
def test_invalid_config_gives_one_line_naming_file_key_and_problem(
    oc: Env, text: str, where: str, problem: str
) -> None:
    path = oc.write_config(text)
    for args in (["executors"], ["start", "--prompt", "x"]):
        result = oc.run(*args)
        assert result.code == 2, result
        line = result.err.strip()
        assert "\n" not in line and "Traceback" not in line
        assert line.startswith(f"openclaw-agent: error: {path}: ")
        assert where in line and problem in line, line
    assert not oc.tasks_dir.exists(), "a config error must not leave a task behind"


def test_a_config_text_found_valid_is_remembered_and_any_edit_is_validated_again(oc: Env) -> None:
    from openclaw.paths import schema_file
    from openclaw.schema import CONFIG_SCHEMA, digest

    memo = oc.home / ".local" / "share" / "openclaw" / "config.validated"
    good = "executors:\n  - name: a\n    type: local\n"
    oc.write_config(good)
    oc.ok("executors")
    lines = memo.read_text().split()
    assert lines == [digest(schema_file(CONFIG_SCHEMA).read_bytes()), digest(good.encode())]
    oc.ok("executors")  # remembered: same answer
    bad = good + "    hostt: x\n"
    oc.write_config(bad)
    assert "unknown key 'hostt'" in oc.run("executors").err
    assert digest(bad.encode()) not in memo.read_text()
    # A memo written against another version of the schema counts for nothing.
    memo.write_text(f"{'0' * 32}\n{digest(bad.encode())}\n")
    result = oc.run("executors")
    assert result.code == 2 and "unknown key 'hostt'" in result.err


def test_the_last_config_parsed_is_kept_as_json_and_any_edit_is_parsed_again(oc: Env) -> None:
    kept = oc.home / ".local" / "share" / "openclaw" / "config.parsed.json"
    first = "executors:\n  - {name: one, type: local, labels: [a]}\n"
    oc.write_config(first)
    assert [r["name"] for r in oc.ok("executors", "--json").json()] == ["one"]
    assert kept.stat().st_mode & 0o777 == 0o600
    assert json.loads(kept.read_text())["data"] == yaml.safe_load(first)
    # An edit is parsed again (and validated again), whatever was kept.
    oc.write_config("executors:\n  - {name: two, type: local}\n  - {name: three, type: local}\n")
    assert [r["name"] for r in oc.ok("executors", "--json").json()] == ["two", "three"]
    assert [e["name"] for e in json.loads(kept.read_text())["data"]["executors"]] == ["two", "three"]
    # A kept parse that is broken, or of another text, is parsed over.
    kept.write_text("{not json")
    assert [r["name"] for r in oc.ok("executors", "--json").json()] == ["two", "three"]
    kept.write_text(json.dumps({"digest": "0" * 32, "data": {"executors": [{"name": "x", "type": "local"}]}}))
    assert [r["name"] for r in oc.ok("executors", "--json").json()] == ["two", "three"]
    # A bad edit is still refused, with its line.
    oc.write_config("executors:\n  - {name: two, type: local, hostt: x}\n")
    assert "unknown key 'hostt'" in oc.run("executors").err


def test_init_writes_commented_sample_and_refuses_to_overwrite(oc: Env) -> None:
    oc.ok("config", "--init")
    text = oc.config_file.read_text()
    assert text.startswith("#")
    assert {e["name"] for e in yaml.safe_load(text)["executors"]} == {"crib", "builder", "local"}
    assert [r["name"] for r in oc.ok("executors", "--json").json()] == ["crib", "builder", "local"]
    oc.config_file.write_text(text + "# mine\n")
    again = oc.run("config", "--init")
    assert again.code == 2 and "already exists" in again.err and "--force" in again.err
    assert oc.config_file.read_text().endswith("# mine\n")
    oc.ok("config", "--init", "--force")
    assert oc.config_file.read_text() == text


@pytest.mark.parametrize("umask", ["000", "077", "277"])
def test_init_creates_its_directories_0700_and_the_file_0600_whatever_the_umask(
    oc: Env, tmp_path: Path, umask: str
) -> None:
    import stat
    import subprocess

    from conftest import console_script

    target = tmp_path / "fresh" / "deeper" / "coding-agent.yaml"
    existing = stat.S_IMODE(tmp_path.stat().st_mode)
    for extra in ("", " --force"):
        proc = subprocess.run(
            ["sh", "-c", f"umask {umask}; '{console_script()}' --config '{target}' config --init{extra}"],
            env=oc.env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        for directory in (target.parent, target.parent.parent):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert yaml.safe_load(target.read_text())["executors"]
    assert stat.S_IMODE(tmp_path.stat().st_mode) == existing, "a directory that existed is left as it was"


def test_init_into_an_unwritable_place_is_one_line(oc: Env, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = oc.run("--config", str(blocker / "sub" / "c.yaml"), "config", "--init")
    assert result.code == 2 and "Traceback" not in result.err
    assert len(result.err.splitlines()) == 1 and "cannot write" in result.err


def test_anchors_and_merge_keys_share_executor_settings_and_explicit_keys_win(oc: Env) -> None:
    oc.write_config(
        "executors:\n"
        "  - &box\n"
        "    name: one\n"
        "    type: container\n"
        "    image: img:1\n"
        "    runtime: podman\n"
        "    labels: &labels [box, fast]\n"
        "  - <<: *box\n"
        "    name: two\n"
        "    image: img:2\n"
        "  - {name: three, type: local, labels: *labels}\n"
    )
    rows = {r["name"]: r for r in oc.ok("executors", "--json").json()}
    assert list(rows) == ["one", "two", "three"]
    assert rows["two"]["type"] == "container" and rows["two"]["labels"] == ["box", "fast"]
    assert rows["three"]["labels"] == ["box", "fast"]
    shown = yaml.safe_load(oc.ok("config").out)
    assert shown["executors"][1]["image"] == "img:2" and shown["executors"][1]["runtime"] == "podman"
    # Explicit keys beside a merge key are still checked for duplicates.
    oc.write_config(
        "executors:\n  - &a {name: one, type: local}\n  - <<: *a\n    name: two\n    name: three\n"
    )
    result = oc.run("executors")
    assert result.code == 2 and "duplicate key 'name'" in result.err and "line 5" in result.err


def test_init_honours_the_global_config_flag(oc: Env, tmp_path: Path) -> None:
    target = tmp_path / "sub" / "my.yaml"
    oc.ok("--config", str(target), "config", "--init")
    assert target.exists() and not oc.config_file.exists()


def test_hosts_example_is_valid_and_complete() -> None:
    from openclaw.config import parse

    path = REPO / "hosts.example.yaml"
    config = parse(path.read_text(), path)
    assert {e.type for e in config.executors} == {"local", "ssh", "container", "ray"}
    schema = json.loads((REPO / "schemas" / "config.schema.json").read_text())
    ssh_keys = set(schema["$defs"]["ssh"]["properties"])
    container_keys = set(schema["$defs"]["container"]["properties"])
    ray_keys = set(schema["$defs"]["ray"]["properties"])
    by_type = {e.type: e for e in config.executors}
    assert set(by_type["ssh"].options) == ssh_keys
    assert set(by_type["container"].options) == container_keys
    assert set(by_type["ray"].options) == ray_keys
    data = yaml.safe_load(path.read_text())
    assert set(data) == set(schema["properties"])
    assert set(data["defaults"]) == set(schema["properties"]["defaults"]["properties"])
    common = set(schema["$defs"]["executor"]["properties"]) - {"name", "type"}
    assert common <= {k for e in data["executors"] for k in e}, "every executor key is shown somewhere"
    settings = set(schema["$defs"]["agent_settings"]["properties"])
    assert settings == {k for a in data["agents"].values() for k in a}


def test_executor_then_defaults_then_builtin_for_claude_path_and_max_turns(oc: Env) -> None:
    oc.write_config(
        "defaults:\n  max_turns: 7\n  claude_path: /opt/claude\n"
        "executors:\n"
        "  - {name: a, type: local, max_turns: 3, claude_path: /x/claude}\n"
        "  - {name: b, type: local}\n"
    )
    rows = {r["name"]: r for r in oc.ok("executors", "--json").json()}
    assert (rows["a"]["claude_path"], rows["a"]["max_turns"]) == ("/x/claude", 3)
    assert (rows["b"]["claude_path"], rows["b"]["max_turns"]) == ("/opt/claude", 7)


def test_builtin_default_and_sample_are_schema_valid() -> None:
    from openclaw.config import BUILTIN_DEFAULT, SAMPLE
    from openclaw.schema import CONFIG_SCHEMA, problems

    assert problems(CONFIG_SCHEMA, BUILTIN_DEFAULT) == []
    assert problems(CONFIG_SCHEMA, yaml.safe_load(SAMPLE)) == []
