#!/usr/bin/env python3
"""Fingerprint what a restore wrote: every decoded video plane with its pts and every packet
of the other streams, hashed together (SHA-256), so two outputs can be compared for identical
pictures and sound.

Usage::

    python tools/frame_hash.py OUT1.mkv [OUT2.mkv ...]

Comparing whole files is not enough: Matroska writes a new segment UID and date on every run,
so two runs of the same command differ in a few header bytes while every frame and packet is
the same.
"""

from __future__ import annotations

import hashlib
import sys

import av


def fingerprint(path: str) -> tuple[str, int]:
    """``(sha256 hex, video frames)`` of the file at ``path``."""
    h = hashlib.sha256()
    frames = 0
    with av.open(path) as container:
        for stream in container.streams:
            h.update(f"{stream.type}:{stream.codec_context.name}:{stream.time_base}".encode())
        for frame in container.decode(container.streams.video[0]):
            h.update(str(frame.pts).encode())
            for plane in frame.planes:
                h.update(bytes(plane))
            frames += 1
    with av.open(path) as container:
        others = [s for s in container.streams if s.type != "video"]
        if others:
            for packet in container.demux(*others):
                if packet.size:
                    h.update(str(packet.pts).encode())
                    h.update(bytes(packet))
    return h.hexdigest(), frames


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    for path in argv:
        digest, frames = fingerprint(path)
        print(f"{digest} {frames} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
