"""``serve --http``: the JSON API, its event stream and its guard, against a real server and the
fake agents (the pages in a real browser: test_web_browser.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from typing import Any

import pytest
import yaml
from conftest import Env, console_script, wait_until
from web_harness import dashboard, next_event

SECRET = "hunter2-web-secret-value"


def test_a_request_without_the_token_is_refused_and_the_printed_url_opens_the_dashboard(oc: Env) -> None:
    with dashboard(oc) as d:
        assert f"?token={d.token}" in d.first_line  # the token is new: printed once, in the URL
        for path in ("/api/tasks", "/api/executors", "/api/events", "/api/openapi.json"):
            refused = d.get(path, token=False)
            assert refused.status == 401, path
            assert "token" in refused.json()["error"]
        assert d.get("/api/tasks", token=False, headers={"Authorization": "Bearer wrong"}).status == 401
        page = d.get("/", token=False)
        assert page.status == 401 and b"serve --url" in page.body
        assert d.get("/static/app.js", token=False).status == 401
        # The printed URL: the token goes into a cookie, and out of the address bar.
        opened = d.get(f"/?token={d.token}", token=False)
        assert opened.status == 303 and opened.headers["location"] == "/"
        cookie = opened.headers["set-cookie"]
        assert f"openclaw_token_{d.port}={d.token}" in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        jar = {"Cookie": f"openclaw_token_{d.port}={d.token}"}
        page = d.get("/", token=False, headers=jar)
        assert page.status == 200 and b"/static/app.js" in page.body
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert d.get("/api/tasks", token=False, headers=jar).status == 200
    token_file = oc.tasks_dir / ".web-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # A later start keeps the token, and no longer prints it; serve --url does.
    with dashboard(oc) as d:
        assert d.token not in d.first_line and "serve --url" in d.first_line
    url = oc.ok("serve", "--url", "--http", "127.0.0.1:9999").out.strip()
    assert url == f"http://127.0.0.1:9999/?token={d.token}"


def test_a_cross_site_post_is_refused_and_a_same_origin_one_acts(oc: Env) -> None:
    with dashboard(oc) as d:
        jar = f"openclaw_token_{d.port}={d.token}"
        body = {"prompt": "#fake text hi", "workspace": str(oc.workspace)}
        for headers in (
            {"Cookie": jar, "Origin": "http://127.0.0.2:8000"},  # another site, with the user's cookie
            {"Cookie": jar},  # no Origin at all
            {"Cookie": jar, "Origin": d.base, "Sec-Fetch-Site": "cross-site"},
        ):
            refused = d.post("/api/tasks", body, token=False, headers=headers)
            assert refused.status == 403, headers
            assert "cross-site" in refused.json()["error"]
        assert not [n for n in os.listdir(oc.tasks_dir) if len(n) == 36]
        # A form post (no JSON) is refused even from the dashboard's own origin.
        form = d.request(
            "POST",
            "/api/tasks",
            raw=b"prompt=x",
            token=False,
            headers={"Cookie": jar, "Origin": d.base, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status == 400 and "JSON" in form.json()["error"]
        made = d.post("/api/tasks", body, token=False, headers={"Cookie": jar, "Origin": d.base})
        assert made.status == 201, made.body
        oc.wait_status(made.json()["task_id"], "completed")


def test_the_api_gives_the_clis_json_shapes_for_every_command(oc: Env) -> None:
    oc.write_config(
        "executors:\n  - name: local\n    type: local\n    labels: [quick]\n"
        "  - name: other\n    type: local\n"
    )
    with dashboard(oc) as d:
        made = d.ok(
            "POST",
            "/api/tasks",
            {"prompt": "#fake text hello web", "labels": ["quick"], "workspace": str(oc.workspace)},
            status=201,
        )
        task_id = made["task_id"]
        assert made["routing"]["picked"] == "local"
        done = oc.wait_status(task_id, "completed")
        api = d.ok("GET", f"/api/tasks/{task_id[:8]}")
        assert api == dict(done, chain=[task_id])
        # list: the same records as list --json, filtered as it is, plus a label filter.
        listed = d.ok("GET", "/api/tasks")
        cli = oc.ok("list", "--json").json()
        assert listed == {"tasks": cli, "total": len(cli)}
        assert d.ok("GET", "/api/tasks?status=completed&executor=local")["total"] == 1
        assert d.ok("GET", "/api/tasks?status=running")["total"] == 0
        assert d.ok("GET", "/api/tasks?label=quick")["tasks"][0]["task_id"] == task_id
        assert d.ok("GET", "/api/tasks?label=gpu")["total"] == 0
        assert d.ok("GET", "/api/tasks?limit=0") == {"tasks": [], "total": 1}
        # logs: the entries logs --json prints, read incrementally.
        log = d.ok("GET", f"/api/tasks/{task_id}/logs")
        out = oc.ok("logs", "--task-id", task_id, "--json", "--lines", "1000").out
        cli_entries = [json.loads(line) for line in out.splitlines()]
        assert log["entries"] == cli_entries
        assert any(e["kind"] == "message" and "hello web" in e["text"] for e in log["entries"])
        rest = d.ok("GET", f"/api/tasks/{task_id}/logs?offset={log['next_offset']}")
        assert rest["entries"] == [] and rest["done"] is True
        # executors: executors --json, as {executors}.
        assert d.ok("GET", "/api/executors") == {"executors": oc.ok("executors", "--json").json()}
        snap = d.ok("GET", "/api/dashboard")
        assert snap["counts"]["completed"] == 1 and {e["name"] for e in snap["executors"]} == {
            "local",
            "other",
        }
        # resume, then kill a running task, then cleanup.
        again = d.ok("POST", f"/api/tasks/{task_id}/resume", {"prompt": "#fake sleep 30"}, status=201)
        assert again["parent_id"] == task_id
        oc.wait_status(again["task_id"], "running")
        killed = d.ok("POST", f"/api/tasks/{again['task_id']}/kill", {"grace": 1})
        assert killed["status"] == "killed" and killed["killed"] is True
        assert oc.status(again["task_id"])["status"] == "killed"
        twice = d.ok("POST", f"/api/tasks/{again['task_id']}/kill", {})
        assert twice["killed"] is False
        gone = d.ok("POST", f"/api/tasks/{again['task_id']}/cleanup", {})
        assert gone == {"removed": again["task_id"], "warnings": []}
        assert d.get(f"/api/tasks/{again['task_id']}").status == 404


def test_bad_input_gets_one_line_errors_with_the_clis_exit_codes(oc: Env) -> None:
    with dashboard(oc) as d:
        cases: list[tuple[str, str, Any, int, str]] = [
            ("GET", "/api/tasks/abcdef12", None, 404, "abcdef12"),
            ("GET", "/api/tasks/nope", None, 400, "task id"),
            ("GET", "/api/tasks?status=bogus", None, 400, "unknown status"),
            ("GET", "/api/tasks?limit=many", None, 400, "whole number"),
            ("GET", "/api/tasks/nope/logs?offset=-1", None, 400, "offset"),
            ("POST", "/api/tasks", {"workspace": str(oc.workspace)}, 400, "prompt"),
            ("POST", "/api/tasks", {"prompt": "x", "colour": "red"}, 400, "colour"),
            ("POST", "/api/tasks", {"prompt": "x", "prompt_file": "/etc/passwd"}, 400, "prompt_file"),
            ("POST", "/api/tasks", {"prompt": "x", "executor": "nowhere"}, 400, "nowhere"),
            ("POST", "/api/tasks", [1, 2], 400, "JSON object"),
        ]
        for method, path, body, code, words in cases:
            reply = d.request(method, path, body)
            assert reply.status == code, (path, body, reply.body)
            error = reply.json()
            assert words in error["error"] and "\n" not in error["error"] and error["exit_code"] in (2, 3)
        broken = d.request("POST", "/api/tasks", raw=b"{nope", headers={"Content-Type": "application/json"})
        assert broken.status == 400 and "not valid JSON" in broken.json()["error"]
        # A task that ran: resume needs a prompt; diff of a task outside git says why.
        task_id = oc.start("#fake text hi")["task_id"]
        oc.wait_status(task_id, "completed")
        assert d.post(f"/api/tasks/{task_id}/resume", {}).status == 400
        assert d.post(f"/api/tasks/{task_id}/kill", {"grace": "soon"}).status == 400
        assert d.get(f"/api/tasks/{task_id}/diff?mode=everything").status == 400
        assert d.get(f"/api/tasks/{task_id}/diff").status in (400, 409)
        assert "Traceback" not in d.stderr()
    assert not list(oc.tasks_dir.glob("*/.meta.json.tmp*"))


def test_the_event_stream_carries_task_changes_and_a_tasks_log_entries(oc: Env) -> None:
    with dashboard(oc) as d, d.events() as stream:
        assert next_event(stream, lambda e, _: e == "hello")[1]["task_id"] is None
        task_id = oc.start("#fake sleep 1\n#fake text streamed words")["task_id"]
        _, seen = next_event(stream, lambda e, x: e == "task" and x["task_id"] == task_id)
        assert seen["status"] in ("pending", "running")
        _, done = next_event(stream, lambda e, x: e == "task" and x["status"] == "completed")
        assert done["task_id"] == task_id and done["result"]["text"] == "streamed words"
        # A task's own stream: the task as it is now (a page that read it before a change made
        # before this stream began still hears of it), its log from the start, then log_end;
        # other tasks' changes left out.
        with d.events(f"/api/events?task={task_id[:8]}") as own:
            assert next(own)[0] == "hello"
            event, now = next(own)
            assert event == "task" and now["task_id"] == task_id and now["status"] == "completed"
            logs: list[dict[str, Any]] = []
            while True:
                event, data = next_event(own, lambda e, _: e in ("log", "log_end"))
                if event == "log_end":
                    break
                logs.extend(data["entries"])
            assert data["status"] == "completed"
            assert any(e["kind"] == "tool_call" and e["name"] == "Bash" for e in logs)
            assert any(e["kind"] == "result" for e in logs)
        oc.ok("cleanup", "--task-id", task_id)  # behind serve's back
        _, removed = next_event(stream, lambda e, _: e == "removed")
        assert removed == {"task_id": task_id}


def test_the_board_hears_of_changes_made_elsewhere_without_a_timer(oc: Env) -> None:
    """With a look on the interval an hour away, every change still reaches the page: a new
    task (its directory made), a record changed by another process (a queued task killed),
    a local task's end (``.ended``), a cleanup (its directory removed)."""
    oc.write_config(json.dumps({"executors": [{"name": "local", "type": "local", "max_concurrent": 1}]}))
    with dashboard(oc, interval="3600") as d, d.events() as stream:
        next_event(stream, lambda e, _: e == "hello")
        first = oc.start("#fake bash until test -e gate; do sleep 0.05; done")["task_id"]
        next_event(stream, lambda e, x: e == "task" and x["task_id"] == first and x["status"] == "running")
        second = oc.start("#fake text never")["task_id"]
        next_event(stream, lambda e, x: e == "task" and x["task_id"] == second and x["status"] == "queued")
        oc.ok("kill", "--task-id", second)
        next_event(stream, lambda e, x: e == "task" and x["task_id"] == second and x["status"] == "killed")
        (oc.workspace / "gate").touch()
        next_event(stream, lambda e, x: e == "task" and x["task_id"] == first and x["status"] == "completed")
        oc.ok("cleanup", "--task-id", second)
        assert next_event(stream, lambda e, _: e == "removed")[1] == {"task_id": second}


