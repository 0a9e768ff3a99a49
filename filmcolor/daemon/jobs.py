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
- ``cancelled``: stopped on request (``filmcolor serve``): a queued job at once, a running
  one once its worker is stopped (``cancel_requested`` set until then). Its source stays
  where it is; a retry queues it again.

Per-job extras (schema 2): ``settings`` (JSON: the ``look`` or ``preset`` chosen for this
job, or null for the daemon's own settings), ``progress`` (0–1), ``fps`` and ``eta``
(seconds) while running, ``report`` (JSON: the restore report of a finished job), and the
``job_log`` table (one line per daemon event naming the job). A database of schema 1 is
migrated in place when first opened (the table is rebuilt to widen its status check).

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

SCHEMA_VERSION = 2
STATUSES = ("queued", "running", "done", "failed", "skipped", "cancelled")
#: ``not_before`` of a job held back while its file is being put in place (``add(hold=True)``).
HOLD = 1e15
#: Log lines kept per job (the oldest go first).
LOG_LINES = 200

_JOBS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {{name}} (
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
    settings TEXT,
    progress REAL,
    fps REAL,
    eta REAL,
    report TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    UNIQUE (path, size, mtime_ns)
)"""

#: The columns of schema 1, copied over when a database of that schema is migrated.
_V1_COLUMNS = (
    "id, path, size, mtime_ns, status, stage, attempts, last_error, exit_code, not_before, "
    "owner, daemon_pid, worker_pid, heartbeat, created, started, finished, output, moved_to"
)

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
    + _JOBS_TABLE.format(name="jobs")
    + """;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_output ON jobs (output) WHERE output IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, not_before);
