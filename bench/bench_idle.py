"""The CPU that watching one idle task costs, beside the runtime's own follow of the same output.

One local task whose agent writes nothing (the fake claude waiting on a gate file) is
watched at once by ``openclaw-agent logs --follow``, ``openclaw-agent wait`` and
``tail -f`` of its stdout (what follows a file on this machine). Once each has started up,
the CPU each uses (utime + stime, ``/proc/PID/stat``) is read over the same window
(default 60 s); start-up is counted separately.

Target (issue 17): each <= 2x the runtime's own follow over the window. A process that
does not wake in the window uses 0 ticks; the ratio is then taken against one tick (10 ms),
the smallest CPU time the kernel counts.

    python bench/bench_idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
TARGET = 2.0


def cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` so far, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    oc = str(Path(sys.executable).with_name("openclaw-agent"))
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-idle-") as tmp:
        root = Path(tmp)
        ws = root / "ws"
        ws.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "OPENCLAW_"))}
        env.update(HOME=str(root / "home"), IS_SANDBOX="1", PATH=f"{REPO / 'tests' / 'fakes'}:{env['PATH']}")
        prompt = "#fake bash until test -e gate; do sleep 1; done\n#fake text done"
        out = subprocess.run(
            [oc, "start", "--json", "--prompt", prompt], env=env, cwd=ws, capture_output=True
        )
        meta = json.loads(out.stdout)
        task_id = meta["task_id"]
        stdout = root / "home" / ".local" / "share" / "openclaw" / "tasks" / task_id / "stdout"

        def spawn(*argv: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ws
            )

        watchers = {
            "tail -f (the runtime's own follow)": spawn("tail", "-f", str(stdout)),
            "openclaw-agent logs --follow": spawn(oc, "logs", "--follow", "--task-id", task_id),
            "openclaw-agent wait": spawn(oc, "wait", "--task-id", task_id),
        }
        try:
            time.sleep(3)  # start-up: imports, config, the first look
            startup = {name: cpu_s(p.pid) for name, p in watchers.items()}
            time.sleep(args.seconds)
            used = {name: cpu_s(p.pid) - startup[name] for name, p in watchers.items()}
            (ws / "gate").touch()
            for p in watchers.values():
                if p.args[0] != "tail":
                    p.wait(timeout=60)
        finally:
            for p in watchers.values():
                if p.poll() is None:
                    p.terminate()
                    p.wait()
    base = max(used["tail -f (the runtime's own follow)"], 1 / TICK)
    print(f"idle local task, {args.seconds:.0f} s window (start-up counted apart)")
    print(f"{'watcher':<38} {'start-up s':>10} {'window s':>9} {'x tail -f':>9}")
    for name in watchers:
        ratio = max(used[name], 0) / base
        verdict = "" if name.startswith("tail") else ("ok" if ratio <= TARGET else "OVER")
        print(f"{name:<38} {startup[name]:>10.2f} {used[name]:>9.2f} {ratio:>9.1f} {verdict}")
    print(f"target: <= {TARGET}x over the window; one tick = {1 / TICK:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
