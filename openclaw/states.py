"""Task states, and the one place where a task moves from one state to another.

The set is closed::

    queued ──► pending ──► running ──► completed | failed | killed | lost
       │          │                          ▲
       │          └──────────────────────────┘   (failed or lost before it ever ran)
       └──► killed | failed                       (killed, or undispatchable, while queued)

``completed``, ``failed``, ``killed`` and ``lost`` are final: nothing moves a
task out of them. :func:`settle` decides the next state from what an executor
observed; :func:`transition` applies it and refuses anything not drawn above.
See docs/states.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openclaw.task import TaskRecord

QUEUED = "queued"
PENDING = "pending"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
KILLED = "killed"
LOST = "lost"

ALL = (QUEUED, PENDING, RUNNING, COMPLETED, FAILED, KILLED, LOST)
#: Not a state: what ``status``/``list`` show for an active task whose executor
#: cannot be reached right now. The record keeps its last known state.
UNKNOWN = "unknown"
FINAL = frozenset({COMPLETED, FAILED, KILLED, LOST})
#: Dispatched and not final: a process of the task may live; it holds a slot of its executor.
ACTIVE = frozenset({PENDING, RUNNING})
#: Waiting for a slot: nothing was launched.
WAITING = frozenset({QUEUED})

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({PENDING, FAILED, KILLED}),
    PENDING: frozenset({RUNNING, FAILED, KILLED, LOST}),
    RUNNING: frozenset({COMPLETED, FAILED, KILLED, LOST}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
    KILLED: frozenset(),
    LOST: frozenset(),
}


class InvalidTransition(Exception):
    """A state change that the diagram does not allow (a programming error)."""


def now() -> str:
    """The current UTC time as stored in records: ``2026-11-24T17:30:00.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(stamp: str) -> datetime:
    """Inverse of :func:`now`."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def stamp(when: float) -> str:
    """A POSIX time (seconds) as stored in records, like :func:`now`."""
    return (
        datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def stamp_from_iso(text: str) -> str | None:
    """A runtime's RFC 3339 time (nanoseconds, any offset) as stored in records; None if unusable."""
    m = _ISO.match(text.strip())
    if not m or m.group(1).startswith("0001-"):
        return None
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    offset = "+00:00" if m.group(3) == "Z" else m.group(3)
    return stamp(datetime.fromisoformat(f"{m.group(1)}.{frac}{offset}").timestamp())


@dataclass(frozen=True)
class Observation:
    """What an executor saw of a task's process; once it exited, judged by its agent.

    ``alive`` is True (running, same pid and start time), False (gone) or None
    (could not tell: host unreachable, runtime down). ``exit_code`` is the
    recorded exit status, if the launcher wrote one, and the executor adds
    the ends of the agent's stdout and stderr. The agent
    (:meth:`openclaw.agents.base.Agent.judge`) then fills ``result`` (its
    summary of the run), ``succeeded`` and, for a failure, ``reason``.
    """

    alive: bool | None
    exit_code: int | None = None
    result: dict[str, Any] | None = None
    #: Why the task failed or why ``alive`` is None, in the executor's or the agent's words.
    reason: str | None = None
    #: The end of the agent's stdout and stderr, once it exited (for its agent to judge).
    stdout_tail: bytes | None = None
    stderr_tail: bytes | None = None
    #: The agent's verdict on an exited run: what ``completed`` means is its call.
    succeeded: bool | None = None
    #: For a task whose start was never recorded (``start`` lost its answer), what
    #: the executor found out about it since: the record fields start would have set.
    started: dict[str, Any] | None = None
    #: When the agent exited, where it ran (``rc`` written, the container stopped), if known.
    finished_at: str | None = None
    #: For a pending task with no sign of a launch: whether a launch may still be
    #: under way (its ``start`` still runs, or a remote launch may still land).
    #: While it may, the task stays pending; after, it is lost.
    in_flight: bool = False
    #: For a task in a worktree of its own, once it exited: what it changed (the record's
    #: ``changes``), as the launcher measured it after committing what the agent left.
    changes: dict[str, Any] | None = None
    #: The executor's own controls stopped the task from outside openclaw (a Ray job stopped
    #: in Ray's dashboard): it ends ``killed``, as a kill through openclaw would.
    killed_outside: bool = False
    #: Other record fields an executor learnt with the exit (a Ray clone's ``push``), set with
    #: the final state.
    fields: dict[str, Any] | None = None


def transition(meta: TaskRecord, new: str, **fields: Any) -> TaskRecord:
    """Move ``meta`` to state ``new``, setting ``fields``; return a new record.

    Moving to a final state stamps ``finished_at``; moving to ``running``
    stamps ``started_at``.
    """
    old = meta["status"]
    if new != old and new not in TRANSITIONS[old]:
        raise InvalidTransition(f"{old} -> {new}")
    from openclaw.task import with_fields

    out = with_fields(meta, status=new, **fields)
    if new == RUNNING and not out.get("started_at"):
        out["started_at"] = now()
    if new in FINAL and not out.get("finished_at"):
        out["finished_at"] = now()
    return out


def failure_reason(obs: Observation) -> str:
    """Why a task that exited is ``failed``: its agent's reason, else its exit status in words."""
    if obs.reason:
        return obs.reason
    if obs.exit_code == 0:
        return "the agent exited 0 without a result event"
    if obs.exit_code is not None and obs.exit_code > 128:
        return f"the agent was killed by signal {obs.exit_code - 128}"
    return f"the agent exited with code {obs.exit_code}"


def settle(meta: TaskRecord, obs: Observation) -> TaskRecord | None:
    """The record after observation ``obs``, or None when nothing changes.

    A final state never changes. An unknown observation (``alive is None``)
    never changes anything: a host we cannot reach is not a failed task.
    """
    status = meta["status"]
    if status in FINAL:
        return None
    killing = bool(meta.get("kill_requested_at")) or obs.killed_outside
    # Adopting a task whose start lost its answer: the fields start would have set.
    started = dict(obs.started, error=None) if obs.started and status == PENDING else {}
    if obs.exit_code is not None:
        if status == PENDING:  # it ran and ended before start recorded it running
            meta = transition(meta, RUNNING, **started)
        common: dict[str, Any] = {"exit_code": obs.exit_code, "result": obs.result}
        if obs.changes:
            common["changes"] = obs.changes
        if obs.fields:
            common.update(obs.fields)
        if obs.finished_at:
            # When it exited, not when someone next looked; never before it was seen to start.
            common["finished_at"] = max(obs.finished_at, meta.get("started_at") or meta["created_at"])
        if obs.succeeded:
            # The agent's verdict (openclaw.agents); it stands even if a kill was requested
            # after the agent finished.
            return transition(meta, COMPLETED, error=None, **common)
        if killing:
            return transition(meta, KILLED, **common)
        return transition(meta, FAILED, error=failure_reason(obs), **common)
    if obs.alive is True:
        return transition(meta, RUNNING, **started) if status == PENDING else None
    if obs.alive is False:
        if killing:
            return transition(meta, KILLED, **dict(started, result=obs.result))
        if status == PENDING and meta.get("pid") is None and not started:
            if obs.in_flight:
                return None
            reason = obs.reason or "the start was interrupted before the agent was launched"
        else:
            reason = obs.reason or "the process is gone and no exit status was recorded"
        return transition(meta, LOST, **dict(started, error=reason, result=obs.result))
    return None
