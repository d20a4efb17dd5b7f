"""Cheap commands stay cheap: heavy libraries load only on the paths that need them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import test_ssh_executor as sshmod
from conftest import Env
from test_ssh_executor import SSHEnv

remote, ssh = sshmod.remote, sshmod.ssh

HEAVY = ("fabric", "paramiko", "plumbum", "jsonschema")


def imported_modules(oc: Env, *args: str, full: bool = False) -> set[str]:
    """The top-level packages (``full``: the modules) that ``openclaw-agent ARGS`` imported."""
    name = "m" if full else "m.split('.')[0]"
    code = (
        "import sys\n"
        "from openclaw.program import program\n"
        "try:\n"
        f"    program.run(['openclaw-agent', *{list(args)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"sys.stderr.write('\\nMODULES ' + ' '.join(sorted({name} for m in sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=oc.env, capture_output=True, text=True, cwd=oc.workspace
    )
    line = proc.stderr.rsplit("MODULES ", 1)[-1]
    return set(line.split())


def runs_clean(code: str, env: dict[str, str] | None = None) -> None:
    """Run ``code`` in a fresh interpreter; it must exit 0."""
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_help_version_and_status_load_no_heavy_library(oc: Env) -> None:
    meta = oc.start("#fake text hi")
    oc.wait_status(meta["task_id"], "completed")
    oc.ok("list")  # the first read of a record validates it and memoises the result
    for args in (
        ["--help"],
        ["--version"],
        ["list"],
        ["list", "--json"],
        ["status", "--task-id", meta["task_id"]],
        ["logs", "--task-id", meta["task_id"]],
        ["dashboard", "--stream"],
    ):
        loaded = imported_modules(oc, *args)
        assert "openclaw" in loaded
        assert not loaded & set(HEAVY), (args, loaded & set(HEAVY))


def test_commands_on_an_unchanged_config_file_load_neither_jsonschema_nor_yaml_again(oc: Env) -> None:
    oc.write_config("executors:\n  - {name: here, type: local, labels: [mine]}\n")
    assert "jsonschema" in imported_modules(oc, "executors")  # the first time: validated
    for args in (["executors"], ["list"], ["dashboard", "--stream"]):
        loaded = imported_modules(oc, *args)
        assert "openclaw" in loaded
        assert not loaded & {"jsonschema", "yaml"}, args  # its parse is kept too


def test_start_on_local_loads_plumbum_but_neither_jsonschema_nor_fabric(oc: Env) -> None:
    """Its records pass the generated check (openclaw.meta_check): jsonschema is only for a
    config file not seen before, and for a record that fails the check."""
    loaded = imported_modules(oc, "start", "--prompt=#fake text hi", full=True)
    assert "plumbum" in loaded and "openclaw.meta_check" in loaded
    assert not loaded & {"jsonschema", "fabric", "paramiko"}, loaded & {"jsonschema", "fabric", "paramiko"}


def test_start_on_local_loads_neither_invokes_yaml_nor_plumbums_urllib_socket_or_pickle(oc: Env) -> None:
    """invoke's vendored PyYAML (for invoke config files), and plumbum's urllib.request (for
    as_uri), socket and pickle (SSH machines, daemons) stand in until read (openclaw.lazy):
    ~35 ms of every start."""
    loaded = imported_modules(oc, "start", "--prompt=#fake text hi", full=True)
    assert "plumbum" in loaded and "invoke.program" in loaded
    assert not loaded & {"invoke.vendor.yaml", "urllib.request", "http.client", "socket", "pickle"}, loaded


def test_a_command_line_is_parsed_against_only_the_commands_it_names(oc: Env) -> None:
    """Every other command's flags are neither built nor copied for the parse (~3 ms);
    help still lists every command, and an unknown one is still named."""
    code = (
        "import contextlib, io\n"
        "from openclaw.program import program\n"
        "def run(*argv):\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "        program.run(['openclaw-agent', *argv])\n"
        "    return out.getvalue()\n"
        "run('list', '--json')\n"
        "assert set(program.parser.contexts) == {'list'}, set(program.parser.contexts)\n"
        "assert 'Usage: openclaw-agent status' in run('help', 'status')\n"
        "listing = run('--help')\n"
        "assert all(name in listing for name in ('start', 'cleanup', 'serve', 'push')), listing\n"
    )
    runs_clean(code, oc.env)
    assert "unknown command 'lsit'" in oc.run("lsit").err


def test_an_invoke_config_file_is_still_read_through_the_yaml_stand_in(oc: Env) -> None:
    (oc.home / ".invoke.yaml").write_text("run:\n  echo: true\n")
    code = (
        "import sys\n"
        "from openclaw.program import program\n"
        "import invoke.util\n"
        "assert type(invoke.util.yaml).__name__ == '_StandIn'\n"
        "try:\n"
        "    program.run(['openclaw-agent', 'list'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "assert invoke.util.yaml.safe_load('a: [1]') == {'a': [1]}\n"
        "assert type(sys.modules['invoke.vendor.yaml']).__name__ == 'module'\n"
    )
    runs_clean(code, oc.env)


def test_a_stand_in_read_while_its_library_is_imported_is_the_real_module_at_once(tmp_path: Path) -> None:
    (tmp_path / "eager_user.py").write_text("import json_helper_mod\nVALUE = json_helper_mod.VALUE\n")
    (tmp_path / "json_helper_mod.py").write_text("VALUE = 42\n")
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from openclaw.lazy import deferred\n"
        "with deferred('json_helper_mod'):\n"
        "    import eager_user\n"
        "assert eager_user.VALUE == 42\n"
        "assert type(sys.modules['json_helper_mod']).__name__ == 'module'\n"
        "with deferred('urllib.request'):\n"
        "    from plumbum import local\n"
        "assert 'urllib.request' not in sys.modules\n"
        "assert local.path('/tmp').as_uri() == 'file:///tmp'\n"
        "import urllib.request\n"
        "assert type(urllib.request).__name__ == 'module'\n"
    )
    runs_clean(code)


def test_the_unittest_mock_stand_in_never_outlives_the_invoke_import(oc: Env) -> None:
    code = (
        "import sys\n"
        "import openclaw.program\n"
        "assert 'asyncio' not in sys.modules, 'invoke pulled in unittest.mock and asyncio'\n"
        "import unittest.mock\n"
        "assert hasattr(unittest.mock, 'patch'), 'later imports get the real module'\n"
        "from invoke.context import Mock\n"
        "assert isinstance(Mock(), unittest.mock.Mock)\n"
    )
    runs_clean(code, oc.env)


def test_a_module_needing_more_of_unittest_mock_than_the_stand_in_falls_back_to_the_real_import(
    oc: Env, tmp_path: Path
) -> None:
    """If invoke ever imports another name from unittest.mock, commands still run (only slower)."""
    (tmp_path / "needs_patch.py").write_text("from unittest.mock import Mock, patch\nPATCH = patch\n")
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import openclaw.program as p\n"
        # As on a fresh start: neither invoke nor unittest.mock imported yet.
        "sys.modules.pop('unittest.mock', None); sys.modules.pop('invoke', None)\n"
        "assert p._import_invoke(('needs_patch',)) is False\n"
        "import needs_patch, unittest.mock\n"
        "assert needs_patch.PATCH is unittest.mock.patch\n"
    )
    runs_clean(code, oc.env)


def test_ray_commands_never_import_ray_nor_the_web_stack(oc: Env) -> None:
    """A ray executor speaks to the Jobs REST API: ``import ray`` (about a second) is never
    needed, on any command; nor does any command but ``serve --http`` load the web stack."""
    oc.write_config("executors:\n  - name: r\n    type: ray\n    address: http://127.0.0.2:9\n")
    for args in (
        ["list"],
        ["executors", "--json"],
        ["start", "--executor", "r", "--workspace", "/tmp", "--prompt", "x"],
    ):
        loaded = imported_modules(oc, *args)
        assert "ray" not in loaded, args
        assert not loaded & {"starlette", "uvicorn", "sse_starlette", "anyio"}, (args, loaded)


def test_an_ssh_look_loads_paramiko_without_importlib_metadata(ssh: SSHEnv) -> None:
    """paramiko reads its own version through importlib.metadata (~12 ms): openclaw.lazy
    answers it from the dist-info directory's name. (tabulate, for the human views, still
    loads it: it also takes its PackageNotFoundError.)"""
    meta = ssh.oc.start("#fake sleep 30")
    try:
        loaded = imported_modules(ssh.oc, "list", "--json", full=True)
        assert "paramiko" in loaded and "fabric" in loaded
        assert "importlib.metadata" not in loaded
    finally:
        ssh.oc.ok("kill", "--task-id", meta["task_id"], "--grace", "0")


def test_the_quick_version_is_importlib_metadatas_and_defers_to_it_when_unsure(tmp_path: Path) -> None:
    runs_clean(
        "import sys\n"
        "from openclaw.lazy import quick_versions\n"
        "with quick_versions():\n"
        "    from importlib import metadata\n"
        "    quick = {n: metadata.version(n) for n in ('paramiko', 'PyYAML', 'typing_extensions')}\n"
        "    assert 'email' not in sys.modules\n"
        "    try:\n"
        "        metadata.version('no-such-distribution')\n"
        "    except metadata.PackageNotFoundError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError('a missing distribution has a version')\n"
        "import importlib.metadata as real\n"
        "assert real is not metadata and real.__file__\n"
        "assert quick == {n: real.version(n) for n in quick}, quick\n"
    )
