"""``filmcolor serve``: a local web app over the watch-folder daemon's job store.

- ``app``: the Starlette application: the HTML pages (``templates/``), the JSON API, the
  Server-Sent Events stream of job changes, uploads, and the security rules (token, host,
  cross-site POSTs, response headers);
- ``previews``: the before/after pictures of a job, from the code of ``filmcolor preview``;
- ``server``: uvicorn in a thread beside the daemon, which keeps the main thread (signals,
  worker processes).

Starlette, uvicorn and Jinja2 come with the ``serve`` extra (``pip install
"filmcolor[serve]"``); only the CLI imports this package, so the library runs without them.
"""

from __future__ import annotations

from .app import ServeSettings, create_app
from .server import serve_forever

__all__ = ["ServeSettings", "create_app", "serve_forever"]
