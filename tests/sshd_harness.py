"""A real OpenSSH server on loopback for tests: generated keys, a random port, stopped by its owner.

Nothing here is specific to openclaw's tests: :class:`Sshd` starts Debian's
``/usr/sbin/sshd`` in the foreground (``-D``) with its own config, host key,
pid file and log in a temporary directory, listening only on 127.0.0.1;
:func:`ensure_login_user` gives an unprivileged account to log in as when the
tests run as root. Processes are stopped by the pid this module started,
never by name.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
#: The account the tests log in as when they run as root.
TEST_USER = "openclaw-ssh"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def keygen(path: Path, comment: str = "openclaw-test") -> Path:
    """Generate an ed25519 key pair at ``path`` (and ``path.pub``) with no passphrase."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


def ensure_login_user() -> pwd.struct_passwd:
    """The account to log in as: an unprivileged one (created when missing) as root, else oneself."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", TEST_USER], check=True)
    # A locked account ("!") is refused with UsePAM no; "*" allows key logins only.
    subprocess.run(["usermod", "-p", "*", TEST_USER], check=True)
    return pwd.getpwnam(TEST_USER)


class Sshd:
    """One sshd on 127.0.0.1:``port``, with its files under ``root``."""

    def __init__(self, root: Path, authorized_keys: Path, log_level: str = "VERBOSE") -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.authorized_keys = authorized_keys
        self.log_level = log_level
        self.port = free_port()
        self.host_key = root / "ssh_host_ed25519_key"
        keygen(self.host_key, "openclaw-test-host")
        self.config = root / "sshd_config"
        self.log = root / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def known_hosts_line(self, key: Path | None = None) -> str:
        """The known_hosts line for this server (with another public key if ``key`` is given)."""
        pub = (key or self.host_key).with_suffix(".pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n"

    def _write_config(self) -> None:
        self.config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.root / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PermitRootLogin prohibit-password\n"
            "AllowTcpForwarding yes\n"
            "Subsystem sftp internal-sftp\n"
            "MaxStartups 200:30:400\n"
            "MaxSessions 200\n"
            f"LogLevel {self.log_level}\n"
        )

    def start(self, timeout: float = 15) -> Sshd:
        """Start sshd in the foreground and return once it accepts connections."""
        assert self.proc is None, "already running"
        try:
            Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory (root only)
        except OSError:
            pass
        self._write_config()
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-f", str(self.config), "-E", str(self.log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                log = self.log.read_text() if self.log.exists() else ""
                self.proc = None
                raise RuntimeError(f"sshd exited at start: {log[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sshd did not start listening in time")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the listening sshd (by the pid we started); established sessions end on their own."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def authorize(key: Path, scratch: Path) -> tuple[Path, Path]:
    """A new client key at ``key`` and ``scratch``/authorized_keys holding it (world-readable,
    for the login user's sshd): the key and the authorized_keys file."""
    keygen(key)
    authorized = scratch / "authorized_keys"
    authorized.write_text(key.with_suffix(".pub").read_text())
    authorized.chmod(0o644)
    return key, authorized


def known_hosts(home: Path, *servers: Sshd) -> Path:
    """``home``/.ssh/known_hosts holding the servers' host keys (and nothing else)."""
    (home / ".ssh").mkdir(parents=True, mode=0o700, exist_ok=True)
    path = home / ".ssh" / "known_hosts"
    path.write_text("".join(s.known_hosts_line() for s in servers))
    return path


def plain_ssh(sshd: Sshd, known_hosts: Path, key: Path, user: str, *command: str) -> list[str]:
    """A plain OpenSSH command to ``sshd`` (no connection sharing, strict host keys): the
    baseline the benchmarks time openclaw's SSH commands against."""
    argv = ["ssh", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes"]
    argv += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    return [*argv, "-i", str(key), "-p", str(sshd.port), f"{user}@127.0.0.1", *command]


def scratch_dir(base: Path, owner: pwd.struct_passwd) -> Path:
    """A world-traversable directory owned by ``owner`` (the remote user's side of a test)."""
    base.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    return chown(base, owner)


def chown(path: Path, owner: pwd.struct_passwd) -> Path:
    """Give ``path`` to ``owner`` (no-op when not root)."""
    if os.geteuid() == 0:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return path


def remove_tree(path: Path) -> None:
    """Remove a test's remote-side directory."""
    shutil.rmtree(path, ignore_errors=True)


def commands_running(argv0: bytes, arg: bytes) -> list[int]:
    """The processes (of any user: the host's side runs as the login user) whose argv[0] is
    ``argv0`` and which have ``arg`` among their arguments, e.g. a watch's ``tail`` on the host:
    found to be counted, never signalled."""
    found = []
    for name in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0] == argv0 and arg in argv:
            found.append(int(name))
    return found
