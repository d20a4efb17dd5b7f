"""The library behind every command: start, observe, list, kill, clean up, follow.

The CLI parses flags, calls a :class:`Manager` method and renders what it
returns. Everything that changes a record goes through :class:`TaskStore`
(locked, validated, atomic) and :mod:`openclaw.states` (the transitions).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Concatenate, NamedTuple, ParamSpec, TypeVar

from openclaw import faults, schema, states
from openclaw.config import AgentSettings, Config, ExecutorConfig
from openclaw.errors import (
    CorruptRecordError,
    ExecutorError,
    OpenclawError,
    StartError,
    StartInterrupted,
    UnknownTaskError,
    UsageError,
    WaitTimeout,
)
from openclaw.executors import BACKENDS, executor_class, get_executor
from openclaw.executors.base import Executor
from openclaw.procs import TASK_ENV
from openclaw.records import TaskStore
from openclaw.states import Observation
from openclaw.task import Observed, Request, TaskRecord, new_record, with_fields
from openclaw.worktree import WorktreeDirty

log = logging.getLogger("openclaw")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _telling(method: Callable[Concatenate[Manager, _P], _R]) -> Callable[Concatenate[Manager, _P], _R]:
    """A public :class:`Manager` method after which the deliveries it claimed (tasks it recorded
    final, see :mod:`openclaw.notify`) are made, however it ends."""

    @functools.wraps(method)
    def wrapper(self: Manager, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        finally:
            if self._claimed:
                self.deliver_claimed()

    return wrapper


if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from openclaw.agents.base import Agent, Controls, Launch
    from openclaw.agents.entries import Entry
    from openclaw.batch import BatchTask
    from openclaw.fleet import Choice, Fleet
    from openclaw.index import Row
    from openclaw.redact import Redactor
    from openclaw.watch import TaskWatch

#: How long a recorded error may be (it is one line of the agent's, or of ours).
ERROR_CHARS = 300
#: The task's file holding the digests of its secret values (see openclaw.redact).
REDACT_FILE = "redact"
#: Default seconds between SIGTERM and SIGKILL.
DEFAULT_GRACE_S = 5.0
#: The longest grace period, and the longest any interval or timeout flag may be: a year.
MAX_SECONDS = 365 * 24 * 3600.0
#: How long ``kill`` waits for a ``start`` of the task still running to finish.
START_WAIT_S = 120.0


def check_grace(grace: float) -> float:
    """``grace`` if it is a usable number of seconds (0 included), else a :class:`UsageError`."""
    if not math.isfinite(grace) or grace < 0 or grace > MAX_SECONDS:
        raise UsageError(
            f"--grace must be a number of seconds from 0 to {MAX_SECONDS:.0f}, not {grace!r}",
            "e.g. --grace 5",
        )
    return grace


#: ``wait`` checks the task ever less often (times this factor per check), up to this many seconds.
WAIT_BACKOFF = 1.5
#: Finished tasks the dashboard shows beside the active ones (``list`` shows them all).
RECENT_FINISHED = 20
WAIT_MAX_INTERVAL_S = 2.0
#: A task that a watch wakes on change is still looked at this often (seconds): what no watch
#: sees (a connection that died silently, a runtime follow that outlives its container) is
#: found then.
WATCH_LOOK_S = 120.0


def _dispatching(fields: dict[str, Any]) -> Callable[[TaskRecord], TaskRecord | None]:
    """The change that takes a queued task to ``pending`` with its executor's fields."""

    def change(r: TaskRecord) -> TaskRecord | None:
        return states.transition(r, states.PENDING, **fields) if r["status"] == states.QUEUED else None

    return change


def _beside(meta: TaskRecord, seen: Observed | None) -> Observed:
    """``meta`` as stored, beside what an earlier look at its task found, while that look
    saw it in the same state."""
    if seen is None or seen.record["status"] != meta["status"]:
        return Observed(meta)
    return Observed(meta, seen.observation, seen.position)


def _created(item: Observed | Row) -> str:
    return item.record["created_at"] if isinstance(item, Observed) else item.created_at


