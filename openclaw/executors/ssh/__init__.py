"""The SSH executor: runs the agent on a remote host, detached, through the same launcher.

Each task gets ``<remote_root>/<task-id>/`` (0700) on the host, holding the
same files as a local task directory (``prompt``, ``env``, ``launcher.sh``,
``pid``, ``rc``, ``stdout``, ``stderr``, ``.meta.json``); the local record
directory is its mirror and stays the authoritative record.

Connections go through Fabric (for ``~/.ssh/config``: HostName, User, Port,
IdentityFile, ProxyJump) with host keys checked against ``known_hosts`` —
Fabric itself would auto-add them. Every remote action is one POSIX ``sh``
script sent on the stdin of ``/bin/sh -s``, so nothing user-supplied is ever
spliced into a command line; the prompt travels by SFTP, and secret values by
SFTP (the ``env`` file) and inside the prepare script on that stdin (for its
checks), never on a command line. ``remote_root`` is proved private before
anything is uploaded. Every answer is framed (see :class:`Answer`). Observing
any number of one host's tasks is one round trip.

The package's parts:

- ``hostkeys``: known_hosts checks, and one-line connection errors;
- ``session``: the cached connection (gateways, TCP_NODELAY, retries) and
  running a script on it;
- ``protocol``: scripts in (values, then the shipped ``scripts/*.sh``),
  framed answers out (:class:`Answer`), the files a task directory gets;
- ``answers``: what the host answered, read (record fields, observations,
  the start errors it means), with no connection;
- ``batch``: starting many tasks on the host at once (``start_many``);
- ``feed``: watching a task, and a host's ends, over the open connection;
- ``scripts/``: the remote shell, checked by shellcheck;
- ``executor``: the :class:`SSHExecutor` itself.
"""

from openclaw.executors.ssh.executor import SSHExecutor
from openclaw.executors.ssh.protocol import (
    DEFAULT_REMOTE_ROOT,
    END,
    LAUNCH_TIMEOUT_S,
    MARK,
    Answer,
    CutShort,
    check_id,
    whole,
)
from openclaw.executors.ssh.session import Session

__all__ = [
    "DEFAULT_REMOTE_ROOT",
    "END",
    "LAUNCH_TIMEOUT_S",
    "MARK",
    "Answer",
    "CutShort",
    "SSHExecutor",
    "Session",
    "check_id",
    "whole",
]
