"""invoke tasks for a checkout: every ``openclaw-agent`` command, plus maintenance.

    inv start --executor local --prompt "Fix the build" --workspace .
    inv list
    inv dev.test            # the README's test command
    inv dev.lint            # ruff and mypy
    inv dev.bench           # bench/ figures

The commands are the same invoke tasks the ``openclaw-agent`` program runs
(openclaw/cli.py). invoke's own ``-f/--config`` is its runtime config here;
use ``$OPENCLAW_CONFIG`` to point ``inv`` at another openclaw config.
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from openclaw.cli import COMMANDS


@task
def test(c: Context) -> None:
    """Install what the tests need (apt and pip) and run the whole suite."""
    c.run("bash tests/run", pty=False)


@task
def lint(c: Context) -> None:
    """ruff and mypy over the package."""
    c.run("ruff check . && ruff format --check . && mypy")


@task
def bench(c: Context) -> None:
    """Run the benchmarks in bench/ and print their figures."""
    c.run("python bench/bench_foundation.py")


ns = Collection(*COMMANDS)
ns.add_collection(Collection("dev", test, lint, bench))
