"""The shell scripts shipped with the package (``launcher.sh``, ``taskprocs.sh``), as text.

They are plain files, checked by shellcheck. On this machine the launcher
sources ``taskprocs.sh`` from beside itself; a copy sent to another host
(one file, the task directory's ``launcher.sh``) has it inlined instead.
"""

from __future__ import annotations

from functools import cache

from openclaw.paths import package_file

#: The lines of launcher.sh that source taskprocs.sh and worktree.sh.
SOURCE_TASKPROCS = '# shellcheck source=openclaw/taskprocs.sh\n. "${0%/*}/taskprocs.sh"\n'
SOURCE_WORKTREE = '# shellcheck source=openclaw/worktree.sh\n. "${0%/*}/worktree.sh"\n'


@cache
def taskprocs() -> str:
    """``taskprocs.sh``: the ``tp_*`` functions that find and stop a task's processes."""
    return package_file("taskprocs.sh").read_text(encoding="utf-8")


@cache
def worktree() -> str:
    """``worktree.sh``: the ``wt_*`` functions that make, commit, diff, apply, push and remove a
    task's git worktree."""
    return package_file("worktree.sh").read_text(encoding="utf-8")


@cache
def standalone_launcher() -> bytes:
    """``launcher.sh`` with ``taskprocs.sh`` and ``worktree.sh`` inlined: one file that works
    wherever it is copied."""
    text = package_file("launcher.sh").read_text(encoding="utf-8")
    if SOURCE_TASKPROCS not in text or SOURCE_WORKTREE not in text:
        raise AssertionError("launcher.sh no longer sources taskprocs.sh and worktree.sh")
    return text.replace(SOURCE_TASKPROCS, taskprocs()).replace(SOURCE_WORKTREE, worktree()).encode("utf-8")
