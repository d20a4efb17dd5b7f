"""Process facts on this machine: start times, liveness, a task's processes; through psutil.

A pid alone is not an identity: pids are reused. A process is identified by
its pid *and* its start time, on a host identified by its kernel boot id.
The start time is kept the way the launcher records it wherever it runs (a
POSIX-sh script reading ``/proc/PID/stat`` field 22): clock ticks since boot.
psutil gives it here (its ``create_time`` is boot time + ticks / CLK_TCK on
Linux) and, with ``os.getpgid``/``os.getsid``, everything else, without
parsing ``/proc`` by hand. Everything here acts only on processes that match a
recorded identity; nothing matches by name.

psutil is imported on first use, so commands that observe no local process
do not pay for it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

#: Set in the agent's environment by the launcher; inherited by every process it starts.
TASK_ENV = "OPENCLAW_TASK_ID"


@dataclass(frozen=True)
class ProcStat:
    """What identifies a process and places it in a task: pid, state, parent, group, session, start."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    start_time: int


@cache
def _psutil() -> Any:
    import psutil

    return psutil


@cache
def _clock() -> tuple[float, int]:
    """This machine's boot time (s) and clock ticks per second, to turn create_time into ticks."""
    return float(_psutil().boot_time()), int(os.sysconf("SC_CLK_TCK"))


def start_ticks(create_time: float) -> int:
    """A psutil ``create_time`` as clock ticks since boot (``/proc/PID/stat`` field 22)."""
    boot, hz = _clock()
    return round((create_time - boot) * hz)


def _state(status: str) -> str:
    ps = _psutil()
    return {ps.STATUS_ZOMBIE: "Z", ps.STATUS_DEAD: "X"}.get(status, "R")


def _from(pid: int, ppid: int, status: str, create_time: float) -> ProcStat | None:
    try:
        pgrp, session = os.getpgid(pid), os.getsid(pid)
    except (ProcessLookupError, PermissionError):
        return None
    return ProcStat(pid, _state(status), ppid, pgrp, session, start_ticks(create_time))


def stat(pid: int) -> ProcStat | None:
    """The process ``pid``; None when there is no such process."""
    ps = _psutil()
    try:
        proc = ps.Process(pid)
        with proc.oneshot():
            ppid, status, created = proc.ppid(), proc.status(), proc.create_time()
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, ValueError):
        return None
    return _from(pid, ppid, status, created)


def boot_id() -> str | None:
    """This kernel's boot id; it changes on every reboot (Linux only, else None)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def supported() -> bool:
    """Whether agents can be run on this machine: the launcher records start times from /proc."""
    return sys.platform.startswith("linux")


def is_alive(pid: int, start_time: int | None) -> bool:
    """True when ``pid`` runs and, if given, started at ``start_time`` (zombies are dead)."""
    st = stat(pid)
    if st is None or st.state in ("Z", "X"):
        return False
    return start_time is None or st.start_time == start_time


def _all_stats() -> list[ProcStat]:
    out = []
    for proc in _psutil().process_iter(["ppid", "status", "create_time"]):
        info = proc.info
        if info.get("create_time") is None or info.get("ppid") is None:
            continue
        st = _from(proc.pid, info["ppid"], info["status"], info["create_time"])
        if st is not None:
            out.append(st)
    return out


def _carries_task(pid: int, task_id: str) -> bool:
    ps = _psutil()
    try:
        return bool(ps.Process(pid).environ().get(TASK_ENV) == task_id)
    except (ps.Error, OSError):
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
    # The agent's own group first, as taskprocs.sh does on hosts: it must get SIGTERM before
    # its tools die, or it could see a tool fail, end its turn and exit 0 before its signal came.
    procs.sort(key=lambda p: p.pgrp != leader)
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
