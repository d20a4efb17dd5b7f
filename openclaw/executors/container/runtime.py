"""Calling a container runtime (docker or podman): argv built by plumbum, output as bytes.

A runtime binary that is missing, or an engine it cannot reach, is
:class:`RuntimeUnavailable`; one that does not answer in time is
:class:`RuntimeTimeout` (what it was asked may or may not have happened).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import cast

#: Seconds a runtime call may take before it counts as "the runtime does not answer".
CALL_TIMEOUT_S = 120.0
#: The runtime used when the config names none.
DEFAULT_RUNTIME = "docker"
GONE = ("no such container", "no such object", "no container with name or id", "does not exist")
NO_IMAGE = ("image not known", "no such image", "unable to find image", "image not found")
UNREACHABLE = ("cannot connect", "connection refused", "is the docker daemon running", "dial unix")


@dataclass(frozen=True)
class Call:
    """The outcome of one runtime command."""

    code: int
    out: bytes
    err: bytes

    def error_line(self) -> str:
        """The runtime's complaint, as one line."""
        lines = [ln.strip() for ln in self.err.decode("utf-8", "replace").splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith(("See '", "Run '"))]
        text = lines[0] if lines else f"exit status {self.code}"
        return text.removeprefix("Error: ").removeprefix("docker: ")[:300]

    def says(self, needles: tuple[str, ...]) -> bool:
        """True when stderr contains any of ``needles`` (case-insensitive)."""
        low = self.err.decode("utf-8", "replace").lower()
        return any(n in low for n in needles)


class RuntimeUnavailable(Exception):
    """The runtime binary is missing, or it could not reach its engine."""


class RuntimeTimeout(RuntimeUnavailable):
    """The runtime did not answer in time: what it was asked may or may not have happened."""


def _bytes(data: str | bytes | None) -> bytes:
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else data


class Runtime:
    """One runtime binary (``docker`` or ``podman``), called with the current environment."""

    def __init__(self, name: str) -> None:
        self.name = name

    def binary(self) -> str:
        """The runtime's path; :class:`RuntimeUnavailable` when it is not on PATH."""
        found = shutil.which(self.name, path=os.environ.get("PATH", os.defpath))
        if found is None:
            raise RuntimeUnavailable(f"container runtime {self.name!r} not found on PATH")
        return found

    def popen(self, *args: str, cwd: Path | None = None, quiet: bool = False) -> subprocess.Popen[bytes]:
        """Start ``<runtime> ARGS`` (an argv built by plumbum) with stdout and stderr piped.

        The environment is the current ``os.environ`` (``DOCKER_HOST``,
        ``CONTAINERS_CONF``, ...), not plumbum's import-time snapshot. The
        working directory is ``cwd`` (default: ``/``; the task directory for
        ``run``), never the user's: podman 4.3's conmon drops an ``oom`` file
        into the cwd of whoever ran the container when it is OOM-killed. ``quiet``: its
        stderr goes to /dev/null (a stream read for its stdout alone, which must never block
        on a full stderr pipe).
        """
        from openclaw.lazy import plumbum_local

        cmd = plumbum_local()[self.binary()][list(args)]
        try:
            # plumbum's Popen is a subprocess.Popen (its stubs omit communicate's timeout).
            return cast(
                "subprocess.Popen[bytes]",
                cmd.popen(
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
                    env=dict(os.environ),
                    cwd=str(cwd or "/"),
                    close_fds=True,
                ),
            )
        except OSError as exc:
            raise RuntimeUnavailable(f"cannot run {self.name}: {exc.strerror or exc}") from None

    def call(self, *args: str, timeout: float = CALL_TIMEOUT_S, cwd: Path | None = None) -> Call:
        """Run ``<runtime> ARGS`` (see :meth:`popen`) and collect its output as bytes."""
        proc = self.popen(*args, cwd=cwd)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RuntimeTimeout(f"{self.name} did not answer within {timeout:.0f} s") from None
        call = Call(proc.returncode if proc.returncode is not None else -1, _bytes(out), _bytes(err))
        if call.code != 0 and call.says(UNREACHABLE):
            raise RuntimeUnavailable(f"{self.name}: {call.error_line()}")
        return call

    def unavailable_hint(self) -> str:
        """How to get this runtime working."""
        if self.name == "docker":
            return (
                "install the docker CLI and start its engine (or point DOCKER_HOST at one), "
                "or set runtime: podman"
            )
        return "install podman (apt-get install podman), or set runtime: docker"
