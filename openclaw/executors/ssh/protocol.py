"""What travels over the SSH channel: scripts in, framed answers out.

Every remote action is one POSIX ``sh`` script sent on the stdin of
``/bin/sh -s``: the values it is given (``name='value'`` lines, quoted), then
the shipped script files (``scripts/*.sh``, checked by shellcheck), all in one
brace group (:func:`whole`). Nothing user-supplied is ever spliced into a
command line or into script text. Every answer is framed (:class:`Answer`).
The files a task's directory gets by SFTP, which the scripts rely on, are
:func:`task_files`.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from openclaw.errors import ExecutorError
from openclaw.records import UUID_RE

if TYPE_CHECKING:
    from openclaw.task import TaskRecord

#: Default ``remote_root``: where task directories are created on the host. In the
#: login user's home, which no other user can write to (``/tmp/openclaw-tasks``, the
#: seed's default, can be made by anyone first), and which a reboot keeps.
DEFAULT_REMOTE_ROOT = "~/.cache/openclaw/tasks"
#: How long ``start`` waits on the host for the launcher to report the agent's pid.
LAUNCH_TIMEOUT_S = 10.0

#: Marks where a remote script's own output begins (a noisy ~/.bashrc may print before it).
MARK = b"@@OPENCLAW@@\n"
#: Marks where it ends: an answer without it was cut short.
END = b"@@OPENCLAW-END@@\n"

SCRIPTS = Path(__file__).with_name("scripts")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_id(task_id: str) -> str:
    """``task_id`` if it is a canonical task id (a UUID); anything else is refused before any path use."""
    if not isinstance(task_id, str) or not UUID_RE.match(task_id):
        raise ExecutorError("ssh", f"refusing to act on an invalid task id {task_id!r}")
    return task_id


def bad_env_name(env: dict[str, str]) -> str | None:
    """The first name in ``env`` that is not a valid environment variable name, or None."""
    return next((name for name in env if not _ENV_NAME.match(name)), None)


def task_files(
    meta: TaskRecord, env: dict[str, str], prompt: bytes, launcher: bytes
) -> list[tuple[str, bytes]]:
    """The files a task's directory gets by SFTP: prompt, env file (``env``, each value quoted),
    launcher, and for a task in a worktree of its own, the ``worktree`` file that has the
    launcher commit at exit."""
    from openclaw.worktree import launcher_file

    env_text = "".join(f"{n}={shlex.quote(v)}\n" for n, v in sorted(env.items()))
    files = [("prompt", prompt), ("env", env_text.encode()), ("launcher.sh", launcher)]
    tree = launcher_file(meta)
    if tree is not None:
        files.append(("worktree", tree))
    return files


@cache
def script_text(name: str) -> str:
    """The shipped script ``scripts/<name>.sh``."""
    return (SCRIPTS / f"{name}.sh").read_text(encoding="utf-8")


def render(
    *names: str,
    values: dict[str, str | int],
    exports: dict[str, str] | None = None,
    args: list[str] | None = None,
    pre: str = "",
    tail: str = "",
) -> str:
    """A script: the values (quoted assignments), ``exports`` (exported), ``args`` (as ``"$@"``),
    the prelude, ``pre``, the named scripts, then ``tail``.

    ``pre`` and ``tail`` are code the caller writes (shipped functions, calls
    with quoted arguments), never a value.
    """
    assigned = {"OPENCLAW_MARK": MARK.decode().strip(), "OPENCLAW_END": END.decode().strip(), **values}
    # The exports first: an environment variable named like one of the script's own
    # (task_id, dir, ...) must not change what the script was given.
    head = "".join(f"{k}={shlex.quote(v)}; export {k}\n" for k, v in sorted((exports or {}).items()))
    head += "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in assigned.items())
    if args is not None:
        head += "set -- " + " ".join(shlex.quote(a) for a in args) + "\n"
    return head + script_text("prelude") + pre + "".join(script_text(n) for n in names) + tail


def whole(script: str) -> str:
    """``script`` as one brace group, so that the shell runs all of it or none of it.

    ``sh -s`` runs each command as soon as it has read it. A connection that
    drops mid-send would leave it a script cut anywhere, whose last line could
    be any prefix of a command. A brace group is parsed whole before any of it
    runs: cut short, it is a syntax error and nothing runs.
    """
    return "{\n" + script + "\n}\n"


class CutShort(EOFError):
    """An answer that stops before its end mark: the connection (or the script) was cut."""


@dataclasses.dataclass(frozen=True)
class Answer:
    """A remote script's answer: named frames, each ``KEY LENGTH\\n<LENGTH bytes>\\n``.

    Framing, not line parsing: a value may hold newlines, NULs or anything
    (a workspace path, a file's tail), and stray output of the host's shell
    start-up files (before :data:`MARK`) or of commands (stderr, kept apart
    in ``stderr``) cannot be taken for an answer. The answer ends with
    :data:`END`; one without it was cut short.
    """

    frames: tuple[tuple[str, bytes], ...]
    stderr: bytes = b""

    @classmethod
    def parse(cls, out: bytes, stderr: bytes = b"") -> Answer:
        """Parse ``out``; raises :class:`CutShort` or ValueError (malformed)."""
        pos = out.find(MARK)
        if pos < 0:
            raise CutShort("the answer never began" + _stderr_hint(stderr))
        pos += len(MARK)
        frames = []
        while not out.startswith(END, pos):
            nl = out.find(b"\n", pos)
            if nl < 0:
                raise CutShort("the answer was cut short" + _stderr_hint(stderr))
            key, _, count = out[pos:nl].decode("ascii", "replace").partition(" ")
            if not count.isdigit() or not key:
                raise ValueError(f"bad frame header {out[pos:nl][:80]!r}")
            start = nl + 1
            stop = start + int(count)
            if stop + 1 > len(out):
                raise CutShort("the answer was cut short" + _stderr_hint(stderr))
            if out[stop : stop + 1] != b"\n":
                raise ValueError(f"frame {key!r} is not {count} bytes long")
            frames.append((key, out[start:stop]))
            pos = stop + 1
        return cls(tuple(frames), stderr)

    def get(self, key: str) -> bytes | None:
        """The last frame called ``key``, or None."""
        for name, value in reversed(self.frames):
            if name == key:
                return value
        return None

    def text(self, key: str) -> str | None:
        """The last frame called ``key``, decoded (undecodable bytes kept as surrogates), or None."""
        value = self.get(key)
        return None if value is None else value.decode("utf-8", "surrogateescape")

    def shown(self) -> str:
        """The answer, shortened, for an error message."""
        text = " ".join(f"{k}={v[:60]!r}" for k, v in self.frames)
        return (text or "(empty)")[:300] + _stderr_hint(self.stderr)


def _stderr_hint(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return f" (stderr: {lines[-1][:200]})" if lines else ""


def observations(answer: Answer) -> dict[str, dict[str, bytes]]:
    """The observe script's frames, by task id ("" holds the host's boot id)."""
    found: dict[str, dict[str, bytes]] = {"": {}}
    current = found[""]
    for key, value in answer.frames:
        if key == "boot":
            found[""]["boot"] = value
        elif key == "task":
            current = found.setdefault(value.decode("ascii", "replace"), {})
        else:
            current[key] = value
    return found
