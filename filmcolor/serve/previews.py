"""Before/after pictures of a job, made by the code of ``filmcolor preview``.

The model is loaded in the server process the first time a picture is asked for (one per
weights and model settings) and used by one request at a time; the app calls these
functions from its thread pool, so the event loop never waits on the model.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from ..config import RestoreConfig
from ..errors import MediaError
from ..media.kinds import is_image_path
from ..media.probe import probe
from ..model.colorizer import Colorizer
from ..preview import compose_sheet, read_frames, row_tiles, tile_shape

#: What ``preview.png?column=`` may ask for: the whole sheet, or one of its columns
#: (``colorized`` is the picture with the job's post-processing, as ``restore`` makes it).
COLUMNS = {"sheet": None, "source": 0, "colorized": 2}
#: Width of the pictures served, pixels.
TILE_WIDTH = 640


class Previewer:
    """Renders preview PNGs; thread-safe (one render at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._colorizers: dict[tuple[object, ...], Colorizer] = {}

    def _colorizer(self, config: RestoreConfig) -> Colorizer:
        key = (config.weights, config.colorize)
        if key not in self._colorizers:
            self._colorizers[key] = Colorizer(config.weights, config.colorize)
        return self._colorizers[key]

    def png(
        self,
        source: Path,
        config: RestoreConfig,
        time: float | None,
        column: str = "sheet",
        tile_width: int = TILE_WIDTH,
    ) -> bytes:
        """PNG bytes of the picture of ``source`` at ``time`` seconds (a video; None: its
        middle) or of the still image: the three-column sheet, or one ``column``
        (``COLUMNS``). Raises ``UsageError`` for a time beyond the end and the usual input,
        media and weights errors."""
        times = None
        if not is_image_path(source):
            if time is None:
                duration = probe(source, config.limits.max_pixels).duration
                time = (duration or 0.0) / 2
            times = [time]
        with self._lock:
            frames = read_frames(source, times, config.limits.max_pixels)
            frame = frames[0]
            height, width = frame.luma.shape
            tile = tile_shape(height, width, tile_width, frame.pixel_aspect)
            tiles = row_tiles(frame, self._colorizer(config), config.post, tile)
        index = COLUMNS[column]
        picture = compose_sheet([(frame.label, tiles)], tile) if index is None else tiles[index]
        ok, buf = cv2.imencode(
            ".png", cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2BGR)
        )
        if not ok:
            raise MediaError(f"{source.name}: OpenCV could not encode the preview as PNG")
        return buf.tobytes()


def duration_of(source: Path) -> float | None:
    """A video's duration in seconds (None for a still image or when unknown)."""
    if is_image_path(source):
        return None
    return probe(source).duration
