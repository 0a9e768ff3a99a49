"""Find files dropped into IN_DIR and hand them over once they are completely written.

- **Where**: files directly inside IN_DIR only (no recursion, as a folder ``restore``), so
  subfolders such as the default ``IN_DIR/failed`` are never entered.
- **How**: inotify events through watchdog's ``Observer`` wake the daemon early, and a full
  rescan runs every ``rescan_every`` seconds whatever the events say (events can be lost,
  e.g. on overflow). With ``use_events=False`` (``--polling``, for network filesystems where
  inotify sees nothing) only the rescans run.
- **Stable**: a file is ready once its size and mtime have not changed for ``settle``
  seconds (measured by this process, whatever the mtime says) and its size is above 0.
- **Ignored names**: dotfiles (``.name``), temporary names (``.part``, ``.tmp``,
  ``.crdownload``, ``.partial``, ``.download``, ``.swp``, ``~`` at the end), anything that is
  not a still image or video by extension, names that are not valid UTF-8 (rename them), and
  anything that is not a regular file.
- **Symlinks**: followed only when the target resolves inside IN_DIR (the job then reads the
  resolved target); a link pointing outside IN_DIR is ignored and logged once.

The "opens as media" check is the job's first step (``probe``/image decoding in the worker),
so a corrupt file fails like any other job: retried with backoff, then quarantined.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..media.kinds import folder_output_name, is_image_path, is_video_path
from .logs import event

#: Name endings of files still being written by some tool.
TEMP_SUFFIXES = (".part", ".tmp", ".temp", ".crdownload", ".partial", ".download", ".swp", "~")


def ignored_reason(name: str) -> str | None:
    """Why a file called ``name`` is never taken, or None when it may be."""
    if name.startswith("."):
        return "hidden file"
    lower = name.lower()
    if lower.endswith(TEMP_SUFFIXES):
        return "temporary name"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not valid UTF-8; rename it"
    if "\n" in name or "\r" in name:
        return "name holds a line break; rename it"
    if not (is_image_path(name) or is_video_path(name)):
        return "not an image or video extension"
    return None


def output_name(src_name: str) -> str:
    """The output name of a source called ``src_name``: restore's folder-run policy
    (``media.kinds.folder_output_name``)."""
    return folder_output_name(src_name)


def check_output_name(name: str) -> str:
    """``name`` if it is one plain file name that stays inside its folder; ValueError
    otherwise (no separators, no ``.``/``..``, not hidden, no NUL)."""
    if (
        not name
        or name in (".", "..")
        or name.startswith(".")
        or "/" in name
        or "\0" in name
        or (os.sep != "/" and os.sep in name)
        or Path(name).name != name
    ):
        raise ValueError(f"unsafe output name {name!r}")
    return name


def safe_join(folder: Path, name: str) -> Path:
    """``folder / name`` after checking that the result cannot leave ``folder``."""
    path = folder / check_output_name(name)
    if path.parent != folder:
        raise ValueError(f"output name {name!r} escapes {folder}")
    return path


def unique_output_name(
    src_name: str, job_id: int, taken: Callable[[str], bool], out_dir: Path | None = None
) -> str:
    """The output name for job ``job_id``: ``output_name(src_name)``, or when another job
    holds it (``taken``) or a file of that name is already in ``out_dir``,
    ``STEM-JOBID.EXT`` (then ``STEM-JOBID-2.EXT``, ``-3``…). Deterministic: the same job id
    and the same state give the same name; the name is recorded in the job table."""
    base = check_output_name(output_name(src_name))
    stem, ext = Path(base).stem, Path(base).suffix

    def free(name: str) -> bool:
        return not taken(name) and not (out_dir is not None and os.path.lexists(out_dir / name))

    if free(base):
        return base
    for k in range(1, 10_000):
        name = f"{stem}-{job_id}{ext}" if k == 1 else f"{stem}-{job_id}-{k}{ext}"
        if free(name):
            return check_output_name(name)
    raise ValueError(f"no free output name for {src_name!r}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file that is ready: ``path`` as found in IN_DIR (the job key), ``target`` the
    file to read (``path`` itself, or a symlink's resolved target inside IN_DIR)."""

    path: Path
    target: Path
    size: int
    mtime_ns: int


