"""Side-by-side picture of one frame before and after `filmcolor restore` (for the README).

python tools/before_after.py samples/city-gray.mp4 city-colour.mp4 --at 3.0 -o docs/x.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np


def frame_at(path: Path, seconds: float) -> np.ndarray:
    """The first frame at or after ``seconds`` as BGR uint8."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(stream):
            if frame.time is not None and frame.time >= seconds:
                return frame.to_ndarray(format="bgr24")
    raise SystemExit(f"{path}: no frame at {seconds} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--at", type=float, default=1.0, help="seconds into the clip")
    parser.add_argument("--width", type=int, default=1280, help="width of the whole picture")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    a, b = frame_at(args.before, args.at), frame_at(args.after, args.at)
    pair = np.hstack([a, np.full((a.shape[0], 8, 3), 255, np.uint8), b])
    scale = args.width / pair.shape[1]
    pair = cv2.resize(pair, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(args.output), pair, [cv2.IMWRITE_JPEG_QUALITY, 88])


if __name__ == "__main__":
    main()
