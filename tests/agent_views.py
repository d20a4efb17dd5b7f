"""What every executor's agent tests check of a task's outcome the same way: the streamed
start, the human view's closing line, and wait's exit codes (each executor's test adds its
own checks of where the output lives and what is left running)."""

from __future__ import annotations

import json

from conftest import Env


def closing_line(view: str) -> str:
    """The last non-blank line of a human ``logs`` view: the outcome line."""
    return [ln for ln in view.splitlines() if ln.strip()][-1]


def completes_streaming(oc: Env, ws: list[str], agent: str, text: str) -> str:
    """``start --wait --follow`` streams ``text`` and the outcome and exits 0; ``logs`` shows
    the text and ends with ``■ completed``. The task's id."""
    followed = oc.run("start", "--wait", "--follow", f"--prompt=#fake text {text}\n#fake bash echo hi", *ws)
    assert followed.code == 0, followed
    assert text in followed.out and "■ completed" in followed.out
    (done,) = oc.ok("list", "--json").json()
    assert done["agent"] == agent and done["status"] == "completed"
    view = oc.ok("logs", "--task-id", done["task_id"]).out
    assert text in view and closing_line(view).startswith("■ completed"), view
    return str(done["task_id"])


def fails_and_wait_exits_4(oc: Env, ws: list[str]) -> None:
    """An API error: ``wait --follow`` streams to the end and exits 4, the view closes with
    ``■ failed``, and a later ``wait`` exits 4 too."""
    failed = oc.start("#fake delay 1\n#fake api-error 400 model gpt-nope does not exist", *ws)
    streamed = oc.run("wait", "--task-id", failed["task_id"], "--follow", timeout=90)
    assert streamed.code == 4, streamed
    assert "■ failed" in streamed.out, streamed.out
    assert oc.status(failed["task_id"])["status"] == "failed"
    for follow in (["--follow"], []):
        view = oc.ok("logs", "--task-id", failed["task_id"], *follow, timeout=60).out
        assert "does not exist" in view and closing_line(view).startswith("■ failed"), view
    assert oc.run("wait", "--task-id", failed["task_id"]).code == 4


def killed_view_says_who(oc: Env, task_id: str, text: str) -> None:
    """A killed task: ``wait`` exits 5 and the view closes with who stopped it."""
    assert oc.run("wait", "--task-id", task_id).code == 5
    view = oc.ok("logs", "--task-id", task_id, "--follow", timeout=60).out
    assert text in view and closing_line(view).startswith("■ killed"), view
    assert "stopped by 'openclaw-agent kill'" in closing_line(view)


def raw_is_the_agents_own(oc: Env, task_id: str, where_it_ran: str) -> None:
    """``logs --raw`` is, line for line, the output as it is where the agent ran: JSON events."""
    raw = oc.ok("logs", "--task-id", task_id, "--raw").out
    assert raw.splitlines() == where_it_ran.splitlines() and raw.strip()
    assert all(json.loads(line) for line in raw.splitlines())
    assert oc.run("wait", "--task-id", task_id).code == 0
