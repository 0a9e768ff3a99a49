"""Carry every stream but the colorized video into the output untouched.

Audio, subtitle, data and other video streams (cover art, second angles) are copied
packet-for-packet with their metadata, language and disposition; container metadata and
chapters come along. A stream the output container cannot hold is handled by policy:

- audio: re-encoded to AAC, with a warning naming the container that would keep it;
- anything else: a ``UsageError`` naming a container that keeps it (Matroska keeps all).

A damaged packet is left out and counted per stream (``CopiedStream.dropped``): one the
muxer refuses (a timestamp that goes back, a broken audio frame header), or one stamped
ahead of the packet after it while that one still follows the stream (written, it would
make the muxer refuse every later packet). With ``strict`` it fails the run instead
(``MediaError``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av

from ..errors import MediaError, UsageError

#: What FFmpeg raises for one packet it refuses (a muxer's timestamp check, a bitstream
#: filter or decoder that finds the packet damaged). I/O errors (disk full) are not in it.
PACKET_REFUSED = (av.error.InvalidDataError, av.error.ArgumentError)


@dataclass(slots=True)
class CopiedStream:
    """How one input stream reaches the output: as packets, or through an AAC encoder."""

    source: av.stream.Stream
    target: av.stream.Stream
    transcode: bool = False
    #: Packets of this stream that were refused as damaged and left out.
    dropped: int = 0
    #: Why the first of them was refused (pts in the input stream's time base, reason).
    first_refused: str = ""
    #: The packet waiting for the next one, which tells whether its timestamp is damaged.
    held: av.Packet | None = None
    #: Decode time (input time base) of the last packet written.
    last_ts: int | None = None

    def mux(self, output: av.container.OutputContainer, packet: av.Packet, strict: bool) -> None:
        """Write one input packet of this stream to ``output``, one packet late.

        A packet is held until the next one arrives: one whose timestamp jumps ahead while
        the next one comes back to the stream's timeline (a damaged timestamp; written, it
        would make the muxer refuse every packet after it) is left out. So is a packet the
        muxer or the transcoder refuses (``PACKET_REFUSED``). Those left out are counted in
        ``dropped``; with ``strict`` they raise ``MediaError`` instead."""
        held, self.held = self.held, packet
        if held is None:
            return
        ts, after = _decode_ts(held), _decode_ts(packet)
        if (
            ts is not None
            and after is not None
            and after < ts
            and (self.last_ts is None or after > self.last_ts)
        ):
            self._refused("its timestamp jumps ahead of the stream", held.pts, strict)
            return
        self._send(output, held, strict)

    def mux_flush(self, output: av.container.OutputContainer, strict: bool) -> None:
        """Write the held packet and what a transcoder still holds at the end of the stream."""
        held, self.held = self.held, None
        if held is not None:
            self._send(output, held, strict)
        try:
            packets = self.flush()
        except PACKET_REFUSED as exc:
            self._refused(exc.strerror or str(exc), None, strict, exc)
            return
        self._write(output, packets, None, strict)

    def _send(self, output: av.container.OutputContainer, packet: av.Packet, strict: bool) -> None:
        pts, ts = packet.pts, _decode_ts(packet)
        try:
            packets = self.packets_for(packet)
        except PACKET_REFUSED as exc:
            self._refused(exc.strerror or str(exc), pts, strict, exc)
            return
        if self._write(output, packets, pts, strict) and ts is not None:
            self.last_ts = ts

    def _write(
        self,
        output: av.container.OutputContainer,
        packets: list[av.Packet],
        pts: int | None,
        strict: bool,
    ) -> bool:
        """Mux ``packets``; False if any was refused."""
        ok = True
        for out in packets:
            try:
                output.mux_one(out)
            except PACKET_REFUSED as exc:
                self._refused(exc.strerror or str(exc), pts, strict, exc)
                ok = False
        return ok

    def _refused(
        self, reason: str, pts: int | None, strict: bool, exc: Exception | None = None
    ) -> None:
        where = f"at pts {pts}" if pts is not None else "at its end"
        if strict:
            raise MediaError(
                f"{self.source.type} stream #{self.source.index}: damaged packet {where} "
                f"({reason}); --strict refuses damaged input (drop --strict to leave such "
                "packets out)"
            ) from exc
        self.dropped += 1
        if not self.first_refused:
            self.first_refused = f"{where}: {reason}"

    def warning(self) -> str | None:
        """The report's warning for the packets left out, or None when none were."""
        if not self.dropped:
            return None
        return (
            f"{self.source.type} stream #{self.source.index}: {self.dropped} damaged packet(s) "
            f"left out (first {self.first_refused}); --strict fails on them instead"
        )

    def packets_for(self, packet: av.Packet) -> list[av.Packet]:
        """The output packets for one input packet of this stream (usually just itself)."""
        if not self.transcode:
            packet.stream = self.target
            return [packet]
        out: list[av.Packet] = []
        for frame in self.source.codec_context.decode(packet):
            frame.pts = None  # the encoder's sample counter keeps AAC's timeline gap-free
            out.extend(self.target.encode(frame))
        return out

    def flush(self) -> list[av.Packet]:
        """Packets still held by a transcoder at the end of the stream."""
        if not self.transcode:
            return []
        out: list[av.Packet] = []
        for frame in self.source.codec_context.decode(None):
            frame.pts = None
            out.extend(self.target.encode(frame))
        out.extend(self.target.encode(None))
        return out


