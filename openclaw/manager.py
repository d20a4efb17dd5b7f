"""The library behind every command: start, observe, list, kill, clean up, follow.

The CLI parses flags, calls a :class:`Manager` method and renders what it
returns. Everything that changes a record goes through :class:`TaskStore`
(locked, validated, atomic) and :mod:`openclaw.states` (the transitions).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from openclaw import schema, states
from openclaw.agents import get_agent
from openclaw.config import Config, ExecutorConfig
from openclaw.errors import (
    CorruptRecordError,
    ExecutorError,
    OpenclawError,
    StartError,
    UsageError,
    WaitTimeout,
)
from openclaw.executors import get_executor
from openclaw.executors.base import Executor
from openclaw.records import TaskStore
from openclaw.states import Observation

if TYPE_CHECKING:
    from openclaw.agents.stream import Entry

#: How many characters of the prompt the record keeps (the prompt file keeps it all).
PROMPT_PREVIEW = 200
#: Default seconds between SIGTERM and SIGKILL.
DEFAULT_GRACE_S = 5.0
#: ``wait`` checks the task ever less often (times this factor per check), up to this many seconds.
WAIT_BACKOFF = 1.5
WAIT_MAX_INTERVAL_S = 2.0


class Manager:
    """Acts on tasks for one loaded configuration and one task store."""

    def __init__(self, config: Config | Callable[[], Config], store: TaskStore | None = None) -> None:
        self._config = config
        self.store = store or TaskStore()
        self._executors: dict[str, Executor] = {}

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
            if executor_type == "local" and not self._config_has(name):
                # Observing a local task needs nothing from the config.
                cfg = ExecutorConfig(name=name, type="local", claude_path="claude", max_turns=1)
            else:
                cfg = self.config.executor(name)
            self._executors[name] = get_executor(cfg, self.store)
        return self._executors[name]

    def _config_has(self, name: str) -> bool:
        if callable(self._config):
            return False
        return any(e.name == name for e in self._config.executors)

    # -- start --------------------------------------------------------------------------
    def start(
        self,
        prompt: bytes,
        executor: str | None = None,
        workspace: str | None = None,
        max_turns: int | None = None,
        parent_id: str | None = None,
        resume_session: str | None = None,
    ) -> dict[str, Any]:
        """Record a new task, start its agent detached, and return its record.

        A failure to start is recorded (status ``failed`` with the reason) and
        raised as :class:`StartError` carrying the task id.
        """
        if not prompt.strip():
            raise UsageError("the prompt is empty", "pass --prompt TEXT, --prompt-file PATH or --prompt -")
        cfg = self.config.executor(executor)
        if max_turns is not None and max_turns < 1:
            raise UsageError(f"--max-turns must be at least 1, not {max_turns}")
        turns = max_turns if max_turns is not None else cfg.max_turns
        # The new record is validated below. Build the validator first: that is CPU-bound
        # Python, and the SSH executor starts connecting in a thread now, whose handshake
        # would otherwise wait for the GIL at each step (~20 ms more per start).
        schema.preload(schema.META_SCHEMA)
        backend = self.executor_for(cfg.name)
        ws = backend.normalize_workspace(workspace)
        agent = get_agent()
        task_id = str(uuid.uuid4())
        argv = agent.command(cfg.claude_path, task_id, turns, resume=resume_session)
        env = dict(cfg.env)
        env.update({n: os.environ[n] for n in cfg.pass_env if n in os.environ})
        meta: dict[str, Any] = {
            "schema_version": 1,
            "task_id": task_id,
            "executor": cfg.name,
            "executor_type": cfg.type,
            "agent": agent.name,
            "status": states.PENDING,
            "pid": None,
            "pid_start_time": None,
            "agent_pid": None,
            "boot_id": None,
            "host": None,
            "prompt": prompt[: PROMPT_PREVIEW * 4].decode("utf-8", "replace")[:PROMPT_PREVIEW],
            "prompt_bytes": len(prompt),
            "prompt_sha256": hashlib.sha256(prompt).hexdigest(),
            "workspace": ws,
            "command": argv,
            "env_names": sorted(env),
            "session_id": task_id,
            "transcript": None,
            "created_at": states.now(),
            "started_at": None,
            "finished_at": None,
            "kill_requested_at": None,
            "exit_code": None,
            "error": None,
            "max_turns": turns,
            "parent_id": parent_id,
            "labels": list(cfg.labels),
            "result": None,
        }
        self.store.create(meta)
        prompt_file = self.store.file(task_id, "prompt")
        fd = os.open(prompt_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(prompt)
        try:
            fields = backend.start(meta, argv, env)
        except BaseException as exc:
            if isinstance(exc, StartError):
                reason = exc.one_line()
                exc.task_id = task_id
            else:
                reason = f"start was interrupted: {type(exc).__name__}: {exc}"
            if isinstance(exc, StartError) and exc.pending:
                # Unknown whether it started: it stays pending; observing it settles it.
                known = exc.fields
                self.store.update(
                    task_id,
                    lambda m: dict(m, **known, error=reason) if m["status"] == states.PENDING else None,
                )
            else:
                self.store.update(task_id, lambda m: states.transition(m, states.FAILED, error=reason))
            raise

        home = fields.pop("home", None)
        if home:
            fields["transcript"] = agent.transcript(home, fields.get("workspace", ws), task_id)

        def running(m: dict[str, Any]) -> dict[str, Any]:
            if m["status"] == states.PENDING:
                return states.transition(m, states.RUNNING, **fields)
            return dict(m, **fields)

        return self.store.update(task_id, running)

    # -- observe --------------------------------------------------------------------------
    def refresh(self, metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Bring the active tasks among ``metas`` up to date; return all of them, updated.

        Tasks are observed in one batch per executor.
        """
        by_executor: dict[str, list[dict[str, Any]]] = {}
        for m in metas:
            if m["status"] in states.ACTIVE:
                by_executor.setdefault(m["executor"], []).append(m)
        updated: dict[str, dict[str, Any]] = {}
        results = self._observe_all(by_executor)
        for name, batch in by_executor.items():
            observations = results[name]
            for m in batch:
                obs = observations.get(m["task_id"])
                if obs is None:
                    continue
                if obs.alive is None and obs.exit_code is None:
                    # Could not tell: show "unknown" with the reason; the record keeps its state.
                    updated[m["task_id"]] = dict(
                        m, status=states.UNKNOWN, recorded_status=m["status"], status_reason=obs.reason
                    )
                elif states.settle(m, obs) is not None:
                    updated[m["task_id"]] = self._apply(m["task_id"], obs)
        return [updated.get(m["task_id"], m) for m in metas]

    def _observe_all(self, by_executor: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Observation]]:
        """Observe every executor's batch; several executors (hosts) are polled in parallel."""
        if len(by_executor) <= 1:
            return {name: self._observe(name, batch) for name, batch in by_executor.items()}
        from concurrent.futures import ThreadPoolExecutor

        for name, batch in by_executor.items():  # create them here, not racing in the threads
            try:
                self.executor_for(name, batch[0]["executor_type"])
            except OpenclawError:
                pass  # _observe reports it
        with ThreadPoolExecutor(max_workers=min(16, len(by_executor))) as pool:
            futures = {name: pool.submit(self._observe, name, batch) for name, batch in by_executor.items()}
            return {name: future.result() for name, future in futures.items()}

    def _observe(self, name: str, batch: list[dict[str, Any]]) -> dict[str, Observation]:
        try:
            return self.executor_for(name, batch[0]["executor_type"]).observe(batch)
        except UsageError as exc:
            return {m["task_id"]: Observation(alive=None, reason=exc.one_line()) for m in batch}

    def _apply(self, task_id: str, obs: Observation) -> dict[str, Any]:
        try:
            return self.store.update(task_id, lambda m: states.settle(m, self._adopting(m, obs)))
        except CorruptRecordError:
            raise
        except FileNotFoundError:  # cleaned up meanwhile
            return self.store.read(task_id)

    @staticmethod
    def _adopting(meta: dict[str, Any], obs: Observation) -> Observation:
        """``obs``, with the ``home`` in ``started`` turned into the transcript path, as start does."""
        if not obs.started or "home" not in obs.started:
            return obs
        started = dict(obs.started)
        home = started.pop("home")
        workspace = started.get("workspace", meta["workspace"])
        session = meta.get("session_id") or meta["task_id"]
        started["transcript"] = get_agent(meta.get("agent") or "claude").transcript(home, workspace, session)
        return dataclasses.replace(obs, started=started)

    def get(self, ref: str) -> dict[str, Any]:
        """The up-to-date record of the task ``ref`` (an id or unique prefix) names."""
        task_id = self.store.resolve(ref)
        return self.refresh([self.store.read(task_id)])[0]

    def list_tasks(
        self, status: str | None = None, executor: str | None = None
    ) -> tuple[list[dict[str, Any]], list[CorruptRecordError]]:
        """Up-to-date records, newest first, filtered; and the corrupt records skipped."""
        if status is not None and status not in (*states.ALL, states.UNKNOWN):
            raise UsageError(
                f"unknown status {status!r}", f"use one of: {', '.join(states.ALL)}, {states.UNKNOWN}"
            )
        metas, bad = self.store.all()
        if executor is not None:
            metas = [m for m in metas if m["executor"] == executor]
        metas = self.refresh(metas)
        if status is not None:
            metas = [m for m in metas if m["status"] == status]
        metas.sort(key=lambda m: m["created_at"], reverse=True)
        return metas, bad

    # -- kill and cleanup -------------------------------------------------------------------
    def kill(self, ref: str, grace: float = DEFAULT_GRACE_S) -> tuple[dict[str, Any], bool]:
        """Kill the task's processes; return its record and whether this call killed it.

        A task already in a final state is left exactly as it is.
        """
        if grace < 0:
            raise UsageError(f"--grace must not be negative, not {grace}")
        meta = self.get(ref)
        task_id = meta["task_id"]
        if meta["status"] in states.FINAL:
            return meta, False

        def request(m: dict[str, Any]) -> dict[str, Any] | None:
            if m["status"] in states.FINAL or m.get("kill_requested_at"):
                return None
            return dict(m, kill_requested_at=states.now())

        meta = self.store.update(task_id, request)
        if meta["status"] in states.FINAL:
            return meta, False
        backend = self.executor_for(meta["executor"], meta["executor_type"])
        try:
            backend.kill(meta, grace)
            obs = backend.observe([meta])[task_id]
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
            self.store.update(
                task_id, lambda m: None if m["status"] in states.FINAL else dict(m, kill_requested_at=None)
            )
            raise

        def finish(m: dict[str, Any]) -> dict[str, Any] | None:
            settled = states.settle(m, self._adopting(m, obs))
            if settled is None and m["status"] not in states.FINAL:
                return states.transition(m, states.KILLED)
            return settled

        meta = self.store.update(task_id, finish)
        return meta, meta["status"] == states.KILLED

    def cleanup(self, ref: str, force: bool = False, grace: float = DEFAULT_GRACE_S) -> tuple[str, list[str]]:
        """Remove the task's record and files (killing it first with ``force``).

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
            self._kill_from_pid_file(task_id, grace)
            with self.store.lock(task_id):
                self.store.remove(task_id)
            return task_id, []
        left: list[str] = []
        status = meta.get("recorded_status") or meta["status"]  # "unknown" is only shown
        if status in states.ACTIVE:
            if not force:
                raise UsageError(
                    f"task {task_id} is {status}",
                    "kill it first, or pass --force to kill and remove it",
                )
            try:
                self.kill(task_id, grace)
            except (ExecutorError, UsageError) as exc:  # unreachable, or no longer configured
                left.append(f"not killed, the agent may still run: {exc.message}")
        try:
            self.executor_for(meta["executor"], meta["executor_type"]).cleanup(meta)
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

    def cleanup_finished(self) -> tuple[list[str], list[tuple[str, OpenclawError]]]:
        """Clean up every finished task; return the ids removed and the tasks kept, with why.

        One task whose executor cannot be reached does not stop the others.
        """
        metas, _ = self.list_tasks()
        removed: list[str] = []
        failures: list[tuple[str, OpenclawError]] = []
        for m in metas:
            if m["status"] in states.FINAL:
                try:
                    removed.append(self.cleanup(m["task_id"])[0])
                except OpenclawError as exc:
                    failures.append((m["task_id"], exc))
        return removed, failures

    def _kill_from_pid_file(self, task_id: str, grace: float) -> None:
        from openclaw import procs
        from openclaw.executors.local import read_pid_file

        try:
            record = read_pid_file(self.store.file(task_id, "pid").read_text())
        except OSError:
            return
        if record is not None:
            procs.kill_task_processes(record[0], record[1], task_id, grace)

    # -- output ------------------------------------------------------------------------------
    def _read(self, meta: dict[str, Any], source: str) -> Callable[[dict[str, Any], int], tuple[bytes, int]]:
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

    def _secrets(self, meta: dict[str, Any]) -> list[bytes]:
        """Values that must never be shown: the executor's env and pass_env values."""
        try:
            cfg = self.config.executor(meta["executor"])
        except OpenclawError:
            return []
        values = [
            v for v in [*cfg.env.values(), *(os.environ.get(n, "") for n in cfg.pass_env)] if len(v) >= 4
        ]
        # As written, and as they appear inside JSON strings (stream-json escapes " \ and controls).
        forms = {v.encode() for v in values} | {json.dumps(v)[1:-1].encode() for v in values}
        forms |= {json.dumps(v, ensure_ascii=False)[1:-1].encode() for v in values}
        return sorted(forms, key=len, reverse=True)

    @staticmethod
    def _redact(data: bytes, secrets: list[bytes]) -> bytes:
        for secret in secrets:
            data = data.replace(secret, b"[redacted]")
        return data

    def tail(self, ref: str, lines: int, source: str = "stdout") -> tuple[dict[str, Any], list[bytes]]:
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

    def tail_entries(
        self, ref: str, count: int, source: str = "stdout"
    ) -> tuple[dict[str, Any], list[Entry]]:
        """The task's record and its last ``count`` normalised output entries."""
        from openclaw.agents.stream import parse_lines

        want = count * 2 + 8
        while True:
            meta, lines = self.tail(ref, want, source)
            entries = parse_lines(lines, transcript=source == "transcript")
            if len(entries) >= count or len(lines) < want:
                return meta, entries[-count:] if count else []
            want *= 4

    def follow(
        self,
        meta: dict[str, Any],
        interval: float,
        source: str = "stdout",
        deadline: float | None = None,
        from_start: bool = False,
    ) -> Iterator[bytes]:
        """Yield what the task's output gains, every ``interval`` seconds, until the task ends.

        Raises :class:`WaitTimeout` once ``deadline`` (a ``time.monotonic()``
        value) passes with the task still running.
        """
        read = self._read(meta, source)
        secrets = self._secrets(meta)
        if from_start:
            offset = 0
        elif source == "transcript":
            _, offset = read(meta, 0)
        else:
            offset = self._size(meta, source)
        pending = b""
        checked = time.monotonic()
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
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(meta)
            time.sleep(interval)
            # Reading new bytes is cheap; asking whether the task ended costs more, so at
            # most once a second (or every interval, when that is longer).
            if data or time.monotonic() - checked >= max(1.0, interval):
                meta = self.refresh([meta])[0]
                checked = time.monotonic()

    def _size(self, meta: dict[str, Any], stream: str) -> int:
        return self.executor_for(meta["executor"], meta["executor_type"]).size(meta, stream)

    # -- waiting and continuing ---------------------------------------------------------------
    def wait(self, ref: str, timeout: float | None = None, interval: float = 0.25) -> dict[str, Any]:
        """Block until the task is in a final state and return its record.

        The task is checked after ``interval`` seconds, then ever less often,
        up to every :data:`WAIT_MAX_INTERVAL_S`: a short task is seen to end at
        once, and a long wait costs a runtime call or SSH round trip every few
        seconds, not four a second. Raises :class:`WaitTimeout` after
        ``timeout`` seconds; the task is left running.
        """
        meta = self.get(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        while meta["status"] not in states.FINAL:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise WaitTimeout(meta)
            time.sleep(interval if deadline is None else min(interval, deadline - now))
            interval = min(interval * WAIT_BACKOFF, max(interval, WAIT_MAX_INTERVAL_S))
            meta = self.refresh([self.store.read(meta["task_id"])])[0]
        return meta

    def resume(self, ref: str, prompt: bytes, max_turns: int | None = None) -> dict[str, Any]:
        """Continue a finished task's conversation as a new task on the same executor and workspace."""
        parent = self.get(ref)
        if parent["status"] not in states.FINAL:
            raise UsageError(
                f"task {parent['task_id']} is still {parent['status']}",
                "wait for it ('openclaw-agent wait') or kill it before resuming",
            )
        if parent.get("started_at") is None:
            raise UsageError(f"task {parent['task_id']} never started, so there is no session to resume")
        return self.start(
            prompt,
            executor=parent["executor"],
            workspace=parent["workspace"],
            max_turns=max_turns,
            parent_id=parent["task_id"],
            resume_session=parent.get("session_id") or parent["task_id"],
        )

    def chain(self, meta: dict[str, Any]) -> list[str]:
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

    def snapshot(self) -> dict[str, Any]:
        """Everything the dashboard shows: every task, counts per status, total cost."""
        metas, bad = self.list_tasks()
        counts = {s: 0 for s in (*states.ALL, states.UNKNOWN)}
        cost = 0.0
        for m in metas:
            counts[m["status"]] += 1
            cost += (m.get("result") or {}).get("total_cost_usd") or 0.0
        return {
            "generated_at": states.now(),
            "total": len(metas),
            "counts": counts,
            "total_cost_usd": round(cost, 6),
            "corrupt": [e.task_id for e in bad],
            "tasks": metas,
        }

    def executors(self) -> list[dict[str, Any]]:
        """The configured executors, with how many tasks each is running."""
        metas, _ = self.store.all()
        active: dict[str, int] = {}
        for m in metas:
            if m["status"] in states.ACTIVE:
                active[m["executor"]] = active.get(m["executor"], 0) + 1
        return [
            {
                "name": e.name,
                "type": e.type,
                "labels": e.labels,
                "claude_path": e.claude_path,
                "max_turns": e.max_turns,
                "env_names": sorted(e.env),
                "pass_env": e.pass_env,
                "options": e.options,
                "active_tasks": active.get(e.name, 0),
            }
            for e in self.config.executors
        ]
