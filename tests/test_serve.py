"""``filmcolor serve``: the JSON API and pages through Starlette's TestClient on a job queue
of temp folders (no daemon), the security rules, the job-store migration, and the real
command as a subprocess (upload → done → preview, SIGTERM, token, refused host)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("httpx", reason="httpx (the test extra) is not installed")

import warnings

import httpx
from click.testing import CliRunner
from conftest import TEST_RENDER, wait_for
from mediagen import make_image, make_video
from serveproc import Server, servers

with warnings.catch_warnings():  # Starlette 1.x suggests httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from filmcolor.cli import main
from filmcolor.config import ColorizeConfig, RestoreConfig
from filmcolor.daemon.jobs import Job, JobStore
from filmcolor.daemon.queue import JobConflict, JobQueue
from filmcolor.serve import ServeSettings, create_app

BASE = "http://127.0.0.1"
POST = {"X-Filmcolor": "1"}
PNG = b"\x89PNG\r\n\x1a\n"


class Env:
    def __init__(self, tmp: Path, const_weights: Path) -> None:
        self.in_dir = tmp / "in"
        self.out_dir = tmp / "out"
        self.failed = self.in_dir / "failed"
        self.presets = tmp / "presets"
        for d in (self.in_dir, self.out_dir, self.presets):
            d.mkdir()
        (self.presets / "warm.toml").write_text("[post]\ntemperature = 8.0\n")
        self.state = self.out_dir / ".filmcolor" / "jobs.db"
        self.queue = JobQueue(
            self.state, self.in_dir, self.out_dir, self.failed, presets_dir=self.presets
        )
        self.config = RestoreConfig(
            weights=str(const_weights),
            colorize=ColorizeConfig(device="cpu", render_size=TEST_RENDER),
        )

    def client(self, **settings: Any) -> TestClient:
        s = ServeSettings(
            config=self.config,
            presets_dir=self.presets,
            allowed_hosts=("127.0.0.1", "localhost"),
            **settings,
        )
        return TestClient(create_app(self.queue, s), base_url=BASE)

    def store(self) -> JobStore:
        return JobStore(self.state)


@pytest.fixture()
def env(tmp_path: Path, const_weights: Path) -> Env:
    return Env(tmp_path, const_weights)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_video(path, width=96, height=64, frames=12, rate=12)
    return path.read_bytes()


def upload(
    client: TestClient, name: str, data: bytes, headers: dict[str, str] | None = None, **form: str
) -> httpx.Response:
    return client.post(
        "/api/jobs",
        files={"file": (name, data, "application/octet-stream")},
        data=form,
        headers=POST if headers is None else headers,
    )


def test_page_and_empty_queue(env: Env) -> None:
    with env.client() as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "No jobs yet" in page.text and "look: vivid" in page.text
        assert "preset: warm" in page.text
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert client.get("/api/jobs").json() == {"jobs": []}
        js = client.get("/static/app.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert client.get("/static/app.css").headers["content-type"].startswith("text/css")
        assert client.get("/api/options").json() == {
            "looks": ["faded", "natural", "period", "vivid"],
            "presets": ["warm"],
        }


def test_upload_becomes_a_held_then_due_job_that_the_watcher_sees_as_the_same(
    env: Env, clip: bytes
) -> None:
    with env.client() as client:
        res = upload(client, "../../evil/My Film.mp4", clip, look="vivid")
        assert res.status_code == 201, res.text
        job = res.json()
        assert job["input"] == "My Film.mp4" and job["state"] == "queued"
        assert job["settings"] == {"look": "vivid"} and job["output"] == "My Film.mp4"
        assert sorted(p.name for p in env.in_dir.iterdir()) == ["My Film.mp4"]  # no .part left
        with env.store() as store:
            row = store.get(job["id"])
            assert row is not None and row.not_before <= time.time()
            st = (env.in_dir / "My Film.mp4").stat()
            # the watcher's INSERT OR IGNORE of the complete file finds this very job
            assert store.add(str(env.in_dir / "My Film.mp4"), st.st_size, st.st_mtime_ns) is None
        second = upload(client, "My Film.mp4", clip, preset="warm").json()
        assert second["input"] == "My Film-2.mp4" and second["settings"] == {"preset": "warm"}
        assert second["output"] != job["output"]
        listed = client.get("/api/jobs").json()["jobs"]
        assert [j["id"] for j in listed] == [second["id"], job["id"]]
        detail = client.get(f"/api/jobs/{job['id']}").json()
        assert detail["duration"] == pytest.approx(1.0, abs=0.1)
        assert [e["line"].split()[0] for e in detail["log"]] == ["job_uploaded"]
        page = client.get(f"/jobs/{job['id']}")
        assert page.status_code == 200 and "My Film.mp4" in page.text
        queue_page = client.get("/").text  # readable without JavaScript
        assert f'id="job-{job["id"]}"' in queue_page and "My Film-2.mp4" in queue_page
        assert '<td class="state">queued</td>' in queue_page


def test_uploads_are_probed_limited_and_named_safely(env: Env, clip: bytes) -> None:
    with env.client(max_upload=len(clip) + 10) as client:
        res = upload(client, "film.mp4", b"not a video at all" * 100)
        assert res.status_code == 415 and "does not open as a video" in res.json()["error"]
        res = upload(client, "notes.txt", clip)
        assert res.status_code == 415 and "not a video or still image name" in res.json()["error"]
        res = upload(client, "big.mp4", clip + b"\0" * 100)
        assert res.status_code == 413
        res = upload(client, "film.mp4", clip, look="sepia")
        assert res.status_code == 400 and "unknown look" in res.json()["error"]
        res = upload(client, "film.mp4", clip, preset="../warm")
        assert res.status_code == 400 and "unknown preset" in res.json()["error"]
        res = client.post("/api/jobs", data={"look": "vivid"}, headers=POST)
        assert res.status_code == 400
        assert client.get("/api/jobs").json() == {"jobs": []}
        assert list(env.in_dir.iterdir()) == []  # no partial or refused file stays behind
        png = env.in_dir.parent / "photo.png"
        make_image(png)
        res = upload(client, "photo.png", png.read_bytes())
        assert res.status_code == 201 and res.json()["input"] == "photo.png"


def test_cancel_then_retry_a_queued_job(env: Env, clip: bytes) -> None:
    with env.client() as client:
        job = upload(client, "a.mp4", clip).json()
        res = client.post(f"/api/jobs/{job['id']}/cancel", headers=POST)
        assert res.status_code == 200 and res.json()["state"] == "cancelled"
        again = client.post(f"/api/jobs/{job['id']}/cancel", headers=POST)
        assert again.status_code == 409 and "only queued or running" in again.json()["error"]
        res = client.post(f"/api/jobs/{job['id']}/retry", headers=POST)
        assert res.status_code == 200 and res.json()["state"] == "queued"
        assert res.json()["attempts"] == 0
        log = [e["line"].split()[0] for e in client.get(f"/api/jobs/{job['id']}").json()["log"]]
        assert log == ["job_uploaded", "job_cancelled", "job_retried"]
        assert client.post(f"/api/jobs/{job['id']}/retry", headers=POST).status_code == 409
        assert client.post("/api/jobs/999/retry", headers=POST).status_code == 404


def test_cancel_of_a_running_job_is_a_request_to_its_daemon(env: Env, clip: bytes) -> None:
    with env.client() as client:
        job = upload(client, "a.mp4", clip).json()
        with env.store() as store:
            claimed = store.claim("daemon-x", os.getpid())
            assert claimed is not None and claimed.id == job["id"]
            res = client.post(f"/api/jobs/{job['id']}/cancel", headers=POST)
            assert res.status_code == 200
            assert res.json()["state"] == "running" and res.json()["cancel_requested"]
            assert store.cancel_requests("daemon-x") == [job["id"]]
            assert store.cancelled(job["id"]).status == "cancelled"


def test_retry_moves_a_quarantined_file_back_and_queues_the_same_job(env: Env, clip: bytes) -> None:
    with env.client() as client:
        job = upload(client, "bad.mp4", clip).json()
        with env.store() as store:
            store.claim("daemon-x", os.getpid())
            failed = store.give_up(job["id"], "it broke", 4)
            env.failed.mkdir()
            moved = env.failed / "bad.mp4"
            os.rename(failed.path, moved)
            moved.with_name("bad.mp4.error.json").write_text("{}")
            store.set_moved(job["id"], str(moved))
        view = client.get("/api/jobs").json()["jobs"][0]
        assert view["state"] == "failed" and view["error"] == "it broke" and view["quarantined"]
        res = client.post(f"/api/jobs/{job['id']}/retry", headers=POST)
        assert res.status_code == 200, res.text
        assert res.json()["state"] == "queued" and res.json()["error"] is None
        assert (env.in_dir / "bad.mp4").is_file()
        assert sorted(p.name for p in env.failed.iterdir()) == []
        with env.store() as store:
            row = store.get(job["id"])
            assert row is not None and row.moved_to is None and row.not_before <= time.time()
        # gone from both folders: nothing to retry
        with env.store() as store:
            store.claim("daemon-x", os.getpid())
            store.give_up(job["id"], "again", 4)
        (env.in_dir / "bad.mp4").unlink()
        res = client.post(f"/api/jobs/{job['id']}/retry", headers=POST)
        assert res.status_code == 409 and "upload it again" in res.json()["error"]


def test_two_retries_of_one_job_at_once_move_its_file_back_once(env: Env, clip: bytes) -> None:
    """A double click on Retry: two requests (two threads) for one quarantined job. One
    moves the file back and queues the job; the other is refused. Neither may leave the
    job held on a name it never filled."""
    with env.client() as client:
        job_id = upload(client, "bad.mp4", clip).json()["id"]
    with env.store() as store:
        store.claim("daemon-x", os.getpid())
        failed = store.give_up(job_id, "it broke", 4)
        env.failed.mkdir()
        moved = env.failed / "bad.mp4"
        os.rename(failed.path, moved)
        store.set_moved(job_id, str(moved))
    second: list[BaseException | Job] = []

    def other_request() -> None:
        try:
            second.append(env.queue.retry(job_id))
        except JobConflict as exc:
            second.append(exc)

    real_source, calls = env.queue.source, [0]

    def source(job: Job) -> Path | None:
        found = real_source(job)
        calls[0] += 1
        if calls[0] == 1:  # the first request found the file: the second one comes now
            other = threading.Thread(target=other_request)
            other.start()
            other.join(timeout=1.0)
            pending.append(other)
            assert other.is_alive(), "the second retry ran while the first one was moving"
        return found

    pending: list[threading.Thread] = []
    env.queue.source = source  # type: ignore[method-assign]
    first = env.queue.retry(job_id)
    for other in pending:
        other.join(timeout=30)
    assert first.status == "queued" and Path(first.path) == env.in_dir / "bad.mp4"
    assert len(second) == 1 and isinstance(second[0], JobConflict), second
    with env.store() as store:
        row = store.get(job_id)
        assert row is not None and row.status == "queued" and row.not_before <= time.time()
        assert Path(row.path) == env.in_dir / "bad.mp4" and (env.in_dir / "bad.mp4").is_file()


def test_uploads_retries_and_cancels_wake_the_daemon(tmp_path: Path, clip: bytes) -> None:
    """Given the daemon's ``wake``, the queue calls it after each change the daemon acts
    on (so a cancel stops a running job at once, not at the daemon's next look)."""
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    woken: list[int] = []
    failed, out = in_dir / "failed", tmp_path / "out"
    queue = JobQueue(tmp_path / "jobs.db", in_dir, out, failed, wake=lambda: woken.append(1))
    part = queue.new_upload_path()
    part.write_bytes(clip)
    job = queue.submit(part, "a.mp4")
    assert len(woken) == 1
    assert queue.cancel(job.id).status == "cancelled" and len(woken) == 2
    assert queue.retry(job.id).status == "queued" and len(woken) == 3
    with pytest.raises(JobConflict):
        queue.retry(job.id)
    assert len(woken) == 3  # a refused request changes nothing


def test_preview_png_of_a_job_and_its_columns(env: Env, clip: bytes) -> None:
    with env.client() as client:
        job = upload(client, "a.mp4", clip, look="faded").json()
        sheet = client.get(f"/api/jobs/{job['id']}/preview.png?t=0.5")
        assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/png"
        assert sheet.content.startswith(PNG)
        for column in ("source", "colorized"):
            one = client.get(f"/api/jobs/{job['id']}/preview.png?column={column}")
            assert one.status_code == 200 and one.content.startswith(PNG)
        assert client.get(f"/api/jobs/{job['id']}/preview.png?t=99").status_code == 400
        assert client.get(f"/api/jobs/{job['id']}/preview.png?t=nan").status_code == 400
        assert client.get(f"/api/jobs/{job['id']}/preview.png?column=x").status_code == 400
        assert client.get("/api/jobs/77/preview.png").status_code == 404
        assert client.get(f"/api/jobs/{job['id']}/output").status_code == 404  # not done


@pytest.mark.parametrize(
    "url",
    [
        "/api/jobs/..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/1%2F..%2F..%2Fjobs.db/preview.png",
        "/api/jobs/%2E%2E/output",
        "/static/..%2F..%2Fapp.py",
        "/static/%2E%2E%2Fapp.py",
        "/static/../app.py",
        "/static/",
        "/static/templates",
        "/jobs/..%2F1",
        "/api/jobs/-1",
        "/templates/index.html",
        "/.filmcolor/jobs.db",
    ],
)
def test_traversal_and_listings_get_404(env: Env, clip: bytes, url: str) -> None:
    with env.client() as client:
        upload(client, "a.mp4", clip)
        res = client.get(url)
        assert res.status_code == 404, (url, res.status_code)
        assert b"def create_app" not in res.content and b"SQLite" not in res.content


def test_token_rules(env: Env) -> None:
    with env.client(token="s3cret") as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = client.get("/api/jobs", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json() == {"jobs": []}
        first = client.get("/?token=s3cret", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/api/jobs").status_code == 200  # the cookie now
        assert client.get("/").status_code == 200


def test_token_in_api_query_is_not_accepted(env: Env) -> None:
    with env.client(token="s3cret") as client:
        assert client.get("/api/jobs?token=s3cret").status_code == 401


def test_cross_site_posts_and_foreign_hosts_are_refused(env: Env, clip: bytes) -> None:
    with env.client() as client:
        res = upload(client, "a.mp4", clip, headers={})
        assert res.status_code == 403 and "X-Filmcolor" in res.json()["error"].title()
        res = upload(client, "a.mp4", clip, headers={**POST, "Origin": "http://evil.example"})
        assert res.status_code == 403
        res = upload(client, "a.mp4", clip, headers={**POST, "Sec-Fetch-Site": "cross-site"})
        assert res.status_code == 403
        assert client.get("/api/jobs", headers={"Host": "evil.example"}).status_code == 400
        res = upload(client, "a.mp4", clip, headers={**POST, "Origin": BASE})
        assert res.status_code == 201
        assert client.get("/api/jobs").json()["jobs"][0]["input"] == "a.mp4"


def test_event_stream_sends_the_queue_then_changes(env: Env, clip: bytes) -> None:
    with env.client() as client:
        job = upload(client, "a.mp4", clip).json()
        with client.stream("GET", "/api/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == "event: jobs"
            first = json.loads(next(lines)[len("data: ") :])
            assert [j["id"] for j in first["jobs"]] == [job["id"]]
            client.post(f"/api/jobs/{job['id']}/cancel", headers=POST)
            for line in lines:
                if line.startswith("data: "):
                    changed = json.loads(line[len("data: ") :])
                    assert changed["id"] == job["id"] and changed["state"] == "cancelled"
                    break


def test_schema_1_database_is_migrated_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema', '1');
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'skipped')),
            stage TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, exit_code INTEGER,
            not_before REAL NOT NULL DEFAULT 0, owner TEXT, daemon_pid INTEGER,
            worker_pid INTEGER, heartbeat REAL, created REAL NOT NULL, started REAL,
            finished REAL, output TEXT, moved_to TEXT, UNIQUE (path, size, mtime_ns));
        INSERT INTO jobs (path, size, mtime_ns, status, created, output)
            VALUES ('/in/a.mp4', 10, 1, 'done', 1.0, 'a.mp4'),
                   ('/in/b.mp4', 20, 2, 'queued', 2.0, 'b.mp4');
        """
    )
    db.commit()
    db.close()
    with JobStore(path) as store:
        jobs = store.all()
        assert [(j.id, j.status, j.output) for j in jobs] == [
            (1, "done", "a.mp4"),
            (2, "queued", "b.mp4"),
        ]
        cancelled = store.cancel(2)
        assert cancelled is not None and cancelled.status == "cancelled"
        added = store.add("/in/c.mp4", 5, 3)
        assert added is not None and added.id == 3
    with JobStore(path) as store:  # opening again changes nothing
        assert [j.status for j in store.all()] == ["done", "cancelled", "queued"]
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
    db.close()


def test_non_loopback_host_without_token_exits_2(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    argv = ["serve", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--host", "0.0.0.0"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2
    assert "--token" in result.output and "other machines" in result.output
    assert not (tmp_path / "out").exists()


# -- the real command --------------------------------------------------------------------


@pytest.fixture()
def server(tmp_path: Path, const_weights: Path) -> Iterator[Callable[..., Server]]:
    yield from servers(tmp_path, const_weights)


@pytest.mark.slow
def test_serve_upload_to_done_preview_then_sigterm(
    server: Callable[..., Server], tmp_path: Path
) -> None:
    from mediagen import probe_streams

    s = server("--token", "t0k")
    clip = tmp_path / "clip.mp4"
    frames = make_video(clip, width=96, height=64, frames=20, rate=12)
    auth = {"Authorization": "Bearer t0k"}
    with httpx.Client(base_url=s.url, timeout=30) as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/api/jobs", headers=auth).json() == {"jobs": []}
        page = client.get("/", headers=auth)
        assert page.status_code == 200 and "<html" in page.text
        with open(clip, "rb") as f:
            res = client.post(
                "/api/jobs", files={"file": ("clip.mp4", f)}, headers={**auth, **POST}
            )
        assert res.status_code == 201, res.text
        job_id = res.json()["id"]

        def done() -> dict[str, Any] | None:
            job = client.get(f"/api/jobs/{job_id}", headers=auth).json()
            assert job["state"] in ("queued", "running", "done"), job
            # the job_done line is logged just after the state changes
            logged = any("job_done" in e["line"] for e in job["log"])
            return job if job["state"] == "done" and logged else None

        job = wait_for(done, 120, "the job to finish")
        assert job["progress"] == 1.0
        assert job["report"]["frames_out"] == len(frames)
        out = tmp_path / "out" / job["output"]
        assert job["report"]["output"] == str(out.resolve())
        assert len(probe_streams(out)["video"][0]["pts"]) == len(frames)
        preview = client.get(f"/api/jobs/{job_id}/preview.png", headers=auth)
        assert preview.status_code == 200 and preview.content.startswith(PNG)
        got = client.get(f"/api/jobs/{job_id}/output", headers=auth)
        assert got.status_code == 200 and got.content == out.read_bytes()
        # traversal, sent as raw request lines (no client-side normalising) to the real server
        host, port = s.url.removeprefix("http://").split(":")
        for raw in (
            "/static/..%2F..%2F..%2Fpyproject.toml",
            "/static/../../pyproject.toml",
            f"/api/jobs/{job_id}%2F..%2F..%2Fjobs.db",
            "/api/jobs/..%2F..%2Fout%2Fclip.mp4/output",
            "/out/clip.mp4",
            "/static/",
        ):
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", raw, headers=auth)
            answer = conn.getresponse()
            body = answer.read()
            conn.close()
            assert answer.status == 404, (raw, answer.status)
            assert b"[project]" not in body and not body.startswith(b"\x00\x00\x00")
        # an open event stream does not hold the stop up
        with client.stream("GET", "/api/events", headers=auth) as stream:
            assert next(stream.iter_lines()) == "event: jobs"
            s.proc.send_signal(signal.SIGTERM)
            assert s.proc.wait(timeout=30) == 0
    assert any(e["event"] == "watch_stopped" for e in s.events())


@pytest.mark.slow
def test_sigterm_mid_job_requeues_it_and_cancel_stops_a_running_job(
    server: Callable[..., Server], tmp_path: Path
) -> None:
    s = server("--grace", "0")
    clip = tmp_path / "long.mp4"
    make_video(clip, width=160, height=120, frames=960, rate=24)  # 8 s: stopped anyway
    with httpx.Client(base_url=s.url, timeout=30) as client:
        ids = []
        for name in ("a.mp4", "b.mp4"):
            with open(clip, "rb") as f:
                res = client.post("/api/jobs", files={"file": (name, f)}, headers=POST)
            assert res.status_code == 201, res.text
            ids.append(res.json()["id"])

        def state(i: int) -> str:
            return client.get(f"/api/jobs/{i}").json()["state"]

        wait_for(lambda: state(ids[0]) == "running", 60, "the first job to run")
        res = client.post(f"/api/jobs/{ids[0]}/cancel", headers=POST)
        assert res.status_code == 200
        wait_for(lambda: state(ids[0]) == "cancelled", 30, "the cancel")
        wait_for(lambda: state(ids[1]) == "running", 60, "the second job to run")
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=60) == 0
    with JobStore(tmp_path / "out" / ".filmcolor" / "jobs.db") as store:
        second = store.get(ids[1])
        assert second is not None and second.status == "queued" and second.attempts == 0
        assert list((tmp_path / "out").glob("*.mp4")) == []


def test_job_settings_looks_and_presets(tmp_path: Path, const_weights: Path) -> None:
    from filmcolor.daemon.presets import check_job_settings, job_config, list_presets
    from filmcolor.errors import UsageError

    (tmp_path / "warm.toml").write_text(
        'look = "period"\nrender-size = 96\n[post]\nsaturation = 0.5\n'
    )
    (tmp_path / "broken.toml").write_text("render-size = -3\n")
    (tmp_path / ".hidden.toml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    assert list(list_presets(tmp_path)) == ["broken", "warm"]
    assert list_presets(None) == {} and list_presets(tmp_path / "missing") == {}
    base = RestoreConfig(
        weights=str(const_weights), colorize=ColorizeConfig(device="cpu", render_size=64)
    )
    assert job_config(base, None) is base
    vivid = job_config(base, {"look": "vivid"})
    assert vivid.post.saturation == 1.25 and vivid.colorize.render_size == 64
    assert vivid.colorize.vividness > base.colorize.vividness
    warm = job_config(base, {"preset": str(tmp_path / "warm.toml")})
    assert warm.post.saturation == 0.5 and warm.post.temperature == 6.0  # the period look
    assert warm.colorize.render_size == 96 and warm.weights == base.weights
    assert warm.colorize.device == "cpu"
    assert check_job_settings("vivid", None, tmp_path) == {"look": "vivid"}
    assert check_job_settings(None, "warm", tmp_path) == {"preset": "warm"}
    assert check_job_settings(None, None, tmp_path) is None
    for look, preset, words in [
        ("vivid", "warm", "not both"),
        ("sepia", None, "unknown look"),
        (None, "cold", "the presets are: broken, warm"),
        (None, "broken", "broken.toml"),
    ]:
        with pytest.raises(UsageError, match=words):
            check_job_settings(look, preset, tmp_path)


def test_size_option_and_loopback_names() -> None:
    from filmcolor.cli.serve import SizeType
    from filmcolor.serve.server import is_loopback

    size = SizeType()
    assert size.convert("1048576", None, None) == 1048576
    assert size.convert("500M", None, None) == 500 * 1024**2
    assert size.convert("1.5GiB", None, None) == int(1.5 * 1024**3)
    for bad in ("0", "-1M", "lots", "5X"):
        with pytest.raises(Exception, match="is not a size"):
            size.convert(bad, None, None)
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.2", "::", "example.com"))


def test_taken_port_exits_2_and_stale_uploads_are_cleared(tmp_path: Path) -> None:
    import socket

    in_dir = tmp_path / "in"
    in_dir.mkdir()
    stale = in_dir / ".upload-0123.part"
    stale.write_bytes(b"half")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["serve", str(in_dir), "-o", str(tmp_path / "out"), "--port", str(port)]
        result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
    queue = JobQueue(tmp_path / "jobs.db", in_dir, tmp_path / "out", in_dir / "failed")
    assert queue.clear_stale_uploads() == 1 and not stale.exists()
