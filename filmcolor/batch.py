"""``filmcolor batch``: the files of a folder restored on a Ray cluster, one task per file.

Each task runs ``filmcolor.restore`` on one file (a long film is segmented on its worker, in
its own work folder); the connection, task options, retries and failures are those of
``filmcolor.cluster``. Files, order and output names are those of a local folder run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from .cluster import (
    ClusterError,
    TaskFailure,
    _check_address,
    _import_ray,
    _shared_paths,
    _task_options,
    _wait_all,
    _worker_colorizer,
    connect,
)
from .config import RestoreConfig
from .errors import FilmcolorError, UsageError
from .facade import folder_plan, restore
from .report import FolderReport, Progress, ProgressCallback, RestoreReport

log = logging.getLogger(__name__)


def _file_task(src: str, out: str, config: RestoreConfig) -> RestoreReport | TaskFailure:
    """One file of a batch, on a worker (``restore.restore``, segmented locally when long)."""
    try:
        model = _worker_colorizer(config)
        result = restore(Path(src), Path(out), config, colorizer=model)
    except FilmcolorError as exc:
        return TaskFailure.of(exc)
    return result  # type: ignore[return-value]  # a file gives a RestoreReport


def batch_plan(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """The (input, output) pairs of a folder run: the same files, order and output names as
    ``restore.restore_folder``."""
    if not src.is_dir():
        raise UsageError(f"{src}: batch takes a folder; restore one file with 'filmcolor restore'")
    return folder_plan(src, dst)


def restore_batch(
    src_dir: str | os.PathLike[str],
    dst_dir: str | os.PathLike[str],
    config: RestoreConfig,
    address: str,
    progress: ProgressCallback | None = None,
) -> FolderReport:
    """Restore every file of the folder ``src_dir`` into ``dst_dir``, one Ray task per file
    on the cluster at ``address``.

    Files, order and output names are those of a local folder run (``restore_folder``); a
    file that fails is recorded in the report's ``failed`` (with its exit code) and the
    others still finish. ``progress`` gets one ``finished`` report per file as it is done.
    Both folders must be on storage every node reaches under the same path.
    """
    _check_address(address)
    _import_ray()
    src, dst = Path(src_dir), Path(dst_dir)
    plan = batch_plan(src, dst)
    # each file runs on one worker; a long one is segmented there, in its own work folder
    segments = dataclasses.replace(config.segments, cluster=None, work_dir=None)
    file_config = _shared_paths(dataclasses.replace(config, segments=segments))
    report = FolderReport(input=str(src), output=str(dst))
    results: dict[int, RestoreReport] = {}
    failed: dict[int, dict[str, Any]] = {}
    with connect(address) as cluster:
        dst.mkdir(parents=True, exist_ok=True)
        ray = _import_ray()
        options, device = _task_options(file_config, cluster)
        file_config = dataclasses.replace(
            file_config, colorize=dataclasses.replace(file_config.colorize, device=device)
        )
        task = ray.remote(_file_task).options(**options)
        config_ref = ray.put(file_config)
        refs = {
            task.remote(str(path.resolve()), str(out.resolve()), config_ref): (i, path)
            for i, (path, out) in enumerate(plan)
        }

        def fail(job: tuple[int, Path], message: str, exit_code: int) -> None:
            i, path = job
            failed[i] = {"input": str(path), "error": message, "exit_code": exit_code}
            log.warning("skipped %s: %s", path, message)

        def finished(job: tuple[int, Path], value: RestoreReport | TaskFailure) -> None:
            if isinstance(value, TaskFailure):
                fail(job, value.message, value.exit_code)
                return
            i, path = job
            results[i] = value
            if progress is not None:
                frames = value.frames_out
                progress(Progress(str(path), frames, frames, value.fps, True))

        def lost(job: tuple[int, Path], error: ClusterError) -> None:
            fail(job, str(error), error.exit_code)

        _wait_all(ray, refs, finished, lost)
    report.files = [results[i] for i in sorted(results)]
    report.failed = [failed[i] for i in sorted(failed)]
    return report
