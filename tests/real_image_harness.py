"""An offline image for the *real* agent CLIs (codex, gemini, opencode, claude) in containers.

- :func:`find_cli`: a real CLI, from ``$OPENCLAW_REAL_<NAME>``, then the
  repository's ``.tools`` (never the fakes).
- :func:`install_root`: the npm prefix a CLI was installed into (the directory
  above its ``node_modules``). The tests bind-mount it **read-only at the same
  path** in the container (``volumes: ["ROOT:ROOT:ro"]``), so the agent path is
  the host path and every relative symlink in ``node_modules/.bin`` resolves.
  Copying the trees into the image instead would cost ~1.1 GB per session (codex
  404 MB, opencode 354 MB, claude 235 MB, gemini 100 MB) and seconds to import;
  a read-only mount costs nothing and the CLIs cannot change their install.
- :func:`build_rootfs`: busybox-static (every applet in ``/bin``), bash (also at
  ``/usr/bin/bash``, where the Gemini CLI's shell tool looks), the host's node at
  ``/usr/bin/node``, and every shared library ``ldd`` names for node, bash, the
  native CLIs (Claude Code and OpenCode are glibc ELF binaries; codex's is static
  musl) and node-pty's addons. No CA certificates, no python: the scripted API
  servers run on the host's 127.0.0.1 and the container shares its network
  (``network: host``). Offline settings that need no port are baked in under
  ``/root``: ``.gemini/settings.json`` (gemini-api-key auth, no auto-update, no
  usage statistics, no session retention) and a seeded ``.config/opencode`` that
  keeps OpenCode from its background ``npm install @opencode-ai/plugin``.
- :func:`real_image`: that root filesystem loaded with ``podman import``, once
  per session, removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from container_harness import _add_dir, _add_file, _add_link, _add_text, _ldd, _need

REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"
TOOLS = REPO / ".tools"

#: Where each real CLI is looked for after ``$OPENCLAW_REAL_<NAME>``.
TOOL_PATHS = {
    "codex": TOOLS / "codex" / "node_modules" / ".bin" / "codex",
    "gemini": TOOLS / "gemini" / "node_modules" / ".bin" / "gemini",
    "opencode": TOOLS / "opencode" / "node_modules" / ".bin" / "opencode",
    "claude": TOOLS / "node_modules" / ".bin" / "claude",
}
#: The version OpenCode's config directory is seeded with (its plugin's version).
OPENCODE_VERSION = "1.18.33"
GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "general": {"sessionRetention": {"enabled": False}, "enableAutoUpdate": False},
    "privacy": {"usageStatisticsEnabled": False},
}
NODE = "/usr/bin/node"


def find_cli(name: str) -> str | None:
    """The real ``name`` CLI: ``$OPENCLAW_REAL_<NAME>``, then ``.tools``; None when neither is."""
    for cand in (os.environ.get(f"OPENCLAW_REAL_{name.upper()}"), str(TOOL_PATHS[name])):
        if not cand or not os.path.isfile(cand) or not os.access(cand, os.X_OK):
            continue
        if Path(cand).resolve() == (FAKES / name).resolve():
            continue
        return cand
    return None


def install_root(cli: str) -> Path:
    """The npm prefix ``cli`` lives in (the parent of its first ``node_modules``), else its directory."""
    real = Path(os.path.realpath(cli))
    for parent in real.parents:
        if parent.name == "node_modules":
            return parent.parent
    return real.parent


def mounts(clis: list[str]) -> list[str]:
    """Read-only same-path volume specs covering the install roots of ``clis``."""
    roots = sorted({install_root(c) for c in clis}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for root in roots:
        if not any(root == k or k in root.parents for k in kept):
            kept.append(root)
    return [f"{r}:{r}:ro" for r in kept]


def _elves(clis: list[str]) -> list[str]:
    """The native binaries among ``clis`` and their native addons (node-pty), for ``ldd``."""
    found: list[str] = []
    for cli in clis:
        real = os.path.realpath(cli)
        with open(real, "rb") as fh:
            if fh.read(4) == b"\x7fELF":
                found.append(real)
        root = install_root(cli)
        found += [str(p) for p in root.glob("node_modules/**/linux-x64/*.node")]
        found += [str(p) for p in root.glob("node_modules/**/build/Release/pty.node")]
    return found


def build_rootfs(out: Path, clis: list[str]) -> None:
    """Write the image's root filesystem (see the module docstring) as a tar file at ``out``."""
    busybox = os.path.realpath(_need("busybox"))
    bash = os.path.realpath(shutil.which("bash") or "/bin/bash")
    node = os.path.realpath(NODE)
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for d in ("bin", "usr", "usr/bin", "usr/local", "usr/local/bin", "etc", "work", "agent"):
            _add_dir(tar, d, 0o755)
        _add_dir(tar, "root", 0o700)
        _add_dir(tar, "tmp", 0o1777)
        _add_file(tar, busybox, "/bin/busybox")
        applets = subprocess.run(
            [busybox, "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        for applet in applets:
            if applet not in ("busybox", "bash"):
                _add_link(tar, f"bin/{applet}", "busybox")
        _add_link(tar, "usr/bin/env", "/bin/busybox")
        _add_file(tar, bash, "/bin/bash")
        _add_link(tar, "usr/bin/bash", "/bin/bash")
        _add_file(tar, node, NODE)
        for lib in sorted(_ldd([busybox, bash, node, *_elves(clis)])):
            if lib.lstrip("/") not in tar.getnames():
                _add_file(tar, lib, lib)
        _add_text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
        _add_text(tar, "etc/group", "root:x:0:\n")
        _add_dir(tar, "root/.gemini", 0o700)
        _add_text(tar, "root/.gemini/settings.json", json.dumps(GEMINI_SETTINGS), 0o600)
        deps = {"@opencode-ai/plugin": OPENCODE_VERSION}
        for d in ("root/.config", "root/.config/opencode", "root/.config/opencode/node_modules"):
            _add_dir(tar, d, 0o755)
        _add_text(tar, "root/.config/opencode/package.json", json.dumps({"dependencies": deps}))
        _add_text(
            tar,
            "root/.config/opencode/package-lock.json",
            json.dumps({"lockfileVersion": 3, "packages": {"": {"dependencies": deps}}}),
        )


def import_image(rootfs: Path, containers_conf: Path) -> str:
    """``podman import`` the root filesystem under a fresh tag; return the tag."""
    tag = f"localhost/openclaw-real-agents:{uuid.uuid4().hex[:12]}"
    subprocess.run(
        [
            "podman",
            "import",
            "-q",
            "-c",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            "-c",
            "ENV HOME=/root",
            str(rootfs),
            tag,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "CONTAINERS_CONF": str(containers_conf)},
        timeout=300,
    )
    return tag


def remove_image(tag: str, containers_conf: Path) -> None:
    subprocess.run(
        ["podman", "rmi", "-f", tag],
        capture_output=True,
        env={**os.environ, "CONTAINERS_CONF": str(containers_conf)},
        timeout=120,
    )


@pytest.fixture(scope="session")
def real_image(containers_conf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The offline image for every real CLI found; removed at the end of the session."""
    clis = [c for c in (find_cli(n) for n in TOOL_PATHS) if c]
    if not clis:
        pytest.skip("no real agent CLI found ($OPENCLAW_REAL_<NAME> or .tools)")
    if not os.path.exists(NODE):
        pytest.skip(f"{NODE} is missing: the codex and gemini CLIs need node in the image")
    rootfs = tmp_path_factory.mktemp("real-image") / "rootfs.tar"
    build_rootfs(rootfs, clis)
    tag = import_image(rootfs, containers_conf)
    rootfs.unlink()
    yield tag
    remove_image(tag, containers_conf)
