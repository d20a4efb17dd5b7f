"""Task records: one directory per task, whose files *are* the task's state.

Layout of ``~/.local/share/openclaw/tasks/<task-id>/`` (mode 0700)::

    .meta.json   the record (schemas/task-meta.schema.json), written atomically
    .lock        flock(2) target serialising read-modify-write of .meta.json
    prompt       the prompt, byte-exact (0600); the agent's stdin
    stdout       the agent's stdout: Claude Code stream-json
    stderr       the agent's stderr
    pid          "<launcher pid> <start time> <agent pid> <start time>", from the launcher
    rc           the agent's exit status, written atomically by the launcher when it exits
    launcher.log the launcher's own diagnostics

Every write of ``.meta.json`` is validated, written to a temporary file and
renamed over the old one; every read is validated. A record that fails either
is reported by id and never rewritten.

Validation is memoised by content: ``tasks/.validated`` lists the BLAKE2
digests of record contents already found valid against the current schema
(its first line is the schema's digest). Reading bytes whose digest is listed
skips re-running jsonschema on them: the same bytes against the same schema
give the same answer. Any change to a record changes its digest. The file is
a cache: deleting it only costs time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from openclaw.errors import CorruptRecordError, UnknownTaskError, UsageError
from openclaw.paths import tasks_dir
from openclaw.schema import META_SCHEMA, ValidMemo, digest, first_problem

META = ".meta.json"
LOCK = ".lock"
MEMO = ".validated"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PREFIX_RE = re.compile(r"^[0-9a-f-]{1,36}$")


def check_task_id(task_id: str) -> str:
    """Return ``task_id`` if it is a canonical UUID, else raise :class:`UsageError`."""
    if not UUID_RE.match(task_id):
        raise UsageError(f"not a task id: {task_id!r}", "a task id is a lowercase UUID")
    return task_id


class TaskStore:
    """The task directories under one root (``tasks_dir()`` by default)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or tasks_dir()
        self._memo = ValidMemo(self.root / MEMO, META_SCHEMA)

    # -- paths -------------------------------------------------------------------
    def path(self, task_id: str) -> Path:
        """The directory of ``task_id`` (validated, so it can never escape the root)."""
        return self.root / check_task_id(task_id)

    def ids(self) -> list[str]:
        """Every task id that has a directory, in no particular order."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return [n for n in names if UUID_RE.match(n)]

    def resolve(self, ref: str) -> str:
        """The full id of the task ``ref`` names: a whole id or any unique prefix."""
        ref = ref.strip().lower()
        if not ref or not PREFIX_RE.match(ref):
            raise UsageError(f"not a task id or prefix: {ref!r}", "task ids are made of 0-9, a-f and '-'")
        if UUID_RE.match(ref) and (self.root / ref).is_dir():
            return ref
        matches = sorted(i for i in self.ids() if i.startswith(ref))
        if len(matches) == 1:
            return matches[0]
        raise UnknownTaskError(ref, matches if len(matches) > 1 else None)

    # -- create / read / write ------------------------------------------------------
    def create(self, meta: dict[str, Any]) -> Path:
        """Make the directory of a new task and write its first record."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(meta["task_id"])
        # Built aside and renamed into place, so no reader ever sees a task
        # directory without its record.
        staging = self.root / f".new-{meta['task_id']}"
        staging.mkdir(mode=0o700)
        self._write_to(staging, meta)
        os.rename(staging, path)
        return path

    def read(self, task_id: str) -> dict[str, Any]:
        """The validated record of ``task_id``.

        Raises :class:`UnknownTaskError` when there is no record and
        :class:`CorruptRecordError` when it cannot be parsed or is invalid.
        """
        file = self.path(task_id) / META
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            raise UnknownTaskError(task_id) from None
        except OSError as exc:
            raise CorruptRecordError(task_id, f"cannot read: {exc.strerror}") from None
        meta = self._parse(task_id, raw)
        return meta

    def _parse(self, task_id: str, raw: bytes, flush: bool = True) -> dict[str, Any]:
        try:
            meta = json.loads(raw)
        except ValueError as exc:
            raise CorruptRecordError(task_id, f"not valid JSON ({exc})") from None
        key = digest(raw)
        if key in self._memo and isinstance(meta, dict):
            if meta.get("task_id") != task_id:
                raise CorruptRecordError(task_id, f"it names another task ({meta.get('task_id')})")
        else:
            self._check(task_id, meta)
            self._memo.add(key)
            if flush:
                self._memo.flush()
        return meta  # type: ignore[no-any-return]

    def write(self, meta: dict[str, Any]) -> None:
        """Validate ``meta`` and replace the record atomically (temp file, fsync, rename)."""
        self._write_to(self.path(meta["task_id"]), meta)

    def _write_to(self, directory: Path, meta: dict[str, Any]) -> None:
        self._check(meta["task_id"], meta)
        tmp = directory / f".meta.json.{os.getpid()}.tmp"
        data = json.dumps(meta, indent=1, sort_keys=True).encode() + b"\n"
        self._memo.add(digest(data))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, directory / META)
        self._memo.flush()

    @staticmethod
    def _check(task_id: str, meta: Any) -> None:
        if not isinstance(meta, dict):
            raise CorruptRecordError(task_id, "not a JSON object")
        found = first_problem(META_SCHEMA, meta)
        if found:
            raise CorruptRecordError(task_id, f"{found[0]}: {found[1]}")
        if meta["task_id"] != task_id:
            raise CorruptRecordError(task_id, f"it names another task ({meta['task_id']})")

    # -- locking -------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, task_id: str) -> Iterator[None]:
        """Hold the task's exclusive lock (blocking) for a read-modify-write."""
        directory = self.path(task_id)
        try:
            fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            raise UnknownTaskError(task_id) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(
        self, task_id: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Apply ``change`` to the record under the lock and return the record after it.

        ``change`` gets the freshly read record and returns the new one, or
        None to leave it as it is. Two processes updating one task never lose
        each other's update.
        """
        with self.lock(task_id):
            meta = self.read(task_id)
            new = change(meta)
            if new is not None and new != meta:
                self.write(new)
                return new
            return meta

    def all(self) -> tuple[list[dict[str, Any]], list[CorruptRecordError]]:
        """Every readable record, and an error for each corrupt one (which is skipped)."""
        good: list[dict[str, Any]] = []
        bad: list[CorruptRecordError] = []
        seen: set[str] = set()
        for task_id in self.ids():
            try:
                raw = (self.root / task_id / META).read_bytes()
            except FileNotFoundError:
                if (self.root / task_id).is_dir():
                    bad.append(CorruptRecordError(task_id, "the task directory has no .meta.json"))
                continue
            except OSError as exc:
                bad.append(CorruptRecordError(task_id, f"cannot read: {exc.strerror}"))
                continue
            try:
                good.append(self._parse(task_id, raw, flush=False))
                seen.add(digest(raw))
            except CorruptRecordError as exc:
                bad.append(exc)
        self._memo.flush(keep=seen)
        return good, bad

    def remove(self, task_id: str) -> None:
        """Delete the task's directory and everything in it."""
        shutil.rmtree(self.path(task_id))

    # -- the task's own files --------------------------------------------------------------
    def file(self, task_id: str, name: str) -> Path:
        """One of the task's files (``stdout``, ``rc``, ...)."""
        return self.path(task_id) / name
