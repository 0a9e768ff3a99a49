"""The command line: ``python -m tools.build_corpus --out DIR`` (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __doc__ as _overview
from .build import build
from .groups import SPLITS
from .sources import SOURCES


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tools.build_corpus", description=_overview.split("\n\n")[0]
    )
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--cache", type=Path, default=None, help="download cache (default OUT/.cache)")
    ap.add_argument("--max-side", type=int, default=1024, help="long side limit (default 1024)")
    ap.add_argument(
        "--sources",
        default=",".join(SOURCES),
        help="comma-separated source ids (default: all): " + ",".join(SOURCES),
    )
    args = ap.parse_args(argv)
    ids = [s.strip() for s in args.sources.split(",") if s.strip()]
    unknown = [s for s in ids if s not in SOURCES]
    if unknown:
        ap.error(f"unknown source(s): {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    out = args.out.resolve()
    cache = (args.cache or out / ".cache").resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    manifest = build(out, cache, args.max_side, ids)
    dt = time.monotonic() - t0
    size = sum(p.stat().st_size for p in (out / "images").rglob("*.jpg"))
    cols = "".join(f" {sp:>5}" for sp in SPLITS)
    print(f"{'source':<16} {'kept':>5}{cols} {'skipped':>8}  version")
    for sid, info in manifest["sources"].items():
        per = "".join(f" {info[sp]:>5}" for sp in SPLITS)
        print(f"{sid:<16} {info['kept']:>5}{per} {info['skipped']:>8}  {info['package_version']}")
    c = manifest["counts"]
    per = ", ".join(f"{sp} {c[sp]}" for sp in SPLITS)
    print(
        f"total {c['images']} images in {c['groups']} groups ({per}),"
        f" {c['skipped']} skipped, {size / 1e6:.1f} MB, {dt:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
