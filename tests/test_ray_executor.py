"""The ray executor against a real Ray cluster on this machine (tests/ray_harness.py): a head
and a worker node with different custom resources and labels, the fake agents on their PATH.

What Ray's own behaviour makes hard (a stop that does not cancel a pending job, history lost
with the head, orphans of a dead node) is tested here, not assumed: see FIELD-NOTES.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray_harness
from conftest import FAKES, Env, wait_until

NODE_SECRET = "node-secret-0f3a9c-value"
ENV_SECRET = "env-secret-7d21e4-value"
PROMPT_WORDS = "zebra-quartz-prompt-words"

pytestmark = pytest.mark.skipif(
    not ray_harness.available(),
    reason="Ray is not installed: run 'bash tests/run' (it installs it in .tools/ray)",
)


@pytest.fixture(scope="module")
def ray_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ray-records")


def node_env(records: Path) -> dict[str, str]:
    return {
        "PATH": f"{FAKES}:{os.environ.get('PATH', os.defpath)}",
        "IS_SANDBOX": "1",
        "NODE_SECRET": NODE_SECRET,
        "FAKE_CLAUDE_RECORD_DIR": str(records),
        "FAKE_CLAUDE_RECORD_ENV": "DEPLOY_TOKEN,NODE_SECRET",
    }


@pytest.fixture(scope="module")
def ray_cluster(ray_records: Path) -> Iterator[ray_harness.Cluster]:
    cluster = ray_harness.new_cluster()
    try:
        cluster.start_head({"rust_slot": 1, "agent_slot": 1}, labels="pool=rust", env=node_env(ray_records))
        cluster.wait_ready(1)
        cluster.start_worker({"gpu_slot": 1, "agent_slot": 1}, labels="pool=gpu", env=node_env(ray_records))
        cluster.wait_ready(2)
        yield cluster
    finally:
        cluster.stop()


def configure(oc: Env, address: str, extra: str = "") -> None:
    oc.write_config(
        f"""executors:
  - name: ray-any
    type: ray
    address: {address}
    resources: {{agent_slot: 1}}
    env: {{DEPLOY_TOKEN: {ENV_SECRET}}}
    pass_env: [NODE_SECRET]
  - name: ray-rust
    type: ray
    address: {address}
    labels: [rust]
    resources: {{rust_slot: 1}}
  - name: ray-gpu
    type: ray
    address: {address}
    labels: [gpu]
    resources: {{gpu_slot: 1}}
    label_selector: {{pool: gpu}}
{extra}"""
    )


@pytest.fixture
def roc(oc: Env, ray_cluster: ray_harness.Cluster) -> Env:
    configure(oc, ray_cluster.address)
    return oc


def start(oc: Env, prompt: str, *args: str) -> dict[str, Any]:
    return oc.start(prompt, "--workspace", str(oc.workspace), *args)


def node_of(cluster: ray_harness.Cluster, resource: str) -> str:
    (node,) = [n for n in cluster.nodes_alive() if resource in n.get("resources_total", {})]
    return str(node["node_id"])


def task_processes(task_id: str) -> list[int]:
    """Processes on this machine (every Ray node here) that carry the task's id."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if f"OPENCLAW_TASK_ID={task_id}".encode() in env.split(b"\0"):
            found.append(int(name))
    return found