def test_openapi_describes_every_route_of_the_api(oc: Env) -> None:
    from openclaw.web.app import Web

    with dashboard(oc) as d:
        doc = d.ok("GET", "/api/openapi.json")
    assert doc["openapi"].startswith("3.1") and doc["info"]["version"]
    routes = {
        (r.path, m.lower())
        for r in Web(lambda: None, None, "t", 1)._routes  # type: ignore[arg-type]
        if r.path.startswith("/api/") and r.path != "/api/openapi.json"
        for m in (r.methods or ()) - {"HEAD"}
    }
    described = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert routes == described
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and op["responses"]


def test_secrets_never_reach_the_api_the_events_or_the_pages(oc: Env) -> None:
    oc.write_config(
        "executors:\n  - name: local\n    type: local\n    env:\n      DEPLOY_TOKEN: " + SECRET + "\n"
    )
    with dashboard(oc) as d, d.events() as stream:
        made = d.ok(
            "POST",
            "/api/tasks",
            {"prompt": "#fake bash echo $DEPLOY_TOKEN; false", "workspace": str(oc.workspace)},
            status=201,
        )
        task_id = made["task_id"]
        next_event(
            stream, lambda e, x: e == "task" and x["task_id"] == task_id and x["status"] == "completed"
        )
        with d.events(f"/api/events?task={task_id}") as own:
            shown = []
            for event, data in own:
                shown.append(str(data))
                if event == "log_end":
                    break
        bodies = [
            d.get(p).body
            for p in (
                "/api/tasks",
                f"/api/tasks/{task_id}",
                f"/api/tasks/{task_id}/logs",
                f"/api/tasks/{task_id}/logs?source=stderr",
                "/api/executors",
                "/api/dashboard",
                "/",
                f"/tasks/{task_id}",
            )
        ]
    everything = b"".join(bodies).decode() + "".join(shown)
    assert "DEPLOY_TOKEN" in everything  # the name is shown, the value never
    assert SECRET not in everything
    assert SECRET not in open(d.err_path).read()
    # The agent did print it: the redaction is what kept it out.
    assert SECRET.encode() in (oc.tasks_dir / task_id / "stdout").read_bytes()


