"""Where openclaw-agent keeps its files: the config file and the task records.

Both honour the XDG base-directory variables, so a test (or a user) can move
everything by setting ``HOME``, ``XDG_CONFIG_HOME`` or ``XDG_DATA_HOME``.

The records are private: every directory the tool creates is 0700 and every
file 0600, whatever the umask (:func:`make_private_dirs`), and, in the manner
of OpenSSH's StrictModes, a data or tasks directory that another user owns or
that group or others can write to is refused (:func:`check_private_dir`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from openclaw.errors import StoreError

#: The environment variable that overrides the config file path.
CONFIG_ENV = "OPENCLAW_CONFIG"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/openclaw/coding-agent.yaml`` (``~/.config`` by default)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "openclaw" / "coding-agent.yaml"


def config_path(explicit: str | None = None) -> tuple[Path, str]:
    """The config file in use and where that choice came from.

    ``--config`` beats ``$OPENCLAW_CONFIG``, which beats the default path.
    """
    if explicit:
        return Path(explicit).expanduser(), "--config"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser(), f"${CONFIG_ENV}"
    return default_config_path(), "default"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/openclaw`` (``~/.local/share/openclaw`` by default)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "openclaw"


def tasks_dir() -> Path:
    """The directory holding one subdirectory per task."""
    return data_dir() / "tasks"


def make_private_dirs(path: Path) -> list[Path]:
    """Create ``path`` and each missing parent with mode 0700, whatever the umask.

    ``Path.mkdir(parents=True)`` gives the parents it makes the umask's mode,
    and a umask can take bits from ``mode`` too: so each missing component is
    made here, then chmod'ed. A component made meanwhile by another process is
    fine. Returns the directories this call created; raises ``OSError``.
    """
    missing: list[Path] = []
    here = path
    while not os.path.isdir(here) and here.parent != here:
        missing.append(here)
        here = here.parent
    created: list[Path] = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            if os.path.isdir(directory):
                continue
            raise
        os.chmod(directory, 0o700)
        created.append(directory)
    return created


def quote_path(path: Path | str) -> str:
    """``path`` quoted for a shell command line in a hint (shlex loads only on this error path)."""
    import shlex

    return shlex.quote(str(path))


def check_private_dir(path: Path) -> None:
    """Refuse ``path`` unless it is a directory of ours that only we can write to.

    One ``stat``. A directory that does not exist passes: it will be created
    0700. Raises :class:`StoreError` naming the directory and the fix.
    """
    q = quote_path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        # Some parent is a file: name the first one that is not a directory.
        blocker = path
        for parent in path.parents:
            if os.path.exists(parent):
                blocker = parent
                break
        raise StoreError(
            str(path),
            f"cannot be a directory: {blocker} is not a directory",
            f"make it a directory you own: move {q(blocker)} aside, then 'mkdir -m 700 {q(blocker)}'",
        ) from None
    except OSError as exc:
        raise StoreError(
            str(path),
            f"cannot use it: {exc.strerror}",
            f"make it a directory you own: 'ls -ld {q(path)}'",
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(
            str(path),
            "it is not a directory",
            f"make it a directory you own: move the file aside, then 'mkdir -m 700 {q(path)}'",
        )
    uid = os.geteuid()
    if st.st_uid != uid:
        raise StoreError(
            str(path),
            f"it is owned by uid {st.st_uid}, not by you (uid {uid}): another user could change your tasks",
            f"make it a directory you own: 'chown {uid} {q(path)}' (as root), then 'chmod 700 {q(path)}'",
        )
    if st.st_mode & 0o022:
        raise StoreError(
            str(path),
            f"group or others can write to it (mode {stat.S_IMODE(st.st_mode):04o}): "
            "they could change your tasks",
            f"make it private: 'chmod 700 {q(path)}'",
        )


def package_file(name: str) -> Path:
    """A file shipped inside the package (the launcher)."""
    return Path(__file__).with_name(name)


def schema_file(name: str) -> Path:
    """A JSON Schema: ``openclaw/schemas/`` in a wheel, ``schemas/`` in a checkout."""
    here = Path(__file__).parent
    installed = here / "schemas" / name
    if installed.exists():
        return installed
    return here.parent / "schemas" / name
