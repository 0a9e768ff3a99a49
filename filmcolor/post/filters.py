"""FFmpeg filter graphs (through PyAV) on the decoded frames: deinterlace and grain reduction.

They run before the luma is read, so the model sees the cleaned picture and the output's luma
is the cleaned luma. Two keep one frame per frame with the source pts: ``bwdif`` in
``send_frame`` mode (one progressive frame per interlaced frame, both fields used) and
``atadenoise`` (adaptive temporal averaging, Zhu et al.'s ATA: it averages each pixel with
its neighbours in time only where they agree, which removes film grain without smearing
motion). FFmpeg's ``hqdn3d`` is GPL-only and not in PyAV's build; ``fftdnoiz`` ran at 19 fps
at 640×272 here against ``atadenoise``'s 450.

Two change the frame count and timestamps by design, and only when asked: ``bwdif`` in
``send_field`` mode (a frame per field: twice the frames, in half the time base) and inverse
telecine (``fieldmatch``, ``yadif`` on frames still combed, ``decimate``: 4 frames of every 5,
at 4/5 of the rate). ``retiming`` says what the video's time base and rate become.

The graph has a latency (``bwdif`` one frame, ``atadenoise`` half its window); ``push(None)``
flushes it, so no frame is lost at the end of the stream.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import av

from ..config import PostConfig
from ..errors import UsageError


@dataclass(frozen=True, slots=True)
class Retiming:
    """How a frame-count-changing filter re-times the video."""

    #: ``ivtc`` or ``bwdif-field``.
    kind: str
    time_base: Fraction
    rate: Fraction


def retiming(cfg: PostConfig, time_base: Fraction, rate: Fraction | None) -> Retiming | None:
    """The video's new time base and rate under ``cfg``'s filters (None: unchanged).

    Raises ``UsageError`` when the source has no frame rate to work from, or when both
    frame-count-changing filters are asked for.
    """
    if cfg.ivtc and cfg.deinterlace == "bwdif-field":
        raise UsageError(
            "--ivtc and --deinterlace bwdif-field both re-time the video; choose one "
            "(telecined film wants --ivtc)"
        )
    if cfg.ivtc:
        if not rate:
            raise UsageError("--ivtc needs a constant frame rate, and the source declares none")
        out_rate = rate * Fraction(4, 5)
        return Retiming("ivtc", 1 / out_rate, out_rate)
    if cfg.deinterlace == "bwdif-field":
        return Retiming("bwdif-field", time_base / 2, rate * 2 if rate else Fraction(0))
    return None


def filter_chain(cfg: PostConfig) -> list[tuple[str, str]]:
    """The FFmpeg filters (name, arguments) ``cfg`` asks for, in order; empty for none."""
    chain: list[tuple[str, str]] = []
    if cfg.ivtc:
        # match fields into film frames, deinterlace what is still combed, drop the duplicate
        chain += [("fieldmatch", "order=auto"), ("yadif", "deint=interlaced"), ("decimate", "")]
    if cfg.deinterlace in ("bwdif", "bwdif-field"):
        # deint=all: old film transfers are often flagged wrongly; asked for, do every frame
        mode = "send_frame" if cfg.deinterlace == "bwdif" else "send_field"
        chain.append(("bwdif", f"mode={mode}:parity=auto:deint=all"))
    elif cfg.deinterlace != "off":
        raise UsageError(
            f"unknown deinterlace mode {cfg.deinterlace!r}; use off, bwdif or bwdif-field"
        )
    if cfg.denoise > 0:
        s = cfg.denoise
        # thresholds grow with the strength (FFmpeg defaults 0.02 / 0.04 at strength 1)
        a, b = min(0.02 * s, 0.3), min(0.04 * s, 5.0)
        chain.append(
            ("atadenoise", f"0a={a:.4f}:1a={a:.4f}:2a={a:.4f}:0b={b:.4f}:1b={b:.4f}:2b={b:.4f}")
        )
    return chain


class FrameFilter:
    """A filter graph fed frame by frame; built on the first frame (its size and format).

    ``push(frame)`` returns the frames that came out (possibly none yet), ``push(None)``
    the rest. Input pts are in ``time_base`` (the source stream's). Output pts are set here,
    from the input pts, not taken from the graph (whose reported time bases PyAV does not
    always get right): one frame per frame keeps each input's pts; ``retime`` of kind
    ``bwdif-field`` gives input k the pts ``2·p_k`` and ``p_k + p_(k+1)`` in half the time
    base; ``ivtc`` gives output k the pts ``first + k`` in ``1 / rate_out``, with ``first`` the
    first input's time in that time base.
    """

    def __init__(
        self,
        chain: list[tuple[str, str]],
        time_base: Fraction,
        rate: Fraction | None = None,
        retime: Retiming | None = None,
    ) -> None:
        if not chain:
            raise ValueError("an empty filter chain needs no FrameFilter")
        self.chain = chain
        self.time_base = time_base
        self.rate = rate or Fraction(25)
        self.retime = retime
        self._graph: av.filter.Graph | None = None
        self._in_pts: deque[int] = deque()  # input pts not yet matched by an output
        self._last_step = 1
        self._first: int | None = None
        self._emitted = 0

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        tb, rate = self.time_base, self.rate
        args = (
            f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}"
            f":time_base={tb.numerator}/{tb.denominator}"
            f":frame_rate={rate.numerator}/{rate.denominator}:pixel_aspect=1/1"
        )
        node = graph.add("buffer", args)
        for name, args in self.chain:
            nxt = graph.add(name, args)
            node.link_to(nxt)
            node = nxt
        sink = graph.add("buffersink")
        node.link_to(sink)
        graph.configure()
        return graph

    def _pts(self) -> int:
        """The pts of the next output frame (see the class docstring)."""
        kind = self.retime.kind if self.retime is not None else None
        if kind == "ivtc":
            assert self.retime is not None and self._first is not None
            first = round(self._first * self.time_base / self.retime.time_base)
            return first + self._emitted
        if kind == "bwdif-field":
            p = self._in_pts[0]
            if self._emitted % 2 == 0:
                return 2 * p
            self._in_pts.popleft()
            nxt = self._in_pts[0] if self._in_pts else p + self._last_step
            return p + nxt
        return self._in_pts.popleft()

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        if self._graph is None:
            if frame is None:
                return []
            self._graph = self._build(frame)
        if frame is not None:
            frame.time_base = self.time_base
            if self._in_pts:
                self._last_step = max(1, frame.pts - self._in_pts[-1])
            self._in_pts.append(frame.pts)
            if self._first is None:
                self._first = frame.pts
        self._graph.push(frame)
        out = []
        while True:
            try:
                got = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break
            got.pts = self._pts()
            self._emitted += 1
            out.append(got)
        if self.retime is not None and self.retime.kind == "ivtc":
            self._in_pts.clear()  # ivtc numbers its outputs; the inputs' pts are not needed
        return out
