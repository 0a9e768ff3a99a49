"""Atomic file output: write beside the target, rename into place only when complete.

Nothing half-written is ever seen at the target path, and an existing file is replaced only
when the caller allows it. Temporary files are created with the process umask (unlike
``tempfile.mkstemp``'s 0600), so results are as readable as any other file the user makes.
"""

from __future__ import annotations

import contextlib
import errno
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
    is untouched. The result has the umask's permissions (``0666 & ~umask``) even when the
    writer replaced the temporary file with its own (safetensors writes through a 0600
    ``mkstemp`` file and renames it)."""
    check_output_path(path, overwrite)
    tmp = new_temp(path)
    try:
        mode = os.stat(tmp).st_mode & 0o777  # 0666 & ~umask, as new_temp created it
        yield tmp
        if os.stat(tmp).st_mode & 0o777 != mode:
            os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_clobber(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _rename_no_clobber(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless something is there by then (another run, the user):
    a hard link fails atomically on an existing name, where a check before ``os.replace``
    would leave a gap."""
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise UsageError(
            f"{path}: appeared while writing; pass --overwrite to replace it"
        ) from None
    except OSError as exc:  # a filesystem without hard links (FAT, some network shares)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK, errno.EXDEV):
            raise
        if os.path.lexists(path):
            raise UsageError(
                f"{path}: appeared while writing; pass --overwrite to replace it"
            ) from None
        os.replace(tmp, path)


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
