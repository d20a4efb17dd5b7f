"""Wall time of ``openclaw-agent list`` (1,000 records) and ``start`` (local executor).

Each is measured beside a ``python -c pass`` baseline in the same run, so the
figures can be compared across machines as ratios. Targets (issue 2):
``list`` <= 0.3 s and ``start`` <= 0.35 s on the CI machine.

    python bench/bench_foundation.py [--runs 15] [--records 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openclaw.task import TaskRecord

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"list": 0.30, "start": 0.35}


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def median(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    timed(argv, env, cwd)  # warm the page cache
    return statistics.median(timed(argv, env, cwd) for _ in range(runs))


def finished_record(created_at: str | None = None) -> TaskRecord:
    """A completed task's record, as ``start`` and a completed run leave it."""
    sys.path.insert(0, str(REPO))
    from openclaw.task import new_record, with_fields

    return with_fields(
        new_record(
            task_id=str(uuid.UUID(int=0, version=4)),
            executor="local",
            executor_type="local",
            agent="claude",
            prompt=b"Fix the failing test in the parser module",
            workspace="/work/project",
            command=["claude", "-p"],
            max_turns=30,
            created_at=created_at,
        ),
        status="completed",
        pid=4242,
        pid_start_time=1000,
        agent_pid=4243,
        host="bench",
        started_at="2026-11-24T10:00:00.010Z",
        finished_at="2026-11-24T10:05:00.000Z",
        exit_code=0,
        result={
            "subtype": "success",
            "is_error": False,
            "num_turns": 7,
            "total_cost_usd": 0.1234,
            "duration_ms": 300000,
            "text": "Done.",
        },
    )


def plant_records(tasks: Path, count: int) -> None:
    """``count`` finished task records, as ``start`` and a completed run leave them."""
    from openclaw.task import with_fields

    template = finished_record()
    tasks.mkdir(parents=True)
    for i in range(count):
        task_id = str(uuid.UUID(int=i + 1, version=4))
        d = tasks / task_id
        d.mkdir()
        meta = with_fields(
            template,
            task_id=task_id,
            session_id=task_id,
            created_at=f"2026-11-24T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        )
        (d / ".meta.json").write_text(json.dumps(meta))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()

    cli = shutil.which("openclaw-agent", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if cli is None:
        sys.exit("openclaw-agent is not installed (pip install -e .)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        ws = root / "ws"
        ws.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "OPENCLAW_"))}
        env.update(HOME=str(home), IS_SANDBOX="1", PATH=f"{REPO / 'tests' / 'fakes'}:{env['PATH']}")
        plant_records(home / ".local" / "share" / "openclaw" / "tasks", args.records)

        baseline = median([sys.executable, "-c", "pass"], env, ws, args.runs)
        list_s = median([cli, "list"], env, ws, args.runs)
        start_s = median([cli, "start", "--prompt", "#fake text bench"], env, ws, args.runs)

    rows = [
        ("python -c pass", baseline, None),
        (f"list ({args.records} records)", list_s, "list"),
        ("start (local)", start_s, "start"),
    ]
    print(f"{'what':<22} {'median s':>9} {'x baseline':>11} {'target s':>9}")
    for name, seconds, key in rows:
        target = f"{TARGETS[key]:.2f}" if key else ""
        verdict = "" if not key else ("ok" if seconds <= TARGETS[key] else "OVER")
        print(f"{name:<22} {seconds:>9.3f} {seconds / baseline:>11.1f} {target:>9} {verdict}")


if __name__ == "__main__":
    main()
