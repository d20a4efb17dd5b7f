"""An index of the task records, so that a command's cost follows active work, not history.

The records (``<task-id>/.meta.json``) stay the truth. Beside them,
``tasks/.cache/index.sqlite`` (SQLite through :mod:`sqlite3`, WAL mode) holds one
row per task: its id, status, executor, timestamps, queue fields, what the
task table shows, and the record itself. ``list`` of 10,000 tasks reads one
table instead of 10,000 files, and ``list --status running`` reads only the
running rows, however many tasks have finished.

The index is derived, and rebuilt from the files when it is missing, not
SQLite, corrupt, or of another layout; ``openclaw-agent doctor`` checks it
against every file and rebuilds it. How it stays true to the files:

- :class:`~openclaw.records.TaskStore` changes a row in the same locked step
  as the file: the row is written *dirty* first, then the file, then the row
  is marked clean. A crash in between leaves a dirty row, and a dirty row is
  never trusted: the reader that meets it reads the file (and, holding the
  task's lock, so that no writer is half-way, writes the row again, clean).
- A new task's row is written before its directory is renamed into place, so
  a directory never appears without its row; a removed task's row goes after
  its directory. A row whose directory is gone is dropped where it is met.
- A full ``list`` compares the directory listing with the rows (one
  ``listdir``): an entry with no row (the index was deleted mid-write, or an
  entry was planted by hand) is read and indexed, or reported corrupt.
- A clean row's record is the file's, so a look starts from it, an active
  task's too: what the look finds is applied to the record re-read from its
  file under the task's lock. Dispatching a queued task reads its file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from openclaw import states
from openclaw.paths import make_private_dirs
from openclaw.task import TaskRecord, as_record

if TYPE_CHECKING:
    from openclaw.records import TaskStore

#: Where derived data lives beside the records (the same name as openclaw.records.CACHE).
CACHE = ".cache"

T = TypeVar("T")

#: The directory of derived data in the tasks directory (see openclaw.records.CACHE), and
#: the index's file there. SQLite makes and deletes its -wal and -shm files beside it as
#: connections come and go, which must not change the tasks directory's mtime.
INDEX = "index.sqlite"
#: The layout of the index; another value (an older openclaw's) means: rebuild.
LAYOUT = "openclaw-index-2"
#: Characters of the prompt and the error kept for the table (it shows 48).
NOTE_CHARS = 120

#: The rows of tasks a look observes or a drain dispatches.
ACTIVE_OR_WAITING = frozenset({*states.ACTIVE, *states.WAITING})

_COLUMNS = "task_id, status, executor, created_at, turns, cost, note, problem, dirty, gen"
_TABLES = (
    """CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        status TEXT,              -- NULL: the entry is no readable record (problem says why)
        executor TEXT,
        created_at TEXT,
        finished_at TEXT,
        priority INTEGER,
        labels TEXT,              -- JSON array
        turns INTEGER,
        cost REAL,
        note TEXT,                -- what the table's last column shows: the error or the prompt
        problem TEXT,
        record TEXT,              -- the record, compact JSON
        dirty INTEGER NOT NULL,   -- 1 while (or if a crash left) the file and the row apart
        gen INTEGER NOT NULL      -- bumped at every write of the row
    )""",
    "CREATE INDEX tasks_status ON tasks(status, created_at)",
    "CREATE TABLE about (key TEXT PRIMARY KEY, value TEXT)",
    # Tasks and cost per status, kept by triggers: the dashboard's counts without a scan.
    "CREATE TABLE totals (status TEXT PRIMARY KEY, n INTEGER NOT NULL, cost REAL NOT NULL)",
    """CREATE TRIGGER totals_insert AFTER INSERT ON tasks WHEN new.status IS NOT NULL BEGIN
        INSERT INTO totals (status, n, cost) VALUES (new.status, 1, coalesce(new.cost, 0))
        ON CONFLICT(status) DO UPDATE SET n = n + 1, cost = cost + excluded.cost;
    END""",
    """CREATE TRIGGER totals_delete AFTER DELETE ON tasks WHEN old.status IS NOT NULL BEGIN
        UPDATE totals SET n = n - 1, cost = cost - coalesce(old.cost, 0) WHERE status = old.status;
    END""",
    """CREATE TRIGGER totals_update AFTER UPDATE OF status, cost ON tasks BEGIN
        UPDATE totals SET n = n - 1, cost = cost - coalesce(old.cost, 0)
        WHERE status = old.status AND old.status IS NOT NULL;
        INSERT INTO totals (status, n, cost)
        SELECT new.status, 1, coalesce(new.cost, 0) WHERE new.status IS NOT NULL
        ON CONFLICT(status) DO UPDATE SET n = n + 1, cost = cost + excluded.cost;
    END""",
)


class Row(NamedTuple):
    """What the index holds of one task for the table, without its whole record."""

    task_id: str
    status: str | None
    executor: str
    created_at: str
    turns: int | None
    cost: float | None
    note: str
    problem: str | None
    dirty: int
    gen: int


def _summary(meta: TaskRecord) -> tuple[int | None, float | None, str]:
    result = meta.get("result") or {}
    turns = result.get("num_turns")
    cost = result.get("total_cost_usd")
    note = meta["error"] if meta["status"] in (states.FAILED, states.LOST) else meta["prompt"]
    return (
        turns if isinstance(turns, int) else None,
        float(cost) if isinstance(cost, (int, float)) else None,
        str(note or "")[:NOTE_CHARS],
    )


def row_of(meta: TaskRecord, gen: int = 0) -> Row:
    """The row a record makes (clean)."""
    turns, cost, note = _summary(meta)
    return Row(
        meta["task_id"], meta["status"], meta["executor"], meta["created_at"], turns, cost, note, None, 0, gen
    )


def _values(meta: TaskRecord, dirty: int) -> tuple[object, ...]:
    turns, cost, note = _summary(meta)
    return (
        meta["task_id"],
        meta["status"],
        meta["executor"],
        meta["created_at"],
        meta.get("finished_at"),
        meta.get("priority") or 0,
        json.dumps(meta.get("labels") or []),
        turns,
        cost,
        note,
        None,
        json.dumps(meta, separators=(",", ":")),
        dirty,
    )


_UPSERT = """
INSERT INTO tasks (task_id, status, executor, created_at, finished_at, priority, labels, turns, cost,
                   note, problem, record, dirty, gen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
ON CONFLICT(task_id) DO UPDATE SET
    status = excluded.status, executor = excluded.executor, created_at = excluded.created_at,
    finished_at = excluded.finished_at, priority = excluded.priority, labels = excluded.labels,
    turns = excluded.turns, cost = excluded.cost, note = excluded.note, problem = excluded.problem,
    record = excluded.record, dirty = excluded.dirty, gen = tasks.gen + 1
"""

_PROBLEM = """
INSERT INTO tasks (task_id, status, executor, created_at, note, problem, dirty, gen)
VALUES (?, NULL, '', '', '', ?, 0, 1)
ON CONFLICT(task_id) DO UPDATE SET
    status = NULL, problem = excluded.problem, record = NULL, dirty = 0, gen = tasks.gen + 1
"""


class Index:
    """The SQLite index beside one task store's records."""

    def __init__(self, store: TaskStore) -> None:
        self.store = store
        self.path = store.root / CACHE / INDEX
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._ino: int | None = None
        #: Set when the index was (re)built from the files by this process.
        self.rebuilt: str | None = None

    # -- the connection ------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """The open connection; a deleted or replaced index file is opened anew (and rebuilt)."""
        try:
            ino = os.stat(self.path).st_ino
        except FileNotFoundError:
            ino = None
        if self._db is not None and ino is not None and ino == self._ino:
            return self._db
        self.close()
        make_private_dirs(self.store.ensure_root() / CACHE)
        try:
            return self._open("the index was missing" if ino is None else "the index had another layout")
        except sqlite3.DatabaseError as exc:
            self.discard()
            return self._open(f"the index was corrupt ({exc})")

    def _open(self, why: str) -> sqlite3.Connection:
        """Open the index, made and filled from the files if it holds no rows of this layout."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            # Derived data: a commit need not reach the disk (a lost one is found dirty or missing).
            db.execute("PRAGMA synchronous=NORMAL")
            if not self._current(db):
                self._fill(db, why, fresh=True)
        except BaseException:
            db.close()
            raise
        self._db = db
        self._ino = os.stat(self.path).st_ino
        return db

    @staticmethod
    def _current(db: sqlite3.Connection) -> bool:
        try:
            row = db.execute("SELECT value FROM about WHERE key = 'layout'").fetchone()
        except sqlite3.OperationalError:  # no such table: a new file
            return False
        return row is not None and row[0] == LAYOUT

    def discard(self) -> None:
        """Delete the index's files (the next use rebuilds it); best effort."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    def close(self) -> None:
        """Close the connection (the next use opens it again)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None
        self._ino = None

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(db)``; a corrupt index met on the way is discarded, rebuilt, and ``work`` redone.
        One thread at a time (``start --from`` starts on several executors at once)."""
        with self._lock:
            try:
                return work(self._connect())
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise
                self.discard()
                db = self._connect()
                self.rebuilt = f"the index was corrupt ({exc})"
                return work(db)

    # -- writes (TaskStore calls these in the same locked step as the file) ----------------
    def put(self, meta: TaskRecord, dirty: bool) -> int:
        """Write ``meta``'s row (``dirty``: before its file is written); return its generation."""

        def work(db: sqlite3.Connection) -> int:
            db.execute(_UPSERT, _values(meta, int(dirty)))
            row = db.execute("SELECT gen FROM tasks WHERE task_id = ?", (meta["task_id"],)).fetchone()
            return int(row[0]) if row else 0

        return self._run(work)

    def clean(self, task_id: str, gen: int) -> None:
        """Mark the row clean: its file now holds what the row says (unless it was written since)."""
        sql = "UPDATE tasks SET dirty = 0 WHERE task_id = ? AND gen = ?"
        self._run(lambda db: db.execute(sql, (task_id, gen)))

    def soil(self, task_id: str) -> None:
        """Mark the row dirty (its directory is about to go)."""
        sql = "UPDATE tasks SET dirty = 1, gen = gen + 1 WHERE task_id = ?"
        self._run(lambda db: db.execute(sql, (task_id,)))

    def drop(self, task_id: str) -> None:
        """Forget the task (its directory is gone)."""
        self._run(lambda db: db.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,)))

    def put_problem(self, task_id: str, problem: str) -> None:
        """Index an entry that holds no readable record, with why."""

        def work(db: sqlite3.Connection) -> None:
            db.execute(_PROBLEM, (task_id, problem))

        self._run(work)

    # -- reads -------------------------------------------------------------------------------
    def rows(self, statuses: Iterable[str] | None = None, executor: str | None = None) -> list[Row]:
        """The rows (problem rows included when ``statuses`` is None), by creation time."""
        where, args = self._where(statuses, executor)

        def work(db: sqlite3.Connection) -> list[Row]:
            cur = db.execute(f"SELECT {_COLUMNS} FROM tasks{where} ORDER BY created_at", args)
            return [Row(*r) for r in cur.fetchall()]

        return self._run(work)

    def records(self, task_ids: list[str]) -> dict[str, TaskRecord]:
        """The indexed records of ``task_ids`` (clean rows only)."""

        def work(db: sqlite3.Connection) -> dict[str, TaskRecord]:
            out: dict[str, TaskRecord] = {}
            for start in range(0, len(task_ids), 500):
                chunk = task_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for tid, text in db.execute(
                    f"SELECT task_id, record FROM tasks WHERE dirty = 0 AND record IS NOT NULL "
                    f"AND task_id IN ({marks})",
                    chunk,
                ):
                    out[tid] = as_record(json.loads(text))
            return out

        return self._run(work)

    def counts(self) -> tuple[dict[str, int], float]:
        """Tasks per status, and their total cost, over every row."""

        def work(db: sqlite3.Connection) -> tuple[dict[str, int], float]:
            rows = list(db.execute("SELECT status, n, cost FROM totals WHERE n > 0"))
            return {s: int(n) for s, n, _ in rows}, float(sum(c for _, _, c in rows))

        return self._run(work)

    def recent(self, statuses: Iterable[str], limit: int) -> list[str]:
        """Ids of the newest ``limit`` rows in ``statuses``."""
        wanted = list(statuses)
        marks = ",".join("?" * len(wanted))

        def work(db: sqlite3.Connection) -> list[str]:
            cur = db.execute(
                f"SELECT task_id FROM tasks WHERE status IN ({marks}) ORDER BY created_at DESC LIMIT ?",
                [*wanted, limit],
            )
            return [r[0] for r in cur]

        return self._run(work)

    def about(self, key: str) -> str | None:
        """A value the index keeps about itself (its layout, the listing it last matched)."""
        row = self._run(lambda db: db.execute("SELECT value FROM about WHERE key = ?", (key,)).fetchone())
        return None if row is None else str(row[0])

    def set_about(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``."""
        sql = "INSERT OR REPLACE INTO about (key, value) VALUES (?, ?)"
        self._run(lambda db: db.execute(sql, (key, value)))

    def problems(self) -> list[str]:
        """Ids of the entries indexed as no readable record."""
        return self._run(
            lambda db: [str(r[0]) for r in db.execute("SELECT task_id FROM tasks WHERE status IS NULL")]
        )

    def sharing(self, executor: str, path: str, but: str) -> list[str]:
        """Ids of the tasks other than ``but`` of ``executor`` that run in the worktree at ``path``
        (a resume goes on in its parent's)."""
        sql = (
            "SELECT task_id FROM tasks WHERE executor = ? AND task_id != ? "
            "AND record LIKE '%\"worktree\"%' AND json_extract(record, '$.worktree.path') = ?"
        )
        return self._run(lambda db: [str(r[0]) for r in db.execute(sql, (executor, but, path))])

    def notify_pending(self) -> list[str]:
        """Ids of the tasks whose notifications are recorded pending (see :mod:`openclaw.notify`)."""
        sql = (
            "SELECT task_id FROM tasks WHERE record LIKE '%\"pending\"%' "
            "AND json_extract(record, '$.notify.state') = 'pending'"
        )
        return self._run(lambda db: [str(r[0]) for r in db.execute(sql)])

    def ids(self) -> set[str]:
        """Every indexed id."""
        return self._run(lambda db: {str(r[0]) for r in db.execute("SELECT task_id FROM tasks")})

    @staticmethod
    def _where(statuses: Iterable[str] | None, executor: str | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if statuses is not None:
            wanted = list(statuses)
            clauses.append(f"status IN ({','.join('?' * len(wanted))})")
            args.extend(wanted)
        if executor is not None:
            clauses.append("executor = ?")
            args.append(executor)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    # -- rebuilding ----------------------------------------------------------------------------
    def _fill(self, db: sqlite3.Connection, why: str, fresh: bool = False) -> None:
        """Replace every row with what the files say, in one transaction. With ``fresh`` (an
        index of no or another layout), the tables are made anew, unless another process did
        it meanwhile (checked holding the write lock)."""
        from openclaw.errors import CorruptRecordError, UnknownTaskError

        db.execute("BEGIN IMMEDIATE")
        try:
            if fresh:
                if self._current(db):  # made by another process while this one waited
                    db.execute("COMMIT")
                    return
                for table in ("tasks", "about", "totals"):
                    db.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in _TABLES:
                    db.execute(statement)
            db.execute("DELETE FROM tasks")
            db.execute("DELETE FROM totals")
            for task_id in self.store.ids():
                try:
                    meta = self.store.read(task_id)
                except UnknownTaskError:
                    continue
                except CorruptRecordError as exc:
                    db.execute(_PROBLEM, (task_id, exc.problem))
                    continue
                db.execute(_UPSERT, _values(meta, 0))
            db.execute("INSERT OR REPLACE INTO about (key, value) VALUES ('layout', ?)", (LAYOUT,))
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self.rebuilt = why

    def check(self) -> list[str]:
        """What differs between the rows and the files (empty: the index is true to them). It
        reads every record; ``doctor`` runs it."""
        records, bad = self.store.all()
        files = {m["task_id"]: m for m in records}
        broken = {e.task_id for e in bad}

        def work(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return list(db.execute(f"SELECT {_COLUMNS}, record FROM tasks"))

        rows = {r[0]: r for r in self._run(work)}
        problems = []
        for task_id in sorted(files.keys() - rows.keys()):
            problems.append(f"task {task_id} has no row")
        for task_id in sorted(broken - rows.keys()):
            problems.append(f"corrupt entry {task_id} has no row")
        for task_id in sorted(rows.keys() - files.keys() - broken):
            problems.append(f"row {task_id} has no record")
        for task_id in sorted(rows.keys() & files.keys()):
            row, text = Row(*rows[task_id][:-1]), rows[task_id][-1]
            if row.dirty:
                problems.append(f"row {task_id} is dirty")
            elif (
                text is None
                or json.loads(text) != files[task_id]
                or row._replace(gen=0) != row_of(files[task_id])
            ):
                problems.append(f"row {task_id} differs from its record")
        return problems

    def rebuild(self, why: str = "asked to") -> None:
        """Rebuild the index from the files now."""
        with self._lock:
            self._fill(self._connect(), why)
