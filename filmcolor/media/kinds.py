"""What kind of media a file name says it holds (no PyAV needed: training imports this)."""

from __future__ import annotations

import os
from pathlib import Path

#: Still-image file extensions that ``restore``, ``train`` and ``eval`` take.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"})

#: Extensions treated as video files when a folder is scanned (training, pairing for ``eval``).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts"}
    | {".mxf", ".nut", ".y4m", ".dv", ".wmv", ".flv", ".ogv"}
)


#: Containers ``restore`` writes video into (each keeps pts and streams as documented); a
#: folder run (and the watch daemon) keeps these for its videos and writes others as Matroska.
KEEP_VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv"})


def folder_output_name(src: str | os.PathLike[str]) -> str:
    """The file name a folder run (or the watch daemon) writes for ``src``: images and
    .mp4/.m4v/.mov/.mkv keep their name, other videos become ``.mkv``."""
    p = Path(src)
    if is_image_path(p) or p.suffix.lower() in KEEP_VIDEO_EXTENSIONS:
        return p.name
    return p.stem + ".mkv"


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a still-image extension (``IMAGE_EXTENSIONS``)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video file extension (``VIDEO_EXTENSIONS``)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS
