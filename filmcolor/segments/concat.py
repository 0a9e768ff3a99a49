"""Join the finished parts into one file: video packets without re-encoding, every other
stream copied once from the original."""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from ..atomic import atomic_output
from ..config import RestoreConfig
from ..errors import MediaError
from ..media.probe import MediaInfo, open_input
from ..media.remux import add_copied_streams, copy_container_tags, dropped_packets
from ..media.sequence import ImageSequence
from ..pipeline import open_output


def stitch(
    src: Path | ImageSequence,
    info: MediaInfo,
    parts: list[Path],
    dst: Path,
    config: RestoreConfig,
    warnings: list[str],
    dropped: dict[str, int] | None = None,
) -> int:
    """Join the parts' video packets (no re-encoding) with every other stream of ``src``,
    into ``dst`` (atomically). Returns the number of video frames written. Damaged packets
    of the other streams are left out (counted into ``dropped`` by input stream index, with
    a warning) unless ``config.strict``."""
    frames = 0
    with atomic_output(dst, config.overwrite) as tmp, open_input(src) as inp:
        first = av.open(str(parts[0]))
        out = open_output(tmp, dst, info)
        try:
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            video.time_base = info.time_base
            if info.display_matrix is not None:
                video.set_display_matrix(list(info.display_matrix))
            if isinstance(src, ImageSequence) and src.timecode:
                video.metadata["timecode"] = src.timecode  # the scans' (MOV: a tmcd track)
            plans = add_copied_streams(out, inp, info.video_index, warnings, video)
            copy_container_tags(out, inp)

            def video_packets() -> Iterator[tuple[Fraction, int, av.Packet]]:
                nonlocal frames
                last: Fraction | None = None
                for packet in _with_dts(parts):
                    t = _packet_time(packet, last)
                    last = t
                    frames += 1
                    yield t, 0, packet

            def other_packets() -> Iterator[tuple[Fraction, int, av.Packet]]:
                if not plans:
                    return
                last: Fraction | None = None
                streams = [inp.streams[i] for i in plans]
                try:
                    for packet in inp.demux(streams):
                        if packet.size == 0:
                            continue
                        t = _packet_time(packet, last)
                        last = t
                        yield t, 1, packet
                except av.error.FFmpegError as exc:
                    warnings.append(f"input ends early (truncated or damaged): {exc}")

            merged = heapq.merge(video_packets(), other_packets(), key=lambda x: (x[0], x[1]))
            for _, kind, packet in merged:
                if kind == 0:
                    packet.stream = video
                    out.mux(packet)
                else:
                    plans[packet.stream.index].mux(out, packet, config.strict)
            for plan in plans.values():
                plan.mux_flush(out, config.strict)
            out.close()
            counts, refused = dropped_packets(plans)
            warnings.extend(refused)
            if dropped is not None:
                dropped.update(counts)
        except av.error.FFmpegError as exc:
            with contextlib.suppress(av.error.FFmpegError, ValueError):
                out.close()
            raise MediaError(f"{dst}: joining the segments failed: {exc}") from exc
        finally:
            first.close()
    return frames


def _with_dts(parts: list[Path]) -> Iterator[av.Packet]:
    """The parts' video packets in order, each with a decode timestamp.

    Matroska does not store dts: its demuxer leaves them unset on the first packets of a
    part (before the first reordered frame). The muxer needs them increasing across the
    joins, so the missing ones are spread between the previous part's last dts and the
    first known one (for Matroska output they are not written anyway).
    """
    last: int | None = None
    for path in parts:
        with av.open(str(path)) as part:
            waiting: list[av.Packet] = []
            for packet in part.demux(part.streams.video[0]):
                if packet.size == 0:
                    continue
                if packet.dts is None:
                    waiting.append(packet)
                    continue
                if waiting:
                    _fill_dts(waiting, last, packet.dts)
                    yield from waiting
                    waiting.clear()
                last = packet.dts
                yield packet
            if waiting:  # a part with no known dts at all (intra-only): dts = pts
                for packet in waiting:
                    packet.dts = packet.pts
                yield from waiting
                last = waiting[-1].dts


def _fill_dts(packets: list[av.Packet], before: int | None, after: int) -> None:
    """Give ``packets`` (in decode order) increasing dts strictly between ``before`` and
    ``after``, each at most its pts where there is room."""
    n = len(packets)
    low = before if before is not None else after - n - 1
    if after - low <= n:
        raise MediaError("the segments' timestamps overlap at a join; use --segment-seconds 0")
    for i, packet in enumerate(packets):
        dts = low + (after - low) * (i + 1) // (n + 1)
        if packet.pts is not None:
            dts = min(dts, packet.pts)
        packet.dts = dts
    for a, b in itertools.pairwise(packets):
        if b.dts <= a.dts:
            raise MediaError("the segments' timestamps overlap at a join; use --segment-seconds 0")


def _packet_time(packet: av.Packet, last: Fraction | None) -> Fraction:
    """A packet's decode time in seconds, for interleaving (dts, else pts, else the last)."""
    ts = packet.dts if packet.dts is not None else packet.pts
    if ts is None or packet.time_base is None:
        return last if last is not None else Fraction(0)
    return ts * packet.time_base
