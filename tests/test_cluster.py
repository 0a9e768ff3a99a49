"""Scale-out on a real Ray cluster (``filmcolor.cluster``): a head started here with
``ray start`` on 127.0.0.1, two worker processes, jobs through ``--cluster ray://…``.

The head runs in its own process group, so teardown stops exactly the processes it started
(``ray stop`` would stop every Ray process on the machine). Tests that need Ray skip when it
is not installed; the message for that case is tested without it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TEST_RENDER, assert_one_line_error
from mediagen import make_image, make_video, probe_streams

from filmcolor import cluster
from filmcolor.cli import main
from filmcolor.config import ColorizeConfig, RestoreConfig
from filmcolor.errors import FilmcolorError, MediaError, UsageError, WeightsError

#: Environment of the head and of this process: no usage statistics, loopback only (Ray
#: replaces 127.0.0.1 by the routable address unless multi-node clusters are off), and no
#: token authentication whatever ~/.ray holds (a token there would otherwise switch it on).
RAY_TEST_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
}


@dataclass(frozen=True)
class Head:
    address: str  # ray://127.0.0.1:PORT
    pgid: int  # process group of everything `ray start` launched
    temp_dir: Path


def _free_port() -> int:
    """A free TCP port outside Ray's default worker port range (10002-19999)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 10002 <= port <= 19999:
            return port


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process, from /proc (None when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[0], int(fields[1]), int(fields[2])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _cluster_pids(pgid: int) -> tuple[set[int], set[int]]:
    """Live processes of the head's group, and the Ray workers they started (the workers
    run in process groups of their own, as children of the raylet)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None and stat[0] != "Z":
                stats[int(entry)] = stat
    group = {pid for pid, (_, _, g) in stats.items() if g == pgid}
    workers = {
        pid
        for pid, (_, ppid, _) in stats.items()
        if ppid in group and pid not in group and _cmdline(pid).startswith("ray::")
    }
    return group, workers


def _stop_head(pgid: int) -> None:
    _, workers = _cluster_pids(pgid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in workers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            group, workers = _cluster_pids(pgid)
            if not group and not workers:
                return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def ray_head() -> Iterator[Head]:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'filmcolor[cluster]')")
    # a short folder: Ray's unix sockets live under it (108-byte path limit)
    temp = Path(tempfile.mkdtemp(prefix="fcray-", dir="/tmp"))
    gcs, client = _free_port(), _free_port()
    env = {**os.environ, **RAY_TEST_ENV}
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head"]
    cmd += ["--node-ip-address=127.0.0.1", f"--port={gcs}", f"--ray-client-server-port={client}"]
    cmd += ["--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"]
    cmd += [f"--temp-dir={temp}"]
    with (temp / "ray-start.log").open("w") as log:
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            code = None
    if code != 0:
        _stop_head(proc.pid)
        text = (temp / "ray-start.log").read_text()[-3000:]
        shutil.rmtree(temp, ignore_errors=True)
        pytest.fail(f"ray start failed ({code}):\n{text}")
    deadline = time.monotonic() + 60  # the client port opens a moment after `ray start`
    while True:
        try:
            socket.create_connection(("127.0.0.1", client), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                _stop_head(proc.pid)
                pytest.fail("the head's Ray client port did not open within 60 s")
            time.sleep(0.2)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in RAY_TEST_ENV.items():
            mp.setenv(key, value)
        try:
            yield Head(f"ray://127.0.0.1:{client}", proc.pid, temp)
        finally:
            _stop_head(proc.pid)
            shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s with shot cuts every 10 frames, a keyframe every 12 frames, AAC audio."""
    path = tmp_path_factory.mktemp("film") / "film.mkv"
    make_video(
        path,
        frames=72,
        width=160,
        height=120,
        content="shots",
        audio=[{"codec": "aac"}],
        codec_options={"g": "12"},
    )
    return path


def restore_cli(*args: str | Path, weights: Path) -> tuple[int, str]:
    argv = ["restore", *(str(a) for a in args), "--weights", str(weights)]
    argv += ["--device", "cpu", "--render-size", str(TEST_RENDER), "-q"]
    result = CliRunner().invoke(main, argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def video_planes(path: Path) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
    """The pts, Y planes and stacked (Cb, Cr) planes of every decoded frame."""
    pts, ys, chroma = [], [], []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            arrays = []
            for p in f.planes[:3]:
                a = np.frombuffer(p, np.uint8)[: p.line_size * p.height]
                arrays.append(a.reshape(p.height, -1)[:, : p.width].copy())
            pts.append(f.pts)
            ys.append(arrays[0])
            chroma.append(np.stack(arrays[1:3]).astype(np.int16))
    return pts, ys, chroma


def segment_task_pids(head: Head) -> list[int]:
    _, workers = _cluster_pids(head.pgid)
    return sorted(pid for pid in workers if _cmdline(pid).startswith("ray::_segment_task"))


# --------------------------------------------------------------------------- no cluster


def test_without_ray_says_how_to_install_it(
    tmp_path: Path, film: Path, const_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, err = restore_cli(
        film, "-o", tmp_path / "o.mkv", "--cluster", "local", weights=const_weights
    )
    assert code == 2
    assert_one_line_error(err, "the cluster needs Ray", "pip install 'filmcolor[cluster]'")
    assert list(tmp_path.iterdir()) == []  # failed before any work folder

    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png")
    result = CliRunner().invoke(
        main, ["batch", str(src), "-o", str(tmp_path / "out"), "--cluster", "local", "-q"]
    )
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "pip install 'filmcolor[cluster]'")


def test_bad_cluster_address_is_a_usage_error(
    tmp_path: Path, film: Path, const_weights: Path
) -> None:
    code, err = restore_cli(
        film, "-o", tmp_path / "o.mkv", "--cluster", "10.0.0.1", weights=const_weights
    )
    assert code == 2
    assert_one_line_error(err, "ray://HOST:PORT", "auto", "local")


def test_unreachable_cluster_fails_fast_and_says_what_to_check(
    tmp_path: Path, film: Path, const_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 0.5)
    t0 = time.monotonic()
    address = f"ray://127.0.0.1:{_free_port()}"  # nothing listens there
    code, err = restore_cli(
        film, "-o", tmp_path / "o.mkv", "--cluster", address, weights=const_weights
    )
    assert code == 2
    assert_one_line_error(err, "cannot reach the Ray cluster", address, "ray start --head")
    assert time.monotonic() - t0 < 10  # not the Ray client's 30 s
    assert list(tmp_path.iterdir()) == []


def test_task_failure_comes_back_as_the_same_error() -> None:
    for exc in (WeightsError("w.safetensors: missing"), MediaError("a.mkv: damaged")):
        again = cluster.TaskFailure.of(exc).error()
        assert type(again) is type(exc)
        assert str(again) == str(exc) and again.exit_code == exc.exit_code

    class Odd(FilmcolorError):
        exit_code = 7

        def __init__(self, a: str, b: str) -> None:
            super().__init__(f"{a} {b}")

    again = cluster.TaskFailure.of(Odd("x", "y")).error()  # cannot be rebuilt: the base class
    assert type(again) is FilmcolorError and str(again) == "x y" and again.exit_code == 7


def test_tasks_ask_for_a_gpu_only_when_the_cluster_has_one() -> None:
    gpus = cluster.ClusterInfo("ray://h:1", nodes=2, cpus=32, gpus=2)
    cpus = cluster.ClusterInfo("ray://h:1", nodes=1, cpus=8, gpus=0)
    config = RestoreConfig()
    options, device = cluster._task_options(config, gpus)
    assert options["num_gpus"] == 1 and "num_cpus" not in options and device == "auto"
    assert options["max_retries"] >= 3 and options["retry_exceptions"] is True
    options, device = cluster._task_options(config, cpus)
    assert options["num_cpus"] == 1 and "num_gpus" not in options
    on_cpu = RestoreConfig(colorize=ColorizeConfig(device="cpu"))
    assert "num_gpus" not in cluster._task_options(on_cpu, gpus)[0]
    # Ray shows each task its one GPU as cuda:0
    second = RestoreConfig(colorize=ColorizeConfig(device="cuda:1"))
    assert cluster._task_options(second, gpus)[1] == "cuda"
    with pytest.raises(UsageError, match="no GPU"):
        cluster._task_options(second, cpus)


def test_client_connection_is_tried_again_when_the_head_fails_its_server() -> None:
    calls: list[str] = []

    class FakeRay:
        def init(self, address: str, **options: object) -> None:
            calls.append(address)
            if len(calls) == 1:
                raise ConnectionAbortedError(
                    "Initialization failure from server:\nRuntimeError: Starting Ray client "
                    "server failed."
                )

        def shutdown(self) -> None:
            calls.append("shutdown")

    cluster._client_init(FakeRay(), "127.0.0.1:1", {})
    assert calls == ["ray://127.0.0.1:1", "shutdown", "ray://127.0.0.1:1"]

    class Refused(FakeRay):
        def init(self, address: str, **options: object) -> None:
            calls.append(address)
            raise ConnectionAbortedError("something else")

    calls.clear()
    with pytest.raises(ConnectionAbortedError):
        cluster._client_init(Refused(), "127.0.0.1:1", {})
    assert calls == ["ray://127.0.0.1:1"]  # only the head's failure is tried again


# --------------------------------------------------------------------------- on the cluster


@pytest.mark.slow
def test_connect_describes_the_cluster_and_keeps_the_sigterm_handler(ray_head: Head) -> None:
    def mine(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with cluster.connect(ray_head.address) as info:
            assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert info == cluster.ClusterInfo(ray_head.address, nodes=1, cpus=2.0, gpus=0.0)
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"


@pytest.mark.slow
def test_cluster_restore_equals_the_single_pass(
    ray_head: Head, film: Path, const_weights: Path, tmp_path: Path
) -> None:
    single, spread = tmp_path / "single.mkv", tmp_path / "cluster.mkv"
    code, err = restore_cli(
        film, "-o", single, "--codec", "ffv1", "--segment-seconds", "0", weights=const_weights
    )
    assert code == 0, err
    code, err = restore_cli(
        film,
        "-o",
        spread,
        "--codec",
        "ffv1",
        "--segment-seconds",
        "1",
        "--cluster",
        ray_head.address,
        "--report",
        tmp_path / "report.json",
        weights=const_weights,
    )
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["segments"]["count"] >= 3
    assert not any(p.name.endswith("filmcolor-work") for p in tmp_path.iterdir())

    pts_a, ys_a, ch_a = video_planes(single)
    pts_b, ys_b, ch_b = video_planes(spread)
    assert len(pts_b) == len(pts_a) == 72
    assert pts_b == pts_a
    for ya, yb in zip(ys_a, ys_b, strict=True):
        assert np.array_equal(ya, yb)  # the film's own luma, untouched
    diff = np.abs(np.stack(ch_a) - np.stack(ch_b))
    assert diff.mean() <= 2 and diff.max() <= 8, (diff.mean(), diff.max())
    assert np.stack(ch_a).std() > 1  # there is colour to compare (the const model's)
    a, b = probe_streams(single), probe_streams(spread)
    assert b["video"][0]["codec"] == "ffv1"
    assert len(b["audio"]) == len(a["audio"]) == 1
    assert b["audio"][0]["packets"] == a["audio"][0]["packets"]
    assert b["audio"][0]["packet_pts"] == a["audio"][0]["packet_pts"]


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_the_job_completes(
    ray_head: Head, film: Path, const_weights: Path, tmp_path: Path
) -> None:
    killed: list[int] = []
    stop = threading.Event()

    def kill_first_segment_worker() -> None:
        while not stop.is_set() and not killed:
            for pid in segment_task_pids(ray_head):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_segment_worker, daemon=True)
    killer.start()
    out = tmp_path / "out.mkv"
    try:
        code, err = restore_cli(
            film,
            "-o",
            out,
            "--codec",
            "ffv1",
            "--segment-seconds",
            "1",
            "--cluster",
            ray_head.address,
            weights=const_weights,
        )
    finally:
        stop.set()
        killer.join()
    assert killed, "no segment task was seen running on the cluster's workers"
    assert code == 0, err
    assert _proc_stat(killed[0]) is None or _proc_stat(killed[0])[0] == "Z"
    pts, ys, _ = video_planes(out)
    src_pts, src_ys, _ = video_planes(film)
    assert pts == src_pts
    assert all(np.array_equal(a, b) for a, b in zip(ys, src_ys, strict=True))
    a, b = probe_streams(film), probe_streams(out)
    assert b["audio"][0]["packets"] == a["audio"][0]["packets"]


@pytest.mark.slow
def test_a_task_error_comes_back_as_its_own_error(
    ray_head: Head, film: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such.safetensors"
    code, err = restore_cli(
        film, "-o", tmp_path / "o.mkv", "--cluster", ray_head.address, weights=missing
    )
    assert code == 5  # WeightsError, raised on a worker, not retried
    assert_one_line_error(err, str(missing))


@pytest.mark.slow
def test_batch_runs_a_folder_on_the_cluster(
    ray_head: Head, const_weights: Path, tmp_path: Path
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_video(src / "a.mkv", frames=12, width=96, height=64, audio=[{"codec": "aac"}])
    make_video(src / "b.avi", frames=6, width=64, height=48, codec="mpeg4")
    make_image(src / "c.png", width=32, height=24)
    (src / "d.mp4").write_bytes(b"not a video")
    (src / "notes.txt").write_text("sidecar: not restored")
    argv = ["batch", str(src), "-o", str(out), "--cluster", ray_head.address]
    argv += ["--weights", str(const_weights), "--device", "cpu", "--render-size", str(TEST_RENDER)]
    argv += ["--report", str(tmp_path / "report.json")]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 3, result.stderr  # d.mp4 is not media
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "b.mkv", "c.png"]
    assert "d.mp4" in result.stderr
    assert "3 file(s) restored, 1 failed" in result.stderr
    # progress: one line per finished file, with its frames
    assert "a.mkv: 12/12 frames" in result.stderr
    assert "b.avi: 6/6 frames" in result.stderr
    assert len(probe_streams(out / "a.mkv")["video"][0]["pts"]) == 12
    assert len(probe_streams(out / "b.mkv")["video"][0]["pts"]) == 6
    report = json.loads((tmp_path / "report.json").read_text())
    assert [Path(f["input"]).name for f in report["files"]] == ["a.mkv", "b.avi", "c.png"]
    assert [Path(f["input"]).name for f in report["failed"]] == ["d.mp4"]
    assert report["failed"][0]["exit_code"] == 3
