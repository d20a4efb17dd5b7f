"""Observing many running tasks on one SSH host: ``list`` of 50, 400 and 1,000, beside ``ssh host true``.

One sshd on 127.0.0.1 (the tests' harness), one ``ssh`` executor. The tasks are started
with one ``start --from`` batch per step and run a stand-in agent that only sleeps (a
``sh`` script; what an observation costs does not depend on which agent runs, and 1,000
real agents would not fit in memory). At each step ``list --json`` (a fresh process:
config, records, one round trip to the host, the index) is timed beside a plain
``ssh -o ControlMaster=no host true`` in the same run, alternating.

Target (issue 17): observing 1,000 running tasks on one host <= 1.3x the plain ssh, and
the ratio flat in N. Every task started here is stopped by its launcher's process group
(its recorded pid and start time), then everything is removed.

    python bench/bench_observe.py [--runs 9] [--steps 50,400,1000] [--profile FILE]

``--profile FILE`` also runs the last step's ``list --json`` once under cProfile, and writes
its stats to FILE (read them with ``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from sshd_harness import (  # noqa: E402
    Sshd,
    authorize,
    chown,
    ensure_login_user,
    known_hosts,
    plain_ssh,
    remove_tree,
    scratch_dir,
)

from openclaw.watch import start_time  # noqa: E402

TARGET = 1.3
#: One look by a process that stays up (``serve``, the MCP server): its connection is open.
WARM_LOOK = """
import json, statistics, sys, time
from openclaw.config import load
from openclaw.manager import Manager
manager = Manager(lambda: load(None))
manager.list_tasks()
took = []
for _ in range(int(sys.argv[1])):
    began = time.perf_counter()
    manager.list_tasks()
    took.append(time.perf_counter() - began)
print(statistics.median(took))
"""

#: ``list --json`` under cProfile (the console script leaves by ``os._exit`` while an SSH
#: transport thread runs, before cProfile's own ``-o`` would write).
PROFILED = """
import cProfile, sys
from openclaw.program import program
profile = cProfile.Profile()
try:
    profile.runcall(program.run, ["openclaw-agent", "list", "--json"])
except SystemExit:
    pass
finally:
    profile.dump_stats(sys.argv[1])
    sys.stdout.flush()
    import os
    os._exit(0)
"""


def timed(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[float, bytes]:
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, input=stdin, capture_output=True, check=False)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return took, proc.stdout


def stop_groups(metas: list[dict[str, object]]) -> None:
    """Stop each task's launcher process group (the stand-in agent is in it), by the pid and
    start time its record holds: SIGTERM, then SIGKILL what is left after 10 s."""
    groups = [(m["pid"], m.get("pid_start_time")) for m in metas if isinstance(m.get("pid"), int)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, began in groups:
            if start_time(pid) == began:  # type: ignore[arg-type]
                with contextlib.suppress(OSError):
                    os.killpg(pid, sig)  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(start_time(p) == b for p, b in groups):  # type: ignore[arg-type]
            time.sleep(0.1)


def console_script() -> str:
    return str(Path(sys.executable).with_name("openclaw-agent"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--steps", default="50,400,1000")
    parser.add_argument("--profile", help="write cProfile stats of the last step's list here")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]

    user = ensure_login_user()
    scratch = scratch_dir(Path("/tmp/openclaw-ssh-tests") / f"bench-{uuid.uuid4().hex}", user)
    tmp = Path(tempfile.mkdtemp(prefix="openclaw-bench-observe-"))
    started: list[dict[str, object]] = []
    rows = []
    try:
        key, authorized = authorize(tmp / "id_ed25519", scratch)
        sleeper = scratch / "sleeper"
        sleeper.write_text("#!/bin/sh\nexec sleep 900\n")
        sleeper.chmod(0o755)
        chown(sleeper, user)
        home = tmp / "home"
        with Sshd(scratch / "sshd", authorized, log_level="ERROR") as sshd:
            known = known_hosts(home, sshd)
            config = home / ".config" / "openclaw" / "coding-agent.yaml"
            config.parent.mkdir(parents=True)
            executor = {
                "name": "bench",
                "type": "ssh",
                "host": "127.0.0.1",
                "port": sshd.port,
                "user": user.pw_name,
                "key_path": str(key),
                "claude_path": str(sleeper),
                "remote_root": str(scratch / "tasks"),
            }
            config.write_text(json.dumps({"executors": [executor]}))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_AUTH", "OPENCLAW_"))}
            env.update(HOME=str(home), NO_COLOR="1")
            plain = plain_ssh(sshd, known, key, user.pw_name, "true")
            oc = console_script()
            line = json.dumps({"prompt": "sleep", "executor": "bench", "workspace": str(scratch)})
            listing = [oc, "list", "--json"]
            for n in steps:
                more = n - len(started)
                if more > 0:
                    _, out = timed([oc, "start", "--from", "-"], env, stdin=(line + "\n").encode() * more)
                    started += [json.loads(x) for x in out.splitlines() if x.strip()]
                timed(listing, env)  # the first look after a start settles its records
                ssh_s, list_s = [], []
                for _ in range(args.runs):
                    ssh_s.append(timed(plain, env)[0])
                    took, out = timed(listing, env)
                    list_s.append(took)
                running = sum(1 for m in json.loads(out) if m["status"] == "running")
                base, mine = statistics.median(ssh_s), statistics.median(list_s)
                warm = float(timed([sys.executable, "-c", WARM_LOOK, str(args.runs)], env)[1])
                rows.append((n, running, base, mine, warm))
            if args.profile:
                timed([sys.executable, "-c", PROFILED, os.path.abspath(args.profile)], env)
    finally:
        stop_groups(started)
        remove_tree(scratch)
        remove_tree(tmp)
    print("list: a fresh `openclaw-agent list --json` process; look: one more look by a process")
    print("that stays up (serve, MCP), its connection open. Ratios are to the plain ssh.")
    print(
        f"{'tasks':>6} {'running':>8} {'ssh true s':>11} {'list s':>8} {'ratio':>6} "
        f"{'look s':>7} {'ratio':>6}"
    )
    for n, running, base, mine, warm in rows:
        print(
            f"{n:>6} {running:>8} {base:>11.3f} {mine:>8.3f} {mine / base:>6.2f} "
            f"{warm:>7.3f} {warm / base:>6.2f}"
            f"  target <= {TARGET}: list {'ok' if mine / base <= TARGET else 'OVER'},"
            f" look {'ok' if warm / base <= TARGET else 'OVER'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
