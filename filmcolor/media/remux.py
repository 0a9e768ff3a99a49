"""Carry every stream but the colorized video into the output untouched.

Audio, subtitle, data and other video streams (cover art, second angles) are copied
packet-for-packet with their metadata, language and disposition; container metadata and
chapters come along. A stream the output container cannot hold is handled by policy:

- audio: re-encoded to AAC, with a warning naming the container that would keep it;
- anything else: a ``UsageError`` naming a container that keeps it (Matroska keeps all).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av

from ..errors import MediaError, UsageError


@dataclass(slots=True)
class CopiedStream:
    """How one input stream reaches the output: as packets, or through an AAC encoder."""

    source: av.stream.Stream
    target: av.stream.Stream
    transcode: bool = False

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
