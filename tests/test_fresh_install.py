"""The README's first command, run as written on a freshly bootstrapped Debian 12, as root and as a user.

The command is read out of README.md, so the two cannot drift. The machine is
a ``debootstrap --variant=minbase`` root filesystem (made once, then cached
under /var/cache/openclaw-tests), copied for each run and entered with
chroot in a mount namespace of its own. It gets what it needs to reach the
package registries (this machine's CA bundle, pip and npm configuration,
resolver) and nothing else: no python3-venv, no npm, no Claude Code, no
openclaw-agent. The real Claude Code it installs talks to a scripted
Messages-API server on 127.0.0.1, so the task really runs and completes.

Needs root (debootstrap, chroot, mounts); slow (several minutes: apt-get and
npm installs), so it runs once per user kind. CI runs it on Debian 12. Debian 13
(Python 3.13, PEP 668 as on Ubuntu 24.04, whose archive this machine does not
reach) runs too when asked, as it adds minutes CI has not got:

    OPENCLAW_FRESH_SUITES="bookworm trixie" .venv/bin/python -m pytest tests/test_fresh_install.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from test_fake_claude_fidelity import FakeAnthropicServer

CACHE = Path("/var/cache/openclaw-tests")
MIRROR = "http://deb.debian.org/debian"
#: The Debian releases to install on (codenames); Debian 12 unless asked.
SUITES = os.environ.get("OPENCLAW_FRESH_SUITES", "bookworm").split()
USER = "newcomer"

needs_a_fresh_system = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("debootstrap") or not shutil.which("unshare"),
    reason="needs root, debootstrap and unshare ('bash tests/run' installs debootstrap and runs it)",
)


def readme_install_command() -> str:
    """The first ``sh`` block under the README's 'Fresh machine' heading."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Fresh machine", 1)[1]
    match = re.search(r"```sh\n(.*?)\n```", section, re.S)
    assert match, "README: no sh block under '## Fresh machine'"
    return match.group(1).strip()


def base_rootfs(suite: str) -> Path:
    """A minbase Debian root filesystem of release ``suite``, made once and kept."""
    base = CACHE / f"{suite}-minbase"
    if (base / "usr" / "bin" / "python3").exists():
        return base
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f"{suite}-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,sudo,ca-certificates,git,curl",
            suite,
            str(work),
            MIRROR,
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )
    try:
        os.rename(work, base)
    except OSError:  # made meanwhile by another run
        shutil.rmtree(work, ignore_errors=True)
    return base


@pytest.fixture(params=SUITES)
def rootfs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the base system, able to reach the registries, with this checkout in /src."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(base_rootfs(request.param)), str(root)], check=True, timeout=600)
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    shutil.copy(bundle, root / "etc/ssl/certs/ca-certificates.crt")
    # Kept when a package installed there regenerates the bundle (update-ca-certificates).
    shutil.copy(bundle, root / "usr/local/share/ca-certificates/this-machine.crt")
    for name in ("/etc/resolv.conf", "/etc/hosts", "/etc/pip.conf"):
        if os.path.exists(name):
            shutil.copy(name, root / name.lstrip("/"))
    npmrc = Path.home() / ".npmrc"
    if npmrc.exists():
        shutil.copy(npmrc, root / "etc" / "npmrc")  # the global npmrc of Debian's npm
        (root / "root").mkdir(exist_ok=True)
        shutil.copy(npmrc, root / "root" / ".npmrc")
    # This checkout as a user would have it: its tracked files.
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout.split(
        b"\0"
    )
    src = root / "src" / "openclaw-agent"
    src.mkdir(parents=True)
    for name in filter(None, files):
        target = src / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / os.fsdecode(name), target)
    yield root
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False, timeout=600)


def in_root(root: Path, script: str, user: str = "root", env: dict[str, str] | None = None) -> str:
    """Run ``script`` with sh inside the root filesystem as ``user``, in a mount namespace of its own."""
    home = "/root" if user == "root" else f"/home/{user}"
    base_env = {
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        **(env or {}),
    }
    exports = "".join(f"export {k}='{v}'\n" for k, v in base_env.items())
    inner = f"{exports}cd /src/openclaw-agent\n{script}\n"
    enter = (
        f'mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" && '
        f'exec chroot --userspec={user}:{user} "$R" /bin/sh -c "$SCRIPT"'
    )
    proc = subprocess.run(
        ["unshare", "--mount", "--fork", "sh", "-c", enter],
        env={"R": str(root), "SCRIPT": inner, "PATH": os.environ["PATH"]},
        capture_output=True,
        timeout=1500,
    )
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"in the fresh system, as {user}:\n{script}\n---\n{out[-4000:]}"
    return out


@needs_a_fresh_system
@pytest.mark.parametrize("user", ["root", USER])
def test_the_readme_install_command_runs_a_task_on_a_fresh_debian(rootfs: Path, user: str) -> None:
    command = readme_install_command()
    if user != "root":
        in_root(
            rootfs,
            f"useradd -m -s /bin/sh {user} && echo '{user} ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/{user}"
            f" && cp /root/.npmrc /home/{user}/.npmrc && chown {user}: /home/{user}/.npmrc"
            f" && chown -R {user}: /src/openclaw-agent",
        )
    script = [{"text": "Added a README."}]
    with FakeAnthropicServer(script) as api:
        env = {
            "ANTHROPIC_BASE_URL": api.base_url,
            "ANTHROPIC_API_KEY": "sk-fake-install-test",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_PACKAGE": "@anthropic-ai/claude-code@2.1.197",
        }
        if user == "root":
            env["IS_SANDBOX"] = "1"  # as the README says for root
        out = in_root(rootfs, command, user=user, env=env)
        started = re.search(r"started ([0-9a-f-]{36}) on local", out)
        assert started, out[-3000:]
        waited = in_root(
            rootfs,
            'export PATH="$HOME/.local/bin:$PATH"\n'
            f"openclaw-agent wait --task-id {started.group(1)} --timeout 120 --json",
            user=user,
            env=env,
        )
    assert '"status":"completed"' in waited.replace(" ", ""), waited[-2000:]
    assert "Added a README." in waited


def test_install_sh_works_with_this_machines_own_python_for_a_user_without_root(tmp_path: Path) -> None:
    """No apt-get needed where the Python has venv (pyenv, Homebrew, a distro with python3-venv)."""
    import sys

    home = tmp_path / "home"
    home.mkdir()
    # The interpreter the suite runs on, itself, not a shim (here pyenv's 3.11).
    python = str(Path(sys.base_prefix) / "bin" / "python3")
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "PYTHON": python}
    for key in ("PIP_CONFIG_FILE", "PIP_INDEX_URL", "PIP_CERT"):
        if key in os.environ:
            env[key] = os.environ[key]
    proc = subprocess.run(
        ["sh", str(REPO / "install.sh"), "--no-claude"], env=env, capture_output=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    command = home / ".local" / "bin" / "openclaw-agent"
    version = subprocess.run([str(command), "--version"], capture_output=True, env=env, timeout=60)
    assert version.returncode == 0 and b"openclaw-agent" in version.stdout
    assert (home / ".local/share/openclaw-agent/venv/bin/python").exists()
    cfg = (home / ".local/share/openclaw-agent/venv/pyvenv.cfg").read_text()
    made_by = dict(line.split(" = ", 1) for line in cfg.splitlines() if " = " in line)
    assert Path(made_by["home"]).resolve() == Path(python).parent.resolve(), cfg
    assert "add " in proc.stdout.decode() and ".local/bin to your PATH" in proc.stdout.decode()
