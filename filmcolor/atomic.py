"""Atomic file output: write beside the target, rename into place only when complete.

Nothing half-written is ever seen at the target path, and an existing file is replaced only
when the caller allows it. Temporary files are created with the process umask (unlike
``tempfile.mkstemp``'s 0600), so results are as readable as any other file the user makes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from .errors import UsageError


def check_output_path(path: Path, overwrite: bool) -> None:
    """``UsageError`` if ``path`` exists (without ``overwrite``) or its folder does not."""
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise UsageError(f"{path}: already exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent}: output folder does not exist; create it first")


def new_temp(path: Path) -> Path:
    """Create an empty temporary file beside ``path`` (same extension) and return it."""
    for _ in range(100):
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.part{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise OSError(f"cannot create a temporary file beside {path}")


@contextlib.contextmanager
def atomic_output(path: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same extension); rename it onto ``path`` when
    the block succeeds. On any error or interrupt the temporary file is removed and ``path``
    is untouched."""
    check_output_path(path, overwrite)
    tmp = new_temp(path)
    try:
        yield tmp
        if path.exists() and not overwrite:
            raise UsageError(f"{path}: appeared while writing; pass --overwrite to replace it")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a zombie has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return not stat.rsplit(")", 1)[-1].strip().startswith("Z")
