"""Host keys for the SSH executor: checked against known_hosts (Fabric would auto-add them).

An unknown key is refused unless the executor (``accept_new_host_keys``) or
``StrictHostKeyChecking`` in ~/.ssh/config accepts new keys; a *changed* key
is always refused. :func:`describe_connect_error` turns any failure to
connect into one line and its fix.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any


class HostKeyError(Exception):
    """A host key that is unknown or has changed; carries the one-line message and hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _split_known_name(name: str) -> tuple[str, int]:
    """``[host]:port`` (known_hosts style) or ``host`` -> (host, port)."""
    m = re.match(r"^\[(.*)\]:(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, 22)


def _unknown_hint(name: str, executor: str, path: str) -> str:
    host, port = _split_known_name(name)
    scan = f"ssh-keyscan -p {port} {host}" if port != 22 else f"ssh-keyscan {host}"
    return (
        f"check the key out of band and add it ({scan} >> {path}), or set "
        f"accept_new_host_keys: true on executor {executor!r} to accept it on first use"
    )


def _changed_hint(name: str) -> str:
    return (
        f"if the host was reinstalled, remove the old key with: ssh-keygen -R '{name}' and "
        "verify the new one; otherwise someone may be intercepting the connection"
    )


def accepts_new_keys(ssh_config: Any) -> bool:
    """Whether ``StrictHostKeyChecking`` (from ~/.ssh/config, for this hop) accepts unknown keys.

    ``accept-new`` and ``no``/``off`` accept a new host's key and save it;
    ``yes``, ``ask`` (nobody is there to ask) or nothing refuse it. A
    *changed* key is refused whatever it says.
    """
    return str(ssh_config.get("stricthostkeychecking", "")).strip().lower() in ("accept-new", "no", "off")


def make_policy(known: Any, accept_new: bool, save_to: str, executor: str) -> Any:
    """A paramiko policy: refuse unknown keys (default) or accept and save them; never a changed one."""
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if known.lookup(hostname):
                # Known under another key type: that is a changed key, not a new host.
                raise HostKeyError(
                    f"host key of {hostname} has CHANGED: known_hosts holds a different key",
                    _changed_hint(hostname),
                )
            if not accept_new:
                raise HostKeyError(
                    f"host key of {hostname} is unknown (not in {save_to})",
                    _unknown_hint(hostname, executor, save_to),
                )
            directory = os.path.dirname(save_to)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(save_to, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as fh:
                fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
            known.add(hostname, key.get_name(), key)

    return Policy()


class Target:
    """Where a connection goes, for messages: ``user@host:port`` and the configured name."""

    def __init__(self, conn: Any, alias: str) -> None:
        self.user = conn.user
        self.host = conn.host
        self.port = conn.port
        self.alias = alias
        gw = conn.gateway
        hops = []
        self.ports = {conn.host: conn.port}
        while gw is not None and not isinstance(gw, str) and gw:
            hops.append(f"{gw.user}@{gw.host}:{gw.port}")
            self.ports.setdefault(gw.host, gw.port)
            gw = gw.gateway
        self.via = f" via {', '.join(reversed(hops))}" if hops else ""

    def __str__(self) -> str:
        name = f"{self.user}@{self.host}:{self.port}"
        if self.alias not in (self.host, f"{self.host}:{self.port}"):
            name = f"{self.alias} ({name})"
        return name + self.via


def describe_connect_error(exc: BaseException, target: Target, timeout: float) -> tuple[str, str]:
    """The one-line problem and fix for a failure to connect (or authenticate) to ``target``."""
    import paramiko

    if isinstance(exc, HostKeyError):
        return exc.message, exc.hint
    if isinstance(exc, paramiko.BadHostKeyException):
        port = target.ports.get(exc.hostname, 22)
        name = f"[{exc.hostname}]:{port}" if port != 22 else exc.hostname
        return (
            f"host key of {name} has CHANGED: known_hosts holds a different {exc.key.get_name()} key",
            _changed_hint(name),
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return (
            f"authentication to {target} failed ({exc})",
            "check user and key_path (without key_path the ssh-agent and ~/.ssh default keys are "
            f"used); try: ssh -p {target.port} {target.user}@{target.host} true",
        )
    if isinstance(exc, socket.gaierror):
        return (
            f"cannot resolve host name {target.host!r} for {target} ({exc.strerror})",
            "check host in the config file (or its HostName in ~/.ssh/config)",
        )
    if isinstance(exc, (paramiko.ssh_exception.NoValidConnectionsError, ConnectionRefusedError)):
        return (
            f"connection to {target} refused",
            "is sshd running on that host, and is the port right?",
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return (
            f"connection to {target} timed out after {timeout:g}s",
            "check that the host is up and reachable, or raise connect_timeout",
        )
    if isinstance(exc, paramiko.SSHException) and (
        "banner" in str(exc).lower() or "no existing session" in str(exc).lower()
    ):
        return (
            f"connection to {target} timed out after {timeout:g}s waiting for the SSH banner",
            "check that an SSH server answers on that port, or raise connect_timeout",
        )
    if isinstance(exc, paramiko.SSHException):
        return f"ssh to {target} failed: {exc}", "check the host with: ssh -v " + target.host
    if isinstance(exc, OSError):
        return (
            f"cannot connect to {target}: {exc.strerror or exc}",
            "check the host's address and port, and the network",
        )
    return (
        f"ssh to {target} failed: {type(exc).__name__}: {exc}",
        "check the host with: ssh -v " + target.host,
    )