CREATE TABLE IF NOT EXISTS job_log (
    job_id INTEGER NOT NULL, ts REAL NOT NULL, level TEXT NOT NULL, line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_log_job ON job_log (job_id, ts);
"""
)


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
    settings: str | None = None
    progress: float | None = None
    fps: float | None = None
    eta: float | None = None
    report: str | None = None
    cancel_requested: int = 0

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
                self._migrate()
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            raise UsageError(
                f"{self.path}: cannot use it as the job database ({exc}); give another --state "
                "(keep it on a local disk: SQLite WAL does not work on network filesystems)"
            ) from exc

    def _migrate(self) -> None:
        """Bring a database of an older schema to ``SCHEMA_VERSION`` (inside the open
        transaction). Schema 1 → 2: new columns, ``cancelled`` in the status check (SQLite
        cannot change a CHECK, so the table is rebuilt and its rows copied)."""
        has_jobs = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
        ).fetchone()
        if not has_jobs:
            return
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = int(row[0]) if row else 1
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path}: job database of schema {version}, newer than this filmcolor "
                f"({SCHEMA_VERSION}); upgrade filmcolor or give another --state"
            )
        if version < 2:
            self.db.execute(_JOBS_TABLE.format(name="jobs_v2"))
            self.db.execute(f"INSERT INTO jobs_v2 ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM jobs")
            self.db.execute("DROP TABLE jobs")
            self.db.execute("ALTER TABLE jobs_v2 RENAME TO jobs")

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
        *,
        settings: str | None = None,
        hold: bool = False,
    ) -> Job | None:
        """Queue the file version ``(path, size, mtime_ns)``; None if it is already a job.

        ``name_output(job_id, taken)`` picks the output name inside the same transaction
        (``taken(name)`` says whether another job holds it), so names stay unique.
        ``settings``: the job's own settings (JSON text). ``hold``: not due until
        ``release`` (the file is not in place yet).
        """
        now = time.time() if now is None else now
        with self._transaction():
            if self.find(path, size, mtime_ns) is not None:
                return None  # checked first: an ignored INSERT would still use up an id
            cur = self.db.execute(
                "INSERT OR IGNORE INTO jobs (path, size, mtime_ns, created, settings, not_before) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (path, size, mtime_ns, now, settings, HOLD if hold else 0.0),
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
                "finished = NULL, progress = 0, fps = NULL, eta = NULL "
                "WHERE id = ? AND status = 'queued'",
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

    def _set(self, job_id: int, **values: Any) -> None:
        """One UPDATE of the row ``job_id``, inside the caller's transaction."""
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))

    def _update(self, job_id: int, **values: Any) -> Job:
        with self._transaction():
            self._set(job_id, **values)
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
            job_id,
            status="done",
            stage=None,
            finished=now,
            moved_to=moved_to,
            last_error=None,
            progress=1.0,
            eta=0.0,
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
        return self._update(job_id, **_requeued(attempts, now))

    def put_back(self, job_id: int, now: float | None = None) -> Job:
        """A running job stopped through no fault of its file (its daemon is stopping, or
        its worker exited before it got the job): ``queued`` again without counting the
        try, or ``cancelled`` when its cancellation was asked for. One transaction, so a
        cancel asked for meanwhile is not lost."""
        now = time.time() if now is None else now
        with self._transaction():
            row = self.db.execute(
                "SELECT attempts, cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            assert row is not None
            attempts, cancel = row
            values = _cancelled(now) if cancel else _requeued(max(attempts - 1, 0), now)
            self._set(job_id, **values)
        job = self.get(job_id)
        assert job is not None
        return job

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

    # -- serve: progress, reports, cancel, retry, logs -----------------------------------

    def release(self, job_id: int, now: float | None = None) -> Job:
        """A held job (``add(hold=True)``, ``reopen``) becomes due now."""
        now = time.time() if now is None else now
        return self._update(job_id, not_before=now)

    def delete(self, job_id: int) -> None:
        """Forget a job (only for a held job whose file could not be put in place)."""
        with self._transaction():
            self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            self.db.execute("DELETE FROM job_log WHERE job_id = ?", (job_id,))

    def set_progress(
        self, job_id: int, progress: float | None, fps: float | None, eta: float | None
    ) -> None:
        """Record a running job's progress (0–1, or None when the length is unknown), its
        frames per second and the seconds it still needs."""
        with self._transaction():
            self.db.execute(
                "UPDATE jobs SET progress = ?, fps = ?, eta = ? "
                "WHERE id = ? AND status = 'running'",
                (progress, fps, eta, job_id),
            )

    def set_report(self, job_id: int, report: str) -> Job:
        """Keep the restore report (JSON text) of a finished try."""
        return self._update(job_id, report=report)

    def cancel(self, job_id: int, now: float | None = None) -> Job | None:
        """Cancel a job: a queued one at once (status ``cancelled``), a running one by
        setting ``cancel_requested`` for its daemon. None when the job is in neither state."""
        now = time.time() if now is None else now
        with self._transaction():
            cur = self.db.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ?, eta = NULL "
                "WHERE id = ? AND status = 'queued'",
                (now, job_id),
            )
            if cur.rowcount == 0:
                cur = self.db.execute(
                    "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'",
                    (job_id,),
                )
                if cur.rowcount == 0:
                    return None
        return self.get(job_id)

    def cancelled(self, job_id: int, now: float | None = None) -> Job:
        """A running job's worker was stopped on request: status ``cancelled``."""
        now = time.time() if now is None else now
        return self._update(job_id, **_cancelled(now))

    def cancel_requests(self, owner: str) -> list[int]:
        """The running jobs of ``owner`` whose cancellation was asked for."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM jobs WHERE status = 'running' AND owner = ? "
                "AND cancel_requested = 1",
                (owner,),
            )
        ]

    def reopen(self, job_id: int, path: str) -> Job:
        """Queue a failed or cancelled job again from ``path`` (its source, maybe moved back
        from the quarantine), held until ``release``: attempts start over, the error and
        the quarantine record are cleared."""
        return self._update(
            job_id,
            path=path,
            status="queued",
            stage=None,
            attempts=0,
            last_error=None,
            exit_code=None,
            not_before=HOLD,
            owner=None,
            worker_pid=None,
            finished=None,
            moved_to=None,
            progress=None,
            fps=None,
            eta=None,
            cancel_requested=0,
        )

    def add_log(self, job_id: int, level: str, line: str, now: float | None = None) -> None:
        """Append one log line to a job's log (``LOG_LINES`` kept)."""
        now = time.time() if now is None else now
        with self._transaction():
            self.db.execute(
                "INSERT INTO job_log (job_id, ts, level, line) VALUES (?, ?, ?, ?)",
                (job_id, now, level, line),
            )
            self.db.execute(
                "DELETE FROM job_log WHERE job_id = ? AND rowid NOT IN (SELECT rowid FROM "
                "job_log WHERE job_id = ? ORDER BY ts DESC, rowid DESC LIMIT ?)",
                (job_id, job_id, LOG_LINES),
            )

    def logs(self, job_id: int) -> list[tuple[float, str, str]]:
        """A job's log lines, oldest first: ``(time, level, line)``."""
        return [
            (row[0], row[1], row[2])
            for row in self.db.execute(
                "SELECT ts, level, line FROM job_log WHERE job_id = ? ORDER BY ts, rowid",
                (job_id,),
            )
        ]


def _requeued(attempts: int, now: float) -> dict[str, Any]:
    """The columns of a job back in the queue with ``attempts`` tries, due at ``now``."""
    return {
        "status": "queued",
        "stage": None,
        "attempts": attempts,
        "not_before": now,
        "worker_pid": None,
        "owner": None,
    }


def _cancelled(now: float) -> dict[str, Any]:
    """The columns of a running job whose worker was stopped on request."""
    return {
        "status": "cancelled",
        "stage": None,
        "finished": now,
        "worker_pid": None,
        "cancel_requested": 0,
        "eta": None,
        "last_error": "cancelled while running",
    }
