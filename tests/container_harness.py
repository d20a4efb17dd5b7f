"""Real container engines for the container-executor tests.

- :func:`containers_conf`: our own ``CONTAINERS_CONF`` (runc, cgroupfs, ulimits),
  never the user's.
- :func:`container_image`: the test image, built offline: a busybox-static root
  filesystem, the interpreter running these tests with its standard library
  and shared libraries (found with ``ldd``), bash, and the faithful fake
  agents at ``/usr/local/bin/{claude,codex,gemini,opencode}``; loaded with ``podman import`` and
  removed at the end of the session.
- :func:`podman_service`: ``podman system service`` on a socket in a
  temporary directory, which gives the docker CLI a real Docker API
  (``DOCKER_HOST``); stopped by its pid at the end of the session.
- :func:`runtime`: parametrized over ``podman`` and ``docker``, so every test
  that uses it runs against both.

Everything here is session-scoped (one image, one service) to keep the suite
fast. Containers are removed by the tests' own fixture, by name.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

FAKES = Path(__file__).resolve().parent / "fakes"

CONTAINERS_CONF_TEXT = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

#: Parts of the standard library the fake claude never needs.
_STDLIB_SKIP = {
    "site-packages",
    "dist-packages",
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
}


HOG = """#!/usr/bin/env python3
import time
chunks = []
while True:
    chunks.append(b"x" * (16 * 1024 * 1024))
    time.sleep(0.01)
