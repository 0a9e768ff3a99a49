"""Scale-out on a Ray cluster: the segments of one film as Ray tasks (``ray_runner``), and the
connection and task plumbing that ``filmcolor.batch`` (the files of a folder) shares.

Only paths travel: every node reads the input and writes its part on shared storage (NFS,
a shared disk), so the film's frames never pass through Ray's object store. What travels is
a ``Segment`` (a few integers), two paths and the frozen ``RestoreConfig``.

- ``connect(address)`` joins (or starts) a cluster for the duration of a ``with`` block:
  ``ray://HOST:PORT`` (the Ray client), ``auto`` (a cluster started on this machine with
  ``ray start``), ``local`` (a private one-machine cluster on 127.0.0.1).
- ``ray_runner(address)`` is the ``segments.Runner`` that ``restore_segmented`` calls:
  one task per segment, one GPU each when the cluster has GPUs (else one CPU), retried when
  a worker dies or a non-filmcolor exception escapes (a crash, a lost node, CUDA out of
  memory); a ``FilmcolorError`` (bad media, bad weights) fails the run at once, since a
  retry would fail the same way.
- ``filmcolor.batch.restore_batch`` restores a folder with one task per file, over the
  same connection, task options and retries.

Each worker process keeps the last ``Colorizer`` it built (``_worker_colorizer``): Ray
reuses worker processes for the tasks of a job, so a worker loads the weights (and pays a
``torch.compile`` warm-up) once, not once per segment. Plain tasks, not an actor pool, so
that Ray's task retries and dynamic scheduling (nodes joining mid-run get work) apply as
they are.

Ray is optional (``pip install 'filmcolor[cluster]'``) and only imported inside functions.
Its usage statistics, sent to an outside server by default, are turned off here
(``RAY_USAGE_STATS_ENABLED=0``, in this process and in the workers' environment).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import RestoreConfig
from .errors import FilmcolorError, UsageError

if TYPE_CHECKING:
    from .model.colorizer import Colorizer
    from .segments import Runner, Segment, SegmentJob, SegmentResult

log = logging.getLogger(__name__)

#: Environment of this process and of every Ray worker: no usage statistics sent out.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}
INSTALL_HINT = "pip install 'filmcolor[cluster]'"
#: Task retries after a worker dies or a non-filmcolor exception escapes.
MAX_RETRIES = 3
#: Seconds to wait for a ``ray://`` address to accept a TCP connection before giving up.
CONNECT_TIMEOUT = 5.0


class ClusterError(FilmcolorError):
    """A task could not finish on the cluster (its workers kept dying, a node was lost)."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """The cluster ``connect`` joined: its address and total resources."""

    address: str
    nodes: int
    cpus: float
    gpus: float


def _import_ray() -> Any:
    """``import ray`` with usage statistics off, or a UsageError saying how to install it."""
    os.environ.update(RAY_ENV)  # read by Ray when it starts or joins a cluster
    try:
        import ray
    except ImportError as exc:
        raise UsageError(f"the cluster needs Ray: {INSTALL_HINT} (Ray {exc.name} missing)") from exc
    return ray


def _check_address(address: str) -> tuple[str, str | None]:
    """``(kind, host:port)`` of a ``--cluster`` address; UsageError when it is none of the
    three forms."""
    if address in ("auto", "local"):
        return address, None
    if address.startswith("ray://"):
        hostport = address.removeprefix("ray://").rstrip("/")
        host, _, port = hostport.rpartition(":")
        if host and port.isdigit():
            return "client", hostport
    raise UsageError(
        f"--cluster {address!r}: give ray://HOST:PORT (the head's Ray client port, 10001 by "
        "default), auto (a cluster started here with 'ray start') or local"
    )


def _reachable(hostport: str) -> None:
    """Fail fast, with what to check, when nothing listens at ``host:port`` (the Ray client
    itself retries for about 30 s before saying only "connection timeout"). A refused
    connection is tried again for ``CONNECT_TIMEOUT`` seconds: a head that has just been
    started opens its client port a few seconds after ``ray start`` returns."""
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
                return
        except ConnectionRefusedError as exc:
            if time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            reason = exc.strerror or type(exc).__name__
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"cannot reach the Ray cluster at ray://{hostport} ({reason}); check that its head "
            f"runs ('ray start --head --ray-client-server-port={port}') and that this machine "
            "can reach that port"
        ) from None


@contextlib.contextmanager
def connect(address: str) -> Iterator[ClusterInfo]:
    """Join the Ray cluster at ``address`` for the ``with`` block, then leave it.

    ``ray://HOST:PORT``: the Ray client server of a cluster's head; ``auto``: a cluster
    started on this machine with ``ray start``; ``local``: start a private single-machine
    cluster bound to 127.0.0.1 (no dashboard), stopped again on exit. Inside a process that
    is already connected (a Ray task or driver), that connection is used and kept.

    Raises ``UsageError`` when Ray is not installed or the cluster cannot be reached.
    """
    kind, hostport = _check_address(address)
    ray = _import_ray()
    if ray.is_initialized():
        yield _cluster_info(ray, address)
        return
    runtime_env = {"env_vars": dict(RAY_ENV)}
    common: dict[str, Any] = {
        "runtime_env": runtime_env,
        "log_to_driver": False,  # workers' output stays in the Ray logs, off the terminal
        # Ray's own log lines (it warns on stderr when it cannot install a SIGTERM handler)
        # would break the CLI's one-line messages; its errors still show
        "logging_level": logging.ERROR,
    }
    # ray.init (in the main thread) replaces the SIGTERM handler with one that exits at once:
    # keep the caller's (the CLI's cleans up the temporary files on SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if in_main else None
    try:
        if kind == "client":
            assert hostport is not None
            _reachable(hostport)
            _client_init(ray, hostport, common)
        elif kind == "auto":
            ray.init(address="auto", **common)
        else:
            with _loopback_only(ray):
                ray.init(
                    address="local",
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    **common,
                )
    except ImportError as exc:  # ray installed without its client extra (grpcio)
        raise UsageError(
            f"ray:// addresses need the Ray client: {INSTALL_HINT} (or pip install "
            f"'ray[client]'); {exc}"
        ) from exc
    except ConnectionError as exc:
        if kind == "auto":
            raise UsageError(
                "--cluster auto: no Ray cluster runs on this machine; start one with "
                "'ray start --head --node-ip-address=127.0.0.1', or use --cluster local"
            ) from exc
        raise UsageError(
            f"--cluster {address}: Ray could not connect ({_first_line(exc)}); check that the "
            "head runs the same Ray version, and if the cluster uses token authentication, "
            "set RAY_AUTH_MODE=token with its token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
        ) from exc
    finally:
        if sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)
    try:
        yield _cluster_info(ray, address)
    finally:
        ray.shutdown()


#: Connection tries of the Ray client when the head fails to start this client's server.
CLIENT_TRIES = 3


def _client_init(ray: Any, hostport: str, options: dict[str, Any]) -> None:
    """``ray.init("ray://HOST:PORT")``, tried again when the head fails to start the server
    process it runs for each client ("Initialization failure from server … Starting Ray
    client server failed"): seen here on about one connection in ten with Ray 2.60, the
    process exiting within half a second without a word in its log; the next try works."""
    for attempt in range(1, CLIENT_TRIES + 1):
        try:
            ray.init(f"ray://{hostport}", **options)
            return
        except ConnectionAbortedError as exc:
            if attempt == CLIENT_TRIES or "Initialization failure" not in str(exc):
                raise
            log.warning("ray://%s: %s; trying again", hostport, _first_line(exc))
            with contextlib.suppress(Exception):
                ray.shutdown()


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0].rstrip(":") if lines else type(exc).__name__


@contextlib.contextmanager
def _loopback_only(ray: Any) -> Iterator[None]:
    """Keep a ``local`` cluster on 127.0.0.1.

    Ray replaces a loopback ``_node_ip_address`` by the machine's routable address (so that
    other nodes could join) unless multi-node clusters are switched off, which its setting
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` does on any platform. The processes Ray starts
    read it from their environment, this one from a constant read at import: both are set
    for the start and put back after."""
    try:  # private to Ray: without it, the cluster takes the routable address
        from ray._private import ray_constants
    except ImportError:
        ray_constants = None
    name = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    old_env = os.environ.get(name)
    old_const = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[name] = "0"
    if old_const is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old_const is not None:
            ray_constants.ENABLE_RAY_CLUSTER = old_const
        if old_env is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old_env


def _cluster_info(ray: Any, address: str) -> ClusterInfo:
    resources = ray.cluster_resources()
    nodes = sum(
        1 for key in resources if key.startswith("node:") and key != "node:__internal_head__"
    )
    return ClusterInfo(
        address=address,
        nodes=nodes,
        cpus=float(resources.get("CPU", 0.0)),
        gpus=float(resources.get("GPU", 0.0)),
    )


# --------------------------------------------------------------------------- on the workers

#: The last Colorizer this worker process built, with the settings it was built from.
_worker_model: dict[str, Any] = {}


def _worker_colorizer(config: RestoreConfig) -> Colorizer:
    """The Colorizer for ``config`` in this worker process, built once and kept for the
    following tasks with the same weights and model settings."""
    from .model.colorizer import Colorizer

    key = (config.weights, config.colorize)
    if _worker_model.get("key") != key:
        _worker_model.clear()  # free the old model before loading the new one
        _worker_model["model"] = Colorizer(config.weights, config.colorize)
        _worker_model["key"] = key
    return _worker_model["model"]


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """A ``FilmcolorError`` raised in a task, returned as a value (so that Ray does not retry
    it) and raised again on the driver as the same class with the same message."""

    module: str
    name: str
    message: str
    exit_code: int

    @classmethod
    def of(cls, exc: FilmcolorError) -> TaskFailure:
        kind = type(exc)
        return cls(kind.__module__, kind.__qualname__, str(exc), exc.exit_code)

    def error(self) -> FilmcolorError:
        kind: Any = None
        with contextlib.suppress(ImportError, AttributeError):
            kind = getattr(importlib.import_module(self.module), self.name)
        exc: FilmcolorError
        try:
            ok = isinstance(kind, type) and issubclass(kind, FilmcolorError)
            exc = kind(self.message) if ok else FilmcolorError(self.message)
        except TypeError:  # a subclass with another constructor
            exc = FilmcolorError(self.message)
        exc.exit_code = self.exit_code
        return exc


def _segment_task(
    src: str, segment: Segment, out: str, config: RestoreConfig
) -> SegmentResult | TaskFailure:
    """One segment, on a worker (``segments.restore_segment``)."""
    from .segments import restore_segment

    try:
        model = _worker_colorizer(config)
        return restore_segment(Path(src), segment, Path(out), config, colorizer=model)
    except FilmcolorError as exc:
        return TaskFailure.of(exc)


# --------------------------------------------------------------------------- on the driver


def _shared_paths(config: RestoreConfig) -> RestoreConfig:
    """``config`` with its file paths absolute: the workers run in other folders (and on
    other machines, where the same absolute paths must reach the same shared storage)."""

    def absolute(path: str | None) -> str | None:
        return str(Path(path).expanduser().resolve()) if path else path

    guide = dataclasses.replace(
        config.guide,
        references=tuple(str(absolute(p)) for p in config.guide.references),
        references_dir=absolute(config.guide.references_dir),
        hints=absolute(config.guide.hints),
    )
    segments = dataclasses.replace(config.segments, work_dir=absolute(config.segments.work_dir))
    return dataclasses.replace(
        config, weights=absolute(config.weights), guide=guide, segments=segments
    )


def _task_options(config: RestoreConfig, cluster: ClusterInfo) -> tuple[dict[str, Any], str]:
    """Ray task options for ``config`` on ``cluster``, and the device the tasks use: one GPU
    per task when the cluster has GPUs and the device allows one, else one CPU."""
    device = config.colorize.device
    options: dict[str, Any] = {
        "max_retries": MAX_RETRIES,
        "retry_exceptions": True,  # FilmcolorErrors come back as values: never retried
    }
    if device.startswith("cuda") and cluster.gpus == 0:
        raise UsageError(
            f"--device {device}: the Ray cluster at {cluster.address} has no GPU; use "
            "--device auto or cpu"
        )
    if device != "cpu" and cluster.gpus > 0:
        # Ray gives each task one GPU, its cuda:0 (CUDA_VISIBLE_DEVICES): cuda:N means nothing
        return options | {"num_gpus": 1}, "cuda" if device.startswith("cuda") else device
    if cluster.cpus == 0:
        log.warning("the Ray cluster has no CPU yet: the tasks wait for a worker to join")
    return options | {"num_cpus": 1}, device


def _wait_all(
    ray: Any,
    refs: dict[Any, Any],
    on_result: Callable[[Any, Any], None],
    on_lost: Callable[[Any, ClusterError], None] | None = None,
) -> None:
    """Wait for every task in ``refs`` (ref → its job), calling ``on_result(job, value)`` in
    this thread as each finishes.

    A task whose workers died on every try gives a ``ClusterError``: passed to
    ``on_lost(job, error)`` when given, else raised. A task that raised another exception on
    every try raises that exception here. When this raises (``on_result`` too), the tasks
    still pending are cancelled."""
    from ray.exceptions import RayError, RayTaskError

    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in ready:
                job = refs[ref]
                try:
                    value = ray.get(ref)
                except RayTaskError as exc:  # the task's own exception, on every try
                    cause = exc.cause if isinstance(exc.cause, Exception) else None
                    if cause is not None:
                        raise cause from exc
                    raise ClusterError(f"{_describe(job)} failed on the cluster: {exc}") from exc
                except RayError as exc:  # its worker (or node) died on every try
                    lost = ClusterError(
                        f"{_describe(job)} failed on the cluster after {MAX_RETRIES} retries: "
                        f"{type(exc).__name__}: {_first_line(exc)}; see the Ray logs of the "
                        "workers (/tmp/ray/session_latest/logs)"
                    )
                    if on_lost is None:
                        raise lost from exc
                    on_lost(job, lost)
                    continue
                on_result(job, value)
    except BaseException:
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
        raise


def _describe(job: Any) -> str:
    if isinstance(job, tuple) and len(job) == 2 and hasattr(job[0], "index"):
        return f"segment {job[0].index} ({job[1]})"  # a SegmentJob
    if isinstance(job, tuple) and len(job) == 2:
        return f"the task of {job[1]}"  # a batch file (its number, its path)
    return str(job)


def ray_runner(address: str) -> Runner:
    """A ``segments.Runner`` that runs each segment as a Ray task on the cluster at
    ``address`` (see ``connect``); ``restore_segmented(..., runner=ray_runner(address))``.

    The input and the parts must be on storage every node reaches under the same path.
    ``on_done`` is called in the calling thread as each segment finishes; the first segment
    that fails for good raises (its ``FilmcolorError`` as raised on the worker, or a
    ``ClusterError`` when its workers kept dying) and the others are cancelled.
    """
    # fail before the work folder is made: Ray missing, nothing listening at the address
    _, hostport = _check_address(address)
    _import_ray()
    if hostport is not None:
        _reachable(hostport)

    def run(
        src: Path,
        jobs: list[SegmentJob],
        config: RestoreConfig,
        on_done: Callable[[SegmentJob, SegmentResult], None],
    ) -> None:
        if not jobs:
            return
        with connect(address) as cluster:
            ray = _import_ray()
            options, device = _task_options(config, cluster)
            task_config = _shared_paths(config)
            task_config = dataclasses.replace(
                task_config, colorize=dataclasses.replace(task_config.colorize, device=device)
            )
            task = ray.remote(_segment_task).options(**options)
            source = str(Path(src).resolve())
            config_ref = ray.put(task_config)
            refs = {
                task.remote(source, segment, str(Path(out).resolve()), config_ref): (segment, out)
                for segment, out in jobs
            }
            log.info("%d segment(s) of %s on %s: %s", len(jobs), src, address, cluster)

            def finished(job: SegmentJob, value: SegmentResult | TaskFailure) -> None:
                if isinstance(value, TaskFailure):
                    raise value.error()
                on_done(job, value)

            _wait_all(ray, refs, finished)

    return run
