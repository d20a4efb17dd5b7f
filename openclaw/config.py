"""The configuration file: loading, validation, defaults, and the ``config --init`` sample.

The file is YAML, validated against ``schemas/config.schema.json`` once per
distinct text (``~/.local/share/openclaw/config.validated`` remembers the
digests of the texts found valid). What the schema cannot say is checked on
every load, before the data is used: at most :data:`MAX_BYTES` read, UTF-8,
at most :data:`MAX_DEPTH` levels and :data:`MAX_NODES` values with aliases
expanded (so an alias bomb is refused unexpanded), no NUL in any string and
no number that is not finite. With no file at all the built-in default
applies: one executor named ``local`` of type ``local``, so the main job works
on a fresh machine with no set-up.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from openclaw.errors import ConfigError, UsageError
from openclaw.paths import config_path, data_dir, make_private_dirs
from openclaw.schema import CONFIG_SCHEMA, ValidMemo, digest, first_problem, key_path

#: Used when neither the executor nor ``defaults`` sets it.
BUILTIN_MAX_TURNS = 30
#: The agent of an executor that names none, when ``defaults`` names none either.
DEFAULT_AGENT = "claude"
#: Used when neither the executor nor ``defaults`` sets it: ``claude`` on the PATH.
BUILTIN_CLAUDE_PATH = "claude"

BUILTIN_DEFAULT: dict[str, Any] = {"executors": [{"name": "local", "type": "local"}]}
#: The memo of config texts found valid, in the data directory (a cache; safe to delete).
MEMO = "config.validated"
#: How many valid config texts the memo remembers (e.g. several files used with --config).
MEMO_LIMIT = 16
#: The last config text parsed, as JSON beside the memo (a cache; safe to delete): a command
#: on an unchanged file reads it instead of importing PyYAML (~20 ms) and parsing again.
PARSED = "config.parsed.json"


@dataclass(frozen=True)
class AgentSettings:
    """One agent's settings: from the config's ``agents:`` section, or an executor's own keys."""

    #: The agent's binary, and the config key that set it (for messages).
    path: str | None = None
    path_key: str | None = None
    model: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    max_budget_usd: float | None = None


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
    #: The agent a task gets when ``start`` names none (``agent:``, else ``defaults.agent``).
    agent: str = "claude"
    #: The wall-clock limit of its tasks (``timeout:``, else the agent's, else ``defaults``).
    timeout_s: float | None = None
    #: Settings for its own agent (``agent_path``, ``model``, ``agent_args``, ``max_budget_usd``).
    own: AgentSettings = field(default_factory=AgentSettings)
    #: The config's ``agents:`` section, by agent name.
    agents: dict[str, AgentSettings] = field(default_factory=dict)
    #: ``defaults.timeout``.
    default_timeout_s: float | None = None
    #: Whether ``claude_path`` was set (on the executor, or in ``agents.claude.path`` or ``defaults``).
    claude_path_key: str = "claude_path"
    #: How many of its tasks may be dispatched and not final at once (None: no limit).
    max_concurrent: int | None = None
    #: ``worktree``: each task gets a git worktree and branch of its own; ``none``: not.
    isolation: str = "none"
    #: Its own ``notify:`` entries (see :mod:`openclaw.notify`), as written.
    notify: list[dict[str, Any]] = field(default_factory=list)

    def settings(self, agent: str, binary: str) -> AgentSettings:
        """What applies to ``agent`` on this executor: its own keys (for its own agent) over
        ``agents.<name>`` over ``defaults``; ``binary`` when no path is configured."""
        general = self.agents.get(agent, AgentSettings())
        own = self.own if agent == self.agent else AgentSettings()
        if own.path:
            path, key = own.path, own.path_key
        elif agent == "claude":
            path, key = self.claude_path, self.claude_path_key
        elif general.path:
            path, key = general.path, general.path_key
        else:
            path, key = binary, f"agents.{agent}.path"
        return AgentSettings(
            path=path,
            path_key=key,
            model=own.model or general.model,
            args=own.args or general.args,
            env={**general.env},
            timeout_s=self.timeout_s or general.timeout_s or self.default_timeout_s,
            max_budget_usd=own.max_budget_usd if own.max_budget_usd is not None else general.max_budget_usd,
        )


