"""The daemon's job queue as other threads see it: list, upload, retry, cancel.

``filmcolor serve`` runs a ``WatchService`` in its main thread and a web app in others;
the app goes through a ``JobQueue``, which opens one ``JobStore`` connection per thread on
the daemon's own database (WAL: readers never wait for the daemon) and moves files with the
same no-clobber rules as the daemon.

- **Upload** (``new_upload_path`` → ``submit``): the bytes go to a hidden ``.NAME.part`` in
  IN_DIR, which the watcher ignores (``watcher.ignored_reason``); the file is probed (a
  still image must read as one, a video must open with a video stream: the name alone
  proves nothing); the job row is added *held* (not due) under the final name with the
  file's size and mtime, then the file is renamed (no clobber) and the job released. So
  the watcher never sees a partial file, and when it does see the complete one its
  ``INSERT OR IGNORE`` finds this job already there.
- **Retry** (failed or cancelled jobs): the source comes back from the quarantine folder
  into IN_DIR (its ``.error.json`` removed) and the same job is queued again with its
  attempts reset, held while the file moves.
- **Cancel**: ``JobStore.cancel``; the daemon stops a running job's worker at its next pass
  (at once when the queue was given the daemon's ``wake``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import LimitsConfig
from ..errors import FilmcolorError, InputError
from ..media.kinds import is_image_path, is_video_path
from .files import place_new, same_version
from .jobs import Job, JobStore
from .logs import event, format_fields
from .presets import check_job_settings
from .watcher import ignored_reason, safe_join, unique_output_name

#: Characters kept in an uploaded file's name (others become ``_``).
_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,]")


class JobNotFound(LookupError):
    """No job with this id."""


class JobConflict(Exception):
    """The job is not in a state that allows this (its message says why and what to do)."""


def clean_upload_name(name: str) -> str:
    """A safe plain file name for an upload called ``name`` by the browser: the last path
    component, odd characters replaced, no leading dots; ``InputError`` when nothing usable
    is left or the name is not a still image or video name."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE.sub("_", base).lstrip(".").strip()[:200]
    if not base or base in (".", ".."):
        raise InputError("the upload has no usable file name; name it like film.mp4")
    if not (is_image_path(base) or is_video_path(base)):
        raise InputError(
            f"{base}: not a video or still image name (.mp4, .mkv, .mov, .png, .jpg, ...); "
            "rename it with its real extension"
        )
    if ignored_reason(base) is not None:
        raise InputError(f"{base}: {ignored_reason(base)}; rename it")
    return base


def probe_upload(path: Path, name: str, max_pixels: int | None = None) -> str:
    """Check that the file at ``path`` is what its name ``name`` says by opening it (and
    that its pictures are within ``max_pixels``, the daemon's limit): ``"image"`` or
    ``"video"``; ``InputError`` (saying what was found) otherwise."""
    from ..media.images import read_picture
    from ..media.probe import probe

    limit = LimitsConfig().max_pixels if max_pixels is None else max_pixels
    try:
        if is_image_path(name):
            read_picture(path, limit)
            return "image"
        probe(path, limit)
        return "video"
    except FilmcolorError as exc:
        kind = "still image" if is_image_path(name) else "video"
        raise InputError(f"{name}: does not open as a {kind} ({exc})") from None


