"""A git worktree and branch per task (``--worktree``), ``diff``, ``apply``, ``push`` and ``cleanup``.

Everything runs against real git and the real launcher on this machine; the
SSH host's side is in test_worktree_ssh.py. The user's checkout is checked
after every test that could touch it: its branch, index and files stay.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, wait_until


def git(repo: Path, *args: str, check: bool = True) -> str:
    """``git -C repo ARGS`` (any owner), its stdout."""
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(repo), *args], capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {args}: {proc.stderr}")
    return proc.stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A repository at ``path`` with one commit of ``files`` on branch main."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.invalid")
    for name, text in (files or {"README": "hello\n", "shared.txt": "base\n"}).items():
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return path


def checkout_state(repo: Path) -> dict[str, str]:
    """What must not change in the user's checkout: branch, HEAD, index, status, files."""
    return {
        "branch": git(repo, "rev-parse", "--abbrev-ref", "HEAD"),
        "head": git(repo, "rev-parse", "HEAD"),
        # Read without refreshing it: a plain 'git status' may rewrite the index's stat data.
        "status": git(repo, "--no-optional-locks", "status", "--porcelain"),
        "index": (repo / ".git" / "index").read_bytes().hex(),
        "files": json.dumps({p.name: p.read_text() for p in sorted(repo.iterdir()) if p.is_file()}),
    }


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def show(repo: Path, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def run_task(oc: Env, *args: str, cwd: Path | None = None) -> dict[str, Any]:
    """``run --worktree --wait --json ARGS``: the finished task's record."""
    result = oc.run("run", "--json", "--wait", *args, cwd=cwd)
    assert result.code in (0, 4), result.err
    meta: dict[str, Any] = result.json()
    return meta


def at_once(oc: Env, scripts: list[str], *args: str, cwd: Path, timeout: float = 180) -> list[dict[str, Any]]:
    """``run --worktree --wait --json ARGS -- sh -c SCRIPT`` for every script, all at once; the
    finished records, in order."""
    from conftest import console_script

    procs = [
        subprocess.Popen(
            [console_script(), "run", "--json", "--wait", "--worktree", *args, "--", "sh", "-c", script],
            cwd=cwd,
            env=oc.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for script in scripts
    ]
    metas = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err.decode()
        metas.append(json.loads(out))
    return metas


@pytest.fixture
def repo(oc: Env) -> Path:
    return make_repo(oc.workspace / "repo")


# -- isolation --------------------------------------------------------------------------------
def test_ten_tasks_at_once_on_one_repository_leave_ten_branches_each_with_only_its_own_change(
    oc: Env, repo: Path
) -> None:
    before = checkout_state(repo)
    scripts = [f"echo 'task {n}' > shared.txt && echo {n} > own-{n}.txt" for n in range(10)]
    metas = at_once(oc, scripts, cwd=repo)
    base = before["head"].strip()
    assert len({m["worktree"]["branch"] for m in metas}) == 10
    for n, meta in enumerate(metas):
        assert meta["status"] == "completed"
        tree = meta["worktree"]
        assert tree["repo"] == str(repo) and tree["base"] == base
        assert meta["workspace"] == tree["path"] and not tree["path"].startswith(str(repo))
        branch = tree["branch"]
        assert branch == f"openclaw/{meta['task_id'][:8]}"
        # Only its own change, in one commit on top of the base.
        assert show(repo, branch, "shared.txt") == f"task {n}\n"
        assert git(repo, "diff", "--name-only", base, branch).split() == [f"own-{n}.txt", "shared.txt"]
        assert git(repo, "rev-list", "--count", f"{base}..{branch}").strip() == "1"
        assert meta["changes"] == {
            "base": base,
            "head": git(repo, "rev-parse", branch).strip(),
            "files": 2,
            "insertions": 2,
            "deletions": 1,
        }
        author = git(repo, "log", "-1", "--format=%an|%s", branch)
        assert meta["task_id"][:8] in author.split("|")[0] and meta["task_id"] in author
    assert checkout_state(repo) == before, "the user's checkout is untouched"
    assert sorted(branches(repo)) == sorted(["main", *(m["worktree"]["branch"] for m in metas)])


def test_the_worktree_lives_beside_the_records_and_the_agent_runs_in_it(oc: Env, repo: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "sub" / "x").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "sub")
    meta = oc.start("#fake bash pwd", "--worktree", cwd=repo / "sub")
    done = oc.wait_status(meta["task_id"], "completed")
    tree = done["worktree"]
    assert tree["path"] == str(oc.tasks_dir / ".worktrees" / meta["task_id"])
    # A workspace inside the repository: the agent starts at the same place in the worktree.
    assert done["workspace"] == tree["path"] + "/sub"
    assert oc.recorded(meta["task_id"], "cwd").decode().strip() == tree["path"] + "/sub"
    assert ".worktrees" not in git(repo, "status", "--porcelain", "--ignored")


def test_isolation_worktree_in_the_config_gives_every_task_a_worktree(oc: Env, repo: Path) -> None:
    oc.write_config(
        json.dumps({"defaults": {"isolation": "worktree"}, "executors": [{"name": "local", "type": "local"}]})
    )
    meta = run_task(oc, "--", "sh", "-c", "echo hi > new.txt", cwd=repo)
    assert meta["worktree"]["branch"] == f"openclaw/{meta['task_id'][:8]}"
    assert show(repo, meta["worktree"]["branch"], "new.txt") == "hi\n"
    assert git(repo, "status", "--porcelain") == ""


# -- nothing is lost --------------------------------------------------------------------------
def test_a_killed_tasks_partial_work_is_committed_to_its_branch(oc: Env, repo: Path) -> None:
    result = oc.ok(
        "run", "--json", "--worktree", "--", "sh", "-c", "echo partial > p.txt; sleep 120", cwd=repo
    )
    meta = result.json()
    wait_until(lambda: (Path(meta["worktree"]["path"]) / "p.txt").exists())
    # While it runs, diff shows its uncommitted work.
    assert "+partial" in oc.ok("diff", "--task-id", meta["task_id"]).out
    oc.ok("kill", "--task-id", meta["task_id"], "--grace", "2")
    killed = oc.status(meta["task_id"])
    assert killed["status"] == "killed"
    branch = meta["worktree"]["branch"]
    assert show(repo, branch, "p.txt") == "partial\n"
    assert (
        killed["changes"]["files"] == 1
        and killed["changes"]["head"] == git(repo, "rev-parse", branch).strip()
    )
    assert git(repo, "status", "--porcelain") == ""
    status = oc.ok("status", "--task-id", meta["task_id"]).out
    assert f"1 file changed, +1 -0 on {branch}" in status


def test_a_failed_task_keeps_what_it_did_and_says_so_in_status(oc: Env, repo: Path) -> None:
    meta = run_task(oc, "--worktree", "--", "sh", "-c", "echo half > half.txt; exit 3", cwd=repo)
    assert meta["status"] == "failed" and meta["exit_code"] == 3
    assert show(repo, meta["worktree"]["branch"], "half.txt") == "half\n"
    assert meta["changes"]["files"] == 1


# -- diff -------------------------------------------------------------------------------------
def test_diff_shows_the_patch_stat_names_and_json_of_what_the_task_changed(oc: Env, repo: Path) -> None:
    script = "echo changed > shared.txt && echo new > added.txt && git rm -q README && printf '\\0' > bin.dat"
    meta = run_task(oc, "--worktree", "--", "sh", "-c", script, cwd=repo)
    tid = meta["task_id"]
    patch = oc.ok("diff", "--task-id", tid).out
    assert "-base\n+changed" in patch and "+new" in patch and "deleted file mode" in patch
    assert "added.txt" in oc.ok("diff", "--task-id", tid, "--stat").out
    assert oc.ok("diff", "--task-id", tid, "--name-only").out.split() == [
        "README",
        "added.txt",
        "bin.dat",
        "shared.txt",
    ]
    data = oc.ok("diff", "--task-id", tid, "--json").json()
    assert data["branch"] == meta["worktree"]["branch"]
    files = {f["path"]: f for f in data["files"]}
    assert files["shared.txt"] == {
        "path": "shared.txt",
        "status": "modified",
        "insertions": 1,
        "deletions": 1,
        "binary": False,
    }
    assert files["added.txt"]["status"] == "added" and files["README"]["status"] == "deleted"
    assert files["bin.dat"]["binary"] is True and files["bin.dat"]["insertions"] is None
    bad = oc.run("diff", "--task-id", tid, "--stat", "--json")
    assert bad.code == 2 and len(bad.err.strip().splitlines()) == 1


def test_a_task_without_a_worktree_in_a_git_checkout_diffs_against_the_commit_it_started_from(
    oc: Env, repo: Path
) -> None:
    meta = run_task(oc, "--", "sh", "-c", "echo edited >> shared.txt && echo u > untracked.txt", cwd=repo)
    assert "worktree" not in meta
    out = oc.ok("diff", "--task-id", meta["task_id"]).out
    assert "+edited" in out and "untracked.txt" in out
    assert git(repo, "diff", "--cached") == "", "the user's index is untouched"
    plain = oc.workspace / "plain"
    plain.mkdir()
    other = run_task(oc, "--", "true", cwd=plain)
    result = oc.run("diff", "--task-id", other["task_id"])
    assert result.code == 2 and "no change to show" in result.err and "Traceback" not in result.err


# -- apply ------------------------------------------------------------------------------------
def test_apply_stages_the_change_in_the_checkout_it_came_from_and_refuses_a_dirty_one(
    oc: Env, repo: Path
) -> None:
    meta = run_task(
        oc, "--worktree", "--", "sh", "-c", "echo applied > shared.txt && echo n > n.txt", cwd=repo
    )
    (repo / "README").write_text("local edit\n")
    refused = oc.run("apply", "--task-id", meta["task_id"])
    assert refused.code == 2 and "uncommitted changes" in refused.err and "--force" in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert (repo / "shared.txt").read_text() == "base\n", "a refused apply changes nothing"
    # --force applies on top of the uncommitted change (it touches other files).
    oc.ok("apply", "--task-id", meta["task_id"], "--force")
    assert (repo / "shared.txt").read_text() == "applied\n" and (
        repo / "README"
    ).read_text() == "local edit\n"
    git(repo, "reset", "-q", "--hard")
    git(repo, "clean", "-qfd")
    oc.ok("apply", "--task-id", meta["task_id"])
    assert (repo / "shared.txt").read_text() == "applied\n" and (repo / "n.txt").read_text() == "n\n"
    assert git(repo, "diff", "--cached", "--name-only").split() == ["n.txt", "shared.txt"]
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def test_apply_with_a_conflict_names_the_files_and_leaves_the_checkout_as_git_does(
    oc: Env, repo: Path
) -> None:
    meta = run_task(oc, "--worktree", "--", "sh", "-c", "echo theirs > shared.txt", cwd=repo)
    (repo / "shared.txt").write_text("ours\n")
    git(repo, "commit", "-qam", "ours")
    result = oc.run("apply", "--task-id", meta["task_id"])
    assert result.code == 1 and "Traceback" not in result.err
    assert "conflicts in: shared.txt" in result.err
    text = (repo / "shared.txt").read_text()
    assert "<<<<<<<" in text and "ours" in text and "theirs" in text
    assert git(repo, "diff", "--name-only", "--diff-filter=U").split() == ["shared.txt"]


def test_apply_to_another_checkout_with_to(oc: Env, repo: Path) -> None:
    meta = run_task(oc, "--worktree", "--", "sh", "-c", "echo moved > shared.txt", cwd=repo)
    clone = oc.workspace / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    oc.ok("apply", "--task-id", meta["task_id"], "--to", str(clone))
    assert (clone / "shared.txt").read_text() == "moved\n"
    assert (repo / "shared.txt").read_text() == "base\n"


# -- push -------------------------------------------------------------------------------------
def test_push_on_completion_pushes_the_branch_and_a_failed_push_leaves_the_task_completed(
    oc: Env, repo: Path
) -> None:
    bare = oc.workspace / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    meta = run_task(oc, "--worktree", f"--push={bare}", "--", "sh", "-c", "echo p > pushed.txt", cwd=repo)
    branch = meta["worktree"]["branch"]
    assert meta["status"] == "completed"
    assert meta["push"]["ref"] == f"refs/heads/{branch}" and meta["push"]["error"] is None
    assert meta["push"]["head"] == meta["changes"]["head"]
    assert git(bare, "rev-parse", branch).strip() == meta["changes"]["head"]
    failed = run_task(oc, "--worktree", "--push=nowhere", "--", "sh", "-c", "echo q > q.txt", cwd=repo)
    assert failed["status"] == "completed", "a failed push does not fail the task"
    assert failed["push"]["ref"] is None and "nowhere" in failed["push"]["error"]
    assert "push to nowhere failed" in oc.ok("status", "--task-id", failed["task_id"]).out
    # push --task-id tries again, to another remote.
    again = oc.ok("push", "--task-id", failed["task_id"], "--remote", str(bare), "--json").json()
    assert again["push"]["ref"] == f"refs/heads/{failed['worktree']['branch']}"
    assert git(bare, "rev-parse", failed["worktree"]["branch"]).strip() == failed["changes"]["head"]
    nothing = oc.run("push", "--task-id", failed["task_id"], "--remote", "nowhere")
    assert nothing.code == 1 and "nowhere" in nothing.err and len(nothing.err.strip().splitlines()) == 1


# -- lifecycle --------------------------------------------------------------------------------
def test_resume_goes_on_in_the_same_worktree_and_branch(oc: Env, repo: Path) -> None:
    first = oc.start("#fake write one.txt first", "--worktree", cwd=repo)
    done = oc.wait_status(first["task_id"], "completed")
    second = oc.ok(
        "resume", "--task-id", first["task_id"], "--prompt", "#fake write two.txt second", "--json", cwd=repo
    ).json()
    resumed = oc.wait_status(second["task_id"], "completed")
    assert resumed["worktree"] == done["worktree"] and resumed["workspace"] == done["workspace"]
    branch = done["worktree"]["branch"]
    assert show(repo, branch, "one.txt") == "first" and show(repo, branch, "two.txt") == "second"
    assert resumed["changes"]["files"] == 2 and resumed["changes"]["base"] == done["worktree"]["base"]
    # The first task's cleanup leaves the worktree its resumption goes on in.
    out = oc.ok("cleanup", "--task-id", first["task_id"])
    assert "stays" in out.err
    assert Path(done["worktree"]["path"]).is_dir()
    oc.ok("cleanup", "--task-id", second["task_id"])
    assert not Path(done["worktree"]["path"]).exists()


def test_cleanup_removes_the_worktree_and_keeps_the_branch_unless_delete_branch(oc: Env, repo: Path) -> None:
    kept = run_task(oc, "--worktree", "--", "sh", "-c", "echo k > k.txt", cwd=repo)
    gone = run_task(oc, "--worktree", "--", "sh", "-c", "echo g > g.txt", cwd=repo)
    oc.ok("cleanup", "--task-id", kept["task_id"])
    assert not Path(kept["worktree"]["path"]).exists()
    assert kept["worktree"]["branch"] in branches(repo)
    assert show(repo, kept["worktree"]["branch"], "k.txt") == "k\n"
    oc.ok("cleanup", "--task-id", gone["task_id"], "--delete-branch")
    assert gone["worktree"]["branch"] not in branches(repo)
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_cleanup_refuses_a_worktree_with_uncommitted_changes_unless_force(oc: Env, repo: Path) -> None:
    meta = run_task(oc, "--worktree", "--", "true", cwd=repo)
    path = Path(meta["worktree"]["path"])
    (path / "late.txt").write_text("written after the task ended\n")
    refused = oc.run("cleanup", "--task-id", meta["task_id"])
    assert refused.code == 2 and "not committed" in refused.err and "--force" in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert path.is_dir() and (oc.tasks_dir / meta["task_id"]).is_dir(), "nothing was removed"
    oc.ok("cleanup", "--task-id", meta["task_id"], "--force")
    assert not path.exists() and not (oc.tasks_dir / meta["task_id"]).exists()


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", ["not a repository", "no such base", "no commits", "branch exists", "base without worktree"]
)
def test_bad_worktree_input_gives_one_line_exit_2_and_leaves_nothing_behind(oc: Env, case: str) -> None:
    ws = oc.workspace / "target"
    args = ["--worktree"]
    if case == "not a repository":
        ws.mkdir()
        needles = ["is not in a git repository", "git init"]
    elif case == "no commits":
        ws.mkdir()
        git(ws, "init", "-q")
        needles = ["has no commits yet", "commit something first"]
    else:
        make_repo(ws)
        git(ws, "branch", "taken")
        if case == "no such base":
            args += ["--base", "no-such-ref"]
            needles = ["--base 'no-such-ref' is not a commit", "git branch -a"]
        elif case == "branch exists":
            args += ["--branch", "taken"]
            needles = ["branch 'taken' already exists", "git branch -D taken"]
        else:
            args = ["--base", "main"]
            needles = ["--base needs a worktree", "--worktree"]
    before = branches(ws) if (ws / ".git").exists() else []
    result = oc.run("run", *args, "--", "true", cwd=ws)
    assert "Traceback" not in result.err
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not [n for n in os.listdir(oc.tasks_dir) if len(n) == 36] if oc.tasks_dir.exists() else True
    leftovers = oc.tasks_dir / ".worktrees"
    assert not leftovers.exists() or os.listdir(leftovers) == []
    if (ws / ".git").exists():
        assert branches(ws) == before
        assert git(ws, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_work_left_by_a_launcher_killed_outright_is_committed_when_the_task_is_seen_to_end(
    oc: Env, repo: Path
) -> None:
    import signal

    from openclaw import procs

    meta = oc.ok(
        "run", "--json", "--worktree", "--", "sh", "-c", "echo w > w.txt; sleep 120", cwd=repo
    ).json()
    path = Path(meta["worktree"]["path"])
    wait_until(lambda: (path / "w.txt").exists())

    # kill -9 of the launcher and the agent: no commit at exit, no rc; and a git killed
    # mid-commit would have left its index lock behind.
    def left() -> list[int]:
        return [p.pid for p in procs.task_processes(meta["pid"], meta["pid_start_time"], meta["task_id"])]

    def kill_all() -> bool:
        for pid in left():
            os.kill(pid, signal.SIGKILL)
        return not left()

    wait_until(kill_all)
    lock = Path(git(path, "rev-parse", "--path-format=absolute", "--git-path", "index.lock").strip())
    lock.write_text("")
    seen = oc.status(meta["task_id"])
    assert seen["status"] == "lost"
    assert show(repo, meta["worktree"]["branch"], "w.txt") == "w\n"
    assert seen["changes"]["files"] == 1 and not lock.exists()
