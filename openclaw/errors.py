"""Exit codes and the exception classes that carry a user-facing, one-line error.

Every error a user can cause is an :class:`OpenclawError`. The CLI boundary
(:func:`openclaw.cli.command`) turns it into ``openclaw-agent: error: <message>``
on stderr and exits with its :attr:`~OpenclawError.exit_code`; nothing a user
does shows a traceback.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openclaw.task import TaskRecord


class ExitCode(IntEnum):
    """The documented exit codes of ``openclaw-agent``."""

    OK = 0
    #: Something went wrong while acting on a task (start failed, executor error, ...).
    ERROR = 1
    #: A usage or configuration error: bad flag, bad value, invalid config file.
    USAGE = 2
    #: The task id (or prefix) names no task, or more than one.
    UNKNOWN_TASK = 3
    #: ``wait`` / ``start --wait``: the task ended ``failed``.
    FAILED = 4
    #: ``wait`` / ``start --wait``: the task ended ``killed``.
    KILLED = 5
    #: ``wait`` / ``start --wait``: the task ended ``lost``.
    LOST = 6
    #: ``wait`` / ``start --wait``: the timeout passed with the task still running.
    TIMEOUT = 7
    #: Interrupted by Ctrl-C.
    INTERRUPTED = 130


class OpenclawError(Exception):
    """Base of every error meant for the user: a message and, optionally, how to fix it."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint, folded into a single line."""
        text = self.message if not self.hint else f"{self.message} — {self.hint}"
        return " ".join(text.split())


class UsageError(OpenclawError):
    """A flag or value given on the command line is wrong."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The configuration file is unreadable or does not match its schema."""

    def __init__(self, path: str, problem: str, key_path: str = "", hint: str | None = None) -> None:
        where = f"{path}: {key_path}: " if key_path else f"{path}: "
        super().__init__(where + problem, hint or "fix the file, or see hosts.example.yaml for a valid one")
        self.path = path
        self.key_path = key_path
        self.problem = problem


class UnknownTaskError(OpenclawError):
    """No task matches the given id or prefix, or the prefix is ambiguous."""

    exit_code = ExitCode.UNKNOWN_TASK

    def __init__(self, task_ref: str, candidates: list[str] | None = None) -> None:
        if candidates:
            shown = ", ".join(candidates[:10]) + (" ..." if len(candidates) > 10 else "")
            super().__init__(
                f"task id prefix {task_ref!r} is ambiguous: it matches {shown}",
                "give more characters of the id",
            )
        else:
            super().__init__(f"no task with id {task_ref!r}", "run 'openclaw-agent list' to see task ids")
        self.task_ref = task_ref
        self.candidates = candidates or []


class CorruptRecordError(OpenclawError):
    """A task's ``.meta.json`` is unreadable or does not match its schema."""

    def __init__(self, task_id: str, problem: str) -> None:
        super().__init__(
            f"task {task_id}: corrupt .meta.json: {problem}",
            "the record was left as it is; inspect it, or remove it with "
            f"'openclaw-agent cleanup --task-id {task_id} --force'",
        )
        self.task_id = task_id
        self.problem = problem


class StoreError(OpenclawError):
    """The task records' directory (or one of its entries) cannot be used as it is.

    It names the path, what is wrong with it, and how to fix it: every
    ``OSError`` of the store that is not "no such task" becomes one of these.
    """

    def __init__(self, path: str, problem: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint)
        self.path = path
        self.problem = problem


class ExecutorError(OpenclawError):
    """An executor could not do what was asked (start, observe, kill)."""

    def __init__(self, executor: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"executor {executor!r}: {message}", hint)
        self.executor = executor


class StartError(OpenclawError):
    """A task could not be started; the task is recorded as ``failed`` with this reason.

    With ``pending`` set, whether the agent started is not known (the answer
    of its launch was lost): the task stays ``pending``, with ``fields`` (such
    as ``host``) recorded, for a later observation to settle.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        task_id: str | None = None,
        pending: bool = False,
        fields: dict[str, Any] | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message, hint)
        self.task_id = task_id
        self.pending = pending
        self.fields = fields or {}
        #: The executor could not be reached at all (routing passes it over for a while).
        self.unreachable = unreachable


class StartInterrupted(OpenclawError):
    """``start`` was interrupted (Ctrl-C) after its record was made: the task stays pending.

    Whether the agent was launched is not known here; the next observation
    settles it (running if it was, lost if it was not), and ``kill`` stops it.
    """

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, task_id: str) -> None:
        super().__init__(
            f"interrupted while starting task {task_id}; it stays pending until it is observed",
            f"'openclaw-agent status --task-id {task_id}' says whether the agent runs, "
            f"'openclaw-agent kill --task-id {task_id}' stops it",
        )
        self.task_id = task_id


class WaitTimeout(OpenclawError):
    """``--timeout`` passed while waiting; the task is left running (unless --kill-on-timeout)."""

    exit_code = ExitCode.TIMEOUT

    def __init__(self, meta: TaskRecord) -> None:
        super().__init__(
            f"timed out waiting for task {meta['task_id']} (still {meta['status']})",
            "it keeps running; wait again, or pass --kill-on-timeout",
        )
        self.meta = meta


#: The exit code of ``wait`` for each final state.
OUTCOME_CODES = {
    "completed": ExitCode.OK,
    "failed": ExitCode.FAILED,
    "killed": ExitCode.KILLED,
    "lost": ExitCode.LOST,
}
