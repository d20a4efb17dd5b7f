"""Large logs stay fast: the tail of a 1 GB output log, and the CPU cost of an idle --follow.

- ``logs --lines 50`` on a task whose stdout is 1 GB, beside the same command on
  a 10 KB log in the same run: the difference is the cost of the size
  (target: the tail itself in <= 0.1 s). Also timed in-process (no CLI start-up).
- ``logs --follow`` on a running task that writes nothing for 5 s: the CPU time
  the follower used (target: close to none).

    python bench/bench_logs.py [--size-mb 1024] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "stream" / "success_tools.jsonl"


def record(tasks: Path, stdout_bytes: int) -> str:
    """A completed task whose stdout is ``stdout_bytes`` of real stream-json lines."""
    sys.path.insert(0, str(REPO))
    from openclaw.records import TaskStore
    from openclaw.task import new_record, with_fields

    task_id = str(uuid.uuid4())
    meta = with_fields(
        new_record(
            task_id=task_id,
            executor="local",
            executor_type="local",
            agent="claude",
            prompt=b"bench",
            workspace="/tmp",
            command=["claude", "-p"],
            max_turns=30,
            created_at="2026-11-24T10:00:00.000Z",
        ),
        status="completed",
        exit_code=0,
    )
    TaskStore(tasks).create(meta)
    body = FIXTURE.read_bytes()
    middle = b"".join(ln + b"\n" for ln in body.splitlines()[1:-1])
    chunk = middle * max(1, (1 << 20) // len(middle))
    with open(tasks / task_id / "stdout", "wb") as fh:
        written = 0
        while written + len(chunk) < stdout_bytes:
            fh.write(chunk)
            written += len(chunk)
        fh.write(body)
    return task_id


def timed(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cli = shutil.which("openclaw-agent", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if cli is None:
        sys.exit("openclaw-agent is not installed (pip install -e .)")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        tasks = home / ".local" / "share" / "openclaw" / "tasks"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "OPENCLAW_"))}
        env.update(HOME=str(home), IS_SANDBOX="1", PATH=f"{REPO / 'tests' / 'fakes'}:{env['PATH']}")
        big = record(tasks, args.size_mb << 20)
        small = record(tasks, 10 << 10)
        size = (tasks / big / "stdout").stat().st_size

        small_s = statistics.median(timed([cli, "logs", "--task-id", small], env) for _ in range(args.runs))
        big_s = statistics.median(timed([cli, "logs", "--task-id", big], env) for _ in range(args.runs))

        os.environ["HOME"] = str(home)
        from openclaw.config import load
        from openclaw.manager import Manager

        manager = Manager(load)
        samples = []
        for _ in range(args.runs):
            began = time.perf_counter()
            _, entries = manager.tail_entries(big, 50)
            samples.append(time.perf_counter() - began)
        assert entries[-1].kind == "result"
        inproc = statistics.median(samples)

        # An idle follower: a running task that prints nothing for a while.
        started = subprocess.run(
            [cli, "start", "--json", "--prompt=#fake sleep 30"],
            env=env,
            capture_output=True,
            check=True,
            cwd=tmp,
        )
        task = json.loads(started.stdout)["task_id"]
        time.sleep(1.0)  # let the agent's first lines land
        follower = subprocess.Popen(
            [cli, "logs", "--task-id", task, "--follow"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # start-up, tail
        before = _cpu(follower.pid)
        time.sleep(5.0)
        after = _cpu(follower.pid)
        follower.send_signal(signal.SIGINT)
        follower.wait(10)
        subprocess.run([cli, "kill", "--task-id", task, "--grace", "1"], env=env, capture_output=True)
        idle_cpu = after - before

    print(f"stdout size: {size / (1 << 30):.2f} GiB")
    print(f"{'what':<40} {'seconds':>9}")
    print(f"{'logs --lines 50, 10 KB log (CLI)':<40} {small_s:>9.3f}")
    print(f"{'logs --lines 50, 1 GB log (CLI)':<40} {big_s:>9.3f}   ratio {big_s / small_s:.2f}x")
    print(f"{'tail of 50 entries, 1 GB log (in-process)':<40} {inproc:>9.4f}   target <= 0.1")
    share = idle_cpu / 5 * 100
    print(f"{'CPU used by an idle --follow over 5 s':<40} {idle_cpu:>9.3f}   ({share:.2f}% of a core)")


def _cpu(pid: int) -> float:
    """User+system CPU seconds of a live process, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


if __name__ == "__main__":
    main()