class Snapshot(NamedTuple):
    """The tasks at one moment, as the dashboard shows them: the active and queued ones and
    the newest finished, with counts over all."""

    generated_at: str
    views: list[Observed]
    counts: dict[str, int]
    total_cost_usd: float
    #: Ids of the records that could not be read.
    corrupt: list[str]
    #: Each executor's active tasks, cap and queued tasks (as ``executors --json`` has them).
    capacity: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of ``dashboard --stream``."""
        return {
            "generated_at": self.generated_at,
            "total": len(self.views),
            "counts": self.counts,
            "total_cost_usd": self.total_cost_usd,
            "corrupt": self.corrupt,
            "executors": self.capacity,
            "tasks": [view.as_json() for view in self.views],
        }


@dataclasses.dataclass(frozen=True)
class _Plan:
    """A task checked and about to be recorded: where it may go and what it asks for."""

    task_id: str
    prompt: bytes
    cands: list[ExecutorConfig]
    labels: list[str]
    request: Request
    parent_id: str | None
    priority: int
    #: The task it waits for (``--after``), by full id.
    dependency: str | None = None

    @property
    def direct(self) -> bool:
        """Whether it goes straight to its executor: no routing, no cap, nothing to wait for."""
        return not self.labels and not self.dependency and self.cands[0].max_concurrent is None


class Manager:
    """Acts on tasks for one loaded configuration and one task store."""

    def __init__(self, config: Config | Callable[[], Config], store: TaskStore | None = None) -> None:
        self._config = config
        self.store = store or TaskStore()
        self._executors: dict[str, Executor] = {}
        self._agents: dict[str, Agent] = {}
        #: Tasks this process recorded final with deliveries to make (see deliver_claimed).
        self._claimed: list[str] = []
        #: The threads that observe several executors at once (made at the first such look).
        self._pool: ThreadPoolExecutor | None = None

    @property
    def config(self) -> Config:
        """The configuration, loaded on first use (``list`` of local tasks never needs it)."""
        if callable(self._config):
            self._config = self._config()
        return self._config

    # -- executors ------------------------------------------------------------------
    def executor_for(self, name: str, executor_type: str | None = None) -> Executor:
        """The executor called ``name``.

        A task whose executor has since been removed from the config can still
        be observed and managed when it is local (nothing else is needed).
        """
        if name not in self._executors:
            if executor_type and executor_class(executor_type).standalone and not self._config_has(name):
                # This executor observes and manages its tasks with nothing from the config.
                cfg = ExecutorConfig(name=name, type=executor_type, claude_path="claude", max_turns=1)
            else:
                cfg = self.config.executor(name)
            self._executors[name] = get_executor(cfg, self.store)
        return self._executors[name]

    def _connect_ahead(self, names: set[str]) -> None:
        """Let the executors ``names`` (of the config) begin connecting, each in a thread of
        its own, while the records of their tasks are read: a look at many tasks on a host
        then costs about its round trip, not the round trip after the reading."""
        if not names:
            return
        try:
            known = {e.name for e in self.config.executors}
        except OpenclawError:
            return  # the look that follows reports it
        for name in sorted(names & known):
            try:
                self.executor_for(name).connect_early()
            except OpenclawError:
                pass  # observing reports it

    def _config_has(self, name: str) -> bool:
        if callable(self._config):
            return False
        return any(e.name == name for e in self._config.executors)

    # -- start --------------------------------------------------------------------------
    @_telling
    def start(
        self,
        prompt: bytes,
        executor: str | None = None,
        workspace: str | None = None,
        max_turns: int | None = None,
        parent_id: str | None = None,
        resume_session: str | None = None,
        *,
        agent: str | None = None,
        controls: Controls | None = None,
        timeout_s: float | None = None,
        labels: list[str] | None = None,
        priority: int = 0,
        after: str | None = None,
        worktree: bool | None = None,
        base: str | None = None,
        branch: str | None = None,
        push: str | None = None,
        tree: dict[str, str] | None = None,
        notify: list[str] | None = None,
    ) -> TaskRecord:
        """Record a new task, start its agent detached (or queue it), and return its record.

        ``agent`` defaults to the executor's; ``controls`` are what the user
        asked of the run (each refused, before anything is recorded, when the
        agent has no such control); the config's defaults fill the rest.
        ``timeout_s`` is a wall-clock limit enforced where the agent runs.
        ``labels`` route the task to an executor carrying them all; an
        executor with ``max_concurrent`` takes no more than that many at
        once: the rest are ``queued`` (see :mod:`openclaw.fleet`), by
        ``priority`` and then first come. ``after`` (a task id or prefix)
        holds the task queued until that task has completed; if it ends
        otherwise, this one fails with ``dependency <id> <state>``.

        ``worktree`` (None: as the executor's ``isolation``) runs the task in a git worktree
        and branch of its own, made from ``base`` (default: the workspace's HEAD) on
        ``branch`` (default ``openclaw/<short id>``); ``push`` names the remote its branch is
        pushed to when it completes; ``tree`` is an existing worktree to go on in (resume).
        See :mod:`openclaw.worktree`. ``notify`` lists webhooks told when the task ends,
        beside the config's (see :mod:`openclaw.notify`).

        A start the executor knows failed is recorded ``failed`` with the
        reason and raised as :class:`StartError` carrying the task id; one cut
        short (Ctrl-C: :class:`StartInterrupted`, a crash, a lost connection)
        stays ``pending`` for the next observation to settle.
        """
        plan = self._plan(
            prompt,
            executor,
            workspace,
            max_turns,
            parent_id,
            resume_session,
            agent=agent,
            controls=controls,
            timeout_s=timeout_s,
            labels=labels,
            priority=priority,
            git=dict(isolate=worktree, base=base, branch=branch, push=push, tree=tree),
            notify=notify,
        )
        if after is not None:
            plan = dataclasses.replace(plan, dependency=self._dependency(after))
        if plan.direct and not self.store.queued():
            # No routing, no cap, no dependency, nothing queued: straight to the executor, as ever.
            return self._start_direct(plan)
        # The fleet's way: the task joins the queue, and the queue is drained in order.
        self._enqueue(plan)
        self.drain(first=plan.task_id)
        return self.store.read(plan.task_id)

    def _plan(
        self,
        prompt: bytes,
        executor: str | None,
        workspace: str | None,
        max_turns: int | None,
        parent_id: str | None,
        resume_session: str | None,
        *,
        agent: str | None,
        controls: Controls | None,
        timeout_s: float | None,
        labels: list[str] | None,
        priority: int,
        git: dict[str, Any] | None = None,
        notify: list[str] | None = None,
    ) -> _Plan:
        """A task to start, checked: everything that can be refused is refused here, before
        anything is recorded."""
        if not prompt.strip():
            raise UsageError("the prompt is empty", "pass --prompt TEXT, --prompt-file PATH or --prompt -")
        if max_turns is not None and max_turns < 1:
            raise UsageError(f"--max-turns must be at least 1, not {max_turns}")
        from openclaw.agents.base import Controls

        asked = dataclasses.replace(controls or Controls(), max_turns=max_turns)
        wanted = sorted(set(labels or []))
        # Without labels the fleet (routing, the queue) is only needed for a capped executor.
        cands = self.fleet.candidates(wanted, executor) if wanted else [self.config.executor(executor)]
        for c in cands:
            # A flag the agent does not have is refused before anything is made.
            self._agent(agent or c.agent).check(asked)
        return _Plan(
            task_id=str(uuid.uuid4()),
            prompt=prompt,
            cands=cands,
            labels=wanted,
            request=Request(
                agent, workspace, asked, timeout_s, resume_session, **(git or {}), notify=tuple(notify or ())
            ),
            parent_id=parent_id,
            priority=priority,
        )

    def _start_direct(self, plan: _Plan) -> TaskRecord:
        """Record ``plan`` and hand it to its (only, uncapped) executor at once."""
        cfg = plan.cands[0]
        task_id = plan.task_id
        schema.preload(schema.META_SCHEMA)  # see _prepare: before an executor connects early
        fields, spec, backend, the_agent = self._prepare(cfg, task_id, plan.request, early=True)
        meta = new_record(
            task_id=task_id, prompt=plan.prompt, parent_id=plan.parent_id, priority=plan.priority, **fields
        )
        starting = self._hold_start(task_id)
        try:
            self.store.create(meta)
        except BaseException:
            self._release_start(task_id, starting)
            self._drop_worktree(backend, meta, plan.request)
            raise
        return self._launch(backend, the_agent, meta, spec, plan.prompt, starting)

    def _enqueue(self, plan: _Plan) -> None:
        """Record ``plan`` as queued, for the next drain to dispatch."""
        from openclaw.fleet import Choice

        first = plan.cands[0]
        request = plan.request
        dependency = plan.dependency
        queued = new_record(
            task_id=plan.task_id,
            executor=first.name,
            executor_type=first.type,
            agent=request.agent or first.agent,
            prompt=plan.prompt,
            workspace=request.workspace or "",
            command=[],
            max_turns=request.controls.max_turns,
            parent_id=plan.parent_id,
            labels=plan.labels,
            timeout_s=request.timeout_s,
            model=request.controls.model,
            priority=plan.priority,
            after=dependency,
            status=states.QUEUED,
            notify_to=list(request.notify),
        )
        waiting = f"waiting for task {dependency} to complete" if dependency else "waiting for a free slot"
        queued = with_fields(
            queued,
            request=request.as_json(),
            routing=Choice(plan.labels, [c.name for c in plan.cands], None, waiting).as_json(),
        )
        with self.fleet.locked():
            self.fleet.enqueue(plan.task_id)
            self.store.create(queued)
            self._write_prompt(plan.task_id, plan.prompt)

    @_telling
    def start_batch(self, tasks: list[BatchTask]) -> list[TaskRecord | OpenclawError]:
        """Start every task of a batch (``start --from``); return each one's record, or the
        error that kept it from starting (its record, if it has one, says so too).

        Every task is checked first: one that would be refused (an unknown executor, labels
        nobody carries, an ``after`` naming no task, a dependency cycle) refuses the whole
        batch, naming its line, and nothing is recorded. Then the tasks that wait (for a slot
        or another task) are queued, and the rest go to their executors in parallel: one
        thread and one connection per executor, its tasks one after another.
        """
        from concurrent.futures import ThreadPoolExecutor

        from openclaw.batch import order

        plans: list[_Plan] = []
        for t in tasks:
            try:
                plans.append(
                    self._plan(
                        t.prompt,
                        t.executor,
                        t.workspace,
                        t.max_turns,
                        None,
                        None,
                        agent=t.agent,
                        controls=t.controls,
                        timeout_s=t.timeout_s,
                        labels=t.labels,
                        priority=t.priority,
                    )
                )
            except UsageError as exc:
                raise UsageError(f"{t.where}: {exc.message}", exc.hint) from None
        names = {t.name: p.task_id for t, p in zip(tasks, plans, strict=True) if t.name}
        for n, (t, p) in enumerate(zip(tasks, plans, strict=True)):
            if t.after is None:
                continue
            if t.after in names:
                dependency = names[t.after]
            else:
                try:
                    dependency = self._dependency(t.after)
                except UsageError:
                    raise UsageError(
                        f"{t.where}: after {t.after!r}: no task or line of that name in the batch",
                        'name a task id, or the "name" of another line',
                    ) from None
            plans[n] = dataclasses.replace(p, dependency=dependency)
        sequence = order(tasks)  # dependencies first; a cycle is refused
        results: dict[str, TaskRecord | OpenclawError] = {}
        direct: dict[str, list[_Plan]] = {}
        for n in sequence:
            plan = plans[n]
            if plan.direct:
                direct.setdefault(plan.cands[0].name, []).append(plan)
            else:
                self._enqueue(plan)

        def run(group: list[_Plan]) -> None:
            if len(group) > 1:
                results.update(self._start_group(group))
                return
            try:
                results[group[0].task_id] = self._start_direct(group[0])
            except OpenclawError as exc:
                results[group[0].task_id] = exc

        if direct:
            with ThreadPoolExecutor(max_workers=min(16, len(direct))) as pool:
                for future in [pool.submit(run, group) for group in direct.values()]:
                    future.result()
        self._drain_quietly()
        out: list[TaskRecord | OpenclawError] = []
        for plan in plans:
            got = results.get(plan.task_id)
            if isinstance(got, OpenclawError):
                out.append(got)
                continue
            try:
                out.append(self.store.read(plan.task_id))
            except OpenclawError as exc:
                out.append(exc)
        return out

    def _dependency(self, ref: str) -> str:
        """The full id of the task ``--after`` names; :class:`UsageError` when there is none."""
        try:
            return self.store.resolve(ref)
        except UnknownTaskError as exc:
            if exc.candidates:
                raise UsageError(f"--after: {exc.message}", exc.hint) from None
            raise UsageError(
                f"--after: no task with id {ref!r}", "name a task that exists ('openclaw-agent list')"
            ) from None

    def _dependency_state(self, task_id: str) -> str | None:
        """``completed``, another final state, or None (still to come) for the task a queued one
        waits for; ``removed`` when its record is gone."""
        try:
            status = self.store.read(task_id)["status"]
        except UnknownTaskError:
            return "removed"
        except CorruptRecordError:
            return "unreadable"
        return status if status in states.FINAL else None

    def route(self, executor: str | None, labels: list[str], agent: str | None = None) -> Choice:
        """Where a task would go now (``start --dry-run``): nothing is recorded or started."""
        from openclaw.fleet import Choice

        wanted = sorted(set(labels))
        cands = self.fleet.candidates(wanted, executor)
        for c in cands:
            self._agent(agent or c.agent)  # an unknown agent is refused here too
        with self.fleet.locked():
            used = {c.name: self.fleet.used(c) for c in cands}
            choice = self.fleet.choose(wanted, cands, used)
            ahead = len(self._queued()) if (wanted or cands[0].max_concurrent is not None) else 0
        if ahead:
            why = f"{ahead} task(s) already queued go first"
            return Choice(wanted, choice.candidates, None, why, choice.free)
        return choice

    @property
    def fleet(self) -> Fleet:
        """Routing, capacity and the queue for this configuration and store."""
        from openclaw.fleet import Fleet

        return Fleet(self.store, lambda: self.config)

    def _queued(self) -> list[TaskRecord]:
        """The queued tasks in dispatch order (priority, then first come); stale markers go."""
        out = []
        for task_id in self.fleet.waiting():
            try:
                m = self.store.read(task_id)
            except (UnknownTaskError, CorruptRecordError):
                self.fleet.dequeue(task_id)
                continue
            if m["status"] != states.QUEUED:
                self.fleet.dequeue(task_id)
                continue
            out.append(m)
        out.sort(key=lambda m: (-(m.get("priority") or 0), m["created_at"]))
        return out

    @_telling
    def drain(self, first: str | None = None) -> list[str]:
        """Dispatch queued tasks to free slots, in order; return the ids dispatched.

        Decided under the dispatch lock (so no slot is given twice), launched
        after it (a launch may take an SSH handshake). ``first``: a task of
        this process's own ``start``, whose launch errors are raised.
        """
        if not self.store.queued():
            return []
        # A slot frees when its task is seen to end: look at the holders first (one batch
        # per executor), outside the lock, as any refresh would.
        # So does a task another waits for (--after).
        held = []
        looks = set(self.fleet.holders())
        for queued_id in self.fleet.waiting():
            with contextlib.suppress(OpenclawError, OSError):
                looks.add(self.store.read(queued_id).get("after") or "")
        for held_id in looks - {""}:
            with contextlib.suppress(OpenclawError):
                held.append(self.store.read(held_id))
        with contextlib.suppress(OpenclawError):
            self.refresh([m for m in held if m["status"] in states.ACTIVE], drop_vanished=True)
        launches = []
        with self.fleet.locked():
            used: dict[str, int] = {}
            for m in self._queued():
                task_id = m["task_id"]
                dependency = m.get("after")
                if dependency:
                    state = self._dependency_state(dependency)
                    if state is None:
                        continue  # still to come
                    if state != states.COMPLETED:
                        self._fail_queued(task_id, f"dependency {dependency} {state}")
                        continue
                routing = m.get("routing") or {}
                labels = list(routing.get("labels") or [])
                try:
                    cands = self.fleet.candidates(labels, None if labels else m["executor"])
                except UsageError as exc:  # the config changed under it
                    self._fail_queued(task_id, exc.one_line())
                    continue
                for c in cands:
                    if c.name not in used:
                        used[c.name] = self.fleet.used(c)
                choice = self.fleet.choose(labels, cands, used)
                if choice.picked is None:
                    continue
                cfg = next(c for c in cands if c.name == choice.picked)
                if not self.store.file(task_id, "prompt").exists():
                    # The start that queued it was cut short before the prompt was written.
                    self._fail_queued(task_id, "its start was cut short before the prompt was saved")
                    continue
                request = Request.from_json(m.get("request") or {})
                try:
                    fields, spec, backend, the_agent = self._prepare(cfg, task_id, request)
                except OpenclawError as exc:
                    self._fail_queued(task_id, exc.one_line())
                    continue
                starting = self._hold_start(task_id)
                fields.update(
                    routing=dict(choice.as_json(), why=choice.why),
                    dispatched_at=states.now(),
                    labels=list(cfg.labels),
                )
                meta = self._update(task_id, _dispatching(fields))
                if meta["status"] != states.PENDING:  # killed meanwhile
                    self._release_start(task_id, starting)
                    self._drop_worktree(backend, dict(meta, **fields), request)  # type: ignore[arg-type]
                    continue
                self.fleet.take(cfg, task_id)
                self.fleet.dequeue(task_id)
                used[cfg.name] += 1
                launches.append((backend, the_agent, meta, spec, starting))
        dispatched = []
        for backend, the_agent, meta, spec, starting in launches:
            dispatched.append(meta["task_id"])
            try:
                self._launch(backend, the_agent, meta, spec, None, starting)
            except OpenclawError:
                if meta["task_id"] == first:
                    raise
                # Another task's launch failed: its record says why; the queue goes on.
        return dispatched

    def _fail_queued(self, task_id: str, reason: str) -> None:
        def fail(r: TaskRecord) -> TaskRecord | None:
            return states.transition(r, states.FAILED, error=reason) if r["status"] == states.QUEUED else None

        self._update(task_id, fail)
        self.fleet.dequeue(task_id)

    def _prepare(
        self, cfg: ExecutorConfig, task_id: str, request: Request, early: bool = False
    ) -> tuple[dict[str, Any], Launch, Executor, Agent]:
        """What it takes to start ``request`` on ``cfg``: the record's fields, the launch, the
        executor and the agent. Raises :class:`UsageError` for what this executor cannot do."""
        asked = request.controls
        the_agent = self._agent(request.agent or cfg.agent)
        the_agent.check(asked)
        settings = cfg.settings(the_agent.name, the_agent.binary)
        run = self._with_defaults(the_agent, asked, cfg, settings)
        backend = self.executor_for(cfg.name)
        if early:
            # The record is validated next. The validator was built first: that is CPU-bound
            # Python, and an executor may start connecting in a thread now (connect_early),
            # whose handshake would otherwise wait for the GIL at each step (~20 ms per start).
            backend.connect_early()
        ws = backend.normalize_workspace(request.workspace)
        session = the_agent.session_id(task_id, request.resume_session)
        argv = the_agent.command(
            settings.path or the_agent.binary, session or task_id, run, resume=request.resume_session
        )
        env = {**the_agent.environment(), **settings.env, **cfg.env}
        if not backend.pass_env_remote:
            env.update({n: os.environ[n] for n in cfg.pass_env if n in os.environ})
        if TASK_ENV in env:  # it tags the task's processes: only openclaw-agent sets it
            raise UsageError(
                f"executor {cfg.name!r}: {TASK_ENV} is set by openclaw-agent itself",
                "remove it from env and pass_env",
            )
        limit = request.timeout_s if request.timeout_s is not None else settings.timeout_s
        from openclaw.agents.base import Launch

        spec = Launch(
            argv=argv,
            env=env,
            agent=the_agent.label(argv),
            path_key=(settings.path_key or "agent_path") if the_agent.binary else "",
            install=the_agent.install,
            root_var=the_agent.root_var,
            timeout_s=limit,
            on_exit=self._drain_hook() if backend.here else (),
            session_state=(
                tuple(the_agent.session_state("~", ws, request.resume_session, env))
                if request.resume_session
                else ()
            ),
        )
        fields: dict[str, Any] = {
            "executor": cfg.name,
            "executor_type": cfg.type,
            "agent": the_agent.name,
            "workspace": ws,
            "command": argv,
            "env_names": sorted({*env, *(cfg.pass_env if backend.pass_env_remote else ())}),
            "max_turns": run.max_turns,
            "labels": list(cfg.labels),
            "session_id": session,
            "timeout_s": limit,
            "model": run.model,
            "controls": run.recorded(),
        }
        if request.notify:
            fields["notify_to"] = list(request.notify)
        fields.update(self._isolate(cfg, backend, task_id, ws, request))
        return fields, spec, backend, the_agent

    def _isolate(
        self, cfg: ExecutorConfig, backend: Executor, task_id: str, ws: str, request: Request
    ) -> dict[str, Any]:
        """The record fields of a task's own worktree (made now, on the executor's host), or
        of the one it goes on in (resume); nothing for a task without one."""
        isolate = request.isolate if request.isolate is not None else cfg.isolation == "worktree"
        if request.tree is not None:
            tree = request.tree
        elif isolate:
            tree, ws = backend.make_worktree(task_id, ws, request.base, request.branch)
        else:
            given = [f for f, v in (("--base", request.base), ("--branch", request.branch)) if v]
            if request.push and not given and backend.clones(ws):
                # A clone of its own (git+ on Ray): its branch is pushed where it ran.
                return {"push": {"remote": request.push}}
            given += ["--push"] if request.push else []
            if given:
                verb = "needs" if len(given) == 1 else "need"
                raise UsageError(
                    f"{' and '.join(given)} {verb} a worktree of the task's own",
                    f"add --worktree (or set isolation: worktree on executor {cfg.name!r})",
                )
            return {}
        out: dict[str, Any] = {"workspace": ws, "worktree": tree}
        if request.push:
            out["push"] = {"remote": request.push}
        return out

    def _drop_worktree(self, backend: Executor, meta: TaskRecord, request: Request | None = None) -> None:
        """Remove the worktree and branch made for a task that never launched; best effort."""
        if not meta.get("worktree") or (request is not None and request.tree is not None):
            return
        from openclaw import worktree

        with contextlib.suppress(OpenclawError, OSError):
            worktree.remove(backend, meta, force=True, delete_branch=True)

    def _drain_hook(self) -> tuple[str, ...]:
        """The command a local launcher runs when its agent exits with tasks queued: a drain,
        with this configuration, so that the queue flows with nobody watching."""
        import sys

        config = ("--config", str(self.config.path)) if self.config.exists else ()
        return (sys.executable, "-m", "openclaw", *config, "drain", "--quiet")

    def _launch(
        self,
        backend: Executor,
        agent: Agent,
        meta: TaskRecord,
        spec: Launch,
        prompt: bytes | None,
        starting: int,
    ) -> TaskRecord:
        """Hand a recorded task (pending, its starter lock held) to its executor.

        Only a StartError (the executor knows nothing runs) makes the task failed. Anything
        else that ends start early (Ctrl-C, a crash, a lost connection) leaves it pending:
        whether its agent was launched is then for the next observation to find out.
        """
        task_id = meta["task_id"]
        try:
            try:
                return self._hand_over(backend, agent, meta, spec, prompt)
            except StartError:
                raise
            except UsageError as exc:  # the executor's settings are wrong: nothing was launched
                reason = exc.one_line()
                self._update(task_id, lambda m: states.transition(m, states.FAILED, error=reason))
                raise
            except BaseException as exc:
                raise self._cut_short([task_id], exc) from None
        finally:
            self._release_start(task_id, starting)

    def _cut_short(self, task_ids: list[str], exc: BaseException) -> BaseException:
        """What a start cut short by ``exc`` raises, once each of ``task_ids`` (still pending)
        says why in its record: Ctrl-C becomes :class:`StartInterrupted`, a disk error a
        :class:`StoreError` naming the task store; anything else is raised as it is."""
        for task_id in task_ids:
            self._note_interrupted(task_id, exc)
        if isinstance(exc, KeyboardInterrupt) and task_ids:
            return StartInterrupted(task_ids[0])
        if isinstance(exc, OSError):
            from openclaw.records import store_error

            what = f"start task {task_ids[0]} in" if len(task_ids) == 1 else "start tasks in"
            return store_error(exc, what, self.store.root)
        return exc

    def _write_prompt(self, task_id: str, prompt: bytes) -> None:
        fd = os.open(self.store.file(task_id, "prompt"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(prompt)

    def _hand_over(
        self,
        backend: Executor,
        agent: Agent,
        meta: TaskRecord,
        spec: Launch,
        prompt: bytes | None,
    ) -> TaskRecord:
        """Write the prompt (a queued task's is there), hand the task to the executor, and record
        what it reports."""
        self._ready_to_launch(meta, spec, prompt)
        try:
            fields = backend.start(meta, spec)
        except StartError as exc:
            self._start_failed(meta, exc)
            raise
        return self._started(agent, meta, fields)

    def _ready_to_launch(self, meta: TaskRecord, spec: Launch, prompt: bytes | None) -> None:
        """What precedes a launch: the prompt file (a queued task's is there) and the digests
        of the task's secret values."""
        task_id = meta["task_id"]
        faults.point("start.recorded")
        if prompt is not None:
            self._write_prompt(task_id, prompt)
        self._remember_secrets(task_id, spec.env)
        from openclaw.worktree import launcher_file

        tree = launcher_file(meta)
        if tree is not None:  # the launcher commits what the agent leaves (see worktree.sh)
            with open(self.store.file(task_id, "worktree"), "wb") as fh:
                fh.write(tree)
        faults.point("start.prompt")

    def _start_failed(self, meta: TaskRecord, exc: StartError) -> None:
        """Record a start the executor reports failed (or, ``pending``, of unknown outcome)."""
        task_id = meta["task_id"]
        exc.task_id = task_id
        exc.message = self._redactor(task_id).text(exc.message)
        if exc.unreachable:
            self.fleet.note_unreachable(meta["executor"], exc.message)
        reason = exc.one_line()
        if exc.pending:
            # Unknown whether it started: it stays pending; observing it settles it.
            known = exc.fields
            self._update(
                task_id,
                lambda m: with_fields(m, **known, error=reason) if m["status"] == states.PENDING else None,
            )
        else:
            self._update(
                task_id,
                lambda m: (
                    None
                    if m["status"] in states.FINAL  # killed meanwhile
                    else states.transition(m, states.FAILED, error=reason)
                ),
            )
            # Nothing ran in the worktree made for it: it goes, with its branch.
            if (
                meta.get("worktree")
                and not (meta.get("request") or {}).get("tree")
                and not meta.get("parent_id")
            ):
                self._drop_worktree(self.executor_for(meta["executor"], meta["executor_type"]), meta)

    def _started(self, agent: Agent, meta: TaskRecord, fields: dict[str, Any]) -> TaskRecord:
        """Record what a launch reports: the task runs."""
        task_id = meta["task_id"]
        faults.point("start.launched")
        backend = self.executor_for(meta["executor"], meta["executor_type"])
        if not backend.here:
            self.fleet.note_reachable(meta["executor"])
        home = fields.pop("home", None)
        if home and meta.get("session_id"):
            workspace = fields.get("workspace", meta["workspace"])
            fields["transcript"] = agent.transcript(home, workspace, meta["session_id"] or task_id)

        # A job handed to a scheduler (Ray) runs once it places it: the next look says when.
        later = backend.places_later

        def running(m: TaskRecord) -> TaskRecord:
            if m["status"] == states.PENDING and not later:
                return states.transition(m, states.RUNNING, **fields)
            return with_fields(m, **fields)

        return self._update(task_id, running)

    def _start_group(self, plans: list[_Plan]) -> dict[str, TaskRecord | OpenclawError]:
        """Record and start ``plans``, all for one uncapped executor, through its
        :meth:`~openclaw.executors.base.Executor.start_many` (an SSH host: one round trip for
        all the prepares, one SFTP session, one for all the launches). Each task's outcome is
        its own: its record, or the error that kept it from starting (recorded in it too)."""
        cfg = plans[0].cands[0]
        schema.preload(schema.META_SCHEMA)
        results: dict[str, TaskRecord | OpenclawError] = {}
        ready: list[tuple[TaskRecord, Launch, Agent, int]] = []
        backend: Executor | None = None
        try:
            for plan in plans:
                try:
                    made = self._prepare(cfg, plan.task_id, plan.request, early=not ready)
                    fields, spec, backend, the_agent = made
                except OpenclawError as exc:
                    results[plan.task_id] = exc
                    continue
                meta = new_record(
                    task_id=plan.task_id,
                    prompt=plan.prompt,
                    parent_id=plan.parent_id,
                    priority=plan.priority,
                    **fields,
                )
                starting = self._hold_start(plan.task_id)
                try:
                    self.store.create(meta)
                except BaseException:
                    self._release_start(plan.task_id, starting)
                    self._drop_worktree(backend, meta, plan.request)
                    raise
                ready.append((meta, spec, the_agent, starting))
                self._ready_to_launch(meta, spec, plan.prompt)
            if not ready or backend is None:
                return results
            try:
                outcomes = backend.start_many([(meta, spec) for meta, spec, _, _ in ready])
            except UsageError as exc:  # the executor's settings are wrong: nothing was launched
                outcomes = [StartError(exc.message, exc.hint) for _ in ready]
            for (meta, _, the_agent, _), outcome in zip(ready, outcomes, strict=True):
                if isinstance(outcome, StartError):
                    self._start_failed(meta, outcome)
                    results[meta["task_id"]] = outcome
                else:
                    results[meta["task_id"]] = self._started(the_agent, meta, outcome)
            return results
        except BaseException as exc:
            cut = [meta["task_id"] for meta, _, _, _ in ready if meta["task_id"] not in results]
            raised = self._cut_short(cut, exc)
            if raised is exc:
                raise
            raise raised from None
        finally:
            for meta, _, _, starting in ready:
                self._release_start(meta["task_id"], starting)

    @staticmethod
    def _with_defaults(
        agent: Agent, asked: Controls, cfg: ExecutorConfig, settings: AgentSettings
    ) -> Controls:
        """``asked``, with the config's defaults for what was not asked (where the agent has it)."""
        has = agent.supports
        return dataclasses.replace(
            asked,
            model=asked.model or (settings.model if "model" in has else None),
            max_turns=asked.max_turns
            if asked.max_turns is not None
            else (cfg.max_turns if "max_turns" in has else None),
            max_budget_usd=asked.max_budget_usd
            if asked.max_budget_usd is not None
            else (settings.max_budget_usd if "max_budget_usd" in has else None),
            extra_args=(*(settings.args if "extra_args" in has else ()), *asked.extra_args),
        )

    def _note_interrupted(self, task_id: str, exc: BaseException) -> None:
        """Say in the (still pending) record why start ended early; best effort."""
        why = "Ctrl-C" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        note = f"start was interrupted ({why}) before it knew whether the agent was launched"
        try:
            self._update(
                task_id, lambda m: with_fields(m, error=note) if m["status"] == states.PENDING else None
            )
        except (OpenclawError, OSError, KeyboardInterrupt):
            pass

    # -- the starter's lock -------------------------------------------------------------------
    def _start_lock(self, task_id: str) -> str:
        return os.path.join(self.store.root, f".starting-{task_id}")

    def _hold_start(self, task_id: str) -> int:
        """Lock ``.starting-<id>`` for as long as this process starts the task.

        The kernel drops the lock when the process dies however it dies, so an
        observer that can take the lock knows no ``start`` of the task runs any
        more (see :meth:`_in_flight`). Taken before the record exists.
        """
        from openclaw.records import store_error

        self.store.ensure_root()
        try:
            fd = os.open(self._start_lock(task_id), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise store_error(exc, "start a task in", self.store.root) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _release_start(self, task_id: str, fd: int) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._start_lock(task_id))
        os.close(fd)

    def _starter_alive(self, task_id: str) -> bool:
        """Whether a ``start`` of the task still runs (holds its lock). A dead one's file is removed."""
        try:
            fd = os.open(self._start_lock(task_id), os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return True
        with contextlib.suppress(OSError):
            os.unlink(self._start_lock(task_id))  # its starter died (kill -9): a leftover
        os.close(fd)
        return False

    def _in_flight(self, meta: TaskRecord, backend: Executor) -> bool:
        """Whether a launch of this pending task, of which nothing is seen yet, may still land.

        Yes while its ``start`` runs; after that, for the executor's launch
        window (a remote script or a runtime call started before ``start``
        died may still be under way).
        """
        if self._starter_alive(meta["task_id"]):
            return True
        since = meta.get("dispatched_at") or meta["created_at"]
        age = (datetime.now(timezone.utc) - states.parse_time(since)).total_seconds()
        return age < backend.launch_window_s

    # -- secrets -------------------------------------------------------------------------------
    def _remember_secrets(self, task_id: str, env: dict[str, str]) -> None:
        """Keep what it takes to find the task's secret values later (digests, not values)."""
        from openclaw.redact import Redactor

        Redactor.from_values(env.values()).save(self.store.file(task_id, REDACT_FILE))

    def _redactor(self, task_id: str) -> Redactor:
        from openclaw.redact import Redactor

        return Redactor.load(self.store.file(task_id, REDACT_FILE))

    def _update(self, task_id: str, change: Callable[[TaskRecord], TaskRecord | None]) -> TaskRecord:
        """:meth:`TaskStore.update`, with every secret value of the task taken out of what it writes."""

        def redacted(meta: TaskRecord) -> TaskRecord | None:
            new = change(meta)
            if new is None:
                return None
            if new["status"] in states.FINAL and meta["status"] not in states.FINAL:
                # Who is to be told, claimed by this process, in the write that makes it final.
                due = self._notify_plan(new)
                if due is not None:
                    new = with_fields(new, notify=due)
                    self._claimed.append(task_id)
            new = self._redactor(task_id).record(new)
            error = new["error"]
            if error is not None and len(error) > ERROR_CHARS:
                # Cut after redaction, so a secret across the cut is still found whole.
                new = with_fields(new, error=error[: ERROR_CHARS - 1] + "…")
            return new

        return self.store.update(task_id, redacted)

    # -- notifications (openclaw.notify) -----------------------------------------------------
    def _notify_entries(self, meta: TaskRecord) -> list[dict[str, Any]]:
        """The config's ``notify:`` entries for the task: the file's, then its executor's."""
        try:
            config = self.config
        except OpenclawError:
            return []
        entries = config.notify
        with contextlib.suppress(OpenclawError):
            entries += config.executor(meta["executor"]).notify
        return entries

    def _notify_plan(self, meta: TaskRecord) -> dict[str, Any] | None:
        from openclaw import notify

        return notify.plan(meta, notify.targets(meta, self._notify_entries(meta)))

    def deliver_claimed(self) -> None:
        """Make the deliveries this process claimed when it recorded tasks final."""
        while self._claimed:
            self._deliver(self._claimed.pop(0))

    def _deliver(self, task_id: str) -> None:
        """Tell the targets of a task whose deliveries this process holds; record each outcome."""
        from openclaw import notify

        try:
            meta = self.store.read(task_id)
        except OpenclawError:
            return
        if not notify.mine(meta.get("notify")):
            return
        found = notify.targets(meta, self._notify_entries(meta))
        outcomes = notify.deliver(meta, found, notify.body_of(meta))
        for item in outcomes:
            log.info("task %s %s: told %s: %s", task_id, meta["status"], item["to"], item["outcome"])

        def done(m: TaskRecord) -> TaskRecord | None:
            held = m.get("notify")
            if not notify.mine(held):
                return None
            return with_fields(m, notify=dict(held or {}, state="done", claim=None, deliveries=outcomes))

        with contextlib.suppress(UnknownTaskError):
            self._update(task_id, done)

    def redeliver(self, meta: TaskRecord) -> TaskRecord:
        """Take over the pending deliveries of ``meta`` whose process is gone (a crash between
        recording the final state and telling), and make them; the record after."""
        from openclaw import notify

        if not notify.orphaned(meta.get("notify")):
            return meta

        def take(m: TaskRecord) -> TaskRecord | None:
            held = m.get("notify")
            if not notify.orphaned(held):
                return None
            return with_fields(m, notify=dict(held or {}, claim=notify.claim()))

        try:
            taken = self._update(meta["task_id"], take)
        except UnknownTaskError:
            return meta
        if not notify.mine(taken.get("notify")):
            return taken
        self._deliver(meta["task_id"])
        return self.store.read(meta["task_id"])

    def redeliver_all(self) -> int:
        """:meth:`redeliver` every finished task whose deliveries are pending; how many."""
        import sqlite3

        try:
            pending = self.store.index.notify_pending()
        except (sqlite3.Error, OSError):
            return 0
        for task_id in pending:
            with contextlib.suppress(OpenclawError):
                meta = self.store.read(task_id)
                if meta["status"] in states.FINAL:
                    self.redeliver(meta)
        return len(pending)

    # -- observe --------------------------------------------------------------------------
    @_telling
    def refresh(self, metas: list[TaskRecord], drop_vanished: bool = False) -> list[Observed]:
        """Bring the active tasks among ``metas`` up to date; return each record, updated, beside
        what observing it found (None for a task that was not observed: a final one).

        Tasks are observed in one batch per executor. An observation that
        could not tell changes nothing in the record: it is returned beside it
        (shown as ``unknown``). A task removed while it is being updated
        (``cleanup`` in another process) is dropped from the result with
        ``drop_vanished`` (``list``, ``dashboard``); without it, that raises
        :class:`UnknownTaskError`, as for a task that is gone.
        """
        by_executor: dict[str, list[TaskRecord]] = {}
        for m in metas:
            if m["status"] in states.ACTIVE:
                by_executor.setdefault(m["executor"], []).append(m)
        updated: dict[str, Observed] = {}
        vanished: set[str] = set()
        results = self._observe_all(by_executor)
        for name, batch in by_executor.items():
            observations = results[name]
            for m in batch:
                obs = observations.get(m["task_id"])
                if obs is None:
                    continue
                if obs.reason:  # it may be shown: no secret value of the task in it
                    obs = dataclasses.replace(obs, reason=self._redactor(m["task_id"]).text(obs.reason))
                record = m
                if states.settle(m, self._adopting(m, obs)) is not None:
                    applied = self._apply(m, obs)
                    if applied is None:
                        if not drop_vanished:
                            raise UnknownTaskError(m["task_id"])
                        vanished.add(m["task_id"])
                        continue
                    record = self._keep_session(self._wrap_up(applied))
                updated[m["task_id"]] = Observed(record, obs)
        return [updated.get(m["task_id"], Observed(m)) for m in metas if m["task_id"] not in vanished]

    def _observe_all(self, by_executor: dict[str, list[TaskRecord]]) -> dict[str, dict[str, Observation]]:
        """Observe every executor's batch; several executors (hosts) are polled in parallel."""
        if len(by_executor) <= 1:
            return {name: self._observe(name, batch) for name, batch in by_executor.items()}
        from concurrent.futures import ThreadPoolExecutor

        for name, batch in by_executor.items():  # create them here, not racing in the threads
            try:
                self.executor_for(name, batch[0]["executor_type"])
            except OpenclawError:
                pass  # _observe reports it
        if self._pool is None:  # kept for the next look (serve looks every few seconds)
            self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="openclaw-observe")
        futures = {name: self._pool.submit(self._observe, name, batch) for name, batch in by_executor.items()}
        return {name: future.result() for name, future in futures.items()}

    def _observe(self, name: str, batch: list[TaskRecord]) -> dict[str, Observation]:
        try:
            backend = self.executor_for(name, batch[0]["executor_type"])
            found = backend.observe(batch)
        except UsageError as exc:
            return {m["task_id"]: Observation(alive=None, reason=exc.one_line()) for m in batch}
        if not backend.here and found:
            # Routing passes over an executor that did not answer (see Fleet.choose).
            looks = list(found.values())
            if all(o.alive is None and o.exit_code is None and o.reason for o in looks):
                why = self._redactor(batch[0]["task_id"]).text(str(looks[0].reason))
                self.fleet.note_unreachable(name, why)
            else:
                self.fleet.note_reachable(name)
        for m in batch:
            obs = found.get(m["task_id"])
            if obs is not None and obs.exit_code is not None:
                obs = found[m["task_id"]] = self._judged(m, obs)
            if (
                obs is not None
                and m["status"] == states.PENDING
                and m.get("pid") is None
                and obs.alive is False
                and obs.exit_code is None
                and not obs.started
            ):
                # Nothing of it is seen: a launch may still be under way, or it never happened.
                in_flight = obs.in_flight or self._in_flight(m, backend)
                found[m["task_id"]] = dataclasses.replace(obs, in_flight=in_flight)
        return found

    def _judged(self, meta: TaskRecord, obs: Observation) -> Observation:
        """``obs`` of an exited agent, judged by the task's agent (what ``completed`` means)."""
        if obs.exit_code is None or obs.succeeded is not None:
            return obs
        judged = self._agent(meta["agent"]).judge(obs)
        if obs.reason and not judged.succeeded:
            # What the executor knows of the exit (the container was OOM-killed) says more.
            judged = dataclasses.replace(judged, reason=obs.reason)
        return judged

    def _agent(self, name: str) -> Agent:
        if name not in self._agents:
            from openclaw.agents import get_agent

            self._agents[name] = get_agent(name)
        return self._agents[name]

    def _apply(self, seen: TaskRecord, obs: Observation) -> TaskRecord | None:
        """Record what ``obs`` (made of the task as ``seen``) settles; None when the task was
        removed meanwhile.

        An observation is only as good as the record it was made against: one made of a
        pending task with no pid says nothing of the process that another ``start`` recorded
        since. When the record moved on meanwhile (state or pid), the observation is dropped,
        and the record is kept as it now is (the next observation sees it whole).
        """

        def change(m: TaskRecord) -> TaskRecord | None:
            if m["status"] != seen["status"] or m.get("pid") != seen.get("pid"):
                return None
            return states.settle(m, self._adopting(m, obs))

        try:
            return self._update(seen["task_id"], change)
        except UnknownTaskError:  # cleaned up meanwhile
            return None

    def _keep_session(self, meta: TaskRecord) -> TaskRecord:
        """A task of an agent that picks its own session id (Codex, OpenCode) has just ended:
        the id it printed is recorded while its output is there to read (a container's goes
        with the container), for ``resume``. Read once, at the end; not found, nothing changes."""
        if meta["status"] not in states.FINAL or meta.get("session_id"):
            return meta
        from openclaw.agents.base import Agent as Interface

        agent = self._agent(meta["agent"])
        if type(agent).session_from_output is Interface.session_from_output:
            return meta  # it prints none: its id is known up front, or it has no sessions
        session = self._session_of(meta)
        if not session:
            return meta
        try:
            return self._update(
                meta["task_id"], lambda m: with_fields(m, session_id=m.get("session_id") or session)
            )
        except OpenclawError:
            return meta  # removed meanwhile

    def _wrap_up(self, meta: TaskRecord) -> TaskRecord:
        """A task in a worktree of its own has just ended: what it left is committed and its
        change measured, where the launcher could not (a container; a launcher killed outright),
        and its branch pushed when that was asked and it completed. A push that fails is
        recorded in ``push``; it does not change the task's state."""
        if not meta.get("worktree") or meta["status"] not in states.FINAL:
            return meta
        push = meta.get("push") or {}
        to_push = meta["status"] == states.COMPLETED and push and not (push.get("ref") or push.get("error"))
        if meta.get("changes") and not to_push:
            return meta
        from openclaw import worktree

        fields: dict[str, Any] = {}
        try:
            backend = self.executor_for(meta["executor"], meta["executor_type"])
            if not meta.get("changes"):
                changes = worktree.finish(backend, meta)
                if changes is not None:
                    fields["changes"] = changes.as_json()
            if to_push:
                try:
                    pushed = worktree.push(backend, meta, push["remote"])
                except OpenclawError as exc:
                    pushed = {
                        "remote": push["remote"],
                        "ref": None,
                        "pushed_at": None,
                        "error": exc.one_line(),
                    }
                head = (fields.get("changes") or meta.get("changes") or {}).get("head")
                fields["push"] = dict(pushed, head=head if pushed.get("ref") else None)
        except (OpenclawError, OSError):
            pass  # the next command that asks (diff, push) says what is wrong
        if not fields:
            return meta
        try:
            return self._update(meta["task_id"], lambda m: with_fields(m, **fields))
        except UnknownTaskError:
            return meta

    def _adopting(self, meta: TaskRecord, obs: Observation) -> Observation:
        """``obs``, with the ``home`` in ``started`` turned into the transcript path, as start does."""
        if not obs.started or "home" not in obs.started:
            return obs
        started = dict(obs.started)
        home = started.pop("home")
        workspace = started.get("workspace", meta["workspace"])
        session = meta.get("session_id")
        if session:
            started["transcript"] = self._agent(meta["agent"]).transcript(home, workspace, session)
        return dataclasses.replace(obs, started=started)

    def observe(self, ref: str) -> Observed:
        """The up-to-date record of the task ``ref`` (an id or unique prefix) names, beside
        what observing it found."""
        task_id = self.store.resolve(ref)
        view = self.refresh([self.store.read(task_id)])[0]
        if view.record["status"] == states.QUEUED and self._drain_quietly():
            view = self.refresh([self.store.read(task_id)])[0]
        told = view.record.get("notify") or {}
        if view.record["status"] in states.FINAL and told.get("state") == "pending":
            # Told just now (by this refresh), or its teller died: the record as it is after.
            view = view._replace(record=self.redeliver(self.store.read(task_id)))
        return view

    @_telling
    def watch(self) -> list[Observed]:
        """One look at every active and queued task (a batch per executor: one round trip per
        host), the queue drained into what it freed, and the notifications of tasks whose teller
        died made: what ``serve`` does every interval. The tasks looked at, up to date."""
        from openclaw.index import ACTIVE_OR_WAITING

        rows, _ = self.store.catalogue(set(ACTIVE_OR_WAITING))
        views = self._live(rows)
        self.redeliver_all()
        return views

    def _drain_quietly(self) -> list[str]:
        """Let the queue flow (at every command that refreshes tasks); the ids dispatched. A
        launch that fails is in its own record, and never fails the command that drained it."""
        if self.store.queued():
            with contextlib.suppress(OpenclawError):
                return self.drain()
        return []

    def get(self, ref: str) -> TaskRecord:
        """The up-to-date record of the task ``ref`` (an id or unique prefix) names."""
        return self.observe(ref).record

    def listing(
        self,
        status: str | None = None,
        executor: str | None = None,
        looked: Mapping[str, Observed] | None = None,
    ) -> tuple[list[Observed | Row], list[CorruptRecordError]]:
        """What ``list`` shows, newest first, filtered by the state shown (``unknown``
        included): an active or queued task up to date beside its observation, a finished
        one as its index row; and the corrupt entries skipped.

        Only the active and queued tasks are read (as records) and observed: the cost
        follows the work in flight, not the history (see :mod:`openclaw.index`). With
        ``looked`` (what a watcher such as ``serve`` last found, by task id) nothing is
        observed: each record as stored, beside that look's observation.
        """
        if status is not None and status not in (*states.ALL, states.UNKNOWN):
            raise UsageError(
                f"unknown status {status!r}", f"use one of: {', '.join(states.ALL)}, {states.UNKNOWN}"
            )
        from openclaw.index import ACTIVE_OR_WAITING

        # An active task may be found finished by this very look: it is read whatever is asked.
        wanted = None if status is None else {*states.ACTIVE, *({status} - {states.UNKNOWN})}
        rows, bad = self.store.catalogue(wanted, executor)
        done: list[Observed | Row] = [r for r in rows if r.status not in ACTIVE_OR_WAITING]
        views = self._live([r for r in rows if r.status in ACTIVE_OR_WAITING], looked)
        items: list[Observed | Row] = [*views, *done]
        if status is not None:
            items = [i for i in items if i.status == status]
        items.sort(key=_created, reverse=True)
        return items, bad

    def _live(self, rows: list[Row], looked: Mapping[str, Observed] | None = None) -> list[Observed]:
        """The active and queued tasks of ``rows`` up to date (read, observed),
        the queue drained into what their look freed, and each queued one's place in it; with
        ``looked``, only read, each beside what that earlier look found."""
        if looked is None:
            self._connect_ahead({r.executor for r in rows if r.status in states.ACTIVE})
        metas = self.store.records_of(rows)
        if looked is not None:
            return [_beside(m, looked.get(m["task_id"])) for m in metas]
        if any(m["status"] == states.QUEUED for m in metas):
            self.fleet.mark_queued(metas)  # a queued task whose marker was lost is found again
        views = self.refresh(metas, drop_vanished=True)  # removed meanwhile: not listed
        if any(v.record["status"] == states.QUEUED for v in views):
            # Slots freed by the tasks just seen to end go to the queue, in order.
            moved = set(self._drain_quietly())
            if moved:
                again = self.refresh([self.store.read(t) for t in moved], drop_vanished=True)
                fresh = {v.record["task_id"]: v for v in again}
                views = [fresh.get(v.record["task_id"], v) for v in views]
        if any(v.record["status"] == states.QUEUED for v in views):
            order = {m["task_id"]: n for n, m in enumerate(self._queued(), 1)}
            views = [v._replace(position=order.get(v.record["task_id"])) for v in views]
        return views

    def list_tasks(
        self,
        status: str | None = None,
        executor: str | None = None,
        looked: Mapping[str, Observed] | None = None,
    ) -> tuple[list[Observed], list[CorruptRecordError]]:
        """:meth:`listing`, each task as its whole record beside its observation."""
        items, bad = self.listing(status, executor, looked)
        rows = [i for i in items if not isinstance(i, Observed)]
        records = {m["task_id"]: m for m in self.store.records_of(rows)}
        views = [
            i if isinstance(i, Observed) else Observed(records[i.task_id])
            for i in items
            if isinstance(i, Observed) or i.task_id in records
        ]
        return views, bad

    # -- kill and cleanup -------------------------------------------------------------------
    @_telling
    def kill(self, ref: str, grace: float = DEFAULT_GRACE_S) -> tuple[TaskRecord, bool]:
        """Kill the task's processes; return its record and whether this call killed it.

        A task already in a final state is left exactly as it is. A task
        still being started is killed once its ``start`` has launched it (or
        given up), so that nothing it launches afterwards escapes the kill.
        """
        check_grace(grace)
        task_id = self.store.resolve(ref)
        self._wait_for_start(task_id)
        if self.store.read(task_id)["status"] == states.QUEUED:
            with self.fleet.locked():  # no drain dispatches it meanwhile
                meta = self._update(
                    task_id,
                    lambda m: states.transition(m, states.KILLED) if m["status"] == states.QUEUED else None,
                )
                self.fleet.dequeue(task_id)
            if meta["status"] == states.KILLED:
                return meta, True
        view = self.observe(task_id)
        meta = view.record
        if meta["status"] in states.FINAL:
            return meta, False
        if meta["status"] == states.PENDING and meta.get("pid") is None and not view.unknown:
            backend = self.executor_for(meta["executor"], meta["executor_type"])
            if self._in_flight(meta, backend):
                # Its start died, but what it sent (a remote script, a run -d) may still launch
                # the agent: a kill now would be recorded, and then overtaken by that launch.
                raise ExecutorError(
                    meta["executor"],
                    f"task {task_id} may still be launching: its start was cut short, and a launch "
                    f"it sent can land for up to {backend.launch_window_s:g} s after the task was made",
                    "try again in a moment: 'openclaw-agent status' shows it running if it landed",
                )

        def request(m: TaskRecord) -> TaskRecord | None:
            if m["status"] in states.FINAL or m.get("kill_requested_at"):
                return None
            return with_fields(m, kill_requested_at=states.now())

        meta = self._update(task_id, request)
        if meta["status"] in states.FINAL:
            return meta, False
        backend = self.executor_for(meta["executor"], meta["executor_type"])
        try:
            backend.kill(meta, grace)
            obs = self._judged(meta, backend.observe([meta])[task_id])
            if obs.alive:
                raise ExecutorError(meta["executor"], f"task {task_id} still runs after SIGKILL")
            if obs.alive is None and obs.exit_code is None:
                raise ExecutorError(
                    meta["executor"],
                    f"cannot tell whether task {task_id} stopped: {obs.reason or 'no answer'}",
                    "try again when the executor answers",
                )
        except OpenclawError:
            # The kill did not happen: withdraw the request, so a later exit is judged as usual.
            self._update(
                task_id,
                lambda m: None if m["status"] in states.FINAL else with_fields(m, kill_requested_at=None),
            )
            raise

        def finish(m: TaskRecord) -> TaskRecord | None:
            settled = states.settle(m, self._adopting(m, obs))
            if settled is None and m["status"] not in states.FINAL:
                return states.transition(m, states.KILLED)
            return settled

        meta = self._keep_session(self._wrap_up(self._update(task_id, finish)))
        return meta, meta["status"] == states.KILLED

    def _wait_for_start(self, task_id: str, timeout: float = START_WAIT_S) -> None:
        """Return once no ``start`` of the task runs (its lock is free); OpenclawError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self._starter_alive(task_id):
            if time.monotonic() > deadline:
                raise OpenclawError(f"task {task_id} is still being started", "try again in a moment")
            time.sleep(0.05)

    def kill_orphans(self, task_id: str, grace: float = DEFAULT_GRACE_S) -> int:
        """Stop the processes on this machine that carry ``task_id``, for a task with no record left.

        A task whose directory was deleted while it ran has no record to say
        where it runs; on this machine its processes still carry
        ``OPENCLAW_TASK_ID``. Returns how many were stopped.
        """
        from openclaw import procs
        from openclaw.records import check_task_id

        check_grace(grace)
        return procs.kill_task_processes(None, None, check_task_id(task_id), grace)

    @_telling
    def cleanup(
        self, ref: str, force: bool = False, grace: float = DEFAULT_GRACE_S, delete_branch: bool = False
    ) -> tuple[str, list[str]]:
        """Remove the task's record and files (killing it first with ``force``).

        A task's own worktree goes too (unless a resumed task goes on in it), its branch
        only with ``delete_branch``; a worktree holding changes not yet committed to the
        branch is refused without ``force``.

        Returns the task id and warnings. Without ``force`` an executor that
        cannot be reached (or is no longer configured) keeps the record. With
        ``force`` the record goes anyway, and the warnings say what may be left
        on the executor: a decommissioned host must not pin a record forever.
        """
        task_id = self.store.resolve(ref)
        try:
            meta = self.get(task_id)
        except CorruptRecordError:
            if not force:
                raise
            for kind in BACKENDS:  # what the task's own files here say finds what is left of it
                executor_class(kind).kill_unrecorded(self.store, task_id, grace)
            with self.store.lock(task_id):
                self.store.remove(task_id)
            return task_id, []
        left: list[str] = []
        status = meta["status"]
        if status == states.QUEUED:  # nothing was launched: it just leaves the queue
            with self.fleet.locked():
                if self.store.read(task_id)["status"] == states.QUEUED:
                    self.fleet.dequeue(task_id)
                    with self.store.lock(task_id):
                        self.store.remove(task_id)
                    return task_id, []
            meta = self.get(task_id)  # dispatched meanwhile
            status = meta["status"]
        if status in states.ACTIVE and not force:
            raise UsageError(
                f"task {task_id} is {status}",
                "kill it first, or pass --force to kill and remove it",
            )
        if force:
            try:
                if status in states.ACTIVE:
                    self.kill(task_id, grace)
                else:  # over, but a process it left behind would outlive its record: sweep
                    self.executor_for(meta["executor"], meta["executor_type"]).kill(meta, grace)
            except (ExecutorError, UsageError) as exc:  # unreachable, or no longer configured
                left.append(f"not killed, processes of the task may still run: {exc.message}")
        try:
            backend = self.executor_for(meta["executor"], meta["executor_type"])
            if meta.get("worktree"):
                left += self._remove_worktree(backend, meta, force, delete_branch)
            backend.cleanup(meta)
        except WorktreeDirty:
            raise
        except (ExecutorError, UsageError) as exc:
            if not force:
                exc.hint = (
                    f"{exc.hint}; " if exc.hint else ""
                ) + "or pass --force to remove the record anyway"
                raise
            left.append(f"its files on the executor remain: {exc.message}")
        with self.store.lock(task_id):
            self.store.remove(task_id)
        return task_id, left

    def _remove_worktree(
        self, backend: Executor, meta: TaskRecord, force: bool, delete_branch: bool
    ) -> list[str]:
        """Remove the task's worktree (and branch) unless another task goes on in it; warnings."""
        import sqlite3

        from openclaw import worktree

        tree = meta["worktree"] or {}
        try:
            others = [
                t
                for t in self.store.index.sharing(meta["executor"], tree["path"], meta["task_id"])
                if os.path.isdir(self.store.path(t))
            ]
        except (sqlite3.Error, OSError):
            others = []
        if others:
            return [f"its worktree {tree['path']} stays: task {others[0]} goes on in it"]
        worktree.remove(backend, meta, force, delete_branch)
        return []

    # -- what a task changed (openclaw.worktree) ------------------------------------------------
    def diff(self, ref: str, mode: str = "patch") -> tuple[TaskRecord, bytes | list[dict[str, Any]]]:
        """What the task changed since its base (see :func:`openclaw.worktree.diff`)."""
        from openclaw import worktree

        meta = self.get(ref)
        return meta, worktree.diff(self._git_backend(meta), meta, mode)

    def apply(self, ref: str, to: str | None = None, force: bool = False) -> tuple[TaskRecord, str]:
        """Bring the task's change into a checkout (see :func:`openclaw.worktree.apply`); the
        record and the checkout it went to."""
        from openclaw import worktree

        meta = self.get(ref)
        if meta["status"] in states.ACTIVE:
            raise UsageError(
                f"task {meta['task_id']} is {meta['status']}: its change is not finished",
                "wait for it ('openclaw-agent wait'), or kill it first",
            )
        return meta, worktree.apply(self._git_backend(meta), meta, to, force, str(self.store.root))

    def push(self, ref: str, remote: str | None = None) -> TaskRecord:
        """Push the task's branch from the host where it ran (see :func:`openclaw.worktree.push`)
        to ``remote`` (default: the one ``start --push`` named, else ``origin``), and record
        the outcome in ``push``; a failure is raised after it is recorded."""
        from openclaw import worktree

        meta = self.get(ref)
        if meta["status"] in states.ACTIVE:
            raise UsageError(
                f"task {meta['task_id']} is {meta['status']}: its branch is not finished",
                "wait for it ('openclaw-agent wait'), or kill it first",
            )
        target = remote or (meta.get("push") or {}).get("remote") or "origin"
        pushed = worktree.push(self._git_backend(meta), meta, target)
        head = (meta.get("changes") or {}).get("head") if pushed.get("ref") else None
        meta = self._update(meta["task_id"], lambda m: with_fields(m, push=dict(pushed, head=head)))
        if pushed.get("error"):
            raise ExecutorError(
                meta["executor"],
                f"pushing {meta['worktree']['branch']} to {target} failed: {pushed['error']}",  # type: ignore[index]
                "check the remote and that host's git credentials, then 'openclaw-agent push' again",
            )
        return meta

    def _git_backend(self, meta: TaskRecord) -> Executor:
        """The executor whose host holds the task's git work."""
        return self.executor_for(meta["executor"], meta["executor_type"])

    def cleanup_finished(self) -> tuple[list[str], list[tuple[str, OpenclawError]]]:
        """Clean up every finished task; return the ids removed and the tasks kept, with why.

        One task whose executor cannot be reached does not stop the others.
        """
        views, _ = self.list_tasks()
        removed: list[str] = []
        failures: list[tuple[str, OpenclawError]] = []
        for m in (v.record for v in views):
            if m["status"] in states.FINAL:
                try:
                    removed.append(self.cleanup(m["task_id"])[0])
                except OpenclawError as exc:
                    failures.append((m["task_id"], exc))
        return removed, failures

    # -- output ------------------------------------------------------------------------------
    def _read(self, meta: TaskRecord, source: str) -> Callable[[TaskRecord, int], tuple[bytes, int]]:
        """A reader of the task's ``source``: ``read(meta, offset)`` gives the bytes from ``offset`` on.

        ``meta`` is the task's latest record: once it is final, the reader
        returns everything up to the end of the output.
        """
        backend = self.executor_for(meta["executor"], meta["executor_type"])
        if source == "transcript":
            path = meta.get("transcript")
            if not path:
                raise UsageError(f"task {meta['task_id']} has no transcript path recorded (it never started)")
            return lambda m, offset: backend.read_path(m, path, offset)
        if source not in ("stdout", "stderr"):
            raise UsageError(f"unknown --source {source!r}", "use one of: stdout, stderr, transcript")
        return lambda m, offset: backend.read_from(m, source, offset)

    def _secrets(self, meta: TaskRecord) -> list[bytes]:
        """Values that must never be shown: the executor's env and pass_env values, and the
        env of the task's agent (``agents.<name>.env``)."""
        try:
            cfg = self.config.executor(meta["executor"])
        except OpenclawError:
            return []
        agent_env = cfg.settings(meta["agent"], "").env
        given = [*cfg.env.values(), *agent_env.values(), *(os.environ.get(n, "") for n in cfg.pass_env)]
        values = [v for v in given if len(v) >= 4]
        # As written, and as they appear inside JSON strings (stream-json escapes " \ and controls).
        forms = {v.encode() for v in values} | {json.dumps(v)[1:-1].encode() for v in values}
        forms |= {json.dumps(v, ensure_ascii=False)[1:-1].encode() for v in values}
        return sorted(forms, key=len, reverse=True)

    @staticmethod
    def _redact(data: bytes, secrets: list[bytes]) -> bytes:
        for secret in secrets:
            data = data.replace(secret, b"[redacted]")
        return data

    def tail(self, ref: str, lines: int, source: str = "stdout") -> tuple[TaskRecord, list[bytes]]:
        """The task's record and the last ``lines`` lines of its stdout, stderr or transcript."""
        if lines < 0:
            raise UsageError(f"--lines must not be negative, not {lines}")
        meta = self.get(ref)
        if source == "transcript":
            data, _ = self._read(meta, source)(meta, 0)
            out = data.splitlines()[-lines:] if lines else []
        else:
            self._read(meta, source)  # validates the source
            backend = self.executor_for(meta["executor"], meta["executor_type"])
            out = backend.tail(meta, source, lines)
        secrets = self._secrets(meta)
        return meta, [self._redact(line, secrets) for line in out]

    def entries_from(
        self, ref: str, offset: int = 0, source: str = "stdout", limit: int = 200
    ) -> tuple[TaskRecord, list[Entry], int]:
        """The task's normalised output entries from byte ``offset`` of ``source`` on: at most
        ``limit`` whole lines of output; the record, the entries and the offset to read from
        next. Reading again from that offset gives what came after: an incremental ``logs``."""
        if offset < 0 or limit < 1:
            raise UsageError(f"offset must be 0 or more and limit at least 1, not {offset} and {limit}")
        meta = self.refresh([self.get(ref)])[0].record
        entries, after = self.entries_after(meta, offset, source, limit)
        return meta, entries, after

    def entries_after(
        self, meta: TaskRecord, offset: int = 0, source: str = "stdout", limit: int = 200
    ) -> tuple[list[Entry], int]:
        """:meth:`entries_from` for a record already at hand (nothing observed): the entries
        from byte ``offset`` of ``source``, and the offset to read from next."""
        if offset < 0 or limit < 1:
            raise UsageError(f"offset must be 0 or more and limit at least 1, not {offset} and {limit}")
        data, _ = self._read(meta, source)(meta, offset)
        lines = data.split(b"\n")[:-1][:limit]  # an unfinished last line waits for the next read
        used = sum(len(line) + 1 for line in lines)
        secrets = self._secrets(meta)
        shown = [self._redact(line, secrets) for line in lines]
        return self.entries(meta, shown, transcript=source == "transcript"), offset + used

    def tail_entries(self, ref: str, count: int, source: str = "stdout") -> tuple[TaskRecord, list[Entry]]:
        """The task's record and its last ``count`` normalised output entries."""
        want = count * 2 + 8
        while True:
            meta, lines = self.tail(ref, want, source)
            entries = self.entries(meta, lines, transcript=source == "transcript")
            if len(entries) >= count or len(lines) < want:
                return meta, entries[-count:] if count else []
            want *= 4

    def entries(self, meta: TaskRecord, lines: list[bytes], transcript: bool = False) -> list[Entry]:
        """The task's output (or transcript) lines as normalised entries, parsed by its agent."""
        return self._agent(meta["agent"]).entries(lines, transcript=transcript)

    def follow(
        self,
        meta: TaskRecord,
        interval: float,
        source: str = "stdout",
        deadline: float | None = None,
        from_start: bool = False,
    ) -> Iterator[bytes]:
        """Yield what the task's output gains, every ``interval`` seconds, until the task ends.

        Raises :class:`WaitTimeout` once ``deadline`` (a ``time.monotonic()``
        value) passes with the task still running. A queued task is followed
        once it is dispatched (to whichever executor takes it); meanwhile the
        queue is let flow.
        """
        while meta["status"] == states.QUEUED:
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(meta)
            self._drain_quietly()
            meta = self.store.read(meta["task_id"])
            if meta["status"] == states.QUEUED:
                time.sleep(min(interval, WAIT_MAX_INTERVAL_S))
        read = self._read(meta, source)
        secrets = self._secrets(meta)
        if from_start:
            offset = 0
        elif source == "transcript":
            _, offset = read(meta, 0)
        else:
            offset = self._size(meta, source)
        from openclaw.watch import state_changed

        pending = b""
        checked = woke = time.monotonic()
        # Where the executor can wake us on a change (local: inotify and a pidfd), an idle
        # task costs nothing between changes; elsewhere, or once the launcher is gone, poll.
        watch = self._watch(meta, source) if source != "transcript" else None
        try:
            while True:
                data, offset = read(meta, offset)
                if data:
                    # Hold back a partial last line until it is complete.
                    pending += data
                    complete, _, pending = pending.rpartition(b"\n")
                    if complete:
                        yield self._redact(complete + b"\n", secrets)
                if meta["status"] in states.FINAL:
                    data, offset = read(meta, offset)
                    rest = pending + data
                    if rest:
                        yield self._redact(rest, secrets)
                    return
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise WaitTimeout(meta)
                if watch is not None and not watch.launcher_gone:
                    # The watch wakes us when the task's state may have changed (its end, its
                    # record) and, where it sees the output, when that grows; output it does
                    # not see is read every interval, which asks the executor nothing.
                    if now - woke < interval:  # a busy agent wakes us at most once an interval
                        time.sleep(interval - (now - woke))
                    left = max(0.0, checked + WATCH_LOOK_S - time.monotonic())
                    if deadline is not None:
                        left = min(left, max(0.0, deadline - time.monotonic()))
                    if not watch.sees_output:
                        left = min(interval, left)
                    changed = watch.wait(left)
                    woke = time.monotonic()
                    if state_changed(changed) or woke - checked >= WATCH_LOOK_S:
                        meta = self.refresh([meta])[0].record
                        checked = time.monotonic()
                    continue
                time.sleep(interval)
                # Reading new bytes is cheap; asking whether the task ended costs more, so at
                # most once a second (or every interval, when that is longer).
                if data or time.monotonic() - checked >= max(1.0, interval):
                    meta = self.refresh([meta])[0].record
                    checked = time.monotonic()
        finally:
            if watch is not None:
                watch.close()

    def _watch(self, meta: TaskRecord, stream: str | None) -> TaskWatch | None:
        """The executor's :meth:`~Executor.watch` of a running task; None for any other."""
        if meta["status"] != states.RUNNING:
            return None
        try:
            return self.executor_for(meta["executor"], meta["executor_type"]).watch(meta, stream)
        except OpenclawError:
            return None

    def _size(self, meta: TaskRecord, stream: str) -> int:
        return self.executor_for(meta["executor"], meta["executor_type"]).size(meta, stream)

    # -- waiting and continuing ---------------------------------------------------------------
    def wait(self, ref: str, timeout: float | None = None, interval: float = 0.25) -> TaskRecord:
        """Block until the task is in a final state and return its record.

        Where the executor can watch the task (:meth:`~Executor.watch`), this
        sleeps until the watch says its state may have changed, and looks at
        least every :data:`WATCH_LOOK_S`. Elsewhere the task is checked after
        ``interval`` seconds, then ever less often, up to every
        :data:`WAIT_MAX_INTERVAL_S`: a short task is seen to end at once, and a
        long wait costs a runtime call or SSH round trip every few seconds, not
        four a second. Raises :class:`WaitTimeout` after ``timeout`` seconds;
        the task is left running.
        """
        from openclaw.watch import state_changed

        meta = self.get(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        watch: TaskWatch | None = None
        asked = None  # the status a watch was last asked for in (once per status: none may come)
        try:
            while meta["status"] not in states.FINAL:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise WaitTimeout(meta)
                if watch is None and asked != meta["status"]:
                    asked = meta["status"]
                    watch = self._watch(meta, None)
                if watch is not None and not watch.launcher_gone:
                    # Woken when the task's state may have changed (its rc, its record, its
                    # launcher's exit): an idle wait costs nothing but a look every
                    # WATCH_LOOK_S. Output alone (a feed that carries it) is no reason to look.
                    left = WATCH_LOOK_S if deadline is None else min(WATCH_LOOK_S, deadline - now)
                    changed = watch.wait(left)
                    if changed and not state_changed(changed):
                        continue
                else:
                    time.sleep(interval if deadline is None else min(interval, deadline - now))
                    interval = min(interval * WAIT_BACKOFF, max(interval, WAIT_MAX_INTERVAL_S))
                if meta["status"] == states.QUEUED:
                    self._drain_quietly()
                meta = self.refresh([self.store.read(meta["task_id"])])[0].record
        finally:
            if watch is not None:
                watch.close()
        if (meta.get("notify") or {}).get("state") == "pending":
            meta = self.redeliver(self.store.read(meta["task_id"]))
        return meta

    @_telling
    def resume(
        self,
        ref: str,
        prompt: bytes,
        max_turns: int | None = None,
        *,
        controls: Controls | None = None,
        timeout_s: float | None = None,
    ) -> TaskRecord:
        """Continue a finished task's conversation as a new task: same executor, workspace and agent."""
        parent = self.get(ref)
        if parent["status"] not in states.FINAL:
            raise UsageError(
                f"task {parent['task_id']} is still {parent['status']}",
                "wait for it ('openclaw-agent wait') or kill it before resuming",
            )
        agent = self._agent(parent["agent"])
        if not agent.resumable:
            raise UsageError(
                f"task {parent['task_id']} ran {parent['agent']!r}, which has no conversation to resume",
                "start a new task instead",
            )
        if parent.get("started_at") is None:
            raise UsageError(f"task {parent['task_id']} never started, so there is no session to resume")
        session = parent.get("session_id") or self._session_of(parent)
        if not session:
            raise UsageError(
                f"task {parent['task_id']} has no session id recorded or in its output",
                "start a new task instead",
            )
        self.executor_for(parent["executor"], parent["executor_type"]).check_resume(parent)
        return self.start(
            prompt,
            executor=parent["executor"],
            workspace=parent["workspace"],
            max_turns=max_turns,
            parent_id=parent["task_id"],
            resume_session=session,
            agent=parent["agent"],
            controls=controls,
            timeout_s=timeout_s,
            tree=parent.get("worktree"),
            push=(parent.get("push") or {}).get("remote"),
        )

    def _session_of(self, meta: TaskRecord) -> str | None:
        """The session id the task's agent printed (for agents that choose their own)."""
        try:
            head = self._read(meta, "stdout")(meta, 0)[0][: 1 << 20]
        except OpenclawError:
            return None
        return self._agent(meta["agent"]).session_from_output(head)

    def chain(self, meta: TaskRecord) -> list[str]:
        """The ids from the first task of a resume chain down to this one."""
        ids = [meta["task_id"]]
        parent = meta.get("parent_id")
        while parent and parent not in ids and len(ids) < 1000:
            ids.insert(0, parent)
            try:
                parent = self.store.read(parent).get("parent_id")
            except OpenclawError:
                break
        return ids

    def snapshot(
        self, recent: int = RECENT_FINISHED, looked: Mapping[str, Observed] | None = None
    ) -> Snapshot:
        """What the dashboard shows: the active and queued tasks, the ``recent`` newest finished
        ones, counts per status of every task, and their total cost.

        Only the active and queued tasks are read and observed; the rest comes from the
        index, so the cost does not grow with the history (an index that cannot be read:
        from the full listing)."""
        import sqlite3

        from openclaw.index import ACTIVE_OR_WAITING

        counts = {s: 0 for s in (*states.ALL, states.UNKNOWN)}
        try:
            rows, _ = self.store.catalogue(ACTIVE_OR_WAITING)
            live = self._live(rows, looked)
            index = self.store.index
            indexed, cost = index.counts()  # after the look, which wrote what it saw
            finished = list(index.records(index.recent(states.FINAL, recent)).values())
            corrupt = index.problems()
        except (sqlite3.Error, OSError):
            items, bad = self.listing(looked=looked)
            live = [i for i in items if isinstance(i, Observed)]
            done = [i for i in items if not isinstance(i, Observed)]
            indexed = {}
            for i in done:
                indexed[str(i.status)] = indexed.get(str(i.status), 0) + 1
            cost = sum(i.cost or 0.0 for i in done) + sum(
                (v.record["result"] or {}).get("total_cost_usd") or 0.0 for v in live
            )
            finished = self.store.records_of(done[:recent])
            corrupt = [e.task_id for e in bad]
        for s in states.FINAL:
            counts[s] = indexed.get(s, 0)
        for view in live:
            if view.status not in states.FINAL:
                counts[view.status] += 1
        shown = [*live, *(Observed(m) for m in finished)]
        shown.sort(key=lambda v: v.record["created_at"], reverse=True)
        try:
            capacity = self._capacity([v.record for v in live])
        except OpenclawError:  # no usable config: the tasks are still shown
            capacity = []
        return Snapshot(states.now(), shown, counts, round(cost, 6), sorted(corrupt), capacity)

    def doctor(self, rebuild: bool = False) -> dict[str, Any]:
        """Check the index against every record, and rebuild it when it differs (or when asked).

        Returns what was found: the records, the corrupt entries, the index's problems, and
        whether (and why) it was rebuilt.
        """
        import sqlite3

        index = self.store.index
        try:
            problems = index.check()
        except (sqlite3.Error, OSError) as exc:
            problems = [f"the index cannot be read: {exc}"]
        why = index.rebuilt  # opening it may have rebuilt it already (missing, corrupt)
        if problems or rebuild:
            why = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
            try:
                index.rebuild(why or "asked to")
            except (sqlite3.Error, OSError) as exc:
                from openclaw.records import store_error

                raise store_error(OSError(str(exc)), "rebuild the index in", self.store.root) from None
        records, bad = self.store.all()
        return {
            "tasks_dir": str(self.store.root),
            "records": len(records),
            "corrupt": sorted(e.task_id for e in bad),
            "index": str(index.path),
            "index_problems": problems,
            "rebuilt": bool(problems or rebuild or why),
            "why": why or None,
        }

    def executors(self) -> list[dict[str, Any]]:
        """The configured executors, with how many tasks each is running."""
        rows, _ = self.store.catalogue({*states.ACTIVE, states.QUEUED})
        load = {c["name"]: c for c in self._capacity(self.store.records_of(rows))}
        from openclaw.agents import AGENTS

        def paths(e: ExecutorConfig) -> dict[str, str]:
            return {name: e.settings(name, self._agent(name).binary).path or "" for name in AGENTS}

        return [
            {
                "name": e.name,
                "type": e.type,
                "labels": e.labels,
                "agent": e.agent,
                "agents": paths(e),
                "timeout_s": e.timeout_s or e.default_timeout_s,
                "claude_path": e.claude_path,
                "max_turns": e.max_turns,
                "env_names": sorted(e.env),
                "pass_env": e.pass_env,
                "options": e.options,
                "active_tasks": load[e.name]["active_tasks"],
                "max_concurrent": e.max_concurrent,
                "queued_tasks": load[e.name]["queued_tasks"],
            }
            for e in self.config.executors
        ]

    def _capacity(self, metas: list[TaskRecord]) -> list[dict[str, Any]]:
        """Each configured executor's load among ``metas`` (the active and queued records): tasks
        active on it, its cap, and the queued tasks that may go to it."""
        active: dict[str, int] = {}
        queued: dict[str, int] = {}
        for m in metas:
            if m["status"] in states.ACTIVE:
                active[m["executor"]] = active.get(m["executor"], 0) + 1
            elif m["status"] == states.QUEUED:
                for name in (m.get("routing") or {}).get("candidates") or [m["executor"]]:
                    queued[name] = queued.get(name, 0) + 1
        return [
            {
                "name": e.name,
                "active_tasks": active.get(e.name, 0),
                "max_concurrent": e.max_concurrent,
                "queued_tasks": queued.get(e.name, 0),
            }
            for e in self.config.executors
        ]
