"""The web app of ``filmcolor serve``: pages, JSON API, live job stream, uploads.

Routes (every id is an integer; nothing in a URL is ever a path):

- ``GET /``: the queue page; ``GET /jobs/{id}``: one job (settings, log, report, error,
  retry/cancel, before/after); ``GET /static/{name}``: the page's own script and style
  sheet (a fixed list, no folder behind it);
- ``GET /api/jobs`` → ``{"jobs": [...]}`` (``queue.job_view``), ``GET /api/jobs/{id}``
  (plus ``log`` and ``duration``), ``POST /api/jobs`` (multipart: ``file``, optional
  ``look`` or ``preset``) → 201 and the job, ``POST /api/jobs/{id}/retry``,
  ``POST /api/jobs/{id}/cancel``, ``GET /api/jobs/{id}/preview.png[?t=SECONDS][&column=
  sheet|source|colorized]``, ``GET /api/jobs/{id}/output`` (the finished file),
  ``GET /api/options`` (looks and presets), ``GET /api/events`` (Server-Sent Events:
  ``jobs`` with every job first, then ``job`` for each job that changed).

Security:

- with a token, every request needs it: ``Authorization: Bearer TOKEN``, or the cookie that
  ``GET /?token=TOKEN`` sets (HttpOnly, SameSite=Strict; the page then reloads without
  the token in its address); else 401;
- on a loopback address the ``Host`` header must name the loopback (a DNS-rebinding page
  cannot reach the API);
- every POST needs the header ``X-Filmcolor: 1`` (a cross-site form cannot send it, and a
  cross-site script cannot without a CORS preflight, which is never granted) and, when the
  browser sends ``Origin`` or ``Sec-Fetch-Site``, a same-origin one; else 403;
- uploads over ``max_upload`` bytes get 413 (checked while streaming); the file type is
  checked by opening the file (415 otherwise);
- responses carry ``X-Content-Type-Options: nosniff``, a strict Content-Security-Policy
  (own scripts, styles and pictures only), ``X-Frame-Options: DENY`` and no referrer.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from jinja2 import Environment, FileSystemLoader, select_autoescape
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import LOOKS, RestoreConfig
from ..daemon.presets import job_config, list_presets
from ..daemon.queue import JobConflict, JobNotFound, JobQueue, job_view
from ..errors import FilmcolorError, InputError, UsageError
from ..media.kinds import is_image_path
from .previews import COLUMNS, Previewer, duration_of

HERE = Path(__file__).parent
TOKEN_COOKIE = "filmcolor_token"
CSRF_HEADER = "x-filmcolor"
#: Seconds between looks at the job table for the event stream.
EVENT_POLL = 0.5
#: A comment line this often keeps idle event streams open through proxies.
EVENT_KEEPALIVE = 15.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class ServeSettings:
    """What the app needs beside the job queue."""

    #: The daemon's restore settings (previews use them, with each job's look or preset).
    config: RestoreConfig = field(default_factory=RestoreConfig)
    #: Required on every request when set.
    token: str | None = None
    #: Largest upload, bytes.
    max_upload: int = 20 * 1024**3
    presets_dir: Path | None = None
    #: ``Host`` names accepted (None: any; the CLI gives the loopback names on loopback).
    allowed_hosts: tuple[str, ...] | None = None
    #: Set when the server stops: the event streams end.
    stopping: threading.Event = field(default_factory=threading.Event)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _Guard:
    """Token, host and cross-site checks, and the security headers on every response."""

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response = self._check(request)
        if response is not None:
            await self._with_headers(response)(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for key, value in _security_headers():
                    if key.encode() not in present:
                        headers.append((key.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _with_headers(response: Response) -> Response:
        for key, value in _security_headers():
            response.headers.setdefault(key, value)
        return response

    def _check(self, request: Request) -> Response | None:
        s = self.settings
        host = (request.headers.get("host") or "").lower()
        hostname = urlsplit(f"//{host}").hostname or ""
        if (
            s.allowed_hosts is not None
            and hostname not in s.allowed_hosts
            and host not in (s.allowed_hosts)
        ):
            return PlainTextResponse("unknown host name; open the address the server printed", 400)
        if s.token is not None:
            given = None
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            elif request.url.path == "/" and "token" in request.query_params:
                given = request.query_params["token"]
            else:
                given = request.cookies.get(TOKEN_COOKIE)
            if given is None or not hmac.compare_digest(given.encode(), s.token.encode()):
                if request.url.path.startswith("/api/"):
                    return _error(401, "token required: send 'Authorization: Bearer TOKEN'")
                return PlainTextResponse(
                    "401: open the address with ?token=TOKEN (the token given to "
                    "'filmcolor serve --token')",
                    401,
                )
        if request.method == "POST":
            if request.headers.get(CSRF_HEADER) != "1":
                return _error(403, f"cross-site request refused: send the header {CSRF_HEADER}: 1")
            origin = request.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc.lower() != host:
                return _error(403, "cross-site request refused: the Origin is another site")
            if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
                return _error(403, "cross-site request refused")
        return None


def _security_headers() -> list[tuple[str, str]]:
    return [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", _CSP),
        ("cache-control", "no-store"),
    ]


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def create_app(queue: JobQueue, settings: ServeSettings | None = None) -> Starlette:
    """The ASGI app over ``queue`` (see the module docstring)."""
    s = settings or ServeSettings()
    previewer = Previewer()
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
    )
    env.filters["eta"] = _fmt_eta
    static = {name: (HERE / "static" / name).read_bytes() for name in _STATIC}

    def options() -> dict[str, Any]:
        return {"looks": sorted(LOOKS), "presets": list(list_presets(s.presets_dir))}

    async def job_or_404(request: Request) -> Any:
        job_id = request.path_params["job_id"]
        try:
            return await run_in_threadpool(queue.job, job_id)
        except JobNotFound:
            return None

    # -- pages ---------------------------------------------------------------------------

    async def index(request: Request) -> Response:
        if s.token is not None and "token" in request.query_params:
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(
                TOKEN_COOKIE,
                request.query_params["token"],
                httponly=True,
                samesite="strict",
                path="/",
            )
            return response
        jobs = [job_view(j) for j in await run_in_threadpool(queue.jobs)]
        html = env.get_template("index.html").render(
            jobs=jobs, options=options(), max_upload=s.max_upload
        )
        return HTMLResponse(html)

    async def job_page(request: Request) -> Response:
        job = await job_or_404(request)
        if job is None:
            return PlainTextResponse("no such job", 404)
        detail = await run_in_threadpool(_detail, job)
        html = env.get_template("job.html").render(job=detail, options=options())
        return HTMLResponse(html)

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in static:
            return PlainTextResponse("not found", 404)
        return Response(static[name], media_type=_STATIC[name])

    # -- API -----------------------------------------------------------------------------

    def _detail(job: Any) -> dict[str, Any]:
        view = job_view(job)
        view["log"] = [
            {"time": t, "level": level, "line": line} for t, level, line in queue.logs(job.id)
        ]
        source = queue.source(job)
        view["source_available"] = source is not None
        view["output_available"] = queue.output(job) is not None
        view["is_image"] = is_image_path(job.path)
        duration = None
        if source is not None:
            with contextlib.suppress(FilmcolorError):
                duration = duration_of(source)
        view["duration"] = duration
        return view

    async def api_jobs(request: Request) -> Response:
        jobs = await run_in_threadpool(queue.jobs)
        return JSONResponse({"jobs": [job_view(j) for j in jobs]})

    async def api_job(request: Request) -> Response:
        job = await job_or_404(request)
        if job is None:
            return _error(404, "no such job")
        return JSONResponse(await run_in_threadpool(_detail, job))

    async def api_options(request: Request) -> Response:
        return JSONResponse(options())

    async def api_upload(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > s.max_upload + 65536:
            return _error(413, f"upload larger than the limit of {s.max_upload} bytes")
        ctype, params = parse_options_header(request.headers.get("content-type", ""))
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            return _error(400, "send multipart/form-data with the file in the field 'file'")
        part = queue.new_upload_path()
        try:
            fields, filename, size = await _receive_upload(request, boundary, part, s.max_upload)
        except _UploadTooLarge:
            part.unlink(missing_ok=True)
            return _error(413, f"upload larger than the limit of {s.max_upload} bytes")
        except _BadUpload as exc:
            part.unlink(missing_ok=True)
            return _error(400, str(exc))
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if filename is None or size == 0:
            part.unlink(missing_ok=True)
            return _error(400, "no file: send it in the multipart field 'file'")
        try:
            job = await run_in_threadpool(
                queue.submit,
                part,
                filename,
                fields.get("look") or None,
                fields.get("preset") or None,
            )
        except InputError as exc:
            return _error(415, str(exc))
        except UsageError as exc:
            return _error(400, str(exc))
        return JSONResponse(job_view(job), status_code=201)

    async def api_retry(request: Request) -> Response:
        return await _act(request, queue.retry)

    async def api_cancel(request: Request) -> Response:
        return await _act(request, queue.cancel)

    async def _act(request: Request, action: Any) -> Response:
        try:
            job = await run_in_threadpool(action, request.path_params["job_id"])
        except JobNotFound:
            return _error(404, "no such job")
        except JobConflict as exc:
            return _error(409, str(exc))
        return JSONResponse(job_view(job))

    async def api_preview(request: Request) -> Response:
        job = await job_or_404(request)
        if job is None:
            return _error(404, "no such job")
        column = request.query_params.get("column", "sheet")
        if column not in COLUMNS:
            return _error(400, f"column must be one of {', '.join(COLUMNS)}")
        t = None
        if "t" in request.query_params:
            try:
                t = float(request.query_params["t"])
            except ValueError:
                t = math.nan
            if not math.isfinite(t) or t < 0:
                return _error(400, "t must be seconds from the start, a number >= 0")
        source = await run_in_threadpool(queue.source, job)
        if source is None:
            return _error(404, "the job's source file is gone")
        settings = json.loads(job.settings) if job.settings else None
        if settings and settings.get("preset"):
            preset = list_presets(s.presets_dir).get(settings["preset"])
            settings = {"preset": str(preset)} if preset else None
        try:
            config = job_config(s.config, settings)
            png = await run_in_threadpool(previewer.png, source, config, t, column)
        except UsageError as exc:
            return _error(400, str(exc))
        except FilmcolorError as exc:
            return _error(422, str(exc))
        return Response(png, media_type="image/png")

    async def api_output(request: Request) -> Response:
        job = await job_or_404(request)
        if job is None:
            return _error(404, "no such job")
        path = await run_in_threadpool(queue.output, job)
        if path is None:
            return _error(404, "no finished output for this job")
        return FileResponse(path, filename=path.name)

    async def api_events(request: Request) -> Response:
        async def stream() -> Any:
            last: dict[int, dict[str, Any]] = {}
            quiet = 0.0
            first = True
            while True:
                if s.stopping.is_set():
                    return
                jobs = [job_view(j) for j in await run_in_threadpool(queue.jobs)]
                if first:
                    yield _sse("jobs", {"jobs": jobs})
                    first = False
                else:
                    for view in reversed(jobs):
                        if last.get(view["id"]) != view:
                            yield _sse("job", view)
                            quiet = 0.0
                last = {v["id"]: v for v in jobs}
                quiet += EVENT_POLL
                if quiet >= EVENT_KEEPALIVE:
                    yield ": keep-alive\n\n"
                    quiet = 0.0
                if await request.is_disconnected():
                    return
                await anyio.sleep(EVENT_POLL)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"}
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return _error(404, "not found")
        return PlainTextResponse("not found", 404)

    routes = [
        Route("/", index),
        Route("/jobs/{job_id:int}", job_page),
        Route("/static/{name}", static_file),
        Route("/api/jobs", api_jobs, methods=["GET"]),
        Route("/api/jobs", api_upload, methods=["POST"]),
        Route("/api/options", api_options),
        Route("/api/events", api_events),
        Route("/api/jobs/{job_id:int}", api_job),
        Route("/api/jobs/{job_id:int}/retry", api_retry, methods=["POST"]),
        Route("/api/jobs/{job_id:int}/cancel", api_cancel, methods=["POST"]),
        Route("/api/jobs/{job_id:int}/preview.png", api_preview),
        Route("/api/jobs/{job_id:int}/output", api_output),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_Guard, settings=s)],
        exception_handlers={404: not_found},
    )


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _UploadTooLarge(Exception):
    pass


class _BadUpload(Exception):
    pass


async def _receive_upload(
    request: Request, boundary: bytes, part: Path, limit: int
) -> tuple[dict[str, str], str | None, int]:
    """Stream a multipart body: the field ``file`` into ``part`` (at most ``limit`` bytes),
    the small text fields into a dict. Returns (fields, the file's name, its size)."""
    fields: dict[str, str] = {}
    state: dict[str, Any] = {"headers": {}, "name": None, "filename": None, "buf": b""}
    header_field = bytearray()
    header_value = bytearray()
    size = 0
    files_seen = 0
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    out = os.fdopen(fd, "wb")

    def on_part_begin() -> None:
        state["headers"] = {}
        state["name"] = state["filename"] = None
        state["buf"] = b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        state["headers"][bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal files_seen
        _, params = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["name"] = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if state["name"] == "file" and filename is not None:
            files_seen += 1
            if files_seen > 1:
                raise _BadUpload("send one file per request")
            state["filename"] = filename.decode("utf-8", "replace")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal size
        if state["filename"] is not None:
            size += end - start
            if size > limit:
                raise _UploadTooLarge
            out.write(data[start:end])
        else:
            state["buf"] += data[start:end]
            if len(state["buf"]) > 4096:
                raise _BadUpload("a form field is too long")

    def on_part_end() -> None:
        if state["filename"] is not None:
            fields["__filename__"] = state["filename"]
        elif state["name"]:
            fields[state["name"]] = state["buf"].decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        out.flush()
        await run_in_threadpool(os.fsync, out.fileno())  # seconds for a big file: not here
    except (ValueError, _BadUpload) as exc:
        if isinstance(exc, _BadUpload):
            raise
        raise _BadUpload(f"malformed multipart body ({exc})") from None
    finally:
        out.close()
    filename = fields.pop("__filename__", None)
    return fields, filename, size
