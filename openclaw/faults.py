"""Named fault points on the start path, for the fault-injection tests.

``OPENCLAW_FAULTS=point:action[,point:action...]`` makes the process fail at
those points the way the world makes it fail:

- ``kill``: SIGKILL this process (a crash, ``kill -9``, an OOM kill);
- ``int``: raise KeyboardInterrupt (Ctrl-C);
- ``cut``: cut the connection in use (the code then meets a real dropped
  connection), where the point offers one;
- ``nospace``: raise the OSError a full disk gives (ENOSPC).

Unset, a point costs one dictionary lookup. The points are listed in
:data:`POINTS`, so a test can sweep all of them.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable

#: Every fault point, in the order ``start`` passes them.
POINTS = (
    "start.recorded",  # the pending record exists; the prompt file does not yet
    "start.prompt",  # the prompt file is written; the executor has not been called
    "local.spawned",  # the launcher is spawned; its pid file is not read yet
    "ssh.prepared",  # the task directory exists on the host; nothing is uploaded
    "ssh.uploaded",  # prompt, env and launcher are on the host; the launch is not sent
    "ssh.launch-sent",  # the launch script is sent; its answer is not read
    "container.created",  # `run -d` is about to be called
    "start.launched",  # the executor says it launched; the record still says pending
)

_ACTIVE: dict[str, str] | None = None


def _active() -> dict[str, str]:
    global _ACTIVE
    if _ACTIVE is None:
        spec = os.environ.get("OPENCLAW_FAULTS", "")
        _ACTIVE = dict(item.split(":", 1) for item in spec.split(",") if ":" in item)
    return _ACTIVE


def point(name: str, cut: Callable[[], None] | None = None) -> None:
    """Fail here if ``OPENCLAW_FAULTS`` names this point (see the module docstring)."""
    action = _active().get(name) if _ACTIVE != {} else None
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "int":
        raise KeyboardInterrupt
    elif action == "cut" and cut is not None:
        cut()
    elif action == "nospace":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
