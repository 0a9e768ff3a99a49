"""The worker process of ``filmcolor watch``: runs the restore pipeline, one job at a time.

Started by the daemon as ``python -m filmcolor.daemon.worker --daemon-pid PID --state DB``
(a fresh interpreter, like multiprocessing's "spawn": no fork of a process holding torch or
threads; the command line names the module and the state file, so a restarted daemon can
recognise a leftover worker in ``/proc/PID/cmdline``).

It never outlives its daemon:

- ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux): the kernel kills it when the daemon dies,
  even by ``kill -9``; the daemon starts workers from its main thread only, because the
  signal follows the thread that started the child;
- a thread checks every 0.2 s that its parent is still ``--daemon-pid`` and exits if not
  (also covers the start-up race, and systems without prctl);
- the daemon records its pid in the job table, and a restarted daemon waits out or kills a
  worker it finds still alive before it requeues that job.

Protocol: JSON lines. The daemon writes to the worker's stdin ``{"type": "init",
"config": B64, "threads": N}`` (a pickled ``RestoreConfig``; torch CPU threads, or null)
then ``{"type": "job", "id", "src", "dst", "settings"}`` messages (``settings``: null, or the
job's own ``{"look": NAME}`` / ``{"preset": PATH.toml}``, see ``presets.job_config``); the
worker answers on its own pipe (the original stdout; fd 1 is pointed at stderr so a stray
print cannot break the protocol) ``{"type": "ready"}`` or ``{"type": "fatal", "error",
"exit_code"}`` after loading the model, ``{"type": "progress", "id", "done", "total", "fps"}``
about twice a second while a job runs, then one ``{"type": "result", "id", "ok", ...}`` per
job (with its ``report`` when it succeeded). SIGTERM interrupts the running job
(restore removes its temporary file) and ends the worker; SIGINT is ignored (the daemon
decides when workers stop). Stdin closing ends it too.
"""

from __future__ import annotations

import base64
import ctypes
import json
import logging
import os
import pickle
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: The marker a daemon looks for in ``/proc/PID/cmdline``.
WORKER_MODULE = "filmcolor.daemon.worker"
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Make this process die when ``parent_pid`` (its parent) does."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the parent-pid thread below still works
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(70)

    def watch() -> None:
        while True:
            time.sleep(0.2)
            if os.getppid() != parent_pid:
                os._exit(70)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def encode_config(config: Any) -> str:
    """A ``RestoreConfig`` as text for the init message."""
    return base64.b64encode(pickle.dumps(config)).decode("ascii")


class _Worker:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.config: Any = None
        self.colorizer: Any = None
        self._last_progress = 0.0
        #: Models of presets that name their own weights or model settings, kept for reuse.
        self._colorizers: dict[Any, Any] = {}
        #: SIGTERM came. Its KeyboardInterrupt can be lost (one raised while Python runs a
        #: finalizer is only printed), so each progress report raises it again.
        self.terminating = False

    def send(self, **message: Any) -> None:
        self.out.write(json.dumps(message, ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    def init(self, message: dict[str, Any]) -> None:
        from ..errors import FilmcolorError
        from ..model.colorizer import Colorizer

        threads = message.get("threads")
        if threads:  # several workers share the CPU cores instead of each taking all
            import torch

            torch.set_num_threads(int(threads))
        # the daemon's own process wrote it, over a pipe only it holds
        self.config = pickle.loads(base64.b64decode(message["config"]))
        try:
            self.colorizer = Colorizer(self.config.weights, self.config.colorize)
        except FilmcolorError as exc:
            self.send(type="fatal", error=str(exc), exit_code=exc.exit_code)
            raise SystemExit(exc.exit_code) from None
        self.send(type="ready", pid=os.getpid())

    def run_job(self, message: dict[str, Any]) -> None:
        import dataclasses

        from ..errors import FilmcolorError
        from ..facade import restore
        from ..model.colorizer import Colorizer
        from .presets import job_config

        job_id = message["id"]
        t0 = time.time()

        def progress(p: Any) -> None:
            if self.terminating:
                raise KeyboardInterrupt
            now = time.monotonic()
            if now - self._last_progress >= 0.5 or p.finished:
                self._last_progress = now
                self.send(
                    type="progress",
                    id=job_id,
                    done=p.frames_done,
                    total=p.frames_total,
                    fps=round(p.fps, 3),
                )

        try:
            config = job_config(self.config, message.get("settings"))
            config = dataclasses.replace(config, overwrite=True)  # dst is a staging name
            colorizer = self.colorizer
            key = (config.weights, config.colorize)
            if key != (self.config.weights, self.config.colorize):  # a preset's own model
                if key not in self._colorizers:
                    self._colorizers[key] = Colorizer(config.weights, config.colorize)
                colorizer = self._colorizers[key]
            report = restore(
                Path(message["src"]), Path(message["dst"]), config, progress, colorizer=colorizer
            )
        except FilmcolorError as exc:
            self.send(type="result", id=job_id, ok=False, error=str(exc), exit_code=exc.exit_code)
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except MemoryError:
            self.send(type="result", id=job_id, ok=False, error="out of memory", exit_code=1)
            return
        except OSError as exc:
            name = f"{exc.filename}: " if exc.filename else ""
            self.send(
                type="result",
                id=job_id,
                ok=False,
                error=f"{name}{exc.strerror or exc}",
                exit_code=4,
            )
            return
        except Exception as exc:
            self.send(
                type="result",
                id=job_id,
                ok=False,
                error=f"internal error: {type(exc).__name__}: {exc}",
                exit_code=1,
            )
            return
        data = report.to_dict()
        self.send(
            type="result",
            id=job_id,
            ok=True,
            seconds=round(time.time() - t0, 3),
            frames=data.get("frames_out"),
            warnings=data.get("warnings", []),
            report=data,
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``--daemon-pid PID --state DB``; serve jobs until stdin closes."""
    args = list(sys.argv[1:] if argv is None else argv)
    parent = int(args[args.index("--daemon-pid") + 1])
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.ERROR, format="filmcolor: worker: %(name)s: %(message)s")
    worker = _Worker(out)

    def on_term(signum: int, frame: Any) -> None:
        worker.terminating = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        for line in sys.stdin:
            message = json.loads(line)
            if message["type"] == "init":
                worker.init(message)
            elif message["type"] == "job":
                worker.run_job(message)
            elif message["type"] == "stop":
                break
            if worker.terminating:  # its KeyboardInterrupt was lost on the way
                return 143
    except KeyboardInterrupt:
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