class JobQueue:
    """The job table of one daemon, for threads other than the daemon's.

    ``in_dir``, ``out_dir``, ``failed_dir`` and ``done_dir`` as the ``WatchService``
    resolved them (the job paths are compared as strings); ``wake`` (``WatchService.wake``)
    makes the daemon act on an upload, retry or cancel at once rather than at its next
    look.
    """

    def __init__(
        self,
        state: Path,
        in_dir: Path,
        out_dir: Path,
        failed_dir: Path,
        done_dir: Path | None = None,
        presets_dir: Path | None = None,
        max_pixels: int | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.state = state
        self.in_dir = in_dir
        self.out_dir = out_dir
        self.failed_dir = failed_dir
        self.done_dir = done_dir
        self.presets_dir = presets_dir
        self.max_pixels = max_pixels
        self._wake = wake
        self._local = threading.local()
        #: One retry of a job at a time: two requests for it (a double click) must not
        #: both move its file back. A lock per job: moving a big file back takes a while.
        self._retrying: dict[int, threading.Lock] = {}
        self._retrying_guard = threading.Lock()

    @property
    def store(self) -> JobStore:
        """This thread's connection."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = JobStore(self.state)
        return store

    # -- reading -------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """Every job, newest first."""
        return list(reversed(self.store.all()))

    def job(self, job_id: int) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def logs(self, job_id: int) -> list[tuple[float, str, str]]:
        return self.store.logs(job_id)

    def source(self, job: Job) -> Path | None:
        """Where the job's source file is now (IN_DIR, ``--done`` or the quarantine), only
        if it is still the job's file version and inside one of those folders."""
        folders = [self.in_dir, self.failed_dir, *([self.done_dir] if self.done_dir else [])]
        for text in (job.path, job.moved_to):
            if not text:
                continue
            path = Path(text)
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            inside = any(real.is_relative_to(f.resolve()) for f in folders)
            if inside and same_version(real, job):
                return real
        return None

    def output(self, job: Job) -> Path | None:
        """The job's finished output in OUT_DIR, if it is done and the file is there."""
        if job.status != "done" or not job.output:
            return None
        path = safe_join(self.out_dir, job.output)
        return path if path.is_file() else None

    # -- uploads -------------------------------------------------------------------------

    def new_upload_path(self) -> Path:
        """A fresh hidden ``.part`` name in IN_DIR for an upload in progress."""
        return self.in_dir / f".upload-{uuid.uuid4().hex}.part"

    def submit(
        self, part: Path, name: str, look: str | None = None, preset: str | None = None
    ) -> Job:
        """Turn the complete upload ``part`` (in IN_DIR) into a queued job for the file
        ``name`` (see the module docstring). Removes ``part`` when it fails: ``InputError``
        (bad name or content), ``UsageError`` (unknown look or preset)."""
        try:
            clean = clean_upload_name(name)
            settings = check_job_settings(look, preset, self.presets_dir)
            probe_upload(part, clean, self.max_pixels)
            return self._place(part, clean, settings)
        finally:
            with contextlib.suppress(OSError):
                part.unlink()

    def _place(self, part: Path, name: str, settings: dict[str, str] | None) -> Job:
        st = part.stat()
        stem, ext = Path(name).stem, Path(name).suffix
        for k in range(1, 10_000):
            final = self.in_dir / (name if k == 1 else f"{stem}-{k}{ext}")
            if os.path.lexists(final):
                continue
            job = self.store.add(
                str(final),
                st.st_size,
                st.st_mtime_ns,
                lambda job_id, taken, src=final.name: unique_output_name(
                    src, job_id, taken, self.out_dir
                ),
                settings=json.dumps(settings) if settings else None,
                hold=True,
            )
            if job is None:  # an old job of this exact path, size and mtime
                continue
            try:
                os.link(part, final, follow_symlinks=False)  # no clobber
            except FileExistsError:
                self.store.delete(job.id)
                continue
            except OSError:
                self.store.delete(job.id)
                raise
            self._event("job_uploaded", job.id, path=str(final), size=st.st_size)
            return self._woken(self.store.release(job.id))
        raise OSError(f"{self.in_dir}: no free name for {name}")

    # -- retry and cancel ----------------------------------------------------------------

    def retry(self, job_id: int) -> Job:
        """Queue a failed or cancelled job again (moving its source back from the
        quarantine). ``JobConflict`` when the job is in another state or its file is gone."""
        with self._retrying_guard:
            lock = self._retrying.setdefault(job_id, threading.Lock())
        with lock:
            return self._woken(self._retry(job_id))

    def _retry(self, job_id: int) -> Job:
        job = self.job(job_id)
        if job.status not in ("failed", "cancelled"):
            raise JobConflict(f"job {job_id} is {job.status}; only failed or cancelled jobs retry")
        source = self.source(job)
        if source is None:
            raise JobConflict(
                f"job {job_id}: its file is gone from the watch and quarantine folders; "
                "upload it again"
            )
        if source.parent == self.in_dir.resolve():
            job = self.store.reopen(job.id, job.path)
        else:
            job = self._move_back(job, source)
        self._event("job_retried", job.id, path=job.path)
        return self.store.release(job.id)

    def _woken(self, job: Job) -> Job:
        if self._wake is not None:
            self._wake()
        return job

    def _move_back(self, job: Job, source: Path) -> Job:
        """Move a quarantined source back into IN_DIR under a free name and reopen its job
        (the row first, held, so the watcher's sight of the file finds this job)."""
        name = Path(job.path).name
        stem, ext = Path(name).stem, Path(name).suffix
        for k in range(1, 10_000):
            final = self.in_dir / (name if k == 1 else f"{stem}-{k}{ext}")
            if os.path.lexists(final):
                continue
            try:
                reopened = self.store.reopen(job.id, str(final))
            except sqlite3.IntegrityError:  # another job holds this path, size and mtime
                continue
            if not place_new(source, final):  # a copy keeps the mtime: the job's key
                continue
            source.unlink()
            with contextlib.suppress(OSError):
                source.with_name(source.name + ".error.json").unlink()
            return reopened
        raise OSError(f"{self.in_dir}: no free name for {name}")

    def cancel(self, job_id: int) -> Job:
        """Cancel a queued or running job; ``JobConflict`` in any other state."""
        job = self.job(job_id)
        cancelled = self.store.cancel(job_id)
        if cancelled is None:
            raise JobConflict(f"job {job_id} is {job.status}; only queued or running jobs cancel")
        if cancelled.status == "cancelled":
            self._event("job_cancelled", job.id, path=job.path)
        else:
            self._event("job_cancel_requested", job.id, path=job.path)
        return self._woken(cancelled)

    def _event(self, name: str, job_id: int, **fields: Any) -> None:
        """Log a daemon event and keep it in the job's log (as the daemon does its own)."""
        event(name, id=job_id, **fields)
        self.store.add_log(job_id, "info", format_fields(name, {"id": job_id, **fields}))

    def clear_stale_uploads(self) -> int:
        """Remove the ``.upload-*.part`` files that uploads cut short by a stopped server
        left in IN_DIR (call before serving); returns how many."""
        count = 0
        for path in self.in_dir.glob(".upload-*.part"):
            with contextlib.suppress(OSError):
                path.unlink()
                count += 1
        return count

    def close(self) -> None:
        """Close this thread's connection."""
        store = getattr(self._local, "store", None)
        if store is not None:
            store.close()
            self._local.store = None


def job_view(job: Job) -> dict[str, Any]:
    """A job as the JSON API shows it: ids and names only, never a path outside its name."""
    settings = json.loads(job.settings) if job.settings else None
    report = json.loads(job.report) if job.report else None
    return {
        "id": job.id,
        "input": Path(job.path).name,
        "output": job.output,
        "state": job.status,
        "progress": job.progress,
        "fps": job.fps,
        "eta_seconds": job.eta if job.status == "running" else None,
        "error": job.last_error if job.status != "done" else None,
        "exit_code": job.exit_code,
        "attempts": job.attempts,
        "size": job.size,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "settings": settings,
        "report": report,
        "quarantined": job.moved_to is not None and job.status == "failed",
        "cancel_requested": bool(job.cancel_requested),
    }