@dataclass(frozen=True)
class Config:
    """The loaded configuration: where it came from and its executors, in file order."""

    path: Path
    source: str
    exists: bool
    executors: list[ExecutorConfig]
    raw: dict[str, Any]

    @property
    def notify(self) -> list[dict[str, Any]]:
        """The file's global ``notify:`` entries, as written (see :mod:`openclaw.notify`)."""
        return list(self.raw.get("notify") or [])

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


#: The largest config file read, in bytes (1 MiB); a real one is a few kilobytes.
MAX_BYTES = 1024 * 1024
#: How deeply mappings and lists may nest (counting through aliases).
MAX_DEPTH = 64
#: How many values (mapping keys, values, list items) the file may expand to, aliases expanded.
MAX_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TOO_MANY = f"the file expands to more than {MAX_NODES} values (YAML aliases?)"
_LIMIT_HINT = "a config file needs only a few levels and values; fix the file"


class _Refused(Exception):
    """A structural limit broken while composing or checking the YAML node graph."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


@cache
def _yaml_loader() -> Any:
    """A SafeLoader that refuses duplicate keys and nesting or size beyond the limits."""
    import yaml
    from yaml.constructor import ConstructorError

    class StrictLoader(yaml.SafeLoader):
        """A SafeLoader that refuses duplicate mapping keys instead of keeping the last.

        It also stops composing past :data:`MAX_DEPTH` levels or :data:`MAX_NODES`
        nodes, before Python's recursion limit or the memory is reached.
        """

        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.depth = 0
            self.composed = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            self.composed += 1
            try:
                if self.depth > MAX_DEPTH or self.composed > MAX_NODES:
                    mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                    too_deep = f"nested more than {MAX_DEPTH} levels deep"
                    raise _Refused(too_deep if self.depth > MAX_DEPTH else _TOO_MANY, mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # '<<: *defaults': merged by SafeConstructor, explicit keys win
            key = loader.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                raise ConstructorError(
                    None,
                    None,
                    "a mapping key must be a plain value, not a list or mapping",
                    key_node.start_mark,
                ) from None
            if duplicate:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    def guarded(constructor: Any, what: str, reason: str | None = None) -> Any:
        """``constructor``, with a value it cannot convert refused as a YAML error (with its line)."""

        def construct(loader: Any, node: Any) -> Any:
            try:
                return constructor(loader, node)
            except (ValueError, OverflowError) as exc:
                value = _clip(repr(node.value), 40)
                raise ConstructorError(
                    None, None, f"cannot read {value} as {what} ({reason or exc})", node.start_mark
                ) from None

        return construct

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    StrictLoader.add_constructor(
        "tag:yaml.org,2002:int", guarded(yaml.SafeLoader.construct_yaml_int, "an integer", "too many digits")
    )
    StrictLoader.add_constructor(
        "tag:yaml.org,2002:timestamp", guarded(yaml.SafeLoader.construct_yaml_timestamp, "a date or time")
    )
    return StrictLoader


def _clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (an error line stays short whatever a value holds)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}" if mark is not None else ""


def _check_graph(root: Any) -> None:
    """Refuse a node graph that expands past :data:`MAX_NODES` nodes or :data:`MAX_DEPTH` levels.

    Aliases make the graph a DAG (or, with a node aliased inside itself, a
    cycle): each node's expanded size and depth is computed once (memoised by
    node identity) and iteratively, so a billion laughs costs a few thousand
    steps and no recursion.
    """
    from yaml.nodes import MappingNode, SequenceNode

    def children(node: Any) -> list[Any]:
        if isinstance(node, SequenceNode):
            return list(node.value)
        if isinstance(node, MappingNode):
            return [n for pair in node.value for n in pair]
        return []

    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth)
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = [done[id(k)] for k in children(node)]
            size = 1 + sum(k[0] for k in kids)
            depth = 1 + max((k[1] for k in kids), default=0)
            if size > MAX_NODES:
                raise _Refused(_TOO_MANY, node.start_mark)
            if depth > MAX_DEPTH:
                raise _Refused(
                    f"nested more than {MAX_DEPTH} levels deep (aliases expanded)", node.start_mark
                )
            done[key] = (size, depth)
            open_.discard(key)
            continue
        if key in done:
            continue
        if key in open_:
            raise _Refused(
                "a YAML alias refers to a node that contains it (a recursive structure)", node.start_mark
            )
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in children(node) if id(k) not in done)


def _bad_scalar(value: Any) -> str | None:
    """What is wrong with a string holding a NUL or a number that is not finite, else None."""
    if isinstance(value, str) and "\0" in value:
        return "holds a NUL character (\\0), which no setting may contain"
    if isinstance(value, float) and not math.isfinite(value):
        spelled = ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
        return f"{spelled} is not a finite number"
    return None


def _check_values(data: Any) -> tuple[str, str] | None:
    """The first string holding a NUL or number that is not finite, as (key path, problem).

    Runs after :func:`_check_graph`, so the data is at most :data:`MAX_NODES`
    values (shared ones counted each time) and :data:`MAX_DEPTH` levels.
    """
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        problem = _bad_scalar(value)
        if problem:
            return key_path(path), problem
        if isinstance(value, dict):
            for k in value:
                problem = _bad_scalar(k)
                if problem:
                    return key_path(path), f"a key {problem}"
            stack.extend((v, (*path, k)) for k, v in reversed(list(value.items())))
        elif isinstance(value, (list, tuple, set)):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(value))))
    return None


def _load_yaml(text: str, path: Path) -> Any:
    """Compose, check the node graph, construct; every failure is a one-line ConfigError."""
    import yaml

    loader = None
    try:
        loader = _yaml_loader()(text)  # its reader already refuses unprintable characters
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)  # before constructing: construction and every later walk are then bounded
        return loader.construct_document(node)
    except _Refused as exc:
        raise ConfigError(str(path), exc.problem, _where(exc.mark), _LIMIT_HINT) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = _where(mark) or "(parse)"
        if isinstance(exc, yaml.reader.ReaderError):  # an unprintable character: no mark, a position
            problem = f"unacceptable character #x{exc.character:04x} (only printable characters may appear)"
            where = f"line {text.count(chr(10), 0, exc.position) + 1}"
        raise ConfigError(str(path), f"not valid YAML: {_clip(problem)}", where) from None
    except (ValueError, OverflowError) as exc:
        raise ConfigError(str(path), f"not valid YAML: a value cannot be read ({_clip(str(exc))})") from None
    except RecursionError:  # not expected past the limits above; never a traceback all the same
        raise ConfigError(str(path), f"nested more than {MAX_DEPTH} levels deep", hint=_LIMIT_HINT) from None
    finally:
        if loader is not None:
            loader.dispose()


def parse(text: str, path: Path, source: str = "file") -> Config:
    """Parse and validate config ``text`` (read from ``path``).

    The limits (size, depth, expanded size), NUL characters and numbers that
    are not finite are checked on every parse, before anything else looks at
    the data. The same text (by digest) gives the same data: the last one
    parsed is kept as JSON (:data:`PARSED`), and the schema check is skipped
    for a text the memo lists.
    """
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_BYTES:
        raise _too_big(path)
    key = digest(encoded)
    data = _parsed(key)
    if data is None:
        data = _load_yaml(text, path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(str(path), "the file must hold a mapping (executors:, defaults:)")
        found = _check_values(data)
        if found:
            raise ConfigError(str(path), found[1], found[0])
        _on_keys(data)
        _keep_parsed(key, data)
    # A text already found valid is not run through jsonschema again (see ValidMemo).
    memo = ValidMemo(data_dir() / MEMO, CONFIG_SCHEMA, limit=MEMO_LIMIT, mkdir=True)
    known = key in memo
    config = build(data, path, source, exists=True, validate=not known)
    if not known:
        memo.add(key)
        memo.flush()
    return config


def _parsed(key: str) -> dict[str, Any] | None:
    """The data of the config text whose digest is ``key``, if it is the one kept."""
    try:
        with open(data_dir() / PARSED, encoding="utf-8") as fh:
            kept = json.load(fh)
    except (OSError, ValueError):
        return None
    if isinstance(kept, dict) and kept.get("digest") == key and isinstance(kept.get("data"), dict):
        return kept["data"]  # type: ignore[no-any-return]
    return None


def _json_exact(value: Any) -> bool:
    """Whether ``value`` comes back from JSON as it is: mappings with string keys, lists,
    strings, numbers, booleans and nulls only (YAML may also give dates, sets, other keys)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None and not isinstance(item, (str, int, float)):
            return False
    return True


