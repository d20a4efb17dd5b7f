"""A worktree task in a container: made on the host side of the bind-mounted volume that
holds the repository, and shown to the container at the same path."""

from __future__ import annotations

import test_container_executor as containers
from test_container_executor import Box
from test_worktree import branches, checkout_state, git, make_repo, show

containers_conf, container_image = containers.containers_conf, containers.container_image
podman_service, runtime, box = containers.podman_service, containers.runtime, containers.box


def test_a_container_task_in_a_worktree_of_a_bind_mounted_repository_leaves_its_change_on_its_branch(
    box: Box,
) -> None:
    repo = make_repo(box.ws / "repo")
    before = checkout_state(repo)
    meta = box.start("#fake write made-in-container.txt hello", "--worktree", "--workspace", "/work/repo")
    tree = meta["worktree"]
    assert tree["repo"] == str(repo) and meta["workspace"] == tree["path"]
    done = box.oc.wait_status(meta["task_id"], "completed", timeout=120)
    branch = tree["branch"]
    # The dispatcher commits on the host side once it sees the container end.
    assert show(repo, branch, "made-in-container.txt") == "hello"
    assert done["changes"]["files"] == 1 and done["changes"]["head"] == git(repo, "rev-parse", branch).strip()
    assert checkout_state(repo) == before
    # diff from the dispatcher: git runs on the host side.
    assert box.oc.ok("diff", "--task-id", meta["task_id"], "--name-only").out.split() == [
        "made-in-container.txt"
    ]
    box.oc.ok("cleanup", "--task-id", meta["task_id"], "--delete-branch", timeout=120)
    assert branches(repo) == ["main"]


def test_a_container_workspace_under_no_bind_mount_is_refused_with_why(box: Box) -> None:
    result = box.oc.run(
        "start", "--executor", "box", "--worktree", "--workspace", "/elsewhere", "--prompt", "#fake text x"
    )
    assert result.code == 2 and "Traceback" not in result.err
    assert "is not under a bind-mounted volume" in result.err and "volumes" in result.err
    assert len(result.err.strip().splitlines()) == 1
