"""The work folder of a segmented run: its manifest (resume), finished parts and lock."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..atomic import pid_alive
from ..config import RestoreConfig
from ..errors import UsageError
from ..media.sequence import ImageSequence
from .plan import Segment

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def default_work_dir(dst: Path) -> Path:
    return dst.parent / f".{dst.name}.filmcolor-work"


def run_identity(src: Path | ImageSequence, config: RestoreConfig) -> dict[str, Any]:
    """What must match for a previous run's segments (or frames) to be reused."""
    settings = picture_settings(config)
    if isinstance(src, ImageSequence):
        return {**src.identity(), "settings": settings}
    stat = src.stat()
    return {
        "input": str(src.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "settings": settings,
    }


def picture_settings(config: RestoreConfig) -> dict[str, Any]:
    """The settings of ``config`` that change the pictures, as JSON values."""
    settings = config.to_dict()
    # how and where it runs does not change the pictures
    settings.pop("overwrite", None)
    settings.pop("sequence", None)  # a folder with --sequence or its pattern: the same film
    settings.pop("limits", None)  # a limit refuses a run or lets it be, it never changes it
    settings["segments"] = {"overlap_frames": config.segments.overlap_frames}
    settings["colorize"].pop("device", None)
    settings["colorize"].pop("batch_size", None)
    settings["colorize"].pop("compile", None)
    return json.loads(json.dumps(settings, default=str))  # type: ignore[no-any-return]


#: The file that marks a work folder as filmcolor's own; only a marked folder is ever
#: cleaned, and only of the files filmcolor writes there.
WORK_MARKER = ".filmcolor-work"
_OWN_FILE = re.compile(
    r"(manifest\.json(\.tmp)?|lock|\.filmcolor-work\.tmp|part-\d{5}\.[A-Za-z0-9]+|\.part-\d{5}\.[0-9a-f]+\.part\.[A-Za-z0-9]+)"
)


class WorkDir:
    """The work folder of one segmented run: the manifest, the finished parts, a lock.

    The folder is filmcolor's own: made by it (or an empty folder it was given), marked by
    ``WORK_MARKER``. ``claim`` refuses a folder that holds the input, the output or anybody
    else's files; ``clean`` removes only what filmcolor wrote there, and the folder itself
    only when filmcolor made it. Paths are resolved, so every spelling of one folder (links,
    ``..``) shares one lock and one manifest.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        self.manifest_path = self.path / MANIFEST
        self._lock = self.path / "lock"
        self._marker = self.path / WORK_MARKER
        self.data: dict[str, Any] = {}

    def part(self, segment: Segment, suffix: str) -> Path:
        return self.path / f"part-{segment.index:05d}{suffix}"

    def claim(self, src: Path, dst: Path, *, default: bool) -> None:
        """Make or adopt the folder as a work folder, or refuse it with a ``UsageError``.

        Refused: a file; a folder that holds the input or the output (at any depth); a
        non-empty folder without filmcolor's marker, except the default work folder of an
        earlier filmcolor version (``default``) when it holds only filmcolor's own files.
        """
        path, name = self.path, f"--work-dir {self.path}"
        if path.exists() and not path.is_dir():
            raise UsageError(f"{name}: is a file; give a folder for the segments")
        for role, inside in (("the input", src), ("the output", dst)):
            where = Path(str(inside)).absolute().parent.resolve()
            if where == path or path in where.parents:
                raise UsageError(
                    f"{name}: holds {role} ({inside}); a work folder is filmcolor's own and "
                    "is emptied after the run: give a new or empty folder elsewhere"
                )
        if path.is_dir() and not self._marker.is_file():
            entries = [e.name for e in path.iterdir()]
            leftover = default and entries and all(_OWN_FILE.fullmatch(e) for e in entries)
            if entries and not leftover:
                raise UsageError(
                    f"{name}: holds files filmcolor did not make ({sorted(entries)[0]}, ...); "
                    "give a new or empty folder, since a work folder is emptied after the run"
                )
            created = bool(leftover)
        elif path.is_dir():
            return  # ours: an earlier run of this or another film
        else:
            path.mkdir(parents=True)
            created = True
        tmp = path / f"{WORK_MARKER}.tmp"
        tmp.write_text(json.dumps({"filmcolor": "segment work folder", "created": created}))
        os.replace(tmp, self._marker)

    def clean(self) -> list[str]:
        """Remove what filmcolor wrote here (manifest, parts, lock, marker), then the folder
        if filmcolor made it and nothing else is left. Returns warnings (files left)."""
        try:
            created = bool(json.loads(self._marker.read_text()).get("created"))
        except (OSError, ValueError, AttributeError):
            return [f"{self.path}: the work folder lost its marker; it was left as it is"]
        for entry in self.path.iterdir():
            if _OWN_FILE.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)
        others = [e.name for e in self.path.iterdir() if e.name != WORK_MARKER]
        if others:
            return [f"{self.path}: left the work folder in place: it holds {sorted(others)[0]}"]
        self._marker.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                self.path.rmdir()
        return []

    def remove_stale_parts(self, keep: set[str]) -> None:
        """Delete the parts of an earlier run that will not be reused (``keep``: the paths
        of those that will)."""
        names = {Path(k).name for k in keep}
        for entry in self.path.iterdir():
            own = _OWN_FILE.fullmatch(entry.name) and entry.name.lstrip(".").startswith("part-")
            if own and entry.name not in names and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Refuse a second run on the same work folder while this one is alive."""
        for _ in range(2):
            try:
                fd = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if _lock_alive(self._lock):
                    raise UsageError(
                        f"{self.path}: another filmcolor run is using this work folder; wait "
                        "for it, or remove the folder if that run is gone"
                    ) from None
                self._lock.unlink(missing_ok=True)  # left by a run that died
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            break
        try:
            yield
        finally:
            self._lock.unlink(missing_ok=True)

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def save(self) -> None:
        tmp = self.manifest_path.with_name(MANIFEST + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        os.replace(tmp, self.manifest_path)


def _lock_alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        return False
    return pid == os.getpid() or pid_alive(pid)
