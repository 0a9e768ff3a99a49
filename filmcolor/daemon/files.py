"""Where a job's files live and move: the staging folder, OUT_DIR, ``--done`` and ``--failed``.

Results reach OUT_DIR, and sources ``--done`` or ``--failed``, by no-clobber renames (a hard
link, then an unlink; a copy across filesystems): a name already taken is never replaced.
The staging folder is the daemon's own (``STAGING_MARKER``) and only what workers leave
there is ever removed from it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
from pathlib import Path

from ..errors import UsageError
from .jobs import Job, JobStore
from .logs import event
from .watcher import safe_join, unique_output_name

#: Marks a staging folder as the daemon's own.
STAGING_MARKER = ".filmcolor-staging"
#: What workers leave in staging: ``JOBID-NAME`` results, restore's hidden temporary files
#: and segment work folders beside them.
STAGED = re.compile(r"\.?\d+-.+")


def place_new(src: Path, dst: Path) -> bool:
    """Give ``dst`` the contents of ``src`` unless ``dst`` is taken (then False): an atomic
    no-clobber hard link where the filesystem allows one, else a copy that keeps the mtime.
    ``src`` stays; the caller removes it once the rest of its move is done."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
            raise
        shutil.copy2(src, dst)
    return True


def move_unique(src: Path, folder: Path) -> Path:
    """Move ``src`` into ``folder`` without replacing anything: ``NAME``, else ``STEM-2``,
    ``STEM-3``… (``place_new``, then an unlink)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, ext = src.stem, src.suffix
    for k in range(1, 10_000):
        dst = folder / (src.name if k == 1 else f"{stem}-{k}{ext}")
        if os.path.lexists(dst) or not place_new(src, dst):
            continue
        src.unlink()
        return dst
    raise OSError(f"{folder}: no free name for {src.name}")


def same_version(path: Path, job: Job) -> bool:
    """Whether ``path`` (a symlink: its target) is still the file version of ``job``."""
    try:
        st = path.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (job.size, job.mtime_ns)


class JobFiles:
    """The folders of one daemon and the moves between them."""

    def __init__(
        self, staging: Path, out_dir: Path, done_dir: Path | None, failed_dir: Path
    ) -> None:
        self.staging = staging
        self.out_dir = out_dir
        self.done_dir = done_dir
        self.failed_dir = failed_dir

    def claim_staging(self) -> None:
        """Make the staging folder, or take over this daemon's own; refuse anybody else's."""
        marker = self.staging / STAGING_MARKER
        if self.staging.is_dir() and not marker.exists():
            others = sorted(e.name for e in self.staging.iterdir())
            if others:
                raise UsageError(
                    f"{self.staging}: holds files filmcolor did not make ({others[0]}, ...); "
                    "move them away or give another --state"
                )
        elif self.staging.exists() and not self.staging.is_dir():
            raise UsageError(f"{self.staging}: is a file; move it away or give another --state")
        self.staging.mkdir(parents=True, exist_ok=True)
        marker.touch()

    def clear_staging(self, folders: bool = True) -> None:
        """Remove what workers left in staging (results not committed, temporary files and,
        with ``folders``, segment work folders); nothing else."""
        for entry in self.staging.iterdir():
            if not STAGED.fullmatch(entry.name):
                continue
            if entry.is_dir() and not entry.is_symlink():
                if folders:
                    shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()

    def commit(self, store: JobStore, job: Job) -> bool:
        """Move the staged output into OUT_DIR (no clobber), the source to --done, and mark
        the job done. False (nothing moved) when the staged output went missing first."""
        assert job.output is not None
        staged = self.staging / f"{job.id}-{job.output}"
        final = safe_join(self.out_dir, job.output)
        if staged.exists() and final.exists() and os.path.samefile(staged, final):
            staged.unlink()  # the daemon died between the link and the unlink
        if staged.exists():
            name = job.output
            while True:
                try:
                    os.link(staged, final)
                    break
                except FileExistsError:  # a foreign file took the name meanwhile
                    name = unique_output_name(name, job.id, store.output_taken, self.out_dir)
                    job = store.set_output(job.id, name)
                    final = safe_join(self.out_dir, name)
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                        raise
                    if final.exists():
                        raise
                    os.replace(staged, final)
                    break
            staged.unlink(missing_ok=True)
        elif not final.exists():
            return False
        moved = None
        source = Path(job.path)
        if self.done_dir is not None and same_version(source, job):
            moved = str(move_unique(source, self.done_dir))
        job = store.finish(job.id, moved)
        event(
            "job_done",
            id=job.id,
            path=job.path,
            output=str(final),
            attempts=job.attempts,
            seconds=round((job.finished or 0) - (job.started or 0), 3),
            moved_to=moved,
        )
        return True

    def quarantine(self, store: JobStore, job: Job) -> None:
        """Move a failed job's source to --failed with ``NAME.error.json`` beside it."""
        source = Path(job.path)
        moved: Path | None = None
        if same_version(source, job):
            try:
                moved = move_unique(source, self.failed_dir)
            except OSError as exc:
                event("quarantine_failed", logging.ERROR, id=job.id, path=job.path, error=str(exc))
        sidecar = {
            "path": job.path,
            "moved_to": str(moved) if moved else None,
            "error": job.last_error,
            "exit_code": job.exit_code,
            "attempts": job.attempts,
            "size": job.size,
            "mtime_ns": job.mtime_ns,
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
            "job_id": job.id,
        }
        if moved is not None:
            side = moved.with_name(moved.name + ".error.json")
            tmp = side.with_name(f".{side.name}.part")
            tmp.write_text(
                json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            os.replace(tmp, side)
            store.set_moved(job.id, str(moved))
        event(
            "job_failed",
            logging.ERROR,
            id=job.id,
            path=job.path,
            attempts=job.attempts,
            error=job.last_error,
            exit_code=job.exit_code,
            moved_to=str(moved) if moved else None,
        )
