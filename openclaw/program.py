"""The ``openclaw-agent`` program: an invoke ``Program`` over :mod:`openclaw.cli`.

invoke's core flags are trimmed to what this program means: ``--config PATH``
names *our* config file (not an invoke runtime config), and the flags that
only make sense for running shell commands are hidden. invoke reads those by
name inside its Program, so they are re-declared, not deleted.
"""

from __future__ import annotations

import os
import re
import sys
import types
from typing import Any


def _defer_unittest_mock() -> bool:
    """Stand in for ``unittest.mock`` while invoke is imported; True if the stand-in is in place.

    ``invoke.context`` does ``from unittest.mock import Mock`` at import time,
    for its ``MockContext`` test helper only; that pulls in asyncio and costs
    ~16 ms on every command (10% of ``start``). The stand-in's ``Mock`` loads
    the real one on first use, and the stand-in leaves ``sys.modules`` as soon
    as invoke is imported, so any later ``import unittest.mock`` is the real thing.
    """
    if "unittest.mock" in sys.modules or "invoke" in sys.modules:
        return False
    stub = types.ModuleType("unittest.mock")

    class Mock:
        """Builds a real ``unittest.mock.Mock`` (imported now) on first use."""

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            import importlib

            return importlib.import_module("unittest.mock").Mock(*args, **kwargs)

    stub.Mock = Mock  # type: ignore[attr-defined]
    sys.modules["unittest.mock"] = stub
    return True


#: What this module imports from invoke (under the stand-in).
INVOKE_MODULES = ("invoke.exceptions", "invoke.parser.argument", "invoke.program")


def _import_invoke(modules: tuple[str, ...] = INVOKE_MODULES) -> bool:
    """Import ``modules`` with ``unittest.mock`` deferred when that is safe; True if it was.

    Fail-safe: if they ever import anything from ``unittest.mock`` that the
    stand-in lacks (an ImportError), the stand-in goes and they are imported
    again, the ordinary way. Only start-up time is at stake, never a command.
    Written against invoke 2.2.1.
    """
    import importlib

    deferred = _defer_unittest_mock()
    try:
        for name in modules:
            importlib.import_module(name)
        return deferred
    except ImportError:
        if not deferred:
            raise
        del sys.modules["unittest.mock"]
        deferred = False
        for name in modules:
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[loaded]
        for name in modules:
            importlib.import_module(name)
        return False
    finally:
        if deferred:
            del sys.modules["unittest.mock"]


_import_invoke()
from invoke.exceptions import Exit, ParseError, UnexpectedExit  # noqa: E402
from invoke.parser.argument import Argument  # noqa: E402
from invoke.program import Program  # noqa: E402

from openclaw import __version__  # noqa: E402 - after the stand-in above
from openclaw.cli import PROG, collection  # noqa: E402
from openclaw.errors import ExitCode  # noqa: E402

#: Core flags invoke needs to exist, which this program neither shows nor uses.
HIDDEN = (
    "command-timeout",
    "complete",
    "dry",
    "echo",
    "hide",
    "list",
    "list-depth",
    "list-format",
    "print-completion-script",
    "prompt-for-sudo-password",
    "pty",
    "warn-only",
    "write-pyc",
)


class OpenclawProgram(Program):
    """invoke's Program with our own ``--config`` and exit codes (2 for usage errors)."""

    def core_args(self) -> list[Argument]:
        """``--config PATH``, ``--help``, ``--version``, ``--debug``, plus hidden invoke internals."""
        args = {a.name: a for a in super().core_args()}
        shown = [
            Argument(
                names=("config",),
                help="openclaw config file (default: $OPENCLAW_CONFIG, then "
                "~/.config/openclaw/coding-agent.yaml)",
            ),
            args["help"],
            args["version"],
            args["debug"],
        ]
        return shown + [args[name] for name in HIDDEN if name in args]

    def print_columns(self, tuples: Any) -> None:
        """Print help columns, leaving out the hidden invoke-internal flags."""
        keep = [t for t in tuples if not set(re.findall(r"--([\w-]+)", t[0])) & set(HIDDEN)]
        super().print_columns(keep)

    def update_config(self, merge: bool = True) -> None:
        """Record ``--config`` for the commands; never load it as an invoke runtime config."""
        self.config.load_overrides({"openclaw": {"config": self.args.config.value}}, merge=False)
        if merge:
            self.config.merge()

    def run(self, argv: Any = None, exit: bool = True) -> None:
        """Run, mapping parse errors to exit code 2 and never showing a traceback for them."""
        try:
            self.create_config()
            self.parse_core(argv)
            self.parse_collection()
            self.parse_tasks()
            self.parse_cleanup()
            self.update_config()
            self.execute()
        except ParseError as exc:
            print(f"{PROG}: error: {_explain(exc)} — see '{PROG} --help'", file=sys.stderr)
            sys.exit(int(ExitCode.USAGE))
        except Exit as exc:
            if exc.message:
                print(exc.message, file=sys.stderr)
            sys.exit(exc.code)
        except UnexpectedExit as exc:
            sys.exit(exc.result.exited)
        except KeyboardInterrupt:
            sys.exit(int(ExitCode.INTERRUPTED))
        except BrokenPipeError:
            # The reader went away (| head): stop quietly, as a filter should.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)


def _explain(exc: ParseError) -> str:
    """invoke's parse error, reworded where it is cryptic."""
    text = str(exc)
    missing = re.match(r"Flag <Argument: ([\w-]+)[^>]*> needed value", text)
    if missing:
        flag = "--" + missing.group(1).replace("_", "-")
        return f"{flag} needs a value (for a value starting with '-', write {flag}=VALUE)"
    return text


program = OpenclawProgram(
    name=PROG, binary=PROG, binary_names=[PROG], namespace=collection(), version=__version__
)


def main() -> None:
    """Console-script entry point."""
    program.run()
