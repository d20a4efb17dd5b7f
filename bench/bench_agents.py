"""``start`` with each agent beside Claude Code's ``start``, in one run (issue 11: no agent
adds more than 5% to ``start``).

Each agent runs its faithful fake (tests/fakes/), on the local executor. The
runs are interleaved (one start of each agent per round), so load on the
machine weighs on all of them alike; the figure is each agent's median over
Claude Code's median.

    python bench/bench_agents.py [--runs 21]
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.05
AGENTS = {
    "claude": ["start", "--prompt", "#fake text bench"],
    "codex": ["start", "--agent", "codex", "--prompt", "#fake text bench"],
    "gemini": ["start", "--agent", "gemini", "--prompt", "#fake text bench"],
    "opencode": ["start", "--agent", "opencode", "--prompt", "#fake text bench"],
    "command": ["run", "--", "true"],
}


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    cli = shutil.which("openclaw-agent", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if cli is None:
        sys.exit("openclaw-agent is not installed (pip install -e .)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home, ws, codex_home = root / "home", root / "ws", root / "codex"
        for d in (home / ".gemini", ws, codex_home):
            d.mkdir(parents=True)
        (home / ".gemini" / "settings.json").write_text(
            json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "OPENCLAW_"))}
        env.update(
            HOME=str(home),
            IS_SANDBOX="1",
            CODEX_HOME=str(codex_home),
            GEMINI_API_KEY="bench",
            PATH=f"{REPO / 'tests' / 'fakes'}:{env['PATH']}",
        )
        times: dict[str, list[float]] = {name: [] for name in AGENTS}
        for argv in AGENTS.values():
            timed([cli, *argv], env, ws)  # warm the page cache
        for _ in range(args.runs):
            for name, argv in AGENTS.items():
                times[name].append(timed([cli, *argv], env, ws))
        # Let the tasks end before the directory goes.
        subprocess.run([cli, "cleanup", "--finished"], env=env, cwd=ws, capture_output=True)
    base = statistics.median(times["claude"])
    print(f"{'start with':<12} {'median s':>9} {'x claude':>9} {'target':>7}")
    for name, runs in times.items():
        m = statistics.median(runs)
        verdict = "" if name == "claude" else ("ok" if m / base <= TARGET else "OVER")
        print(f"{name:<12} {m:>9.3f} {m / base:>9.3f} {TARGET:>7.2f} {verdict}")


if __name__ == "__main__":
    main()
