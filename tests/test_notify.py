"""Notifications (webhooks, commands) told exactly once per task, and ``serve``.

Every receiver is a real HTTP server on 127.0.0.1 in the test process
(stdlib ``http.server``); every ``serve`` is the real console script in a
process of its own, stopped by its pid.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, console_script, context_switches, wait_until

from openclaw.watch import start_time

SECRET = "s3cret-for-the-hook-only"


@dataclass
class Receiver:
    """A webhook receiver: records every POST; answers from ``codes`` (then 200), after
    ``delays`` seconds (then none)."""

    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def signed(self, post: dict[str, Any]) -> bool:
        want = "sha256=" + hmac.new(SECRET.encode(), post["body"], hashlib.sha256).hexdigest()
        return bool(post["headers"].get("X-Openclaw-Signature-256") == want)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = box[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with rec.lock:
                rec.posts.append({"at": time.time(), "headers": dict(self.headers), "body": body})
                delay = rec.delays.pop(0) if rec.delays else 0.0
                code = rec.codes.pop(0) if rec.codes else 200
            time.sleep(delay)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.append(Receiver(url=f"http://127.0.0.1:{server.server_port}/hook"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box[0]
    server.shutdown()
    server.server_close()


def configure(oc: Env, *entries: dict[str, Any], executor: dict[str, Any] | None = None) -> None:
    ex = {"name": "local", "type": "local", **(executor or {})}
    oc.write_config(json.dumps({"notify": list(entries), "executors": [ex]}))


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> float:
        """SIGTERM it; how long it took to exit."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        return time.monotonic() - began


