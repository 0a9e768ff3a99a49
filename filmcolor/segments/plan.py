"""Where a film is cut: segments that start at keyframes, read from the packets alone."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..config import RestoreConfig
from ..media.decode import DecodeWindow
from ..media.probe import MediaInfo, open_input
from ..post.filters import retiming

_FIRST = -(1 << 62)


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a film, by pts in the video stream's time base."""

    index: int
    #: The first frame written (a keyframe's pts).
    start_pts: int
    #: Exclusive end (the next segment's ``start_pts``); None: to the end of the film.
    end_pts: int | None
    #: Frames written.
    frames: int
    #: Frame number, in the whole film, of the first frame written.
    first_index: int = 0
    #: First warm-up frame (decoded and smoothed, not written): ``overlap_frames`` earlier.
    warm_pts: int = 0
    #: Frame number of ``warm_pts``.
    warm_index: int = 0
    #: Keyframe to seek to before decoding (at or before ``warm_pts``); None: the start.
    seek_pts: int | None = None

    def window(self) -> DecodeWindow:
        return DecodeWindow(self.seek_pts, self.warm_pts, self.end_pts)


@dataclass(frozen=True, slots=True)
class PacketIndex:
    """Every frame's pts (sorted) and the keyframes' pts, read from the packets alone."""

    pts: list[int]
    keyframes: list[int]


def index_packets(src: Path, info: MediaInfo) -> PacketIndex | None:
    """Read the video's packets (no decoding). None when the pts cannot be trusted for
    cutting (missing or repeated pts): such a film is restored in one pass."""
    pts: list[int] = []
    keys: list[int] = []
    with open_input(src) as inp:
        stream = inp.streams[info.video_index]
        try:
            for packet in inp.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    return None
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except av.error.FFmpegError:
            return None  # damaged: the single pass reports what it can
    pts.sort()
    if not pts or any(b <= a for a, b in itertools.pairwise(pts)):
        return None
    return PacketIndex(pts, sorted(keys))


def plan_segments(src: Path, info: MediaInfo, config: RestoreConfig) -> list[Segment]:
    """Cut the film into segments of about ``config.segments.segment_seconds`` (one segment
    when it cannot or need not be cut)."""
    index = index_packets(src, info)
    cfg = config.segments
    if index is None:  # the whole film as one part, its frames not known in advance
        return [Segment(0, _FIRST, None, 0, warm_pts=_FIRST)]
    pts = index.pts
    position = {p: i for i, p in enumerate(pts)}
    keys = [k for k in index.keyframes if k in position]
    length = cfg.segment_seconds
    if length <= 0:
        return [_segment(0, 0, len(pts), pts, keys, cfg.overlap_frames)]
    target = max(1, round(Fraction(length) / info.time_base))
    gaps = sorted(b - a for a, b in itertools.pairwise(keys))
    regular = gaps[len(gaps) // 2] if gaps else 0  # the encoder's usual keyframe interval
    starts = [0]
    previous_key = {k: (keys[i - 1] if i else None) for i, k in enumerate(keys)}
    while True:
        begin = pts[starts[-1]]
        goal = begin + target
        window = [k for k in keys if goal - target // 2 <= k <= goal + target // 2 and k > begin]
        if not window or pts[-1] - begin < target * 3 // 2:
            break

        def score(k: int, goal: int = goal) -> tuple[bool, int]:
            before = previous_key[k]
            # a keyframe off the regular interval: the encoder saw a scene change there
            off_beat = before is not None and regular > 0 and (k - before) < regular * 0.9
            return (not off_beat, abs(k - goal))

        starts.append(position[min(window, key=score)])
    ends = [*starts[1:], len(pts)]
    return [
        _segment(i, s, e, pts, keys, cfg.overlap_frames)
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]


def _segment(
    index: int, start: int, end: int, pts: list[int], keys: list[int], overlap: int
) -> Segment:
    warm = max(0, start - overlap)
    seek = None
    if warm > 0:
        seek = max((k for k in keys if k <= pts[warm]), default=None)
    return Segment(
        index=index,
        start_pts=pts[start],
        end_pts=pts[end] if end < len(pts) else None,
        frames=end - start,
        first_index=start,
        warm_pts=pts[warm],
        warm_index=warm,
        seek_pts=seek,
    )


def should_segment(info: MediaInfo, config: RestoreConfig) -> bool:
    """Whether ``restore`` takes the segmented path for this video."""
    cfg = config.segments
    if cfg.cluster is not None:
        return True
    if cfg.segment_seconds <= 0 or not info.duration or info.duration <= cfg.segment_seconds:
        return False
    # frame-count-changing filters and references are restored in one pass
    # (docs/guide/long-films.md)
    if retiming(config.post, info.time_base, info.avg_rate) is not None:
        return False
    return not config.guide.enabled