def _keep_parsed(key: str, data: dict[str, Any]) -> None:
    """Keep ``data`` as the parse of the text whose digest is ``key`` (0600, in the private
    data directory, written atomically); best effort, and only what JSON gives back as is."""
    if not _json_exact(data):
        return
    target = data_dir() / PARSED
    tmp = target.with_name(f"{PARSED}.{os.getpid()}.tmp")
    try:
        make_private_dirs(target.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fd, 0o600)
            json.dump({"digest": key, "data": data}, fh)
        os.replace(tmp, target)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _on_keys(data: dict[Any, Any]) -> None:
    """YAML 1.1 reads an unquoted ``on:`` key as the boolean true: in a ``notify:`` entry (the
    only place with such a key) it is put back to ``"on"``."""
    lists = [data.get("notify")] + [
        e.get("notify") for e in data.get("executors") or [] if isinstance(e, dict)
    ]
    for entries in lists:
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and True in entry and "on" not in entry:
                entry["on"] = entry.pop(True)


def _too_big(path: Path) -> ConfigError:
    return ConfigError(
        str(path),
        f"the file is larger than {MAX_BYTES} bytes (1 MiB), the most a config file may be",
        hint="a config file is a few kilobytes: check that this is the right file",
    )


def build(data: dict[str, Any], path: Path, source: str, exists: bool, validate: bool = True) -> Config:
    """Validate the mapping ``data`` and resolve every executor's settings.

    ``validate=False`` skips the schema (not the other checks): for the
    built-in default, which a test checks against the schema, and for a file
    whose text the memo lists as valid. So commands need not load jsonschema.
    """
    if validate:
        try:
            found = first_problem(CONFIG_SCHEMA, data)
        except RecursionError:  # not expected within MAX_DEPTH; never a traceback all the same
            raise ConfigError(str(path), "nested too deeply to check", hint=_LIMIT_HINT) from None
        if found:
            raise ConfigError(str(path), _clip(_reword(found[1])), found[0])
    defaults = data.get("defaults", {})
    agents = {
        name: AgentSettings(
            path=raw.get("path"),
            path_key=f"agents.{name}.path",
            model=raw.get("model"),
            args=tuple(raw.get("args", [])),
            env={k: _env_value(v) for k, v in raw.get("env", {}).items()},
            timeout_s=_duration(raw.get("timeout"), path, f"agents.{name}.timeout"),
            max_budget_usd=raw.get("max_budget_usd"),
        )
        for name, raw in data.get("agents", {}).items()
    }
    default_timeout = _duration(defaults.get("timeout"), path, "defaults.timeout")
    seen: dict[str, int] = {}
    executors = []
    common = {
        "name",
        "type",
        "labels",
        "claude_path",
        "max_turns",
        "env",
        "pass_env",
        "agent",
        "agent_path",
        "timeout",
        "model",
        "max_budget_usd",
        "agent_args",
        "max_concurrent",
        "isolation",
        "notify",
    }
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
        if "claude_path" in raw:
            claude_path, claude_key = raw["claude_path"], "claude_path"
        elif "claude" in agents and agents["claude"].path:
            claude_path, claude_key = str(agents["claude"].path), "agents.claude.path"
        else:
            claude_path = defaults.get("claude_path", BUILTIN_CLAUDE_PATH)
            claude_key = "claude_path"
        executors.append(
            ExecutorConfig(
                name=name,
                type=raw["type"],
                claude_path=claude_path,
                max_turns=raw.get("max_turns", defaults.get("max_turns", BUILTIN_MAX_TURNS)),
                labels=list(raw.get("labels", [])),
                env={k: _env_value(v) for k, v in raw.get("env", {}).items()},
                pass_env=list(raw.get("pass_env", [])),
                options={k: v for k, v in raw.items() if k not in common},
                agent=raw.get("agent", defaults.get("agent", DEFAULT_AGENT)),
                timeout_s=_duration(raw.get("timeout"), path, f"executors[{index}].timeout"),
                own=AgentSettings(
                    path=raw.get("agent_path"),
                    path_key="agent_path",
                    model=raw.get("model"),
                    args=tuple(raw.get("agent_args", [])),
                    max_budget_usd=raw.get("max_budget_usd"),
                ),
                agents=agents,
                default_timeout_s=default_timeout,
                claude_path_key=claude_key,
                max_concurrent=raw.get("max_concurrent", defaults.get("max_concurrent")),
                isolation=raw.get("isolation", defaults.get("isolation", "none")),
                notify=list(raw.get("notify", [])),
            )
        )
    return Config(path=path, source=source, exists=exists, executors=executors, raw=data)