def test_a_second_serve_and_a_taken_port_are_refused_in_one_line(oc: Env) -> None:
    with dashboard(oc) as d:
        again = oc.run("serve", "--http", "127.0.0.1:0", timeout=30)
        assert again.code == 1 and "another serve" in again.err and "Traceback" not in again.err
        env2 = dict(oc.env, HOME=str(oc.home / "other"))
        taken = subprocess.run(
            [console_script(), "serve", "--http", f"127.0.0.1:{d.port}"],
            capture_output=True,
            text=True,
            env=env2,
            timeout=30,
        )
        assert taken.returncode == 2, taken.stderr
        assert f"cannot listen on 127.0.0.1:{d.port}" in taken.stderr and "another port" in taken.stderr
        assert len(taken.stderr.strip().splitlines()) == 1
    for bad in ("eighty", "127.0.0.1:99999", ":-1"):
        r = oc.run("serve", "--http", bad)
        assert r.code == 2 and "[ADDR:]PORT" in r.err, (bad, r.err)
    r = oc.run("serve", "--http", "8787", "--tls-cert", "/nonexistent.pem")
    assert r.code == 2 and "go together" in r.err
    r = oc.run("serve", "--http", "8787", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key")
    assert r.code == 2 and "cannot be read" in r.err


def test_a_non_loopback_address_without_tls_warns_and_with_tls_serves_https(oc: Env, tmp_path: Any) -> None:
    import http.client
    import re
    import ssl

    from web_harness import stop

    def serve(*args: str) -> tuple[subprocess.Popen[bytes], str, str]:
        err = tmp_path / f"err{time.monotonic_ns()}"
        with open(err, "wb") as fh:
            proc = subprocess.Popen(
                [console_script(), "serve", *args], stdout=subprocess.PIPE, stderr=fh, env=oc.env
            )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        return proc, line, err.read_text()

    # Listening on every address (reached here only through loopback).
    proc, line, err = serve("--http", "0.0.0.0:0")
    try:
        assert "without TLS" in err and "--tls-cert" in err
    finally:
        stop(proc)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    proc, line, err = serve("--http", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert "warning" not in err
        port = int(re.search(r"https://127\.0\.0\.1:(\d+)/", line).group(1))  # type: ignore[union-attr]
        token = (oc.tasks_dir / ".web-token").read_text().strip()
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False

        def answer() -> int:
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
            try:
                conn.request("GET", "/api/tasks", headers={"Authorization": f"Bearer {token}"})
                return conn.getresponse().status
            except OSError:
                return 0
            finally:
                conn.close()

        assert wait_until(lambda: answer() == 200)
    finally:
        stop(proc)


def test_serve_stops_on_sigterm_with_a_page_still_following(oc: Env) -> None:
    with dashboard(oc) as d, d.events():
        began = time.monotonic()
        d.proc.terminate()
        d.proc.wait(15)
        assert time.monotonic() - began < 5
        assert d.proc.returncode == 0, d.stderr()


@pytest.mark.parametrize("path", ["openapi.yaml", "static/index.html", "static/app.js", "static/style.css"])
def test_the_pages_and_the_api_description_ship_in_the_package(path: str) -> None:
    import openclaw.web

    here = os.path.join(os.path.dirname(openclaw.web.__file__), path)
    assert os.path.getsize(here) > 100
    if path.endswith(".yaml"):
        assert yaml.safe_load(open(here))["paths"]
