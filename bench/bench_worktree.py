"""Wall time of ``start --worktree`` on a repository of 20,000 files.

Measured beside its two baselines in the same run, interleaved run by run:

- ``git worktree add -b BRANCH PATH HEAD`` of the same repository (bare git);
- ``start`` without a worktree (the local executor, the fake claude), as today.

Target: ``start --worktree`` <= 1.3 x the bare ``git worktree add``, plus today's
``start``; the figure reported is ``(worktree start - start) / worktree add``.
Each task ends at once (the fake claude prints one text) and is waited for
(its launcher commits what it left, outside the timing) before the next run.
Worktrees, branches and the repository are removed at the end.

    python bench/bench_worktree.py [--files 20000] [--runs 7] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"
TARGET_X = 1.3


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: int) -> None:
    """A repository of ``files`` small files in 100 directories, one commit."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for n in range(files):
        d = path / f"d{n % 100:02d}"
        d.mkdir(exist_ok=True)
        (d / f"f{n}.txt").write_text(f"file {n}\n" * 4)
    git(path, "add", "-A")
    git(path, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "files")


def console_script() -> str:
    beside = Path(sys.executable).with_name("openclaw-agent")
    return str(beside) if beside.exists() else "openclaw-agent"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed: {proc.stderr}")
    return took, proc.stdout


def settle(tasks: Path, task_id: str) -> None:
    """Wait until the task's launcher wrote rc (its commit is done)."""
    deadline = time.monotonic() + 60
    while not (tasks / task_id / "rc").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"task {task_id} did not end")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tmp", default=None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="oc-bench-wt-", dir=args.tmp))
    try:
        repo = base / "repo"
        home = base / "home"
        home.mkdir()
        t0 = time.perf_counter()
        make_repo(repo, args.files)
        print(f"repository of {args.files} files made in {time.perf_counter() - t0:.1f} s")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "OPENCLAW_"))}
        env.update(HOME=str(home), PATH=f"{FAKES}:{env.get('PATH', os.defpath)}", IS_SANDBOX="1")
        tasks = home / ".local" / "share" / "openclaw" / "tasks"
        oc = console_script()
        start = [oc, "start", "--prompt", "#fake text hi", "--json"]
        # Warm-up: the page cache, the validation memo, the index.
        for argv in (start, [*start, "--worktree"]):
            _, out = timed(argv, env, repo)
            settle(tasks, out.split('"task_id":"', 1)[1][:36])
        add, plain, wt = [], [], []
        for n in range(args.runs):
            took, _ = timed(
                ["git", "worktree", "add", "-q", "-b", f"bench/{n}", str(base / f"wt{n}"), "HEAD"], env, repo
            )
            add.append(took)
            took, out = timed(start, env, repo)
            plain.append(took)
            settle(tasks, out.split('"task_id":"', 1)[1][:36])
            took, out = timed([*start, "--worktree"], env, repo)
            wt.append(took)
            settle(tasks, out.split('"task_id":"', 1)[1][:36])
        a, p, w = (statistics.median(x) for x in (add, plain, wt))
        ratio = (w - p) / a
        print(f"git worktree add           {a * 1000:7.1f} ms (median of {args.runs})")
        print(f"start                      {p * 1000:7.1f} ms")
        print(f"start --worktree           {w * 1000:7.1f} ms")
        verdict = "ok" if ratio <= TARGET_X else "OVER"
        print(
            f"(start --worktree - start) / git worktree add = {ratio:.2f}x (target <= {TARGET_X}x): {verdict}"
        )
    finally:
        # The tasks ended (settle); their worktrees and the repository go with the directory.
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
