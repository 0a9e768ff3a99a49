"""``filmcolor watch`` and ``filmcolor jobs``: the real daemon as a subprocess on temp folders
(exactly once, slow writes, quarantine, kill -9, SIGTERM), plus unit tests of the job table
and the watcher."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TEST_RENDER, kill_group, wait_for
from mediagen import make_image, make_video

from filmcolor.cli import main
from filmcolor.config import RestoreConfig
from filmcolor.daemon.jobs import JobStore
from filmcolor.daemon.service import (
    WatchOptions,
    WatchService,
    _WorkerHandle,
    default_state_path,
)
from filmcolor.daemon.watcher import (
    Watcher,
    check_output_name,
    ignored_reason,
    output_name,
    safe_join,
    unique_output_name,
)
from filmcolor.daemon.worker import _Worker, encode_config

FAST = ("--settle", "0.3", "--poll", "0.2", "--backoff", "0.2")


def rows(state: Path) -> list[dict[str, Any]]:
    """Every job row (read with a plain sqlite3 connection, as any tool could)."""
    if not state.exists():
        return []
    db = sqlite3.connect(state, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY id")]
    except sqlite3.OperationalError:  # table not created yet
        return []
    finally:
        db.close()


def by_name(state: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows(state):
        out.setdefault(Path(r["path"]).name, []).append(r)
    return out


def all_done(state: Path, names: set[str]) -> bool:
    got = by_name(state)
    return set(got) >= names and all(r["status"] == "done" for n in names for r in got[n])


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def assert_clean_output(out: Path, expected: set[str]) -> None:
    """OUT_DIR holds exactly the finished outputs: no partial, temporary or staged file."""
    assert set(visible(out)) == expected
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert hidden == [".filmcolor"], hidden
    staging = out / ".filmcolor" / "jobs.db.staging"
    assert not staging.exists() or [p.name for p in staging.iterdir()] == [".filmcolor-staging"]
    assert not [p for p in out.rglob("*") if ".part" in p.name]


class Daemon:
    """One ``filmcolor watch`` subprocess in its own session; logs (JSON) to a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def saw(self, name: str) -> bool:
        return any(e["event"] == name for e in self.events())

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)


