"""Run the web app (uvicorn, in a thread) beside the watch daemon (the main thread).

The daemon keeps the main thread: it installs the SIGTERM/SIGINT handlers and starts the
worker processes (whose death signal follows the thread that started them). The socket is
bound before anything starts, so a taken port fails at once; when the daemon stops (a
signal, a fatal worker error), the server is told to exit, open event streams end, and
the process returns the daemon's exit code.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from ..daemon.service import WatchService
from ..errors import UsageError

#: Seconds the server waits for open connections (event streams) once told to stop.
SHUTDOWN_GRACE = 2


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is the loopback only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one); ``UsageError`` when it
    cannot be had (port taken, address not on this machine)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); give another --port or --host"
        ) from None
    sock.set_inheritable(False)
    return sock


def serve_forever(
    service: WatchService,
    app: Starlette,
    sock: socket.socket,
    stopping: threading.Event,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Serve ``app`` on the bound ``sock`` while ``service`` runs in this (the main)
    thread; returns the daemon's exit code once it stops (``stopping`` is set then, which
    ends the app's event streams)."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    server = uvicorn.Server(config)

    def run() -> None:
        server.run(sockets=[sock])

    thread = threading.Thread(target=run, name="filmcolor-serve-http", daemon=True)
    thread.start()
    if on_ready is not None:
        on_ready()
    try:
        return service.run()
    finally:
        stopping.set()
        server.should_exit = True
        thread.join(timeout=SHUTDOWN_GRACE + 5)
        sock.close()