@pytest.fixture
def serve(oc: Env, tmp_path: Path) -> Iterator[Any]:
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        log = tmp_path / f"serve-{len(started)}.log"
        proc = subprocess.Popen(
            [console_script(), "serve", "--log", str(log), *args],
            env=oc.env,
            cwd=oc.workspace,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        s = Serve(proc, log)
        started.append(s)
        wait_until(lambda: log.exists() and "watching" in log.read_text(), timeout=20)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(timeout=10)


def task_id_of(result: Any) -> str:
    return str(result.json()["task_id"])


def exit_time(oc: Env, task_id: str) -> float:
    return (oc.tasks_dir / task_id / "rc").stat().st_mtime


# -- serve ----------------------------------------------------------------------------------------
def test_serve_sends_one_signed_post_within_two_seconds_of_a_local_task_ending(
    oc: Env, receiver: Receiver, serve: Any
) -> None:
    configure(oc, {"webhook": receiver.url, "secret": SECRET})
    s = serve()
    tid = task_id_of(oc.ok("run", "--json", "--", "sh", "-c", "sleep 0.5"))
    wait_until(lambda: receiver.posts, timeout=10)
    time.sleep(1.0)  # nothing more comes
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["at"] - exit_time(oc, tid) <= 2.0
    assert receiver.signed(post)
    body = json.loads(post["body"])
    assert body["task_id"] == tid and body["status"] == "completed" and "notify" not in body
    assert post["headers"]["X-Openclaw-Task-Id"] == tid
    meta = oc.status(tid)
    [delivery] = meta["notify"]["deliveries"]
    assert delivery["outcome"] == "delivered" and delivery["attempts"] == 1
    assert delivery["to"] == f"webhook {receiver.url}"
    # The secret is nowhere but the config.
    shown = json.dumps(meta) + oc.ok("status", "--task-id", tid).out + s.log.read_text()
    assert SECRET not in shown
    assert s.stop() < 1.0


def test_ten_status_processes_racing_serve_on_one_exit_give_exactly_one_delivery(
    oc: Env, receiver: Receiver, serve: Any
) -> None:
    configure(oc, {"webhook": receiver.url})
    serve("--interval", "0.2")
    tid = task_id_of(oc.ok("run", "--json", "--", "sh", "-c", "sleep 1"))
    racers = [
        subprocess.Popen(
            ["sh", "-c", f'for i in $(seq 40); do "$0" status --task-id {tid} >/dev/null; sleep 0.05; done',
             console_script()],
            env=oc.env,
        )
        for _ in range(10)
    ]  # fmt: skip
    for r in racers:
        r.wait(timeout=120)
    wait_until(lambda: (oc.status(tid).get("notify") or {}).get("state") == "done", timeout=20)
    time.sleep(1.0)
    assert len(receiver.posts) == 1
    assert [d["outcome"] for d in oc.status(tid)["notify"]["deliveries"]] == ["delivered"]


def test_a_second_serve_says_which_process_holds_the_store(oc: Env, serve: Any) -> None:
    configure(oc)
    first = serve()
    second = oc.run("serve", timeout=30)
    assert second.code == 1 and "Traceback" not in second.err
    assert f"another serve (pid {first.proc.pid})" in second.err and len(second.err.strip().splitlines()) == 1


def test_serve_ends_within_a_second_on_sigterm_and_on_ctrl_c(oc: Env, serve: Any) -> None:
    configure(oc)
    assert serve().stop() < 1.0
    s = serve()
    began = time.monotonic()
    s.proc.send_signal(signal.SIGINT)
    s.proc.wait(timeout=10)
    assert time.monotonic() - began < 1.0 and s.proc.returncode in (0, 130)
    assert "stopped" in s.log.read_text()


def test_serve_print_unit_is_a_systemd_user_unit_running_serve(oc: Env) -> None:
    out = oc.ok("serve", "--print-unit", "--interval", "5").out
    assert "[Service]" in out and "[Install]" in out and "WantedBy=default.target" in out
    assert "-m openclaw serve --interval 5" in out


def test_serve_drains_the_queue_when_a_slot_frees(oc: Env, serve: Any) -> None:
    oc.write_config(json.dumps({"executors": [{"name": "local", "type": "local", "max_concurrent": 1}]}))
    first = task_id_of(oc.ok("run", "--json", "--", "sh", "-c", "sleep 1"))
    second = oc.ok("run", "--json", "--", "true").json()
    assert second["status"] == "queued"
    serve("--interval", "0.3")
    wait_until(
        lambda: (
            json.loads((oc.tasks_dir / second["task_id"] / ".meta.json").read_text())["status"] == "completed"
        ),
        timeout=20,
    )
    assert json.loads((oc.tasks_dir / first / ".meta.json").read_text())["status"] == "completed"


def logged(s: Serve, task_id: str, *statuses: str, timeout: float = 15) -> str:
    """Wait for ``serve``'s log to say the task reached one of ``statuses``; which."""

    def said() -> str | None:
        lines = s.log.read_text().splitlines()
        return next((st for line in lines for st in statuses if line.endswith(f"task {task_id} {st}")), None)

    found: str = wait_until(said, timeout=timeout)
    return found


def test_serve_sleeps_while_a_local_task_idles_and_sees_its_end_without_a_timer(oc: Env, serve: Any) -> None:
    configure(oc, executor={"max_concurrent": 1})
    s = serve("--interval", "3600")  # a look on the interval would come in an hour
    meta = oc.start("#fake bash until test -e gate; do sleep 0.05; done\n#fake text through")
    logged(s, meta["task_id"], "running")
    queued = oc.start("#fake text next")  # waits for the slot: serve's looks must not rewrite it
    logged(s, queued["task_id"], "queued")
    time.sleep(0.5)  # its looks after the starts are over
    before = context_switches(s.proc.pid)
    time.sleep(1.5)
    assert context_switches(s.proc.pid) - before <= 1, "serve woke while its task idled"
    (oc.workspace / "gate").touch()
    assert logged(s, meta["task_id"], "completed") == "completed"
    assert logged(s, queued["task_id"], "completed") == "completed"  # drained into the freed slot


def test_serve_sees_a_local_launcher_killed_outright_by_its_pidfd(oc: Env, serve: Any) -> None:
    configure(oc)
    s = serve("--interval", "3600")
    meta = oc.start("#fake delay 60")  # the agent sleeps itself: no tool process
    logged(s, meta["task_id"], "running")
    time.sleep(0.5)  # serve has armed its pidfd after the look that saw the task running
    launcher = meta["pid"]
    agent = int((oc.tasks_dir / meta["task_id"] / "pid").read_text().split()[2])
    # Both gone, no rc written, and nothing left when the launcher's end wakes serve: the
    # launcher (ours, by its recorded pid) held still while its agent is killed first.
    os.kill(launcher, signal.SIGSTOP)
    os.kill(agent, signal.SIGKILL)
    wait_until(lambda: start_time(agent) is None, timeout=10)  # a zombie, or gone
    os.kill(launcher, signal.SIGKILL)
    assert logged(s, meta["task_id"], "failed", "lost") in ("failed", "lost")
    assert not (oc.tasks_dir / meta["task_id"] / "rc").exists()


def test_serve_does_not_spin_on_a_task_whose_launcher_is_gone_while_its_agent_runs_on(
    oc: Env, serve: Any
) -> None:
    """No pidfd can be had of a launcher already gone: that task is left to the looks on the
    interval, and serve sleeps in between (an alarm with nothing to wait on is not lost)."""
    configure(oc)
    s = serve("--interval", "3600")
    meta = oc.start("#fake delay 60")
    logged(s, meta["task_id"], "running")
    agent = int((oc.tasks_dir / meta["task_id"] / "pid").read_text().split()[2])
    os.kill(meta["pid"], signal.SIGKILL)  # the launcher alone (ours, by its recorded pid)
    try:
        assert oc.status(meta["task_id"])["status"] == "running", "its agent runs on"

        def settled() -> bool:  # the pidfd's wake and the look after it are over (a spin never is)
            before = context_switches(s.proc.pid)
            time.sleep(0.5)
            return context_switches(s.proc.pid) - before <= 1

        wait_until(settled, timeout=30)
        before = context_switches(s.proc.pid)
        time.sleep(1.5)
        assert context_switches(s.proc.pid) - before <= 2, "serve spun on an alarm it could not make"
    finally:
        os.kill(agent, signal.SIGKILL)  # the agent, by the pid its launcher recorded


# -- deliveries --------------------------------------------------------------------------------
def test_a_receiver_that_answers_500_twice_then_200_gets_one_delivery_after_retries(
    oc: Env, receiver: Receiver
) -> None:
    configure(oc, {"webhook": receiver.url})
    receiver.codes = [500, 500]
    meta = oc.ok("run", "--json", "--wait", "--", "true").json()
    assert meta["status"] == "completed"
    [delivery] = meta["notify"]["deliveries"]
    assert delivery["outcome"] == "delivered" and delivery["attempts"] == 3
    assert len(receiver.posts) == 3 and len({p["body"] for p in receiver.posts}) == 1


def test_a_receiver_that_is_down_is_recorded_as_failed_and_the_task_stays_completed(oc: Env) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configure(oc, {"webhook": f"http://127.0.0.1:{port}/down"})
    result = oc.run("run", "--json", "--wait", "--", "true")
    assert result.code == 0
    meta = result.json()
    assert meta["status"] == "completed"
    [delivery] = meta["notify"]["deliveries"]
    assert (
        delivery["outcome"] == "failed"
        and delivery["attempts"] == 3
        and "refused" in delivery["error"].lower()
    )
    assert "failed" in oc.ok("status", "--task-id", meta["task_id"]).out.split("notified", 1)[1]


def test_serve_killed_mid_delivery_leaves_it_to_the_next_observer(
    oc: Env, receiver: Receiver, serve: Any
) -> None:
    configure(oc, {"webhook": receiver.url})
    receiver.delays = [60.0]  # the first POST hangs: serve is mid-delivery
    s = serve("--interval", "0.2")
    tid = task_id_of(oc.ok("run", "--json", "--", "true"))
    wait_until(lambda: receiver.posts, timeout=10)
    held = json.loads((oc.tasks_dir / tid / ".meta.json").read_text())["notify"]
    assert held["state"] == "pending" and held["claim"]["pid"] == s.proc.pid
    s.proc.kill()
    s.proc.wait(timeout=10)
    meta = oc.status(tid)  # the next observer: the claim's process is gone
    assert meta["notify"]["state"] == "done"
    assert [d["outcome"] for d in meta["notify"]["deliveries"]] == ["delivered"]
    assert len(receiver.posts) == 2


def test_a_command_hook_gets_the_record_on_stdin_and_the_id_and_status_in_its_environment(
    oc: Env, tmp_path: Path
) -> None:
    out = tmp_path / "hook"
    script = f'cat > {out}.json; printf "%s %s" "$OPENCLAW_TASK_ID" "$OPENCLAW_STATUS" > {out}.env'
    configure(oc, {"command": ["sh", "-c", script], "on": ["failed"]})
    ok = oc.ok("run", "--json", "--wait", "--", "true").json()
    assert "notify" not in ok and not out.with_suffix(".json").exists(), "on: [failed] only"
    result = oc.run("run", "--json", "--wait", "--", "false")
    meta = result.json()
    assert meta["status"] == "failed"
    assert json.loads(out.with_suffix(".json").read_text())["task_id"] == meta["task_id"]
    assert out.with_suffix(".env").read_text() == f"{meta['task_id']} failed"
    assert meta["notify"]["deliveries"][0]["outcome"] == "delivered"


def test_start_notify_adds_a_webhook_for_that_task_only(oc: Env, receiver: Receiver) -> None:
    configure(oc)
    told = oc.ok("run", "--json", "--wait", f"--notify={receiver.url}", "--", "true").json()
    oc.ok("run", "--json", "--wait", "--", "true")
    assert told["notify_to"] == [receiver.url]
    assert len(receiver.posts) == 1 and json.loads(receiver.posts[0]["body"])["task_id"] == told["task_id"]


def test_an_executors_own_notify_entries_apply_to_its_tasks(oc: Env, receiver: Receiver) -> None:
    configure(oc, executor={"notify": [{"webhook": receiver.url, "on": ["completed"]}]})
    oc.ok("run", "--json", "--wait", "--", "true")
    assert len(receiver.posts) == 1


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "needles"),
    [
        ({"webhook": "ftp://example.invalid/x"}, ["notify[0].webhook", "http:// or https:// URL"]),
        (
            {"webhook": "http://127.0.0.1/x", "on": ["done"]},
            ["notify[0].on[0]", "completed | failed | killed | lost"],
        ),
        ({"command": "notify-send done"}, ["notify[0].command", "expected array"]),
        ({"secret": "x"}, ["notify[0]", "webhook, command"]),
    ],
    ids=["bad url", "unknown on", "command not a list", "neither"],
)
def test_a_bad_notify_entry_is_a_config_error_naming_the_key(
    oc: Env, entry: dict[str, Any], needles: list[str]
) -> None:
    configure(oc, entry)
    result = oc.run("run", "--", "true")
    assert result.code == 2 and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    for needle in needles:
        assert needle in result.err, result.err
    assert not oc.tasks_dir.exists() or not [p for p in oc.tasks_dir.iterdir() if len(p.name) == 36]


