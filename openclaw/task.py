"""The task record, typed; and a record seen beside what its latest observation found.

A :class:`TaskRecord` is exactly the JSON object stored in a task's
``.meta.json`` (schemas/task-meta.schema.json): a ``TypedDict``, so it is
stored and read as plain JSON while mypy checks every key a layer reads or
writes. :func:`new_record` makes the record of a new task; it is what
``start`` stores and what the tests build records with.

Records are never changed in place: :func:`with_fields` (and
:func:`openclaw.states.transition`) return a changed copy, and refuse a key
the record does not have.

An observation that could not tell (a host that does not answer) changes
nothing in the record. It comes back *beside* the record, as
:class:`Observed`; the views (``status``, ``list``, ``--json``) derive
from the pair what they show: ``unknown``, the last known state and why.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypedDict, cast

from openclaw import states
from openclaw.states import Observation

if TYPE_CHECKING:
    from openclaw.agents.base import Controls

#: How many characters of the prompt the record keeps (the prompt file keeps it all).
PROMPT_PREVIEW = 200
SCHEMA_VERSION: Literal[1] = 1


class _Required(TypedDict):
    schema_version: Literal[1]
    task_id: str
    executor: str
    executor_type: str
    agent: str
    status: str
    pid: int | None
    prompt: str
    workspace: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    error: str | None
    max_turns: int | None
    parent_id: str | None
    result: dict[str, Any] | None


class TaskRecord(_Required, total=False):
    """One task's ``.meta.json``; see schemas/task-meta.schema.json for each field."""

    pid_start_time: int | None
    agent_pid: int | None
    boot_id: str | None
    host: str | None
    prompt_bytes: int
    prompt_sha256: str
    command: list[str]
    env_names: list[str]
    session_id: str | None
    transcript: str | None
    kill_requested_at: str | None
    labels: list[str]
    timeout_s: float | None
    model: str | None
    controls: dict[str, Any]
    priority: int
    after: str | None
    dispatched_at: str | None
    routing: dict[str, Any]
    request: dict[str, Any]
    worktree: dict[str, str] | None
    changes: dict[str, Any] | None
    push: dict[str, Any] | None
    notify_to: list[str]
    notify: dict[str, Any] | None
    ray: dict[str, Any] | None


#: Every key a record may hold.
FIELDS = frozenset(TaskRecord.__required_keys__ | TaskRecord.__optional_keys__)


def new_record(
    *,
    task_id: str,
    executor: str,
    executor_type: str,
    agent: str,
    prompt: bytes,
    workspace: str,
    command: list[str],
    max_turns: int | None,
    env_names: list[str] | None = None,
    parent_id: str | None = None,
    labels: list[str] | None = None,
    created_at: str | None = None,
    session_id: str | None = None,
    timeout_s: float | None = None,
    model: str | None = None,
    controls: dict[str, Any] | None = None,
    priority: int = 0,
    after: str | None = None,
    status: str = states.PENDING,
    worktree: dict[str, str] | None = None,
    push: dict[str, Any] | None = None,
    notify_to: list[str] | None = None,
) -> TaskRecord:
    """The record of a task about to be started: ``pending``, nothing launched yet.

    ``session_id`` is the agent's session id when it is chosen up front
    (Claude Code's is the task id); the others learn theirs later.
    """
    record: TaskRecord = {
        "schema_version": SCHEMA_VERSION,
        "task_id": task_id,
        "executor": executor,
        "executor_type": executor_type,
        "agent": agent,
        "status": status,
        "pid": None,
        "pid_start_time": None,
        "agent_pid": None,
        "boot_id": None,
        "host": None,
        "prompt": prompt[: PROMPT_PREVIEW * 4].decode("utf-8", "replace")[:PROMPT_PREVIEW],
        "prompt_bytes": len(prompt),
        "prompt_sha256": hashlib.sha256(prompt).hexdigest(),
        "workspace": workspace,
        "command": list(command),
        "env_names": sorted(env_names or []),
        "session_id": session_id,
        "transcript": None,
        "created_at": created_at or states.now(),
        "started_at": None,
        "finished_at": None,
        "kill_requested_at": None,
        "exit_code": None,
        "error": None,
        "max_turns": max_turns,
        "parent_id": parent_id,
        "labels": list(labels or []),
        "result": None,
        "timeout_s": timeout_s,
        "model": model,
    }
    if controls:
        record["controls"] = dict(controls)
    if priority:
        record["priority"] = priority
    if after:
        record["after"] = after
    if worktree:
        record["worktree"] = dict(worktree)
    if push:
        record["push"] = dict(push)
    if notify_to:
        record["notify_to"] = list(notify_to)
    return record


