"""The CPU that watching one idle task costs, beside the runtime's own follow of the same output.

For each executor, one task whose agent writes nothing (the fake claude sleeping) is watched at
once by ``openclaw-agent logs --follow``, ``openclaw-agent wait``, ``openclaw-agent serve``
(which watches every task of the store) and what follows that output without us (the
baseline):

- local: ``tail -f`` of its stdout file;
- container: ``podman logs --follow`` of its container;
- ssh: ``ssh host tail -f`` of its stdout file on the host (one sshd on 127.0.0.1).

Once each has started up, the CPU each uses is read over the same window (default 60 s):
utime + stime of the watcher and of every process under it (``podman wait``, ``podman logs``,
serve's ``podman events``),
from ``/proc``; start-up is counted apart. Only this machine's side is counted (for ssh, not
the host's sshd and tail, the same for both).

Target (issue 17): each <= 2x the baseline over the window. A process that does not wake in
the window uses 0 ticks; the ratio is then taken against one tick (10 ms), the smallest CPU
time the kernel counts.

    python bench/bench_idle.py [--seconds 60] [--executors local,container,ssh]

The ssh case needs root (it logs in as the tests' unprivileged account) and sshd; the
container case podman.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

TICK = os.sysconf("SC_CLK_TCK")
TARGET = 2.0
SETTLE_S = 4.0  # start-up: imports, config, the first look, the runtime's or host's answer
FAKES = REPO / "tests" / "fakes"


def _times(pid: int) -> tuple[float, list[int]]:
    """utime + stime + cutime + cstime of ``pid`` in seconds, and its children's pids."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0, []
    used = sum(int(f) for f in fields[11:15]) / TICK
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                children += [int(c) for c in fh.read().split()]
    return used, children


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and every process under it (live, or reaped by it)."""
    total, todo = 0.0, [pid]
    while todo:
        used, children = _times(todo.pop())
        total += used
        todo += children
    return total


def console_script() -> str:
    return str(Path(sys.executable).with_name("openclaw-agent"))


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "OPENCLAW_", "SSH_AUTH"))}
    env.update(HOME=str(home), IS_SANDBOX="1", NO_COLOR="1", PATH=f"{FAKES}:{env['PATH']}")
    return env


def measure(
    baseline: list[str], task_id: str, env: dict[str, str], cwd: Path, seconds: float
) -> list[tuple[str, float, float]]:
    """(name, start-up s, window s) of the baseline and our three watchers, run side by side."""
    oc = console_script()

    def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )

    watchers = {
        "baseline": spawn(baseline),
        "openclaw-agent logs --follow": spawn([oc, "logs", "--follow", "--task-id", task_id]),
        "openclaw-agent wait": spawn([oc, "wait", "--task-id", task_id]),
        "openclaw-agent serve": spawn([oc, "serve"]),
    }
    try:
        time.sleep(SETTLE_S)
        startup = {name: tree_cpu(p.pid) for name, p in watchers.items()}
        time.sleep(seconds)
        used = {name: tree_cpu(p.pid) - startup[name] for name, p in watchers.items()}
        for name, p in watchers.items():
            if p.poll() is not None:
                raise SystemExit(f"{name} exited during the window ({p.returncode}): the task ended?")
    finally:
        for p in watchers.values():
            if p.poll() is None:
                p.terminate()
            p.wait()
    return [(name, startup[name], used[name]) for name in watchers]


def report(title: str, baseline: str, rows: list[tuple[str, float, float]], seconds: float) -> bool:
    base = max(rows[0][2], 1 / TICK)
    print(f"\n{title}: one idle task, {seconds:.0f} s window (start-up counted apart)")
    print(f"{'watcher':<38} {'start-up s':>10} {'window s':>9} {'x base':>7}")
    ok = True
    for name, startup, used in rows:
        ratio = max(used, 0) / base
        verdict = ""
        if name != "baseline":
            verdict = "ok" if ratio <= TARGET else "OVER"
            ok = ok and ratio <= TARGET
        label = f"{baseline} (baseline)" if name == "baseline" else name
        print(f"{label:<38} {startup:>10.2f} {used:>9.2f} {ratio:>7.1f} {verdict}")
    return ok


def start(env: dict[str, str], cwd: Path, *more: str) -> dict[str, object]:
    out = subprocess.run(
        [console_script(), "start", "--json", *more, "--prompt", "#fake sleep 3600"],
        env=env,
        cwd=cwd,
        capture_output=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"start failed ({out.returncode}): {out.stderr.decode()[-500:]}")
    meta: dict[str, object] = json.loads(out.stdout)
    return meta


def kill(env: dict[str, str], cwd: Path, task_id: object) -> None:
    subprocess.run(
        [console_script(), "kill", "--task-id", str(task_id)], env=env, cwd=cwd, capture_output=True
    )


def local_case(root: Path, seconds: float) -> bool:
    ws = root / "ws"
    ws.mkdir()
    env = clean_env(root / "home")
    meta = start(env, ws)
    stdout = root / "home" / ".local" / "share" / "openclaw" / "tasks" / str(meta["task_id"]) / "stdout"
    try:
        rows = measure(["tail", "-f", str(stdout)], str(meta["task_id"]), env, ws, seconds)
    finally:
        kill(env, ws, meta["task_id"])
    return report("local", "tail -f", rows, seconds)


def container_case(root: Path, seconds: float) -> bool:
    from container_harness import CONTAINERS_CONF_TEXT, build_rootfs

    ws = root / "ws"
    ws.mkdir()
    conf = root / "containers.conf"
    conf.write_text(CONTAINERS_CONF_TEXT)
    env = dict(clean_env(root / "home"), CONTAINERS_CONF=str(conf))
    image = f"localhost/openclaw-bench-idle:{uuid.uuid4().hex[:12]}"
    build_rootfs(root / "rootfs.tar")
    rootfs = str(root / "rootfs.tar")
    subprocess.run(
        ["podman", "import", "-q", "-c", "ENV PATH=/usr/local/bin:/usr/bin:/bin", rootfs, image],
        env=env,
        check=True,
        capture_output=True,
    )
    meta: dict[str, object] = {}
    try:
        config = root / "home" / ".config" / "openclaw" / "coding-agent.yaml"
        config.parent.mkdir(parents=True)
        config.write_text(
            json.dumps(
                {"executors": [{"name": "box", "type": "container", "image": image, "runtime": "podman"}]}
            )
        )
        meta = start(env, ws, "--executor", "box")
        baseline = ["podman", "logs", "--follow", str(meta["host"])]
        rows = measure(baseline, str(meta["task_id"]), env, ws, seconds)
    finally:
        if meta:
            kill(env, ws, meta["task_id"])
            subprocess.run(["podman", "rm", "-f", "-t", "0", str(meta["host"])], env=env, capture_output=True)
        subprocess.run(["podman", "rmi", "-f", image], env=env, capture_output=True)
    return report("container (podman)", "podman logs --follow", rows, seconds)


@contextlib.contextmanager
def ssh_host(root: Path) -> Iterator[tuple[dict[str, str], list[str], Path]]:
    """One sshd on 127.0.0.1 and an ``ssh`` executor on it: the env, the plain ssh argv
    (without its command) and the login user's scratch directory (its tasks under ``tasks``)."""
    import sshd_harness as harness

    user = harness.ensure_login_user()
    scratch = harness.scratch_dir(Path("/tmp/openclaw-ssh-tests") / f"bench-idle-{uuid.uuid4().hex}", user)
    try:
        key, authorized = harness.authorize(root / "id_ed25519", scratch)
        fake = scratch / "claude"
        shutil.copy(FAKES / "claude", fake)
        fake.chmod(0o755)
        harness.chown(fake, user)
        home = root / "home"
        with harness.Sshd(scratch / "sshd", authorized, log_level="ERROR") as sshd:
            known = harness.known_hosts(home, sshd)
            executor = {
                "name": "host",
                "type": "ssh",
                "host": "127.0.0.1",
                "port": sshd.port,
                "user": user.pw_name,
                "key_path": str(key),
                "claude_path": str(fake),
                "remote_root": str(scratch / "tasks"),
            }
            config = home / ".config" / "openclaw" / "coding-agent.yaml"
            config.parent.mkdir(parents=True)
            config.write_text(json.dumps({"executors": [executor]}))
            yield clean_env(home), harness.plain_ssh(sshd, known, key, user.pw_name), scratch
    finally:
        harness.remove_tree(scratch)


def ssh_case(root: Path, seconds: float) -> bool:
    ws = root / "ws"
    ws.mkdir()
    with ssh_host(root) as (env, ssh, scratch):
        meta = start(env, ws, "--executor", "host", "--workspace", str(scratch))
        try:
            baseline = [*ssh, "tail", "-f", str(scratch / "tasks" / str(meta["task_id"]) / "stdout")]
            rows = measure(baseline, str(meta["task_id"]), env, ws, seconds)
        finally:
            kill(env, ws, meta["task_id"])
    return report("ssh", "ssh host tail -f", rows, seconds)


CASES = {"local": local_case, "container": container_case, "ssh": ssh_case}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--executors", default="local,container,ssh")
    args = parser.parse_args()
    ok = True
    for name in args.executors.split(","):
        with tempfile.TemporaryDirectory(prefix=f"openclaw-bench-idle-{name}-") as tmp:
            ok = CASES[name](Path(tmp), args.seconds) and ok
    print(f"\ntarget: <= {TARGET}x the baseline over the window; one tick = {1 / TICK:.3f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
