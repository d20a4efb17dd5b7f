"""Process facts read from Linux ``/proc``: start times, liveness, a task's processes.

A pid alone is not an identity: pids are reused. A process is identified by
its pid *and* its start time (``/proc/PID/stat`` field 22, clock ticks since
boot), on a host identified by its kernel boot id. Everything here acts only
on processes that match a recorded identity; nothing matches by name.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

#: Set in the agent's environment by the launcher; inherited by every process it starts.
TASK_ENV = "OPENCLAW_TASK_ID"


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/PID/stat`` that matter here."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    start_time: int


def stat(pid: int) -> ProcStat | None:
    """Parse ``/proc/<pid>/stat``; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    return ProcStat(
        pid=pid,
        state=rest[0],
        ppid=int(rest[1]),
        pgrp=int(rest[2]),
        session=int(rest[3]),
        start_time=int(rest[19]),
    )


def boot_id() -> str | None:
    """This kernel's boot id; it changes on every reboot."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def is_alive(pid: int, start_time: int | None) -> bool:
    """True when ``pid`` runs and, if given, started at ``start_time`` (zombies are dead)."""
    st = stat(pid)
    if st is None or st.state in ("Z", "X"):
        return False
    return start_time is None or st.start_time == start_time


def _all_stats() -> list[ProcStat]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat(int(name))
            if st is not None:
                out.append(st)
    return out


def _carries_task(pid: int, task_id: str) -> bool:
    needle = f"{TASK_ENV}={task_id}".encode()
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return needle in fh.read().split(b"\0")
    except OSError:
        return False


def task_processes(
    leader: int | None,
    leader_start: int | None,
    task_id: str,
    also: tuple[tuple[int, int | None], ...] = (),
) -> list[ProcStat]:
    """The live processes of one task.

    They are: the leader (the launcher) if it is still the recorded process;
    every process in its process group or session; the processes in ``also``
    (``(pid, start time)``: the agent, whose launcher may be gone) if they are
    still the recorded ones; every descendant of those; and every process
    carrying ``OPENCLAW_TASK_ID=<task_id>`` in its environment (a tool run that
    called setsid and was orphaned still carries it), with its descendants.
    Zombies are left out: they are already dead. ``leader`` may be None when
    no pid was ever recorded: then only the environment tells.
    """
    stats = [s for s in _all_stats() if s.state not in ("Z", "X")]
    me = os.getpid()
    leader_ok = leader is not None and is_alive(leader, leader_start)
    extra = {pid for pid, start in also if pid and is_alive(pid, start)}
    chosen: dict[int, ProcStat] = {}
    for s in stats:
        if s.pid == me:
            continue
        in_group = leader_ok and (s.pgrp == leader or s.session == leader)
        if in_group or (s.pid == leader and leader_ok) or s.pid in extra:
            chosen[s.pid] = s
    for s in stats:
        if s.pid not in chosen and s.pid != me and _carries_task(s.pid, task_id):
            chosen[s.pid] = s
    children: dict[int, list[ProcStat]] = {}
    for s in stats:
        children.setdefault(s.ppid, []).append(s)
    todo = list(chosen)
    while todo:
        for child in children.get(todo.pop(), []):
            if child.pid not in chosen and child.pid != me:
                chosen[child.pid] = child
                todo.append(child.pid)
    return list(chosen.values())


def _signal_all(procs: list[ProcStat], sig: int) -> None:
    for p in procs:
        # Re-check identity right before signalling: the pid may have been reused.
        if is_alive(p.pid, p.start_time):
            try:
                os.kill(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def kill_task_processes(
    leader: int | None,
    leader_start: int | None,
    task_id: str,
    grace: float,
    poll: float = 0.05,
    also: tuple[tuple[int, int | None], ...] = (),
) -> int:
    """SIGTERM every process of the task, then SIGKILL what is left after ``grace`` seconds.

    Returns how many processes were signalled. Returns only when none is left
    (or after a further 10 s of SIGKILL, which only an unkillable process in
    uninterruptible sleep survives; :func:`task_processes` then still lists it).
    """
    procs = task_processes(leader, leader_start, task_id, also)
    if not procs:
        return 0
    seen = {p.pid: p for p in procs}
    _signal_all(procs, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        alive = [p for p in seen.values() if is_alive(p.pid, p.start_time)]
        for p in task_processes(leader, leader_start, task_id, also):
            seen.setdefault(p.pid, p)  # started during the grace period
        if not alive:
            break
        time.sleep(poll)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for p in task_processes(leader, leader_start, task_id, also):
            seen.setdefault(p.pid, p)
        alive = [p for p in seen.values() if is_alive(p.pid, p.start_time)]
        if not alive:
            break
        _signal_all(alive, signal.SIGKILL)
        time.sleep(poll)
    return len(seen)