@dataclass(frozen=True)
class Request:
    """What ``start`` asked for, kept in a queued task's record to dispatch it later."""

    #: The agent asked for (None: the executor's own, once it is chosen).
    agent: str | None
    #: The workspace as given (None: the default); the chosen executor normalises it.
    workspace: str | None
    controls: Controls
    timeout_s: float | None
    resume_session: str | None
    #: A git worktree and branch of its own (``--worktree``); None: as the executor's ``isolation``.
    isolate: bool | None = None
    #: The commit (a ref) the worktree is made from (``--base``; None: the workspace's HEAD).
    base: str | None = None
    #: The worktree's branch (``--branch``; None: ``openclaw/<short id>``).
    branch: str | None = None
    #: The remote to push the branch to when the task completes (``--push``).
    push: str | None = None
    #: An existing worktree to go on in (``resume`` of a worktree task): the record's ``worktree``.
    tree: dict[str, str] | None = None
    #: Webhooks to tell when the task ends (``--notify``), beside the config's.
    notify: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The ``request`` field of a record."""
        controls = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.controls).items()}
        out: dict[str, Any] = {
            "agent": self.agent,
            "workspace": self.workspace,
            "controls": {k: v for k, v in controls.items() if v not in (None, [])},
            "timeout_s": self.timeout_s,
            "resume_session": self.resume_session,
        }
        more = {
            "isolate": self.isolate,
            "base": self.base,
            "branch": self.branch,
            "push": self.push,
            "tree": self.tree,
            "notify": list(self.notify) or None,
        }
        out.update({k: v for k, v in more.items() if v is not None})
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        """Inverse of :meth:`as_json`."""
        from openclaw.agents.base import Controls

        raw = dict(data.get("controls") or {})
        known = {f.name for f in fields(Controls)}
        given: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        controls = Controls(**{k: v for k, v in given.items() if k in known})
        return cls(
            agent=data.get("agent"),
            workspace=data.get("workspace"),
            controls=controls,
            timeout_s=data.get("timeout_s"),
            resume_session=data.get("resume_session"),
            isolate=data.get("isolate"),
            base=data.get("base"),
            branch=data.get("branch"),
            push=data.get("push"),
            tree=data.get("tree"),
            notify=tuple(data.get("notify") or ()),
        )


def with_fields(record: TaskRecord, **fields: Any) -> TaskRecord:
    """A copy of ``record`` with ``fields`` set; a key that is not a record field is a bug."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise KeyError(f"not task record fields: {', '.join(sorted(unknown))}")
    return cast(TaskRecord, {**record, **fields})


def as_record(data: dict[str, Any]) -> TaskRecord:
    """``data``, already validated against the record schema, as a :class:`TaskRecord`."""
    return cast(TaskRecord, data)


class Observed(NamedTuple):
    """A record, and what observing its task just found (None: not observed, e.g. final).

    The record is the truth as stored; the observation may add what the
    record must not hold: that the executor could not be reached right now,
    or a remark about a task that runs on (its launcher is gone).
    """

    record: TaskRecord
    observation: Observation | None = None
    #: A queued task's place in the queue (1: dispatched first), where it was worked out.
    position: int | None = None

    @property
    def unknown(self) -> bool:
        """Whether the observation could not tell whether the task still runs."""
        obs = self.observation
        return obs is not None and obs.alive is None and obs.exit_code is None

    @property
    def status(self) -> str:
        """The state to show: the record's, or ``unknown`` when the executor did not answer."""
        return states.UNKNOWN if self.unknown else self.record["status"]

    @property
    def reason(self) -> str | None:
        """Why the state is unknown, or what the observer noticed about a running task."""
        obs = self.observation
        if obs is None or not obs.reason:
            return None
        if self.unknown or (obs.alive and self.record["status"] in states.ACTIVE):
            return obs.reason
        if obs.in_flight and self.record["status"] == states.PENDING:
            return obs.reason  # why it waits (Ray: waiting for resources)
        return None

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of ``status --json``, ``list --json`` and the API: the record, and
        when the state is unknown, ``status: unknown`` with ``recorded_status`` and ``status_reason``;
        a queued task's ``queue_position``."""
        out: dict[str, Any] = dict(self.record)
        if self.unknown:
            out.update(status=states.UNKNOWN, recorded_status=self.record["status"])
        reason = self.reason
        if reason:
            out["status_reason"] = reason
        if self.position is not None:
            out["queue_position"] = self.position
        return out
