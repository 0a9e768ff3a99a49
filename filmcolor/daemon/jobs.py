"""The job table of ``filmcolor watch``: SQLite in WAL mode, the single source of truth.

One row per job, keyed by the source file's ``(path, size, mtime_ns)`` (UNIQUE): a file
that changes (new size or mtime) is a new job; the same file seen again is the same job,
whatever its status, so a finished file is never processed twice.

Statuses:

- ``queued``: waiting; ``not_before`` (epoch seconds) delays a retry (backoff).
- ``running``: claimed by the daemon ``owner`` (an instance id; ``daemon_pid``) and given
  to the worker process ``worker_pid``; ``heartbeat`` is refreshed about once a second.
  ``stage = 'commit'`` marks that the worker finished and the staged output is being
  moved into OUT_DIR (start-up recovery completes that move instead of redoing the job).
- ``done``: the output is at ``output`` in OUT_DIR.
- ``failed``: gave up after ``attempts`` tries; ``last_error`` and ``exit_code`` say why,
  ``moved_to`` where the source was quarantined.
- ``skipped``: the file changed or vanished before it was processed (its new version, if
  any, is a job of its own).

``attempts`` counts started tries (a try cut short by a crash counts; one stopped by a clean
shutdown does not). ``output`` is the output file's name inside OUT_DIR, unique over all
jobs (a partial UNIQUE index), assigned when the job is added.

Claims run in ``BEGIN IMMEDIATE`` transactions, so two connections can never claim one job.
Times are wall-clock epoch seconds (``time.time()``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import UsageError

SCHEMA_VERSION = 1
STATUSES = ("queued", "running", "done", "failed", "skipped")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN {STATUSES!r}),
    stage TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    exit_code INTEGER,
    not_before REAL NOT NULL DEFAULT 0,
    owner TEXT,
    daemon_pid INTEGER,
    worker_pid INTEGER,
    heartbeat REAL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    output TEXT,
    moved_to TEXT,
    UNIQUE (path, size, mtime_ns)
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_output ON jobs (output) WHERE output IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, not_before);
"""


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the job table (see the module docstring for the meaning of each field)."""

    id: int
    path: str
    size: int
    mtime_ns: int
    status: str
    stage: str | None
    attempts: int
    last_error: str | None
    exit_code: int | None
    not_before: float
    owner: str | None
    daemon_pid: int | None
    worker_pid: int | None
    heartbeat: float | None
    created: float
    started: float | None
    finished: float | None
    output: str | None
    moved_to: str | None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_COLUMNS = ", ".join(f.name for f in fields(Job))


class JobStore:
    """The job table in the SQLite file ``path`` (created with its folder if missing).

    One ``JobStore`` per thread; several processes may open the same file (WAL, with a
    busy timeout). Every write is its own short transaction.
    """

    def __init__(self, path: str | Path, *, create: bool = True, timeout: float = 30.0) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise UsageError(
                f"{self.path}: no job database here; give the one 'filmcolor watch' uses "
                "with --state (default: OUT_DIR/.filmcolor/jobs.db)"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            raise UsageError(
                f"{self.path}: cannot use it as the job database ({exc}); give another --state "
                "(keep it on a local disk: SQLite WAL does not work on network filesystems)"
            ) from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Job | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM jobs {sql}", args).fetchone()
        return Job(*row) if row else None

    def _many(self, sql: str, args: tuple[Any, ...] = ()) -> list[Job]:
        return [Job(*row) for row in self.db.execute(f"SELECT {_COLUMNS} FROM jobs {sql}", args)]

    # -- reading -------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        """The job ``job_id``, or None."""
        return self._one("WHERE id = ?", (job_id,))

    def find(self, path: str, size: int, mtime_ns: int) -> Job | None:
        """The job of this exact file version, or None."""
        return self._one("WHERE path = ? AND size = ? AND mtime_ns = ?", (path, size, mtime_ns))

    def all(self, status: str | None = None) -> list[Job]:
        """Every job (or those with ``status``), oldest first."""
        if status is None:
            return self._many("ORDER BY id")
        return self._many("WHERE status = ? ORDER BY id", (status,))

    def output_taken(self, name: str) -> bool:
        """Whether some job already holds the output name ``name``."""
        return (
            self.db.execute("SELECT 1 FROM jobs WHERE output = ?", (name,)).fetchone() is not None
        )

    def next_due(self) -> float | None:
        """The earliest ``not_before`` of the queued jobs (None when none is queued)."""
        row = self.db.execute("SELECT MIN(not_before) FROM jobs WHERE status = 'queued'").fetchone()
        return row[0]

    # -- writing -------------------------------------------------------------------------

    def add(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        name_output: Callable[[int, Callable[[str], bool]], str] | None = None,
        now: float | None = None,
    ) -> Job | None:
        """Queue the file version ``(path, size, mtime_ns)``; None if it is already a job.

        ``name_output(job_id, taken)`` picks the output name inside the same transaction
        (``taken(name)`` says whether another job holds it), so names stay unique.
        """
        now = time.time() if now is None else now
        with self._transaction():
            cur = self.db.execute(
                "INSERT OR IGNORE INTO jobs (path, size, mtime_ns, created) VALUES (?, ?, ?, ?)",
                (path, size, mtime_ns, now),
            )
            if cur.rowcount == 0:
                return None
            job_id = int(cur.lastrowid or 0)
            if name_output is not None:
                name = name_output(job_id, self.output_taken)
                self.db.execute("UPDATE jobs SET output = ? WHERE id = ?", (name, job_id))
        return self.get(job_id)

    def claim(
        self,
        owner: str,
        daemon_pid: int,
        worker_pid: int | None = None,
        now: float | None = None,
    ) -> Job | None:
        """Atomically take the oldest due queued job: status ``running``, ``attempts`` + 1,
        owner, pids and heartbeat set. None when no job is due."""
        now = time.time() if now is None else now
        with self._transaction():
            row = self.db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' AND not_before <= ? "
                "ORDER BY not_before, id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            cur = self.db.execute(
                "UPDATE jobs SET status = 'running', stage = NULL, attempts = attempts + 1, "
                "owner = ?, daemon_pid = ?, worker_pid = ?, heartbeat = ?, started = ?, "
                "finished = NULL WHERE id = ? AND status = 'queued'",
                (owner, daemon_pid, worker_pid, now, now, row[0]),
            )
            if cur.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; be explicit anyway
                return None
        return self.get(row[0])

    def heartbeat(self, owner: str, now: float | None = None) -> None:
        """Refresh the heartbeat of every running job of ``owner``."""
        now = time.time() if now is None else now
        with self._transaction():
            self.db.execute(
                "UPDATE jobs SET heartbeat = ? WHERE status = 'running' AND owner = ?",
                (now, owner),
            )

    def _update(self, job_id: int, **values: Any) -> Job:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._transaction():
            self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))
        job = self.get(job_id)
        assert job is not None
        return job

    def set_output(self, job_id: int, name: str) -> Job:
        """Record a new output name (the planned one was taken by a foreign file)."""
        return self._update(job_id, output=name)

    def mark_commit(self, job_id: int) -> Job:
        """The worker finished: the staged output is about to be moved into OUT_DIR."""
        return self._update(job_id, stage="commit")

    def finish(self, job_id: int, moved_to: str | None = None, now: float | None = None) -> Job:
        """The output is in place: status ``done``."""
        now = time.time() if now is None else now
        return self._update(
            job_id, status="done", stage=None, finished=now, moved_to=moved_to, last_error=None
        )

    def fail_attempt(
        self,
        job_id: int,
        error: str,
        exit_code: int,
        retries: int,
        backoff: float,
        now: float | None = None,
    ) -> Job:
        """Record a failed try. Back to ``queued`` with ``not_before = now + backoff *
        2**(attempts - 1)`` while ``attempts <= retries``; ``failed`` after that."""
        now = time.time() if now is None else now
        job = self.get(job_id)
        assert job is not None
        if job.attempts <= retries:
            delay = backoff * 2 ** max(job.attempts - 1, 0)
            return self._update(
                job_id,
                status="queued",
                stage=None,
                last_error=error,
                exit_code=exit_code,
                not_before=now + delay,
                finished=now,
                worker_pid=None,
            )
        return self.give_up(job_id, error, exit_code, now)

    def give_up(self, job_id: int, error: str, exit_code: int, now: float | None = None) -> Job:
        """Status ``failed`` now, whatever the attempts."""
        now = time.time() if now is None else now
        return self._update(
            job_id,
            status="failed",
            stage=None,
            last_error=error,
            exit_code=exit_code,
            finished=now,
            worker_pid=None,
        )

    def requeue(self, job_id: int, *, count_attempt: bool, now: float | None = None) -> Job:
        """Back to ``queued``, due now. ``count_attempt=False`` takes back the attempt that
        the interrupted try added (a clean shutdown is not the file's fault)."""
        now = time.time() if now is None else now
        job = self.get(job_id)
        assert job is not None
        attempts = job.attempts if count_attempt else max(job.attempts - 1, 0)
        return self._update(
            job_id,
            status="queued",
            stage=None,
            attempts=attempts,
            not_before=now,
            worker_pid=None,
            owner=None,
        )

    def skip(self, job_id: int, reason: str, now: float | None = None) -> Job:
        """Status ``skipped``: the file changed or vanished before it was processed."""
        now = time.time() if now is None else now
        return self._update(
            job_id,
            status="skipped",
            stage=None,
            last_error=reason,
            finished=now,
            worker_pid=None,
        )

    def set_moved(self, job_id: int, moved_to: str) -> Job:
        """Record where the source went (``--done`` or ``--failed``)."""
        return self._update(job_id, moved_to=moved_to)
