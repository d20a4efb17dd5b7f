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

Beside the task directories, ``.ended`` gets one line, a task id, from each
launcher once it has written its ``rc``: what ``serve`` follows to hear of
every local task's end at once (:class:`openclaw.watch.StoreWatch`).

Every write of ``.meta.json`` is validated, written to a temporary file and
renamed over the old one; every read is validated. A record that fails either
is reported by id and never rewritten.

Validation is memoised by content: ``tasks/.cache/validated`` lists the BLAKE2
digests of record contents already found valid against the current schema
(its first line is the schema's digest). Reading bytes whose digest is listed
skips re-running jsonschema on them: the same bytes against the same schema
give the same answer. Any change to a record changes its digest. The file is
a cache: deleting it only costs time.

Creation and removal are atomic too, so a reader never sees half a task: a
new task is built in ``.new-<id>`` and renamed into place; a removed one is
renamed (under its lock) to ``.trash-<id>-<random>`` and deleted there. What a
crashed process leaves of either is deleted by a later :meth:`TaskStore.all`
once it is a minute old; neither is ever listed as a task.

Every directory the store creates is 0700 and every file 0600, whatever the
umask; the tasks directory (and, for the default one, the data directory
above it) must be ours and writable by no one else, or the store refuses it
(one ``stat`` each, once). Any other ``OSError`` becomes a :class:`StoreError`
naming the path and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openclaw.errors import CorruptRecordError, StoreError, UnknownTaskError, UsageError
from openclaw.paths import check_private_dir, make_private_dirs, quote_path, tasks_dir
from openclaw.schema import META_SCHEMA, ValidMemo, digest, first_problem
from openclaw.task import TaskRecord, as_record

if TYPE_CHECKING:
    from openclaw.index import Index, Row

META = ".meta.json"
LOCK = ".lock"
#: Derived data (the validation memo, the index: openclaw.index), in a directory of its own
#: so that its churn never changes the tasks directory's mtime, which says entries came or went.
CACHE = ".cache"
MEMO = "validated"
#: Digests the validation memo keeps (the most recent): records read from their files.
MEMO_LIMIT = 1024
#: How many records a store keeps parsed, to skip re-reading a file that has not changed.
RECENT_LIMIT = 4096
#: Prefixes of the staging directory of a task being created, and of one being deleted.
STAGING = ".new-"
TRASH = ".trash-"
#: The index's key for the tasks directory's stamp when a listing last matched it.
LISTING = "listing"
#: Beside the records: markers of the queued tasks (see openclaw.fleet).
QUEUE = ".queue"
#: A staging or trash entry older than this (seconds) was left by a process that crashed.
LEFTOVER_AGE_S = 60.0

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PREFIX_RE = re.compile(r"^[0-9a-f-]{1,36}$")


def check_task_id(task_id: str) -> str:
    """Return ``task_id`` if it is a canonical UUID, else raise :class:`UsageError`."""
    if not UUID_RE.match(task_id):
        raise UsageError(f"not a task id: {task_id!r}", "a task id is a lowercase UUID")
    return task_id


def store_error(exc: OSError, doing: str, where: Path) -> StoreError:
    """``exc``, raised while ``doing`` something in directory ``where``, as one line with the fix."""
    quoted = quote_path(where)
    if exc.errno == errno.EROFS:
        hint = (
            "it is on a read-only file system: make it a directory you own on a writable one "
            "(or set XDG_DATA_HOME to one)"
        )
    elif exc.errno in (errno.EACCES, errno.EPERM):
        hint = (
            f"make it a directory you own and can write to: 'chmod 700 {quoted}'; "
            f"if 'lsattr -d {quoted}' shows it immutable (i), 'chattr -i {quoted}'"
        )
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        hint = f"make it a directory you own: move the file in the way aside, then 'mkdir -m 700 {quoted}'"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "free some space on its file system"
    else:
        hint = f"make it a directory you own and can write to ('ls -ld {quoted}' shows what it is)"
    return StoreError(str(where), f"cannot {doing}: {exc.strerror or exc}", hint)


def _discard(path: Path) -> None:
    """Delete ``path`` (a directory tree, a file or a symlink); best effort."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
    except OSError:
        return
    # A process that opened a file of the task before it was renamed aside may still
    # add an entry while the tree goes (rmtree then fails on the directory): try again.
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return
        time.sleep(0.01)
    # Still there: a later TaskStore.all() tries again.


class TaskStore:
    """The task directories under one root (``tasks_dir()`` by default)."""

    def __init__(self, root: Path | None = None) -> None:
        if root is None:
            root = tasks_dir()
            # The data directory above the default root holds the config memo: ours too.
            self._guarded: tuple[Path, ...] = (root.parent, root)
        else:
            self._guarded = (root,)
        self._root = root
        self._checked = False
        # The index answers for finished records: the memo need only cover the ones in flight.
        self._memo = ValidMemo(root / CACHE / MEMO, META_SCHEMA, limit=MEMO_LIMIT, mkdir=True)
        self._index: Index | None = None
        #: Records read lately, with the inode, time and size of their file then.
        self._recent: dict[str, tuple[tuple[int, int, int], TaskRecord]] = {}
        #: Whether :meth:`records_of` ran before in this process (it then remembers what it reads).
        self._looked = False

    @property
    def root(self) -> Path:
        """The tasks directory, checked (once) before any path is built from it.

        Raises :class:`StoreError` when it (or the data directory above the
        default one) is not a directory, or is another user's, or group or
        others can write to it. It may not exist yet: :meth:`ensure_root`.
        """
        return self._ready()

    def _ready(self) -> Path:
        """The root, once it (and the data directory) are checked: ours, private, directories.

        A ``stat`` per directory, once per store. Raises :class:`StoreError`.
        """
        if not self._checked:
            for directory in self._guarded:
                check_private_dir(directory)
            self._checked = True
        return self._root

    def ensure_root(self) -> Path:
        """The root, checked, and created (with each missing parent) 0700 whatever the umask.

        Raises :class:`StoreError` naming the path and the fix when it cannot be.
        """
        root = self._ready()
        try:
            make_private_dirs(root)
        except OSError as exc:
            failed = Path(exc.filename) if exc.filename else root
            # A file in the way is what to fix; else the directory it was to be made in.
            where = failed if exc.errno in (errno.EEXIST, errno.ENOTDIR) else failed.parent
            raise store_error(exc, f"create {root}", where) from None
        return root

    # -- paths -------------------------------------------------------------------
    def path(self, task_id: str) -> Path:
        """The directory of ``task_id`` (validated, so it can never escape the root)."""
        return self._ready() / check_task_id(task_id)

    def _meta_of(self, task_id: str) -> tuple[str, str]:
        """The task's directory and its record's path, as strings: :meth:`path` without
        pathlib, for the reads a look at many tasks makes (one each)."""
        directory = os.path.join(self._ready(), check_task_id(task_id))
        return directory, os.path.join(directory, META)

    def _names(self) -> list[str]:
        root = self._ready()
        try:
            return os.listdir(root)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise store_error(exc, "list the task records", root) from None

    def ids(self) -> list[str]:
        """Every task id that has a directory, in no particular order."""
        return [n for n in self._names() if UUID_RE.match(n)]

    def resolve(self, ref: str) -> str:
        """The full id of the task ``ref`` names: a whole id or any unique prefix."""
        ref = ref.strip().lower()
        if not ref or not PREFIX_RE.match(ref):
            raise UsageError(f"not a task id or prefix: {ref!r}", "task ids are made of 0-9, a-f and '-'")
        if UUID_RE.match(ref) and os.path.lexists(self.path(ref)):
            return ref
        matches = sorted(i for i in self.ids() if i.startswith(ref))
        if len(matches) == 1:
            return matches[0]
        raise UnknownTaskError(ref, matches if len(matches) > 1 else None)

    # -- create / read / write ------------------------------------------------------
    def queued(self) -> list[str]:
        """Ids marked as queued (one listdir; see :mod:`openclaw.fleet`)."""
        try:
            return os.listdir(self.root / QUEUE)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def create(self, meta: TaskRecord) -> Path:
        """Make the directory of a new task and write its first record."""
        root = self.ensure_root()
        path = self.path(meta["task_id"])
        # Built aside and renamed into place, so no reader ever sees a task
        # directory without its record.
        staging = root / f"{STAGING}{meta['task_id']}"
        try:
            os.mkdir(staging, 0o700)
            os.chmod(staging, 0o700)
        except OSError as exc:
            raise store_error(exc, "create a task directory", root) from None
        try:
            self._write_to(staging, meta)
            # Its row first, dirty: a directory never appears without one (see openclaw.index).
            gen = self._indexed(lambda ix: ix.put(meta, dirty=True))
            os.rename(staging, path)
        except BaseException as exc:
            _discard(staging)
            if isinstance(exc, OSError):
                raise store_error(exc, "create a task directory", root) from None
            raise
        if gen:
            self._indexed(lambda ix: ix.clean(meta["task_id"], gen))
        return path

    def _raw(self, task_id: str) -> bytes:
        """The bytes of the task's record.

        Raises :class:`UnknownTaskError` when nothing holds the id (say, it was
        removed meanwhile) and :class:`CorruptRecordError` when something does
        but it is not a readable record: such an entry is reported, and
        ``cleanup --force`` removes it.
        """
        directory, meta = self._meta_of(task_id)
        try:
            with open(meta, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            if os.path.isdir(directory):
                raise CorruptRecordError(task_id, "the task directory has no .meta.json") from None
            if os.path.lexists(directory):
                raise CorruptRecordError(task_id, "it is not a task directory (a dangling link)") from None
            raise UnknownTaskError(task_id) from None
        except NotADirectoryError:
            raise CorruptRecordError(task_id, "it is a file, not a task directory") from None
        except OSError as exc:
            raise CorruptRecordError(task_id, f"cannot read: {exc.strerror}") from None

    def read(self, task_id: str) -> TaskRecord:
        """The validated record of ``task_id``.

        Raises :class:`UnknownTaskError` when there is no task of that id and
        :class:`CorruptRecordError` when there is one but its record is
        missing, cannot be parsed or is invalid.
        """
        stamp = self._stamp(task_id)
        hit = self._remembered(task_id, stamp)
        if hit is not None:
            return hit
        meta = self._parse(task_id, self._raw(task_id))
        self._remember(task_id, stamp, meta)
        return meta

    def _stamp(self, task_id: str) -> tuple[int, int, int] | None:
        """What identifies the record file's present content: inode, mtime and size. A record
        is replaced by rename, never rewritten in place, so the same stamp is the same record."""
        try:
            st = os.stat(self._meta_of(task_id)[1])
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _remembered(self, task_id: str, stamp: tuple[int, int, int] | None) -> TaskRecord | None:
        """The record this store last read of ``task_id``, if its file still has ``stamp``
        (a long-lived process reads its tasks every look)."""
        hit = self._recent.get(task_id)
        if stamp is None or hit is None or hit[0] != stamp:
            return None
        return as_record(dict(hit[1]))

    def _remember(self, task_id: str, stamp: tuple[int, int, int] | None, meta: TaskRecord) -> None:
        if stamp is None:
            return
        if len(self._recent) >= RECENT_LIMIT:
            self._recent.clear()
        self._recent[task_id] = (stamp, meta)

    def _parse(self, task_id: str, raw: bytes, flush: bool = True) -> TaskRecord:
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
        return as_record(meta)

    def write(self, meta: TaskRecord) -> None:
        """Validate ``meta`` and replace the record atomically (temp file, fsync, rename)."""
        task_id = meta["task_id"]
        directory = self.path(task_id)
        gen = self._indexed(lambda ix: ix.put(meta, dirty=True))
        try:
            self._write_to(directory, meta)
        except FileNotFoundError:
            raise UnknownTaskError(task_id) from None
        except OSError as exc:
            raise store_error(exc, f"write the record of task {task_id}", directory) from None
        if gen:
            self._indexed(lambda ix: ix.clean(task_id, gen))

    # -- the index ----------------------------------------------------------------------
    @property
    def index(self) -> Index:
        """The SQLite index beside the records (see :mod:`openclaw.index`), opened on first use."""
        if self._index is None:
            from openclaw.index import Index

            self._index = Index(self)
        return self._index

    def _indexed(self, work: Callable[[Index], Any]) -> Any:
        """``work(index)``. An index that cannot be written must not stop a record's write: it
        is discarded instead (the next reader rebuilds it from the files)."""
        import sqlite3

        try:
            return work(self.index)
        except (sqlite3.Error, OSError):
            self.index.discard()
            return None

    def _write_to(self, directory: Path, meta: TaskRecord) -> None:
        self._check(meta["task_id"], meta)
        tmp = directory / f".meta.json.{os.getpid()}.tmp"
        data = json.dumps(meta, indent=1, sort_keys=True).encode() + b"\n"
        self._memo.add(digest(data))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever mode a leftover temp file had
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
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
        """Hold the task's exclusive lock (blocking) for a read-modify-write.

        Raises :class:`UnknownTaskError` when the task has no directory (any
        more). A plain file where the task's directory should be holds no
        record to guard (nor does a dangling link): it is "locked" without a
        lock, so that ``cleanup --force`` can remove it.

        The lock file is created only when missing, and only inside the
        task's directory as it is at that instant: :meth:`remove` renames the
        directory aside under this lock, so a lock file made by a late reader
        lands in the renamed directory, never in a new one of the same name.
        """
        directory = self.path(task_id)
        file = directory / LOCK
        fd: int | None
        try:
            try:
                fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                fd = os.open(file, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except (FileNotFoundError, NotADirectoryError):
            # Gone (removed meanwhile), or not a directory: a file, a dangling link.
            if os.path.isdir(directory) or not os.path.lexists(directory):
                raise UnknownTaskError(task_id) from None
            fd = None
        except OSError as exc:
            raise store_error(exc, f"lock task {task_id}", directory) from None
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(self, task_id: str, change: Callable[[TaskRecord], TaskRecord | None]) -> TaskRecord:
        """Apply ``change`` to the record under the lock and return the record after it.

        ``change`` gets the freshly read record and returns the new one, or
        None to leave it as it is. Two processes updating one task never lose
        each other's update. Raises :class:`UnknownTaskError` when the task
        was removed meanwhile.
        """
        with self.lock(task_id):
            meta = self.read(task_id)
            new = change(meta)
            if new is not None and new != meta:
                self.write(new)
                return new
            return meta

    def all(self) -> tuple[list[TaskRecord], list[CorruptRecordError]]:
        """Every readable record, and an error for each corrupt one (which is skipped).

        A task removed while this reads is simply not there. Staging and trash
        entries that crashed processes left behind are deleted on the way.
        """
        good: list[TaskRecord] = []
        bad: list[CorruptRecordError] = []
        seen: set[str] = set()
        for name in self._names():
            if not UUID_RE.match(name):
                if name.startswith((STAGING, TRASH)):
                    self._sweep(name)
                continue
            try:
                raw = self._raw(name)
            except UnknownTaskError:
                continue  # removed meanwhile
            except CorruptRecordError as exc:
                bad.append(exc)
                continue
            try:
                good.append(self._parse(name, raw, flush=False))
                seen.add(digest(raw))
            except CorruptRecordError as exc:
                bad.append(exc)
        self._memo.flush(keep=seen)
        return good, bad

    def catalogue(
        self, statuses: Iterable[str] | None = None, executor: str | None = None
    ) -> tuple[list[Row], list[CorruptRecordError]]:
        """The index's rows (in ``statuses``, on ``executor``), oldest first, checked against the
        files where they may differ; and an error for each entry that is no readable record.

        Without ``statuses`` every entry is listed, and the directory listing is compared with
        the rows (one ``listdir``): an entry with no row is read and indexed, a row whose entry
        is gone is dropped. A dirty row is read from its file (see :mod:`openclaw.index`).
        """
        import sqlite3

        wanted = None if statuses is None else set(statuses)
        if not os.path.lexists(self._ready()):
            return [], []  # no task yet: nothing to list, and nothing is made for it
        try:
            rows = self.index.rows(wanted, executor)
            listing = self._listing_changed()
            if wanted is None or listing is not None:
                # Entries may have come or gone behind the index's back: compare.
                known = self.index.ids() if wanted is not None else {r.task_id for r in rows}
                rows = self._match_listing(rows, known)
                if listing:
                    self._indexed(lambda ix: ix.set_about(LISTING, listing))
        except (sqlite3.Error, OSError):
            # No index to be had (a read-only store): every record from its file.
            self.index.discard()
            rows = [self._reindex(t) for t in self.ids()]
        out: list[Row] = []
        bad: list[CorruptRecordError] = []
        for r in rows:
            if r.dirty:
                r = self._reindex(r.task_id)
            if r.status is None:
                if r.problem is not None and wanted is None:
                    bad.append(CorruptRecordError(r.task_id, r.problem))
                continue
            if (wanted is None or r.status in wanted) and (executor is None or r.executor == executor):
                out.append(r)
        out.sort(key=lambda r: r.created_at)
        return out, bad

    def _match_listing(self, rows: list[Row], known: set[str]) -> list[Row]:
        """``rows``, less those whose entry is gone, plus a row for each entry the index did not
        know (``known``: its ids); staging and trash left by crashed processes are swept."""
        names = self._names()
        for name in names:
            if name.startswith((STAGING, TRASH)):
                self._sweep(name)
        on_disk = {n for n in names if UUID_RE.match(n)}
        for gone in known - on_disk:
            self._indexed(lambda ix, t=gone: ix.drop(t))  # type: ignore[misc]
        rows = [r for r in rows if r.task_id in on_disk]
        rows.extend(self._reindex(t) for t in on_disk - known)
        return rows

    def _listing_changed(self) -> str | None:
        """The tasks directory's stamp (mtime and inode) when entries may have come or gone
        since a listing last matched the index ("" when they may have, but the stamp is too
        fresh to keep: an entry made in the same clock tick would not change it); None when
        nothing came or went. One ``stat``: a command need not list 100,000 entries to know."""
        try:
            st = os.stat(self._root)
            stamp = f"{st.st_mtime_ns}:{st.st_ino}"
            if self._indexed(lambda ix: ix.about(LISTING)) == stamp:
                return None
        except OSError:
            return ""
        return stamp if time.time_ns() - st.st_mtime_ns > 1_000_000_000 else ""

    def _reindex(self, task_id: str) -> Row:
        """The row of ``task_id`` as its file says now; written to the index when no writer is
        half-way through the task (its lock is free), so a dirty or missing row heals."""
        from openclaw.index import Row, row_of

        try:
            meta: TaskRecord | None = self.read(task_id)
            problem = None
        except UnknownTaskError:
            self._indexed(lambda ix: ix.drop(task_id))
            return Row(task_id, None, "", "", None, None, "", None, 0, 0)
        except CorruptRecordError as exc:
            meta, problem = None, exc.problem
        directory = self.path(task_id)
        try:
            fd = os.open(directory / LOCK, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            fd = None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                try:
                    meta = self.read(task_id)  # as it is now that no writer is half-way
                except CorruptRecordError as exc:
                    meta, problem = None, exc.problem
            if meta is not None:
                self._indexed(lambda ix: ix.put(meta, dirty=False))
            elif problem is not None:
                self._indexed(lambda ix: ix.put_problem(task_id, problem))
        except (OSError, UnknownTaskError, CorruptRecordError):
            pass  # a writer holds it (its row is written when it is done), or it went meanwhile
        finally:
            if fd is not None:
                os.close(fd)
        if meta is None:
            return Row(task_id, None, "", "", None, None, "", problem, 0, 0)
        return row_of(meta)

    def records_of(self, rows: list[Row]) -> list[TaskRecord]:
        """The records of ``rows``: each from the index where its row is clean (written in the
        same locked step as the file, so the same record), else from its file; one removed
        meanwhile is left out.

        An active task's record may change as soon as it is read, whichever the source: what
        observing it finds is applied to the record re-read under its lock.
        """
        from openclaw.index import ACTIVE_OR_WAITING

        # An active task's record read by this store before, unchanged since, is not decoded
        # again: serve looks at its tasks every few seconds. A process's first look stamps
        # nothing (a stat per task, ~25 us each here): most processes never look again.
        stamps = (
            {r.task_id: self._stamp(r.task_id) for r in rows if r.status in ACTIVE_OR_WAITING}
            if self._looked
            else {}
        )
        self._looked = True
        indexed: dict[str, TaskRecord] = {}
        for task_id, stamp in stamps.items():
            hit = self._remembered(task_id, stamp)
            if hit is not None:
                indexed[task_id] = hit
        wanted = [r.task_id for r in rows if r.task_id not in indexed]
        if wanted:
            with contextlib.suppress(Exception):
                found = self.index.records(wanted)
                for task_id, record in found.items():
                    if task_id in stamps:
                        self._remember(task_id, stamps[task_id], record)
                indexed.update(found)
        out: list[TaskRecord] = []
        for r in rows:
            meta = indexed.get(r.task_id)
            if meta is None:
                try:
                    meta = self.read(r.task_id)
                except (UnknownTaskError, CorruptRecordError):
                    continue
            out.append(meta)
        return out

    def _sweep(self, name: str) -> None:
        """Delete a staging or trash entry once it is old enough to be a crashed process's."""
        path = self._root / name
        try:
            st = os.lstat(path)
        except OSError:
            return
        # remove() touches a directory before renaming it aside: its mtime is when it went.
        if time.time() - st.st_mtime > LEFTOVER_AGE_S:
            _discard(path)

    def remove(self, task_id: str) -> None:
        """Delete the task's directory and everything in it (or whatever else holds its name).

        Call it holding the task's :meth:`lock`. The directory is first renamed
        aside, atomically, so no other process ever sees (or re-creates a lock
        file in) a half-deleted task; then the renamed tree is deleted. Raises
        :class:`UnknownTaskError` when it is already gone.
        """
        path = self.path(task_id)
        trash = self._root / f"{TRASH}{task_id}-{os.urandom(4).hex()}"
        self._indexed(lambda ix: ix.soil(task_id))
        try:
            os.utime(path, follow_symlinks=False)  # its mtime now says when it went to the trash
            os.rename(path, trash)
        except FileNotFoundError:
            raise UnknownTaskError(task_id) from None
        except OSError as exc:
            raise store_error(exc, f"remove task {task_id}", self._root) from None
        self._indexed(lambda ix: ix.drop(task_id))
        _discard(trash)

    # -- the task's own files --------------------------------------------------------------
    def file(self, task_id: str, name: str) -> Path:
        """One of the task's files (``stdout``, ``rc``, ...)."""
        return self.path(task_id) / name
