"""Start ``filmcolor serve`` as a subprocess on temp folders (API and browser tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conftest import TEST_RENDER, kill_group, wait_for


class Server:
    """One ``filmcolor serve`` process in its own session; logs (JSON) to a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, url: str) -> None:
        self.proc, self.log, self.url = proc, log, url

    def events(self) -> list[dict[str, Any]]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def servers(tmp_path: Path, weights: Path) -> Iterator[Callable[..., Server]]:
    """A fixture body: ``start(*options)`` runs ``filmcolor serve tmp/in -o tmp/out`` on a
    free port with the test model and fast daemon timings; all are killed at the end."""
    started: list[Server] = []

    def start(*extra: str) -> Server:
        in_dir, out_dir = tmp_path / "in", tmp_path / "out"
        in_dir.mkdir(exist_ok=True)
        log = tmp_path / f"serve-{len(started)}.log"
        argv = [sys.executable, "-m", "filmcolor", "serve", str(in_dir), "-o", str(out_dir)]
        argv += ["--port", "0", "--weights", str(weights), "--device", "cpu"]
        argv += ["--render-size", str(TEST_RENDER), "--log-json", "--settle", "0.3"]
        argv += ["--poll", "0.2", "--backoff", "0.2", *extra]
        with open(log, "wb") as err:
            proc = subprocess.Popen(argv, stderr=err, stdout=err, start_new_session=True)

        def url() -> str | None:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("filmcolor: serving "):
                    return line.split()[-1].rstrip("/")
            assert proc.poll() is None, log.read_text()
            return None

        s = Server(proc, log, wait_for(url, 60, "the server address"))
        started.append(s)
        return s

    yield start
    for s in started:  # the server and its workers share its process group
        kill_group(s.proc)
