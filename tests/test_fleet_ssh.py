"""The fleet with real parts: two real sshd hosts on loopback with their own labels and caps,
plus the local executor.

What tests/test_fleet.py proves with local executors standing for hosts, proved
here over SSH: routing by label, the cap per executor, the queue, kill and
cleanup of a queued task, ``--after`` chains, and skipping a host found
unreachable. Both "hosts" are this machine seen through its own sshd (each with
its own ``remote_root``), so the agents' processes can be counted in /proc from
each host's remote pid files to prove a cap held at every sample.

Every sshd, task and process a test starts is stopped by its fixture, by pid.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import json
import os
import pwd
import re
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKES, Env, wait_until
from sshd_harness import SSHD, Sshd, remove_tree, scratch_dir

from openclaw import procs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(SSHD), reason="needs openssh-server (bash tests/run)"),
]


# -- the two hosts and the local executor --------------------------------------------------------
@dataclass
class Host:
    """One SSH executor: its own sshd on loopback and its own task root on the 'remote' side."""

    name: str
    sshd: Sshd
    root: Path
    record: Path

    def task_dir(self, task_id: str) -> Path:
        return self.root / task_id


@dataclass
class SSHFleet:
    """An openclaw user whose executors are ``a`` and ``b`` (SSH) and ``local``."""

    oc: Env
    a: Host
    b: Host
    ws: Path
    fake_claude: Path
    user: pwd.struct_passwd
    key: Path

    @property
    def hosts(self) -> list[Host]:
        return [self.a, self.b]

    def ssh_executor(self, host: Host, **options: Any) -> dict[str, Any]:
        return {
            "name": host.name,
            "type": "ssh",
            "host": "127.0.0.1",
            "port": host.sshd.port,
            "user": self.user.pw_name,
            "key_path": str(self.key),
            "claude_path": str(self.fake_claude),
            "remote_root": str(host.root),
            "connect_timeout": 5,
            "env": {"FAKE_CLAUDE_RECORD_DIR": str(host.record)},
            **options,
        }

    def configure(
        self,
        a: dict[str, Any] | None = None,
        b: dict[str, Any] | None = None,
        local: dict[str, Any] | None = None,
    ) -> None:
        """a: [gpu, shared] cap 1; b: [shared] cap 1; local: [local], no cap (overridable)."""
        executors = [
            self.ssh_executor(self.a, **{"labels": ["gpu", "shared"], "max_concurrent": 1, **(a or {})}),
            self.ssh_executor(self.b, **{"labels": ["shared"], "max_concurrent": 1, **(b or {})}),
            {"name": "local", "type": "local", "labels": ["local"], **(local or {})},
        ]
        self.oc.write_config(json.dumps({"executors": executors}))

    def start(self, prompt: str, *args: str) -> dict[str, Any]:
        """``start --json`` in the shared workspace (it exists on both hosts and here)."""
        return self.oc.start(prompt, "--workspace", str(self.ws), *args)

    def gated(self, gate: str, then: str = "") -> str:
        """A prompt whose agent runs until the test calls :meth:`open_gate` (a file in the workspace)."""
        return f"#fake bash until test -e {self.ws / ('gate-' + gate)}; do sleep 0.05; done\n{then}"

    def open_gate(self, gate: str) -> None:
        (self.ws / f"gate-{gate}").touch()

    def live_agents(self) -> dict[str, int]:
        """How many agent processes run right now on each executor (by pid file, checked in /proc)."""
        counts = {h.name: sum(_agent_alive(p) for p in _pid_files(h.root)) for h in self.hosts}
        local = 0
        for pid_file in _pid_files(self.oc.tasks_dir):
            try:
                meta = json.loads((pid_file.parent / ".meta.json").read_text())
            except (OSError, ValueError):
                continue
            if meta.get("executor") == "local":
                local += _agent_alive(pid_file)
        counts["local"] = local
        return counts

    def launched_on(self, task_id: str) -> list[str]:
        """The hosts where anything of the task was ever created (task directory or agent record)."""
        return [
            h.name for h in self.hosts if h.task_dir(task_id).exists() or any(h.record.glob(f"{task_id}.*"))
        ]


def _pid_files(root: Path) -> list[Path]:
    try:
        return [root / d / "pid" for d in os.listdir(root) if len(d) == 36]
    except OSError:
        return []


def _pid_line(pid_file: Path) -> list[int] | None:
    """The launcher's ``<own pid> <start time> <agent pid> <start time>``, or None."""
    try:
        parts = [int(p) for p in pid_file.read_text().split()]
    except (OSError, ValueError):
        return None
    return parts if len(parts) == 4 else None


