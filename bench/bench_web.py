"""The web dashboard: first paint of 1,000 tasks, a change reaching an open page, serve's memory.

Each figure beside its baseline in the same run, in Debian's headless chromium (Playwright):

- ``paint``: the overview with 1,000 tasks, from navigation to its complete first paint (every
  row drawn, the counts shown): <= 1 s; beside the same browser painting a static page that
  holds the same 1,000-row table (no API call, no script: the floor);
- ``change``: from a local task's end (its ``rc`` file's time) to an open overview showing it
  ``completed``: <= 1 s (``serve`` at its default interval, 2 s; a remote task adds up to one
  interval); beside that interval;
- ``memory``: ``serve --http``'s resident memory with 1,000 tasks and 10 open pages, each
  following the event stream: <= 150 MB; beside plain ``serve``'s on the same store.

    python bench/bench_web.py [--only paint|change|memory ...] [--runs 5] [--tasks 1000]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

import bench_fleet as fleet  # noqa: E402
from bench_foundation import plant_records  # noqa: E402
from web_harness import CHROMIUM, FLAGS, static_server  # noqa: E402

BENCHES = ("paint", "change", "memory")
PAINT_TARGET_S, CHANGE_TARGET_S, MEMORY_TARGET_MB = 1.0, 1.0, 150.0
INTERVAL_S = 2.0
STYLE = (fleet.REPO / "openclaw" / "web" / "static" / "style.css").read_text()


def log(msg: str) -> None:
    print(f"[bench_web] {msg}", file=sys.stderr, flush=True)


class Serve:
    """A ``serve --http 127.0.0.1:0`` on a store, stopped by its pid."""

    def __init__(self, env: dict[str, str], cwd: Path, http: bool = True) -> None:
        args = ["--http", "127.0.0.1:0"] if http else []
        self.proc = subprocess.Popen(
            [fleet.console_script(), "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
        self.port = 0
        if http:
            assert self.proc.stdout is not None
            sel = selectors.DefaultSelector()
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(30):
                raise SystemExit("serve --http printed nothing")
            found = re.search(r":(\d+)/", self.proc.stdout.readline().decode())
            assert found
            self.port = int(found.group(1))
        self.token = ""
        token_file = Path(env["HOME"]) / ".local/share/openclaw/tasks/.web-token"
        if http:
            self.token = token_file.read_text().strip()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def store(tmp: Path, count: int) -> tuple[dict[str, str], Path]:
    home = tmp / "home"
    ws = tmp / "ws"
    ws.mkdir(parents=True)
    plant_records(home / ".local" / "share" / "openclaw" / "tasks", count)
    env = fleet.clean_env(home)
    subprocess.run(
        [fleet.console_script(), "list"], env=env, cwd=ws, capture_output=True, check=True
    )  # index
    return env, ws


def static_table(tasks: list[dict[str, Any]]) -> str:
    """The overview's table as a static page: what a browser paints with no work of ours."""
    rows = "".join(
        f'<tr data-task-id="{t["task_id"]}"><td class="status"><span class="badge s-{t["status"]}">'
        f'{t["status"]}</span></td><td><a href="/tasks/{t["task_id"]}">{t["task_id"][:8]}</a></td>'
        f'<td class="wide">{t["agent"]}</td><td>{t["executor"]}</td><td class="ws wide">'
        f'<span dir="ltr">{html.escape(t["workspace"])}</span></td><td>1d</td>'
        f'<td class="num wide">{(t.get("result") or {}).get("num_turns", "")}</td><td class="num">$0.12</td>'
        f'<td class="wide"></td></tr>'
        for t in tasks
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><style>{STYLE}</style></head><body>"
        f'<main><section class="card"><table id="tasks"><tbody>{rows}</tbody></table></section></main>'
        "<script>document.body.dataset.ready='overview'</script></body></html>"
    )


