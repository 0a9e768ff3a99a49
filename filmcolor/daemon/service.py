"""The watch-folder daemon: files in IN_DIR become colorized files in OUT_DIR, exactly once.

Layout (defaults):

- ``OUT_DIR/.filmcolor/jobs.db`` (``--state``): the job table (``jobs`` module), the only
  record of what was done; ``jobs.db.lock`` beside it: an exclusive ``flock`` held for the
  daemon's life, so two daemons never share one state (the kernel drops it when a daemon
  dies, even by ``kill -9``).
- ``OUT_DIR/.filmcolor/jobs.db.staging/`` (``STATE.staging`` beside ``--state``): the
  worker writes each result here (as ``JOBID-NAME``; restore's own temporary files land
  here too), then the daemon moves it into OUT_DIR with a no-clobber rename. OUT_DIR itself
  only ever receives finished files. The folder is marked as filmcolor's own
  (``STAGING_MARKER``) and at every start cleared of what workers leave there; a folder of
  that name holding other files is refused.

Every path is resolved first (links, ``..``), so two spellings of one job database share
one lock, and two spellings of one IN_DIR one set of jobs.
- ``IN_DIR/failed/`` (``--failed``): quarantined sources, each with ``NAME.error.json``.
- ``--done DIR``: where finished sources go; without it they stay in place (the job table
  remembers them, so they are not processed again).

Output names: the folder-run policy of ``restore`` (``watcher.output_name``); when another
job (or a file already in OUT_DIR) holds that name, ``STEM-JOBID.EXT``. The name is
assigned when the job is added and recorded in the job table.

A job's life: the watcher reports a stable file → a ``queued`` row (``INSERT OR IGNORE`` on
path + size + mtime) → an idle worker → claim (``BEGIN IMMEDIATE``; status ``running``,
attempt + 1, owner, pids) → the file is checked to be the same version still → the worker
restores it into staging → ``stage = 'commit'`` → rename into OUT_DIR → source to
``--done`` → ``done``. A failure (corrupt file, worker crash) is retried after
``backoff * 2**(attempt - 1)`` seconds up to ``retries`` times, then the source is moved to
``--failed`` with its sidecar and the job is ``failed``.

Start-up recovery (under the lock, so the previous daemon is gone): a job left
``running`` whose worker is still alive (a ``filmcolor.daemon.worker`` process for this
state in ``/proc/PID/cmdline``) is waited for, then killed; a job caught in its commit is
completed from the staged file (or found complete in OUT_DIR); any other running job is
queued again (the cut try counts as an attempt, so a file that kills the daemon each time
is quarantined in the end). Failed jobs whose source was not yet quarantined are.

Stopping: the first SIGTERM/SIGINT stops claiming work and lets running jobs finish for up
to ``grace`` seconds; after that (or on a second signal) the workers are stopped with
SIGTERM (restore removes its temporary file), the jobs are queued again without counting
the attempt, and ``run()`` returns 0. The next start carries on from the job table.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..atomic import pid_alive
from ..config import RestoreConfig, bounded, check_bounds
from ..errors import InputError, UsageError
from .files import STAGING_MARKER, JobFiles, same_version
from .jobs import Job, JobStore
from .logs import event, log
from .presets import list_presets
from .watcher import Candidate, Watcher, unique_output_name
from .worker import WORKER_MODULE, encode_config

STATE_DIR = ".filmcolor"
STATE_NAME = "jobs.db"


def default_state_path(out_dir: Path) -> Path:
    """``OUT_DIR/.filmcolor/jobs.db``."""
    return Path(out_dir) / STATE_DIR / STATE_NAME


@dataclass(frozen=True)
class WatchOptions:
    """Settings of one daemon (the ``filmcolor watch`` options). Times are in seconds, at
    most a day; a value out of its bounds raises ``SettingValueError`` (exit 2)."""

    in_dir: Path
    out_dir: Path
    config: RestoreConfig = field(default_factory=RestoreConfig)
    state: Path | None = None
    done_dir: Path | None = None
    failed_dir: Path | None = None
    #: Seconds between full rescans of IN_DIR.
    poll: float = bounded(5.0, 0.05, 86400)
    #: Seconds a file's size and mtime must stay unchanged before it is taken.
    settle: float = bounded(5.0, 0, 86400)
    #: Retries after the first failed try (so ``retries + 1`` tries in all).
    retries: int = bounded(2, 0, 100)
    #: Seconds before the first retry; doubled for each further one.
    backoff: float = bounded(30.0, 0, 86400)
    workers: int = bounded(1, 1, 64)
    #: Rescans only (no inotify), for network filesystems.
    polling: bool = False
    #: Seconds a stop waits for running jobs before it interrupts them.
    grace: float = bounded(30.0, 0, 86400)
    #: Folder of named settings files a job may choose (``presets`` module).
    presets_dir: Path | None = None

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass
class _WorkerHandle:
    proc: subprocess.Popen[bytes]
    buffer: bytes = b""
    ready: bool = False
    job: Job | None = None
    staged: Path | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    #: The running job's cancellation was asked for and the worker was sent SIGTERM.
    cancelling: bool = False


class _JobLogHandler(logging.Handler):
    """Keeps each daemon event that names a job (an ``id`` field) in that job's log in the
    job table, as the line the plain log shows. Only from the thread that owns ``store``."""

    def __init__(self, store: JobStore) -> None:
        super().__init__(logging.INFO)
        self.store = store
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None)
        if not isinstance(fields, dict) or threading.get_ident() != self.thread:
            return
        job_id = fields.get("id")
        if not isinstance(job_id, int):
            return
        try:
            self.store.add_log(job_id, record.levelname.lower(), record.getMessage())
        except Exception:  # a log line must never stop the daemon
            self.handleError(record)


def _is_our_worker(pid: int, state: Path) -> bool:
    """Whether ``pid`` is a filmcolor worker serving ``state`` (per /proc/PID/cmdline)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    parts = [os.fsdecode(p) for p in raw.split(b"\0")]
    return WORKER_MODULE in parts and str(state) in parts