#: jsonschema's "'x' does not match '<pattern>'", said in words, for the schema's patterns.
_PATTERN_WORDS = {
    "^[^-]": "is refused: values may not start with '-' (a command would read it as an option)",
    "^[A-Za-z0-9][A-Za-z0-9_.-]*$": "is not a valid name: use letters, digits, '.', '_' and '-', "
    "starting with a letter or digit",
    "^[A-Za-z_][A-Za-z0-9_]*$": "is not a valid environment variable name: use letters, digits and '_', "
    "not starting with a digit",
    "^https?://[^/?#\\s]+[^\\s]*$": "is not an http:// or https:// URL (with a host, and no spaces)",
}


def _reword(problem: str) -> str:
    for pattern, words in _PATTERN_WORDS.items():
        suffix = f" does not match {pattern!r}"
        if problem.endswith(suffix):
            return f"{problem[: -len(suffix)]} {words}"
    return problem


def _duration(value: Any, path: Path, where: str) -> float | None:
    """A config duration (``30m``, or seconds) in seconds; None when unset."""
    if value is None:
        return None
    from openclaw.durations import parse_duration

    try:
        return parse_duration(value, "timeout")
    except UsageError as exc:
        raise ConfigError(str(path), exc.message, where, "write it as 90s, 30m, 2h or 1h30m") from None


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
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # never more: the file may be anything, of any size
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
    if len(raw) > MAX_BYTES:
        raise _too_big(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            str(path),
            f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start}",
            f"line {line}",
            "save the file as UTF-8",
        ) from None
    return parse(text, path, source)


