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

from openclaw.lazy import deferred


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


with deferred("invoke.vendor.yaml"):  # read only for an invoke config file: see openclaw.lazy
    _import_invoke()
from invoke.exceptions import Exit, ParseError, UnexpectedExit  # noqa: E402
from invoke.parser.argument import Argument  # noqa: E402
from invoke.parser.context import ParserContext  # noqa: E402
from invoke.parser.parser import Parser  # noqa: E402
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
        shown = []
        for flags, text in keep:
            if flags.startswith("-h [STRING]"):
                flags, text = "-h, --help [COMMAND]", "show this help, or a command's, and exit"
            elif flags == "--config=STRING":
                flags = "--config PATH"
            elif flags.startswith("-V"):
                text = "show the version and exit"
            elif flags.startswith("-d"):
                text = "show debug output"
            shown.append((flags, text))
        super().print_columns(shown)

    def print_help(self) -> None:
        """The program's help: usage, global options, commands, and where to read more."""
        print(f"Usage: {self.binary} [--config PATH] COMMAND [OPTIONS]")
        print("")
        print("Dispatch AI coding agents to executors and manage every task from one CLI.")
        print("")
        print("Global options:")
        self.print_columns(self.initial_context.help_tuples())
        self.list_tasks()
        print(
            f"Run '{self.binary} help COMMAND' (or '{self.binary} COMMAND --help') for a command's options."
        )

    def print_task_help(self, name: str) -> None:
        """A command's help: usage, summary, options with their value types and defaults, examples."""
        import inspect

        task = self.collection[name]
        print(f"Usage: {self.binary} {name} [OPTIONS]")
        print("")
        summary = inspect.getdoc(task) or ""
        for line in summary.splitlines():
            print(line)
        print("")
        print("Options:")
        defaults = {
            k.replace("_", "-"): v.default
            for k, v in inspect.signature(task.body).parameters.items()
            if v.default not in (None, False, inspect.Parameter.empty)
        }
        tuples = []
        context = self.parser.contexts[name]
        for flags, text in context.help_tuples():
            flag = re.match(r"--([\w-]+)", flags)
            key = flag.group(1) if flag else ""
            metavar = METAVARS.get(key, "VALUE")
            flags = flags.replace("[=STRING]", f"[={metavar}]").replace("=STRING", f" {metavar}")
            flags = flags.replace("=INT", f" {metavar}")
            argument = context.flags.get(f"--{key}")
            if argument is not None and argument.kind is list:  # invoke may show no value for these
                flags = flags if flags.endswith(metavar) else f"{flags} {metavar}"
                text = f"{text} (repeatable)"
            if key in defaults and "default" not in (text or ""):
                text = f"{text} (default: {defaults[key]})"
            tuples.append((flags, text))
        if tuples:
            self.print_columns(tuples)
        else:
            print(f"{self.leading_indent}(none)")
            print("")
        examples = EXAMPLES.get(name, ())
        if examples:
            print("Examples:")
            for example in examples:
                line = example if example.startswith("claude ") else f"{self.binary} {example}"
                print(f"{self.leading_indent}{line}")
            print("")

    #: The words after ``--`` (``run -- make test``), exactly as given.
    command_argv: tuple[str, ...] = ()
    #: The words of the command line before ``--``; None: every command's parser context.
    words: frozenset[str] | None = None

    def _make_parser(self) -> Parser:
        """invoke's parser, given the contexts of only the commands the command line names.

        A parser switches to a command's context only on a word that is its name (or alias),
        so one that is not on the command line can never be chosen; building and copying the
        others' contexts (every flag of every command) cost ~3 ms of every run. Tab completion
        (invoke's hidden ``--complete``) lists every command, so it gets them all."""
        words = self.words
        if words is None or "--complete" in words:
            return super()._make_parser()
        unknown_help = self.config.tasks.ignore_unknown_help
        contexts = [  # as invoke's Collection.to_contexts builds each
            ParserContext(
                name=name,
                aliases=aliases,
                args=self.collection[name].get_arguments(ignore_unknown_help=unknown_help),
            )
            for name, aliases in self.collection.task_names.items()
            if name in words or words.intersection(aliases)
        ]
        return Parser(initial=self.initial_context, contexts=contexts)

    def update_config(self, merge: bool = True) -> None:
        """Record ``--config`` (and a command after ``--``) for the commands; never load it as an
        invoke runtime config."""
        settings = {"config": self.args.config.value, "argv": list(self.command_argv)}
        self.config.load_overrides({"openclaw": settings}, merge=False)
        if merge:
            self.config.merge()

    def _ran(self, name: str) -> bool:
        """Whether the command line asks for the command ``name``."""
        return any(ctx.name == name for ctx in self.tasks)

    def run(self, argv: Any = None, exit: bool = True) -> None:
        """Run, mapping parse errors to exit code 2 and never showing a traceback for them."""
        argv = list(sys.argv if argv is None else argv)
        if len(argv) >= 2 and argv[1] == "help":  # 'help' and 'help COMMAND', like git and gh
            argv = [argv[0], *argv[2:3], "--help"]
        # invoke joins what follows '--' into one string; 'run -- CMD...' needs the words as given.
        self.command_argv = ()
        if "--" in argv:
            cut = argv.index("--")
            argv, self.command_argv = argv[:cut], tuple(argv[cut + 1 :])
        self.words = frozenset(argv[1:])
        try:
            # The six steps of invoke 2.2.1's Program.run, as they are there; only what is
            # caught differs (invoke prints a ParseError without our wording or exit code 2).
            # test_cli holds this to the behaviour it relies on.
            self.create_config()
            self.parse_core(argv)
            self.parse_collection()
            self.parse_tasks()
            self.parse_cleanup()
            self.update_config()
            if self.command_argv and not self._ran("run"):
                raise ParseError("only 'run' takes a command after --")
            self.execute()
        except ParseError as exc:
            print(f"{PROG}: error: {_explain(exc)}", file=sys.stderr)
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