class Watcher:
    """Track the files of ``in_dir`` until they are stable; ``poll()`` returns the ready ones.

    Each file version is returned once per Watcher (the job table deduplicates across
    restarts). ``wake`` is called from watchdog's thread when an event arrives.
    """

    def __init__(
        self,
        in_dir: Path,
        *,
        settle: float,
        rescan_every: float,
        use_events: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.in_dir = Path(in_dir).absolute()
        self.in_real = self.in_dir.resolve()
        self.settle = settle
        self.rescan_every = rescan_every
        self.use_events = use_events
        self.clock = clock
        self._pending: dict[str, tuple[int, int, float]] = {}
        self._emitted: dict[str, tuple[int, int]] = {}
        self._noted: set[tuple[str, str]] = set()
        self._events: set[str] = set()
        self._lock = threading.Lock()
        self._last_scan: float | None = None
        self._observer: Any = None

    # -- inotify through watchdog --------------------------------------------------------

    def start(self, wake: Callable[[], None]) -> None:
        """Start the event observer (if ``use_events``); falls back to rescans alone."""
        if not self.use_events:
            return
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            event("watch_events_unavailable", logging.WARNING, reason="watchdog not installed")
            return
        watcher = self

        class Handler(FileSystemEventHandler):  # type: ignore[misc]
            def on_any_event(self, ev: Any) -> None:
                names = []
                for attr in ("src_path", "dest_path"):
                    raw = getattr(ev, attr, None)
                    if raw:
                        path = Path(os.fsdecode(raw))
                        if path.parent == watcher.in_dir:
                            names.append(path.name)
                if names:
                    with watcher._lock:
                        watcher._events.update(names)
                    wake()

        try:
            observer = Observer()
            observer.schedule(Handler(), str(self.in_dir), recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit reached
            event("watch_events_unavailable", logging.WARNING, reason=str(exc))
            return
        self._observer = observer

    def stop(self) -> None:
        """Stop the event observer."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    # -- scanning ------------------------------------------------------------------------

    def next_wakeup(self) -> float:
        """Seconds until ``poll()`` has something to do without an event."""
        if self._last_scan is None:
            return 0.0
        now = self.clock()
        due = [self._last_scan + self.rescan_every - now]
        for _, _, since in self._pending.values():
            left = since + self.settle - now
            # overdue (an empty file): look again after another settle period
            due.append(left if left > 0 else max(self.settle, 0.05))
        return max(0.0, min(due))

    def _note(self, name: str, reason: str) -> None:
        if (name, reason) not in self._noted:
            self._noted.add((name, reason))
            event("file_ignored", logging.INFO, path=str(self.in_dir / name), reason=reason)

    def examine(self, name: str) -> Candidate | None:
        """Stat one name of IN_DIR: a Candidate (not yet judged stable) or None."""
        reason = ignored_reason(name)
        path = self.in_dir / name
        if reason is not None:
            quiet = reason in ("hidden file", "temporary name") or path.is_dir()
            if not quiet:
                self._note(name, reason)
            return None
        try:
            if path.is_symlink():
                target = path.resolve(strict=True)
                if not target.is_relative_to(self.in_real):
                    self._note(name, "symlink points outside the watch folder")
                    return None
            else:
                target = path
            st = os.stat(target, follow_symlinks=False)
        except (OSError, RuntimeError):  # gone, dangling link, loop
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return Candidate(path=path, target=target, size=st.st_size, mtime_ns=st.st_mtime_ns)

    def _names(self) -> Iterable[str]:
        try:
            with os.scandir(self.in_dir) as it:
                return [entry.name for entry in it]
        except OSError as exc:
            event("scan_failed", logging.WARNING, path=str(self.in_dir), error=str(exc))
            return []

    def poll(self) -> list[Candidate]:
        """Rescan when due, look at the names events reported and at the files still
        settling; return the files that just became ready."""
        now = self.clock()
        with self._lock:
            names = set(self._events)
            self._events.clear()
        names.update(self._pending)
        if self._last_scan is None or now - self._last_scan >= self.rescan_every:
            self._last_scan = now
            names.update(self._names())
        ready = []
        for name in sorted(names):
            found = self.examine(name)
            if found is None:
                self._pending.pop(name, None)
                self._emitted.pop(name, None)
                continue
            key = (found.size, found.mtime_ns)
            if self._emitted.get(name) == key:
                self._pending.pop(name, None)
                continue
            seen = self._pending.get(name)
            if seen is None or seen[:2] != key:
                self._pending[name] = (*key, now)
                continue
            if found.size > 0 and now - seen[2] >= self.settle:
                del self._pending[name]
                self._emitted[name] = key
                ready.append(found)
        return ready
