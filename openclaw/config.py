"""The configuration file: loading, validation, defaults, and the ``config --init`` sample.

The file is YAML, validated against ``schemas/config.schema.json`` once per
distinct text (``~/.local/share/openclaw/config.validated`` remembers the
digests of the texts found valid). With no file at all the built-in default
applies: one executor named ``local`` of type ``local``, so the main job works
on a fresh machine with no set-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openclaw.errors import ConfigError, UsageError
from openclaw.paths import config_path, data_dir
from openclaw.schema import CONFIG_SCHEMA, ValidMemo, digest, first_problem

#: Used when neither the executor nor ``defaults`` sets it.
BUILTIN_MAX_TURNS = 30
#: Used when neither the executor nor ``defaults`` sets it: ``claude`` on the PATH.
BUILTIN_CLAUDE_PATH = "claude"

BUILTIN_DEFAULT: dict[str, Any] = {"executors": [{"name": "local", "type": "local"}]}
#: The memo of config texts found valid, in the data directory (a cache; safe to delete).
MEMO = "config.validated"
#: How many valid config texts the memo remembers (e.g. several files used with --config).
MEMO_LIMIT = 16


@dataclass(frozen=True)
class ExecutorConfig:
    """One executor's settings, with ``claude_path`` and ``max_turns`` already resolved."""

    name: str
    type: str
    claude_path: str
    max_turns: int
    labels: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    pass_env: list[str] = field(default_factory=list)
    #: The type-specific keys (host, image, ...), as written in the file.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """The loaded configuration: where it came from and its executors, in file order."""

    path: Path
    source: str
    exists: bool
    executors: list[ExecutorConfig]
    raw: dict[str, Any]

    def executor(self, name: str | None) -> ExecutorConfig:
        """The executor called ``name``; with None, ``local`` or else the only one."""
        if name is None:
            by_name = {e.name: e for e in self.executors}
            if "local" in by_name:
                return by_name["local"]
            if len(self.executors) == 1:
                return self.executors[0]
            names = ", ".join(e.name for e in self.executors) or "none"
            raise UsageError(
                "no default executor: none is named 'local' and several are configured",
                f"pass --executor NAME (one of: {names})",
            )
        for e in self.executors:
            if e.name == name:
                return e
        names = ", ".join(e.name for e in self.executors) or "none"
        raise UsageError(
            f"unknown executor {name!r}",
            f"use one of: {names} (see 'openclaw-agent executors'), or add it to {self.path}",
        )


def _yaml_loader() -> Any:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """A SafeLoader that refuses duplicate mapping keys instead of keeping the last."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return loader.construct_mapping(node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def parse(text: str, path: Path, source: str = "file") -> Config:
    """Parse and validate config ``text`` (read from ``path``)."""
    import yaml

    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(parse)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(path), f"not valid YAML: {problem}", where) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "the file must hold a mapping (executors:, defaults:)")
    # A text already found valid is not run through jsonschema again (see ValidMemo).
    memo = ValidMemo(data_dir() / MEMO, CONFIG_SCHEMA, limit=MEMO_LIMIT, mkdir=True)
    key = digest(text.encode("utf-8"))
    known = key in memo
    config = build(data, path, source, exists=True, validate=not known)
    if not known:
        memo.add(key)
        memo.flush()
    return config


def build(data: dict[str, Any], path: Path, source: str, exists: bool, validate: bool = True) -> Config:
    """Validate the mapping ``data`` and resolve every executor's settings.

    ``validate=False`` skips the schema (not the other checks): for the
    built-in default, which a test checks against the schema, and for a file
    whose text the memo lists as valid. So commands need not load jsonschema.
    """
    if validate:
        found = first_problem(CONFIG_SCHEMA, data)
        if found:
            raise ConfigError(str(path), found[1], found[0])
    defaults = data.get("defaults", {})
    seen: dict[str, int] = {}
    executors = []
    common = {"name", "type", "labels", "claude_path", "max_turns", "env", "pass_env"}
    for index, raw in enumerate(data.get("executors", [])):
        name = raw["name"]
        if name in seen:
            raise ConfigError(
                str(path),
                f"duplicate executor name {name!r} (also executors[{seen[name]}])",
                f"executors[{index}].name",
                "give each executor a unique name",
            )
        seen[name] = index
        executors.append(
            ExecutorConfig(
                name=name,
                type=raw["type"],
                claude_path=raw.get("claude_path", defaults.get("claude_path", BUILTIN_CLAUDE_PATH)),
                max_turns=raw.get("max_turns", defaults.get("max_turns", BUILTIN_MAX_TURNS)),
                labels=list(raw.get("labels", [])),
                env={k: _env_value(v) for k, v in raw.get("env", {}).items()},
                pass_env=list(raw.get("pass_env", [])),
                options={k: v for k, v in raw.items() if k not in common},
            )
        )
    return Config(path=path, source=source, exists=exists, executors=executors, raw=data)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def load(explicit: str | None = None) -> Config:
    """Load the config in use (``--config``, then ``$OPENCLAW_CONFIG``, then the default path).

    A missing file at the default path means the built-in default; a missing
    file named explicitly is an error.
    """
    path, source = config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if source != "default":
            raise ConfigError(
                str(path),
                f"no such file (named by {source})",
                hint="create it with 'openclaw-agent config --init'",
            ) from None
        return build(BUILTIN_DEFAULT, path, "built-in default", exists=False, validate=False)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    return parse(text, path, source)


SAMPLE = """\
# openclaw-agent configuration: where coding agents run.
# Schema: schemas/config.schema.json. Check it with: openclaw-agent executors
#
# Every executor has a unique name and a type: local | ssh | container.
# Common keys:
#   labels:      free-form tags shown by 'openclaw-agent executors'
#   claude_path: the claude binary on that executor (default: defaults.claude_path)
#   max_turns:   Claude Code --max-turns (default: defaults.max_turns)
#   env:         variables set for the agent (values never reach argv, .meta.json or logs)
#   pass_env:    names of variables forwarded from the dispatching environment

defaults:
  max_turns: 30
  claude_path: claude

executors:
  # A remote machine over SSH (host may be a Host alias from ~/.ssh/config).
  - name: crib
    type: ssh
    host: crib.local
    user: dev
    # port: 22
    # key_path: ~/.ssh/id_ed25519     # default: ssh-agent and default keys
    claude_path: /home/dev/.npm-global/bin/claude
    labels: [nix, rust]
    pass_env: [ANTHROPIC_API_KEY]

  # A Docker or Podman container; --workspace is a path inside the container.
  - name: builder
    type: container
    image: openclaw/claude-code:latest
    runtime: docker
    volumes: ["/work:/work"]
    labels: [sandbox]
    pass_env: [ANTHROPIC_API_KEY]

  # This machine. The agent inherits your environment.
  - name: local
    type: local
    labels: [local]
    # env:
    #   IS_SANDBOX: "1"   # only if this machine is a sandbox and you run as root
"""


def write_sample(path: Path, force: bool) -> None:
    """Write :data:`SAMPLE` to ``path``; refuse to overwrite unless ``force``."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", "pass --force to overwrite it (the old file is replaced)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(SAMPLE, encoding="utf-8")
    os.replace(tmp, path)
