"""Worktree tasks on a real SSH host: git runs there, as the login user, with its credentials.

The repository belongs to the sshd's login user, on its side of the test; the
tasks, diff, apply, push and cleanup all reach it through the SSH executor.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import test_ssh_executor as sshmod
from conftest import wait_until
from sshd_harness import chown
from test_ssh_executor import SSHEnv
from test_worktree import at_once, branches, checkout_state, git, make_repo, show

remote, ssh = sshmod.remote, sshmod.ssh


def give(path: Path, env: SSHEnv) -> Path:
    """Hand ``path`` and everything under it to the login user."""
    for p in [path, *path.rglob("*")]:
        chown(p, env.remote.user)
    return path


@pytest.fixture
def host_repo(ssh: SSHEnv) -> Path:
    return give(make_repo(ssh.remote.dir / "repo"), ssh)


def run_on_host(ssh: SSHEnv, repo: Path, *args: str) -> dict[str, Any]:
    result = ssh.oc.run("run", "--json", "--wait", "--workspace", str(repo), *args, timeout=120)
    assert result.code in (0, 4), result.err
    meta: dict[str, Any] = result.json()
    return meta


def test_ten_tasks_at_once_on_one_repository_on_the_host_leave_ten_branches(
    ssh: SSHEnv, host_repo: Path
) -> None:
    before = checkout_state(host_repo)
    scripts = [f"echo 'task {n}' > shared.txt" for n in range(10)]
    metas = at_once(ssh.oc, scripts, "--workspace", str(host_repo), cwd=ssh.oc.workspace)
    for n, meta in enumerate(metas):
        tree = meta["worktree"]
        assert meta["status"] == "completed" and meta["host"] == "127.0.0.1"
        assert tree["path"] == str(ssh.remote.tasks / ".worktrees" / meta["task_id"])
        assert show(host_repo, tree["branch"], "shared.txt") == f"task {n}\n"
        assert git(host_repo, "diff", "--name-only", tree["base"], tree["branch"]).split() == ["shared.txt"]
        assert meta["changes"]["files"] == 1
        # The commit was made on the host, by the login user's git.
        assert (
            git(host_repo, "log", "-1", "--format=%an", tree["branch"]).strip().endswith(meta["task_id"][:8])
        )
    assert checkout_state(host_repo) == before
    assert len(branches(host_repo)) == 11


def test_a_killed_task_on_the_host_keeps_its_partial_work_on_its_branch(ssh: SSHEnv, host_repo: Path) -> None:
    result = ssh.oc.ok(
        "run", "--json", "--worktree", "--workspace", str(host_repo), "--", "sh", "-c",
        "echo partial > p.txt; sleep 120",
        timeout=60,
    )  # fmt: skip
    meta = result.json()
    wait_until(lambda: (Path(meta["worktree"]["path"]) / "p.txt").exists(), timeout=30)
    ssh.oc.ok("kill", "--task-id", meta["task_id"], "--grace", "2", timeout=60)
    killed = ssh.oc.status(meta["task_id"])
    assert killed["status"] == "killed" and killed["changes"]["files"] == 1
    assert show(host_repo, meta["worktree"]["branch"], "p.txt") == "partial\n"


def test_diff_and_apply_of_a_host_task_from_the_dispatcher(ssh: SSHEnv, host_repo: Path) -> None:
    oc = ssh.oc
    # A local clone at the same base, to apply to with --to.
    clone = oc.workspace / "clone"
    # safe.directory counts only in a global (or system) config: a scratch one trusts the repo.
    (oc.workspace / "gitconfig").write_text("[safe]\n\tdirectory = *\n")
    safe = dict(os.environ, GIT_CONFIG_GLOBAL=str(oc.workspace / "gitconfig"))
    subprocess.run(["git", "clone", "-q", str(host_repo), str(clone)], check=True, env=safe)
    meta = run_on_host(ssh, host_repo, "--worktree", "--", "sh", "-c", "echo remote > shared.txt")
    tid = meta["task_id"]
    assert "-base\n+remote" in oc.ok("diff", "--task-id", tid, timeout=60).out
    files = oc.ok("diff", "--task-id", tid, "--json", timeout=60).json()["files"]
    assert [(f["path"], f["status"]) for f in files] == [("shared.txt", "modified")]
    oc.ok("apply", "--task-id", tid, "--to", str(clone), timeout=60)
    assert (clone / "shared.txt").read_text() == "remote\n"
    # Without --to: the checkout it came from, on the host; a conflict is reported by file.
    (host_repo / "shared.txt").write_text("host edit\n")
    dirty = oc.run("apply", "--task-id", tid, timeout=60)
    assert dirty.code == 2 and "uncommitted changes" in dirty.err and "on 127.0.0.1" in dirty.err
    git(host_repo, "commit", "-qam", "host edit")
    conflict = oc.run("apply", "--task-id", tid, timeout=60)
    assert conflict.code == 1 and "conflicts in: shared.txt" in conflict.err
    assert "<<<<<<<" in (host_repo / "shared.txt").read_text()
    git(host_repo, "reset", "-q", "--hard")
    git(host_repo, "reset", "-q", "--hard", "HEAD~1")
    oc.ok("apply", "--task-id", tid, timeout=60)
    assert (host_repo / "shared.txt").read_text() == "remote\n"


def test_push_to_a_bare_repository_on_the_host_when_the_task_completes(ssh: SSHEnv, host_repo: Path) -> None:
    bare = ssh.remote.dir / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    give(bare, ssh)
    meta = run_on_host(ssh, host_repo, "--worktree", f"--push={bare}", "--", "sh", "-c", "echo p > p.txt")
    assert meta["status"] == "completed"
    branch = meta["worktree"]["branch"]
    assert meta["push"]["ref"] == f"refs/heads/{branch}"
    assert git(bare, "rev-parse", branch).strip() == meta["changes"]["head"]
    assert f"pushed to {bare}" in ssh.oc.ok("status", "--task-id", meta["task_id"], timeout=60).out


def test_cleanup_on_the_host_removes_the_worktree_and_the_branch_only_when_asked(
    ssh: SSHEnv, host_repo: Path
) -> None:
    kept = run_on_host(ssh, host_repo, "--worktree", "--", "sh", "-c", "echo k > k.txt")
    gone = run_on_host(ssh, host_repo, "--worktree", "--", "sh", "-c", "echo g > g.txt")
    (Path(kept["worktree"]["path"]) / "late.txt").write_text("late\n")
    refused = ssh.oc.run("cleanup", "--task-id", kept["task_id"], timeout=60)
    assert refused.code == 2 and "not committed" in refused.err
    ssh.oc.ok("cleanup", "--task-id", kept["task_id"], "--force", timeout=60)
    ssh.oc.ok("cleanup", "--task-id", gone["task_id"], "--delete-branch", timeout=60)
    assert not Path(kept["worktree"]["path"]).exists() and not Path(gone["worktree"]["path"]).exists()
    assert kept["worktree"]["branch"] in branches(host_repo)
    assert gone["worktree"]["branch"] not in branches(host_repo)
    assert not (ssh.remote.tasks / kept["task_id"]).exists()


def test_a_workspace_on_the_host_that_is_no_repository_is_refused_in_one_line(ssh: SSHEnv) -> None:
    result = ssh.oc.run("run", "--worktree", "--workspace", str(ssh.remote.ws), "--", "true", timeout=60)
    assert result.code == 2 and "Traceback" not in result.err
    assert "is not in a git repository" in result.err and "on 127.0.0.1" in result.err
    assert not ssh.oc.tasks_dir.exists() or not [p for p in ssh.oc.tasks_dir.iterdir() if len(p.name) == 36]


def test_a_host_task_without_a_worktree_diffs_its_checkout_against_the_commit_it_started_from(
    ssh: SSHEnv, host_repo: Path
) -> None:
    meta = run_on_host(ssh, host_repo, "--", "sh", "-c", "echo more >> shared.txt")
    assert "worktree" not in meta
    out = ssh.oc.ok("diff", "--task-id", meta["task_id"], timeout=60).out
    assert "+more" in out and "shared.txt" in out
