"""The ray executor on a real two-node Ray cluster (127.0.0.2), each figure beside its baseline:

- ``start``: ``openclaw-agent start`` on a ray executor vs Ray's own CLI, ``ray job submit
  --no-wait`` of an entrypoint that does the same (a working_dir package and a resource):
  <= 0.5x;
- ``batch``: 100 tasks with ``start --from``: the time until Ray lists all 100 jobs, beside
  100 ``ray job submit --no-wait`` in a loop;
- ``list``: ``openclaw-agent list`` of 100 ray tasks vs one ``curl`` of the Jobs API's
  ``/api/jobs/``: <= 2x.

Every job is stopped and every node stopped by the harness (tests/ray_harness.py) at the end.

    python bench/bench_ray.py [--runs 7] [--tasks 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

import bench_fleet as fleet  # noqa: E402
import ray_harness  # noqa: E402

START_TARGET_X, LIST_TARGET_X = 0.5, 2.0


def log(msg: str) -> None:
    print(f"[bench_ray] {msg}", file=sys.stderr, flush=True)


def timed(argv: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None = None) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, input=stdin, capture_output=True, check=True)
    return time.perf_counter() - began


def jobs(address: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(address + "/api/jobs/", timeout=30) as resp:
        return list(json.loads(resp.read()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    if not ray_harness.available():
        sys.exit("Ray is not installed: bash tests/run installs it in .tools/ray")
    rows: list[fleet.Row] = []
    cluster = ray_harness.new_cluster()
    with tempfile.TemporaryDirectory(prefix="oc-bench-ray-") as name:
        tmp = Path(name)
        home, ws = tmp / "home", tmp / "ws"
        ws.mkdir(parents=True)
        (ws / "job.sh").write_text("true\n")
        env = fleet.clean_env(home)
        node_env = {"PATH": env["PATH"], "IS_SANDBOX": "1"}
        try:
            cluster.start_head({"agent_slot": 1, "bench_slot": 1000}, env=node_env)
            cluster.wait_ready(1)
            cluster.start_worker({"agent_slot": 1, "bench_slot": 1000}, env=node_env)
            cluster.wait_ready(2)
            cfg = home / ".config" / "openclaw" / "coding-agent.yaml"
            cfg.parent.mkdir(parents=True)
            cfg.write_text(
                "executors:\n  - name: ray\n    type: ray\n"
                f"    address: {cluster.address}\n    resources: {{bench_slot: 1000}}\n"
            )
            cfg.chmod(0o600)
            cli = fleet.console_script()
            ray_env = dict(cluster.env(), RAY_ADDRESS=cluster.address)
            ray_cmd = [
                ray_harness.RAY, "job", "submit", "--no-wait", "--working-dir", str(ws),
                "--entrypoint-resources", '{"bench_slot": 1000}', "--", "sh", "job.sh",
            ]  # fmt: skip
            # One job per node holds its whole bench_slot for the bench: every job submitted
            # after waits in Ray, so nothing competes with the figures for the two cores.
            blocker = [
                ray_harness.RAY, "job", "submit", "--no-wait", "--entrypoint-resources",
                '{"bench_slot": 1000}', "--", "sleep", "3600",
            ]  # fmt: skip
            for _ in range(2):
                subprocess.run(blocker, env=ray_env, cwd=ws, capture_output=True, check=True)
            # Warm both (imports, the first package upload).
            timed(ray_cmd, ray_env, ws)
            timed(
                [cli, "start", "--executor", "ray", "--workspace", str(ws), "--prompt", "#fake text w"],
                env,
                ws,
            )
            ours, theirs = [], []
            for _ in range(args.runs):
                theirs.append(timed(ray_cmd, ray_env, ws))
                ours.append(
                    timed(
                        [
                            cli,
                            "start",
                            "--executor",
                            "ray",
                            "--workspace",
                            str(ws),
                            "--prompt",
                            "#fake text b",
                        ],
                        env,
                        ws,
                    )
                )
            mine, base = statistics.median(ours), statistics.median(theirs)
            log(f"start: ours {[round(x, 3) for x in ours]}, ray job submit {[round(x, 3) for x in theirs]}")
            rows += [
                fleet.Row("start: ray job submit --no-wait", base, len(theirs)),
                fleet.Row(
                    "start: openclaw-agent start (ray)",
                    mine,
                    len(ours),
                    mine / base,
                    f"<= {START_TARGET_X:g}x",
                    "ok" if mine / base <= START_TARGET_X else "OVER",
                ),
            ]
            # Batch: 100 tasks, until Ray lists them all.
            before = len(jobs(cluster.address))
            lines = "".join(
                json.dumps({"prompt": f"#fake text {n}", "workspace": str(ws), "executor": "ray"}) + "\n"
                for n in range(args.tasks)
            )
            began = time.perf_counter()
            subprocess.run(
                [cli, "start", "--from", "-"],
                env=env,
                cwd=ws,
                input=lines.encode(),
                capture_output=True,
                check=True,
            )
            while len(jobs(cluster.address)) < before + args.tasks:
                time.sleep(0.05)
            batch_s = time.perf_counter() - began
            began = time.perf_counter()
            for _ in range(args.tasks):
                subprocess.run(ray_cmd, env=ray_env, cwd=ws, capture_output=True, check=True)
            loop_s = time.perf_counter() - began
            log(f"batch: start --from {batch_s:.2f} s, ray job submit x{args.tasks} {loop_s:.2f} s")
            rows += [
                fleet.Row(f"batch: ray job submit x{args.tasks}", loop_s, 1),
                fleet.Row(f"batch: start --from, {args.tasks} queued in Ray", batch_s, 1, batch_s / loop_s),
            ]
            # list of the ray tasks (every one observed through one GET /api/jobs/).
            count = len(
                json.loads(
                    subprocess.run([cli, "list", "--json"], env=env, cwd=ws, capture_output=True).stdout
                )
            )
            curl = [
                timed(["curl", "-s", "-o", "/dev/null", cluster.address + "/api/jobs/"], env, ws)
                for _ in range(args.runs)
            ]
            listing = [timed([cli, "list"], env, ws) for _ in range(args.runs)]
            mine, base = statistics.median(listing), statistics.median(curl)
            log(f"list: {count} tasks {[round(x, 3) for x in listing]}, curl {[round(x, 3) for x in curl]}")
            rows += [
                fleet.Row("list: curl /api/jobs/", base, len(curl)),
                fleet.Row(
                    f"list: openclaw-agent list, {count} ray tasks",
                    mine,
                    len(listing),
                    mine / base,
                    f"<= {LIST_TARGET_X:g}x",
                    "ok" if mine / base <= LIST_TARGET_X else "OVER",
                ),
            ]
            if os.environ.get("BENCH_RAY_HOLD"):  # keep the cluster for profiling by hand
                log(f"holding: HOME={home} cwd={ws}")
                time.sleep(float(os.environ["BENCH_RAY_HOLD"]))
        finally:
            cluster.stop()
    fleet.print_table(rows)
    return 0 if all(r.verdict != "OVER" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
