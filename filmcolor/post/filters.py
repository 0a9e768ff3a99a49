"""FFmpeg filter graphs (through PyAV) on the decoded frames: deinterlace and grain reduction.

Both run before the luma is read, so the model sees the cleaned picture and the output's luma
is the cleaned luma. Both keep one frame per frame with the source pts: ``bwdif`` in
``send_frame`` mode (one progressive frame per interlaced frame, both fields used) and
``atadenoise`` (adaptive temporal averaging, Zhu et al.'s ATA: it averages each pixel with
its neighbours in time only where they agree, which removes film grain without smearing
motion). FFmpeg's ``hqdn3d`` is GPL-only and not in PyAV's build; ``fftdnoiz`` ran at 19 fps
at 640×272 here against ``atadenoise``'s 450.

The graph has a latency (``bwdif`` one frame, ``atadenoise`` half its window); ``push(None)``
flushes it, so no frame is lost at the end of the stream.
"""

from __future__ import annotations

from fractions import Fraction

import av

from ..config import PostConfig


def filter_chain(cfg: PostConfig) -> list[tuple[str, str]]:
    """The FFmpeg filters (name, arguments) ``cfg`` asks for, in order; empty for none."""
    chain: list[tuple[str, str]] = []
    if cfg.deinterlace == "bwdif":
        # deint=all: old film transfers are often flagged wrongly; asked for, do every frame
        chain.append(("bwdif", "mode=send_frame:parity=auto:deint=all"))
    elif cfg.deinterlace != "off":
        raise ValueError(f"unknown deinterlace mode {cfg.deinterlace!r}; use off or bwdif")
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
    the rest. Output pts are in ``time_base`` (the source stream's), whatever time base the
    filters chose.
    """

    def __init__(self, chain: list[tuple[str, str]], time_base: Fraction) -> None:
        if not chain:
            raise ValueError("an empty filter chain needs no FrameFilter")
        self.chain = chain
        self.time_base = time_base
        self._graph: av.filter.Graph | None = None

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        node = graph.add_buffer(
            width=frame.width,
            height=frame.height,
            format=frame.format.name,
            time_base=self.time_base,
        )
        for name, args in self.chain:
            nxt = graph.add(name, args)
            node.link_to(nxt)
            node = nxt
        sink = graph.add("buffersink")
        node.link_to(sink)
        graph.configure()
        return graph

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        if self._graph is None:
            if frame is None:
                return []
            self._graph = self._build(frame)
        if frame is not None:
            frame.time_base = self.time_base
        self._graph.push(frame)
        out = []
        while True:
            try:
                got = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break
            if (
                got.time_base is not None
                and got.time_base != self.time_base
                and got.pts is not None
            ):
                got.pts = round(got.pts * got.time_base / self.time_base)
            out.append(got)
        return out