#: What each flag's value is, for the help ('--grace SECS' rather than '--grace=STRING').
METAVARS = {
    "config": "PATH",
    "executor": "NAME",
    "prompt": "TEXT",
    "prompt-file": "PATH",
    "workspace": "DIR",
    "max-turns": "N",
    "follow": "SECS",
    "timeout": "DURATION",
    "grace": "SECS",
    "watch": "SECS",
    "lines": "N",
    "task-id": "ID",
    "agent": "NAME",
    "label": "LABEL",
    "priority": "N",
    "after": "ID",
    "from": "FILE",
    "model": "NAME",
    "max-budget-usd": "USD",
    "append-system-prompt": "TEXT",
    "allowed-tools": "LIST",
    "disallowed-tools": "LIST",
    "agent-arg": "ARG",
    "wait-timeout": "SECS",
    "cmd": "'CMD ARGS'",
    "status": "STATE",
    "source": "SOURCE",
    "help": "COMMAND",
    "base": "REF",
    "branch": "NAME",
    "push": "REMOTE",
    "remote": "REMOTE",
    "to": "DIR",
    "http": "[ADDR:]PORT",
    "tls-cert": "PEM",
    "tls-key": "PEM",
    "log": "FILE",
    "interval": "SECS",
    "path": "PATH",
    "notify": "URL",
}

#: A few ways to use each command, shown at the end of its help.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "start": (
        'start --prompt "Fix the failing test" --workspace ~/proj',
        "start --executor builder --prompt-file task.md --wait --follow --timeout 30m",
        "start --agent codex --model gpt-5.5 --prompt - < task.md",
        "start --prompt - --json < task.md",
        "start --label rust --priority 5 --prompt-file task.md",
        'start --after 3f2a --prompt "Now write the docs"',
        "start --from tasks.jsonl",
    ),
    "run": ("run --executor crib -- make test", "run --wait --timeout 10m -- pytest -x"),
    "status": ("status --task-id 3f2a", "status --task-id 3f2a --json"),
    "logs": ("logs --task-id 3f2a --follow", "logs --task-id 3f2a --lines 200 --raw"),
    "wait": ("wait --task-id 3f2a --timeout 600 --follow",),
    "resume": ('resume --task-id 3f2a --prompt "Now add tests"',),
    "list": ("list --status running", "list --json"),
    "kill": ("kill --task-id 3f2a", "kill --task-id 3f2a --grace 0"),
    "cleanup": ("cleanup --task-id 3f2a", "cleanup --finished"),
    "dashboard": ("dashboard --watch 2", "dashboard --stream"),
    "drain": ("drain", "drain --json"),
    "doctor": ("doctor", "doctor --rebuild --json"),
    "executors": ("executors --json",),
    "config": ("config --init", "config --path", "config"),
    "diff": ("diff --task-id 3f2a", "diff --task-id 3f2a --stat", "diff --task-id 3f2a --json"),
    "apply": ("apply --task-id 3f2a", "apply --task-id 3f2a --to ~/other-checkout"),
    "push": ("push --task-id 3f2a", "push --task-id 3f2a --remote upstream"),
    "serve": ("serve", "serve --http", "serve --http 127.0.0.1:8787 --url", "serve --print-unit"),
    "mcp": ("mcp", "claude mcp add openclaw -- openclaw-agent mcp"),
}


def _explain(exc: ParseError) -> str:
    """invoke's parse error in the CLI's words, with where to look next."""
    text = str(exc)
    command = getattr(exc.context, "name", None)  # None: the top level
    see = f" — see '{PROG} {command} --help'" if command else f" — see '{PROG} --help'"
    missing = re.match(r"Flag <Argument: ([\w-]+)[^>]*> needed value", text)
    if missing:
        flag = "--" + missing.group(1).replace("_", "-")
        return f"{flag} needs a value (for a value starting with '-', write {flag}=VALUE){see}"
    unknown = re.fullmatch(r"No idea what '(.*)' is!", text)
    if unknown:
        token = unknown.group(1)
        if token.startswith("-"):
            where = f"{command} has" if command else "there is"
            return f"{where} no flag {token}{see}"
        return f"unknown command {token!r}{see}"
    return text + see


program = OpenclawProgram(
    name=PROG, binary=PROG, binary_names=[PROG], namespace=collection(), version=__version__
)


def main() -> None:
    """Console-script entry point."""
    try:
        program.run()
    except SystemExit as exc:
        _leave(exc.code)
        raise
    _leave(0)


def _leave(code: int | str | None) -> None:
    """Do what an exit must do, then end the process at once, without tearing the
    interpreter down.

    What an exit must do is done as Python's own exit does it, in its order: wait for the
    threads that are not daemons (``threading._shutdown``), run the ``atexit`` handlers
    (SSH sessions closed, container follows stopped, logging flushed), flush stdout and
    stderr. What is skipped is the teardown of every module and object, ~10-20 ms of every
    command for nothing: the process's memory goes with it, and every record is written
    (atomically) by then.

    It also ends the process when a daemon thread still runs (an SSH transport, a connection
    begun early by a start that was then interrupted). Such a thread may be inside native
    code (the cryptography library's Rust): interpreter shutdown ends daemon threads by a
    forced unwind, which aborts the process there ("FATAL: exception not rethrown", exit -6)
    after the command has done its work and printed its line.

    Should this Python lack either hook, the ordinary exit runs instead."""
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or run_exitfuncs is None:
        return
    shutdown()
    run_exitfuncs()
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code or 0)
