"""Wall time of the fleet at scale: many records, a long queue, a batch of SSH starts.

Each figure is measured beside its baseline in the same run (interleaved, run
by run), and the median is reported with its ratio to the baseline:

- ``list``: ``openclaw-agent list`` with 10,000 finished records, <= 0.3 s
  (``python -c pass`` shown beside it);
- ``scale``: ``start`` (local executor, the fake claude), ``list --status
  running`` and ``dashboard``, each with 100,000 finished records vs the same
  command with none: <= 1.2x;
- ``drain``: one ``Manager(...).drain()`` (in process) dispatching 1,000
  queued tasks into 10 free slots, <= 0.5 s (beside a drain of an empty queue);
- ``from``: ``start --from tasks.jsonl`` with 200 tasks for 4 SSH executors
  (4 sshd on 127.0.0.1) vs one single SSH ``start``: <= 3x.

Finished records are planted as files (in the store's own format, with the
validation memo a steady state has: no one-off validation on first read), on
tmpfs (/dev/shm) when there is one: 100,000 directories are created and
removed there in seconds, where a disk may take minutes. The drain and the
SSH batch write records (fsync) and run in the system's temporary directory,
as a real store would. ``--tmp DIR`` puts them all in DIR. Everything is
removed at the end. Every agent started here is stopped by its recorded pid
(or ``openclaw-agent kill``).

    python bench/bench_fleet.py [--only list|scale|drain|from ...] [--runs 5] [--budget 20] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"
FAKE_CLAUDE = FAKES / "claude"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from openclaw import procs  # noqa: E402

BENCHES = ("list", "scale", "drain", "from")
#: Absolute targets (seconds) and ratio targets (times the baseline).
LIST_RECORDS, LIST_TARGET_S = 10_000, 0.30
SCALE_RECORDS, SCALE_TARGET_X = 100_000, 1.2
DRAIN_QUEUED, DRAIN_SLOTS, DRAIN_TARGET_S = 1_000, 10, 0.50
FROM_TASKS, FROM_HOSTS, FROM_TARGET_X = 200, 4, 3.0


@dataclass
class Row:
    what: str
    seconds: float | None
    runs: int
    ratio: float | None = None
    target: str = ""
    verdict: str = ""


def log(msg: str) -> None:
    print(f"[bench_fleet] {msg}", file=sys.stderr, flush=True)


def console_script() -> str:
    beside = Path(sys.executable).with_name("openclaw-agent")
    return str(beside) if beside.exists() else (shutil.which("openclaw-agent") or "openclaw-agent")


def clean_env(home: Path) -> dict[str, str]:
    """The environment of a command run here: its own HOME, the fakes first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "OPENCLAW_", "SSH_AUTH"))}
    env.update(HOME=str(home), IS_SANDBOX="1", NO_COLOR="1", PATH=f"{FAKES}:{env.get('PATH', os.defpath)}")
    return env


def run(
    argv: list[str], env: dict[str, str], cwd: Path, check: bool = True
) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    took = time.perf_counter() - began
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return took, proc


def measure(fns: dict[str, Callable[[], float]], runs: int, budget: float) -> dict[str, list[float]]:
    """Each of ``fns`` once to warm up, then ``runs`` rounds, interleaved; after 3 rounds,
    stop early once the rounds have taken ``budget`` seconds."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    began = time.monotonic()
    for i in range(runs):
        for name, fn in fns.items():
            samples[name].append(fn())
        if i + 1 >= min(3, runs) and time.monotonic() - began > budget:
            break
    return samples


def verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "OVER"


# -- planting ------------------------------------------------------------------------------------


def against(base_what: str, base: list[float], what: str, samples: list[float], target_s: float) -> list[Row]:
    """A baseline's row and a measured row held to an absolute target (``target_s`` seconds)."""
    b, m = statistics.median(base), statistics.median(samples)
    return [
        Row(base_what, b, len(base)),
        Row(what, m, len(samples), m / b, f"<= {target_s:.2f} s", verdict(m, target_s)),
    ]


