"""A task's container as ``<runtime> run -d`` makes it: its name, its mounts, its PID 1.

One task is one container, ``openclaw-<task-id>`` (:func:`container_name`),
labelled ``openclaw.task-id=<id>`` and ``openclaw.executor=<name>``;
:func:`run_args` is the whole argv after the runtime (an argv, no shell string):
the labels, the staged task files and volumes mounted, the configured options,
then, after ``--``, the image and the entry script (:data:`ENTRY`) with the
workspace, the time limit and the agent's argv as its arguments. How to install the
agent (:func:`missing_agent_fix`) is in the entry script's environment, for it to say
when the agent is not in the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from openclaw import launch
from openclaw.executors.container.staging import MOUNT

if TYPE_CHECKING:
    from openclaw.agents.base import Launch
    from openclaw.config import ExecutorConfig
    from openclaw.task import TaskRecord


def _entry() -> str:
    """The container's PID 1 (entry.sh), without its comment header (it travels in argv)."""
    lines = Path(__file__).with_name("entry.sh").read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


#: The container's PID 1: ``sh -c ENTRY openclaw-entry WORKSPACE TIMEOUT AGENT_ARGV...``.
ENTRY = _entry()


#: The variable that tells the entry script what to do when the agent is not in the container.
FIX_VAR = "OPENCLAW_AGENT_FIX"


def missing_agent_fix(spec: Launch, executor: str) -> str:
    """What to do when the agent is not in the container: how to install it first (a record keeps
    the start of its error line), then the config key that points at it, if any."""
    if not spec.path_key:  # a plain command: its install hint is for a host
        return "install it in the image, or give its full path"
    return f"{spec.install} in the image, or set {spec.path_key} of executor {executor!r}"


def container_name(task_id: str) -> str:
    """The container of task ``task_id``."""
    return f"openclaw-{task_id}"


def worktree_mounts(meta: TaskRecord) -> list[str]:
    """``-v`` arguments that show a worktree task its worktree, and the repository's git
    directory its ``.git`` file points to, at the same paths as on this machine."""
    tree = meta.get("worktree")
    if not tree:
        return []
    path = tree["path"]
    mounts = ["-v", f"{path}:{path}"]
    try:
        pointer = Path(path, ".git").read_text(encoding="utf-8").strip()
        gitdir = Path(path, pointer.removeprefix("gitdir:").strip())
        common = (gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()).resolve()
        mounts += ["-v", f"{common}:{common}"]
    except (OSError, ValueError):
        pass  # the agent still has its files; git in the container would not find its repository
    return mounts


def run_args(
    meta: TaskRecord, spec: Launch, config: ExecutorConfig, stage: Path, volumes: list[str]
) -> list[str]:
    """The ``run -d`` arguments of the task's container, as executor ``config`` makes it:
    ``stage`` (the task's staged ``container/`` directory) mounted read-only at
    :data:`~.staging.MOUNT`, ``volumes`` (``-v`` arguments, checked), the worktree's mounts,
    the configured network, user and extra arguments, and the image running :data:`ENTRY`."""
    opts = config.options
    task_id = meta["task_id"]
    args = [
        "run",
        "-d",
        "--pull",
        "never",
        "--name",
        container_name(task_id),
        "--label",
        f"openclaw.task-id={task_id}",
        "--label",
        f"openclaw.executor={config.name}",
        "-v",
        f"{stage}:{MOUNT}:ro",
        "-e",
        f"OPENCLAW_TASK_ID={task_id}",
        "-e",  # no secret: how to install the agent, said by the entry script if it is missing
        f"{FIX_VAR}={missing_agent_fix(spec, config.name)}",
        *volumes,
        *worktree_mounts(meta),
    ]
    if spec.root_var:  # a container is a sandbox: an agent that asks for the opt-in gets it
        args += ["-e", f"{spec.root_var}=1"]
    if opts.get("network"):
        args += ["--network", str(opts["network"])]
    if opts.get("user"):
        args += ["--user", str(opts["user"])]
    args += [str(a) for a in opts.get("extra_args", [])]
    args += [
        "--entrypoint",
        "/bin/sh",
        "--",  # what follows is the image and the command, never a flag
        str(opts["image"]),
        "-c",
        ENTRY,
        "openclaw-entry",
        meta["workspace"],
        launch.timeout_arg(spec.timeout_s),
        *spec.argv,
    ]
    return args