def test_a_bad_notify_url_on_the_command_line_is_refused_before_anything_starts(oc: Env) -> None:
    result = oc.run("run", "--notify", "not a url", "--", "true")
    assert result.code == 2 and "is not an http:// or https:// URL" in result.err
    assert not oc.tasks_dir.exists() or not [p for p in oc.tasks_dir.iterdir() if len(p.name) == 36]


def test_the_on_key_may_be_written_unquoted_in_yaml(oc: Env, receiver: Receiver) -> None:
    text = f"notify:\n  - webhook: {receiver.url}\n    on: [failed]\n"
    oc.write_config(text + "executors:\n  - {name: local, type: local}\n")
    oc.ok("run", "--wait", "--", "true")
    assert receiver.posts == []
    oc.run("run", "--wait", "--", "false")
    assert len(receiver.posts) == 1


def test_deliveries_never_change_the_tasks_own_state(oc: Env) -> None:
    configure(oc, {"command": ["sh", "-c", "exit 3"]})
    meta = oc.ok("run", "--json", "--wait", "--", "true").json()
    assert meta["status"] == "completed" and meta["exit_code"] == 0
    assert meta["notify"]["deliveries"][0]["outcome"] == "failed"
    assert "exit status 3" in meta["notify"]["deliveries"][0]["error"]
    assert os.environ.get("OPENCLAW_TASK_ID") is None
