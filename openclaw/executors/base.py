"""The small interface every executor implements.

An executor knows where an agent runs (this machine, an SSH host, a
container) and nothing about rendering or about which agent it runs: it gets
a :class:`~openclaw.agents.base.Launch` (argv, environment, limits) and the
task directory, and reports observations: the exit status and the ends of
the output, which the task's agent judges.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from openclaw.agents.base import Launch
from openclaw.config import ExecutorConfig
from openclaw.errors import ExecutorError, StartError
from openclaw.records import TaskStore
from openclaw.states import Observation
from openclaw.task import TaskRecord

if TYPE_CHECKING:
    from openclaw.executors.ssh.protocol import Answer
    from openclaw.watch import Alarm, TaskWatch


class Executor(ABC):
    """Runs agents somewhere, and observes, tails, kills and cleans them up."""

    #: The ``type`` value in the config file.
    type: str = ""
    #: Seconds after a task was created during which a launch of it may still land
    #: although its ``start`` is gone (a remote script or runtime call still under way).
    launch_window_s: float = 0.0

    def __init__(self, config: ExecutorConfig, store: TaskStore) -> None:
        self.config = config
        self.store = store

    #: Whether tasks of this executor can be observed and managed without its config
    #: (a local task whose executor was removed from the config file still can).
    standalone: bool = False
    #: Whether its launchers run on this machine, as this user: a launcher's exit can then
    #: run this machine's ``openclaw-agent drain`` (the queue flows with nobody watching),
    #: and the executor is never unreachable (routing keeps no reachability note of it).
    here: bool = False

    @classmethod  # noqa: B027 - optional hook
    def kill_unrecorded(cls, store: TaskStore, task_id: str, grace: float) -> None:
        """Stop what may be left of task ``task_id`` whose record is unreadable, from what its
        files on this machine say. Default: an executor whose tasks leave nothing here to go by."""

    def connect_early(self) -> None:  # noqa: B027 - optional hook
        """``start`` is coming: begin what takes long (connecting) in the background. Default: nothing."""

    def normalize_workspace(self, workspace: str | None) -> str:
        """The workspace as the agent will see it (default: as given, else the home directory)."""
        return workspace or "~"

    @abstractmethod
    def start(self, meta: TaskRecord, spec: Launch) -> dict[str, Any]:
        """Start the agent detached and return the fields to record (pid, start time, ...).

        The prompt is already in the task's ``prompt`` file. ``spec`` holds the
        argv, the variables to set for the agent (executor ``env`` plus
        ``pass_env`` and the agent's own), the wall-clock limit, and what the
        pre-flight checks need (the root rule, the words for a missing
        binary): whichever agent it is, the executor applies them the same way.
        The fields may include ``home``: the agent's home directory on that
        host, from which the manager derives the transcript path (it is not
        recorded itself). Raise :class:`openclaw.errors.StartError` when the
        agent cannot start.
        """

    def start_many(self, items: list[tuple[TaskRecord, Launch]]) -> list[dict[str, Any] | StartError]:
        """Start several tasks; each one's outcome, in order: the fields :meth:`start` returns,
        or the :class:`~openclaw.errors.StartError` that kept it from starting. An executor
        that can start many in fewer round trips than one each (SSH) does so. Default: one
        :meth:`start` after another."""
        out: list[dict[str, Any] | StartError] = []
        for meta, spec in items:
            try:
                out.append(self.start(meta, spec))
            except StartError as exc:
                out.append(exc)
        return out

    @abstractmethod
    def observe(self, metas: list[TaskRecord]) -> dict[str, Observation]:
        """Observe every task in ``metas`` (all of this executor) in one go, by task id."""

    def watch(self, meta: TaskRecord, stream: str | None = None) -> TaskWatch | None:
        """Something that wakes a waiter of the running task when its state may have changed
        and, given ``stream``, a follower of that output when it grows, so that neither need
        poll; None (the default) where the executor cannot."""
        return None

    def alarm(self, metas: list[TaskRecord], since: float) -> Alarm | None:
        """What wakes ``serve`` when any task of this executor may end, ``metas`` being those
        running at its last look (begun at ``since``, a Unix time): the alarm must also ring
        for an end it missed since then. None (the default) where the executor cannot give
        one: serve then looks on its ``--interval``."""
        return None

    @abstractmethod
    def kill(self, meta: TaskRecord, grace: float) -> None:
        """SIGTERM every process of the task, SIGKILL after ``grace`` seconds; return when none is left.

        Also for a task whose pid was never recorded (an interrupted start),
        and for a finished one (a sweep for anything it left behind).
        """

    @abstractmethod
    def tail(self, meta: TaskRecord, stream: str, lines: int) -> list[bytes]:
        """The last ``lines`` lines of the task's ``stdout`` or ``stderr``."""

    @abstractmethod
    def read_from(self, meta: TaskRecord, stream: str, offset: int) -> tuple[bytes, int]:
        """What the task's ``stream`` holds from ``offset`` on, and the offset after it.

        ``meta`` is the latest record. ``--follow`` calls this again and again
        with growing offsets; once ``meta`` is final, the answer reaches the end
        of the output.
        """

    @abstractmethod
    def size(self, meta: TaskRecord, stream: str) -> int:
        """The current size in bytes of the task's ``stream``."""

    def read_path(self, meta: TaskRecord, path: str, offset: int) -> tuple[bytes, int]:
        """What file ``path`` on the task's host holds from ``offset`` on (the transcript)."""
        raise ExecutorError(self.config.name, f"reading {path} is not supported by this executor")

    #: Whether a started task waits for the executor's own scheduler to place it (a Ray job):
    #: it stays ``pending`` until an observation finds it running.
    places_later: bool = False
    #: Whether ``pass_env`` names are resolved where the agent runs (a Ray node's own
    #: environment) rather than in the dispatcher's.
    pass_env_remote: bool = False

    def clones(self, workspace: str) -> bool:
        """Whether a task with this workspace works in a fresh clone of its own (a ``git+``
        workspace on Ray), whose branch ``--push`` can push without a worktree (default: no)."""
        return False

    def check_resume(self, parent: TaskRecord) -> None:  # noqa: B027 - optional hook
        """Raise :class:`UsageError` when ``parent``'s session cannot be continued here (default: it can)."""

    def cleanup(self, meta: TaskRecord) -> None:  # noqa: B027 - optional hook
        """Remove what the task left on the executor beyond the local record (default: nothing)."""

    # -- git, where the agent runs (openclaw.worktree) ------------------------------------------
    def make_worktree(
        self, task_id: str, workspace: str, base: str | None, branch: str | None
    ) -> tuple[dict[str, str], str]:
        """Make task ``task_id``'s own git worktree from the checkout ``workspace``, where its
        agent will run; the record's ``worktree`` and the agent's working directory (see
        :func:`openclaw.worktree.create`)."""
        from openclaw.worktree import create

        return create(self, task_id, workspace, base, branch)

    def git_host(self) -> str | None:
        """The host git runs on for this executor's tasks, for messages (None: this machine)."""
        return None

    def host_script(self, tail: str, values: dict[str, str | int]) -> Answer:
        """Run the shipped ``worktree.sh`` functions and ``tail`` (code, never a value) with
        ``values`` on the host where this executor's tasks' worktrees live, ``$root`` being
        its tasks directory there; the framed answer. Default: on this machine (the local
        executor; a container's worktree is on the host side of its bind mount)."""
        from openclaw.worktree import run_here

        return run_here(tail, values, str(self.store.root))