"""


@dataclass(frozen=True)
class Runtime:
    """One container runtime as the tests use it."""

    name: str
    #: Variables the runtime client needs (CONTAINERS_CONF, DOCKER_HOST).
    env: dict[str, str]
    image: str

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``<runtime> ARGS`` with the test environment."""
        proc = subprocess.run(
            [self.name, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name} {args} exited {proc.returncode}: {proc.stderr}")
        return proc


def _need(binary: str) -> str:
    found = shutil.which(binary)
    if not found:
        pytest.skip(f"{binary} is not installed: 'bash tests/run' installs it and runs these tests")
    return found


def _ldd(paths: list[str]) -> set[str]:
    """Every shared library (and loader) the given binaries need, as absolute paths."""
    libs: set[str] = set()
    for path in paths:
        proc = subprocess.run(["ldd", path], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            for word in line.split():
                if word.startswith("/") and os.path.exists(word):
                    libs.add(word)
    return libs


def _add_file(tar: tarfile.TarFile, host: str, arcname: str | None = None) -> None:
    """Add ``host`` (following symlinks) at ``arcname``, creating parent directories."""
    name = (arcname or host).lstrip("/")
    parts = name.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d not in tar.getnames():
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
    real = os.path.realpath(host)
    info = tar.gettarinfo(real, arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    with open(real, "rb") as fh:
        tar.addfile(info, fh)


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755, uid: int = 0) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid = info.gid = uid
    tar.addfile(info)


def _add_text(tar: tarfile.TarFile, name: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name.lstrip("/"))
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def build_rootfs(out: Path) -> None:
    """Write the test image's root filesystem as a tar file at ``out``."""
    busybox = os.path.realpath(_need("busybox"))
    python = os.path.realpath(sys.executable)
    stdlib = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["stdlib"]
    bash = os.path.realpath(shutil.which("bash") or "/bin/bash")
    dynload = os.path.join(stdlib, "lib-dynload")
    so_files = [os.path.join(dynload, n) for n in os.listdir(dynload) if n.endswith(".so")]
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for d in ("bin", "usr", "usr/bin", "usr/local", "usr/local/bin", "etc", "root", "work"):
            # /root stays 0755: the interpreter may live under it (pyenv), and uid 1000 runs it too.
            _add_dir(tar, d, 0o755)
        _add_dir(tar, "tmp", 0o1777)
        _add_dir(tar, "home", 0o755)
        _add_dir(tar, "home/agent", 0o755, uid=1000)
        _add_file(tar, busybox, "/bin/busybox")
        applets = subprocess.run(
            [busybox, "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        for applet in applets:
            if applet not in ("busybox", "bash"):
                _add_link(tar, f"bin/{applet}", "busybox")
        _add_link(tar, "usr/bin/env", "/bin/busybox")
        _add_file(tar, bash, "/bin/bash")
        _add_file(tar, python, python)
        _add_link(tar, "usr/local/bin/python3", python)
        for lib in sorted(_ldd([busybox, python, bash, *so_files])):
            if lib.lstrip("/") not in tar.getnames():
                _add_file(tar, lib, lib)
        base = Path(stdlib)

        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            rel = Path(info.name).relative_to(base.relative_to("/"))
            if rel.parts and (rel.parts[0] in _STDLIB_SKIP or rel.parts[0].startswith("config-")):
                return None
            if info.name.endswith((".opt-1.pyc", ".opt-2.pyc")):
                return None
            info.uid = info.gid = 0
            return info

        tar.add(stdlib, arcname=stdlib.lstrip("/"), filter=keep)
        for agent in ("claude", "codex", "gemini", "opencode"):  # the faithful fakes
            _add_file(tar, str(FAKES / agent), f"/usr/local/bin/{agent}")
        # An "agent" that only eats memory, for the OOM test.
        _add_text(tar, "usr/local/bin/memory-hog", HOG, 0o755)
        _add_text(
            tar,
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/home/agent:/bin/sh\n",
        )
        _add_text(tar, "etc/group", "root:x:0:\nagent:x:1000:\n")


@pytest.fixture(scope="session")
def containers_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our own containers.conf: runc (crun fails here), cgroupfs, explicit ulimits."""
    _need("podman")
    _need("runc")
    path = tmp_path_factory.mktemp("containers") / "containers.conf"
    path.write_text(CONTAINERS_CONF_TEXT)
    return path


@pytest.fixture(scope="session")
def container_image(containers_conf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The offline test image (busybox-static, python, bash, the fake claude); removed at the end."""
    tag = f"localhost/openclaw-test:{uuid.uuid4().hex[:12]}"
    rootfs = tmp_path_factory.mktemp("image") / "rootfs.tar"
    build_rootfs(rootfs)
    env = {**os.environ, "CONTAINERS_CONF": str(containers_conf)}
    subprocess.run(
        ["podman", "import", "-q", "-c", "ENV PATH=/usr/local/bin:/usr/bin:/bin", str(rootfs), tag],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    rootfs.unlink()
    yield tag
    subprocess.run(["podman", "rmi", "-f", tag], capture_output=True, env=env, timeout=120)


@pytest.fixture(scope="session")
def podman_service(containers_conf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``podman system service`` on a temporary socket; yields its ``DOCKER_HOST`` value."""
    _need("docker")
    where = tmp_path_factory.mktemp("service")
    sock = where / "podman.sock"
    host = f"unix://{sock}"
    env = {**os.environ, "CONTAINERS_CONF": str(containers_conf)}
    with open(where / "service.log", "wb") as log:
        proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", host],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            cwd=where,  # conmon drops an "oom" file into its creator's cwd on an OOM kill
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            ready = sock.exists() and (
                subprocess.run(
                    ["docker", "version", "--format", "{{.Server.APIVersion}}"],
                    capture_output=True,
                    env={**env, "DOCKER_HOST": host},
                    timeout=30,
                ).returncode
                == 0
            )
            if ready:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"podman system service did not come up: {(where / 'service.log').read_text()}"
                )
            time.sleep(0.1)
        yield host
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(params=["podman", "docker"])
def runtime(request: pytest.FixtureRequest, containers_conf: Path, container_image: str) -> Runtime:
    """Each runtime in turn: podman directly, and the docker CLI through podman's Docker API."""
    env = {"CONTAINERS_CONF": str(containers_conf)}
    if request.param == "docker":
        env["DOCKER_HOST"] = request.getfixturevalue("podman_service")
    return Runtime(name=request.param, env=env, image=container_image)
