"""Where openclaw-agent keeps its files: the config file and the task records.

Both honour the XDG base-directory variables, so a test (or a user) can move
everything by setting ``HOME``, ``XDG_CONFIG_HOME`` or ``XDG_DATA_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

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
