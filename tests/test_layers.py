"""The layering ARCHITECTURE.md promises, read off the source: executors know nothing of which
agent runs, agents nothing of where, and the manager names no executor type (each
difference between executors is a hook on :class:`openclaw.executors.base.Executor`)."""

from __future__ import annotations

import ast
from pathlib import Path

from openclaw.executors import BACKENDS

PACKAGE = Path(__file__).resolve().parent.parent / "openclaw"
#: The agent modules every layer may use: the interface and the shared output model.
AGENT_INTERFACE = {
    "openclaw.agents",
    "openclaw.agents.base",
    "openclaw.agents.entries",
    "openclaw.agents.stream",
}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources(*parts: str) -> list[Path]:
    found: list[Path] = []
    for part in parts:
        path = PACKAGE / part
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def test_executors_and_states_import_no_particular_agent() -> None:
    """Adding an agent touches openclaw/agents and the schemas only."""
    offending = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in _sources("executors", "states.py", "launch.py", "procs.py", "watch.py")
        for name in _imports(path)
        if name.startswith("openclaw.agents.") and not any(name.startswith(i) for i in AGENT_INTERFACE)
    }
    assert not offending, offending


def test_agents_import_no_executor() -> None:
    offending = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in _sources("agents")
        for name in _imports(path)
        if name.startswith("openclaw.executors")
    }
    assert not offending, offending


def test_the_manager_names_no_executor_type_it_asks_the_executor_instead() -> None:
    tree = ast.parse((PACKAGE / "manager.py").read_text())
    named = sorted(
        f"line {node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in BACKENDS
    )
    assert not named, named
