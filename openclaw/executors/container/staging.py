"""What goes into a task's container: the mounted task files, the env file, volumes
(and, for a worktree, where a path in the container is on this machine).

The task's ``container/`` directory (0700) is bind-mounted read-only at
:data:`MOUNT`. It holds ``prompt`` (0600, byte-exact, the agent's stdin) and,
when the executor has ``env``/``pass_env``, ``env`` (0600, values
single-quoted) which the entry script sources: values never appear in argv or
in ``inspect`` (whose ``Config.Env`` shows every ``-e`` value). For a resumed
task, ``resume/`` holds the parent's session (:func:`unpack`), laid out by its
paths in the container, which the entry script copies onto ``/``.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from pathlib import Path

from openclaw.errors import StartError, UsageError
from openclaw.records import TaskStore

#: Where the task's ``container/`` directory is mounted inside the container.
MOUNT = "/openclaw-task"
#: The ``user`` values that mean root inside the container.
ROOT_USERS = ("", "root", "0", "0:0", "root:root")
#: The directory of the staged task files that holds a resumed session, laid out by its
#: paths in the container: the entry script copies it onto ``/`` before the agent starts.
RESUME = "resume"

_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VOLUME_OPTS = re.compile(r"^[A-Za-z0-9=,_-]+$")


def env_file_text(env: dict[str, str]) -> str:
    """``env`` as POSIX sh assignments, each value single-quoted (safe to source)."""
    return "".join(
        f"{k}='{v.replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'\n" for k, v in env.items()
    )


def volume_args(specs: list[str], executor: str) -> list[str]:
    """``-v`` arguments for the configured volumes, after checking each spec.

    A spec is ``SRC:DEST[:OPTIONS]`` (SRC an absolute host path, ``~/...``
    or a named volume) or ``DEST`` alone (an anonymous volume, removed by
    ``cleanup``). Raises :class:`StartError` on a bad one.
    """
    out: list[str] = []
    for spec in specs:
        parts = spec.split(":")
        hint = (
            f"fix volumes of executor {executor!r}: use SRC:DEST[:OPTIONS] with an absolute host "
            "path or a volume name as SRC and an absolute container path as DEST, or DEST alone"
        )
        if len(parts) == 1:
            src, dest, opts = None, parts[0], None
        elif len(parts) in (2, 3):
            src, dest = parts[0], parts[1]
            opts = parts[2] if len(parts) == 3 else None
        else:
            raise StartError(f"bad volume spec {spec!r}: too many ':'", hint)
        if not dest.startswith("/"):
            raise StartError(f"bad volume spec {spec!r}: {dest!r} is not an absolute container path", hint)
        if opts is not None and not _VOLUME_OPTS.match(opts):
            raise StartError(f"bad volume spec {spec!r}: bad options {opts!r}", hint)
        if src is not None:
            if src.startswith("~"):
                src = os.path.expanduser(src)
            if src.startswith("/"):
                if not os.path.exists(src):
                    raise StartError(
                        f"bad volume spec {spec!r}: host path {src} does not exist",
                        f"create it, or fix volumes of executor {executor!r}",
                    )
            elif not _VOLUME_NAME.match(src):
                raise StartError(
                    f"bad volume spec {spec!r}: {src!r} is neither an absolute host path nor a volume name",
                    hint,
                )
        out += ["-v", ":".join(p for p in (src, dest, opts) if p is not None)]
    return out


def host_side(workspace: str, volumes: list[str], runtime: str, executor: str) -> str:
    """Where container path ``workspace`` is on this machine, through a bind-mounted volume
    (one of ``volumes``, executor ``executor``'s specs, whose engine ``runtime`` calls); a
    :class:`UsageError` saying why when it is nowhere here."""
    remote = os.environ.get("DOCKER_HOST" if runtime == "docker" else "CONTAINER_HOST", "")
    if remote and not remote.startswith("unix://"):
        raise UsageError(
            f"--worktree on executor {executor!r}: its engine is not on this machine ({remote})",
            "the worktree is made on the host side of a bind mount: use an ssh executor on the "
            "engine's machine, or a local engine",
        )
    if workspace == "~" or workspace.startswith("~/"):
        raise UsageError(
            f"--worktree on executor {executor!r} needs --workspace: a path in the container under a "
            "bind-mounted volume of the repository",
            'e.g. volumes: ["/home/me/repo:/work"] and --workspace /work',
        )
    best: tuple[str, str] | None = None
    for spec in volumes:
        parts = str(spec).split(":")
        if len(parts) < 2:
            continue
        src, dest = os.path.expanduser(parts[0]), posixpath.normpath(parts[1])
        if not src.startswith("/"):
            continue  # a named volume: not a place on this machine's file system
        if (workspace == dest or workspace.startswith(dest.rstrip("/") + "/")) and (
            best is None or len(dest) > len(best[1])
        ):
            best = (src, dest)
    if best is None:
        raise UsageError(
            f"--worktree on executor {executor!r}: workspace {workspace} is not under a bind-mounted "
            "volume, so there is no checkout on this machine to make the worktree from",
            f"add a volume HOST_PATH:CONTAINER_PATH holding the repository to executor {executor!r} "
            '(e.g. volumes: ["/home/me/repo:/work"]) and pass --workspace under it',
        )
    src, dest = best
    return os.path.join(src, os.path.relpath(workspace, dest)) if workspace != dest else src


def stage(
    store: TaskStore,
    task_id: str,
    user: str,
    env: dict[str, str],
    resume: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] = (),
) -> Path:
    """The task's ``container/`` directory: the prompt and the env file (0600), and under
    :data:`RESUME` the session a resumed task continues, laid out by path in the container
    (the entry script copies it into place before the agent starts). ``resume`` holds
    ``(path, archive)`` pairs: a file or directory of the parent's container and what
    ``cp CONTAINER:PATH -`` gave of it (a tar stream)."""
    stage = store.path(task_id) / "container"
    stage.mkdir(mode=0o700, exist_ok=True)
    prompt = stage / "prompt"
    source = store.file(task_id, "prompt")
    try:
        if user not in ROOT_USERS:
            raise OSError("a copy, so that chown/chmod leave the task's own prompt file alone")
        os.link(source, prompt)
    except OSError:
        fd = os.open(prompt, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as dst, open(source, "rb") as src:
            shutil.copyfileobj(src, dst)
    files = [prompt]
    if env:
        fd = os.open(stage / "env", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(env_file_text(env).encode("utf-8"))
        files.append(stage / "env")
    dirs = [stage]
    for path, archive in resume:
        made = unpack(archive, path, stage / RESUME)
        dirs += [p for p in made if p.is_dir()]
        files += [p for p in made if not p.is_dir()]
    if user not in ROOT_USERS:
        uid, _, gid = user.partition(":")
        if uid.isdigit() and (not gid or gid.isdigit()):
            for f in (*dirs, *files):
                os.chown(f, int(uid), int(gid) if gid else -1)
        else:
            # A user name: its uid is only known inside the image. The task
            # directory (0700) still keeps the files from other host users.
            for d in dirs:
                d.chmod(0o755)
            for f in files:
                f.chmod(0o644)
    return stage


def unpack(archive: bytes, path: str, root: Path) -> list[Path]:
    """Put what ``cp CONTAINER:PATH -`` gave of ``path`` (a file or a directory) under ``root``
    at the same path (``/root/.codex/sessions`` as ``root/root/.codex/sessions``); the
    directories and files made, parents first. Only regular files and directories are taken,
    each under ``path``'s own name: the archive comes out of a container whose agent ran
    commands of a model's choosing, so no link, device, absolute name or ``..`` is followed.
    Files are 0600 and directories 0700 (the entry script's copy keeps them the user's alone)."""
    import io
    import tarfile

    target = posixpath.normpath(path)
    if not target.startswith("/") or target == "/":
        raise StartError(f"cannot carry {path!r} into the container: not an absolute path below /")
    made: list[Path] = []

    def directory(rel: list[str]) -> Path:
        d = root
        for part in ["", *rel]:
            d = d / part if part else d
            if not d.is_dir():
                d.mkdir(mode=0o700)
                made.append(d)
        return d

    above = [p for p in posixpath.dirname(target).split("/") if p]
    base = posixpath.basename(target)
    try:
        directory(above)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar:
                parts = posixpath.normpath(member.name.lstrip("/")).split("/")
                if parts[0] != base or ".." in parts or not (member.isfile() or member.isdir()):
                    continue
                if member.isdir():
                    directory(above + parts)
                    continue
                data = tar.extractfile(member)
                if data is None:
                    continue
                dest = directory(above + parts[:-1]) / parts[-1]
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    shutil.copyfileobj(data, fh)
                made.append(dest)
    except (OSError, tarfile.TarError) as exc:
        raise StartError(f"cannot stage {path} of the resumed session: {exc}") from None
    return made
