"""Wall time of ``openclaw-agent start`` and ``list`` (50 running tasks) on the SSH executor.

Each is measured beside a plain OpenSSH ``ssh -o ControlMaster=no host true``
in the same run, against the same sshd (started here on 127.0.0.1 like the
tests' one, and stopped at the end). Targets (issue 3): ``start`` <= 1.5x and
``list`` of 50 running tasks <= 2x one plain ssh command.

    python bench/bench_ssh.py [--runs 15] [--tasks 50]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from sshd_harness import Sshd, ensure_login_user, keygen, plain_ssh, remove_tree, scratch_dir  # noqa: E402

from openclaw import procs  # noqa: E402

TARGETS = {"start": 1.5, "list": 2.0}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return took, proc.stdout


def console_script() -> str:
    beside = Path(sys.executable).with_name("openclaw-agent")
    return str(beside) if beside.exists() else (shutil.which("openclaw-agent") or "openclaw-agent")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tasks", type=int, default=50)
    args = parser.parse_args()

    user = ensure_login_user()
    scratch = scratch_dir(Path("/tmp/openclaw-ssh-tests") / f"bench-{uuid.uuid4().hex}", user)
    tmp = Path(tempfile.mkdtemp(prefix="openclaw-bench-ssh-"))
    started: list[dict[str, object]] = []
    try:
        key = keygen(tmp / "id_ed25519")
        authorized = scratch / "authorized_keys"
        authorized.write_text(key.with_suffix(".pub").read_text())
        authorized.chmod(0o644)
        home = tmp / "home"
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        with Sshd(scratch / "sshd", authorized, log_level="ERROR") as sshd:
            known = home / ".ssh" / "known_hosts"
            known.write_text(sshd.known_hosts_line())
            config = home / ".config" / "openclaw" / "coding-agent.yaml"
            config.parent.mkdir(parents=True)
            executor = {
                "name": "bench",
                "type": "ssh",
                "host": "127.0.0.1",
                "port": sshd.port,
                "user": user.pw_name,
                "key_path": str(key),
                "claude_path": str(REPO / "tests" / "fakes" / "claude"),
                "remote_root": str(scratch / "tasks"),
            }
            local = {
                "name": "here",
                "type": "local",
                "claude_path": executor["claude_path"],
                "env": {"IS_SANDBOX": "1"},
            }
            config.write_text(json.dumps({"executors": [executor, local]}))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_AUTH", "OPENCLAW_"))}
            env.update(HOME=str(home), NO_COLOR="1")
            plain = plain_ssh(sshd, known, key, user.pw_name, "true")
            oc = console_script()
            start = [oc, "start", "--json", "--executor", "bench", "--prompt", "#fake sleep 600"]
            start += ["--workspace", str(scratch)]
            # The same command on the local executor: the CLI's own cost, with no SSH at all.
            start_local = [oc, "start", "--executor", "here", "--prompt", "#fake text hi"]
            start_local += ["--workspace", str(tmp)]
            local_starts = [timed(start_local, env)[0] for _ in range(args.runs)]
            timed(plain, env)  # warm up
            ssh_start, starts = [], []
            for i in range(args.tasks):
                if i < args.runs:
                    ssh_start.append(timed(plain, env)[0])
                took, out = timed(start, env)
                started.append(json.loads(out))
                if i < args.runs:
                    starts.append(took)
            ssh_list, lists = [], []
            listing = [oc, "list", "--json"]
            timed(listing, env)
            for _ in range(args.runs):
                ssh_list.append(timed(plain, env)[0])
                took, out = timed(listing, env)
                lists.append(took)
            running = sum(1 for m in json.loads(out) if m["status"] == "running")
            figures = {
                "ssh_true_s": round(statistics.median(ssh_start + ssh_list), 4),
                "start_s": round(statistics.median(starts), 4),
                "list_s": round(statistics.median(lists), 4),
                "start_local_executor_s": round(statistics.median(local_starts), 4),
                "start_ssh_overhead_s": round(statistics.median(starts) - statistics.median(local_starts), 4),
                "tasks_listed_running": running,
            }
            figures["start_ratio"] = round(figures["start_s"] / statistics.median(ssh_start), 2)
            figures["list_ratio"] = round(figures["list_s"] / statistics.median(ssh_list), 2)
            figures["targets"] = TARGETS
            figures["ok"] = (
                figures["start_ratio"] <= TARGETS["start"] and figures["list_ratio"] <= TARGETS["list"]
            )
            print(json.dumps(figures, indent=2))
    finally:
        # Stop the benchmark's agents by their recorded identity, then remove everything.
        for meta in started:
            pid, start_time, task_id = meta.get("pid"), meta.get("pid_start_time"), meta.get("task_id")
            if isinstance(pid, int) and isinstance(task_id, str):
                procs.kill_task_processes(
                    pid, start_time if isinstance(start_time, int) else None, task_id, 1.0
                )
        projects = Path(user.pw_dir) / ".claude" / "projects"
        for p in projects.glob(f"*{scratch.name}*"):
            remove_tree(p)
        remove_tree(scratch)
        remove_tree(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