@pytest.fixture()
def daemon(tmp_path: Path, const_weights: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(in_dir: Path, out_dir: Path, *extra: str) -> Daemon:
        log = tmp_path / f"daemon-{len(started)}.log"
        argv = [sys.executable, "-m", "filmcolor", "watch", str(in_dir), "-o", str(out_dir)]
        argv += ["--weights", str(const_weights), "--device", "cpu"]
        argv += ["--render-size", str(TEST_RENDER), "--log-json", *FAST, *extra]
        with open(log, "wb") as err:
            proc = subprocess.Popen(argv, stderr=err, stdout=err, start_new_session=True)
        d = Daemon(proc, log)
        started.append(d)
        wait_for(lambda: d.saw("watch_started") or proc.poll() is not None, 60, "start")
        return d

    yield start
    for d in started:  # the daemon and its workers share its process group
        kill_group(d.proc)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(") ")[-1].startswith("Z")


def drop_video(path: Path, **kwargs: Any) -> None:
    """``make_video`` beside the watch folder, then renamed into it: the daemon sees the
    file complete, however slowly a busy machine writes it (``--settle`` is short here)."""
    beside = path.parent.parent / f"writing-{path.name}"
    make_video(beside, **kwargs)
    os.replace(beside, path)


def make_slow_video(path: Path) -> None:
    """A clip that takes about a second to restore on an idle 2-core CPU (much longer on a
    busy one): long enough to be interrupted mid-job."""
    make_video(path, width=160, height=120, frames=120)


#: Generous limits for jobs on the slow clip: a loaded machine can be 10x slower.
SLOW = 150


# -- the daemon as a subprocess -----------------------------------------------------------


@pytest.mark.slow
def test_one_by_one_and_twenty_at_once_each_exactly_once(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    d = daemon(in_dir, out)
    state = default_state_path(out)
    # a second daemon on the same state is refused (exit 2) and changes nothing
    second = subprocess.run(
        [sys.executable, "-m", "filmcolor", "watch", str(in_dir), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2, second.stderr
    assert "another 'filmcolor watch'" in second.stderr
    for k in range(3):
        make_image(in_dir / f"one-{k}.png")
        wait_for(lambda k=k: all_done(state, {f"one-{k}.png"}), 60, f"one-{k}.png")
    (in_dir / ".hidden.png").write_bytes(b"x")
    (in_dir / "copying.mp4.part").write_bytes(b"x")
    (in_dir / "notes.txt").write_text("not media")
    batch = {f"batch-{k:02d} é.png" for k in range(20)}
    for name in sorted(batch):
        make_image(in_dir / name)
    drop_video(in_dir / "clip.avi", width=64, height=48, frames=5, codec="mpeg4")
    drop_video(in_dir / "clip.mkv", width=64, height=48, frames=5)
    names = {f"one-{k}.png" for k in range(3)} | batch | {"clip.avi", "clip.mkv"}
    wait_for(lambda: all_done(state, names), 90, "all jobs done")
    time.sleep(0.5)  # a few more rescans: nothing is taken twice
    jobs = by_name(state)
    assert set(jobs) == names  # ignored names never became jobs
    assert all(len(jobs[n]) == 1 and jobs[n][0]["attempts"] == 1 for n in names)
    outputs = {jobs[n][0]["output"] for n in names}
    assert len(outputs) == len(names)
    # clip.avi and clip.mkv both map to clip.mkv: the later job gets clip-JOBID.mkv
    avi, mkv = jobs["clip.avi"][0], jobs["clip.mkv"][0]
    first, later = sorted([avi, mkv], key=lambda r: r["id"])
    assert first["output"] == "clip.mkv"
    assert later["output"] == f"clip-{later['id']}.mkv"
    assert_clean_output(out, outputs)
    done = [e["path"] for e in d.events() if e["event"] == "job_done"]
    assert sorted(Path(p).name for p in done) == sorted(names)
    assert all(e["event"] and e["ts"] for e in d.events())
    d.proc.send_signal(signal.SIGTERM)
    assert d.wait() == 0
    # the CLI lists the database
    result = CliRunner().invoke(main, ["jobs", "--state", str(out), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert len(listed) == len(names) and {j["status"] for j in listed} == {"done"}


@pytest.mark.slow
def test_slowly_written_file_is_taken_only_when_complete(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    source = tmp_path / "film.mp4"
    make_video(source, width=64, height=48, frames=10)
    data = source.read_bytes()
    daemon(in_dir, out, "--settle", "1.0")
    state = default_state_path(out)
    chunks = 6
    step = len(data) // chunks + 1
    with open(in_dir / "film.mp4", "wb") as f:
        for k in range(chunks):
            f.write(data[k * step : (k + 1) * step])
            f.flush()
            time.sleep(0.25)  # well short of --settle, 1.5 s in all: longer than --settle
            assert rows(state) == [], "taken before it was complete"
    last_write = time.time()
    wait_for(lambda: all_done(state, {"film.mp4"}), 60, "film.mp4 done")
    (job,) = rows(state)
    assert job["created"] >= last_write and job["started"] >= last_write
    assert job["attempts"] == 1 and job["size"] == len(data)
    assert_clean_output(out, {"film.mp4"})


@pytest.mark.slow
def test_corrupt_file_is_retried_then_quarantined_others_complete(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    done_dir = tmp_path / "done"
    d = daemon(in_dir, out, "--retries", "2", "--done", str(done_dir))
    state = default_state_path(out)
    # fixed junk: about 1 in 100 random 20 kB files opens (as MPEG audio), this one does not
    junk = np.random.default_rng(0).bytes(20_000)
    (in_dir / "broken.mp4").write_bytes(junk)
    make_image(in_dir / "good-1.png")
    drop_video(in_dir / "good-2.mp4", width=64, height=48, frames=5)
    wait_for(lambda: all_done(state, {"good-1.png", "good-2.mp4"}), 60, "good files")
    wait_for(lambda: by_name(state)["broken.mp4"][0]["status"] == "failed", 60, "quarantine")
    wait_for(lambda: (in_dir / "failed" / "broken.mp4.error.json").exists(), 10, "sidecar")
    (bad,) = by_name(state)["broken.mp4"]
    assert bad["attempts"] == 3 and bad["exit_code"] == 3
    assert not (in_dir / "broken.mp4").exists()
    assert (in_dir / "failed" / "broken.mp4").read_bytes()[:10]  # moved, not copied empty
    sidecar = json.loads((in_dir / "failed" / "broken.mp4.error.json").read_text())
    assert sidecar["attempts"] == 3 and sidecar["exit_code"] == 3
    assert "not a media file" in sidecar["error"]
    assert sidecar["path"] == str(in_dir / "broken.mp4")
    retries = [e for e in d.events() if e["event"] == "job_retry"]
    assert len(retries) == 2
    assert_clean_output(out, {"good-1.png", "good-2.mp4"})
    # finished sources went to --done; the quarantine holds the broken one and its sidecar
    assert visible(done_dir) == ["good-1.png", "good-2.mp4"]
    assert visible(in_dir) == ["failed"]
    assert visible(in_dir / "failed") == ["broken.mp4", "broken.mp4.error.json"]
    d.proc.send_signal(signal.SIGTERM)
    assert d.wait() == 0


@pytest.mark.slow
def test_kill_9_mid_job_then_restart_completes_each_job_once(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    make_slow_video(tmp_path / "reel.mp4")
    d = daemon(in_dir, out)
    state = default_state_path(out)
    os.replace(tmp_path / "reel.mp4", in_dir / "reel.mp4")
    staging = out / ".filmcolor" / "jobs.db.staging"

    def mid_job() -> bool:
        jobs = rows(state)
        writing = staging.exists() and any(".part" in p.name for p in staging.iterdir())
        return bool(jobs) and jobs[0]["status"] == "running" and writing

    wait_for(mid_job, 60, "the reel half-written in staging")
    (job,) = rows(state)
    worker = job["worker_pid"]
    assert worker and not pid_gone(worker)
    os.kill(d.proc.pid, signal.SIGKILL)  # the daemon alone: its worker must die with it
    assert d.wait() == -signal.SIGKILL
    wait_for(lambda: pid_gone(worker), 5, "the worker to die with its daemon")
    assert rows(state)[0]["status"] == "running"
    assert visible(out) == []  # nothing partial in OUT_DIR
    make_image(in_dir / "later.png")  # dropped while the daemon is down
    d2 = daemon(in_dir, out)
    wait_for(lambda: all_done(state, {"reel.mp4", "later.png"}), SLOW, "jobs after restart")
    jobs = by_name(state)
    assert len(jobs["reel.mp4"]) == 1 and jobs["reel.mp4"][0]["attempts"] == 2
    assert len(jobs["later.png"]) == 1 and jobs["later.png"][0]["attempts"] == 1
    assert_clean_output(out, {"reel.mp4", "later.png"})
    requeued = [e for e in d2.events() if e["event"] == "job_requeued"]
    assert [e["id"] for e in requeued] == [job["id"]]
    d2.proc.send_signal(signal.SIGTERM)
    assert d2.wait() == 0


@pytest.mark.slow
def test_sigterm_exits_0_and_next_start_carries_on(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    state = default_state_path(out)
    make_slow_video(tmp_path / "a.mp4")
    make_slow_video(tmp_path / "b.mp4")

    def running(name: str) -> bool:
        return any(r["status"] == "running" for r in by_name(state).get(name, []))

    # 1. SIGTERM mid-job within the grace period: the job finishes, then exit 0
    d = daemon(in_dir, out, "--grace", str(SLOW))
    os.replace(tmp_path / "a.mp4", in_dir / "a.mp4")
    wait_for(lambda: running("a.mp4"), 60, "a.mp4 running")
    d.proc.send_signal(signal.SIGTERM)
    assert d.wait(SLOW + 10) == 0
    assert by_name(state)["a.mp4"][0]["status"] == "done", d.events()
    # 2. SIGTERM mid-job with --grace 0: the job is stopped and queued again, exit 0
    d = daemon(in_dir, out, "--grace", "0")
    os.replace(tmp_path / "b.mp4", in_dir / "b.mp4")
    wait_for(lambda: running("b.mp4"), 60, "b.mp4 running")
    d.proc.send_signal(signal.SIGTERM)
    assert d.wait(60) == 0
    (b,) = by_name(state)["b.mp4"]
    assert b["status"] == "queued" and b["attempts"] == 0, d.events()
    assert_clean_output(out, {"a.mp4"})
    # 3. the next start carries on; SIGTERM while idle exits 0 too
    d = daemon(in_dir, out)
    wait_for(lambda: all_done(state, {"a.mp4", "b.mp4"}), SLOW, "b.mp4 done after restart")
    d.proc.send_signal(signal.SIGTERM)
    assert d.wait(30) == 0
    jobs = by_name(state)
    assert [len(jobs["a.mp4"]), len(jobs["b.mp4"])] == [1, 1]
    assert jobs["b.mp4"][0]["attempts"] == 1
    assert_clean_output(out, {"a.mp4", "b.mp4"})


def _watch_once(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``filmcolor watch ARGS`` that is expected to stop at once."""
    argv = [sys.executable, "-m", "filmcolor", "watch", *(str(a) for a in args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_state_through_a_link_shares_the_first_daemons_lock(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    """A second daemon whose --state is a link to (or another spelling of) the first one's
    database is refused: it would requeue the running job and write the film twice."""
    in_dir, out, home = tmp_path / "in", tmp_path / "out", tmp_path / "home"
    in_dir.mkdir()
    home.mkdir()
    state = home / "jobs.db"
    d = daemon(in_dir, out, "--state", str(state))
    assert d.proc.poll() is None
    link = tmp_path / "db-link"
    link.symlink_to(state)
    (tmp_path / "in-link").symlink_to(in_dir)
    for spelling in (link, home / ".." / "home" / "jobs.db"):
        second = _watch_once(tmp_path / "in-link", "-o", out, "--state", spelling)
        assert second.returncode == 2, second.stderr
        assert "another 'filmcolor watch'" in second.stderr
    d.proc.send_signal(signal.SIGTERM)
    assert d.wait() == 0


@pytest.mark.slow
def test_staging_never_touches_the_users_folders(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    """--state in a folder of the user's: a ``staging`` folder of theirs beside it stays, and
    a folder at the daemon's staging name holding their files is refused."""
    in_dir, out, home = tmp_path / "in", tmp_path / "out", tmp_path / "home"
    in_dir.mkdir()
    (home / "staging").mkdir(parents=True)
    (home / "staging" / "precious.txt").write_text("the only copy")
    make_image(in_dir / "a.png")
    state = home / "jobs.db"
    d = daemon(in_dir, out, "--state", str(state))
    wait_for(lambda: all_done(state, {"a.png"}), 60, "a.png")
    d.proc.send_signal(signal.SIGTERM)
    assert d.wait() == 0
    assert (home / "staging" / "precious.txt").read_text() == "the only copy"
    assert visible(out) == ["a.png"]
    other = tmp_path / "other"
    (other / "jobs.db.staging").mkdir(parents=True)
    (other / "jobs.db.staging" / "7-film.mkv").write_text("theirs, named like ours")
    refused = _watch_once(in_dir, "-o", out, "--state", other / "jobs.db")
    assert refused.returncode == 2, refused.stderr
    assert "did not make" in refused.stderr
    assert (other / "jobs.db.staging" / "7-film.mkv").read_text() == "theirs, named like ours"


# -- the job table ------------------------------------------------------------------------


def test_claim_is_atomic_across_connections(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with JobStore(db) as store:
        for k in range(40):
            store.add(f"/in/{k}.png", 10, k)
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer(owner: str) -> None:
        with JobStore(db) as store:
            while (job := store.claim(owner, os.getpid())) is not None:
                with lock:
                    claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"o{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == list(range(1, 41))
    with JobStore(db) as a, JobStore(db) as b:
        a.add("/in/x.png", 1, 1)
        first, second = a.claim("a", 1), b.claim("b", 2)
        assert first is not None and second is None
        assert first.status == "running" and first.attempts == 1 and first.owner == "a"


def test_same_file_is_one_job_changed_file_is_a_new_job(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.db") as store:
        job = store.add("/in/a.mp4", 100, 5)
        assert job is not None and job.status == "queued"
        assert store.add("/in/a.mp4", 100, 5) is None
        assert store.add("/in/a.mp4", 100, 6) is not None  # new mtime
        assert store.add("/in/a.mp4", 101, 6) is not None  # new size
        assert len(store.all()) == 3


def test_failed_attempts_back_off_then_fail(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.db") as store:
        store.add("/in/a.mp4", 1, 1, now=0)
        delays = []
        for attempt in range(3):
            job = store.claim("o", 1, now=1000.0 * attempt)
            assert job is not None and job.attempts == attempt + 1
            job = store.fail_attempt(job.id, "bad", 3, retries=2, backoff=2.0, now=1000.0 * attempt)
            delays.append(job.not_before - 1000.0 * attempt)
        assert delays[:2] == [2.0, 4.0]
        assert job.status == "failed" and job.last_error == "bad" and job.exit_code == 3


def test_startup_recovery_requeues_and_waits_out_orphan_workers(
    tmp_path: Path,
) -> None:
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    src = in_dir / "a.png"
    make_image(src)
    st = src.stat()
    options = WatchOptions(in_dir=in_dir, out_dir=out, retries=1, grace=0.5)
    service = WatchService(options)
    service._check_folders()
    # a worker of this state that outlived its daemon (as on a system without PDEATHSIG)
    orphan = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(60)",
            "filmcolor.daemon.worker",
            str(service.state),
        ]
    )
    try:
        with JobStore(service.state) as store:
            job = store.add(str(src), st.st_size, st.st_mtime_ns, lambda i, t: "a.png")
            assert job is not None
            store.claim("dead-daemon", 999_999_999, orphan.pid)
            twice = store.add("/in/gone.png", 1, 1, lambda i, t: "gone.png")
            assert twice is not None
            store.claim("dead-daemon", 999_999_999, None)
            store.requeue(twice.id, count_attempt=True)
            store.claim("dead-daemon", 999_999_999, None)  # 2 attempts > retries 1
        service.store = JobStore(service.state)
        service._recover()
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        recovered = service.store.get(job.id)
        assert recovered is not None and recovered.status == "queued"
        assert recovered.attempts == 1 and recovered.worker_pid is None
        gave_up = service.store.get(twice.id)
        assert gave_up is not None and gave_up.status == "failed"
        service.store.close()
    finally:
        orphan.kill()
        orphan.wait()


def _service_with_running_job(
    tmp_path: Path, worker: str = "import sys; sys.stdin.read()", **options: Any
) -> tuple[WatchService, int, _WorkerHandle, Path]:
    """A ``WatchService`` (not started) whose one job ``a.png`` is claimed by a stand-in
    worker running the Python code ``worker`` (by default: until its stdin closes or it
    is signalled); new workers it would start are stand-ins that never get ready. Returns
    the service, the job id, the busy worker's handle and the source."""
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    src = in_dir / "a.png"
    make_image(src)
    st = src.stat()
    service = WatchService(WatchOptions(in_dir=in_dir, out_dir=out, **options))
    service._check_folders()
    service.files.claim_staging()
    service.store = JobStore(service.state)
    job = service.store.add(str(src), st.st_size, st.st_mtime_ns, lambda i, t: "a.png")
    assert job is not None

    def stand_in(code: str = "import sys; sys.stdin.read()") -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        return proc

    busy = stand_in(worker)
    claimed = service.store.claim(service.instance, os.getpid(), busy.pid)
    assert claimed is not None
    handle = _WorkerHandle(busy, ready=True, job=claimed)
    service.workers = [handle]
    service._spawn = lambda: _WorkerHandle(stand_in())  # type: ignore[method-assign]
    return service, job.id, handle, src


class _ScanHook:
    """A watcher stand-in whose n-th ``poll()`` (from 1) runs ``hook(n)``."""

    def __init__(self, hook: Callable[[int], object]) -> None:
        self.n, self.hook = 0, hook

    def poll(self) -> list[Any]:
        self.n += 1
        self.hook(self.n)
        return []

    def next_wakeup(self) -> float:
        return 0.2


def _exited_unreaped(proc: subprocess.Popen[bytes]) -> None:
    """Block until ``proc`` has exited, without reaping it (``poll()`` still sees it)."""
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)


def _stop_service(service: WatchService, busy: _WorkerHandle) -> None:
    """Stop the stand-in workers (``busy`` too, if a failed test left it running)."""
    service._shutdown()
    if busy.proc.poll() is None:
        busy.proc.kill()
        busy.proc.wait()
    assert service.store is not None
    service.store.close()


def test_a_stop_that_lands_mid_pass_still_waits_out_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first SIGTERM may arrive while the loop scans the folder (not only while it
    sleeps in select): the running job must still get its grace period, not be stopped at
    once and queued again."""
    # the stand-in worker ends by itself 1.5 s from now (its pipe closes)
    sleeper = "import time; time.sleep(1.5)"
    service, job_id, handle, _ = _service_with_running_job(tmp_path, sleeper, grace=60)
    assert service.store is not None
    interrupted: list[int] = []
    monkeypatch.setattr(service, "_interrupt", lambda handles: interrupted.append(len(handles)))
    try:
        service._loop(_ScanHook(lambda n: service.request_stop()))  # type: ignore[arg-type]
        assert interrupted == [], "the running job was stopped without its grace period"
        assert handle.proc.poll() == 0  # the loop waited until the worker ended by itself
        again = service.store.get(job_id)
        assert again is not None and again.status == "queued" and again.attempts == 0
    finally:
        _stop_service(service, handle)


def test_a_worker_that_exits_just_after_its_check_is_still_reaped(tmp_path: Path) -> None:
    """The worker of a job being cancelled exits just after the loop looked at it: its
    job must still end (here: cancelled), not stay ``running`` until the next start."""
    service, job_id, handle, _ = _service_with_running_job(tmp_path, grace=5)
    assert service.store is not None
    service.store.cancel(job_id)
    handle.cancelling = True  # as _check_cancels does, with the SIGTERM below
    real_poll, calls = handle.proc.poll, [0]

    def poll() -> int | None:
        calls[0] += 1
        code = real_poll()
        if calls[0] == 1:  # still running at the check, gone right after it
            handle.proc.kill()  # as SIGTERM would (SIGKILL: whatever the runner's signal mask)
            _exited_unreaped(handle.proc)
        return code

    handle.proc.poll = poll  # type: ignore[method-assign]
    try:
        service._loop(_ScanHook(lambda n: n == 3 and service.request_stop()))  # type: ignore[arg-type]
        job = service.store.get(job_id)
        assert job is not None and job.status == "cancelled", job
        assert handle.proc.returncode is not None  # reaped
    finally:
        _stop_service(service, handle)


def test_a_stop_with_a_worker_killed_alongside_requeues_the_job_uncounted(
    tmp_path: Path,
) -> None:
    """A stop signal sent to the whole process group (``kill -TERM -PGID``, a container
    stop) reaches the daemon mid-pass and its worker too: the job is queued again without
    counting the try, and its file is not quarantined even with ``--retries 0``."""
    service, job_id, handle, src = _service_with_running_job(tmp_path, grace=30, retries=0)
    assert service.store is not None

    def group_stop(n: int) -> None:
        if n == 1:
            service.request_stop()
            handle.proc.kill()  # its worker ends too (SIGKILL: whatever the signal mask)
            _exited_unreaped(handle.proc)

    try:
        service._loop(_ScanHook(group_stop))  # type: ignore[arg-type]
        job = service.store.get(job_id)
        assert job is not None and (job.status, job.attempts) == ("queued", 0), job
        assert src.exists() and not (src.parent / "failed").exists()
    finally:
        _stop_service(service, handle)


def test_a_job_cancelled_just_before_a_stop_is_cancelled_not_queued(tmp_path: Path) -> None:
    """A cancel asked for (by ``serve``) in the moment before a stop interrupts its job:
    the job ends ``cancelled``; queued again, it would start over at the next start."""
    service, job_id, handle, _ = _service_with_running_job(tmp_path, grace=0)
    assert service.store is not None
    service.store.cancel(job_id)  # not yet seen by the loop
    try:
        service._interrupt([handle])
        job = service.store.get(job_id)
        assert job is not None and job.status == "cancelled" and not job.cancel_requested, job
    finally:
        _stop_service(service, handle)


def test_a_late_stop_or_wake_writes_into_no_reused_descriptor(tmp_path: Path) -> None:
    """A stop request (a second Ctrl-C) or a wake (a web request of ``serve``) that comes
    as the daemon ends must not write into a file that took the wake pipe's descriptor
    number (in ``serve``, the job table's own files)."""
    service, _, handle, _ = _service_with_running_job(tmp_path, grace=0)
    assert service.store is not None
    handle.proc.kill()
    handle.proc.wait()
    service.workers = []
    service.store.close()
    wake_w = service._wake_w
    service.request_stop()  # run() stops at once
    assert service.run() == 0
    with open(tmp_path / "later", "wb") as later:
        os.dup2(later.fileno(), wake_w)  # the number is taken again, as open() would
        try:
            service.request_stop()
            service.wake()
        finally:
            os.close(wake_w)
    assert (tmp_path / "later").read_bytes() == b""


def test_a_cancel_is_acted_on_at_the_next_pass(tmp_path: Path) -> None:
    """A cancel from ``serve`` wakes the loop; the next pass must stop the worker, not
    wait for the once-a-second heartbeat."""
    service, job_id, handle, _ = _service_with_running_job(tmp_path, grace=5)
    assert service.store is not None
    seen: list[bool] = []

    def hook(n: int) -> None:
        assert service.store is not None
        if n == 2:
            service.store.cancel(job_id)
            service.wake()
        elif n == 3:
            seen.append(handle.cancelling)  # what pass 2 did about it
        if n >= 3:
            service.request_stop()

    try:
        service._loop(_ScanHook(hook))  # type: ignore[arg-type]
        assert seen == [True], "the cancel waited for the heartbeat"
        job = service.store.get(job_id)
        assert job is not None and job.status == "cancelled", job
    finally:
        _stop_service(service, handle)


def test_a_job_sent_to_a_worker_that_just_died_is_queued_again_uncounted(
    tmp_path: Path,
) -> None:
    """The worker exits while idle, just before a job is handed to it: the job is not the
    file's fault, so it is queued again without counting a try (``--retries 0`` would
    otherwise quarantine the file)."""
    service, job_id, handle, src = _service_with_running_job(tmp_path, retries=0)
    assert service.store is not None
    job = service.store.put_back(job_id)  # due again, its worker idle
    assert (job.status, job.attempts) == ("queued", 0)
    handle.job = None
    handle.proc.kill()
    handle.proc.wait()
    try:
        assert service._dispatch(handle) is True
        assert handle.closed and handle.job is None
        again = service.store.get(job_id)
        assert again is not None and (again.status, again.attempts) == ("queued", 0), again
        assert src.exists()
    finally:
        _stop_service(service, handle)


def test_put_back_requeues_uncounted_or_ends_a_cancelled_job(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.db") as store:
        for name in ("a.png", "b.png"):
            assert store.add(f"/in/{name}", 1, 1, lambda i, t, n=name: n) is not None
        a = store.claim("d", 1)
        b = store.claim("d", 1)
        assert a is not None and b is not None and a.attempts == b.attempts == 1
        assert store.cancel(b.id) is not None  # a running job: a request for its daemon
        again = store.put_back(a.id, now=5.0)
        assert (again.status, again.attempts, again.not_before) == ("queued", 0, 5.0)
        assert again.owner is None and again.worker_pid is None
        ended = store.put_back(b.id, now=6.0)
        assert (ended.status, ended.cancel_requested, ended.finished) == ("cancelled", 0, 6.0)


def test_a_worker_whose_stop_signal_was_lost_stops_at_its_next_progress_report(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    """SIGTERM's KeyboardInterrupt can be lost (raised while Python runs a finalizer): the
    worker remembers the signal and stops at the job's next progress report, sending no
    result, instead of finishing the job the daemon is waiting to interrupt."""
    out = io.StringIO()
    worker = _Worker(out)
    worker.init({"config": encode_config(const_config), "threads": None})
    src, dst = tmp_path / "a.mp4", tmp_path / "staged.mp4"
    make_video(src, width=64, height=48, frames=30)
    worker.terminating = True  # as on_term sets it, before the lost KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        worker.run_job({"id": 1, "src": str(src), "dst": str(dst), "settings": None})
    assert [json.loads(line)["type"] for line in out.getvalue().splitlines()] == ["ready"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


# -- the watcher and output names ---------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ignored_names() -> None:
    for name in (".x.mp4", "a.mp4.part", "a.tmp", "a.mp4.crdownload", "a.mp4~", "notes.txt"):
        assert ignored_reason(name) is not None, name
    for name in ("a.mp4", "A.MKV", "scan 01.tif", "ünïcødé 映画.mov", "a'b\"c.png"):
        assert ignored_reason(name) is None, name
    assert ignored_reason("bad\udcff.mp4") is not None  # not UTF-8


def test_watcher_waits_for_stability_and_follows_only_inside_symlinks(tmp_path: Path) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    outside = tmp_path / "secret.png"
    make_image(outside)
    make_image(in_dir / "inside.png")
    (in_dir / "escape.png").symlink_to(outside)
    (in_dir / "alias.png").symlink_to(in_dir / "inside.png")
    (in_dir / "ünï 映画.png").write_bytes(b"picture bytes")
    (in_dir / "sub").mkdir()
    make_image(in_dir / "sub" / "deep.png")
    clock = FakeClock()
    watcher = Watcher(in_dir, settle=1.0, rescan_every=0.5, use_events=False, clock=clock)
    assert watcher.poll() == []  # first sighting
    clock.now += 0.6
    assert watcher.poll() == []  # not yet stable for 1 s
    with open(in_dir / "ünï 映画.png", "ab") as f:
        f.write(b" more")  # still being written
    clock.now += 0.6
    ready = {c.path.name: c for c in watcher.poll()}
    assert set(ready) == {"inside.png", "alias.png"}
    assert ready["alias.png"].target == (in_dir / "inside.png").resolve()
    clock.now += 1.1
    ready = {c.path.name: c for c in watcher.poll()}
    assert set(ready) == {"ünï 映画.png"}
    clock.now += 5
    assert watcher.poll() == []  # each version once; the symlink out and sub/ never


def test_output_names_stay_inside_out_dir(tmp_path: Path) -> None:
    from filmcolor.media.kinds import folder_output_name

    for name in ("a.mp4", "a.MOV", "b.avi", "c.mpg", "d.png", "e.TIF", "f.webm", "x.y.ts"):
        assert output_name(name) == folder_output_name(Path(name))
    for bad in ("", ".", "..", "../x.mp4", "a/b.mp4", ".hidden.mp4", "a\0.mp4"):
        with pytest.raises(ValueError):
            check_output_name(bad)
        with pytest.raises(ValueError):
            safe_join(tmp_path, bad)
    assert safe_join(tmp_path, "ünï.mkv") == tmp_path / "ünï.mkv"
    taken = {"a.mkv", "a-7.mkv"}
    assert unique_output_name("a.avi", 3, taken.__contains__) == "a-3.mkv"
    assert unique_output_name("a.avi", 7, taken.__contains__) == "a-7-2.mkv"
    assert unique_output_name("b.avi", 7, taken.__contains__) == "b.mkv"
    (tmp_path / "b.mkv").write_bytes(b"someone else's")
    assert unique_output_name("b.avi", 9, taken.__contains__, tmp_path) == "b-9.mkv"


def test_jobs_command_without_database_says_where_to_look(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["jobs", "--state", str(tmp_path / "none.db")])
    assert result.exit_code == 2
    assert "--state" in result.stderr


def test_watch_refuses_out_dir_equal_to_in_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["watch", str(tmp_path), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "OUT_DIR is the watch folder" in result.stderr