def api(cluster: ray_harness.Cluster, method: str, path: str) -> Any:
    req = urllib.request.Request(cluster.address + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body.strip() else None


def test_a_task_runs_as_a_ray_job_with_its_prompt_byte_exact_and_completes(
    roc: Env, ray_cluster: ray_harness.Cluster, ray_records: Path
) -> None:
    prompt = f"#fake text {PROMPT_WORDS}\n  tabs\tand 'quotes' \"$HOME\" `id` é\n"
    meta = start(roc, prompt, "--executor", "ray-any")
    task_id = meta["task_id"]
    assert meta["status"] == "pending" and meta["ray"]["submission_id"] == f"openclaw-{task_id}"
    done = roc.wait_status(task_id, "completed", timeout=90)
    assert done["exit_code"] == 0 and done["result"]["text"] == PROMPT_WORDS
    assert done["ray"]["node_id"] and done["host"] == ray_harness.IP
    assert (ray_records / f"{task_id}.stdin").read_bytes() == prompt.encode()
    # The node's environment gave NODE_SECRET (pass_env); the executor's env gave DEPLOY_TOKEN.
    seen = json.loads((ray_records / f"{task_id}.env.json").read_text())
    assert seen == {"DEPLOY_TOKEN": ENV_SECRET, "NODE_SECRET": NODE_SECRET}
    assert done["env_names"] == ["DEPLOY_TOKEN", "NODE_SECRET"]
    logs = roc.ok("logs", "--task-id", task_id).out
    assert PROMPT_WORDS in logs and "completed" in logs
    entries = [json.loads(x) for x in roc.ok("logs", "--task-id", task_id, "--json").out.splitlines()]
    assert entries[0]["kind"] == "system" and entries[-1]["kind"] == "result"
    assert roc.run("wait", "--task-id", task_id).code == 0
    # A failing agent: failed, with its stderr's reason; wait exits 4.
    bad = start(roc, "#fake stderr something broke\n#fake exit 3", "--executor", "ray-any")
    failed = roc.wait_status(bad["task_id"], "failed", timeout=90)
    assert failed["exit_code"] == 3 and "something broke" in (failed["error"] or "")
    assert roc.run("wait", "--task-id", bad["task_id"]).code == 4
    assert "something broke" in roc.ok("logs", "--task-id", bad["task_id"], "--stderr").out


def test_a_labelled_task_runs_on_the_node_with_the_matching_resource(
    roc: Env, ray_cluster: ray_harness.Cluster
) -> None:
    meta = start(roc, "#fake text on the gpu node", "--label", "gpu")
    assert meta["executor"] == "ray-gpu"
    done = roc.wait_status(meta["task_id"], "completed", timeout=90)
    assert done["ray"]["node_id"] == node_of(ray_cluster, "gpu_slot")
    rust = start(roc, "#fake text on the rust node", "--label", "rust")
    assert roc.wait_status(rust["task_id"], "completed", timeout=90)["ray"]["node_id"] == node_of(
        ray_cluster, "rust_slot"
    )


def test_with_one_slot_per_node_the_third_task_waits_for_ray_and_starts_when_one_frees(
    roc: Env, ray_cluster: ray_harness.Cluster
) -> None:
    ids = [start(roc, "#fake sleep 4\n#fake text slot", "--executor", "ray-any")["task_id"] for _ in range(3)]

    def states() -> list[dict[str, Any]]:
        return [roc.status(t) for t in ids]

    wait_until(lambda: sum(s["status"] == "running" for s in states()) == 2, timeout=60, interval=0.3)
    now = states()
    (waiting,) = [s for s in now if s["status"] == "pending"]
    assert "Ray" in waiting["status_reason"] and "resources" in waiting["status_reason"]
    third = roc.wait_status(waiting["task_id"], "completed", timeout=120)
    firsts = [roc.wait_status(s["task_id"], "completed", timeout=60) for s in now if s is not waiting]
    assert third["started_at"] >= min(f["finished_at"] for f in firsts)


def test_kill_stops_the_job_and_leaves_no_process_of_the_task(
    roc: Env, ray_cluster: ray_harness.Cluster
) -> None:
    meta = start(roc, "#fake detached-child 300\n#fake sleep 300", "--executor", "ray-any")
    task_id = meta["task_id"]
    roc.wait_status(task_id, "running", timeout=90)
    wait_until(lambda: len(task_processes(task_id)) >= 2, timeout=30)
    killed = roc.ok("kill", "--task-id", task_id, "--grace", "2", "--json").json()
    assert killed["status"] == "killed"
    wait_until(lambda: not task_processes(task_id), timeout=30)
    assert api(ray_cluster, "GET", f"/api/jobs/openclaw-{task_id}")["status"] == "STOPPED"
    roc.ok("cleanup", "--task-id", task_id)
    assert urllib_status(ray_cluster, f"/api/jobs/openclaw-{task_id}") == 404


def urllib_status(cluster: ray_harness.Cluster, path: str) -> int:
    try:
        api(cluster, "GET", path)
        return 200
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_job_stopped_from_outside_is_killed_and_one_stopped_while_pending_never_runs(
    roc: Env, ray_cluster: ray_harness.Cluster, ray_records: Path
) -> None:
    running = start(roc, "#fake sleep 300", "--executor", "ray-rust")
    roc.wait_status(running["task_id"], "running", timeout=90)
    # The rust slot is taken: this one waits in Ray, and is stopped there while it waits.
    waiting = start(roc, f"#fake text {PROMPT_WORDS} never", "--executor", "ray-rust")
    time.sleep(1)
    assert roc.status(waiting["task_id"])["status"] == "pending"
    assert api(ray_cluster, "POST", f"/api/jobs/openclaw-{waiting['task_id']}/stop")["stopped"]
    api(ray_cluster, "POST", f"/api/jobs/openclaw-{running['task_id']}/stop")
    assert roc.wait_status(running["task_id"], "killed", timeout=60)["status"] == "killed"
    assert roc.wait_status(waiting["task_id"], "killed", timeout=60)["status"] == "killed"
    # Ray may still start the stopped job once the slot freed: its entry refuses to run the agent.
    time.sleep(5)
    assert not (ray_records / f"{waiting['task_id']}.stdin").exists()
    assert not task_processes(running["task_id"])


def test_the_prompt_and_secrets_are_in_no_listing_of_the_jobs_api_or_the_dashboard(
    roc: Env, ray_cluster: ray_harness.Cluster
) -> None:
    meta = start(roc, f"#fake text {PROMPT_WORDS}", "--executor", "ray-any")
    roc.wait_status(meta["task_id"], "completed", timeout=90)
    sid = f"openclaw-{meta['task_id']}"
    listings = [
        "/api/jobs/",
        f"/api/jobs/{sid}",
        "/api/v0/jobs?detail=1",
        "/api/v0/tasks?detail=1",
        "/api/v0/actors?detail=1",
        "/api/v0/nodes?detail=1",
        "/api/v0/runtime_envs?detail=1",
        "/nodes?view=summary",
        "/logical/actors",
    ]
    seen = ""
    for path in listings:
        try:
            with urllib.request.urlopen(ray_cluster.address + path, timeout=10) as resp:
                seen += resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError:
            continue
    assert sid in seen  # the job is listed
    for secret in (PROMPT_WORDS, ENV_SECRET, NODE_SECRET):
        assert secret not in seen, secret
    job = api(ray_cluster, "GET", f"/api/jobs/{sid}")
    assert job["entrypoint"] == "sh entry.sh" and "env_vars" not in (job["runtime_env"] or {})


def test_a_git_workspace_is_cloned_on_the_node_and_a_failed_clone_says_why(
    roc: Env, ray_cluster: ray_harness.Cluster, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README").write_text("cloned on the node\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    meta = roc.start("#fake bash cat README", "--executor", "ray-any", "--workspace", f"git+file://{repo}@v1")
    done = roc.wait_status(meta["task_id"], "completed", timeout=90)
    assert "cloned on the node" in roc.ok("logs", "--task-id", done["task_id"], "--json").out
    resumed = roc.run("resume", "--task-id", done["task_id"], "--prompt", "go on")
    assert resumed.code == 2 and "scratch clone" in resumed.err
    # --push: the agent's change goes on the task's branch, pushed from the node.
    pushed = roc.start(
        "#fake write NEW.txt made on a node",
        "--executor",
        "ray-any",
        "--workspace",
        f"git+file://{repo}",
        "--push",
    )
    task_id = pushed["task_id"]
    assert pushed["push"] == {"remote": "origin"}
    done = roc.wait_status(task_id, "completed", timeout=90)
    branch = f"openclaw/{task_id[:8]}"
    assert done["push"]["ref"] == f"refs/heads/{branch}" and done["push"]["error"] is None
    assert done["changes"]["files"] == 1 and done["changes"]["insertions"] == 1
    shown = subprocess.run([*git, "show", f"{branch}:NEW.txt"], capture_output=True, text=True, check=True)
    assert shown.stdout == "made on a node"
    assert (
        done["push"]["head"]
        == subprocess.run(
            [*git, "rev-parse", branch], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    nodiff = roc.run("diff", "--task-id", task_id)
    assert nodiff.code == 2 and "fetch its branch" in nodiff.err
    bad = roc.start(
        "#fake text x", "--executor", "ray-any", "--workspace", f"git+file://{tmp_path}/nowhere.git"
    )
    failed = roc.wait_status(bad["task_id"], "failed", timeout=90)
    assert "git clone" in failed["error"] and "nowhere.git" in failed["error"]


def test_the_timeout_holds_on_the_node(roc: Env, ray_cluster: ray_harness.Cluster) -> None:
    meta = start(roc, "#fake sleep 120", "--executor", "ray-any", "--timeout", "3s")
    failed = roc.wait_status(meta["task_id"], "failed", timeout=90)
    assert failed["exit_code"] == 124 and "timed out after 3s" in failed["error"]
    assert not task_processes(meta["task_id"])


def test_resume_goes_on_in_a_shared_workspace(roc: Env, ray_cluster: ray_harness.Cluster) -> None:
    first = start(roc, "#fake text first", "--executor", "ray-any")
    roc.wait_status(first["task_id"], "completed", timeout=90)
    again = roc.ok("resume", "--task-id", first["task_id"], "--prompt", "#fake text second", "--json").json()
    done = roc.wait_status(again["task_id"], "completed", timeout=90)
    assert done["parent_id"] == first["task_id"] and "--resume" in done["command"]


def test_bad_input_gets_one_line_each(oc: Env, ray_cluster: ray_harness.Cluster, tmp_path: Path) -> None:
    port = ray_harness.free_port()
    configure(
        oc,
        ray_cluster.address,
        f"""  - name: ray-down
    type: ray
    address: http://127.0.0.2:{port}
  - name: ray-nonsense
    type: ray
    address: {ray_cluster.address}
    resources: {{CPU: 1000000}}
  - name: ray-auth
    type: ray
    address: {ray_cluster.address}
    headers: {{Authorization: RAY_TOKEN_UNSET_HERE}}
""",
    )
    down = oc.run("start", "--executor", "ray-down", "--workspace", "/tmp", "--prompt", "x")
    assert (
        down.code == 1 and f"http://127.0.0.2:{port}" in down.err and len(down.err.strip().splitlines()) == 1
    )
    assert "POST" in down.err or "PUT" in down.err
    never = oc.run("start", "--executor", "ray-nonsense", "--workspace", "/tmp", "--prompt", "x", "--json")
    assert never.code == 1 and "no node of the Ray cluster" in never.err and "CPU: 1e+06" in never.err
    assert len(never.err.strip().splitlines()) == 1
    auth = oc.run("start", "--executor", "ray-auth", "--workspace", "/tmp", "--prompt", "x")
    assert auth.code == 1 and "RAY_TOKEN_UNSET_HERE" in auth.err and "Traceback" not in auth.err
    relative = oc.run("start", "--executor", "ray-any", "--workspace", "some/dir", "--prompt", "x")
    assert relative.code == 2 and "git+URL" in relative.err
    worktree = oc.run("start", "--executor", "ray-any", "--workspace", "/tmp", "--worktree", "--prompt", "x")
    assert worktree.code == 2 and "git+URL" in worktree.err
    oc.write_config(oc.config_file.read_text() + "    resources: {agent_slot: -1}\n")
    bad_schema = oc.run("start", "--executor", "ray-any", "--workspace", "/tmp", "--prompt", "x")
    assert bad_schema.code == 2, bad_schema.err


def test_a_killed_worker_node_makes_its_task_lost_and_leaves_nothing_running(
    oc: Env, ray_cluster: ray_harness.Cluster, ray_records: Path
) -> None:
    doomed = ray_cluster.start_worker({"doomed_slot": 1}, env=node_env(ray_records))
    ray_cluster.wait_ready(3)
    configure(
        oc,
        ray_cluster.address,
        f"""  - name: ray-doomed
    type: ray
    address: {ray_cluster.address}
    resources: {{doomed_slot: 1}}
""",
    )
    try:
        meta = start(oc, "#fake sleep 300", "--executor", "ray-doomed")
        task_id = meta["task_id"]
        oc.wait_status(task_id, "running", timeout=90)
        wait_until(lambda: task_processes(task_id), timeout=30)
        # The node dies: its ray processes are SIGKILLed; the job's entry (a session of its own)
        # is orphaned, and stops the task.
        doomed.remember()
        os.killpg(doomed.proc.pid, signal.SIGKILL)
        wait_until(lambda: not task_processes(task_id), timeout=60)
        lost = oc.wait_status(task_id, lambda s: s in ("lost", "failed"), timeout=120)
        assert lost["status"] != "completed" and lost["error"]
    finally:
        doomed.stop()
        ray_cluster.nodes.remove(doomed)


def test_a_stopped_head_gives_unknown_then_lost_after_a_restart(oc: Env, ray_records: Path) -> None:
    cluster = ray_harness.new_cluster()
    try:
        cluster.start_head({"solo_slot": 1}, env=node_env(ray_records))
        cluster.wait_ready(1)
        oc.write_config(
            f"executors:\n  - name: solo\n    type: ray\n    address: {cluster.address}\n"
            "    resources: {solo_slot: 1}\n"
        )
        meta = start(oc, "#fake sleep 300", "--executor", "solo")
        oc.wait_status(meta["task_id"], "running", timeout=90)
        head = cluster.nodes[0]
        head.stop()
        cluster.nodes.remove(head)
        seen = oc.status(meta["task_id"])
        assert seen["status"] == "unknown" and "cannot reach the Ray Jobs API" in seen["status_reason"]
        assert seen["recorded_status"] == "running"
        assert not task_processes(meta["task_id"])
        cluster.start_head({"solo_slot": 1}, env=node_env(ray_records))
        cluster.wait_ready(1)
        lost = oc.wait_status(meta["task_id"], "lost", timeout=60)
        assert "no longer knows" in lost["error"]
    finally:
        cluster.stop()
