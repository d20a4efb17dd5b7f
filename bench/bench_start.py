"""``openclaw-agent start`` on the local executor beside Claude Code's own ``claude --bg``.

Both start the real, pinned Claude Code CLI (``.tools/``) on the same workspace, offline
against the scripted Messages-API server of the tests (127.0.0.1), in a scratch HOME whose
``~/.claude.json`` has accepted the bypass disclaimer and trusted the workspace (what
``--bg`` needs, FIELD-NOTES). ``claude --bg`` is measured warm: its resident daemon is up
before the first timed run. The two alternate, with a pause between runs so that the
agents they started have answered and gone quiet (3 s: on a 2-core machine a real Claude
Code still uses a core 1.5 s after its start, and that shows in the next run's figure).

Targets (issue 17): ``start`` <= 0.5x a warm ``claude --bg``, and what ``start`` costs
beyond ``openclaw-agent --version`` (the interpreter and the CLI's own start-up) about
30 ms or less.

At the end the daemon is stopped with ``claude daemon stop --any``, every process still
carrying the scratch HOME in its environment (a tag set here) is stopped by pid, and each
task started here by its recorded pid and task id.

    python bench/bench_start.py [--runs 9] [--pause 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "fakes"))

from anthropic_api import FakeAnthropicServer  # noqa: E402

from openclaw import procs  # noqa: E402
from openclaw.watch import start_time  # noqa: E402

CLAUDE = REPO / ".tools" / "node_modules" / ".bin" / "claude"
TARGET_RATIO = 0.5
TARGET_BEYOND_S = 0.030


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, bytes]:
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, check=False)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return took, proc.stdout


def tagged_with(home: Path) -> list[tuple[int, int]]:
    """(pid, start time) of every process whose environment holds ``HOME=<home>``."""
    tag = f"HOME={home}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if tag not in fh.read().split(b"\0"):
                    continue
        except OSError:
            continue
        start = start_time(int(entry))
        if start:
            found.append((int(entry), start))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--pause", type=float, default=3.0)
    args = parser.parse_args()
    if not CLAUDE.exists():
        sys.exit(f"the pinned Claude Code CLI is missing ({CLAUDE}): bash tests/run installs it")

    oc = str(Path(sys.executable).with_name("openclaw-agent"))
    scratch = Path(tempfile.mkdtemp(prefix="openclaw-bench-start-"))
    home, ws = scratch / "home", (scratch / "ws").resolve()
    home.mkdir()
    ws.mkdir()
    claude_json = {
        "bypassPermissionsModeAccepted": True,
        "hasCompletedOnboarding": True,
        "projects": {str(ws): {"hasTrustDialogAccepted": True}},
    }
    (home / ".claude.json").write_text(json.dumps(claude_json))
    started: list[dict[str, object]] = []
    bg, mine, version = [], [], []
    try:
        with FakeAnthropicServer() as api:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "OPENCLAW_"))}
            env.update(
                HOME=str(home),
                IS_SANDBOX="1",
                ANTHROPIC_BASE_URL=f"http://127.0.0.1:{api.port}",
                ANTHROPIC_API_KEY="sk-fake-bench",
                DISABLE_AUTOUPDATER="1",
                DISABLE_TELEMETRY="1",
                CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
                DISABLE_ERROR_REPORTING="1",
            )
            config = home / ".config" / "openclaw" / "coding-agent.yaml"
            config.parent.mkdir(parents=True)
            config.write_text(
                json.dumps({"executors": [{"name": "here", "type": "local", "claude_path": str(CLAUDE)}]})
            )
            claude_bg = [str(CLAUDE), "--bg", "--dangerously-skip-permissions", "-p", "Say done."]
            start = [oc, "start", "--json", "--prompt", "Say done."]
            timed(claude_bg, env, ws)  # the daemon comes up: --bg is measured warm
            started.append(json.loads(timed(start, env, ws)[1]))
            time.sleep(args.pause * 2)
            for _ in range(args.runs):
                bg.append(timed(claude_bg, env, ws)[0])
                time.sleep(args.pause)
                took, out = timed(start, env, ws)
                mine.append(took)
                started.append(json.loads(out))
                time.sleep(args.pause)
                version.append(timed([oc, "--version"], env, ws)[0])
            subprocess.run([str(CLAUDE), "daemon", "stop", "--any"], env=env, capture_output=True, timeout=30)
    finally:
        for meta in started:
            pid, pst, task_id = meta.get("pid"), meta.get("pid_start_time"), meta.get("task_id")
            if isinstance(pid, int) and isinstance(task_id, str):
                procs.kill_task_processes(pid, pst if isinstance(pst, int) else None, task_id, 1.0)
        time.sleep(1)
        for pid, began in tagged_with(home):
            if start_time(pid) == began:
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
    b, m, v = statistics.median(bg), statistics.median(mine), statistics.median(version)
    ratio = m / b
    print(f"{'what':<32} {'median s':>9}")
    print(f"{'claude --bg (warm daemon)':<32} {b:>9.3f}")
    print(
        f"{'openclaw-agent start (local)':<32} {m:>9.3f}   {ratio:.2f}x claude --bg, "
        f"target <= {TARGET_RATIO}x {'ok' if ratio <= TARGET_RATIO else 'OVER'}"
    )
    print(f"{'openclaw-agent --version':<32} {v:>9.3f}")
    beyond = m - v
    print(
        f"{'start beyond --version':<32} {beyond:>9.3f}   target <= {TARGET_BEYOND_S:.3f} "
        f"{'ok' if beyond <= TARGET_BEYOND_S else 'OVER'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