class WatchService:
    """One daemon. ``run()`` blocks until a stop signal (or ``request_stop()``) and
    returns its exit code (0 on a clean stop; a worker's fatal code such as 5 for bad
    weights). Raises ``UsageError``/``InputError`` for unusable folders or a state that
    another daemon holds."""

    def __init__(self, options: WatchOptions) -> None:
        o = options
        # resolved: a link or a ``..`` spelling must name the same lock and the same jobs
        self.in_dir = Path(o.in_dir).resolve()
        self.out_dir = Path(o.out_dir).resolve()
        self.state = Path(o.state).resolve() if o.state else default_state_path(self.out_dir)
        self.staging = self.state.with_name(f"{self.state.name}.staging")
        self.done_dir = Path(o.done_dir).resolve() if o.done_dir else None
        self.failed_dir = Path(o.failed_dir).resolve() if o.failed_dir else self.in_dir / "failed"
        self.files = JobFiles(self.staging, self.out_dir, self.done_dir, self.failed_dir)
        self.options = o
        self.instance = uuid.uuid4().hex[:12]
        self.store: JobStore | None = None
        self.workers: list[_WorkerHandle] = []
        self._stop_signals = 0
        self._stop_at: float | None = None
        self._exit_code = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        #: Held while ``wake`` writes to the pipe and while ``run`` closes it (the web
        #: app's threads wake the daemon; a closed descriptor's number is soon reused).
        self._wake_lock = threading.Lock()
        self._lock_file: IO[str] | None = None
        self._signals: list[str] = []

    # -- checks and set-up ---------------------------------------------------------------

    def _check_folders(self) -> None:
        if not self.in_dir.is_dir():
            raise InputError(f"{self.in_dir}: no such folder; create the watch folder first")
        real = {
            "IN_DIR": self.in_dir.resolve(),
            "OUT_DIR": self.out_dir.resolve() if self.out_dir.exists() else self.out_dir,
        }
        if real["OUT_DIR"] == real["IN_DIR"]:
            raise UsageError(f"{self.out_dir}: OUT_DIR is the watch folder; give another folder")
        for name, folder in (("--done", self.done_dir), ("--failed", self.failed_dir)):
            if folder is None:
                continue
            resolved = folder.resolve() if folder.exists() else folder
            if resolved in real.values():
                raise UsageError(f"{folder}: {name} must differ from IN_DIR and OUT_DIR")
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise UsageError(f"{self.out_dir}: OUT_DIR is a file; give a folder")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.state.parent.mkdir(parents=True, exist_ok=True)

    def _take_lock(self) -> None:
        lock_path = Path(f"{self.state}.lock")
        handle = open(lock_path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise UsageError(
                f"{self.state}: another 'filmcolor watch' (pid {holder}) uses this job "
                "database; stop it first, or give this one another --state"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle

    def _output_namer(self, src_name: str) -> Any:
        def name(job_id: int, taken: Any) -> str:
            return unique_output_name(src_name, job_id, taken, self.out_dir)

        return name

    # -- recovery ------------------------------------------------------------------------

    def _recover(self) -> None:
        assert self.store is not None
        for job in self.store.all("running"):
            pid = job.worker_pid
            if pid and pid_alive(pid) and _is_our_worker(pid, self.state):
                event("orphan_worker", logging.WARNING, id=job.id, worker_pid=pid)
                deadline = time.monotonic() + min(self.options.grace, 10.0)
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if pid_alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    while pid_alive(pid) and time.monotonic() < deadline + 5:
                        time.sleep(0.05)
            if job.stage == "commit":
                self._commit(job)
            elif job.cancel_requested:
                self.store.cancelled(job.id)
                event("job_cancelled", id=job.id, path=job.path)
            elif job.attempts > self.options.retries:
                error = f"the daemon stopped during each of {job.attempts} tries"
                self._quarantine(self.store.give_up(job.id, error, 1))
            else:
                self.store.requeue(job.id, count_attempt=True)
                event(
                    "job_requeued",
                    logging.WARNING,
                    id=job.id,
                    path=job.path,
                    reason="left running by a daemon that died",
                )
        for job in self.store.all("failed"):
            if job.moved_to is None and same_version(Path(job.path), job):
                self._quarantine(job)
        self.files.claim_staging()  # made at start-up already; idempotent
        self.files.clear_staging()

    # -- moving files --------------------------------------------------------------------

    def _commit(self, job: Job) -> None:
        """Move the staged output into OUT_DIR (no clobber), the source to --done; done."""
        assert self.store is not None
        if not self.files.commit(self.store, job):
            self._failed_try(job, "the finished output went missing before it was committed", 1)

    def _quarantine(self, job: Job) -> None:
        """Move a failed job's source to --failed with ``NAME.error.json`` beside it."""
        assert self.store is not None
        self.files.quarantine(self.store, job)

    def _failed_try(self, job: Job, error: str, exit_code: int) -> None:
        assert self.store is not None
        job = self.store.fail_attempt(
            job.id, error, exit_code, self.options.retries, self.options.backoff
        )
        if job.status == "failed":
            self._quarantine(job)
        else:
            event(
                "job_retry",
                logging.WARNING,
                id=job.id,
                path=job.path,
                attempts=job.attempts,
                error=error,
                retry_in=round(job.not_before - time.time(), 3),
            )

    # -- workers -------------------------------------------------------------------------

    def _spawn(self) -> _WorkerHandle:
        """Start one worker (from the main thread: PDEATHSIG follows the parent thread)."""
        assert threading.current_thread() is threading.main_thread()
        cmd = [
            sys.executable,
            "-m",
            WORKER_MODULE,
            "--daemon-pid",
            str(os.getpid()),
            "--state",
            str(self.state),
        ]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        handle = _WorkerHandle(proc)
        workers = self.options.workers
        threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
        init = {"type": "init", "config": encode_config(self.options.config), "threads": threads}
        self._send(handle, init)
        event("worker_started", logging.DEBUG, worker_pid=proc.pid)
        return handle

    def _send(self, handle: _WorkerHandle, message: dict[str, Any]) -> bool:
        assert handle.proc.stdin is not None
        try:
            handle.proc.stdin.write((json.dumps(message, ensure_ascii=False) + "\n").encode())
            handle.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def _read(self, handle: _WorkerHandle) -> None:
        assert handle.proc.stdout is not None
        while True:
            try:
                chunk = os.read(handle.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                handle.closed = True
                break
            handle.buffer += chunk
        *lines, handle.buffer = handle.buffer.split(b"\n")
        for line in lines:
            if line.strip():
                try:
                    handle.messages.append(json.loads(line))
                except json.JSONDecodeError:
                    event(
                        "worker_garbled", logging.WARNING, line=line[:200].decode(errors="replace")
                    )

    def _dispatch(self, handle: _WorkerHandle) -> bool:
        """Claim one due job for the idle ``handle``; False when none is due."""
        assert self.store is not None
        job = self.store.claim(self.instance, os.getpid(), handle.proc.pid)
        if job is None:
            return False
        source = Path(job.path)
        if not same_version(source, job):
            self.store.skip(job.id, "the file changed or vanished before it was processed")
            event("job_skipped", id=job.id, path=job.path, reason="changed or vanished")
            return True
        target = source.resolve()
        if not target.is_relative_to(self.in_dir.resolve()):
            self._failed_try(job, "symlink now points outside the watch folder", 2)
            return True
        assert job.output is not None
        settings = json.loads(job.settings) if job.settings else None
        if settings and settings.get("preset"):
            preset = list_presets(self.options.presets_dir).get(settings["preset"])
            if preset is None:
                self._failed_try(job, f"preset '{settings['preset']}' is gone", 2)
                return True
            settings = {"preset": str(preset)}
        staged = self.staging / f"{job.id}-{job.output}"
        handle.job, handle.staged, handle.cancelling = job, staged, False
        event(
            "job_started",
            id=job.id,
            path=job.path,
            attempt=job.attempts,
            output=job.output,
            worker_pid=handle.proc.pid,
        )
        message = {
            "type": "job",
            "id": job.id,
            "src": str(target),
            "dst": str(staged),
            "settings": settings,
        }
        if not self._send(handle, message):  # the worker died before it got the job
            handle.job, handle.closed = None, True
            self._put_back(job, "its worker exited")
        return True

    def _handle_messages(self, handle: _WorkerHandle) -> None:
        assert self.store is not None
        for message in handle.messages:
            kind = message.get("type")
            if kind == "ready":
                handle.ready = True
            elif kind == "fatal":
                event("worker_fatal", logging.ERROR, error=message.get("error"))
                self._exit_code = int(message.get("exit_code") or 1)
                self.request_stop()
            elif (
                kind == "progress" and handle.job is not None and message.get("id") == handle.job.id
            ):
                self._progress(handle.job, message)
            elif kind == "result" and handle.job is not None and message.get("id") == handle.job.id:
                job, handle.job = handle.job, None
                if isinstance(message.get("report"), dict):
                    data = dict(message["report"])
                    if job.output:  # the worker wrote to staging; the file goes here
                        data["output"] = str(self.out_dir / job.output)
                    report = json.dumps(data, ensure_ascii=False, default=str)
                    self.store.set_report(job.id, report)
                if message.get("ok"):
                    for warning in message.get("warnings") or []:
                        event(
                            "job_warning",
                            logging.WARNING,
                            id=job.id,
                            path=job.path,
                            warning=warning,
                        )
                    self._commit(self.store.mark_commit(job.id))
                elif handle.cancelling:
                    self._cancelled(job)
                else:
                    self._failed_try(
                        job, str(message.get("error")), int(message.get("exit_code") or 1)
                    )
        handle.messages.clear()

    def _progress(self, job: Job, message: dict[str, Any]) -> None:
        """Record a worker's progress report: fraction done, fps, seconds left."""
        assert self.store is not None
        done, total = int(message.get("done") or 0), message.get("total")
        fps = float(message.get("fps") or 0.0)
        fraction = min(1.0, done / total) if total else None
        eta = round(max(total - done, 0) / fps, 1) if total and fps > 0 else None
        self.store.set_progress(job.id, fraction, round(fps, 3), eta)

    def _cancelled(self, job: Job) -> None:
        assert self.store is not None
        self.store.cancelled(job.id)
        event("job_cancelled", id=job.id, path=job.path)

    def _put_back(self, job: Job, reason: str) -> None:
        """A job its worker did not finish through no fault of the file (the daemon is
        stopping, or the worker exited before it got the job): queued again without
        counting the try, or ``cancelled`` when its cancellation was asked for meanwhile."""
        assert self.store is not None
        if self.store.put_back(job.id).status == "cancelled":
            event("job_cancelled", id=job.id, path=job.path)
        else:
            event("job_requeued", id=job.id, path=job.path, reason=reason)

    def _check_cancels(self) -> None:
        """Stop the workers of running jobs whose cancellation was asked for (SIGTERM:
        restore removes its temporary file; the job becomes ``cancelled`` when it exits)."""
        assert self.store is not None
        wanted = set(self.store.cancel_requests(self.instance))
        for handle in self.workers:
            if handle.job is not None and handle.job.id in wanted and not handle.cancelling:
                handle.cancelling = True
                event("job_cancelling", id=handle.job.id, worker_pid=handle.proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    handle.proc.send_signal(signal.SIGTERM)

    def _reap(self, handle: _WorkerHandle) -> None:
        """A worker whose pipe closed: wait for it, fail (or requeue) its job."""
        code = handle.proc.wait()
        stopping = self._stop_signals > 0  # now, not at the start of the pass
        job, handle.job = handle.job, None
        if job is None:
            if not handle.ready and not stopping and self._exit_code == 0:
                event("worker_failed_to_start", logging.ERROR, exit_code=code)
                self._exit_code = 1
                self.request_stop()
            elif not stopping:
                event("worker_exited", logging.WARNING, worker_pid=handle.proc.pid, code=code)
            return
        assert self.store is not None
        if handle.cancelling:
            self._cancelled(job)
            return
        if stopping:
            self._put_back(job, "daemon stopping")
            return
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        self._failed_try(job, f"the worker process died ({how}) while restoring this file", 1)

    # -- the loop ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop claiming work and wind down (safe from a signal handler)."""
        self._stop_signals += 1
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def wake(self) -> None:
        """Make the loop look at the job table now: a cancel, retry or upload from another
        thread (thread-safe; does nothing once the daemon has stopped)."""
        with self._wake_lock, contextlib.suppress(OSError):
            if self._wake_w >= 0:
                os.write(self._wake_w, b".")

    def run(self) -> int:
        """Run until stopped; install SIGTERM/SIGINT handlers for that time (main thread)."""
        previous = {}

        def on_signal(signum: int, frame: Any) -> None:
            self._signals.append(signal.Signals(signum).name)
            self.request_stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
        try:
            return self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            # only now: the handler and the watcher's thread may write to it until here,
            # and a closed descriptor's number is reused by the next open() (the job table)
            with self._wake_lock:
                wake_w, self._wake_w = self._wake_w, -1
                for fd in (self._wake_r, wake_w):
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _run(self) -> int:
        o = self.options
        self._check_folders()
        self._take_lock()
        self.files.claim_staging()
        self.store = JobStore(self.state)
        job_log = _JobLogHandler(self.store)
        log.addHandler(job_log)
        watcher = Watcher(
            self.in_dir, settle=o.settle, rescan_every=o.poll, use_events=not o.polling
        )
        try:
            self._recover()
            event(
                "watch_started",
                in_dir=str(self.in_dir),
                out_dir=str(self.out_dir),
                state=str(self.state),
                workers=o.workers,
                pid=os.getpid(),
                instance=self.instance,
                mode="polling" if o.polling else "events",
            )
            watcher.start(self.wake)
            self.workers = [self._spawn() for _ in range(o.workers)]
            self._loop(watcher)
        finally:
            watcher.stop()
            self._shutdown()
            log.removeHandler(job_log)
            self.store.close()
            if self._lock_file is not None:
                self._lock_file.close()
        event("watch_stopped", exit_code=self._exit_code)
        return self._exit_code

    def _loop(self, watcher: Watcher) -> None:
        assert self.store is not None
        o = self.options
        last_beat = 0.0
        while True:
            stopping = self._begin_stop()
            if not stopping:
                for candidate in watcher.poll():
                    self._add(candidate)
            for handle in self.workers:
                exited = handle.proc.poll() is not None  # first: all it wrote is in the pipe
                self._read(handle)
                self._handle_messages(handle)
                if exited or handle.closed:
                    self._reap(handle)
                    handle.closed = True
            # only the handles reaped above leave; one that exits just now is reaped next pass
            self.workers = [h for h in self.workers if not h.closed]
            # a signal may have landed during this pass: its grace starts now, not at once
            stopping = self._begin_stop()
            if stopping:
                busy = [h for h in self.workers if h.job is not None]
                if not busy:
                    return
                assert self._stop_at is not None
                if self._stop_signals > 1 or time.monotonic() >= self._stop_at:
                    self._interrupt(busy)
                    return
            else:
                while len(self.workers) < o.workers:
                    self.workers.append(self._spawn())
                for handle in self.workers:
                    while (
                        handle.ready
                        and not handle.closed
                        and handle.job is None
                        and not self._stop_signals  # a signal just now: claim nothing more
                        and self._dispatch(handle)
                    ):
                        pass
            self._check_cancels()
            now = time.time()
            if now - last_beat >= 1.0:
                self.store.heartbeat(self.instance, now)
                last_beat = now
            self._wait(watcher, stopping)

    def _begin_stop(self) -> bool:
        """True once a stop was asked for; the first time, start the grace period."""
        while self._signals:
            event("stop_requested", signal=self._signals.pop(0))
        if self._stop_signals == 0:
            return False
        if self._stop_at is None:
            self._stop_at = time.monotonic() + self.options.grace
            busy = sum(h.job is not None for h in self.workers)
            event("stopping", running_jobs=busy, grace=self.options.grace)
        return True

    def _add(self, candidate: Candidate) -> None:
        assert self.store is not None
        job = self.store.add(
            str(candidate.path),
            candidate.size,
            candidate.mtime_ns,
            self._output_namer(candidate.path.name),
        )
        if job is not None:
            event("job_queued", id=job.id, path=job.path, size=job.size, output=job.output)

    def _wait(self, watcher: Watcher, stopping: bool) -> None:
        assert self.store is not None
        timeout = 1.0 if stopping else min(1.0, watcher.next_wakeup())
        due = self.store.next_due()
        if (
            due is not None
            and not stopping
            and any(h.ready and h.job is None for h in self.workers)
        ):
            timeout = min(timeout, max(0.0, due - time.time()))
        fds = [self._wake_r]
        fds += [h.proc.stdout.fileno() for h in self.workers if h.proc.stdout is not None]
        try:
            readable, _, _ = select.select(fds, [], [], max(timeout, 0.01))
        except InterruptedError:
            return
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_r, 4096):
                    pass

    def _interrupt(self, busy: list[_WorkerHandle]) -> None:
        """Stop the running jobs at once: SIGTERM (restore cleans up), then SIGKILL."""
        assert self.store is not None
        for handle in busy:
            with contextlib.suppress(ProcessLookupError):
                handle.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for handle in busy:
            try:
                handle.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                handle.proc.kill()
                handle.proc.wait()
            self._read(handle)
            self._handle_messages(handle)  # a job that finished just in time is committed
            if handle.job is not None:  # cancelled if that was asked for, else queued again
                job, handle.job = handle.job, None
                self._put_back(job, "daemon stopping")
            handle.closed = True

    def _shutdown(self) -> None:
        for handle in self.workers:
            if handle.proc.poll() is None:
                self._send(handle, {"type": "stop"})
                with contextlib.suppress(OSError):
                    assert handle.proc.stdin is not None
                    handle.proc.stdin.close()
        for handle in self.workers:
            try:
                handle.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                handle.proc.kill()
                handle.proc.wait()
            if handle.job is not None and self.store is not None:
                job, handle.job = handle.job, None
                self._put_back(job, "daemon stopping")
        self.workers = []
        if self.staging.is_dir() and (self.staging / STAGING_MARKER).exists():
            self.files.clear_staging(folders=False)  # a long film's segments resume next start
