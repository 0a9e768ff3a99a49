"""``filmcolor watch``: a watch-folder daemon that never loses, duplicates or half-writes a job.

- ``watcher``: finds new files in IN_DIR (inotify events through watchdog, plus a periodic
  full rescan; rescan only with ``polling``), waits until each is stable, filters names.
- ``jobs``: the job table in SQLite (WAL), the single source of truth; atomic claims.
- ``worker``: the process that runs the restore pipeline for one job at a time; it dies with
  its daemon (``PR_SET_PDEATHSIG`` plus a parent-pid watch).
- ``service``: the daemon itself: start-up recovery, scheduling, retries with backoff,
  clean stop on SIGTERM/SIGINT.
- ``files``: the staging folder and the no-clobber moves: atomic commit of outputs into
  OUT_DIR, sources to ``--done``, quarantine to ``--failed``.
- ``logs``: one structured event per log line (plain or JSON).
- ``queue``: the job queue as other threads see it (``filmcolor serve``): uploads put in
  place without the watcher ever seeing a partial file, retry, cancel.
- ``presets``: a job's own look or named preset over the daemon's settings.

Nothing here imports click or rich, and nothing prints: events go through ``logging``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Job", "JobStore", "WatchOptions", "WatchService", "default_state_path"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``python -m filmcolor.daemon.worker`` does not import the worker
    # module twice (through the service) before running it.
    if name in ("Job", "JobStore"):
        from . import jobs

        return getattr(jobs, name)
    if name in ("WatchOptions", "WatchService", "default_state_path"):
        from . import service

        return getattr(service, name)
    raise AttributeError(f"module 'filmcolor.daemon' has no attribute {name!r}")
