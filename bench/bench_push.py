"""Push instead of poll: how soon a webhook arrives, what ``serve`` costs idle, an MCP round trip.

Each figure beside its baseline in the same run:

- ``notify``: from an agent's exit (its ``rc`` file's time) to its webhook's arrival at a
  receiver on 127.0.0.1, with ``serve`` at its default interval (2 s): median <= 2.5 s and
  every one <= interval + 0.5 s (the interval shown beside it);
- ``idle``: ``serve``'s CPU over 60 s while it watches 200 running, idle SSH tasks on 4
  hosts (4 sshd on 127.0.0.1): <= 2% of a core (beside the CPU of one ``list`` of them, the
  same look made once by a fresh process);
- ``mcp``: one MCP ``status`` round trip on an open session vs ``openclaw-agent status
  --json`` as a process: <= 0.5x.

Every task started here is stopped by ``openclaw-agent kill`` (and its recorded pid).

    python bench/bench_push.py [--only notify|idle|mcp ...] [--runs 7] [--idle-s 60]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

import bench_fleet as fleet  # noqa: E402

BENCHES = ("notify", "idle", "mcp")
NOTIFY_MEDIAN_S, INTERVAL_S = 2.5, 2.0
IDLE_TASKS, IDLE_HOSTS, IDLE_TARGET = 200, 4, 0.02
MCP_TARGET_X = 0.5


def log(msg: str) -> None:
    print(f"[bench_push] {msg}", file=sys.stderr, flush=True)


def configure(home: Path, config: dict[str, Any]) -> None:
    cfg = home / ".config" / "openclaw" / "coding-agent.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    cfg.write_text(json.dumps(config))
    cfg.chmod(0o600)


def start_serve(env: dict[str, str], cwd: Path, logfile: Path, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [fleet.console_script(), "serve", "--log", str(logfile), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (logfile.exists() and "watching" in logfile.read_text()):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("serve did not start")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- notify ------------------------------------------------------------------------------------
def bench_notify(tmp: Path, runs: int) -> list[fleet.Row]:
    arrivals: list[tuple[float, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrivals.append((time.time(), json.loads(body)["task_id"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tmp / "home-notify"
    home.mkdir()
    env = fleet.clean_env(home)
    configure(home, {"notify": [{"webhook": f"http://127.0.0.1:{server.server_port}/"}],
                     "executors": [{"name": "local", "type": "local"}]})  # fmt: skip
    tasks = home / ".local" / "share" / "openclaw" / "tasks"
    serve = start_serve(env, tmp, tmp / "serve-notify.log")
    latencies = []
    try:
        for _ in range(runs):
            _, proc = fleet.run(
                [fleet.console_script(), "run", "--json", "--", "sh", "-c", "sleep 0.7"], env, tmp
            )
            tid = json.loads(proc.stdout)["task_id"]
            deadline = time.monotonic() + 20
            while not any(t == tid for _, t in arrivals):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no webhook for {tid}")
                time.sleep(0.01)
            at = next(a for a, t in arrivals if t == tid)
            latencies.append(at - (tasks / tid / "rc").stat().st_mtime)
    finally:
        stop(serve)
        server.shutdown()
    worst = max(latencies)
    return [
        fleet.Row("serve --interval (default)", INTERVAL_S, runs),
        fleet.Row(
            "agent exit -> webhook (median)",
            statistics.median(latencies),
            len(latencies),
            statistics.median(latencies) / INTERVAL_S,
            f"<= {NOTIFY_MEDIAN_S} s",
            fleet.verdict(statistics.median(latencies), NOTIFY_MEDIAN_S),
        ),
        fleet.Row(
            "agent exit -> webhook (worst)",
            worst,
            len(latencies),
            worst / INTERVAL_S,
            f"<= {INTERVAL_S + 0.5} s",
            fleet.verdict(worst, INTERVAL_S + 0.5),
        ),
    ]


# -- idle --------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def bench_idle(tmp: Path, idle_s: float) -> list[fleet.Row]:
    from sshd_harness import Sshd, ensure_login_user, scratch_dir

    user = ensure_login_user()
    scratch = scratch_dir(Path("/tmp/openclaw-ssh-tests") / f"bench-push-{uuid.uuid4().hex}", user)
    home = tmp / "home-idle"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    env = fleet.clean_env(home)
    oc = fleet.console_script()
    servers: list[Sshd] = []
    task_ids: list[str] = []
    try:
        executors = fleet.ssh_hosts(tmp, scratch, home, IDLE_HOSTS, servers)
        configure(home, {"executors": executors})
        batch = tmp / "idle.jsonl"
        with batch.open("w") as fh:
            for i in range(IDLE_TASKS):
                line = {
                    "prompt": "#fake sleep 900",
                    "executor": f"host{i % IDLE_HOSTS}",
                    "workspace": str(scratch),
                }
                fh.write(json.dumps(line) + "\n")
        log(f"idle: starting {IDLE_TASKS} tasks on {IDLE_HOSTS} hosts")
        _, proc = fleet.run([oc, "start", "--from", str(batch)], env, tmp)
        task_ids = [json.loads(line)["task_id"] for line in proc.stdout.splitlines()]
        time.sleep(3)  # the agents settle into their sleep
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        _, listing = fleet.run([oc, "list", "--status", "running", "--json"], env, tmp)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        running = len(json.loads(listing.stdout))
        one_look = time.perf_counter() - began
        if PROFILE:
            profile_watch(env)
        log(f"idle: {running} running; serve for {idle_s:g} s")
        serve = start_serve(env, tmp, tmp / "serve-idle.log")
        try:
            time.sleep(3)  # its start-up aside
            c0, t0 = cpu_seconds(serve.pid), time.monotonic()
            time.sleep(idle_s)
            c1, t1 = cpu_seconds(serve.pid), time.monotonic()
        finally:
            stop(serve)
        share = (c1 - c0) / (t1 - t0)
        return [
            fleet.Row(f"list of {running} running SSH tasks (1 look)", one_look, 1, None, f"cpu {cpu:.2f} s"),
            fleet.Row(
                f"serve CPU, {IDLE_TASKS} idle tasks / {IDLE_HOSTS} hosts",
                share,
                1,
                None,
                f"<= {IDLE_TARGET:.0%}",
                fleet.verdict(share, IDLE_TARGET),
            ),
        ]
    finally:
        fleet.stop_ssh_tasks(oc, env, tmp, task_ids)
        for s in servers:
            s.stop()
        fleet.remove_tree(scratch)


PROFILE = False


def profile_watch(env: dict[str, str]) -> None:
    """Ten of serve's looks in this process, under cProfile (``--profile``)."""
    import cProfile
    import pstats

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        from openclaw.config import load
        from openclaw.manager import Manager

        manager = Manager(lambda: load(None))
        manager.watch()
        prof = cProfile.Profile()
        t0 = time.process_time()
        prof.enable()
        for _ in range(10):
            manager.watch()
        prof.disable()
        log(f"profile: {(time.process_time() - t0) / 10 * 1000:.1f} ms CPU per look")
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        # One host's observation, in this thread.
        from openclaw.index import ACTIVE_OR_WAITING

        rows, _ = manager.store.catalogue(set(ACTIVE_OR_WAITING), "host0")
        metas = manager.store.records_of(rows)
        backend = manager.executor_for("host0", "ssh")
        prof = cProfile.Profile()
        t0 = time.process_time()
        prof.enable()
        for _ in range(10):
            backend.observe(metas)
        prof.disable()
        per = (time.process_time() - t0) / 10 * 1000
        log(f"profile: {per:.1f} ms CPU per observe of {len(metas)} on host0")
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- mcp ---------------------------------------------------------------------------------------
def bench_mcp(tmp: Path, runs: int) -> list[fleet.Row]:
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    home = tmp / "home-mcp"
    home.mkdir()
    env = fleet.clean_env(home)
    configure(home, {"executors": [{"name": "local", "type": "local"}]})
    oc = fleet.console_script()
    _, proc = fleet.run([oc, "start", "--json", "--prompt", "#fake sleep 300"], env, tmp)
    tid = json.loads(proc.stdout)["task_id"]
    cli: list[float] = []
    rpc: list[float] = []

    async def main() -> None:
        params = StdioServerParameters(command=oc, args=["mcp"], env=env, cwd=str(tmp))
        with open(os.devnull, "w") as quiet:
            async with stdio_client(params, errlog=quiet) as (r, w), ClientSession(r, w) as s:
                await s.initialize()
                await s.call_tool("status", {"task_id": tid})  # warm
                for _ in range(runs):
                    t0 = time.perf_counter()
                    res = await s.call_tool("status", {"task_id": tid})
                    rpc.append(time.perf_counter() - t0)
                    assert not res.is_error
                    took, _ = fleet.run([oc, "status", "--json", "--task-id", tid], env, tmp)
                    cli.append(took)

    try:
        anyio.run(main)
    finally:
        fleet.run([oc, "kill", "--grace", "1", "--task-id", tid], env, tmp, check=False)
    c, m = statistics.median(cli), statistics.median(rpc)
    return [
        fleet.Row("status --json (a process)", c, len(cli)),
        fleet.Row(
            "MCP status (open session)",
            m,
            len(rpc),
            m / c,
            f"<= {MCP_TARGET_X}x",
            fleet.verdict(m / c, MCP_TARGET_X),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=BENCHES)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--profile", action="store_true", help="idle: profile ten looks in process")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    rows: list[fleet.Row] = []
    with tempfile.TemporaryDirectory(prefix="oc-bench-push-") as name:
        tmp = Path(name)
        for bench in args.only or BENCHES:
            if bench == "notify":
                rows += bench_notify(tmp, args.runs)
            elif bench == "idle":
                rows += bench_idle(tmp, args.idle_s)
            else:
                rows += bench_mcp(tmp, args.runs)
    fleet.print_table(rows)
    return 0 if all(r.verdict != "OVER" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