def bench_paint(tmp: Path, runs: int, count: int) -> list[fleet.Row]:
    env, ws = store(tmp / "paint", count)
    serve = Serve(env, ws)
    try:
        import urllib.request

        req = urllib.request.Request(
            f"http://127.0.0.1:{serve.port}/api/tasks", headers={"Authorization": f"Bearer {serve.token}"}
        )
        tasks = json.load(urllib.request.urlopen(req))["tasks"]
        assert len(tasks) == count
        page_html = static_table(tasks).encode()

        floor = static_server("127.0.0.1", page_html)
        painted = f"() => document.querySelectorAll('#tasks tbody tr[data-task-id]').length === {count}"
        ours: list[float] = []
        base: list[float] = []
        with browser() as chromium:
            for n in range(runs + 1):
                for url, into in ((f"http://127.0.0.1:{floor.server_address[1]}/", base), (serve.url, ours)):
                    context = chromium.new_context(viewport={"width": 1280, "height": 800})
                    page = context.new_page()
                    began = time.perf_counter()
                    page.goto(url)
                    page.wait_for_function(painted, polling="raf", timeout=30_000)
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
                    took = time.perf_counter() - began
                    if n:  # the first round warms the browser
                        into.append(took)
                    context.close()
        floor.shutdown()
        floor.server_close()
    finally:
        serve.stop()
    mine, floor_s = statistics.median(ours), statistics.median(base)
    log(f"paint: {count} tasks: overview {[round(x, 3) for x in ours]}, static {[round(x, 3) for x in base]}")
    return [
        fleet.Row(f"paint: static {count}-row table", floor_s, len(base)),
        fleet.Row(
            f"paint: overview of {count} tasks",
            mine,
            len(ours),
            mine / floor_s,
            f"<= {PAINT_TARGET_S:g} s",
            "ok" if max(ours) <= PAINT_TARGET_S else "OVER",
        ),
    ]


def bench_change(tmp: Path, runs: int) -> list[fleet.Row]:
    env, ws = store(tmp / "change", 0)
    serve = Serve(env, ws)
    lags: list[float] = []
    try:
        with browser() as chromium:
            page = chromium.new_context().new_page()
            page.goto(serve.url)
            page.wait_for_selector("body[data-ready=overview]")
            for _ in range(runs):
                out = subprocess.run(
                    [fleet.console_script(), "start", "--json", "--prompt", "#fake sleep 1\n#fake text done"],
                    env=env,
                    cwd=ws,
                    capture_output=True,
                    check=True,
                )
                task_id = json.loads(out.stdout)["task_id"]
                page.wait_for_selector(
                    f'tr[data-task-id="{task_id}"] .s-completed', timeout=30_000, state="attached"
                )
                seen = time.time()
                rc = Path(env["HOME"]) / ".local/share/openclaw/tasks" / task_id / "rc"
                lags.append(seen - rc.stat().st_mtime)
    finally:
        serve.stop()
    log(f"change: {[round(x, 3) for x in lags]}")
    mid = statistics.median(lags)
    return [
        fleet.Row("change: serve's interval (default)", INTERVAL_S, 1),
        fleet.Row(
            "change: local task's end -> open page",
            mid,
            len(lags),
            mid / INTERVAL_S,
            f"<= {CHANGE_TARGET_S:g} s",
            "ok" if max(lags) <= CHANGE_TARGET_S else "OVER",
        ),
    ]


def bench_memory(tmp: Path, count: int, pages: int = 10) -> list[fleet.Row]:
    env, ws = store(tmp / "memory", count)
    plain = Serve(env, ws, http=False)
    time.sleep(3)
    plain_mb = plain.rss_mb()
    plain.stop()
    serve = Serve(env, ws)
    try:
        with browser() as chromium:
            opened = []
            for _ in range(pages):
                page = chromium.new_context().new_page()
                page.goto(serve.url)
                page.wait_for_selector("body[data-ready=overview]", timeout=30_000)
                opened.append(page)
            time.sleep(3)  # a look or two with every page following
            peak = serve.rss_mb()
            for page in opened:  # and each page reloads once more
                page.reload()
                page.wait_for_selector("body[data-ready=overview]", timeout=30_000)
            time.sleep(2)
            peak = max(peak, serve.rss_mb())
    finally:
        serve.stop()
    log(f"memory: serve {plain_mb:.1f} MB, serve --http with {pages} pages {peak:.1f} MB")
    return [
        fleet.Row(f"memory: serve, {count} tasks (MB)", plain_mb, 1),
        fleet.Row(
            f"memory: serve --http, {pages} pages (MB)",
            peak,
            1,
            peak / plain_mb,
            f"<= {MEMORY_TARGET_MB:g} MB",
            "ok" if peak <= MEMORY_TARGET_MB else "OVER",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=BENCHES)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    rows: list[fleet.Row] = []
    with tempfile.TemporaryDirectory(prefix="oc-bench-web-") as name:
        tmp = Path(name)
        for bench in args.only or BENCHES:
            if bench == "paint":
                rows += bench_paint(tmp, args.runs, args.tasks)
            elif bench == "change":
                rows += bench_change(tmp, args.runs)
            else:
                rows += bench_memory(tmp, args.tasks)
    fleet.print_table(rows)
    return 0 if all(r.verdict != "OVER" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