#: Stream tags that describe the file being written; the muxer sets its own.
_WRITER_TAGS = frozenset({"handler_name", "vendor_id", "duration", "encoder"})


def _copy_stream_tags(source: av.stream.Stream, target: av.stream.Stream) -> None:
    # add_stream_from_template copies codec parameters only: tags travel by hand. The
    # language is a tag ("language"); mp4 reads a track title back as "name".
    for key, value in source.metadata.items():
        if key.lower() not in _WRITER_TAGS:
            target.metadata[key] = value
    if "name" in source.metadata and "title" not in source.metadata:
        target.metadata["title"] = source.metadata["name"]
    target.disposition = source.disposition


def add_copied_streams(
    output: av.container.OutputContainer,
    source: av.container.InputContainer,
    video_index: int,
    warnings: list[str],
    video: av.stream.Stream | None = None,
) -> dict[int, CopiedStream]:
    """Add an output stream for every input stream except ``video_index``.

    Returns the plan keyed by input stream index. Appends to ``warnings`` for each stream
    that had to be re-encoded or left out (codec-less data tracks; a timecode moves onto
    ``video``'s tags). Raises ``UsageError`` when a stream cannot be carried.
    """
    supported = output.supported_codecs
    ext = output.format.name.split(",")[0]
    plans: dict[int, CopiedStream] = {}
    for stream in source.streams:
        if stream.index == video_index or stream.discard == av.stream.Discard.all:
            # Discarded streams are the demuxer's own (mp4 chapter text tracks): the muxer
            # writes them again from the chapters.
            continue
        if stream.codec_context is None:
            # Timecode (tmcd) and similar data tracks: FFmpeg cannot copy them as streams.
            # The muxer rebuilds a timecode track from the video's "timecode" tag.
            timecode = stream.metadata.get("timecode")
            if timecode and video is not None:
                video.metadata.setdefault("timecode", timecode)
            kept = f"; its timecode {timecode} is kept on the video" if timecode else ""
            warnings.append(f"{stream.type} stream #{stream.index} cannot be copied{kept}")
            continue
        codec = stream.codec_context.name
        if codec in supported:
            try:
                target = output.add_stream_from_template(stream)
            except (ValueError, av.error.FFmpegError) as exc:
                raise MediaError(f"cannot copy stream #{stream.index} ({codec}): {exc}") from exc
            _copy_stream_tags(stream, target)
            plans[stream.index] = CopiedStream(stream, target)
        elif stream.type == "audio":
            target = output.add_stream("aac", rate=stream.codec_context.sample_rate)
            target.layout = stream.codec_context.layout
            _copy_stream_tags(stream, target)
            plans[stream.index] = CopiedStream(stream, target, transcode=True)
            warnings.append(
                f"audio stream #{stream.index} ({codec}) cannot go into {ext}: re-encoded to "
                f"AAC; {_suggest_container(codec, 'to copy it untouched')}"
            )
        else:
            raise UsageError(
                f"{stream.type} stream #{stream.index} ({codec}) cannot go into {ext}; "
                + _suggest_container(codec, "to keep it")
            )
    return plans


def _decode_ts(packet: av.Packet) -> int | None:
    """A packet's decode time in its stream's time base: dts, else pts, else None."""
    return packet.dts if packet.dts is not None else packet.pts


def dropped_packets(plans: dict[int, CopiedStream]) -> tuple[dict[str, int], list[str]]:
    """Packets left out per input stream (``{"1": 3}``: keyed by the input stream index as a
    string, only streams that lost some) and one warning per such stream."""
    counts = {str(index): plan.dropped for index, plan in plans.items() if plan.dropped}
    warnings = [w for plan in plans.values() if (w := plan.warning()) is not None]
    return counts, warnings


def _suggest_container(codec: str | None, purpose: str) -> str:
    """Advice naming an output extension whose container can hold ``codec``."""
    for ext, name in ((".mkv", "matroska"), (".mov", "mov")):
        with av.open(io.BytesIO(), "w", format=name) as probe:
            if codec in probe.supported_codecs:
                return f"write the output as {ext} {purpose}"
    return "no common container keeps it as is"


def copy_container_tags(
    output: av.container.OutputContainer, source: av.container.InputContainer
) -> None:
    """Container metadata and chapters of ``source`` onto ``output`` (before the first mux)."""
    for key, value in source.metadata.items():
        if key.lower() in ("encoder", "major_brand", "minor_version", "compatible_brands"):
            continue  # describe the file being written, set by the muxer
        output.metadata[key] = value
    chapters = source.chapters()
    if chapters:
        output.set_chapters(chapters)