def _agent_alive(pid_file: Path) -> int:
    """1 if the agent recorded in ``pid_file`` is a live process (same start time, not a zombie)."""
    line = _pid_line(pid_file)
    if line is None or line[2] == 0:
        return 0
    st = procs.stat(line[2])
    return int(st is not None and st.start_time == line[3] and st.state not in ("Z", "X"))


def _kill_leftovers(*roots: Path) -> None:
    """SIGKILL whatever still runs of the tasks under ``roots``: each launcher's process group by
    its recorded pid, then every process carrying one of their ids (``OPENCLAW_TASK_ID``), such as
    the agent's tool children, which lead process groups of their own."""
    ids: set[bytes] = set()
    for root in roots:
        for pid_file in _pid_files(root):
            ids.add(f"OPENCLAW_TASK_ID={pid_file.parent.name}".encode())
            line = _pid_line(pid_file)
            if line and procs.is_alive(line[0], line[1]):
                with contextlib.suppress(OSError):
                    os.killpg(line[0], signal.SIGKILL)
    for name in os.listdir("/proc") if ids else []:
        if not name.isdigit():
            continue
        try:
            env = set(Path(f"/proc/{name}/environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if env & ids:
            with contextlib.suppress(OSError):
                os.kill(int(name), signal.SIGKILL)


@pytest.fixture
def fleet(
    oc: Env, session_dir: Path, authorized: Path, client_key: Path, login_user: pwd.struct_passwd
) -> Iterator[SSHFleet]:
    """Hosts ``a`` and ``b`` (each its own sshd, stoppable by the test) and ``local``, configured."""
    oc.env.pop("SSH_AUTH_SOCK", None)
    base = scratch_dir(session_dir / uuid.uuid4().hex, login_user)
    fake = scratch_dir(base / "fakes", login_user) / "claude"
    shutil.copy(FAKES / "claude", fake)
    fake.chmod(0o755)
    hosts = []
    try:
        for name in ("a", "b"):
            server = Sshd(base / f"sshd-{name}", authorized).start()
            hosts.append(
                Host(name, server, base / f"tasks-{name}", scratch_dir(base / f"record-{name}", login_user))
            )
        kh = oc.home / ".ssh" / "known_hosts"
        kh.parent.mkdir(mode=0o700, exist_ok=True)
        kh.write_text("".join(h.sshd.known_hosts_line() for h in hosts))
        f = SSHFleet(
            oc, hosts[0], hosts[1], scratch_dir(base / "ws", login_user), fake, login_user, client_key
        )
        f.configure()
        yield f
    finally:
        # Whatever still runs, on either host or here, by its recorded pids; then the servers.
        _kill_leftovers(*(h.root for h in hosts), oc.tasks_dir)
        if oc.tasks_dir.is_dir():  # one call for the finished, not one kill each at oc's teardown
            oc.run("cleanup", "--finished", timeout=60)
        for h in hosts:
            h.sshd.stop()
        projects = Path(login_user.pw_dir) / ".claude" / "projects"
        for p in projects.glob(f"*{base.name}*"):
            remove_tree(p)
        remove_tree(base)


# -- helpers --------------------------------------------------------------------------------------
def records(oc: Env) -> list[dict[str, Any]]:
    """Every record as ``list --json`` shows it (which also lets the queue flow)."""
    out: list[dict[str, Any]] = oc.ok("list", "--json").json()
    return out


class Sampler:
    """Samples ``fleet.live_agents()`` in a thread until stopped; keeps each executor's peak."""

    def __init__(self, fleet: SSHFleet, interval: float = 0.02) -> None:
        self.fleet = fleet
        self.interval = interval
        self.peak: dict[str, int] = {}
        self.samples = 0
        self.over: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            seen = self.fleet.live_agents()
            self.samples += 1
            for name, n in seen.items():
                self.peak[name] = max(self.peak.get(name, 0), n)
            if seen["a"] > 1 or seen["b"] > 1:
                self.over.append(seen)
            time.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def one_line_error(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("openclaw-agent: error: "), text
    return lines[0]


def no_overlap_per_host(done: list[dict[str, Any]]) -> None:
    """On each capped host, a task was dispatched only once the one before it was final."""
    for host in ("a", "b"):
        mine = sorted((m for m in done if m["executor"] == host), key=lambda m: m["dispatched_at"])
        for before, after in itertools.pairwise(mine):
            assert after["dispatched_at"] >= before["finished_at"], (host, before, after)


def parallel(fn: Callable[[str], Any], items: list[str]) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(max(1, len(items))) as pool:
        return list(pool.map(fn, items))


# -- 1. the cap and the queue across two SSH hosts ---------------------------------------------------
def test_six_shared_tasks_on_two_capped_ssh_hosts_run_two_at_a_time_and_the_rest_start_as_slots_free(
    fleet: SSHFleet,
) -> None:
    oc = fleet.oc
    with Sampler(fleet) as sampler:
        # The first two take both slots and hold them until the other four are queued behind them.
        metas = [fleet.start(fleet.gated("first"), "--label", "shared") for _ in range(2)]
        metas += parallel(lambda _: fleet.start("#fake sleep 0.5", "--label", "shared"), ["q"] * 4)
        running = [m for m in metas if m["status"] == "running"]
        queued = [m for m in metas if m["status"] == "queued"]
        assert len(running) == 2 and len(queued) == 4, [m["status"] for m in metas]
        assert sorted(m["executor"] for m in running) == ["a", "b"], "one on each host"
        assert all(m["pid"] is None and m["started_at"] is None for m in queued)
        assert all(m["routing"]["candidates"] == ["a", "b"] for m in metas)
        assert not any(fleet.launched_on(m["task_id"]) for m in queued), "nothing launched for a queued task"
        rows = {r["name"]: r for r in oc.ok("executors", "--json").json()}
        for name in ("a", "b"):
            row = rows[name]
            assert (row["active_tasks"], row["max_concurrent"], row["queued_tasks"]) == (1, 1, 4), row
        assert rows["local"]["queued_tasks"] == 0 and rows["local"]["max_concurrent"] is None
        # The local executor is not held back by the SSH hosts' queue.
        here = fleet.start(fleet.gated("first"), "--label", "local")
        assert here["status"] == "running" and here["executor"] == "local"
        wait_until(lambda: fleet.live_agents()["local"] == 1, timeout=15)
        assert fleet.live_agents() == {"a": 1, "b": 1, "local": 1}
        fleet.open_gate("first")
        waits = parallel(
            lambda t: oc.run("wait", "--task-id", t, timeout=90), [m["task_id"] for m in [*queued, here]]
        )
        assert [w.code for w in waits] == [0] * 5, [w.err for w in waits]
    done = records(oc)
    assert {m["status"] for m in done} == {"completed"} and len(done) == 7
    assert not sampler.over, f"more than one agent alive on a capped host: {sampler.over[:3]}"
    assert sampler.samples > 50 and sampler.peak["a"] == 1 and sampler.peak["b"] == 1, sampler.peak
    assert {m["executor"] for m in done if m["task_id"] != here["task_id"]} == {"a", "b"}
    no_overlap_per_host(done)
    for m in done:
        if m["executor"] != "local":
            assert fleet.launched_on(m["task_id"]) == [m["executor"]], "launched where recorded, once"


# -- 2. twenty CLIs at once --------------------------------------------------------------------------
def test_twenty_concurrent_clis_starting_labelled_tasks_never_exceed_either_hosts_cap_and_all_complete(
    fleet: SSHFleet,
) -> None:
    oc = fleet.oc
    go = threading.Barrier(20)

    def start(i: int) -> Any:
        go.wait()
        return oc.run(
            "start",
            "--json",
            "--label",
            "shared",
            "--workspace",
            str(fleet.ws),
            "--prompt",
            "#fake sleep 0.3",
        )

    with Sampler(fleet) as sampler:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            results = list(pool.map(start, range(20)))
        assert all(r.code == 0 for r in results), [r.err for r in results if r.code]
        metas = [r.json() for r in results]
        assert len({m["task_id"] for m in metas}) == 20

        def all_completed() -> bool:
            return [r["status"] for r in records(oc)].count("completed") == 20

        # Two pollers (each list lets the queue flow), so a freed slot is seen sooner.
        parallel(lambda _: wait_until(all_completed, timeout=120, interval=0.1), ["p1", "p2"])
    done = records(oc)
    assert not sampler.over, f"more than one agent alive on a capped host: {sampler.over[:3]}"
    assert sampler.peak["a"] == 1 and sampler.peak["b"] == 1, sampler.peak
    assert {m["executor"] for m in done} == {"a", "b"}
    no_overlap_per_host(done)
    for m in done:
        assert fleet.launched_on(m["task_id"]) == [m["executor"]], "each task launched once, where recorded"


# -- 3. kill and cleanup of a queued task --------------------------------------------------------------
def test_a_queued_task_on_the_ssh_fleet_is_killed_without_ever_starting_and_cleanup_removes_it(
    fleet: SSHFleet,
) -> None:
    oc = fleet.oc
    busy = [fleet.start("#fake sleep 30", "--label", "shared") for _ in range(2)]
    assert sorted(m["executor"] for m in busy) == ["a", "b"]
    doomed = fleet.start("#fake text never", "--label", "shared")
    other = fleet.start("#fake text never either", "--label", "shared")
    assert doomed["status"] == other["status"] == "queued"
    assert oc.ok("kill", "--task-id", doomed["task_id"]).out.startswith("killed")
    killed = oc.status(doomed["task_id"])
    assert killed["status"] == "killed" and killed["pid"] is None and killed["started_at"] is None
    # A queued task is cleaned up at once, with nothing to remove on a host.
    assert oc.ok("cleanup", "--task-id", other["task_id"]).code == 0
    assert not (oc.tasks_dir / other["task_id"]).exists()
    # The slots free: the killed task is still never started.
    parallel(lambda t: oc.ok("kill", "--task-id", t, "--grace", "1"), [m["task_id"] for m in busy])
    assert [r["status"] for r in records(oc)] == ["killed"] * 3
    after = oc.status(doomed["task_id"])
    assert after["status"] == "killed" and after["pid"] is None and after["started_at"] is None
    assert fleet.launched_on(doomed["task_id"]) == [] and fleet.launched_on(other["task_id"]) == []
    assert all(fleet.live_agents()[h] == 0 for h in ("a", "b"))
    assert oc.ok("cleanup", "--task-id", doomed["task_id"]).code == 0
    ids = {r["task_id"] for r in records(oc)}
    assert ids == {m["task_id"] for m in busy}
    assert not (oc.tasks_dir / doomed["task_id"]).exists()


# -- 4. --after chains (the contract of the feature being written) ---------------------------------
def test_after_keeps_a_task_queued_until_its_dependency_completes_and_a_chain_runs_in_order_across_hosts(
    fleet: SSHFleet,
) -> None:
    oc = fleet.oc
    first = fleet.start(fleet.gated("first", "#fake text first"), "--label", "gpu")  # only a has gpu
    second = fleet.start("#fake sleep 0.5\n#fake text second", "--after", first["task_id"], "--executor", "b")
    third = fleet.start("#fake text third", "--after", second["task_id"], "--label", "shared")
    assert first["status"] == "running" and first["executor"] == "a"
    # b has a free slot, but the second task waits for the first to complete.
    for m in (second, third):
        assert m["status"] == "queued" and m["pid"] is None, m
    assert oc.status(second["task_id"])["status"] == "queued"
    assert fleet.launched_on(second["task_id"]) == [] and fleet.launched_on(third["task_id"]) == []
    assert fleet.live_agents()["b"] == 0
    fleet.open_gate("first")
    assert oc.run("wait", "--task-id", third["task_id"], timeout=90).code == 0
    done = {m["task_id"]: m for m in records(oc)}
    a, b, c = (done[m["task_id"]] for m in (first, second, third))
    assert [m["status"] for m in (a, b, c)] == ["completed"] * 3
    assert [a["executor"], b["executor"]] == ["a", "b"] and c["executor"] in ("a", "b")
    assert b["started_at"] >= a["finished_at"] and c["started_at"] >= b["finished_at"], (a, b, c)
    assert [m["result"]["text"] for m in (a, b, c)] == ["first", "second", "third"]


@pytest.mark.parametrize("ending", ["failed", "killed", "lost"])
def test_a_dependency_that_ends_failed_killed_or_lost_fails_its_dependents_with_the_reason(
    fleet: SSHFleet, ending: str
) -> None:
    oc = fleet.oc
    dep = fleet.start(fleet.gated("dep", "#fake exit 1"), "--label", "gpu")
    child = fleet.start("#fake text never", "--after", dep["task_id"], "--label", "shared")
    grandchild = fleet.start("#fake text never", "--after", child["task_id"], "--label", "shared")
    assert dep["status"] == "running" and child["status"] == grandchild["status"] == "queued"
    if ending == "failed":
        fleet.open_gate("dep")
    elif ending == "killed":
        oc.ok("kill", "--task-id", dep["task_id"], "--grace", "1")
    elif ending == "lost":  # as after a reboot of the host (see test_ssh_executor)
        from openclaw.records import TaskStore
        from openclaw.task import TaskRecord

        def rebooted(m: TaskRecord) -> TaskRecord:
            m = m.copy()
            m["boot_id"] = str(uuid.uuid4())
            return m

        TaskStore(oc.tasks_dir).update(dep["task_id"], rebooted)
    assert oc.run("wait", "--task-id", grandchild["task_id"], timeout=60).code == 4
    assert oc.status(dep["task_id"])["status"] == ending
    failed = oc.status(child["task_id"])
    assert failed["status"] == "failed" and failed["error"] == f"dependency {dep['task_id']} {ending}"
    assert failed["pid"] is None and failed["started_at"] is None
    chained = oc.status(grandchild["task_id"])
    assert chained["status"] == "failed" and chained["error"] == f"dependency {child['task_id']} failed"
    assert fleet.launched_on(child["task_id"]) == [] and fleet.launched_on(grandchild["task_id"]) == []


def test_after_an_unknown_task_id_is_exit_2_in_one_line_and_records_nothing(fleet: SSHFleet) -> None:
    oc = fleet.oc
    unknown = str(uuid.uuid4())
    result = oc.run("start", "--json", "--after", unknown, "--label", "shared", "--prompt", "#fake text x")
    assert result.code == 2, result
    assert unknown in one_line_error(result.err)
    assert not oc.tasks_dir.exists() or not [p for p in oc.tasks_dir.iterdir() if len(p.name) == 36]


# -- 5. an unreachable host is skipped (the contract of the feature being written) ----------------
@pytest.mark.parametrize("observed_by", ["a failed start", "list"])
def test_a_host_found_unreachable_is_skipped_by_label_routing_and_the_routing_says_why(
    fleet: SSHFleet, observed_by: str
) -> None:
    oc = fleet.oc
    fleet.configure(b={"max_concurrent": 3})  # b would have the most free slots
    if observed_by == "list":
        on_b = fleet.start("#fake sleep 20", "--executor", "b")
        assert on_b["status"] == "running" and on_b["executor"] == "b"
    dry = oc.ok("start", "--dry-run", "--label", "shared", "--json").json()
    assert dry["picked"] == "b" and dry["candidates"] == ["a", "b"], dry
    fleet.b.sshd.stop()
    if observed_by == "list":
        seen = {r["task_id"]: r for r in records(oc)}
        assert seen[on_b["task_id"]]["status"] == "unknown"
    else:
        failed = oc.run("start", "--json", "--executor", "b", "--workspace", str(fleet.ws), "--prompt", "x")
        assert failed.code == 1 and "refused" in one_line_error(failed.err)
        assert failed.json()["status"] == "failed"
    meta = fleet.start("#fake text routed around b", "--label", "shared")
    assert meta["executor"] == "a" and meta["status"] == "running", meta
    routing = oc.status(meta["task_id"])["routing"]
    assert routing["picked"] == "a" and routing["candidates"] == ["a", "b"], routing
    assert "unreachable" in routing["why"] and re.search(r"\bb\b", routing["why"]), routing
    assert oc.wait_status(meta["task_id"], "completed", timeout=30)["result"]["text"] == "routed around b"


def test_when_every_matching_host_is_unreachable_the_choice_is_made_among_them_as_usual(
    fleet: SSHFleet,
) -> None:
    oc = fleet.oc
    fleet.configure(b={"max_concurrent": 3})
    fleet.b.sshd.stop()
    probe = oc.run("start", "--json", "--executor", "b", "--workspace", str(fleet.ws), "--prompt", "x")
    assert probe.code == 1 and probe.json()["status"] == "failed"
    fleet.a.sshd.stop()
    # a is not known to be unreachable yet: it is tried, and found so.
    tried = oc.run("start", "--json", "--label", "shared", "--workspace", str(fleet.ws), "--prompt", "x")
    assert tried.code == 1 and tried.json()["executor"] == "a", tried
    # Both are now known unreachable: the usual choice, b with the most free slots.
    usual = oc.run("start", "--json", "--label", "shared", "--workspace", str(fleet.ws), "--prompt", "x")
    assert usual.code == 1 and "refused" in one_line_error(usual.err)
    assert usual.json()["executor"] == "b", usual


# -- batch on SSH: one round trip per host for all of its launches ----------------------------------
def _sessions(host: Host) -> list[str]:
    """The session requests sshd logged (VERBOSE): one per exec, one per SFTP subsystem."""
    text = host.sshd.log.read_text(errors="replace")
    return re.findall(r"Starting session: (command|subsystem '\w+')", text)


def test_a_batch_starts_each_ssh_hosts_tasks_in_one_prepare_one_sftp_and_one_launch(fleet: SSHFleet) -> None:
    fleet.oc.write_config(
        json.dumps({"executors": [fleet.ssh_executor(fleet.a), fleet.ssh_executor(fleet.b)]})
    )
    lines: list[dict[str, Any]] = []
    for n in range(8):
        prompt = f"#fake text batch {n}\n  with ünïcode, a tab\t and 'quotes' $HOME `x`\n"
        lines.append({"prompt": prompt, "executor": "a" if n % 2 else "b", "workspace": str(fleet.ws)})
    lines.append({"prompt": "#fake text never", "executor": "a", "workspace": str(fleet.ws / "missing")})
    batch = fleet.ws / "batch.jsonl"
    batch.write_text("".join(json.dumps(x) + "\n" for x in lines))
    before = {h.name: len(_sessions(h)) for h in fleet.hosts}
    result = fleet.oc.run("start", "--from", str(batch), timeout=120)
    for h in fleet.hosts:
        new = _sessions(h)[before[h.name] :]
        # prepare, launch, and one SFTP session for every task's files (not one each)
        assert new.count("command") == 2, (h.name, new)
        assert new.count("subsystem 'sftp'") == 1, (h.name, new)
    assert result.code == 1, result.err  # one task failed to start
    out = [json.loads(x) for x in result.out.splitlines()]
    assert len(out) == 9
    assert out[8]["error"].startswith("workspace") or "missing" in out[8]["error"], out[8]
    assert "tasks.jsonl" not in result.err and "batch.jsonl:9" in result.err
    for meta in out[:8]:
        assert meta["status"] == "running", meta
        assert fleet.oc.run("wait", "--task-id", meta["task_id"], timeout=60).code == 0
    failed = fleet.oc.status(out[8]["task_id"])
    assert failed["status"] == "failed" and failed["pid"] is None
    for n, meta in enumerate(out[:8]):
        host = fleet.a if n % 2 else fleet.b
        assert (host.record / f"{meta['task_id']}.stdin").read_text() == lines[n]["prompt"]


def test_agents_started_by_a_batch_get_the_signal_dispositions_a_single_start_gives(
    fleet: SSHFleet,
) -> None:
    fleet.oc.write_config(json.dumps({"executors": [fleet.ssh_executor(fleet.a)]}))
    single = fleet.oc.start("#fake sleep 30", "--executor", "a", "--workspace", str(fleet.ws))
    batch = fleet.ws / "probe.jsonl"
    line = json.dumps({"prompt": "#fake sleep 30", "executor": "a", "workspace": str(fleet.ws)}) + "\n"
    batch.write_text(line * 2)
    out = fleet.oc.ok("start", "--from", str(batch), timeout=120).out
    started = [single, *(json.loads(x) for x in out.splitlines())]
    ignored = {}
    for meta in started:
        # The launcher (this machine, through sshd) holds what its agent was exec'd with.
        status = Path(f"/proc/{meta['pid']}/status").read_text()
        ignored[meta["task_id"]] = int(re.search(r"SigIgn:\s*([0-9a-f]+)", status).group(1), 16)  # type: ignore[union-attr]
    # The batch's shell ignores SIGPIPE while it launches; its agents must not inherit that.
    assert not ignored[single["task_id"]] & (1 << (signal.SIGPIPE - 1))
    assert len(set(ignored.values())) == 1, {k: hex(v) for k, v in ignored.items()}
    for meta in started:
        fleet.oc.ok("kill", "--task-id", meta["task_id"])


def test_a_batch_whose_connection_drops_after_the_launches_were_sent_reads_each_back_once(
    fleet: SSHFleet,
) -> None:
    fleet.oc.write_config(json.dumps({"executors": [fleet.ssh_executor(fleet.a)]}))
    lines = [{"prompt": f"#fake text cut {n}", "workspace": str(fleet.ws)} for n in range(3)]
    batch = fleet.ws / "cut.jsonl"
    batch.write_text("".join(json.dumps(x) + "\n" for x in lines))
    before = len(_sessions(fleet.a))
    result = fleet.oc.run(
        "start", "--from", str(batch), env={"OPENCLAW_FAULTS": "ssh.launch-sent:cut"}, timeout=120
    )
    # prepare, the launch (sent once, never again), and one read-back per task
    assert _sessions(fleet.a)[before:].count("command") == 2 + 3, _sessions(fleet.a)[before:]
    out = [json.loads(x) for x in result.out.splitlines()]
    assert len(out) == 3, result.err
    for n, line in enumerate(out):
        # Each task's launch answer was read back from the host. Whether the cut came before
        # the host got the script (nothing ran) or after, each record says what happened.
        if "status" not in line:  # {"line", "task_id", "error"}: it did not start
            assert "the agent was not started" in line["error"], line
            assert fleet.oc.status(line["task_id"])["status"] == "failed"
            assert not (fleet.a.record / f"{line['task_id']}.stdin").exists(), "it must not have run"
            continue
        assert line["status"] == "running" and line["pid"], line
        assert fleet.oc.run("wait", "--task-id", line["task_id"], timeout=60).code == 0
        assert (fleet.a.record / f"{line['task_id']}.stdin").read_text() == lines[n]["prompt"]