SAMPLE = """\
# openclaw-agent configuration: where coding agents run.
# Schema: schemas/config.schema.json. Check it with: openclaw-agent executors
#
# Every executor has a unique name and a type: local | ssh | container.
# Common keys:
#   labels:      free-form tags shown by 'openclaw-agent executors'
#   agent:       claude | codex | gemini | opencode (default: defaults.agent, else claude)
#   agent_path:  the binary of that agent on that executor (claude_path still names claude's)
#   claude_path: the claude binary on that executor (default: defaults.claude_path)
#   model, max_budget_usd, agent_args: defaults for that agent's --model, spend cap, own flags
#   timeout:     wall-clock limit of each task (90s, 30m, 2h), enforced where it runs
#   max_concurrent: how many of its tasks may run at once; start --label queues the rest
#   isolation:   worktree: each task in a git worktree and branch of its own (start --worktree)
#   max_turns:   Claude Code --max-turns (default: defaults.max_turns)
#   env:         variables set for the agent (values never reach argv, .meta.json or logs)
#   pass_env:    names of variables forwarded from the dispatching environment
# An 'agents:' section sets per-agent defaults (path, model, args, env, timeout);
# see hosts.example.yaml.

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
    """Write :data:`SAMPLE` to ``path``; refuse to overwrite unless ``force``.

    Directories it creates are 0700 and the file is 0600, whatever the umask:
    a config file may come to hold ``env`` secrets.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.exists() and not force:
            raise UsageError(
                f"{path} already exists", "pass --force to overwrite it (the old file is replaced)"
            )
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                continue  # made meanwhile by someone else: not ours to change
            os.chmod(directory, 0o700)  # the umask may have taken bits away
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)  # exactly 0600, whatever the umask
            fh.write(SAMPLE.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}",
            "check the directory's permissions, or name another file with --config",
        ) from None
