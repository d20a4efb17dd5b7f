"""The container executor: runs the agent in a Docker or Podman container.

The package's parts: ``runtime`` (calling docker or podman), ``staging``
(the mounted task files, env file, volumes), ``run`` (the ``run -d`` argv:
name, labels, mounts, options, entry), ``state`` (``inspect`` read and a
container judged), ``follow`` (following output), ``entry.sh`` (the
container's PID 1), ``executor`` (the executor itself).

One task is one container, ``openclaw-<task-id>``, labelled
``openclaw.task-id=<id>`` and ``openclaw.executor=<name>``. It is started
with ``<runtime> run -d`` (a plumbum command builder: an argv, no shell
string) and is *not* auto-removed, so its exit status stays readable until
``cleanup`` removes it.

What goes in, and how:

- The task's ``container/`` directory (0700) is bind-mounted read-only at
  ``/openclaw-task``. It holds ``prompt`` (0600, byte-exact, the agent's
  stdin) and, when the executor has ``env``/``pass_env``, ``env`` (0600,
  values single-quoted) which the entry script sources. Values therefore never
  appear in argv or in ``inspect`` (whose ``Config.Env`` shows every ``-e``
  value).
- The entry script (``entry.sh``, fixed text; the workspace and the agent's
  argv are its positional parameters) is the container's PID 1. It cds to the
  workspace, runs the agent with stdin from the prompt file, forwards SIGTERM
  and SIGHUP to it (a PID 1 without handlers would ignore them) and exits with
  the agent's status. The agent's stdout and stderr are the container's, so
  ``<runtime> logs`` shows Claude Code's stream-json.
- ``IS_SANDBOX=1`` is set: a container is a sandbox, and Claude Code refuses
  ``--dangerously-skip-permissions`` as root without it.
- A resumed task's session (the paths its agent names, ``Launch.session_state``)
  is copied out of the parent's container and staged under ``resume/``; the
  entry script copies it into place before the agent starts.

Status comes from one ``inspect`` of every container of the executor; a
runtime that cannot be reached gives ``Observation(alive=None)`` (shown as
``unknown``), never a failure.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import posixpath
import tarfile
import time
import weakref
from typing import TYPE_CHECKING, Any

from openclaw import faults, states
from openclaw.agents.base import Launch
from openclaw.config import ExecutorConfig
from openclaw.errors import ExecutorError, StartError, UsageError
from openclaw.executors.base import Executor
from openclaw.executors.container.follow import DRAIN_TIMEOUT_S, FollowFeed, LogFollower, close_followers
from openclaw.executors.container.run import container_name, run_args
from openclaw.executors.container.runtime import (
    CALL_TIMEOUT_S,
    DEFAULT_RUNTIME,
    GONE,
    NO_IMAGE,
    Call,
    Runtime,
    RuntimeTimeout,
    RuntimeUnavailable,
)
from openclaw.executors.container.staging import ROOT_USERS, host_side, volume_args
from openclaw.executors.container.staging import stage as stage_task
from openclaw.executors.container.state import CREATED_STUCK_S, observation_from_state, parse_inspect, stuck
from openclaw.records import TaskStore
from openclaw.states import Observation
from openclaw.task import TaskRecord

if TYPE_CHECKING:
    from openclaw.watch import Alarm, TaskWatch


#: Seconds between two copies of a growing file out of a running container (transcript --follow).
COPY_MIN_INTERVAL_S = 0.2
#: ... backing off, while the file does not grow, to this.
COPY_MAX_INTERVAL_S = 2.0
#: How many trailing lines of the container's output are read to find the result event.
RESULT_TAIL_LINES = 20
#: How often an empty answer of ``cp`` (no archive, exit 0) is asked again.
EMPTY_COPY_TRIES = 3


class ContainerExecutor(Executor):
    """Runs each agent in its own container of the configured image."""

    type = "container"
    #: A ``run -d`` whose ``start`` died may still be creating and starting the container.
    launch_window_s = CREATED_STUCK_S

    def __init__(self, config: ExecutorConfig, store: TaskStore) -> None:
        super().__init__(config, store)
        self.rt = Runtime(str(config.options.get("runtime", DEFAULT_RUNTIME)))
        self._followers: dict[tuple[str, str], LogFollower] = {}
        #: (task id, stream) whose runtime follow lagged behind the ended task: read whole.
        self._whole_reads: set[tuple[str, str]] = set()
        #: (task id, path) -> (when last copied, seconds until the next copy, size then).
        self._copies: dict[tuple[str, str], tuple[float, float, int]] = {}
        # Followers still running when this executor goes (or at exit) are stopped.
        weakref.finalize(self, close_followers, self._followers)

    @staticmethod
    def _name(meta: TaskRecord) -> str:
        """The container of the task ``meta`` records."""
        return str(meta.get("host") or container_name(meta["task_id"]))

    # -- configuration ------------------------------------------------------------------
    @property
    def runtime(self) -> str:
        """``docker`` or ``podman``, as configured."""
        return self.rt.name

    @property
    def image(self) -> str:
        """The configured image."""
        return str(self.config.options["image"])

    def normalize_workspace(self, workspace: str | None) -> str:
        """A path inside the container: absolute, or ``~``/``~/...`` (default ``~``, the user's home)."""
        if workspace is None or workspace == "~":
            return "~"
        if workspace.startswith("~/"):
            return "~/" + posixpath.normpath(workspace[2:]).lstrip("/")
        if not workspace.startswith("/"):
            raise UsageError(
                f"--workspace {workspace!r} is not an absolute path",
                f"executor {self.config.name!r} is a container: give a path inside the container, "
                "e.g. /work/myproject (mount it with volumes:)",
            )
        return posixpath.normpath(workspace)

    # -- a worktree of the task's own, on the host side of a bind mount -------------------------
    def make_worktree(
        self, task_id: str, workspace: str, base: str | None, branch: str | None
    ) -> tuple[dict[str, str], str]:
        """Make the task's worktree on this machine, from the checkout that ``workspace`` (a
        path in the container) is on the host side of its bind mount; the container gets the
        worktree (and the repository's git directory) mounted at the same paths as here."""
        from openclaw.worktree import create

        volumes = list(self.config.options.get("volumes", []))
        checkout = host_side(workspace, volumes, self.runtime, self.config.name)
        return create(self, task_id, checkout, base, branch)

    # -- start ------------------------------------------------------------------------------
    def start(self, meta: TaskRecord, spec: Launch) -> dict[str, Any]:
        """``<runtime> run -d`` the image with the task mounted; return the container as ``host``."""
        opts = self.config.options
        task_id = meta["task_id"]
        name = container_name(task_id)
        try:
            self.rt.binary()
        except RuntimeUnavailable as exc:
            raise StartError(str(exc), self.rt.unavailable_hint()) from None
        volumes = volume_args(list(opts.get("volumes", [])), self.config.name)
        user = str(opts.get("user", ""))
        stage = stage_task(self.store, task_id, user, spec.env, self._resumed_session(meta, spec))
        args = run_args(meta, spec, self.config, stage, volumes)
        faults.point("container.created")
        try:
            call = self.rt.call(*args, cwd=stage.parent)
        except RuntimeTimeout as exc:
            # The runtime may have made and started the container before it stopped answering.
            if self._remove_quietly(name):
                raise StartError(str(exc), self.rt.unavailable_hint()) from None
            raise StartError(
                f"{exc}; whether container {name} was started is not known",
                "the task stays pending; 'openclaw-agent status' settles it once the runtime answers",
                pending=True,
                fields={"host": name},
            ) from None
        except RuntimeUnavailable as exc:  # the engine was never reached: nothing was made
            raise StartError(str(exc), self.rt.unavailable_hint()) from None
        if call.code != 0:
            if not self._remove_quietly(name):
                raise StartError(
                    f"{self.runtime} could not start the container ({call.error_line()}), and could not "
                    f"remove {name}",
                    "the task stays pending; 'openclaw-agent cleanup --force' removes it",
                    pending=True,
                    fields={"host": name},
                )
            if call.says(NO_IMAGE):
                raise StartError(
                    f"image {self.image!r} not found by {self.runtime}",
                    f"build it (see the README's Container executor section) or pull it with "
                    f"'{self.runtime} pull {self.image}', or fix image of executor {self.config.name!r}",
                )
            raise StartError(
                f"{self.runtime} could not start the container: {call.error_line()}",
                f"check image, volumes, network, user and extra_args of executor {self.config.name!r}",
            )
        home = self._home(name)
        fields: dict[str, Any] = {"host": name, "command": spec.argv}
        if home:
            fields["home"] = home
            ws = meta["workspace"]
            if ws == "~" or ws.startswith("~/"):
                fields["workspace"] = posixpath.normpath(home + ws[1:])
        return fields

    def _resumed_session(self, meta: TaskRecord, spec: Launch) -> list[tuple[str, bytes]]:
        """For a resumed task: the parent's session, as ``(path, archive)`` pairs to stage.

        Each task runs in a container of its own, so the session its agent
        resumes (``spec.session_state``: the paths its agent names, files or
        directories) is in the parent's container. Each is copied out of it
        (which must still exist: ``cleanup`` removes it) with ``cp`` (a tar
        stream), to be put back at the same path in the new one before the
        agent starts (same image, user and workspace: the same paths; ``~`` is
        the home of the parent's user). A path the parent's container does not
        have is passed over; none at all is an error.
        """
        parent_id = meta.get("parent_id")
        if not parent_id or not spec.session_state:
            return []
        parent = self.store.read(parent_id)
        home: str | None = None
        carried: list[tuple[str, bytes]] = []
        paths: list[str] = []
        try:
            for path in spec.session_state:
                if path == "~" or path.startswith("~/"):
                    home = home or self._home_of(parent)
                    path = posixpath.normpath(home + path[1:])
                paths.append(path)
                archive = self._archive(parent, path)
                if archive:
                    carried.append((path, archive))
        except ExecutorError as exc:
            raise StartError(
                f"cannot resume task {parent['task_id']}: {exc.message}",
                "resume a task before cleaning it up: its session lives in its container",
            ) from None
        if not carried:
            raise StartError(
                f"cannot resume task {parent['task_id']}: its container has no session at {', '.join(paths)}"
            )
        return carried

    def _home_of(self, meta: TaskRecord) -> str:
        """The home of the user task ``meta``'s container ran as, read off the container
        (running or not): its ``HOME`` (podman always sets one), else that user's line of its
        ``/etc/passwd`` (``/root`` for root), else ``/`` (where docker puts a user it cannot find)."""
        name = self._name(meta)
        try:
            call = self.rt.call("inspect", "--type", "container", name)
        except RuntimeUnavailable as exc:
            raise ExecutorError(self.config.name, f"cannot inspect {name}: {exc}") from None
        if call.code != 0:
            gone = call.says(GONE)
            raise ExecutorError(
                self.config.name,
                f"container {name} is gone, and its session with it" if gone else call.error_line(),
            )
        try:
            config = (json.loads(call.out)[0] or {}).get("Config") or {}
        except (ValueError, IndexError, AttributeError):
            config = {}
        for var in config.get("Env") or []:
            if isinstance(var, str) and var.startswith("HOME=") and var[5:].startswith("/"):
                return var[5:]
        user = str(config.get("User") or "").partition(":")[0]
        if user in ("", "root", "0"):
            return "/root"
        for line in self._copy_out(meta, "/etc/passwd").decode("utf-8", "replace").splitlines():
            fields = line.split(":")
            if len(fields) >= 6 and user in (fields[0], fields[2]) and fields[5].startswith("/"):
                return fields[5]
        return "/"

    def _home(self, name: str) -> str | None:
        """The container user's home: /root for root, else asked of the running container."""
        if str(self.config.options.get("user", "")) in ROOT_USERS:
            return "/root"
        try:
            call = self.rt.call("exec", name, "/bin/sh", "-c", 'printf %s "$HOME"', timeout=30)
        except RuntimeUnavailable:
            return None
        home = call.out.decode("utf-8", "replace").strip()
        return home if call.code == 0 and home.startswith("/") else None

    def _remove_quietly(self, name: str) -> bool:
        """``rm -f -v`` the container; whether it is gone now (or never was)."""
        try:
            call = self.rt.call("rm", "-f", "-v", name, timeout=60)
        except RuntimeUnavailable:
            return False
        return call.code == 0 or call.says(GONE)

    # -- observe ----------------------------------------------------------------------------
    def observe(self, metas: list[TaskRecord]) -> dict[str, Observation]:
        """One ``inspect`` of all the tasks' containers; ``logs --tail`` once for each that exited."""
        if not metas:
            return {}
        ids = [m["task_id"] for m in metas]
        by_id = {m["task_id"]: m for m in metas}
        try:
            call = self.rt.call("inspect", "--type", "container", *(container_name(i) for i in ids))
            found = parse_inspect(call, self.runtime)
            out: dict[str, Observation] = {}
            for task_id in ids:
                info = found.get(task_id)
                if info is None:
                    out[task_id] = Observation(
                        alive=False, reason="the container is gone (removed outside openclaw-agent)"
                    )
                    continue
                state = info.get("State") or {}
                status = str(state.get("Status", "")).lower()
                meta = by_id[task_id]
                if status == "created":
                    # Made, not started: its `run -d` is under way, or was cut short (then removed).
                    out[task_id] = (
                        self._roll_back(meta)
                        if stuck(meta)
                        else Observation(alive=False, in_flight=True, reason="the container is being started")
                    )
                    continue
                exited = status in ("exited", "stopped")
                logs = (
                    self.rt.call("logs", "--tail", str(RESULT_TAIL_LINES), container_name(task_id))
                    if exited
                    else None
                )
                obs = observation_from_state(info, logs)
                if meta.get("host") is None and meta["status"] == states.PENDING:
                    # Started, but start did not record it (interrupted): adopt the container.
                    started: dict[str, Any] = {"host": container_name(task_id)}
                    if str(self.config.options.get("user", "")) in ROOT_USERS:
                        started["home"] = "/root"
                    obs = dataclasses.replace(obs, started=started)
                out[task_id] = obs
            return out
        except RuntimeUnavailable as exc:
            return {i: Observation(alive=None, reason=str(exc)) for i in ids}

    def _roll_back(self, meta: TaskRecord) -> Observation:
        """Remove a container that was created but never started (its ``run -d`` was cut short).

        It runs nothing but, perhaps, the runtime's own init waiting to start
        it (runc init); ``rm -f`` removes that too. Only once it is gone is the
        task over.
        """
        name = container_name(meta["task_id"])
        if self._remove_quietly(name):
            return Observation(
                alive=False,
                reason=f"the start was interrupted before {name} was started; the container was removed",
            )
        return Observation(alive=None, reason=f"{name} was created but never started, and cannot be removed")

    # -- kill and cleanup --------------------------------------------------------------------
    def kill(self, meta: TaskRecord, grace: float) -> None:
        """``stop -t GRACE``: SIGTERM to the agent, SIGKILL to every process in the container after."""
        name = self._name(meta)
        try:
            call = self.rt.call("stop", "-t", str(math.ceil(grace)), name, timeout=grace + CALL_TIMEOUT_S)
        except RuntimeUnavailable as exc:
            raise ExecutorError(
                self.config.name, f"cannot stop {name}: {exc}", self.rt.unavailable_hint()
            ) from None
        if call.code != 0 and not call.says(GONE):
            raise ExecutorError(self.config.name, f"cannot stop {name}: {call.error_line()}")

    def cleanup(self, meta: TaskRecord) -> None:
        """``rm -f -v``: the container and its anonymous volumes (named volumes stay)."""
        name = self._name(meta)
        try:
            call = self.rt.call("rm", "-f", "-v", name, timeout=CALL_TIMEOUT_S)
        except RuntimeUnavailable as exc:
            raise ExecutorError(
                self.config.name, f"cannot remove {name}: {exc}", "the record is kept; try again later"
            ) from None
        if call.code != 0 and not call.says(GONE):
            raise ExecutorError(self.config.name, f"cannot remove {name}: {call.error_line()}")

    # -- output ------------------------------------------------------------------------------
    def _logs(self, meta: TaskRecord, *extra: str) -> Call:
        name = self._name(meta)
        try:
            call = self.rt.call("logs", *extra, name)
        except RuntimeUnavailable as exc:
            raise ExecutorError(self.config.name, f"cannot read the output of {name}: {exc}") from None
        if call.code != 0:
            if call.says(GONE):
                raise ExecutorError(
                    self.config.name,
                    f"container {name} is gone, and its output with it",
                    "nothing is left to show",
                )
            raise ExecutorError(self.config.name, f"cannot read the output of {name}: {call.error_line()}")
        return call

    @staticmethod
    def _stream(call: Call, stream: str) -> bytes:
        return call.err if stream == "stderr" else call.out

    def tail(self, meta: TaskRecord, stream: str, lines: int) -> list[bytes]:
        """The last ``lines`` lines of the container's stdout or stderr (``logs --tail``)."""
        if lines <= 0:
            return []
        # --tail counts lines of both streams together: ask for enough, then cut.
        data = self._stream(self._logs(meta, "--tail", str(lines * 2 + 10)), stream)
        if len(data.splitlines()) < lines:
            data = self._stream(self._logs(meta), stream)
        return data.splitlines()[-lines:]

    def watch(self, meta: TaskRecord, stream: str | None = None) -> TaskWatch | None:
        """inotify on the task's record directory and, for its output and its end, the runtime's
        own follow of the ``stream`` (the one :meth:`read_from` reads) or, with no stream, its
        ``wait`` of the container (see :mod:`openclaw.watch`): no ``inspect`` while the task
        is idle, and one runtime process per watch."""
        from openclaw.watch import Feed, ProcessEnd, watch_task

        def feed() -> Feed:
            if stream is None:
                return ProcessEnd(self.rt.popen("wait", self._name(meta)))
            if (meta["task_id"], stream) in self._whole_reads:
                raise ExecutorError(self.config.name, "its follow lagged; read whole")
            return FollowFeed(lambda: self._follower(meta, stream))

        return watch_task(str(self.store.path(meta["task_id"])), None, None, stream is not None, feed)

    def alarm(self, metas: list[TaskRecord], since: float) -> Alarm | None:
        """The runtime's event stream of this executor's containers (see
        :class:`~.follow.EventsAlarm`): one process, however many tasks, and no ``inspect``."""
        from openclaw.executors.container.follow import EventsAlarm

        proc = self.rt.popen(
            "events",
            "--since",
            str(max(0, int(since) - 1)),
            "--filter",
            f"label=openclaw.executor={self.config.name}",
            quiet=True,
        )
        return EventsAlarm(proc)

    def read_from(self, meta: TaskRecord, stream: str, offset: int) -> tuple[bytes, int]:
        """What the container's ``stream`` holds from byte ``offset`` on (for ``--follow``).

        Read through one ``<runtime> logs --follow`` per followed stream, kept
        for the next call, so each byte crosses from the runtime once (asking
        for the whole log on every poll cost ~17% of a core, and grew with the
        log). When that follow stops while the container still runs, a new
        one starts; when it fails, or lags behind a task that has ended, the
        whole log is read instead.
        """
        key = (meta["task_id"], stream)
        if key in self._whole_reads:
            full = self._stream(self._logs(meta), stream)
            return full[offset:], max(offset, len(full))
        follower = self._follower(meta, stream)
        final = meta["status"] in states.FINAL
        follower.pump(DRAIN_TIMEOUT_S if final else 0.0, skip_to=offset)
        data, end = follower.read_from(offset)
        clean = follower.ended and follower.proc.returncode == 0
        if clean and (final or follower.complete or not self._running(meta)):
            follower.complete = True  # kept: later reads get nothing more
            return data, end
        if not (final or follower.ended):
            return data, end
        del self._followers[key]
        follower.close()
        if clean:
            return data, end  # it stopped while the container runs: a new one starts next time
        if not follower.ended:
            self._whole_reads.add(key)  # it lags behind the ended task: whole reads from now on
        # It failed (the container gone? the runtime down?) or lags: the whole log says which.
        full = self._stream(self._logs(meta), stream)
        return full[offset:], max(offset, len(full))

    def _follower(self, meta: TaskRecord, stream: str) -> LogFollower:
        """The running follow of the task's ``stream``, started when there is none."""
        key = (meta["task_id"], stream)
        follower = self._followers.get(key)
        if follower is None:
            try:
                follower = LogFollower(self.rt.popen("logs", "--follow", self._name(meta)), stream)
            except RuntimeUnavailable as exc:
                raise ExecutorError(
                    self.config.name, f"cannot read the output of {self._name(meta)}: {exc}"
                ) from None
            self._followers[key] = follower
        return follower

    def _running(self, meta: TaskRecord) -> bool:
        """Whether the task's container still runs (asked once its runtime follow has ended)."""
        try:
            call = self.rt.call("inspect", "--type", "container", self._name(meta))
            info = parse_inspect(call, self.runtime).get(meta["task_id"], {})
        except RuntimeUnavailable:
            return False
        return str((info.get("State") or {}).get("Status", "")).lower() == "running"

    def size(self, meta: TaskRecord, stream: str) -> int:
        """The size in bytes of the container's ``stream`` so far."""
        return len(self._stream(self._logs(meta), stream))

    def read_path(self, meta: TaskRecord, path: str, offset: int) -> tuple[bytes, int]:
        """File ``path`` inside the container (running or exited), from ``offset`` on, via ``cp``.

        ``cp`` copies the whole file, so ``--follow`` of a running task does
        not copy it on every poll: at most every :data:`COPY_MIN_INTERVAL_S`
        while it grows, backing off to every :data:`COPY_MAX_INTERVAL_S` while
        it does not (copying it five times a second cost a third of a core).
        Once the task is final, every call copies.
        """
        key = (meta["task_id"], path)
        now = time.monotonic()
        last = self._copies.get(key)
        # Skip the copy only when the caller already has all of the last one.
        if (
            last is not None
            and meta["status"] not in states.FINAL
            and now - last[0] < last[1]
            and offset >= last[2]
        ):
            return b"", offset
        data = self._copy_out(meta, path)
        if last is None or len(data) != last[2]:
            wait = COPY_MIN_INTERVAL_S
        else:
            wait = min(last[1] * 2, COPY_MAX_INTERVAL_S)
        self._copies[key] = (now, wait, len(data))
        return data[offset:], max(offset, len(data))

    def _copy_out(self, meta: TaskRecord, path: str) -> bytes:
        """The whole of file ``path`` in the task's container (empty while it does not exist)."""
        archive = self._archive(meta, path)
        if archive is None:
            return b""
        name = self._name(meta)
        try:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                member = next((m for m in tar.getmembers() if m.isfile()), None)
                fh = tar.extractfile(member) if member is not None else None
                return fh.read() if fh is not None else b""
        except tarfile.TarError as exc:
            raise ExecutorError(self.config.name, f"cannot read {path} in {name}: {exc}") from None

    def _archive(self, meta: TaskRecord, path: str) -> bytes | None:
        """What ``cp`` gives of ``path`` (a file or a directory) in the task's container, running
        or exited: a tar stream; None where there is no such path (yet)."""
        name = self._name(meta)
        for attempt in range(EMPTY_COPY_TRIES):
            try:
                call = self.rt.call("cp", f"{name}:{path}", "-")
            except RuntimeUnavailable as exc:
                raise ExecutorError(self.config.name, f"cannot read {path} in {name}: {exc}") from None
            # Under load, docker's cp (through podman's API service) now and then answers with no
            # archive at all, successfully: that says nothing of the file. Ask again.
            if call.code != 0 or call.out or attempt == EMPTY_COPY_TRIES - 1:
                break
            time.sleep(0.05 * (attempt + 1))
        if call.code == 0 and not call.out:
            if meta["status"] not in states.FINAL:
                return None  # the next poll asks again
            raise ExecutorError(
                self.config.name, f"cannot read {path} in {name}: {self.runtime} cp gave no archive"
            )
        if call.code != 0:
            if call.says(GONE):
                raise ExecutorError(self.config.name, f"container {name} is gone, and {path} with it")
            return None  # not written yet
        return call.out
