"""A real Ray cluster on this machine for the tests: a head and, optionally, worker nodes.

Each node is one ``ray start --block`` that the test starts in a session of its own and
stops by its recorded pid: SIGTERM to its process group and to every process that
descends from it, SIGKILL after a grace. Nodes listen on 127.0.0.2 (Ray rewrites 127.0.0.1
to the machine's own address) with ports picked free, and keep their files in a temporary
directory of their own, so two clusters never meet. Ray itself lives in its own virtualenv
(``.tools/ray``, pinned by ``bash tests/run``); the tests find it by ``OPENCLAW_RAY``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: The ray command of the pinned Ray (tests/run installs it in .tools/ray).
RAY = os.environ.get("OPENCLAW_RAY") or str(REPO / ".tools" / "ray" / "bin" / "ray")
IP = "127.0.0.2"


def available() -> bool:
    return os.access(RAY, os.X_OK)


def free_port(ip: str = IP) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


@dataclass
class Node:
    proc: subprocess.Popen[bytes]
    log: Path
    #: Every process seen descending from it (kept up to date by Cluster.remember).
    seen: set[int] = field(default_factory=set)

    def remember(self) -> None:
        if self.proc.poll() is None:
            self.seen |= set(_descendants(self.proc.pid))

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        """Stop the node: its group and every process seen under it."""
        self.remember()
        targets = {self.proc.pid, *self.seen}
        for s in (sig, signal.SIGKILL):
            for pid in targets:
                try:
                    os.kill(pid, s)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.proc.pid, s)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(_alive(p) for p in targets):
                self.proc.poll()
                time.sleep(0.1)
            if not any(_alive(p) for p in targets):
                break
        self.proc.poll()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Cluster:
    """A head (and workers), its dashboard at :attr:`address`."""

    temp: Path
    gcs_port: int
    dashboard_port: int
    nodes: list[Node] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"http://{IP}:{self.dashboard_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "OPENCLAW_"))}
        env.update(RAY_USAGE_STATS_ENABLED="0", RAY_DISABLE_DOCKER_CPU_WARNING="1")
        return env

    def _start(self, args: list[str], name: str, extra_env: dict[str, str] | None = None) -> Node:
        log = self.temp / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [RAY, "start", "--block", "--disable-usage-stats", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**self.env(), **(extra_env or {})},
                start_new_session=True,
            )
        node = Node(proc, log)
        self.nodes.append(node)
        return node

    def start_head(
        self, resources: dict[str, float], labels: str = "", env: dict[str, str] | None = None
    ) -> Node:
        args = [
            "--head",
            f"--node-ip-address={IP}",
            f"--port={self.gcs_port}",
            f"--dashboard-host={IP}",
            f"--dashboard-port={self.dashboard_port}",
            f"--temp-dir={self.temp / 'ray'}",
            "--num-cpus=2",
            f"--resources={json.dumps(resources)}",
            f"--dashboard-agent-listen-port={free_port()}",
        ]
        if labels:
            args.append(f"--labels={labels}")
        return self._start(args, "head", env)

    def start_worker(
        self, resources: dict[str, float], labels: str = "", env: dict[str, str] | None = None
    ) -> Node:
        args = [
            f"--address={IP}:{self.gcs_port}",
            f"--node-ip-address={IP}",
            "--num-cpus=2",
            f"--resources={json.dumps(resources)}",
            f"--dashboard-agent-listen-port={free_port()}",
        ]
        if labels:
            args.append(f"--labels={labels}")
        return self._start(args, f"worker{len(self.nodes)}", env)

    def get(self, path: str, timeout: float = 5) -> Any:
        with urllib.request.urlopen(self.address + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def nodes_alive(self) -> list[dict[str, Any]]:
        """The cluster's live nodes (the state API): node_id, resources_total, labels."""
        answer = self.get("/api/v0/nodes?detail=1&limit=100")
        rows = answer.get("data", {}).get("result", {}).get("result", [])
        return [n for n in rows if n.get("state") == "ALIVE"]

    def wait_ready(self, nodes: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                node.remember()
                if node.proc.poll() is not None:
                    raise AssertionError(f"a ray node exited: {node.log.read_text()[-2000:]}")
            try:
                self.get("/api/version")
                if len(self.nodes_alive()) >= nodes:
                    return
            except (OSError, ValueError) as exc:
                last = exc
            time.sleep(0.5)
        raise AssertionError(f"the ray cluster did not become ready: {last}")

    def remember(self) -> None:
        for node in self.nodes:
            node.remember()

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.temp, ignore_errors=True)


def new_cluster() -> Cluster:
    temp = Path(tempfile.mkdtemp(prefix="oc-ray-", dir="/tmp"))
    return Cluster(temp, free_port(), free_port())