def finished_template() -> dict[str, Any]:
    """A completed task's record, as ``start`` and a completed run leave it."""
    from bench_foundation import finished_record

    return dict(finished_record(created_at="2026-01-01T00:00:00.000Z"))


def plant_finished(tasks: Path, count: int) -> None:
    """``count`` finished records written directly, in the store's format (indented, sorted
    keys), with their digests in the validation memo as the store keeps it: the steady state
    of a store whose records openclaw wrote itself (no one-off validation of each on first read)."""
    from openclaw.paths import make_private_dirs
    from openclaw.records import CACHE, MEMO
    from openclaw.schema import META_SCHEMA, ValidMemo, digest, first_problem

    template = finished_template()
    sentinel_id, sentinel_at = template["task_id"], template["created_at"]
    text = json.dumps(template, indent=1, sort_keys=True) + "\n"
    make_private_dirs(tasks)
    memo = ValidMemo(tasks / CACHE / MEMO, META_SCHEMA, mkdir=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for i in range(count):
        task_id = str(uuid.UUID(int=i + 1, version=4))
        at = f"2026-11-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        data = text.replace(sentinel_id, task_id).replace(sentinel_at, at).encode()
        if i == 0:
            problem = first_problem(META_SCHEMA, json.loads(data))
            if problem:
                raise RuntimeError(f"the planted record is not valid: {problem}")
        d = tasks / task_id
        os.mkdir(d, 0o700)
        fd = os.open(d / ".meta.json", flags, 0o600)
        os.write(fd, data)
        os.close(fd)
        memo.add(digest(data))
    memo.flush()
    # A store openclaw wrote has its index beside the records (openclaw.index): built here,
    # untimed, as the first command after planting would build it.
    from openclaw.records import TaskStore

    TaskStore(tasks).index.rebuild("planted")


def machine_cpu() -> float:
    """CPU seconds this machine has spent busy (all cores, every process) since boot."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:9]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def stop_agent(meta: dict[str, Any]) -> None:
    """Stop a task's processes by its recorded identity (pid, start time, task tag)."""
    pid, start, task_id = meta.get("pid"), meta.get("pid_start_time"), meta.get("task_id")
    if isinstance(pid, int) and isinstance(task_id, str):
        procs.kill_task_processes(pid, start if isinstance(start, int) else None, task_id, 1.0)


def wait_gone(meta: dict[str, Any], timeout: float = 15.0) -> None:
    """Wait (untimed) for a short task's launcher to exit, so it does not load the next run."""
    pid, start = meta.get("pid"), meta.get("pid_start_time")
    if not isinstance(pid, int):
        return
    deadline = time.monotonic() + timeout
    while procs.is_alive(pid, start if isinstance(start, int) else None) and time.monotonic() < deadline:
        time.sleep(0.01)


# -- 1. list with 10,000 records ----------------------------------------------------------------


def bench_list(tmp: Path, runs: int, budget: float) -> list[Row]:
    home = tmp / "home-list"
    ws = tmp / "ws"
    ws.mkdir(exist_ok=True)
    log(f"list: planting {LIST_RECORDS:,} finished records")
    plant_finished(home / ".local" / "share" / "openclaw" / "tasks", LIST_RECORDS)
    env = clean_env(home)
    oc = console_script()

    def py() -> float:
        return run([sys.executable, "-c", "pass"], env, ws)[0]

    def listing() -> float:
        return run([oc, "list"], env, ws)[0]

    try:
        s = measure({"base": py, "list": listing}, runs, budget)
    finally:
        remove_tree(home)
    return against("python -c pass", s["base"], f"list ({LIST_RECORDS:,} records)", s["list"], LIST_TARGET_S)


# -- 2. start, list --status running, dashboard: 100,000 records vs none -------------------------


def bench_scale(tmp: Path, runs: int, budget: float) -> list[Row]:
    big, empty = tmp / "home-big", tmp / "home-empty"
    ws = tmp / "ws"
    ws.mkdir(exist_ok=True)
    oc = console_script()
    started: list[dict[str, Any]] = []
    rows: list[Row] = []
    try:
        log(f"scale: planting {SCALE_RECORDS:,} finished records")
        began = time.monotonic()
        plant_finished(big / ".local" / "share" / "openclaw" / "tasks", SCALE_RECORDS)
        log(f"scale: planted in {time.monotonic() - began:.1f} s")
        (empty / ".local" / "share" / "openclaw").mkdir(parents=True, mode=0o700)

        def command(argv: list[str], home: Path) -> Callable[[], float]:
            env = clean_env(home)

            def fn() -> float:
                return run([oc, *argv], env, ws)[0]

            return fn

        def start(home: Path) -> Callable[[], float]:
            env = clean_env(home)
            argv = [oc, "start", "--json", "--prompt", "#fake text bench", "--workspace", str(ws)]

            def fn() -> float:
                took, proc = run(argv, env, ws)
                meta = json.loads(proc.stdout)
                started.append(meta)
                wait_gone(meta)  # untimed: the short agent ends before the next run
                return took

            return fn

        cases: list[tuple[str, Callable[[Path], Callable[[], float]]]] = [
            ("start (local)", start),
            ("list --status running", lambda h: command(["list", "--status", "running"], h)),
            ("dashboard", lambda h: command(["dashboard"], h)),
        ]
        for name, make in cases:
            log(f"scale: {name}")
            s = measure({"none": make(empty), "big": make(big)}, runs, budget)
            none, many = statistics.median(s["none"]), statistics.median(s["big"])
            rows.append(Row(f"{name}, no records", none, len(s["none"])))
            rows.append(
                Row(
                    f"{name}, {SCALE_RECORDS // 1000}k records",
                    many,
                    len(s["big"]),
                    many / none,
                    f"<= {SCALE_TARGET_X:.1f}x",
                    verdict(many / none, SCALE_TARGET_X),
                )
            )
    finally:
        for meta in started:
            stop_agent(meta)
        log("scale: removing the planted records")
        remove_tree(big)
        remove_tree(empty)
    return rows


# -- 3. drain 1,000 queued tasks into 10 free slots --------------------------------------------------


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process's environment set to ``env`` (local agents inherit it), then restored."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bench_drain(tmp: Path, runs: int, budget: float) -> list[Row]:
    from openclaw import config as config_mod
    from openclaw import states
    from openclaw.errors import OpenclawError
    from openclaw.manager import Manager
    from openclaw.records import TaskStore

    home = tmp / "home-drain"
    ws = tmp / "ws"
    ws.mkdir(exist_ok=True)
    data = home / ".local" / "share" / "openclaw"
    tasks, empty_tasks = data / "tasks", tmp / "drain-empty" / "tasks"
    cfg_file = home / ".config" / "openclaw" / "coding-agent.yaml"
    cfg_file.parent.mkdir(parents=True, mode=0o700)
    executor = {
        "name": "local",
        "type": "local",
        "max_concurrent": DRAIN_SLOTS,
        "claude_path": str(FAKE_CLAUDE),
        "env": {"IS_SANDBOX": "1"},
    }
    cfg_file.write_text(json.dumps({"executors": [executor]}))
    cfg_file.chmod(0o600)
    dispatched: list[str] = []
    with environment(clean_env(home)):
        config = config_mod.load(str(cfg_file))

        def plant_queued(count: int) -> None:
            """``count`` queued tasks exactly as ``start`` leaves them when every slot is taken:
            ``Manager.start``'s own fleet path (record with ``request`` and ``routing``, the
            ``prompt`` file, the ``.queue/<id>`` marker), with its closing drain left out."""
            m = Manager(config, TaskStore(tasks))
            m.drain = lambda first=None: []  # type: ignore[method-assign]
            for _ in range(count):
                meta = m.start(b"#fake sleep 60", executor="local", workspace=str(ws))
                if meta["status"] != states.QUEUED:
                    raise RuntimeError(f"planting: start left a task {meta['status']}, not queued")

        def settle(ids: list[str]) -> None:
            """Stop the dispatched agents by their recorded pids, then let the records say so."""
            store = TaskStore(tasks)
            for task_id in ids:
                # Its launcher would drain the queue as the agent exits (openclaw.launcher's
                # on-exit hook): the bench times its own drain, so the hook goes first.
                with contextlib.suppress(OSError, OpenclawError):
                    store.file(task_id, "on-exit").unlink()
                with contextlib.suppress(OpenclawError):
                    stop_agent(dict(store.read(task_id)))
            m = Manager(config, store)
            for task_id in ids:
                with contextlib.suppress(OpenclawError):
                    m.kill(task_id, grace=1.0)

        def drain_full() -> float:
            began = time.perf_counter()
            ids = Manager(config, TaskStore(tasks)).drain()
            took = time.perf_counter() - began
            dispatched.extend(ids)
            if len(ids) != DRAIN_SLOTS:
                raise RuntimeError(f"the drain dispatched {len(ids)} tasks, not {DRAIN_SLOTS}")
            settle(ids)  # untimed: free the slots, and top the queue up again
            plant_queued(len(ids))
            return took

        def drain_empty() -> float:
            began = time.perf_counter()
            ids = Manager(config, TaskStore(empty_tasks)).drain()
            took = time.perf_counter() - began
            if ids:
                raise RuntimeError("the empty queue dispatched something")
            return took

        try:
            log(f"drain: queueing {DRAIN_QUEUED:,} tasks")
            began = time.monotonic()
            TaskStore(empty_tasks).ensure_root()
            plant_queued(DRAIN_QUEUED)
            queued = len(TaskStore(tasks).queued())
            if queued != DRAIN_QUEUED:
                raise RuntimeError(f"planting left {queued} queue markers, not {DRAIN_QUEUED}")
            log(f"drain: queued in {time.monotonic() - began:.1f} s")
            s = measure({"empty": drain_empty, "full": drain_full}, runs, budget)
        finally:
            settle(dispatched)
            # Whatever else holds a recorded pid and is not final (a drain cut short): stopped too.
            for meta in TaskStore(tasks).all()[0] if tasks.is_dir() else []:
                if meta["status"] not in states.FINAL:
                    stop_agent(dict(meta))
            remove_tree(home)
            remove_tree(empty_tasks.parent)
    what = f"drain {DRAIN_QUEUED:,} queued -> {DRAIN_SLOTS} slots"
    return against("drain, empty queue", s["empty"], what, s["full"], DRAIN_TARGET_S)


# -- 4. start --from: 200 tasks on 4 SSH executors ----------------------------------------------------


def bench_from(tmp: Path, runs: int, budget: float) -> list[Row]:
    from sshd_harness import Sshd, chown, ensure_login_user, scratch_dir

    user = ensure_login_user()
    scratch = scratch_dir(Path("/tmp/openclaw-ssh-tests") / f"bench-fleet-{uuid.uuid4().hex}", user)
    home = tmp / "home-from"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    env = clean_env(home)
    ws = tmp / "ws"
    ws.mkdir(exist_ok=True)
    oc = console_script()
    task_ids: list[str] = []
    rows: list[Row] = []
    servers: list[Sshd] = []
    try:
        # The agent is a shell that sleeps: the four hosts are this machine, and 200 Python fakes
        # starting at once would time their own start-up (about 40 s of CPU), not the dispatch.
        sleeper = scratch / "sleeper"
        sleeper.write_text("#!/bin/sh\nexec sleep 600\n")
        sleeper.chmod(0o755)
        chown(sleeper, user)
        executors = ssh_hosts(tmp, scratch, home, FROM_HOSTS, servers, agent=sleeper)
        cfg = home / ".config" / "openclaw" / "coding-agent.yaml"
        cfg.parent.mkdir(parents=True, mode=0o700)
        cfg.write_text(json.dumps({"executors": executors}))
        cfg.chmod(0o600)
        batch = tmp / "tasks.jsonl"
        with batch.open("w") as fh:
            for i in range(FROM_TASKS):
                line = {"prompt": f"#fake text bench {i}", "executor": f"host{i % FROM_HOSTS}"}
                fh.write(json.dumps(dict(line, workspace=str(scratch))) + "\n")

        single_argv = [oc, "start", "--json", "--executor", "host0", "--prompt", "#fake text bench"]
        single_argv += ["--workspace", str(scratch)]

        def single() -> float:
            took, proc = run(single_argv, env, ws)
            task_ids.append(json.loads(proc.stdout)["task_id"])
            return took

        log("from: single SSH start")
        s = measure({"single": single}, runs, budget)
        one = statistics.median(s["single"])
        rows.append(Row("start, 1 task (SSH)", one, len(s["single"])))
        what = f"start --from ({FROM_TASKS} tasks, {FROM_HOSTS} SSH)"

        log(f"from: start --from with {FROM_TASKS} tasks")
        batches: list[float] = []
        missing = ""
        for _ in range(max(1, min(runs, 3))):
            busy = machine_cpu()
            took, proc = run([oc, "start", "--from", str(batch)], env, ws, check=False)
            busy = machine_cpu() - busy
            cores = os.cpu_count() or 1
            log(
                f"from: {took:.2f} s; this machine (client, sshds, shells, launchers) was busy "
                f"{busy:.2f} CPU-s of {took * cores:.2f} ({busy / (took * cores):.0%} of {cores} cores)"
            )
            for raw in proc.stdout.splitlines():
                with contextlib.suppress(ValueError, AttributeError, TypeError):
                    tid = json.loads(raw).get("task_id")
                    if isinstance(tid, str):
                        task_ids.append(tid)
            err = proc.stderr.decode(errors="replace")
            unknown_flag = "No idea what '--from'" in err or "unrecognized" in err.lower()
            if proc.returncode == 2 and unknown_flag and not proc.stdout.strip():
                missing = "start --from not available"
                log(f"from: {missing}: {err.strip().splitlines()[-1] if err.strip() else ''}")
                break
            if proc.returncode != 0:
                missing = f"start --from failed ({proc.returncode}): {err.strip()[-200:]}"
                log(f"from: {missing}")
                break
            batches.append(took)
        if missing:
            rows.append(Row(what, None, 0, None, f"<= {FROM_TARGET_X:.1f}x", missing))
        else:
            many = statistics.median(batches)
            ratio = many / one
            target = f"<= {FROM_TARGET_X:.1f}x"
            rows.append(Row(what, many, len(batches), ratio, target, verdict(ratio, FROM_TARGET_X)))
    finally:
        stop_ssh_tasks(oc, env, ws, task_ids, by_pid=True)
        for sshd in servers:
            sshd.stop()
        projects = Path(user.pw_dir) / ".claude" / "projects"
        for p in projects.glob(f"*{scratch.name}*"):
            remove_tree(p)
        remove_tree(scratch)
        remove_tree(home)
    return rows


def ssh_hosts(
    tmp: Path, scratch: Path, home: Path, count: int, servers: list[Any], agent: Path = FAKE_CLAUDE
) -> list[dict[str, Any]]:
    """``count`` SSH hosts for the user at ``home``: a key of its own, an sshd each on its own
    loopback port (appended to ``servers`` as it starts, for the caller to stop), their host
    keys known; as executors ``host0``... of ``agent`` (default: the fake claude)."""
    from sshd_harness import Sshd, authorize, ensure_login_user, known_hosts

    user = ensure_login_user()
    key, authorized = authorize(tmp / f"id_ed25519_{uuid.uuid4().hex[:8]}", scratch)
    executors = []
    for i in range(count):
        sshd = Sshd(scratch / f"sshd{i}", authorized, log_level="ERROR").start()
        servers.append(sshd)
        executors.append(
            {
                "name": f"host{i}",
                "type": "ssh",
                "host": "127.0.0.1",
                "port": sshd.port,
                "user": user.pw_name,
                "key_path": str(key),
                "claude_path": str(agent),
                "remote_root": str(scratch / f"tasks{i}"),
            }
        )
    known_hosts(home, *servers)
    return executors


def stop_ssh_tasks(
    oc: str, env: dict[str, str], cwd: Path, task_ids: list[str], by_pid: bool = False
) -> None:
    """Stop whatever of this bench's SSH tasks still runs: ``openclaw-agent kill`` by id, and
    (the hosts are this machine) the recorded pid of any that survives it. ``by_pid``: by the
    recorded pid first (hundreds of tasks: one ``kill`` process each would take minutes)."""
    if not task_ids:
        return
    if by_pid:
        _, proc = run([oc, "list", "--json"], env, cwd, check=False)
        with contextlib.suppress(ValueError, TypeError):
            for meta in json.loads(proc.stdout):
                if meta.get("task_id") in task_ids and meta.get("status") == "running":
                    stop_agent(meta)
    from openclaw import states

    def records() -> dict[str, dict[str, Any]]:
        _, proc = run([oc, "list", "--json"], env, cwd, check=False)
        try:
            return {m["task_id"]: m for m in json.loads(proc.stdout)}
        except (ValueError, TypeError, KeyError):
            log(f"cleanup: list --json failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
            return {}

    before = records()
    for tid in task_ids:
        meta = before.get(tid)
        if meta is not None and meta.get("status") in states.FINAL:
            continue
        _, proc = run([oc, "kill", "--grace", "1", "--task-id", tid], env, cwd, check=False)
        if proc.returncode != 0:
            log(f"cleanup: kill {tid} failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
    after = records()
    for tid in task_ids:
        meta = after.get(tid) or before.get(tid)
        if meta is not None:
            stop_agent(meta)


# -- main ------------------------------------------------------------------------------------------------


def shm() -> str | None:
    """tmpfs, when there is one we may write to (None: the system's temporary directory)."""
    path = Path("/dev/shm")
    return str(path) if path.is_dir() and os.access(path, os.W_OK | os.X_OK) else None


def print_table(rows: list[Row]) -> None:
    print(f"{'what':<40} {'median s':>9} {'n':>3} {'ratio':>8} {'target':>10}  verdict")
    for r in rows:
        secs = "-" if r.seconds is None else f"{r.seconds:.{6 if r.seconds < 0.01 else 4}f}"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        print(f"{r.what:<40} {secs:>9} {r.runs:>3} {ratio:>8} {r.target:>10}  {r.verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=BENCHES, help="run only this bench (repeatable)")
    parser.add_argument("--runs", type=int, default=5, help="rounds per figure, at most (default 5)")
    parser.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="after 3 rounds, stop a figure's rounds once they took this many seconds (default 20)",
    )
    parser.add_argument(
        "--tmp",
        help="where every temporary directory goes (default: /dev/shm for the planted finished "
        "records of list and scale, the system's temporary directory for drain and from, whose "
        "record writes fsync as on a real store)",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    wanted = args.only or list(BENCHES)
    benches: dict[str, tuple[Callable[[Path, int, float], list[Row]], str | None]] = {
        "list": (bench_list, shm()),
        "scale": (bench_scale, shm()),
        "drain": (bench_drain, None),
        "from": (bench_from, None),
    }
    rows: list[Row] = []
    began = time.monotonic()
    for name in BENCHES:
        if name not in wanted:
            continue
        fn, where = benches[name]
        tmp = Path(tempfile.mkdtemp(prefix=f"openclaw-bench-fleet-{name}-", dir=args.tmp or where))
        log(f"{name}: temporary directory {tmp}")
        try:
            rows += fn(tmp, args.runs, args.budget)
        finally:
            remove_tree(tmp)
    print_table(rows)
    log(f"done in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
