"""What ``<runtime> inspect`` says of a task's container, read and judged.

Pure functions of the runtime's answers (:class:`~.runtime.Call`): the
``inspect`` entries found by task id (their ``openclaw.task-id`` label), one
entry (and its output tail, once it exited) judged as an
:class:`~openclaw.states.Observation`, and whether a container never started
is past starting. The executor runs the calls and acts on these.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from openclaw import launch, states
from openclaw.executors.container.runtime import GONE, Call, RuntimeUnavailable
from openclaw.states import Observation

if TYPE_CHECKING:
    from openclaw.task import TaskRecord

#: A container still "created" (never started) this long after its task was made is a
#: ``run -d`` that was interrupted between create and start (Ctrl-C, kill -9): it is removed.
CREATED_STUCK_S = 30.0


def parse_inspect(call: Call, runtime: str) -> dict[str, dict[str, Any]]:
    """The ``inspect`` entries of ``call`` by task id; :class:`RuntimeUnavailable` when
    ``runtime`` failed (a container that is gone is only missing from the answer)."""
    try:
        items = json.loads(call.out or b"[]")
    except ValueError:
        items = None
    if not isinstance(items, list) or (call.code != 0 and not call.says(GONE)):
        raise RuntimeUnavailable(f"{runtime} inspect failed: {call.error_line()}")
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        if isinstance(item, dict):
            labels = (item.get("Config") or {}).get("Labels") or {}
            task_id = labels.get("openclaw.task-id")
            if task_id:
                found[task_id] = item
    return found


def observation_from_state(info: dict[str, Any], logs: Call | None) -> Observation:
    """Judge one container from its ``inspect`` entry (and its output tail, once it exited).

    An OOM kill is noted in the reason: from ``State.OOMKilled`` when the
    runtime reports it, else guessed from a SIGKILL (137) under a memory limit
    (podman on cgroup v1 with cgroupfs does not report it).
    """
    state = info.get("State") or {}
    status = str(state.get("Status") or "").lower()
    if status in ("running", "created", "configured", "initialized", "paused", "restarting"):
        return Observation(alive=True)
    code = state.get("ExitCode")
    if status in ("exited", "stopped") and isinstance(code, int):
        exited = states.stamp_from_iso(str(state.get("FinishedAt") or ""))
        obs = launch.exited(code, logs.out if logs else b"", logs.err if logs else b"", exited)
        memory = (info.get("HostConfig") or {}).get("Memory") or 0
        oom = None
        if state.get("OOMKilled"):
            oom = "the container was OOM-killed (out of memory): raise its memory limit"
        elif code == 137 and isinstance(memory, int) and memory > 0:
            oom = (
                f"the agent was killed by signal 9 (SIGKILL) under a {memory // (1024 * 1024)} MiB "
                "memory limit: probably out of memory (OOM-killed); raise the limit"
            )
        if oom:
            obs = dataclasses.replace(obs, reason=oom)
        return obs
    return Observation(alive=False, reason=f"the container is {status or 'in an unknown state'}")


def stuck(meta: TaskRecord) -> bool:
    """Whether a task's container, "created" and never started, is past starting."""
    age = (datetime.now(timezone.utc) - states.parse_time(meta["created_at"])).total_seconds()
    return age >= CREATED_STUCK_S
